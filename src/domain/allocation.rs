//! The allocation rule of `DOMAIN.md`, exact to the cent.
//!
//! Everything here is a pure function of integers: cents for money and ten-thousandths of a
//! percent for shares. Exact parts are rationals `numerator / denominator` held in `i128`, so
//! that no rounding happens before the largest-remainder step decides where each cent goes.
//! The same functions serve the allocation runs (on actual costs) and the continuity
//! projection (on budgets): a split is computed in one place.

use super::decimal_units::Percent;
use super::keys::{HoursBook, MonthHours, RateSchedule};
use super::month::Month;
use std::sync::Arc;

/// How a commitment contributes to a month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Basis {
    /// A fixed monthly amount, in cents.
    Fixed {
        /// The amount asked each month, in cents.
        monthly_cents: i64,
    },
    /// A share of what remains after the fixed contributions.
    Share {
        /// The share.
        percent: Percent,
    },
    /// A dated rate for a part of a full-time post: a fixed commitment whose monthly amount is
    /// the rate's annual value in force that month × `fte` / 12, rounded half up.
    Rate {
        /// The part of a full-time post the convention pays for, in hundredths.
        fte_hundredths: i64,
        /// The rate's values in force.
        schedule: Arc<RateSchedule>,
    },
    /// A part of the remainder in proportion to the month's hours on this commitment.
    Activity,
}

impl Basis {
    /// What the commitment asks in `month` before its cap, when it asks a fixed amount (a
    /// fixed or rate commitment); `None` for shares and activity parts.
    pub fn fixed_ask(&self, month: Month) -> Option<i64> {
        match self {
            Basis::Fixed { monthly_cents } => Some(*monthly_cents),
            Basis::Rate {
                fte_hundredths,
                schedule,
            } => Some(schedule.monthly_ask(month, *fte_hundredths)),
            Basis::Share { .. } | Basis::Activity => None,
        }
    }

    /// The share's percent, for a share commitment.
    pub fn share(&self) -> Option<Percent> {
        match self {
            Basis::Share { percent } => Some(*percent),
            _ => None,
        }
    }
}

/// The terms of one commitment, as the engine needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    /// Fixed amount or share.
    pub basis: Basis,
    /// First month in force.
    pub start: Month,
    /// Last month in force, inclusive.
    pub end: Month,
    /// The most the funder pays over the whole commitment, in cents.
    pub cap_cents: Option<i64>,
    /// Creation rank: the last tie-break of the largest-remainder rounding (smaller = earlier).
    pub created_order: i64,
}

impl Terms {
    /// Whether the commitment is in force in `month`.
    pub fn in_force(&self, month: Month) -> bool {
        self.start <= month && month <= self.end
    }
}

/// One month's split. `lines` holds one amount per commitment given, in the same order, and
/// `None` for the commitments not in force that month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthSplit {
    /// The month.
    pub month: Month,
    /// The cost that was split, in cents.
    pub cost_cents: i64,
    /// The amount of each commitment, `None` when not in force.
    pub lines: Vec<Option<i64>>,
    /// The part no funder covers: the employer's deficit.
    pub uncovered_cents: i64,
}

impl MonthSplit {
    /// Everything allocated to funders this month.
    pub fn allocated_cents(&self) -> i64 {
        self.lines.iter().flatten().sum()
    }
}

/// One part of a largest-remainder rounding: its exact value is `numerator / denominator`.
#[derive(Debug, Clone, Copy)]
struct Part {
    numerator: i128,
    is_employer: bool,
    created_order: i64,
}

/// Rounds parts to whole cents so that they add up to `total` exactly: each part gets the
/// floor of its exact value, then the missing cents go one by one to the largest fractional
/// remainders. Ties go to funders before the employer's own part, then to the larger exact
/// value, then to the earlier-created commitment. The numerators must add up to
/// `total × denominator`.
fn largest_remainder(parts: &[Part], denominator: i128, total: i64) -> Vec<i64> {
    if denominator <= 0 {
        return vec![0; parts.len()];
    }
    let mut rounded: Vec<i64> = parts
        .iter()
        .map(|p| (p.numerator.div_euclid(denominator)) as i64)
        .collect();
    let missing = total - rounded.iter().sum::<i64>();
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by(|&a, &b| {
        let (pa, pb) = (&parts[a], &parts[b]);
        let remainder = |p: &Part| p.numerator.rem_euclid(denominator);
        remainder(pb)
            .cmp(&remainder(pa))
            .then(pa.is_employer.cmp(&pb.is_employer))
            .then(pb.numerator.cmp(&pa.numerator))
            .then(pa.created_order.cmp(&pb.created_order))
    });
    debug_assert!((0..=parts.len() as i64).contains(&missing));
    for &index in order.iter().take(missing.max(0) as usize) {
        rounded[index] += 1;
    }
    rounded
}

/// Splits one month's cost among the commitments in force.
///
/// `cap_remaining` holds, for each commitment, what is left of its cap before this month
/// (`None` when uncapped); `hours` is the month's record of hours, if any. Commitments not in
/// force get `None` in the result.
pub fn split_month(
    month: Month,
    cost_cents: i64,
    commitments: &[Terms],
    cap_remaining: &[Option<i64>],
    hours: Option<&MonthHours>,
) -> MonthSplit {
    let cost_cents = cost_cents.max(0);
    let mut lines: Vec<Option<i64>> = vec![None; commitments.len()];
    let in_force: Vec<usize> = (0..commitments.len())
        .filter(|&i| commitments[i].in_force(month))
        .collect();
    let remaining_cap = |i: usize| cap_remaining.get(i).copied().flatten().map(|c| c.max(0));

    // 1. Fixed asks first (fixed and rate commitments), each bounded by its cap remaining.
    let fixed: Vec<(usize, i64)> = in_force
        .iter()
        .filter_map(|&i| {
            let ask = commitments[i].basis.fixed_ask(month)?;
            let ask = match remaining_cap(i) {
                Some(cap) => ask.min(cap),
                None => ask,
            };
            Some((i, ask.max(0)))
        })
        .collect();
    let asked: i64 = fixed.iter().map(|(_, ask)| ask).sum();
    if asked <= cost_cents {
        for &(i, ask) in &fixed {
            lines[i] = Some(ask);
        }
    } else {
        let parts: Vec<Part> = fixed
            .iter()
            .map(|&(i, ask)| Part {
                numerator: i128::from(cost_cents) * i128::from(ask),
                is_employer: false,
                created_order: commitments[i].created_order,
            })
            .collect();
        let rounded = largest_remainder(&parts, i128::from(asked), cost_cents);
        for (&(i, _), amount) in fixed.iter().zip(rounded) {
            lines[i] = Some(amount);
        }
    }
    let fixed_total: i64 = fixed.iter().map(|&(i, _)| lines[i].unwrap_or(0)).sum();

    // 2. Shares and activity parts of the remainder, rounded together with the employer's own
    //    part. With S the shares' percents and U every hour of the month's record, an activity
    //    commitment with h hours is a share of (100 − S) × h / U percent, exactly: all parts
    //    are held over the common denominator max(S, 100 %) × U.
    let remainder = cost_cents - fixed_total;
    let shares: Vec<(usize, i64)> = in_force
        .iter()
        .filter_map(|&i| Some((i, commitments[i].basis.share()?.ten_thousandths())))
        .collect();
    let share_total: i64 = shares.iter().map(|(_, p)| p).sum();
    // Shares above 100 % are refused when commitments are recorded; should such data reach
    // the engine anyway, the shares are scaled down to 100 % rather than paying out more
    // than the remainder (and the activity parts get nothing).
    let base = share_total.max(Percent::HUNDRED.ten_thousandths());
    let total_hours = hours.map_or(0, MonthHours::total);
    let activity: Vec<(usize, i64)> = in_force
        .iter()
        .filter(|&&i| commitments[i].basis == Basis::Activity)
        .map(|&i| (i, hours.map_or(0, |h| h.of(i))))
        .collect();
    // A month without hours (U = 0) gives every activity commitment 0.
    let scale = i128::from(total_hours.max(1));
    let denominator = i128::from(base) * scale;
    let keyed: Vec<(usize, i128)> = shares
        .iter()
        .map(|&(i, p)| (i, i128::from(p) * scale))
        .chain(activity.iter().map(|&(i, h)| {
            let weight = if total_hours > 0 {
                i128::from(base - share_total) * i128::from(h)
            } else {
                0
            };
            (i, weight)
        }))
        .collect();
    let funders_weight: i128 = keyed.iter().map(|(_, w)| w).sum();
    let mut parts: Vec<Part> = keyed
        .iter()
        .map(|&(i, weight)| Part {
            numerator: i128::from(remainder) * weight,
            is_employer: false,
            created_order: commitments[i].created_order,
        })
        .collect();
    parts.push(Part {
        numerator: i128::from(remainder) * (denominator - funders_weight),
        is_employer: true,
        created_order: i64::MAX,
    });
    let rounded = largest_remainder(&parts, denominator, remainder);

    // 3. Caps: a part above its cap remaining gets the cap; the excess stays uncovered.
    for (&(i, _), amount) in keyed.iter().zip(rounded) {
        let capped = match remaining_cap(i) {
            Some(cap) => amount.min(cap),
            None => amount,
        };
        lines[i] = Some(capped);
    }

    // 4. Uncovered is whatever no funder carries.
    let allocated: i64 = lines.iter().flatten().sum();
    MonthSplit {
        month,
        cost_cents,
        lines,
        uncovered_cents: cost_cents - allocated,
    }
}

/// Allocates consecutive months in month order, carrying each cap over from month to month.
///
/// `months` holds each month to allocate with its cost, in any order; `allocated_before` holds,
/// per commitment, what it was allocated in the months before the first one given; `hours`
/// the records of hours the activity commitments are split by.
pub fn allocate_months(
    commitments: &[Terms],
    months: &[(Month, i64)],
    allocated_before: &[i64],
    hours: &HoursBook,
) -> Vec<MonthSplit> {
    let mut ordered: Vec<(Month, i64)> = months.to_vec();
    ordered.sort_by_key(|(m, _)| *m);
    let mut used: Vec<i64> = (0..commitments.len())
        .map(|i| allocated_before.get(i).copied().unwrap_or(0))
        .collect();
    ordered
        .into_iter()
        .map(|(month, cost)| {
            let cap_remaining: Vec<Option<i64>> = commitments
                .iter()
                .zip(&used)
                .map(|(t, used)| t.cap_cents.map(|cap| cap - used))
                .collect();
            let split = split_month(
                month,
                cost,
                commitments,
                &cap_remaining,
                hours.for_month(month),
            );
            for (total, line) in used.iter_mut().zip(&split.lines) {
                *total += line.unwrap_or(0);
            }
            split
        })
        .collect()
}
