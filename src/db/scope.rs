//! What a funder may see, derived from its commitments.

use super::schema::commitments;
use super::DbConnection;
use crate::domain::ids::{FunderId, PostId};
use diesel::prelude::*;

/// Whether a funder has a commitment on a post.
pub fn funds_post(conn: &mut DbConnection, funder: FunderId, post_id: PostId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        commitments::table
            .filter(commitments::funder_id.eq(funder))
            .filter(commitments::post_id.eq(post_id)),
    ))
    .get_result(conn)
}
