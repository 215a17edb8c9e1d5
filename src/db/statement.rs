//! What a funder's statement is computed from: its commitments, allocation lines, calls with
//! their settled lines, and payments, optionally for one employer.

use crate::db::calls::{self, CallRow, SettledLine};
use crate::db::commitments::{allocated_to_date, CommitmentRow};
use crate::db::keys::RateBook;
use crate::db::schema::{
    allocation_lines, calls as calls_table, commitments, payment_applications, payments,
};
use crate::db::{DbConnection, StoreError};
use crate::domain::ids::{CallId, CommitmentId, EmployerId, FunderId, PaymentId, PostId};
use crate::domain::Month;
use diesel::prelude::*;
use std::collections::{BTreeMap, HashMap};

/// The stored facts of a funder's statement.
pub struct StatementFacts {
    /// Its commitments, by id.
    pub commitments: Vec<CommitmentRow>,
    /// What each has been allocated to date.
    pub allocated_to_date: HashMap<CommitmentId, i64>,
    /// The rates its rate commitments name.
    pub rates: RateBook,
    /// Its allocation lines: (employer, post, month, cents).
    pub allocations: Vec<(EmployerId, PostId, Month, i64)>,
    /// Its calls not cancelled, by due date and number.
    pub calls: Vec<CallRow>,
    /// Each call's lines with what was paid on each.
    pub settled: BTreeMap<CallId, Vec<SettledLine>>,
    /// What was paid on each call.
    pub paid: HashMap<CallId, i64>,
    /// What it paid and no call has used yet, in cents.
    pub credit: i64,
}

/// Reads a funder's facts, of one employer's dealings with it when `employer` is given.
pub fn funder_facts(
    conn: &mut DbConnection,
    funder: FunderId,
    employer: Option<EmployerId>,
) -> Result<StatementFacts, StoreError> {
    let same_employer = |e: &EmployerId| employer.is_none_or(|own| own == *e);
    let commitments: Vec<CommitmentRow> = commitments::table
        .filter(commitments::funder_id.eq(funder))
        .order(commitments::id)
        .select(CommitmentRow::as_select())
        .load(conn)?
        .into_iter()
        .filter(|c| same_employer(&c.employer_id))
        .collect();
    let ids: Vec<CommitmentId> = commitments.iter().map(|r| r.id).collect();
    let allocated = allocated_to_date(conn, &ids)?;
    let rates = RateBook::for_commitments(conn, &commitments.iter().collect::<Vec<_>>())?;
    let allocations: Vec<(EmployerId, PostId, Month, i64)> = allocation_lines::table
        .filter(allocation_lines::funder_id.eq(funder))
        .select((
            allocation_lines::employer_id,
            allocation_lines::post_id,
            allocation_lines::month,
            allocation_lines::amount_cents,
        ))
        .load::<(EmployerId, PostId, Month, i64)>(conn)?
        .into_iter()
        .filter(|(e, ..)| same_employer(e))
        .collect();
    let call_rows: Vec<CallRow> = calls_table::table
        .filter(calls_table::funder_id.eq(funder))
        .filter(calls_table::cancelled_on.is_null())
        .order((calls_table::due_on, calls_table::number))
        .select(CallRow::as_select())
        .load(conn)?
        .into_iter()
        .filter(|c| same_employer(&c.employer_id))
        .collect();
    let call_ids: Vec<CallId> = call_rows.iter().map(|c| c.id).collect();
    let settled = calls::settled_lines(conn, &call_ids)?;
    let paid = calls::paid(conn, &call_ids)?;
    let received: Vec<(PaymentId, i64)> = payments::table
        .filter(payments::funder_id.eq(funder))
        .select((payments::id, payments::employer_id, payments::amount_cents))
        .load::<(PaymentId, EmployerId, i64)>(conn)?
        .into_iter()
        .filter(|(_, e, _)| same_employer(e))
        .map(|(id, _, amount)| (id, amount))
        .collect();
    let payment_ids: Vec<PaymentId> = received.iter().map(|r| r.0).collect();
    let applied: i64 = payment_applications::table
        .filter(payment_applications::payment_id.eq_any(&payment_ids))
        .select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT)",
        ))
        .first(conn)?;
    let credit = received.iter().map(|r| r.1).sum::<i64>() - applied;
    Ok(StatementFacts {
        commitments,
        allocated_to_date: allocated,
        rates,
        allocations,
        calls: call_rows,
        settled,
        paid,
        credit,
    })
}
