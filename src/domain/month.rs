//! Calendar months (`YYYY-MM`) and dates (`YYYY-MM-DD`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The first year the service accepts. Mediation posts of the 2013 convention are the oldest
/// records anyone will bring; anything earlier is a typo.
pub const FIRST_YEAR: i32 = 2000;
/// The last year the service accepts, far enough for any convention and any projection.
pub const LAST_YEAR: i32 = 2199;

/// A calendar month, held as a count of months since January of year 0 so that month
/// arithmetic is integer arithmetic.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub struct Month(i32);

/// Why a string is not a month or a date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// Not `YYYY-MM`.
    #[error("must be a month written YYYY-MM between 2000-01 and 2199-12")]
    Month,
    /// Not `YYYY-MM-DD`, or not a real day.
    #[error("must be a date written YYYY-MM-DD between 2000-01-01 and 2199-12-31")]
    Date,
}

fn parse_digits(text: &str) -> Option<i32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl Month {
    /// The first accepted month.
    pub const FIRST: Month = Month(FIRST_YEAR * 12);
    /// The last accepted month.
    pub const LAST: Month = Month(LAST_YEAR * 12 + 11);

    /// Builds a month from a year and a month number (1–12) within the accepted years.
    pub fn new(year: i32, month: u32) -> Option<Month> {
        if !(FIRST_YEAR..=LAST_YEAR).contains(&year) || !(1..=12).contains(&month) {
            return None;
        }
        Some(Month(year * 12 + month as i32 - 1))
    }

    /// Parses `YYYY-MM`.
    pub fn parse(text: &str) -> Result<Month, CalendarError> {
        let bytes = text.as_bytes();
        if bytes.len() != 7 || bytes[4] != b'-' {
            return Err(CalendarError::Month);
        }
        let year = parse_digits(&text[..4]).ok_or(CalendarError::Month)?;
        let month = parse_digits(&text[5..]).ok_or(CalendarError::Month)?;
        Month::new(year, month as u32).ok_or(CalendarError::Month)
    }

    /// The year.
    pub fn year(self) -> i32 {
        self.0.div_euclid(12)
    }

    /// The month number, 1 to 12.
    pub fn number(self) -> u32 {
        (self.0.rem_euclid(12) + 1) as u32
    }

    /// The month `count` months later (or earlier when negative), if within the accepted years.
    pub fn plus(self, count: i32) -> Option<Month> {
        let index = self.0.checked_add(count)?;
        Month::new(index.div_euclid(12), (index.rem_euclid(12) + 1) as u32)
    }

    /// The number of months from `self` to `later` (negative when `later` is earlier).
    pub fn months_until(self, later: Month) -> i32 {
        later.0 - self.0
    }

    /// The month after this one, saturating at the last accepted month.
    pub fn next(self) -> Month {
        self.plus(1).unwrap_or(self)
    }

    /// The months from `self` to `last` inclusive (empty when `last` is earlier).
    pub fn through(self, last: Month) -> impl Iterator<Item = Month> {
        (self.0..=last.0).map(Month)
    }

    /// The first day of the month.
    pub fn first_day(self) -> Date {
        Date {
            month: self,
            day: 1,
        }
    }

    /// The last day of the month: the date of its costs and allocations in the ledger.
    pub fn last_day(self) -> Date {
        Date {
            month: self,
            day: days_in_month(self.year(), self.number()),
        }
    }
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year(), self.number())
    }
}

impl Serialize for Month {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Month {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Month, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Month::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A calendar day.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub struct Date {
    month: Month,
    day: u32,
}

impl Date {
    /// The first accepted day.
    pub const FIRST: Date = Date {
        month: Month::FIRST,
        day: 1,
    };
    /// The last accepted day.
    pub const LAST: Date = Date {
        month: Month::LAST,
        day: 31,
    };

    /// Parses `YYYY-MM-DD`, refusing days that do not exist.
    pub fn parse(text: &str) -> Result<Date, CalendarError> {
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes[7] != b'-' {
            return Err(CalendarError::Date);
        }
        let month = Month::parse(&text[..7]).map_err(|_| CalendarError::Date)?;
        let day = parse_digits(&text[8..]).ok_or(CalendarError::Date)? as u32;
        if day == 0 || day > days_in_month(month.year(), month.number()) {
            return Err(CalendarError::Date);
        }
        Ok(Date { month, day })
    }

    /// Builds a date from a `time` date, if within the accepted years.
    pub fn from_time(date: time::Date) -> Option<Date> {
        let month = Month::new(date.year(), u8::from(date.month()) as u32)?;
        Some(Date {
            month,
            day: date.day() as u32,
        })
    }

    /// The month the date falls in: the period it belongs to.
    pub fn month(self) -> Month {
        self.month
    }

    /// The day of the month, 1 to 31.
    pub fn day(self) -> u32 {
        self.day
    }

    /// Days from `self` to `later` (negative when `later` is earlier).
    pub fn days_until(self, later: Date) -> i64 {
        later.day_number() - self.day_number()
    }

    /// Days since 0000-03-01 in the proleptic Gregorian calendar (the usual civil-from-days
    /// algorithm), used only to subtract dates.
    fn day_number(self) -> i64 {
        let mut year = self.month.year() as i64;
        let month = self.month.number() as i64;
        if month <= 2 {
            year -= 1;
        }
        let era = year.div_euclid(400);
        let year_of_era = year - era * 400;
        let shifted_month = (month + 9) % 12;
        let day_of_year = (153 * shifted_month + 2) / 5 + self.day as i64 - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{:02}", self.month, self.day)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Date, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Date::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_accepted_range_ends_where_parsing_does() {
        assert_eq!(Date::parse("2000-01-01"), Ok(Date::FIRST));
        assert_eq!(Date::parse("2199-12-31"), Ok(Date::LAST));
        assert_eq!(Month::parse("2199-12"), Ok(Month::LAST));
        assert!(Month::LAST.plus(1).is_none());
    }

    #[test]
    fn parses_and_prints_months() {
        let m = Month::parse("2026-01").ok();
        assert_eq!(m.map(|m| m.to_string()), Some("2026-01".to_owned()));
        for bad in [
            "2026-1", "2026-00", "2026-13", "1999-12", "2200-01", "26-01", "2026/01", "+026-01", "",
        ] {
            assert!(Month::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn last_days() {
        let day = |s: &str| Month::parse(s).map(|m| m.last_day().to_string()).ok();
        assert_eq!(day("2024-02").as_deref(), Some("2024-02-29"));
        assert_eq!(day("2026-02").as_deref(), Some("2026-02-28"));
        assert_eq!(day("2100-02").as_deref(), Some("2100-02-28"));
        assert_eq!(day("2026-04").as_deref(), Some("2026-04-30"));
        assert_eq!(day("2026-12").as_deref(), Some("2026-12-31"));
    }

    #[test]
    fn dates_validate_days_and_subtract() {
        assert!(Date::parse("2026-02-29").is_err());
        assert!(Date::parse("2024-02-29").is_ok());
        assert!(Date::parse("2026-04-31").is_err());
        let a = Date::parse("2025-12-31").ok();
        let b = Date::parse("2026-03-01").ok();
        assert_eq!(a.zip(b).map(|(a, b)| a.days_until(b)), Some(60));
    }

    proptest! {
        #[test]
        fn plus_agrees_with_months_until(y in FIRST_YEAR..=LAST_YEAR, m in 1u32..=12, n in -3000i32..3000) {
            let start = Month::new(y, m).unwrap_or(Month(FIRST_YEAR * 12));
            match start.plus(n) {
                Some(later) => {
                    prop_assert_eq!(start.months_until(later), n);
                    prop_assert_eq!(Month::parse(&later.to_string()), Ok(later));
                }
                None => {
                    let index = start.0 + n;
                    prop_assert!(!(FIRST_YEAR * 12..=LAST_YEAR * 12 + 11).contains(&index));
                }
            }
        }

        #[test]
        fn parsing_never_panics(s in "\\PC{0,12}") {
            let _ = Month::parse(&s);
            let _ = Date::parse(&s);
        }

        #[test]
        fn consecutive_days_differ_by_one(y in FIRST_YEAR..=LAST_YEAR, m in 1u32..=12) {
            let month = Month::new(y, m).unwrap_or(Month(FIRST_YEAR * 12));
            let last = month.last_day();
            let next_first = month.next().first_day();
            if month.next() != month {
                prop_assert_eq!(last.days_until(next_first), 1);
            }
        }
    }
}
