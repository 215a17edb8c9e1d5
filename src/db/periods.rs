//! Closed periods: a prefix of an employer's months that nothing may be dated in any more.

use super::schema::{closed_periods, posts};
use super::{DbConnection, EmployerLock, Recorder};
use crate::db::LockedEmployer;
use crate::db::StoreError;
use crate::domain::ids::EmployerId;
use crate::domain::Month;
use diesel::prelude::*;

/// The last closed month of an employer, if any.
pub fn closed_through(
    conn: &mut DbConnection,
    employer_id: EmployerId,
) -> QueryResult<Option<Month>> {
    closed_periods::table
        .filter(closed_periods::employer_id.eq(employer_id))
        .select(diesel::dsl::max(closed_periods::month))
        .first(conn)
}

/// Refuses, with 409 naming the month, anything dated in a closed month.
pub fn check_open(
    conn: &mut DbConnection,
    employer_id: EmployerId,
    month: Month,
) -> Result<(), StoreError> {
    match closed_through(conn, employer_id)? {
        Some(last) if month <= last => Err(StoreError::conflict(
            "period_closed",
            format!("{month} is in a closed period (the books are closed through {last})"),
        )),
        _ => Ok(()),
    }
}

/// Closes every month of the employer up to `month`; answers the last closed month. Months
/// already closed stay as they are; the first month closed is the employer's earliest post
/// start (or `month` itself when it has none earlier).
pub fn close_through(
    conn: &mut DbConnection,
    lock: &EmployerLock,
    month: Month,
    by: &Recorder,
) -> Result<Month, StoreError> {
    let employer_id = lock.employer();
    let already = closed_through(conn, employer_id)?;
    if let Some(last) = already.filter(|last| *last >= month) {
        return Ok(last);
    }
    let first = match already {
        Some(last) => last.next(),
        None => {
            let earliest: Option<Month> = posts::table
                .filter(posts::employer_id.eq(employer_id))
                .select(diesel::dsl::min(posts::start_month))
                .first(conn)?;
            earliest.map_or(month, |m| m.min(month))
        }
    };
    let closed_at = super::now_timestamp();
    // Month by month, oldest first: each month's balances are the month before's plus its
    // lines, stored before the month is marked closed with them.
    for m in first.through(month) {
        super::month_balances::store(conn, lock, employer_id, m)?;
        diesel::insert_into(closed_periods::table)
            .values((
                closed_periods::employer_id.eq(employer_id),
                closed_periods::month.eq(m),
                closed_periods::closed_at.eq(closed_at.clone()),
                crate::recorded_by!(closed_periods, by),
                closed_periods::balances_stored.eq(true),
            ))
            .execute(conn)?;
    }
    Ok(month)
}

/// A closed month as stored: (month, closed at, by whom, their role).
pub type ClosedMonth = (Month, String, String, String);

/// A page of an employer's closed months, oldest first.
pub fn page(
    conn: &mut DbConnection,
    employer: EmployerId,
    page: &crate::db::paging::Page,
) -> QueryResult<(Vec<ClosedMonth>, Option<String>)> {
    let q = closed_periods::table
        .filter(closed_periods::employer_id.eq(employer))
        .select((
            closed_periods::month,
            closed_periods::closed_at,
            closed_periods::recorded_by_sub,
            closed_periods::recorded_by_role,
        ))
        .into_boxed();
    let rows: Vec<ClosedMonth> = crate::keyset_page!(q, closed_periods::month, page).load(conn)?;
    Ok(page.finish(rows, |r| r.0.to_string()))
}
