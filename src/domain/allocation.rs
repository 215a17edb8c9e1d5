//! The allocation rule of `DOMAIN.md`, exact to the cent.
//!
//! Everything here is a pure function of integers: cents for money and ten-thousandths of a
//! percent for shares. Exact parts are rationals `numerator / denominator` held in `i128`, so
//! that no rounding happens before the largest-remainder step decides where each cent goes.
//! The same functions serve the allocation runs (on actual costs) and the continuity
//! projection (on budgets): a split is computed in one place.

use super::decimal_units::Percent;
use super::month::Month;

/// How a commitment contributes to a month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

/// The terms of one commitment, as the engine needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
/// (`None` when uncapped). Commitments not in force get `None` in the result.
pub fn split_month(
    month: Month,
    cost_cents: i64,
    commitments: &[Terms],
    cap_remaining: &[Option<i64>],
) -> MonthSplit {
    let cost_cents = cost_cents.max(0);
    let mut lines: Vec<Option<i64>> = vec![None; commitments.len()];
    let in_force: Vec<usize> = (0..commitments.len())
        .filter(|&i| commitments[i].in_force(month))
        .collect();
    let remaining_cap = |i: usize| cap_remaining.get(i).copied().flatten().map(|c| c.max(0));

    // 1. Fixed first: each asks its monthly amount, bounded by its cap remaining.
    let fixed: Vec<(usize, i64)> = in_force
        .iter()
        .filter_map(|&i| match commitments[i].basis {
            Basis::Fixed { monthly_cents } => {
                let ask = match remaining_cap(i) {
                    Some(cap) => monthly_cents.min(cap),
                    None => monthly_cents,
                };
                Some((i, ask.max(0)))
            }
            Basis::Share { .. } => None,
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

    // 2. Shares of the remainder, rounded together with the employer's own part.
    let remainder = cost_cents - fixed_total;
    let shares: Vec<(usize, i64)> = in_force
        .iter()
        .filter_map(|&i| match commitments[i].basis {
            Basis::Share { percent } => Some((i, percent.ten_thousandths())),
            Basis::Fixed { .. } => None,
        })
        .collect();
    let share_total: i64 = shares.iter().map(|(_, p)| p).sum();
    // Shares above 100 % are refused when commitments are recorded; should such data reach
    // the engine anyway, the shares are scaled down to 100 % rather than paying out more
    // than the remainder.
    let denominator = share_total.max(Percent::HUNDRED.ten_thousandths());
    let mut parts: Vec<Part> = shares
        .iter()
        .map(|&(i, p)| Part {
            numerator: i128::from(remainder) * i128::from(p),
            is_employer: false,
            created_order: commitments[i].created_order,
        })
        .collect();
    parts.push(Part {
        numerator: i128::from(remainder) * i128::from(denominator - share_total),
        is_employer: true,
        created_order: i64::MAX,
    });
    let rounded = largest_remainder(&parts, i128::from(denominator), remainder);

    // 3. Caps: a share above its cap remaining gets the cap; the excess stays uncovered.
    for (&(i, _), amount) in shares.iter().zip(rounded) {
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
/// per commitment, what it was allocated in the months before the first one given.
pub fn allocate_months(
    commitments: &[Terms],
    months: &[(Month, i64)],
    allocated_before: &[i64],
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
            let split = split_month(month, cost, commitments, &cap_remaining);
            for (total, line) in used.iter_mut().zip(&split.lines) {
                *total += line.unwrap_or(0);
            }
            split
        })
        .collect()
}
