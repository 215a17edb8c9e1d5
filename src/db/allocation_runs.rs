//! Allocation runs: compute a month of some posts and every later allocated month of each
//! with the pure engine, store the new split, and post only the differences to the journal.
//!
//! A run reads what it needs for all its posts in a few queries, computes in memory, and
//! writes in batches, so that an employer of 3,000 posts is allocated in a handful of
//! statements rather than tens of thousands.

use super::commitments::CommitmentRow;
use super::ledger::{post_entries, EntryKind, NewEntry};
use super::schema::{allocated_months, allocation_lines, call_lines, calls, commitments, costs};
use super::DbConnection;
use crate::domain::allocation::{allocate_months, Terms};
use crate::domain::{ledger, Month};
use crate::error::ApiError;
use diesel::prelude::*;
use std::collections::{BTreeSet, HashMap};
use uuid::Uuid;

/// What a run did for one post and the month asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunResult {
    /// The post.
    pub post_id: String,
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
    Post(&'a str),
    /// These posts of the employer (all those whose months include the month asked).
    Posts(&'a [String]),
}

#[derive(Insertable)]
#[diesel(table_name = allocation_lines)]
struct NewLine<'a> {
    commitment_id: &'a str,
    month: String,
    post_id: &'a str,
    funder_id: &'a str,
    employer_id: &'a str,
    amount_cents: i64,
}

#[derive(Insertable)]
#[diesel(table_name = allocated_months)]
struct NewAllocatedMonth<'a> {
    post_id: &'a str,
    month: String,
    employer_id: &'a str,
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

/// Allocates `month` for the posts of `scope` and recomputes their later allocated months.
/// The caller holds the employer's lock inside a write transaction.
pub fn run(
    conn: &mut DbConnection,
    employer_id: &str,
    scope: RunScope<'_>,
    month: Month,
) -> Result<Vec<RunResult>, ApiError> {
    // A closed month is never allocated again, and later months are open if it is.
    super::periods::check_open(conn, employer_id, month)?;
    let month_name = month.to_string();
    let one_post = match scope {
        RunScope::Post(id) => id.to_owned(),
        RunScope::Posts(_) => String::new(),
    };
    let post_ids: Vec<String> = match scope {
        RunScope::Post(id) => vec![id.to_owned()],
        RunScope::Posts(ids) => ids.to_vec(),
    };
    let wanted: BTreeSet<&str> = post_ids.iter().map(String::as_str).collect();

    // Everything the computation reads, in six queries.
    let stored_months: HashMap<(String, String), (i64, i64)> = allocated_months::table
        .filter(allocated_months::employer_id.eq(employer_id))
        .filter(
            allocated_months::post_id
                .eq(&one_post)
                .or(whole_employer(&scope)),
        )
        .filter(allocated_months::month.ge(&month_name))
        .select((
            allocated_months::post_id,
            allocated_months::month,
            allocated_months::cost_cents,
            allocated_months::uncovered_cents,
        ))
        .load::<(String, String, i64, i64)>(conn)?
        .into_iter()
        .map(|(p, m, c, u)| ((p, m), (c, u)))
        .collect();
    let mut commitments_by_post: HashMap<String, Vec<CommitmentRow>> = HashMap::new();
    for row in commitments::table
        .filter(commitments::employer_id.eq(employer_id))
        .filter(
            commitments::post_id
                .eq(&one_post)
                .or(whole_employer(&scope)),
        )
        .order((commitments::created_at, commitments::id))
        .select(CommitmentRow::as_select())
        .load(conn)?
    {
        commitments_by_post
            .entry(row.post_id.clone())
            .or_default()
            .push(row);
    }
    let used_before: HashMap<String, i64> = allocation_lines::table
        .filter(allocation_lines::employer_id.eq(employer_id))
        .filter(
            allocation_lines::post_id
                .eq(&one_post)
                .or(whole_employer(&scope)),
        )
        .filter(allocation_lines::month.lt(&month_name))
        .group_by(allocation_lines::commitment_id)
        .select((
            allocation_lines::commitment_id,
            diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT)",
            ),
        ))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect();
    let cost_totals: HashMap<(String, String), i64> = costs::table
        .filter(costs::employer_id.eq(employer_id))
        .filter(costs::post_id.eq(&one_post).or(whole_employer(&scope)))
        .filter(costs::month.ge(&month_name))
        .group_by((costs::post_id, costs::month))
        .select((
            costs::post_id,
            costs::month,
            diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT)",
            ),
        ))
        .load::<(String, String, i64)>(conn)?
        .into_iter()
        .map(|(p, m, total)| ((p, m), total))
        .collect();
    let stored_lines: HashMap<(String, String), i64> = allocation_lines::table
        .filter(allocation_lines::employer_id.eq(employer_id))
        .filter(
            allocation_lines::post_id
                .eq(&one_post)
                .or(whole_employer(&scope)),
        )
        .filter(allocation_lines::month.ge(&month_name))
        .select((
            allocation_lines::commitment_id,
            allocation_lines::month,
            allocation_lines::amount_cents,
        ))
        .load::<(String, String, i64)>(conn)?
        .into_iter()
        .map(|(c, m, a)| ((c, m), a))
        .collect();
    // What is already called, per funder, post and month: a run may not go below it.
    let mut called: HashMap<(String, String, String), (i64, Vec<String>)> = HashMap::new();
    for (call_id, funder, post, m, amount) in call_lines::table
        .filter(call_lines::employer_id.eq(employer_id))
        .filter(call_lines::post_id.eq(&one_post).or(whole_employer(&scope)))
        .filter(call_lines::month.ge(&month_name))
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
        .load::<(String, String, String, String, i64)>(conn)?
    {
        let entry = called.entry((funder, post, m)).or_default();
        entry.0 += amount;
        entry.1.push(call_id);
    }
    let mut blocking_calls: BTreeSet<String> = BTreeSet::new();
    let mut later_by_post: HashMap<&str, Vec<Month>> = HashMap::new();
    for (post, m) in stored_months.keys() {
        if *m != month_name {
            if let (Some(post), Ok(m)) = (wanted.get(post.as_str()), Month::parse(m)) {
                later_by_post.entry(post).or_default().push(m);
            }
        }
    }

    // The computation, post by post, and the changes it asks for.
    let no_commitments = Vec::new();
    let mut results = Vec::with_capacity(post_ids.len());
    let mut entries = Vec::new();
    let mut new_lines = Vec::new();
    let mut changed_lines: Vec<(&str, String, Option<i64>)> = Vec::new();
    let mut new_months = Vec::new();
    let mut changed_months: Vec<(&str, String, i64, i64)> = Vec::new();
    for post_id in &post_ids {
        let post_uuid = Uuid::parse_str(post_id).map_err(anyhow::Error::from)?;
        let commitments = commitments_by_post.get(post_id).unwrap_or(&no_commitments);
        let terms: Vec<Terms> = commitments
            .iter()
            .enumerate()
            .map(|(rank, c)| c.terms(rank as i64))
            .collect();
        let before: Vec<i64> = commitments
            .iter()
            .map(|c| used_before.get(&c.id).copied().unwrap_or(0))
            .collect();
        let mut months = vec![month];
        months.extend(
            later_by_post
                .get(post_id.as_str())
                .into_iter()
                .flatten()
                .copied(),
        );
        let inputs: Vec<(Month, i64)> = months
            .iter()
            .map(|m| {
                (
                    *m,
                    cost_totals
                        .get(&(post_id.clone(), m.to_string()))
                        .copied()
                        .unwrap_or(0),
                )
            })
            .collect();
        let splits = allocate_months(&terms, &inputs, &before);
        let mut entries_posted = 0;
        for split in &splits {
            let m = split.month.to_string();
            let mut by_funder: HashMap<&str, i64> = HashMap::new();
            for (commitment, new) in commitments.iter().zip(&split.lines) {
                *by_funder.entry(&commitment.funder_id).or_default() += new.unwrap_or(0);
            }
            // Every funder called on the post has a commitment on it, so it is in `by_funder`.
            for (funder, new_total) in &by_funder {
                let key = ((*funder).to_owned(), post_id.clone(), m.clone());
                if let Some((called_cents, call_ids)) = called.get(&key) {
                    if new_total < called_cents {
                        blocking_calls.extend(call_ids.iter().cloned());
                    }
                }
            }
            let mut lines = Vec::new();
            for (commitment, new) in commitments.iter().zip(&split.lines) {
                let old = stored_lines
                    .get(&(commitment.id.clone(), m.clone()))
                    .copied();
                let change = new.unwrap_or(0) - old.unwrap_or(0);
                if change != 0 {
                    lines.extend(ledger::allocation_lines(
                        commitment.funder(),
                        post_uuid,
                        split.month,
                        change,
                    ));
                }
                match (old, *new) {
                    (None, Some(amount)) => new_lines.push(NewLine {
                        commitment_id: &commitment.id,
                        month: m.clone(),
                        post_id,
                        funder_id: &commitment.funder_id,
                        employer_id,
                        amount_cents: amount,
                    }),
                    (Some(previous), new) if new != Some(previous) => {
                        changed_lines.push((&commitment.id, m.clone(), new));
                    }
                    _ => {}
                }
            }
            if !lines.is_empty() {
                entries.push(NewEntry {
                    employer_id,
                    date: split.month.last_day(),
                    kind: EntryKind::Allocation,
                    reference: format!("allocation of post {post_id} for {}", split.month),
                    reverses: None,
                    lines,
                });
                entries_posted += 1;
            }
            match stored_months.get(&(post_id.clone(), m.clone())) {
                None => new_months.push(NewAllocatedMonth {
                    post_id,
                    month: m,
                    employer_id,
                    cost_cents: split.cost_cents,
                    uncovered_cents: split.uncovered_cents,
                }),
                Some(stored) if *stored != (split.cost_cents, split.uncovered_cents) => {
                    changed_months.push((post_id, m, split.cost_cents, split.uncovered_cents));
                }
                Some(_) => {}
            }
        }
        let asked = splits.first().ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!("an allocation run computed no month"))
        })?;
        results.push(RunResult {
            post_id: post_id.clone(),
            month,
            cost_cents: asked.cost_cents,
            allocated_cents: asked.allocated_cents(),
            uncovered_cents: asked.uncovered_cents,
            entries_posted,
        });
    }

    if !blocking_calls.is_empty() {
        let ids: Vec<String> = blocking_calls.into_iter().collect();
        let mut numbers: Vec<String> = calls::table
            .filter(calls::id.eq_any(&ids))
            .select(calls::number)
            .load(conn)?;
        numbers.sort();
        return Err(ApiError::conflict(
            "below_called",
            format!(
                "the new allocation would fall below what is already called by {}; cancel those calls first",
                numbers.join(", ")
            ),
        ));
    }

    // The writes: new rows in batches, changed rows one by one (few once a month is allocated).
    insert_batches!(conn, allocation_lines::table, new_lines);
    for (commitment_id, m, amount) in changed_lines {
        let key = allocation_lines::table.find((commitment_id, &m));
        match amount {
            Some(amount) => diesel::update(key)
                .set(allocation_lines::amount_cents.eq(amount))
                .execute(conn)?,
            None => diesel::delete(key).execute(conn)?,
        };
    }
    insert_batches!(conn, allocated_months::table, new_months);
    for (post_id, m, cost, uncovered) in changed_months {
        diesel::update(allocated_months::table.find((post_id, &m)))
            .set((
                allocated_months::cost_cents.eq(cost),
                allocated_months::uncovered_cents.eq(uncovered),
            ))
            .execute(conn)?;
    }
    post_entries(conn, &entries)?;
    Ok(results)
}
