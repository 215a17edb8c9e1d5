//! The arithmetic of a funder's statement: how a call's payments settle its lines, and the
//! aging of what is outstanding.

use super::month::Date;
use serde::Serialize;

/// Spreads what was paid on a call over its lines, in the order given (oldest month first,
/// then by post): each line is settled in full before the next one gets anything.
pub fn settle(paid_cents: i64, line_amounts: &[i64]) -> Vec<i64> {
    let mut left = paid_cents.max(0);
    line_amounts
        .iter()
        .map(|amount| {
            let settled = left.min(*amount).max(0);
            left -= settled;
            settled
        })
        .collect()
}

/// Outstanding amounts by how long past due they are, in cents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Aging {
    /// Not yet due.
    pub not_due: i64,
    /// Up to 30 days past due.
    pub days_0_30: i64,
    /// 31 to 60 days past due.
    pub days_31_60: i64,
    /// 61 to 90 days past due.
    pub days_61_90: i64,
    /// More than 90 days past due.
    pub over_90: i64,
}

impl Aging {
    /// Adds an outstanding amount due on `due_on`, aged as of `today`.
    pub fn add(&mut self, due_on: Date, today: Date, amount_cents: i64) {
        let days_past_due = due_on.days_until(today);
        let bucket = match days_past_due {
            i64::MIN..=0 => &mut self.not_due,
            1..=30 => &mut self.days_0_30,
            31..=60 => &mut self.days_31_60,
            61..=90 => &mut self.days_61_90,
            _ => &mut self.over_90,
        };
        *bucket += amount_cents;
    }

    /// Everything outstanding.
    pub fn total(&self) -> i64 {
        self.not_due + self.days_0_30 + self.days_31_60 + self.days_61_90 + self.over_90
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn payments_settle_the_oldest_lines_first() {
        assert_eq!(
            settle(2_500, &[1_000, 1_000, 1_000]),
            vec![1_000, 1_000, 500]
        );
        assert_eq!(settle(0, &[1_000]), vec![0]);
        assert_eq!(settle(5_000, &[1_000, 1_000]), vec![1_000, 1_000]);
    }

    #[test]
    fn aging_buckets() {
        let today = Date::parse("2026-06-30").unwrap_or(Date::FIRST);
        let mut aging = Aging::default();
        for (due, amount) in [
            ("2026-06-30", 1),
            ("2026-06-29", 10),
            ("2026-05-31", 100),
            ("2026-05-30", 1_000),
            ("2026-04-01", 10_000),
            ("2026-03-01", 100_000),
            ("2026-07-15", 2),
        ] {
            aging.add(Date::parse(due).unwrap_or(Date::FIRST), today, amount);
        }
        assert_eq!(
            aging,
            Aging {
                not_due: 3,
                days_0_30: 110,
                days_31_60: 1_000,
                days_61_90: 10_000,
                over_90: 100_000
            }
        );
    }

    proptest! {
        #[test]
        fn settlement_never_exceeds_the_lines_nor_the_payment(paid in 0i64..1_000_000, lines in proptest::collection::vec(1i64..100_000, 0..10)) {
            let settled = settle(paid, &lines);
            prop_assert_eq!(settled.iter().sum::<i64>(), paid.min(lines.iter().sum()));
            for (s, l) in settled.iter().zip(&lines) {
                prop_assert!(*s >= 0 && s <= l);
            }
        }
    }
}
