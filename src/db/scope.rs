//! What a funder may see, derived from its commitments.

use super::schema::commitments;
use super::DbConnection;
use diesel::prelude::*;
use uuid::Uuid;

/// Whether a funder has a commitment on a post.
pub fn funds_post(conn: &mut DbConnection, funder: Uuid, post_id: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        commitments::table
            .filter(commitments::funder_id.eq(funder.to_string()))
            .filter(commitments::post_id.eq(post_id)),
    ))
    .get_result(conn)
}
