//! Allocation runs: compute a month of some posts and every later allocated month of each
//! with the pure engine, store the new split, and post only the differences to the journal.
//!
//! A run reads what it needs for all its posts in a few queries, computes in memory, and
//! writes in batches, so that an employer of 3,000 posts is allocated in a handful of
//! statements rather than tens of thousands.

use super::commitments::CommitmentRow;
use super::events::NewEvent;
use super::keys::{hours_in_force, post_terms, RateBook, StoredHours};
use super::ledger::{post_entries, EntryKind, NewEntry};
use super::schema::{allocated_months, allocation_lines, call_lines, calls, commitments, costs};
use super::{DbConnection, EmployerLock, Recorder};
use crate::db::LockedEmployer;
use crate::db::StoreError;
use crate::domain::allocation_run::{
    plan_post, LineChange, Party, PostPlan, PostRun, StoredAllocation,
};
use crate::domain::events::{AllocationPosted, EventData};
use crate::domain::ids::{CallId, CommitmentId, EmployerId, FunderId, PostId};
use crate::domain::{ledger, Month};
use diesel::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What a run did for one post and the month asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunResult {
    /// The post.
    pub post_id: PostId,
    /// The month asked.
    pub month: Month,
    /// Its cost, in cents.
    pub cost_cents: i64,
    /// Allocated to funders, in cents.
    pub allocated_cents: i64,
    /// Left uncovered, in cents.
    pub uncovered_cents: i64,
    /// Journal entries this run added for the post (all recomputed months).
    pub entries_posted: i64,
}

/// Which posts a run covers.
#[derive(Debug, Clone)]
pub enum RunScope<'a> {
    /// One post.
    Post(PostId),
    /// These posts of the employer (all those whose months include the month asked).
    Posts(&'a [PostId]),
}

#[derive(Insertable)]
#[diesel(table_name = allocation_lines, treat_none_as_default_value = false)]
struct NewLine {
    commitment_id: CommitmentId,
    month: Month,
    post_id: PostId,
    funder_id: FunderId,
    employer_id: EmployerId,
    amount_cents: i64,
}

#[derive(Insertable)]
#[diesel(table_name = allocated_months, treat_none_as_default_value = false)]
struct NewAllocatedMonth {
    post_id: PostId,
    month: Month,
    employer_id: EmployerId,
    cost_cents: i64,
    uncovered_cents: i64,
}

/// "1 = 1" when the run covers the whole employer, so that one query shape serves both scopes.
fn whole_employer(scope: &RunScope<'_>) -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    diesel::dsl::sql(match scope {
        RunScope::Posts(_) => "1 = 1",
        RunScope::Post(_) => "1 = 0",
    })
}

/// Everything a run reads, for all its posts, from the month asked on.
struct Loaded {
    /// The stored lines, months and calls the plan is compared with.
    stored: StoredAllocation,
    /// The commitments of each post, in creation order.
    commitments_by_post: HashMap<PostId, Vec<CommitmentRow>>,
    /// What each commitment was allocated before the month asked (its cap's use).
    used_before: HashMap<CommitmentId, i64>,
    /// The cost of each post and month.
    cost_totals: HashMap<(PostId, Month), i64>,
    /// The schedules of the rates the commitments name.
    rates: RateBook,
    /// The records of hours in force, by post and month, of the posts with activity
    /// commitments.
    hours: HashMap<PostId, BTreeMap<Month, StoredHours>>,
}

/// What a run writes.
#[derive(Default)]
struct Writes {
    results: Vec<RunResult>,
    entries: Vec<NewEntry>,
    new_lines: Vec<NewLine>,
    changed_lines: Vec<(CommitmentId, Month, Option<i64>)>,
    new_months: Vec<NewAllocatedMonth>,
    changed_months: Vec<(PostId, Month, i64, i64)>,
    blocking_calls: BTreeSet<CallId>,
    events: Vec<NewEvent>,
}

/// Allocates `month` for the posts of `scope` (the locked employer's) and recomputes their
/// later allocated months, inside the caller's write transaction.
pub fn run(
    conn: &mut DbConnection,
    lock: &EmployerLock,
    scope: RunScope<'_>,
    month: Month,
    by: &Recorder,
) -> Result<Vec<RunResult>, StoreError> {
    let employer_id = lock.employer();
    // A closed month is never allocated again, and later months are open if it is.
    super::periods::check_open(conn, employer_id, month)?;
    let post_ids: Vec<PostId> = match scope {
        RunScope::Post(id) => vec![id],
        RunScope::Posts(ids) => ids.to_vec(),
    };
    let loaded = load(conn, employer_id, &scope, month)?;
    let plans = plan(&loaded, &post_ids, month)?;
    let plan = writes(plans, employer_id)?;
    if !plan.blocking_calls.is_empty() {
        let ids: Vec<CallId> = plan.blocking_calls.iter().copied().collect();
        let mut numbers: Vec<String> = calls::table
            .filter(calls::id.eq_any(&ids))
            .select(calls::number)
            .load(conn)?;
        numbers.sort();
        return Err(StoreError::conflict(
            "below_called",
            format!(
                "the new allocation would fall below what is already called by {}; cancel those calls first",
                numbers.join(", ")
            ),
        ));
    }
    write(conn, plan, by)
}

/// Reads what the computation needs, in six queries whatever the number of posts.
fn load(
    conn: &mut DbConnection,
    employer_id: EmployerId,
    scope: &RunScope<'_>,
    month: Month,
) -> QueryResult<Loaded> {
    // One post's id, or an id no row has when the whole employer runs (see `whole_employer`).
    let one_post = match scope {
        RunScope::Post(id) => id.to_string(),
        RunScope::Posts(_) => String::new(),
    };
    let stored_months: HashMap<(PostId, Month), (i64, i64)> = allocated_months::table
        .filter(allocated_months::employer_id.eq(employer_id))
        .filter(
            allocated_months::post_id
                .eq(&one_post)
                .or(whole_employer(scope)),
        )
        .filter(allocated_months::month.ge(month))
        .select((
            allocated_months::post_id,
            allocated_months::month,
            allocated_months::cost_cents,
            allocated_months::uncovered_cents,
        ))
        .load::<(PostId, Month, i64, i64)>(conn)?
        .into_iter()
        .map(|(p, m, c, u)| ((p, m), (c, u)))
        .collect();
    let mut commitments_by_post: HashMap<PostId, Vec<CommitmentRow>> = HashMap::new();
    for row in commitments::table
        .filter(commitments::employer_id.eq(employer_id))
        .filter(commitments::post_id.eq(&one_post).or(whole_employer(scope)))
        .order((commitments::created_at, commitments::id))
        .select(CommitmentRow::as_select())
        .load(conn)?
    {
        commitments_by_post
            .entry(row.post_id)
            .or_default()
            .push(row);
    }
    // Only a cap makes the earlier months count, so only capped commitments' are summed: the
    // sum over every commitment read the employer's whole history at every run.
    let capped = commitments::table
        .filter(commitments::employer_id.eq(employer_id))
        .filter(commitments::post_id.eq(&one_post).or(whole_employer(scope)))
        .filter(commitments::cap_cents.is_not_null())
        .select(commitments::id);
    let used_before = allocation_lines::table
        .filter(allocation_lines::commitment_id.eq_any(capped))
        .filter(allocation_lines::month.lt(month))
        .group_by(allocation_lines::commitment_id)
        .select((
            allocation_lines::commitment_id,
            diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT)",
            ),
        ))
        .load::<(CommitmentId, i64)>(conn)?
        .into_iter()
        .collect();
    // The costs of the months the run computes: the month asked and the later months already
    // allocated (costs recorded ahead for months not allocated yet are not read).
    let computed_months: BTreeSet<Month> = std::iter::once(month)
        .chain(stored_months.keys().map(|(_, m)| *m))
        .collect();
    let cost_totals = costs::table
        .filter(costs::employer_id.eq(employer_id))
        .filter(costs::post_id.eq(&one_post).or(whole_employer(scope)))
        .filter(costs::month.eq_any(computed_months))
        .group_by((costs::post_id, costs::month))
        .select((
            costs::post_id,
            costs::month,
            diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT)",
            ),
        ))
        .load::<(PostId, Month, i64)>(conn)?
        .into_iter()
        .map(|(p, m, total)| ((p, m), total))
        .collect();
    let stored_lines = allocation_lines::table
        .filter(allocation_lines::employer_id.eq(employer_id))
        .filter(
            allocation_lines::post_id
                .eq(&one_post)
                .or(whole_employer(scope)),
        )
        .filter(allocation_lines::month.ge(month))
        .select((
            allocation_lines::commitment_id,
            allocation_lines::month,
            allocation_lines::amount_cents,
        ))
        .load::<(CommitmentId, Month, i64)>(conn)?
        .into_iter()
        .map(|(c, m, a)| ((c, m), a))
        .collect();
    let mut called: HashMap<(FunderId, PostId, Month), (i64, Vec<CallId>)> = HashMap::new();
    for (call_id, funder, post, m, amount) in call_lines::table
        .filter(call_lines::employer_id.eq(employer_id))
        .filter(call_lines::post_id.eq(&one_post).or(whole_employer(scope)))
        .filter(call_lines::month.ge(month))
        .filter(
            call_lines::call_id.eq_any(
                calls::table
                    .filter(calls::cancelled_on.is_null())
                    .select(calls::id),
            ),
        )
        .select((
            call_lines::call_id,
            call_lines::funder_id,
            call_lines::post_id,
            call_lines::month,
            call_lines::amount_cents,
        ))
        .load::<(CallId, FunderId, PostId, Month, i64)>(conn)?
    {
        let entry = called.entry((funder, post, m)).or_default();
        entry.0 += amount;
        entry.1.push(call_id);
    }
    let all_commitments: Vec<&CommitmentRow> = commitments_by_post.values().flatten().collect();
    let rates = RateBook::for_commitments(conn, &all_commitments)?;
    let mut keyed_posts: Vec<PostId> = all_commitments
        .iter()
        .filter(|c| c.basis == "activity")
        .map(|c| c.post_id)
        .collect();
    keyed_posts.sort();
    keyed_posts.dedup();
    let hours = hours_in_force(conn, &keyed_posts, Some(month))?;
    Ok(Loaded {
        stored: StoredAllocation {
            lines: stored_lines,
            months: stored_months,
            called,
        },
        commitments_by_post,
        used_before,
        cost_totals,
        rates,
        hours,
    })
}

/// The plan of each post, from the pure rules of `domain::allocation_run`.
fn plan(loaded: &Loaded, post_ids: &[PostId], month: Month) -> QueryResult<Vec<PostPlan>> {
    let wanted: BTreeSet<PostId> = post_ids.iter().copied().collect();
    let cost = |post: PostId, m: Month| loaded.cost_totals.get(&(post, m)).copied().unwrap_or(0);
    let mut later_by_post: HashMap<PostId, Vec<(Month, i64)>> = HashMap::new();
    for (post, m) in loaded.stored.months.keys() {
        if *m != month && wanted.contains(post) {
            later_by_post
                .entry(*post)
                .or_default()
                .push((*m, cost(*post, *m)));
        }
    }
    let no_commitments = Vec::new();
    post_ids
        .iter()
        .map(|&post_id| {
            let commitments = loaded
                .commitments_by_post
                .get(&post_id)
                .unwrap_or(&no_commitments);
            let terms = post_terms(
                commitments,
                &loaded.rates,
                loaded.hours.get(&post_id),
                &loaded.used_before,
                false,
            )?;
            let parties: Vec<Party> = commitments
                .iter()
                .map(|c| Party {
                    commitment_id: c.id,
                    funder_id: c.funder_id,
                })
                .collect();
            let run = PostRun {
                post_id,
                parties: &parties,
                terms: &terms,
                month: (month, cost(post_id, month)),
                later: later_by_post.remove(&post_id).unwrap_or_default(),
            };
            Ok(plan_post(&run, &loaded.stored))
        })
        .collect()
}

/// The rows, journal entries and events that carry the plans out: no I/O.
fn writes(plans: Vec<PostPlan>, employer_id: EmployerId) -> Result<Writes, StoreError> {
    let mut out = Writes {
        results: Vec::with_capacity(plans.len()),
        ..Writes::default()
    };
    for plan in plans {
        let post_id = plan.post_id;
        out.blocking_calls
            .extend(plan.blocking_calls.iter().copied());
        for m in &plan.months {
            let moved: Vec<&LineChange> = m.moved().collect();
            if !moved.is_empty() {
                out.entries.push(NewEntry {
                    employer_id,
                    date: m.month.last_day(),
                    kind: EntryKind::Allocation,
                    reference: format!("allocation of post {post_id} for {}", m.month),
                    reverses: None,
                    lines: moved
                        .iter()
                        .flat_map(|l| {
                            ledger::allocation_lines(
                                l.party.funder_id,
                                post_id,
                                m.month,
                                l.change(),
                            )
                        })
                        .collect(),
                });
                out.events.push(NewEvent {
                    employer_id: Some(employer_id),
                    funders: moved.iter().map(|l| l.party.funder_id).collect(),
                    data: EventData::AllocationPosted(AllocationPosted::of(post_id, m)),
                    once_key: None,
                });
            }
            for line in &m.lines {
                match (line.stored, line.new) {
                    (None, Some(amount)) => out.new_lines.push(NewLine {
                        commitment_id: line.party.commitment_id,
                        month: m.month,
                        post_id,
                        funder_id: line.party.funder_id,
                        employer_id,
                        amount_cents: amount,
                    }),
                    (Some(previous), new) if new != Some(previous) => {
                        out.changed_lines
                            .push((line.party.commitment_id, m.month, new));
                    }
                    _ => {}
                }
            }
            match m.stored {
                None => out.new_months.push(NewAllocatedMonth {
                    post_id,
                    month: m.month,
                    employer_id,
                    cost_cents: m.cost_cents,
                    uncovered_cents: m.uncovered_cents,
                }),
                Some(_) if m.figures_changed() => {
                    out.changed_months
                        .push((post_id, m.month, m.cost_cents, m.uncovered_cents));
                }
                Some(_) => {}
            }
        }
        let asked = plan.asked().ok_or_else(|| {
            StoreError::Internal(anyhow::anyhow!("an allocation run computed no month"))
        })?;
        out.results.push(RunResult {
            post_id,
            month: asked.month,
            cost_cents: asked.cost_cents,
            allocated_cents: asked.allocated_cents(),
            uncovered_cents: asked.uncovered_cents,
            entries_posted: plan.entries_posted(),
        });
    }
    Ok(out)
}

/// The writes: new rows in batches, changed rows one by one (few once a month is allocated).
fn write(
    conn: &mut DbConnection,
    plan: Writes,
    by: &Recorder,
) -> Result<Vec<RunResult>, StoreError> {
    insert_batches!(conn, allocation_lines::table, plan.new_lines);
    for (commitment_id, m, amount) in plan.changed_lines {
        let key = allocation_lines::table.find((commitment_id, m));
        match amount {
            Some(amount) => diesel::update(key)
                .set(allocation_lines::amount_cents.eq(amount))
                .execute(conn)?,
            None => diesel::delete(key).execute(conn)?,
        };
    }
    insert_batches!(conn, allocated_months::table, plan.new_months);
    for (post_id, m, cost, uncovered) in plan.changed_months {
        diesel::update(allocated_months::table.find((post_id, m)))
            .set((
                allocated_months::cost_cents.eq(cost),
                allocated_months::uncovered_cents.eq(uncovered),
            ))
            .execute(conn)?;
    }
    post_entries(conn, &plan.entries, by)?;
    super::events::record(conn, &plan.events)?;
    Ok(plan.results)
}
