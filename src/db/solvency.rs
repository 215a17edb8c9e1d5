//! What a post's solvency is computed from: its costs, the months it was allocated, its
//! allocation lines, and the lines of the calls that reach it with what was paid on each.

use crate::db::calls::{settled_lines, SettledLine};
use crate::db::schema::{allocated_months, allocation_lines, call_lines, calls, costs};
use crate::db::{DbConnection, StoreError};
use crate::domain::ids::{CallId, FunderId, PostId};
use crate::domain::{Date, Month};
use diesel::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// A call reaching the post, with its lines settled oldest month first.
pub struct CalledLines {
    /// The funder the call is addressed to.
    pub funder_id: FunderId,
    /// When it falls due.
    pub due_on: Date,
    /// Its lines, every post's, with what was paid on each.
    pub lines: Vec<SettledLine>,
}

/// The stored facts of one post's actuals.
pub struct PostActuals {
    /// Costs net of reversals, by month.
    pub cost_by_month: BTreeMap<Month, i64>,
    /// The months an allocation run has split.
    pub allocated: BTreeSet<Month>,
    /// Allocation lines: (month, funder, cents).
    pub allocation_lines: Vec<(Month, FunderId, i64)>,
    /// The calls not cancelled that have a line on the post.
    pub calls: Vec<CalledLines>,
}

/// Reads a post's actuals.
pub fn post_actuals(conn: &mut DbConnection, post: PostId) -> Result<PostActuals, StoreError> {
    let mut cost_by_month: BTreeMap<Month, i64> = BTreeMap::new();
    for (month, amount) in costs::table
        .filter(costs::post_id.eq(post))
        .select((costs::month, costs::amount_cents))
        .load::<(Month, i64)>(conn)?
    {
        *cost_by_month.entry(month).or_default() += amount;
    }
    let allocated: BTreeSet<Month> = allocated_months::table
        .filter(allocated_months::post_id.eq(post))
        .select(allocated_months::month)
        .load::<Month>(conn)?
        .into_iter()
        .collect();
    let allocation_lines = allocation_lines::table
        .filter(allocation_lines::post_id.eq(post))
        .select((
            allocation_lines::month,
            allocation_lines::funder_id,
            allocation_lines::amount_cents,
        ))
        .load::<(Month, FunderId, i64)>(conn)?;
    let call_ids: Vec<CallId> = call_lines::table
        .filter(call_lines::post_id.eq(post))
        .filter(
            call_lines::call_id.eq_any(
                calls::table
                    .filter(calls::cancelled_on.is_null())
                    .select(calls::id),
            ),
        )
        .select(call_lines::call_id)
        .distinct()
        .load(conn)?;
    let settled = settled_lines(conn, &call_ids)?;
    let due: BTreeMap<CallId, (FunderId, Date)> = calls::table
        .filter(calls::id.eq_any(&call_ids))
        .select((calls::id, calls::funder_id, calls::due_on))
        .load::<(CallId, FunderId, Date)>(conn)?
        .into_iter()
        .map(|(id, funder, due)| (id, (funder, due)))
        .collect();
    let calls = settled
        .into_iter()
        .map(|(id, lines)| {
            let (funder_id, due_on) = due
                .get(&id)
                .copied()
                .ok_or_else(|| anyhow::anyhow!("call {id} has lines but no row"))?;
            Ok(CalledLines {
                funder_id,
                due_on,
                lines,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(PostActuals {
        cost_by_month,
        allocated,
        allocation_lines,
        calls,
    })
}
