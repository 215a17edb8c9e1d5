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
    pub lines: Lines,
    /// The part no funder covers: the employer's deficit.
    pub uncovered_cents: i64,
}

/// Up to this many commitments, a month's lines are held in the split itself.
const INLINE_LINES: usize = ON_STACK - 1;

/// A month's amount per commitment, read as a slice. A post has a few commitments and a run
/// splits every month of every post, so up to [`INLINE_LINES`] of them are held in the split
/// itself: an allocation of their own per month was a fifth of the engine's time.
#[derive(Clone)]
pub struct Lines(LinesStorage);

#[derive(Clone)]
enum LinesStorage {
    Inline {
        len: usize,
        amounts: [Option<i64>; INLINE_LINES],
    },
    Heap(Vec<Option<i64>>),
}

impl Lines {
    /// `len` lines, every one `None`.
    pub fn none(len: usize) -> Lines {
        Lines(if len <= INLINE_LINES {
            LinesStorage::Inline {
                len,
                amounts: [None; INLINE_LINES],
            }
        } else {
            LinesStorage::Heap(vec![None; len])
        })
    }
}

impl std::ops::Deref for Lines {
    type Target = [Option<i64>];
    fn deref(&self) -> &[Option<i64>] {
        match &self.0 {
            LinesStorage::Inline { len, amounts } => &amounts[..*len],
            LinesStorage::Heap(amounts) => amounts,
        }
    }
}

impl std::ops::DerefMut for Lines {
    fn deref_mut(&mut self) -> &mut [Option<i64>] {
        match &mut self.0 {
            LinesStorage::Inline { len, amounts } => &mut amounts[..*len],
            LinesStorage::Heap(amounts) => amounts,
        }
    }
}

impl<'a> IntoIterator for &'a Lines {
    type Item = &'a Option<i64>;
    type IntoIter = std::slice::Iter<'a, Option<i64>>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl PartialEq for Lines {
    fn eq(&self, other: &Lines) -> bool {
        **self == **other
    }
}

impl Eq for Lines {}

impl PartialEq<Vec<Option<i64>>> for Lines {
    fn eq(&self, other: &Vec<Option<i64>>) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for Lines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
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
    created_order: i64,
    /// The commitment it is the part of; none for the employer's own part.
    commitment: Option<usize>,
}

/// A month has a few parts: up to this many, their rows stay on the stack (the rounding runs
/// for every month of every post in a run, where allocations would cost more than the
/// arithmetic).
const ON_STACK: usize = 8;

impl Part {
    /// A row of part storage not yet written.
    const UNUSED: Part = Part {
        numerator: 0,
        created_order: 0,
        commitment: None,
    };
}

/// Rounds parts to whole cents so that they add up to `total` exactly: each part gets the
/// floor of its exact value, then the missing cents go one by one to the largest fractional
/// remainders. Ties go to funders before the employer's own part, then to the larger exact
/// value, then to the earlier-created commitment. The numerators must add up to
/// `total × denominator`.
fn largest_remainder(
    parts: &[Part],
    denominator: i128,
    total: i64,
    assign: impl FnMut(usize, i64),
) {
    if parts.len() <= ON_STACK {
        let mut rows = [Row::default(); ON_STACK];
        round_parts(parts, denominator, total, &mut rows[..parts.len()], assign);
    } else {
        let mut rows = vec![Row::default(); parts.len()];
        round_parts(parts, denominator, total, &mut rows, assign);
    }
}

/// A part's working row in [`round_parts`]: its floor, its remainder and the keys its ties are
/// broken by, held in the row itself so that choosing where a cent goes reads one row, not the
/// part it came from.
#[derive(Debug, Clone, Copy, Default)]
struct Row {
    floor: i64,
    remainder: i128,
    numerator: i128,
    created_order: i64,
    /// The employer's own part, which loses ties to every funder.
    employer: bool,
    /// The part's index, the last tie-break and where its amount goes.
    index: usize,
}

impl Row {
    /// Whether this row takes a missing cent before `other`: the larger remainder, then a
    /// funder before the employer, then the larger exact value, then the earlier commitment.
    fn before(&self, other: &Row) -> bool {
        (
            other.remainder,
            self.employer,
            other.numerator,
            self.created_order,
            self.index,
        ) < (
            self.remainder,
            other.employer,
            self.numerator,
            other.created_order,
            other.index,
        )
    }
}

/// [`largest_remainder`] over one working row per part. Answers each part's amount to
/// `assign`, by the part's index.
fn round_parts(
    parts: &[Part],
    denominator: i128,
    total: i64,
    rows: &mut [Row],
    mut assign: impl FnMut(usize, i64),
) {
    if denominator <= 0 {
        (0..parts.len()).for_each(|index| assign(index, 0));
        return;
    }
    // Each part's floor and remainder, computed once (a comparison sort would divide again at
    // every comparison), in 64 bits when the values fit, as they do for any real month: a
    // 128-bit division costs several times a 64-bit one. The numerators are never negative and
    // add up to `total × denominator`, so that product bounds each of them.
    debug_assert!(parts.iter().all(|p| p.numerator >= 0));
    let narrow = i128::from(total)
        .checked_mul(denominator)
        .and_then(|bound| i64::try_from(bound).ok())
        .and_then(|_| i64::try_from(denominator).ok());
    let mut floors = 0i64;
    for (index, (part, row)) in parts.iter().zip(rows.iter_mut()).enumerate() {
        let (floor, remainder) = match narrow {
            Some(d) => {
                let n = part.numerator as i64;
                (n.div_euclid(d), i128::from(n.rem_euclid(d)))
            }
            None => (
                part.numerator.div_euclid(denominator) as i64,
                part.numerator.rem_euclid(denominator),
            ),
        };
        floors += floor;
        *row = Row {
            floor,
            remainder,
            numerator: part.numerator,
            created_order: part.created_order,
            employer: part.commitment.is_none(),
            index,
        };
    }
    let missing = total - floors;
    debug_assert!((0..=parts.len() as i64).contains(&missing));
    // The missing cents (fewer than the parts) one by one to the largest remainders: pick the
    // first of those left each time, rather than sort them all.
    for k in 0..missing.max(0) as usize {
        let mut best = k;
        for candidate in k + 1..rows.len() {
            if rows[candidate].before(&rows[best]) {
                best = candidate;
            }
        }
        rows.swap(k, best);
        rows[k].floor += 1;
    }
    for row in rows.iter() {
        assign(row.index, row.floor);
    }
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
    let mut split = MonthSplit::unsplit(month, cost_cents, commitments.len());
    fill_split(&mut split, commitments, cap_remaining, hours);
    split
}

impl MonthSplit {
    /// A month not split yet: its cost and no line.
    fn unsplit(month: Month, cost_cents: i64, commitments: usize) -> MonthSplit {
        MonthSplit {
            month,
            cost_cents: cost_cents.max(0),
            lines: Lines::none(commitments),
            uncovered_cents: 0,
        }
    }
}

/// [`split_month`] into a split already in place (its month, cost and lines all `None`), so
/// that a run's months are written where they are kept rather than moved there.
fn fill_split(
    split: &mut MonthSplit,
    commitments: &[Terms],
    cap_remaining: &[Option<i64>],
    hours: Option<&MonthHours>,
) {
    let (month, cost_cents) = (split.month, split.cost_cents);
    let lines = &mut split.lines;
    let in_force = || (0..commitments.len()).filter(|&i| commitments[i].in_force(month));
    let remaining_cap = |i: usize| cap_remaining.get(i).copied().flatten().map(|c| c.max(0));

    // 1. Fixed asks first (fixed and rate commitments), each bounded by its cap remaining:
    //    `lines` holds the asks until they are known to fit.
    //    The same pass adds up the shares' percents and notes whether any commitment is paid
    //    by activity, so that the remainder's parts need no other pass to find them.
    let mut asked: i64 = 0;
    let mut share_total: i64 = 0;
    let (mut any_share, mut any_activity) = (false, false);
    for i in in_force() {
        match &commitments[i].basis {
            Basis::Share { percent } => {
                share_total += percent.ten_thousandths();
                any_share = true;
            }
            Basis::Activity => any_activity = true,
            basis => {
                if let Some(ask) = basis.fixed_ask(month) {
                    let ask = match remaining_cap(i) {
                        Some(cap) => ask.min(cap),
                        None => ask,
                    }
                    .max(0);
                    lines[i] = Some(ask);
                    asked += ask;
                }
            }
        }
    }
    if asked > cost_cents {
        let fixed: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].is_some()).collect();
        let parts: Vec<Part> = fixed
            .iter()
            .map(|&i| Part {
                numerator: i128::from(cost_cents) * i128::from(lines[i].unwrap_or(0)),
                created_order: commitments[i].created_order,
                commitment: Some(i),
            })
            .collect();
        largest_remainder(&parts, i128::from(asked), cost_cents, |k, amount| {
            lines[fixed[k]] = Some(amount);
        });
    }
    let fixed_total: i64 = lines.iter().flatten().sum();

    // 2. Shares and activity parts of the remainder, rounded together with the employer's own
    //    part. With S the shares' percents and U every hour of the month's record, an activity
    //    commitment with h hours is a share of (100 − S) × h / U percent, exactly: all parts
    //    are held over the common denominator max(S, 100 %) × U.
    let remainder = cost_cents - fixed_total;
    // Shares above 100 % are refused when commitments are recorded; should such data reach
    // the engine anyway, the shares are scaled down to 100 % rather than paying out more
    // than the remainder (and the activity parts get nothing).
    let base = share_total.max(Percent::HUNDRED.ten_thousandths());
    let total_hours = hours.map_or(0, MonthHours::total);
    // A month without hours (U = 0) gives every activity commitment 0.
    let scale = i128::from(total_hours.max(1));
    let denominator = i128::from(base) * scale;
    // The shares, then the activity commitments, each with its weight over `denominator`,
    // then the employer's own part.
    let part = |i: usize, weight: i128| Part {
        numerator: i128::from(remainder) * weight,
        created_order: commitments[i].created_order,
        commitment: Some(i),
    };
    // On the stack for the few commitments a post has (see `largest_remainder`).
    let (mut on_stack, mut on_heap) = ([Part::UNUSED; ON_STACK], Vec::new());
    let storage: &mut [Part] = if commitments.len() < ON_STACK {
        &mut on_stack
    } else {
        on_heap.resize(commitments.len() + 1, Part::UNUSED);
        &mut on_heap
    };
    let mut count = 0;
    if any_share {
        for i in in_force() {
            if let Basis::Share { percent } = commitments[i].basis {
                storage[count] = part(i, i128::from(percent.ten_thousandths()) * scale);
                count += 1;
            }
        }
    }
    if any_activity {
        for i in in_force().filter(|&i| matches!(commitments[i].basis, Basis::Activity)) {
            let weight = match hours {
                Some(h) if total_hours > 0 => i128::from(base - share_total) * i128::from(h.of(i)),
                _ => 0,
            };
            storage[count] = part(i, weight);
            count += 1;
        }
    }
    let funders_numerator: i128 = storage[..count].iter().map(|p| p.numerator).sum();
    storage[count] = Part {
        numerator: i128::from(remainder) * denominator - funders_numerator,
        created_order: i64::MAX,
        commitment: None,
    };
    let parts = &storage[..=count];

    // 3. Caps: a part above its cap remaining gets the cap; the excess stays uncovered.
    largest_remainder(parts, denominator, remainder, |k, amount| {
        if let Some(i) = parts[k].commitment {
            let capped = match remaining_cap(i) {
                Some(cap) => amount.min(cap),
                None => amount,
            };
            lines[i] = Some(capped);
        }
    });

    // 4. Uncovered is whatever no funder carries.
    let allocated: i64 = lines.iter().flatten().sum();
    split.uncovered_cents = cost_cents - allocated;
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
    // Callers mostly give the months in order already: sort (a copy) only when they are not.
    let ordered: std::borrow::Cow<'_, [(Month, i64)]> = if months.is_sorted_by_key(|(m, _)| *m) {
        std::borrow::Cow::Borrowed(months)
    } else {
        let mut sorted = months.to_vec();
        sorted.sort_by_key(|(m, _)| *m);
        std::borrow::Cow::Owned(sorted)
    };
    let mut used: Vec<i64> = (0..commitments.len())
        .map(|i| allocated_before.get(i).copied().unwrap_or(0))
        .collect();
    // One buffer for every month's caps remaining.
    let mut cap_remaining: Vec<Option<i64>> = Vec::with_capacity(commitments.len());
    let mut splits = Vec::with_capacity(ordered.len());
    for &(month, cost) in ordered.iter() {
        cap_remaining.clear();
        cap_remaining.extend(
            commitments
                .iter()
                .zip(&used)
                .map(|(t, used)| t.cap_cents.map(|cap| cap - used)),
        );
        splits.push(MonthSplit::unsplit(month, cost, commitments.len()));
        let Some(split) = splits.last_mut() else {
            continue;
        };
        fill_split(split, commitments, &cap_remaining, hours.for_month(month));
        for (total, line) in used.iter_mut().zip(&split.lines) {
            *total += line.unwrap_or(0);
        }
    }
    splits
}
