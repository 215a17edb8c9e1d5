//! Reading the stored allocation of a post: its allocated months and their lines.

use crate::db::paging::Page;
use crate::db::schema::{allocated_months, allocation_lines};
use crate::db::DbConnection;
use crate::domain::ids::{CommitmentId, FunderId, PostId};
use crate::domain::Month;
use diesel::prelude::*;
use std::collections::BTreeMap;

/// An allocated month of a post as stored.
#[derive(Debug, Clone)]
pub struct AllocatedMonth {
    /// The month.
    pub month: Month,
    /// Its cost, in cents.
    pub cost_cents: i64,
    /// What no commitment covered, in cents.
    pub uncovered_cents: i64,
    /// Its lines: (commitment, funder, cents), by commitment; a month nobody covered has none.
    pub lines: Vec<(CommitmentId, FunderId, i64)>,
}

/// A page of a post's allocated months between `from` and `to`; with `funder`, only the
/// months it has a line in, with its own lines only.
pub fn page(
    conn: &mut DbConnection,
    post: PostId,
    funder: Option<FunderId>,
    from: Option<Month>,
    to: Option<Month>,
    page: &Page,
) -> QueryResult<(Vec<AllocatedMonth>, Option<String>)> {
    let mut months_q = allocated_months::table
        .filter(allocated_months::post_id.eq(post))
        .select((
            allocated_months::month,
            allocated_months::cost_cents,
            allocated_months::uncovered_cents,
        ))
        .into_boxed();
    if let Some(from) = from {
        months_q = months_q.filter(allocated_months::month.ge(from));
    }
    if let Some(to) = to {
        months_q = months_q.filter(allocated_months::month.le(to));
    }
    let mut months_q = crate::keyset_page!(months_q, allocated_months::month, page);
    if let Some(funder) = funder {
        months_q = months_q.filter(
            allocated_months::month.eq_any(
                allocation_lines::table
                    .filter(allocation_lines::post_id.eq(post))
                    .filter(allocation_lines::funder_id.eq(funder))
                    .select(allocation_lines::month),
            ),
        );
    }
    let months: Vec<(Month, i64, i64)> = months_q.load(conn)?;
    let (months, next) = page.finish(months, |m| m.0.to_string());
    let (Some(first), Some(last)) = (months.first(), months.last()) else {
        return Ok((Vec::new(), next));
    };
    let mut lines_q = allocation_lines::table
        .filter(allocation_lines::post_id.eq(post))
        .filter(allocation_lines::month.between(first.0, last.0))
        .order((allocation_lines::month, allocation_lines::commitment_id))
        .select((
            allocation_lines::month,
            allocation_lines::commitment_id,
            allocation_lines::funder_id,
            allocation_lines::amount_cents,
        ))
        .into_boxed();
    if let Some(funder) = funder {
        lines_q = lines_q.filter(allocation_lines::funder_id.eq(funder));
    }
    let mut by_month: BTreeMap<Month, Vec<(CommitmentId, FunderId, i64)>> = BTreeMap::new();
    for (month, commitment, funder_id, amount) in
        lines_q.load::<(Month, CommitmentId, FunderId, i64)>(conn)?
    {
        by_month
            .entry(month)
            .or_default()
            .push((commitment, funder_id, amount));
    }
    let months = months
        .into_iter()
        .map(|(month, cost_cents, uncovered_cents)| AllocatedMonth {
            month,
            cost_cents,
            uncovered_cents,
            lines: by_month.remove(&month).unwrap_or_default(),
        })
        .collect();
    Ok((months, next))
}
