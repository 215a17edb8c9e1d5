//! Amounts of money in euro cents.
//!
//! Money travels as a JSON string with a dot and at most two decimals and is kept as an
//! integer number of cents everywhere else, so that no computation ever touches a float.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// The largest amount a request may carry: thirteen integer digits, as `API.md` allows.
pub const MAX_REQUEST_CENTS: i64 = 999_999_999_999_999;

/// An exact amount of euros, held as cents. Negative values appear only in computed figures
/// (signed balances); amounts parsed from requests are never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

/// Why a string is not an amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The text does not match `^[0-9]{1,13}(\.[0-9]{1,2})?$`.
    #[error("must be a string of digits with at most two decimals, such as \"1234.50\"")]
    Format,
}

impl Money {
    /// Zero euros.
    pub const ZERO: Money = Money(0);

    /// Wraps a number of cents.
    pub const fn from_cents(cents: i64) -> Money {
        Money(cents)
    }

    /// The number of cents.
    pub const fn cents(self) -> i64 {
        self.0
    }

    /// The amount as a decimal with exactly two decimals, for the edge of the system.
    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.0, 2)
    }

    /// Parses a request amount: digits, optionally a dot and one or two decimals; no sign,
    /// no exponent, no spaces. The syntax is checked by hand before `rust_decimal` reads the
    /// value, because `Decimal::from_str` accepts forms (`"1e3"`, `"-1"`, `"1_000"`) that
    /// `API.md` refuses.
    pub fn parse(text: &str) -> Result<Money, MoneyError> {
        let (int_part, frac_part) = match text.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (text, None),
        };
        let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int_part.is_empty() || int_part.len() > 13 || !digits_only(int_part) {
            return Err(MoneyError::Format);
        }
        if let Some(f) = frac_part {
            if f.is_empty() || f.len() > 2 || !digits_only(f) {
                return Err(MoneyError::Format);
            }
        }
        let value = Decimal::from_str(text).map_err(|_| MoneyError::Format)?;
        // At most two decimals were checked above, so the scaled value is a whole number.
        let cents = (value * Decimal::ONE_HUNDRED)
            .to_i64()
            .ok_or(MoneyError::Format)?;
        Ok(Money(cents))
    }

    /// Adds, or `None` on overflow.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    /// Subtracts, or `None` on overflow.
    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).map(Money)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_decimal())
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Money, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Money;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an amount as a string with at most two decimals, such as \"1234.50\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Money, E> {
                Money::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// A signed amount as the service writes it in computed figures (`"-12.50"`), read back from
/// stored payloads; requests never carry one.
pub mod signed {
    use super::Money;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Writes the amount as [`Money`] does, with its sign.
    pub fn serialize<S: Serializer>(money: &Money, serializer: S) -> Result<S::Ok, S::Error> {
        money.serialize(serializer)
    }

    /// Reads an amount with an optional leading minus.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Money, D::Error> {
        let text = String::deserialize(deserializer)?;
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.as_str()),
        };
        let amount = Money::parse(digits).map_err(serde::de::Error::custom)?;
        Ok(if negative {
            Money::from_cents(-amount.cents())
        } else {
            amount
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_allowed_forms() {
        assert_eq!(Money::parse("1234.50"), Ok(Money(123_450)));
        assert_eq!(Money::parse("1234.5"), Ok(Money(123_450)));
        assert_eq!(Money::parse("0.01"), Ok(Money(1)));
        assert_eq!(Money::parse("7"), Ok(Money(700)));
        assert_eq!(Money::parse("0007.00"), Ok(Money(700)));
        assert_eq!(
            Money::parse("9999999999999.99"),
            Ok(Money(MAX_REQUEST_CENTS))
        );
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "",
            ".",
            "1.",
            ".5",
            "1.234",
            "-1",
            "+1",
            "1e3",
            "1_000",
            " 1",
            "1 ",
            "1,50",
            "10000000000000",
            "NaN",
            "١٢",
            "0x10",
        ] {
            assert_eq!(Money::parse(bad), Err(MoneyError::Format), "{bad:?}");
        }
    }

    #[test]
    fn json_numbers_are_refused() {
        assert!(serde_json::from_str::<Money>("12.5").is_err());
        assert!(serde_json::from_str::<Money>("12").is_err());
        assert_eq!(
            serde_json::from_str::<Money>("\"12.5\"").ok(),
            Some(Money(1250))
        );
    }

    #[test]
    fn displays_two_decimals_with_sign() {
        assert_eq!(Money(0).to_string(), "0.00");
        assert_eq!(Money(5).to_string(), "0.05");
        assert_eq!(Money(-1250).to_string(), "-12.50");
        assert_eq!(Money(123_456).to_string(), "1234.56");
    }

    proptest! {
        #[test]
        fn display_then_parse_is_identity(cents in 0i64..=MAX_REQUEST_CENTS) {
            let m = Money(cents);
            prop_assert_eq!(Money::parse(&m.to_string()), Ok(m));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,20}") {
            let _ = Money::parse(&s);
        }

        #[test]
        fn parse_matches_a_reference_reading(int in 0u64..10_000_000_000_000, frac in 0u32..100, two in any::<bool>()) {
            let text = if two { format!("{int}.{frac:02}") } else { format!("{int}.{}", frac % 10) };
            let expected = if two { int as i64 * 100 + frac as i64 } else { int as i64 * 100 + (frac % 10) as i64 * 10 };
            prop_assert_eq!(Money::parse(&text), Ok(Money(expected)));
        }
    }
}
