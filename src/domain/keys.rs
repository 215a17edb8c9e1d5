//! The keys conventions are written in, beside fixed amounts and percents: dated rates (an
//! amount per full-time post per year, revised on given months) and activity keys (the
//! mediator's hours by commitment). Both are resolved here, per month, into what the
//! allocation rule of [`super::allocation`] splits: a rate into a fixed ask, hours into exact
//! fractions of the remainder.

use super::month::Month;
use std::collections::BTreeMap;

/// A rate's values in force: `(from_month, annual amount in cents)`, one per month it changes,
/// in month order. Superseded values (a later value recorded for the same month) are left out
/// by whoever builds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateSchedule {
    values: Vec<(Month, i64)>,
}

impl RateSchedule {
    /// A schedule from values in force, in any order; for a month given twice, the last one
    /// given wins (the caller lists values in the order they were recorded).
    pub fn new(values: impl IntoIterator<Item = (Month, i64)>) -> RateSchedule {
        let by_month: BTreeMap<Month, i64> = values.into_iter().collect();
        RateSchedule {
            values: by_month.into_iter().collect(),
        }
    }

    /// The annual amount in force in `month`: the value with the latest `from_month` not after
    /// it; `None` before the first value.
    pub fn annual_in(&self, month: Month) -> Option<i64> {
        self.values
            .iter()
            .rev()
            .find(|(from, _)| *from <= month)
            .map(|(_, annual)| *annual)
    }

    /// What a commitment of `fte_hundredths` of a full-time post asks in `month`:
    /// `annual × fte / 12`, rounded to the cent half up; 0 when no value is in force.
    pub fn monthly_ask(&self, month: Month, fte_hundredths: i64) -> i64 {
        self.annual_in(month).map_or(0, |annual| {
            half_up(i128::from(annual) * i128::from(fte_hundredths), 1_200)
        })
    }
}

/// `numerator / denominator` rounded half up, for non-negative values.
fn half_up(numerator: i128, denominator: i128) -> i64 {
    ((2 * numerator + denominator).div_euclid(2 * denominator)) as i64
}

/// One month's record of a post's hours, in hundredths of an hour: `per_commitment` parallel to
/// the commitments handed to the engine (0 where none), and the hours on none of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonthHours {
    /// Hours of each commitment, in the order of the commitments given to the engine.
    pub per_commitment: Vec<i64>,
    /// Hours on no commitment (training, the employer's own territory).
    pub other_hundredths: i64,
}

impl MonthHours {
    /// Every hour of the record, `U` of DOMAIN.md.
    pub fn total(&self) -> i64 {
        self.per_commitment.iter().sum::<i64>() + self.other_hundredths
    }

    /// The hours of the commitment at `index`.
    pub fn of(&self, index: usize) -> i64 {
        self.per_commitment.get(index).copied().unwrap_or(0)
    }
}

/// The hours records a computation reads, by month. An allocation run reads each month's own
/// record only; a projection carries the latest record before a month into it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HoursBook {
    months: BTreeMap<Month, MonthHours>,
    carry_forward: bool,
}

impl HoursBook {
    /// No hours at all (a post without activity commitments).
    pub fn none() -> HoursBook {
        HoursBook::default()
    }

    /// Records read month by month: a month without its own record has no hours.
    pub fn exact(months: BTreeMap<Month, MonthHours>) -> HoursBook {
        HoursBook {
            months,
            carry_forward: false,
        }
    }

    /// Records carried forward: a month without its own record uses the latest before it.
    pub fn carried(months: BTreeMap<Month, MonthHours>) -> HoursBook {
        HoursBook {
            months,
            carry_forward: true,
        }
    }

    /// The record that applies to `month`, if any.
    pub fn for_month(&self, month: Month) -> Option<&MonthHours> {
        if self.carry_forward {
            self.months.range(..=month).next_back().map(|(_, h)| h)
        } else {
            self.months.get(&month)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn month(text: &str) -> Month {
        Month::parse(text).unwrap()
    }

    #[test]
    fn the_value_in_force_is_the_latest_not_after_the_month() {
        let rate =
            RateSchedule::new([(month("2026-07"), 2_163_000), (month("2026-01"), 2_100_000)]);
        assert_eq!(rate.annual_in(month("2025-12")), None);
        assert_eq!(rate.annual_in(month("2026-06")), Some(2_100_000));
        assert_eq!(rate.annual_in(month("2026-07")), Some(2_163_000));
        assert_eq!(rate.annual_in(month("2030-01")), Some(2_163_000));
        // 21,000.00 and 21,630.00 at 0.50 FTE: 875.00 then 901.25.
        assert_eq!(rate.monthly_ask(month("2026-06"), 50), 87_500);
        assert_eq!(rate.monthly_ask(month("2026-07"), 50), 90_125);
        assert_eq!(rate.monthly_ask(month("2025-01"), 50), 0);
    }

    #[test]
    fn asks_round_half_up() {
        let at = |annual| RateSchedule::new([(month("2026-01"), annual)]);
        assert_eq!(at(1_200_006).monthly_ask(month("2026-01"), 100), 100_001);
        assert_eq!(at(2_281_061).monthly_ask(month("2026-01"), 100), 190_088);
        assert_eq!(at(2_281_061).monthly_ask(month("2026-01"), 80), 152_071);
        assert_eq!(at(1_199_994).monthly_ask(month("2026-01"), 100), 100_000);
        assert_eq!(at(1_199_993).monthly_ask(month("2026-01"), 100), 99_999);
    }

    #[test]
    fn a_later_value_for_the_same_month_supersedes() {
        let rate = RateSchedule::new([(month("2026-01"), 100), (month("2026-01"), 200)]);
        assert_eq!(rate.annual_in(month("2026-03")), Some(200));
    }

    #[test]
    fn projections_carry_hours_forward_and_runs_do_not() {
        let record = MonthHours {
            per_commitment: vec![300, 100],
            other_hundredths: 0,
        };
        let months: BTreeMap<Month, MonthHours> = [(month("2026-10"), record.clone())].into();
        let exact = HoursBook::exact(months.clone());
        let carried = HoursBook::carried(months);
        assert_eq!(exact.for_month(month("2026-11")), None);
        assert_eq!(carried.for_month(month("2026-11")), Some(&record));
        assert_eq!(carried.for_month(month("2026-09")), None);
        assert_eq!(record.total(), 400);
    }
}
