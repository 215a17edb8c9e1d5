//! Recording a cost: the cost row and its journal entry (64 / 42), in the caller's transaction.

use super::ledger::{post_entry, write_entries_by, EntryKind, NewEntry};
use super::schema::costs;
use super::{DbConnection, EmployerLock, LockedEmployer, Recorder};
use crate::db::StoreError;
use crate::domain::ids::{CostId, EmployerId, EntryId, ImportId, PostId};
use crate::domain::kinds::CostCategory;
use crate::domain::{ledger, Date, Month};
use diesel::prelude::*;
use std::collections::HashMap;

/// A cost to record.
#[derive(Debug, Clone)]
pub struct NewCost<'a> {
    /// The post.
    pub post_id: PostId,
    /// The month the cost belongs to.
    pub month: Month,
    /// What it is for.
    pub category: CostCategory,
    /// The amount, in cents (positive).
    pub amount_cents: i64,
    /// The employer's own reference.
    pub reference: Option<&'a str>,
}

/// A cost row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = costs, treat_none_as_default_value = false)]
pub struct CostRow {
    /// The `id` column.
    pub id: CostId,
    /// The `employer_id` column.
    pub employer_id: EmployerId,
    /// The `post_id` column.
    pub post_id: PostId,
    /// The `month` column.
    pub month: Month,
    /// The `category` column.
    pub category: String,
    /// The `amount_cents` column.
    pub amount_cents: i64,
    /// The `reference` column.
    pub reference: Option<String>,
    /// The `reverses_cost_id` column.
    pub reverses_cost_id: Option<CostId>,
    /// The `reason` column.
    pub reason: Option<String>,
    /// The `entry_id` column.
    pub entry_id: EntryId,
    /// The `created_at` column: when it was recorded.
    pub created_at: String,
    /// Who recorded it: the token's `sub`.
    pub recorded_by_sub: String,
    /// Who recorded it: the token's role.
    pub recorded_by_role: String,
    /// The request that recorded it.
    pub request_id: Option<String>,
    /// The import it came in, if any.
    pub import_id: Option<ImportId>,
}

/// Records a cost of the locked employer's post and posts its entry dated the month's last
/// day; answers the stored row. An [`super::AppendLock`] is enough: costs of one employer
/// need not wait for each other.
pub fn record(
    conn: &mut DbConnection,
    lock: &impl LockedEmployer,
    cost: &NewCost<'_>,
    by: &Recorder,
) -> Result<CostRow, StoreError> {
    record_many(conn, lock, std::slice::from_ref(cost), None, by)?
        .pop()
        .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("a cost was recorded without a row")))
}

/// Records costs of the locked employer's posts, each with its own entry, the running balances
/// moving once per key for them all; `import_id` names the import they came in. Answers the
/// stored rows in order. The running balances move last, after the costs are written: they
/// are the rows every cost of a post shares, locked on PostgreSQL from their update to the
/// commit, so the less work follows that update, the more costs of one post a second holds.
pub fn record_many(
    conn: &mut DbConnection,
    lock: &impl LockedEmployer,
    costs: &[NewCost<'_>],
    import_id: Option<ImportId>,
    by: &Recorder,
) -> Result<Vec<CostRow>, StoreError> {
    // Closed months are a prefix of the calendar: the earliest month decides for all.
    if let Some(earliest) = costs.iter().map(|c| c.month).min() {
        super::periods::check_open(conn, lock.employer(), earliest)?;
    }
    record_open_by(conn, lock, costs, import_id, |_| by)
}

/// [`record_many`] for costs of several requests (`by(i)` records the `i`-th), all of them in
/// months the caller found open under its lock.
pub(super) fn record_open_by<'r>(
    conn: &mut DbConnection,
    lock: &impl LockedEmployer,
    costs: &[NewCost<'_>],
    import_id: Option<ImportId>,
    by: impl Fn(usize) -> &'r Recorder,
) -> Result<Vec<CostRow>, StoreError> {
    let employer_id = lock.employer();
    let ids: Vec<CostId> = costs.iter().map(|_| CostId::generate()).collect();
    let entries: Vec<NewEntry> = costs
        .iter()
        .zip(&ids)
        .map(|(cost, id)| NewEntry {
            employer_id,
            date: cost.month.last_day(),
            kind: EntryKind::Cost,
            reference: format!("cost {id}"),
            reverses: None,
            lines: ledger::cost_lines(cost.post_id, cost.month, cost.amount_cents).to_vec(),
        })
        .collect();
    let written = write_entries_by(conn, &entries, &by)?;
    let created_at = super::now_timestamp();
    let rows: Vec<CostRow> = costs
        .iter()
        .zip(ids.iter().zip(&written.ids))
        .enumerate()
        .map(|(i, (cost, (id, entry_id)))| (by(i), cost, id, entry_id))
        .map(|(by, cost, id, entry_id)| CostRow {
            id: *id,
            employer_id,
            post_id: cost.post_id,
            month: cost.month,
            category: cost.category.as_str().to_owned(),
            amount_cents: cost.amount_cents,
            reference: cost.reference.map(str::to_owned),
            reverses_cost_id: None,
            reason: None,
            entry_id: *entry_id,
            created_at: created_at.clone(),
            recorded_by_sub: by.sub.clone(),
            recorded_by_role: by.role.to_owned(),
            request_id: by.request_id.clone(),
            import_id,
        })
        .collect();
    insert_batches!(conn, costs::table, rows);
    written.move_balances(conn)?;
    Ok(rows)
}

/// The reversal of a cost, if it was reversed.
pub fn reversal_of(conn: &mut DbConnection, id: CostId) -> QueryResult<Option<CostId>> {
    Ok(reversals_of(conn, &[id])?.remove(&id))
}

/// The reversals of costs, by the id of the cost each reverses, with one query.
pub fn reversals_of(
    conn: &mut DbConnection,
    ids: &[CostId],
) -> QueryResult<HashMap<CostId, CostId>> {
    let pairs: Vec<(Option<CostId>, CostId)> = costs::table
        .filter(costs::reverses_cost_id.eq_any(ids))
        .select((costs::reverses_cost_id, costs::id))
        .load(conn)?;
    Ok(pairs
        .into_iter()
        .filter_map(|(original, reversal)| original.map(|o| (o, reversal)))
        .collect())
}

/// Reverses a cost: a record of the opposite amount for the same month that names it, and
/// the entry that reverses the cost's entry, dated `today`. A reversal is not reversed, a
/// cost is reversed once, and nothing of a closed month changes (409). The cost is the locked
/// employer's.
pub fn reverse(
    conn: &mut DbConnection,
    lock: &EmployerLock,
    original: &CostRow,
    reason: &str,
    today: Date,
    by: &Recorder,
) -> Result<CostRow, StoreError> {
    if original.reverses_cost_id.is_some() {
        return Err(StoreError::conflict(
            "is_a_reversal",
            "a reversal cannot itself be reversed",
        ));
    }
    if lock.employer() != original.employer_id {
        return Err(StoreError::NotFound("cost"));
    }
    if let Some(existing) = reversal_of(conn, original.id)? {
        return Err(StoreError::conflict(
            "already_reversed",
            format!("this cost was already reversed by {existing}"),
        ));
    }
    let month = original.month;
    super::periods::check_open(conn, original.employer_id, month)?;
    super::periods::check_open(conn, original.employer_id, today.month())?;
    let id = CostId::generate();
    let entry_id = post_entry(
        conn,
        NewEntry {
            employer_id: original.employer_id,
            date: today,
            kind: EntryKind::CostReversal,
            reference: format!("reversal {id} of cost {}", original.id),
            reverses: Some(original.entry_id),
            lines: ledger::cost_lines(original.post_id, month, -original.amount_cents).to_vec(),
        },
        by,
    )?;
    let row = CostRow {
        id,
        amount_cents: -original.amount_cents,
        reverses_cost_id: Some(original.id),
        reason: Some(reason.to_owned()),
        entry_id,
        created_at: super::now_timestamp(),
        recorded_by_sub: by.sub.clone(),
        recorded_by_role: by.role.to_owned(),
        request_id: by.request_id.clone(),
        import_id: None,
        ..original.clone()
    };
    diesel::insert_into(costs::table)
        .values(&row)
        .execute(conn)?;
    Ok(row)
}

/// One cost or reversal.
pub fn find(conn: &mut DbConnection, id: CostId) -> Result<CostRow, StoreError> {
    costs::table
        .find(id)
        .select(CostRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(StoreError::NotFound("cost"))
}

/// A page of a post's costs and reversals between two months, by id.
pub fn page(
    conn: &mut DbConnection,
    post: PostId,
    from: Option<Month>,
    to: Option<Month>,
    page: &crate::db::paging::Page,
) -> QueryResult<(Vec<CostRow>, Option<String>)> {
    let mut q = costs::table
        .filter(costs::post_id.eq(post))
        .select(CostRow::as_select())
        .into_boxed();
    if let Some(from) = from {
        q = q.filter(costs::month.ge(from));
    }
    if let Some(to) = to {
        q = q.filter(costs::month.le(to));
    }
    let rows = crate::keyset_page!(q, costs::id, page).load(conn)?;
    Ok(page.finish(rows, |c: &CostRow| c.id.to_string()))
}
