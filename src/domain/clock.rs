//! Today's date in Europe/Paris, the time zone of the books.
//!
//! France follows the European Union's summer time: UTC+2 from the last Sunday of March at
//! 01:00 UTC to the last Sunday of October at 01:00 UTC, UTC+1 otherwise. The rule is small
//! enough to hold here rather than ship a time-zone database.

use super::month::Date;
use time::{Month as TimeMonth, OffsetDateTime, PrimitiveDateTime, UtcOffset, Weekday};

fn last_sunday(year: i32, month: TimeMonth) -> Option<time::Date> {
    let mut day = time::Date::from_calendar_date(year, month, month.length(year)).ok()?;
    while day.weekday() != Weekday::Sunday {
        day = day.previous_day()?;
    }
    Some(day)
}

/// The UTC offset of Europe/Paris at an instant.
pub fn paris_offset(at: OffsetDateTime) -> UtcOffset {
    let utc = at.to_offset(UtcOffset::UTC);
    let year = utc.year();
    let switch = |month| {
        last_sunday(year, month)
            .map(|d| PrimitiveDateTime::new(d, time::macros::time!(01:00)).assume_utc())
    };
    let summer = match (switch(TimeMonth::March), switch(TimeMonth::October)) {
        (Some(start), Some(end)) => utc >= start && utc < end,
        _ => false,
    };
    let hours = if summer { 2 } else { 1 };
    UtcOffset::from_hms(hours, 0, 0).unwrap_or(UtcOffset::UTC)
}

/// The calendar date in Europe/Paris at an instant.
pub fn paris_date(at: OffsetDateTime) -> Option<Date> {
    Date::from_time(at.to_offset(paris_offset(at)).date())
}

/// Today in Europe/Paris (the first accepted day should the system clock be outside
/// 2000–2199).
pub fn today() -> Date {
    paris_date(OffsetDateTime::now_utc()).unwrap_or(Date::FIRST)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn summer_time_switches_on_the_last_sundays() {
        // 2026: summer time from 29 March 01:00 UTC to 25 October 01:00 UTC.
        assert_eq!(
            paris_offset(datetime!(2026-03-29 00:59 UTC)).whole_hours(),
            1
        );
        assert_eq!(
            paris_offset(datetime!(2026-03-29 01:00 UTC)).whole_hours(),
            2
        );
        assert_eq!(
            paris_offset(datetime!(2026-10-25 00:59 UTC)).whole_hours(),
            2
        );
        assert_eq!(
            paris_offset(datetime!(2026-10-25 01:00 UTC)).whole_hours(),
            1
        );
    }

    #[test]
    fn late_evening_utc_is_already_tomorrow_in_paris() {
        let date = paris_date(datetime!(2026-12-31 23:30 UTC)).map(|d| d.to_string());
        assert_eq!(date.as_deref(), Some("2027-01-01"));
        let date = paris_date(datetime!(2026-06-30 22:30 UTC)).map(|d| d.to_string());
        assert_eq!(date.as_deref(), Some("2026-07-01"));
    }
}
