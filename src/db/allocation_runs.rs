//! Allocation runs: compute a month of a post and every later allocated month with the pure
//! engine, store the new split, and post only the differences to the journal.

use super::commitments::{allocated_before, of_post};
use super::ledger::{post_entry, EntryKind, NewEntry};
use super::schema::{allocated_months, allocation_lines, costs};
use super::DbConnection;
use crate::domain::allocation::{allocate_months, Terms};
use crate::domain::{ledger, Month};
use crate::error::ApiError;
use diesel::prelude::*;
use std::collections::HashMap;
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

fn month_totals(
    conn: &mut DbConnection,
    post_id: &str,
    months: &[Month],
) -> QueryResult<HashMap<Month, i64>> {
    let names: Vec<String> = months.iter().map(Month::to_string).collect();
    let rows: Vec<(String, i64)> = costs::table
        .filter(costs::post_id.eq(post_id))
        .filter(costs::month.eq_any(names))
        .group_by(costs::month)
        .select((
            costs::month,
            diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT)",
            ),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(m, total)| Month::parse(&m).ok().map(|m| (m, total)))
        .collect())
}

/// Allocates `month` of a post and recomputes its later allocated months. The caller holds
/// the employer's lock inside a write transaction.
pub fn run_post(
    conn: &mut DbConnection,
    employer_id: &str,
    post_id: &str,
    month: Month,
) -> Result<RunResult, ApiError> {
    let post_uuid = Uuid::parse_str(post_id).map_err(anyhow::Error::from)?;
    let later: Vec<String> = allocated_months::table
        .filter(allocated_months::post_id.eq(post_id))
        .filter(allocated_months::month.gt(month.to_string()))
        .order(allocated_months::month)
        .select(allocated_months::month)
        .load(conn)?;
    let mut months = vec![month];
    months.extend(later.iter().filter_map(|m| Month::parse(m).ok()));

    let commitments = of_post(conn, post_id)?;
    let terms: Vec<Terms> = commitments
        .iter()
        .enumerate()
        .map(|(rank, c)| c.terms(rank as i64))
        .collect();
    let used = allocated_before(conn, post_id, month)?;
    let before: Vec<i64> = commitments
        .iter()
        .map(|c| used.get(&c.id).copied().unwrap_or(0))
        .collect();
    let totals = month_totals(conn, post_id, &months)?;
    let inputs: Vec<(Month, i64)> = months
        .iter()
        .map(|m| (*m, totals.get(m).copied().unwrap_or(0)))
        .collect();
    let splits = allocate_months(&terms, &inputs, &before);

    let stored: HashMap<(String, String), i64> = allocation_lines::table
        .filter(allocation_lines::post_id.eq(post_id))
        .filter(allocation_lines::month.ge(month.to_string()))
        .select((
            allocation_lines::commitment_id,
            allocation_lines::month,
            allocation_lines::amount_cents,
        ))
        .load::<(String, String, i64)>(conn)?
        .into_iter()
        .map(|(c, m, a)| ((c, m), a))
        .collect();

    let mut entries_posted = 0;
    for split in &splits {
        let month_name = split.month.to_string();
        let mut lines = Vec::new();
        for (commitment, new) in commitments.iter().zip(&split.lines) {
            let old = stored
                .get(&(commitment.id.clone(), month_name.clone()))
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
            let key = allocation_lines::table.find((&commitment.id, &month_name));
            match (old, *new) {
                (None, Some(amount)) => {
                    diesel::insert_into(allocation_lines::table)
                        .values((
                            allocation_lines::commitment_id.eq(&commitment.id),
                            allocation_lines::month.eq(&month_name),
                            allocation_lines::post_id.eq(post_id),
                            allocation_lines::funder_id.eq(&commitment.funder_id),
                            allocation_lines::employer_id.eq(employer_id),
                            allocation_lines::amount_cents.eq(amount),
                        ))
                        .execute(conn)?;
                }
                (Some(previous), Some(amount)) if previous != amount => {
                    diesel::update(key)
                        .set(allocation_lines::amount_cents.eq(amount))
                        .execute(conn)?;
                }
                (Some(_), None) => {
                    diesel::delete(key).execute(conn)?;
                }
                _ => {}
            }
        }
        if !lines.is_empty() {
            post_entry(
                conn,
                NewEntry {
                    employer_id,
                    date: split.month.last_day(),
                    kind: EntryKind::Allocation,
                    reference: format!("allocation of post {post_id} for {}", split.month),
                    reverses: None,
                    lines,
                },
            )?;
            entries_posted += 1;
        }
        let updated = diesel::update(allocated_months::table.find((post_id, &month_name)))
            .set((
                allocated_months::cost_cents.eq(split.cost_cents),
                allocated_months::uncovered_cents.eq(split.uncovered_cents),
            ))
            .execute(conn)?;
        if updated == 0 {
            diesel::insert_into(allocated_months::table)
                .values((
                    allocated_months::post_id.eq(post_id),
                    allocated_months::month.eq(&month_name),
                    allocated_months::employer_id.eq(employer_id),
                    allocated_months::cost_cents.eq(split.cost_cents),
                    allocated_months::uncovered_cents.eq(split.uncovered_cents),
                ))
                .execute(conn)?;
        }
    }
    let asked = splits.first().ok_or_else(|| {
        ApiError::Internal(anyhow::anyhow!("an allocation run computed no month"))
    })?;
    Ok(RunResult {
        post_id: post_id.to_owned(),
        month,
        cost_cents: asked.cost_cents,
        allocated_cents: asked.allocated_cents(),
        uncovered_cents: asked.uncovered_cents,
        entries_posted,
    })
}
