//! Percentages, full-time equivalents and SIREN numbers: the small validated values of the
//! domain, each parsed once at the edge and kept as an integer inside.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Parses a non-negative decimal string with at most `max_int_digits` integer digits and
/// `decimals` decimals into an integer scaled by `10^decimals`.
fn parse_scaled(text: &str, max_int_digits: usize, decimals: u32) -> Option<i64> {
    let (int_part, frac_part) = match text.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (text, None),
    };
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int_part.is_empty() || int_part.len() > max_int_digits || !digits_only(int_part) {
        return None;
    }
    let mut value: i64 = int_part.parse().ok()?;
    let mut frac_digits = 0;
    if let Some(f) = frac_part {
        if f.is_empty() || f.len() > decimals as usize || !digits_only(f) {
            return None;
        }
        value = value * 10i64.pow(f.len() as u32) + f.parse::<i64>().ok()?;
        frac_digits = f.len() as u32;
    }
    Some(value * 10i64.pow(decimals - frac_digits))
}

/// A percentage with up to four decimals, held in ten-thousandths of a percent
/// (`100 %` is `1_000_000`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Percent(i64);

impl Percent {
    /// One hundred percent, in ten-thousandths.
    pub const HUNDRED: Percent = Percent(1_000_000);
    /// Zero percent.
    pub const ZERO: Percent = Percent(0);

    /// Parses `"50"`, `"33.3333"`: from 0 to 100 inclusive.
    pub fn parse(text: &str) -> Option<Percent> {
        parse_scaled(text, 3, 4)
            .filter(|v| *v <= Self::HUNDRED.0)
            .map(Percent)
    }

    /// Wraps ten-thousandths of a percent.
    pub const fn from_ten_thousandths(value: i64) -> Percent {
        Percent(value)
    }

    /// Ten-thousandths of a percent.
    pub const fn ten_thousandths(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:04}", self.0 / 10_000, self.0 % 10_000)
    }
}

impl Serialize for Percent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Percent, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Percent::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(
                "must be a percentage string from 0 to 100 with at most four decimals, such as \"33.3333\"",
            )
        })
    }
}

/// A full-time equivalent, 0 < fte ≤ 1 with two decimals, held in hundredths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fte(i64);

impl Fte {
    /// Parses `"0.50"` or `"1"`: more than zero, at most one.
    pub fn parse(text: &str) -> Option<Fte> {
        parse_scaled(text, 1, 2)
            .filter(|v| (1..=100).contains(v))
            .map(Fte)
    }

    /// Wraps hundredths of a full-time post (1 to 100).
    pub fn from_hundredths(value: i64) -> Option<Fte> {
        (1..=100).contains(&value).then_some(Fte(value))
    }

    /// Hundredths of a full-time post.
    pub const fn hundredths(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Fte {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl Serialize for Fte {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Fte {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Fte, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Fte::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(
                "must be a string above 0 and at most 1 with two decimals, such as \"0.50\"",
            )
        })
    }
}

/// Hours worked, with at most two decimals, held in hundredths of an hour (`"12.50"` is 1250).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hours(i64);

impl Hours {
    /// The most hours a month can hold in all (31 days of 24 hours).
    pub const MONTH_MAX: Hours = Hours(74_400);

    /// Parses `"12.50"` or `"7"`: zero or more, two decimals at most, at most 744.
    pub fn parse(text: &str) -> Option<Hours> {
        parse_scaled(text, 3, 2)
            .filter(|v| *v <= Hours::MONTH_MAX.0)
            .map(Hours)
    }

    /// Wraps hundredths of an hour (zero or more).
    pub fn from_hundredths(value: i64) -> Option<Hours> {
        (value >= 0).then_some(Hours(value))
    }

    /// Hundredths of an hour.
    pub const fn hundredths(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Hours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl Serialize for Hours {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Hours {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Hours, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Hours::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(
                "must be a string of hours from 0 to 744 with at most two decimals, such as \"12.50\"",
            )
        })
    }
}

/// A SIREN, the nine-digit French company number, whose digits pass the Luhn check.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Siren(String);

impl Siren {
    /// Parses nine digits that pass the Luhn check.
    pub fn parse(text: &str) -> Option<Siren> {
        if text.len() != 9 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let sum: u32 = text
            .bytes()
            .rev()
            .enumerate()
            .map(|(position, b)| {
                let digit = u32::from(b - b'0');
                if position % 2 == 1 {
                    let doubled = digit * 2;
                    if doubled > 9 {
                        doubled - 9
                    } else {
                        doubled
                    }
                } else {
                    digit
                }
            })
            .sum();
        (sum % 10 == 0).then(|| Siren(text.to_owned()))
    }

    /// The nine digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Serialize for Siren {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Siren {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Siren, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Siren::parse(&text)
            .ok_or_else(|| serde::de::Error::custom("must be nine digits that pass the Luhn check"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn percents() {
        assert_eq!(Percent::parse("50"), Some(Percent(500_000)));
        assert_eq!(Percent::parse("33.3333"), Some(Percent(333_333)));
        assert_eq!(Percent::parse("100"), Some(Percent::HUNDRED));
        assert_eq!(Percent::parse("0.0001"), Some(Percent(1)));
        for bad in ["100.0001", "101", "33.33333", "-1", "", "1e2", ".5", "5."] {
            assert_eq!(Percent::parse(bad), None, "{bad}");
        }
        assert_eq!(Percent(333_333).to_string(), "33.3333");
        assert_eq!(Percent(500_000).to_string(), "50.0000");
    }

    #[test]
    fn ftes() {
        assert_eq!(Fte::parse("0.5").map(Fte::hundredths), Some(50));
        assert_eq!(Fte::parse("1").map(Fte::hundredths), Some(100));
        assert_eq!(
            Fte::parse("1.00").map(|f| f.to_string()).as_deref(),
            Some("1.00")
        );
        for bad in ["0", "0.00", "1.01", "2", "0.005", "-0.5", ""] {
            assert_eq!(Fte::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn sirens() {
        // 732829320 and 552100554 are real, Luhn-valid SIRENs.
        assert!(Siren::parse("732829320").is_some());
        assert!(Siren::parse("552100554").is_some());
        assert!(Siren::parse("732829321").is_none());
        assert!(Siren::parse("73282932").is_none());
        assert!(Siren::parse("7328293200").is_none());
        assert!(Siren::parse("73282932a").is_none());
    }

    proptest! {
        #[test]
        fn percent_round_trips(v in 0i64..=1_000_000) {
            prop_assert_eq!(Percent::parse(&Percent(v).to_string()), Some(Percent(v)));
        }

        #[test]
        fn one_changed_digit_breaks_luhn(base in 0u32..100_000_000, position in 0usize..9, delta in 1u8..10) {
            // Build a valid SIREN from eight digits plus the check digit that makes it valid.
            let body = format!("{base:08}");
            let Some(valid) = (0..10).map(|d| format!("{body}{d}")).find(|s| Siren::parse(s).is_some()) else {
                return Err(TestCaseError::fail("no check digit found"));
            };
            let mut bytes = valid.into_bytes();
            bytes[position] = b'0' + (bytes[position] - b'0' + delta) % 10;
            let changed = String::from_utf8(bytes).unwrap_or_default();
            prop_assert!(Siren::parse(&changed).is_none());
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,12}") {
            let _ = (Percent::parse(&s), Fte::parse(&s), Siren::parse(&s));
        }
    }
}

/// An IBAN (ISO 13616), held without spaces in capitals, whose check digits are right.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Iban(String);

impl Iban {
    /// Parses an IBAN written with or without spaces: two letters of country, two check
    /// digits, up to thirty letters and digits, and the ISO 7064 mod-97 check equal to 1.
    pub fn parse(text: &str) -> Option<Iban> {
        let compact: String = text
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_uppercase();
        let bytes = compact.as_bytes();
        let shaped = (15..=34).contains(&bytes.len())
            && bytes[..2].iter().all(u8::is_ascii_uppercase)
            && bytes[2..4].iter().all(u8::is_ascii_digit)
            && bytes.iter().all(u8::is_ascii_alphanumeric);
        if !shaped {
            return None;
        }
        let rearranged = compact[4..].bytes().chain(compact[..4].bytes());
        let mut remainder: u32 = 0;
        for b in rearranged {
            let value = if b.is_ascii_digit() {
                u32::from(b - b'0')
            } else {
                u32::from(b - b'A') + 10
            };
            remainder = if value >= 10 {
                (remainder * 100 + value) % 97
            } else {
                (remainder * 10 + value) % 97
            };
        }
        (remainder == 1).then_some(Iban(compact))
    }

    /// The IBAN without spaces.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Iban {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Iban, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Iban::parse(&text).ok_or_else(|| {
            serde::de::Error::custom("must be an IBAN whose check digits are right (ISO 13616)")
        })
    }
}

/// A BIC (ISO 9362): four letters of bank, two of country, two letters or digits of place,
/// and an optional branch of three.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bic(String);

impl Bic {
    /// Parses a BIC of 8 or 11 characters.
    pub fn parse(text: &str) -> Option<Bic> {
        let upper = text.trim().to_ascii_uppercase();
        let b = upper.as_bytes();
        let shaped = (b.len() == 8 || b.len() == 11)
            && b[..6].iter().all(u8::is_ascii_uppercase)
            && b[6..].iter().all(u8::is_ascii_alphanumeric);
        shaped.then_some(Bic(upper))
    }

    /// The BIC in capitals.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Bic {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Bic, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Bic::parse(&text).ok_or_else(|| {
            serde::de::Error::custom("must be a BIC of 8 or 11 characters (ISO 9362)")
        })
    }
}

#[cfg(test)]
mod bank_tests {
    use super::*;

    #[test]
    fn ibans_are_checked_by_their_digits() {
        assert!(Iban::parse("FR76 3000 6000 0112 3456 7890 189").is_some());
        assert!(Iban::parse("fr7630006000011234567890189").is_some());
        assert!(Iban::parse("FR76 3000 6000 0112 3456 7890 188").is_none());
        assert!(Iban::parse("GB82 WEST 1234 5698 7654 32").is_some());
        assert!(Iban::parse("FR76").is_none());
        assert!(Iban::parse("FR76 3000 6000 0112 3456 7890 18!").is_none());
    }

    #[test]
    fn bics_have_their_shape() {
        assert!(Bic::parse("AGRIFRPP").is_some());
        assert!(Bic::parse("AGRIFRPP867").is_some());
        assert!(Bic::parse("AGRI").is_none());
        assert!(Bic::parse("1GRIFRPP").is_none());
    }
}
