//! The continuity projection: how far ahead a post is funded.
//!
//! It runs the allocation rule of [`super::allocation`] on the post's budget for each future
//! month, with the commitments in force and their caps remaining, and reads the verdict off
//! the projected months.

use super::allocation::{allocate_months, MonthSplit, Terms};
use super::decimal_units::Percent;
use super::keys::HoursBook;
use super::month::Month;
use serde::Serialize;

/// The default projection horizon, in months.
pub const DEFAULT_HORIZON_MONTHS: i32 = 24;
/// The longest horizon a caller may ask for, in months.
pub const MAX_HORIZON_MONTHS: i32 = 120;
/// How many months after `as_of` a commitment's end makes it "expiring".
pub const EXPIRING_WITHIN_MONTHS: i32 = 5;

/// The risk verdict of a post.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[serde(rename_all = "lowercase")]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum Risk {
    /// Under three months of runway.
    Red,
    /// Under six months of runway.
    Amber,
    /// Six months or more, or funded through the post's end.
    Green,
}

impl Risk {
    /// The verdict's name, as the API and the stored record of risks write it.
    pub fn name(self) -> &'static str {
        match self {
            Risk::Red => "red",
            Risk::Amber => "amber",
            Risk::Green => "green",
        }
    }

    /// Reads a verdict's name.
    pub fn parse(text: &str) -> Result<Risk, String> {
        [Risk::Red, Risk::Amber, Risk::Green]
            .into_iter()
            .find(|r| r.name() == text)
            .ok_or_else(|| format!("{text:?} is not green, amber or red"))
    }
}

impl std::fmt::Display for Risk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the projection needs to know about a post.
#[derive(Clone, Copy)]
pub struct ProjectionInput<'a> {
    /// The first projected month.
    pub as_of: Month,
    /// How many months to project; the projection never passes `post_end`.
    pub horizon_months: i32,
    /// The coverage a month must reach.
    pub threshold: Percent,
    /// The post's last month, if it has one.
    pub post_end: Option<Month>,
    /// The budget (expected cost) of each month, in cents.
    pub budget_cents: &'a dyn Fn(Month) -> i64,
    /// The commitments of the post.
    pub commitments: &'a [Terms],
    /// What each commitment was actually allocated before `as_of`, in cents.
    pub allocated_before: &'a [i64],
    /// The post's records of hours, carried forward into the months without one.
    pub hours: &'a HoursBook,
}

/// The verdict of a projection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Continuity {
    /// The projected months, in order.
    pub months: Vec<MonthSplit>,
    /// The last month of the unbroken run of months that reach the threshold from `as_of`.
    pub funded_until: Option<Month>,
    /// How many months that run counts.
    pub runway_months: i32,
    /// The projected months under the threshold.
    pub gaps: Vec<Month>,
    /// Indexes of the commitments whose end falls within `as_of` … `as_of` + 5.
    pub expiring: Vec<usize>,
    /// The verdict.
    pub risk: Risk,
}

/// Whether a month's allocation reaches the threshold, compared exactly:
/// `allocated × 100 ≥ threshold × cost`. A month that costs nothing reaches it.
pub fn reaches_threshold(split: &MonthSplit, threshold: Percent) -> bool {
    i128::from(split.allocated_cents()) * i128::from(Percent::HUNDRED.ten_thousandths())
        >= i128::from(threshold.ten_thousandths()) * i128::from(split.cost_cents)
}

/// Coverage = allocated / cost as a percentage with two decimals, rounded down (`"87.50"`);
/// `None` when the cost is zero.
pub fn coverage(allocated_cents: i64, cost_cents: i64) -> Option<String> {
    if cost_cents <= 0 {
        return None;
    }
    let hundredths =
        (i128::from(allocated_cents.max(0)) * 10_000).div_euclid(i128::from(cost_cents));
    Some(format!("{}.{:02}", hundredths / 100, hundredths % 100))
}

/// The months a projection covers: `horizon` months from `as_of`, never past `post_end`.
pub fn projected_months(as_of: Month, horizon_months: i32, post_end: Option<Month>) -> Vec<Month> {
    let horizon_end = as_of.plus(horizon_months - 1).unwrap_or(as_of);
    let last = match post_end {
        Some(end) if end < horizon_end => end,
        _ => horizon_end,
    };
    as_of.through(last).collect()
}

/// Projects a post's funding and reads its continuity verdict.
pub fn project(input: &ProjectionInput<'_>) -> Continuity {
    let months: Vec<(Month, i64)> =
        projected_months(input.as_of, input.horizon_months, input.post_end)
            .into_iter()
            .map(|m| (m, (input.budget_cents)(m)))
            .collect();
    let splits = allocate_months(
        input.commitments,
        &months,
        input.allocated_before,
        input.hours,
    );

    let covered: Vec<bool> = splits
        .iter()
        .map(|s| reaches_threshold(s, input.threshold))
        .collect();
    let runway = covered.iter().take_while(|c| **c).count();
    let funded_until = runway.checked_sub(1).map(|last| splits[last].month);
    let gaps = splits
        .iter()
        .zip(&covered)
        .filter(|(_, c)| !**c)
        .map(|(s, _)| s.month)
        .collect();
    let expiring_until = input
        .as_of
        .plus(EXPIRING_WITHIN_MONTHS)
        .unwrap_or(input.as_of);
    let expiring = input
        .commitments
        .iter()
        .enumerate()
        .filter(|(_, t)| input.as_of <= t.end && t.end <= expiring_until)
        .map(|(i, _)| i)
        .collect();
    let runway_months = runway as i32;
    let funded_through_end = matches!(
        (input.post_end, funded_until),
        (Some(end), Some(until)) if until >= end
    );
    let risk = if funded_through_end {
        Risk::Green
    } else if runway_months < 3 {
        Risk::Red
    } else if runway_months < 6 {
        Risk::Amber
    } else {
        Risk::Green
    };
    Continuity {
        months: splits,
        funded_until,
        runway_months,
        gaps,
        expiring,
        risk,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_rounds_down_to_two_decimals() {
        assert_eq!(coverage(8_750, 10_000).as_deref(), Some("87.50"));
        assert_eq!(coverage(2, 3).as_deref(), Some("66.66"));
        assert_eq!(coverage(1, 3).as_deref(), Some("33.33"));
        assert_eq!(coverage(300, 300).as_deref(), Some("100.00"));
        assert_eq!(coverage(0, 300).as_deref(), Some("0.00"));
        assert_eq!(coverage(0, 0), None);
    }
}
