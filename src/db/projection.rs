//! The projection loader behind continuity, the reports and the sweeps: the posts in force at
//! a month with their budgets, commitments, rates, hours and what was allocated before, read in
//! a few queries for many posts at once, and each projected by the same pure engine.

use crate::db::commitments::CommitmentRow;
use crate::db::keys::{hours_in_force, post_terms, RateBook};
use crate::db::posts::{Post, PostRow};
use crate::db::schema::{allocation_lines, commitments, posts};
use crate::db::DbConnection;
use crate::domain::continuity::{project, Continuity, ProjectionInput};
use crate::domain::ids::{CommitmentId, EmployerId, FunderId, PostId};
use crate::domain::{Month, Percent};
use diesel::prelude::*;
use std::collections::HashMap;

/// How many post ids one query binds at most.
const ID_CHUNK: usize = 5_000;

/// A post with everything its projection needs.
pub struct PostFacts {
    /// The post and its budgets.
    pub post: Post,
    /// Its commitments, in creation order.
    pub commitments: Vec<CommitmentRow>,
    /// The projection as of the month asked.
    pub continuity: Continuity,
}

/// Which posts to project.
#[derive(Debug, Clone)]
pub enum Selection {
    /// Every post (the mission, the operator).
    All,
    /// The posts of one employer.
    Employer(EmployerId),
    /// The posts a funder has a commitment on.
    FundedBy(FunderId),
    /// One post.
    Post(PostId),
}

/// Reads the posts in force at `as_of` with their budgets, commitments and allocations before
/// `as_of`, and projects each of them.
pub fn project_posts(
    conn: &mut DbConnection,
    selection: &Selection,
    employer_filter: Option<EmployerId>,
    as_of: Month,
    horizon: i32,
    threshold: Percent,
) -> QueryResult<Vec<PostFacts>> {
    let mut q = posts::table
        .filter(posts::start_month.le(as_of))
        .filter(posts::end_month.is_null().or(posts::end_month.ge(as_of)))
        .order(posts::id)
        .select(PostRow::as_select())
        .into_boxed();
    match selection {
        Selection::All => {}
        Selection::Employer(id) => q = q.filter(posts::employer_id.eq(*id)),
        Selection::Post(id) => q = q.filter(posts::id.eq(*id)),
        Selection::FundedBy(funder) => {
            q = q.filter(
                posts::id.eq_any(
                    commitments::table
                        .filter(commitments::funder_id.eq(*funder))
                        .select(commitments::post_id),
                ),
            )
        }
    }
    if let Some(employer) = employer_filter {
        q = q.filter(posts::employer_id.eq(employer));
    }
    let rows: Vec<PostRow> = q.load(conn)?;
    // The whole region reads whole tables; a narrower selection reads its posts' rows only,
    // in chunks that stay within both databases' limits on bound values.
    let everything = matches!(selection, Selection::All) && employer_filter.is_none();
    let ids: Vec<PostId> = rows.iter().map(|r| r.id).collect();
    let chunks: Vec<&[PostId]> = if everything {
        vec![&[]]
    } else {
        ids.chunks(ID_CHUNK).collect()
    };

    let mut budgets: HashMap<PostId, Vec<(Month, i64)>> = HashMap::new();
    let mut by_post: HashMap<PostId, Vec<CommitmentRow>> = HashMap::new();
    let mut used: HashMap<CommitmentId, i64> = HashMap::new();
    for chunk in chunks {
        let mut c = commitments::table
            .order((commitments::created_at, commitments::id))
            .select(CommitmentRow::as_select())
            .into_boxed();
        let mut a = allocation_lines::table
            .filter(allocation_lines::month.lt(as_of))
            .group_by(allocation_lines::commitment_id)
            .select((
                allocation_lines::commitment_id,
                diesel::dsl::sql::<diesel::sql_types::BigInt>(
                    "CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT)",
                ),
            ))
            .into_boxed();
        budgets.extend(crate::db::posts::load_budgets(
            conn,
            (!everything).then_some(chunk),
        )?);
        if !everything {
            c = c.filter(commitments::post_id.eq_any(chunk));
            a = a.filter(allocation_lines::post_id.eq_any(chunk));
        }
        for row in c.load(conn)? {
            by_post.entry(row.post_id).or_default().push(row);
        }
        used.extend(a.load::<(CommitmentId, i64)>(conn)?);
    }

    let all_commitments: Vec<&CommitmentRow> = by_post.values().flatten().collect();
    let rates = RateBook::for_commitments(conn, &all_commitments)?;
    let mut keyed_posts: Vec<PostId> = all_commitments
        .iter()
        .filter(|c| c.basis == "activity")
        .map(|c| c.post_id)
        .collect();
    keyed_posts.sort();
    keyed_posts.dedup();
    let mut hours = HashMap::new();
    for chunk in keyed_posts.chunks(ID_CHUNK) {
        hours.extend(hours_in_force(conn, chunk, None)?);
    }

    rows.into_iter()
        .map(|row| {
            let budgets = budgets.remove(&row.id).ok_or_else(|| {
                diesel::result::Error::DeserializationError(
                    format!(
                        "post {} has no budget: every post is created with one",
                        row.id
                    )
                    .into(),
                )
            })?;
            let post = Post { budgets, row };
            let commitments = by_post.remove(&post.row.id).unwrap_or_default();
            let inputs = post_terms(&commitments, &rates, hours.get(&post.row.id), &used, true)?;
            let budget = |m: Month| post.budget_cents(m);
            let continuity = project(&ProjectionInput {
                as_of,
                horizon_months: horizon,
                threshold,
                post_end: post.end(),
                budget_cents: &budget,
                commitments: &inputs.terms,
                allocated_before: &inputs.allocated_before,
                hours: &inputs.hours,
            });
            Ok(PostFacts {
                post,
                commitments,
                continuity,
            })
        })
        .collect()
}
