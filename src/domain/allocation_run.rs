//! What an allocation run changes, worked out without I/O: a post's months are split by the
//! engine of [`super::allocation`] and compared with what is stored, line by line, so that the
//! journal receives only the differences and a month already called is never allocated below
//! its calls.
//!
//! The data layer loads what is stored, calls [`plan_post`] for each post and writes the plan;
//! everything that decides a figure is here.

use super::allocation::{allocate_months, Terms};
use super::ids::{CallId, CommitmentId, FunderId, PostId};
use super::keys::HoursBook;
use super::month::Month;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What the engine reads of a post's commitments, parallel to them in creation order: their
/// terms, what each was allocated before the first month computed (the use of its cap), and
/// the records of hours the activity commitments are split by. The runs and the continuity
/// projection build it the same way.
#[derive(Debug, Clone)]
pub struct PostTerms {
    /// The terms, in creation order.
    pub terms: Vec<Terms>,
    /// Allocated to each commitment before the first month computed, in cents.
    pub allocated_before: Vec<i64>,
    /// The hours by commitment, per month.
    pub hours: HoursBook,
}

/// A commitment as a run names its lines: the commitment and the funder it binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Party {
    /// The commitment.
    pub commitment_id: CommitmentId,
    /// Its funder.
    pub funder_id: FunderId,
}

/// What is stored from the month asked on, for the posts of a run.
#[derive(Debug, Clone, Default)]
pub struct StoredAllocation {
    /// The allocation lines, by commitment and month, in cents.
    pub lines: HashMap<(CommitmentId, Month), i64>,
    /// The allocated months: (cost, uncovered) in cents, by post and month.
    pub months: HashMap<(PostId, Month), (i64, i64)>,
    /// What is called, per funder, post and month, in cents, with the calls that call it.
    pub called: HashMap<(FunderId, PostId, Month), (i64, Vec<CallId>)>,
}

/// One post of a run.
#[derive(Debug, Clone)]
pub struct PostRun<'a> {
    /// The post.
    pub post_id: PostId,
    /// Its commitments in creation order, parallel to `terms`.
    pub parties: &'a [Party],
    /// What the engine reads of them.
    pub terms: &'a PostTerms,
    /// The month asked, with its cost in cents.
    pub month: (Month, i64),
    /// The later months already allocated, each with its cost: a change to an earlier month
    /// moves the caps they draw on, so they are computed again.
    pub later: Vec<(Month, i64)>,
}

/// A commitment's line of a month: what is stored and what the engine gives now (`None` where
/// the commitment is not in force, or has no line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineChange {
    /// The commitment and its funder.
    pub party: Party,
    /// The stored line, in cents.
    pub stored: Option<i64>,
    /// The new line, in cents.
    pub new: Option<i64>,
}

impl LineChange {
    /// What the journal receives for this line: the new amount less the stored one.
    pub fn change(&self) -> i64 {
        self.new.unwrap_or(0) - self.stored.unwrap_or(0)
    }
}

/// One month of a post as the run leaves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthPlan {
    /// The month.
    pub month: Month,
    /// Its cost, in cents.
    pub cost_cents: i64,
    /// What no funder covers, in cents.
    pub uncovered_cents: i64,
    /// The lines of every commitment with a stored or a new line, in creation order.
    pub lines: Vec<LineChange>,
    /// The stored (cost, uncovered) of the month, if it was allocated before.
    pub stored: Option<(i64, i64)>,
}

impl MonthPlan {
    /// Everything allocated to funders in the month, in cents.
    pub fn allocated_cents(&self) -> i64 {
        self.lines.iter().filter_map(|l| l.new).sum()
    }

    /// The lines whose amount moves, which the month's journal entry posts.
    pub fn moved(&self) -> impl Iterator<Item = &LineChange> {
        self.lines.iter().filter(|l| l.change() != 0)
    }

    /// Whether the month's stored figures differ from the new ones (or were never stored).
    pub fn figures_changed(&self) -> bool {
        self.stored != Some((self.cost_cents, self.uncovered_cents))
    }
}

/// A post's run: the month asked and every later allocated month, in month order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostPlan {
    /// The post.
    pub post_id: PostId,
    /// The months, the month asked first.
    pub months: Vec<MonthPlan>,
    /// The calls the new split would fall below (a funder's new total of a month under what it
    /// was called for it): the run is refused while any is here.
    pub blocking_calls: BTreeSet<CallId>,
}

impl PostPlan {
    /// The month asked (the earliest computed).
    pub fn asked(&self) -> Option<&MonthPlan> {
        self.months.first()
    }

    /// How many journal entries the run posts for the post: one per month whose lines move.
    pub fn entries_posted(&self) -> i64 {
        self.months
            .iter()
            .filter(|m| m.moved().next().is_some())
            .count() as i64
    }
}

/// Splits the post's months with the engine and compares them with what is stored.
pub fn plan_post(run: &PostRun<'_>, stored: &StoredAllocation) -> PostPlan {
    let mut inputs = vec![run.month];
    inputs.extend(run.later.iter().copied().filter(|(m, _)| *m > run.month.0));
    let splits = allocate_months(
        &run.terms.terms,
        &inputs,
        &run.terms.allocated_before,
        &run.terms.hours,
    );
    let mut blocking_calls = BTreeSet::new();
    let months = splits
        .into_iter()
        .map(|split| {
            let month = split.month;
            let lines: Vec<LineChange> = run
                .parties
                .iter()
                .zip(&split.lines)
                .map(|(party, new)| LineChange {
                    party: *party,
                    stored: stored.lines.get(&(party.commitment_id, month)).copied(),
                    new: *new,
                })
                .filter(|l| l.stored.is_some() || l.new.is_some())
                .collect();
            let mut by_funder: BTreeMap<FunderId, i64> = BTreeMap::new();
            for party in run.parties {
                by_funder.entry(party.funder_id).or_default();
            }
            for line in &lines {
                *by_funder.entry(line.party.funder_id).or_default() += line.new.unwrap_or(0);
            }
            // Every funder called on the post has a commitment on it, so it is in `by_funder`.
            for (funder, new_total) in &by_funder {
                if let Some((called, calls)) = stored.called.get(&(*funder, run.post_id, month)) {
                    if new_total < called {
                        blocking_calls.extend(calls.iter().copied());
                    }
                }
            }
            MonthPlan {
                month,
                cost_cents: split.cost_cents,
                uncovered_cents: split.uncovered_cents,
                lines,
                stored: stored.months.get(&(run.post_id, month)).copied(),
            }
        })
        .collect();
    PostPlan {
        post_id: run.post_id,
        months,
        blocking_calls,
    }
}
