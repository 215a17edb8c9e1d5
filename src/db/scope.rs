//! What a funder may see, derived from its commitments.

use super::schema::{calls, commitments, employers, funders, payments};
use super::DbConnection;
use crate::domain::ids::{EmployerId, FunderId, PostId};
use diesel::prelude::*;

/// Whether an employer is registered.
pub fn employer_exists(conn: &mut DbConnection, id: EmployerId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        employers::table.filter(employers::id.eq(id)),
    ))
    .get_result(conn)
}

/// Whether a funder is registered.
pub fn funder_exists(conn: &mut DbConnection, id: FunderId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        funders::table.filter(funders::id.eq(id)),
    ))
    .get_result(conn)
}

/// Whether a funder has a commitment on a post.
pub fn funds_post(conn: &mut DbConnection, funder: FunderId, post_id: PostId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        commitments::table
            .filter(commitments::funder_id.eq(funder))
            .filter(commitments::post_id.eq(post_id)),
    ))
    .get_result(conn)
}

/// Whether an employer has dealt with a funder: a commitment, a call or a payment between them.
pub fn have_dealt(
    conn: &mut DbConnection,
    employer: EmployerId,
    funder: FunderId,
) -> QueryResult<bool> {
    let committed = diesel::select(diesel::dsl::exists(
        commitments::table
            .filter(commitments::employer_id.eq(employer))
            .filter(commitments::funder_id.eq(funder)),
    ))
    .get_result(conn)?;
    if committed {
        return Ok(true);
    }
    let called = diesel::select(diesel::dsl::exists(
        calls::table
            .filter(calls::employer_id.eq(employer))
            .filter(calls::funder_id.eq(funder)),
    ))
    .get_result(conn)?;
    if called {
        return Ok(true);
    }
    diesel::select(diesel::dsl::exists(
        payments::table
            .filter(payments::employer_id.eq(employer))
            .filter(payments::funder_id.eq(funder)),
    ))
    .get_result(conn)
}
