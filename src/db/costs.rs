//! Recording a cost: the cost row and its journal entry (64 / 42), in the caller's transaction.

use super::ledger::{post_entry, EntryKind, NewEntry};
use super::schema::costs;
use super::DbConnection;
use crate::domain::kinds::CostCategory;
use crate::domain::{ledger, Month};
use crate::error::ApiError;
use diesel::prelude::*;
use uuid::Uuid;

/// A cost to record.
#[derive(Debug, Clone)]
pub struct NewCost<'a> {
    /// The post's employer.
    pub employer_id: &'a str,
    /// The post.
    pub post_id: Uuid,
    /// The month the cost belongs to.
    pub month: Month,
    /// What it is for.
    pub category: CostCategory,
    /// The amount, in cents (positive).
    pub amount_cents: i64,
    /// The employer's own reference.
    pub reference: Option<&'a str>,
}

/// Records a cost and posts its entry dated the month's last day; answers the cost's id. The
/// caller holds the employer's lock.
pub fn record(conn: &mut DbConnection, cost: &NewCost<'_>) -> Result<String, ApiError> {
    let id = Uuid::now_v7().to_string();
    let entry_id = post_entry(
        conn,
        NewEntry {
            employer_id: cost.employer_id,
            date: cost.month.last_day(),
            kind: EntryKind::Cost,
            reference: format!("cost {id}"),
            reverses: None,
            lines: ledger::cost_lines(cost.post_id, cost.month, cost.amount_cents).to_vec(),
        },
    )?;
    diesel::insert_into(costs::table)
        .values((
            costs::id.eq(&id),
            costs::employer_id.eq(cost.employer_id),
            costs::post_id.eq(cost.post_id.to_string()),
            costs::month.eq(cost.month.to_string()),
            costs::category.eq(cost.category.as_str()),
            costs::amount_cents.eq(cost.amount_cents),
            costs::reference.eq(cost.reference),
            costs::entry_id.eq(&entry_id),
            costs::created_at.eq(super::now_timestamp()),
        ))
        .execute(conn)?;
    Ok(id)
}
