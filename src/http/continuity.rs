//! `GET /v1/posts/{id}/continuity`: how far ahead a post is funded, projected with the
//! allocation rule on its budget (`domain::continuity`), through the same loader as the
//! reports.

use crate::auth::Caller;
use crate::db::projection::{project_posts, PostFacts, Selection};
use crate::domain::continuity::{coverage, Risk, DEFAULT_HORIZON_MONTHS, MAX_HORIZON_MONTHS};
use crate::domain::ids::{CommitmentId, FunderId, PostId};
use crate::domain::{clock, Money, Month, Percent};
use crate::error::ApiError;
use crate::http::extract::{parse_param, path_id, Query};
use crate::http::posts;
use crate::http::views::CommitmentLineView;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

/// A commitment ending soon.
#[derive(Debug, Serialize)]
pub struct ExpiringView {
    commitment_id: CommitmentId,
    funder_id: FunderId,
    basis: String,
    end_month: Month,
    reference: String,
}

/// The commitments of a projection that end soon, a funder's own only.
pub fn expiring_views(facts: &PostFacts, own_funder: Option<FunderId>) -> Vec<ExpiringView> {
    facts
        .continuity
        .expiring
        .iter()
        .map(|&i| &facts.commitments[i])
        .filter(|c| own_funder.is_none_or(|own| own == c.funder_id))
        .map(|c| ExpiringView {
            commitment_id: c.id,
            funder_id: c.funder_id,
            basis: c.basis.clone(),
            end_month: c.end_month,
            reference: c.reference.clone(),
        })
        .collect()
}

/// A projected month as the employer, the mission and the operator see it.
#[derive(Debug, Serialize)]
struct MonthView {
    month: Month,
    budget: Money,
    allocated: Money,
    lines: Vec<CommitmentLineView>,
    uncovered: Money,
    coverage: Option<String>,
}

/// A projected month as a funder sees it: its own lines, no budget, no totals. It has no
/// field to hold them.
#[derive(Debug, Serialize)]
struct FunderMonthView {
    month: Month,
    lines: Vec<CommitmentLineView>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum MonthAnswer {
    Full(MonthView),
    Funder(FunderMonthView),
}

/// The continuity answer.
#[derive(Debug, Serialize)]
struct ContinuityView {
    post_id: PostId,
    as_of: Month,
    horizon: i32,
    threshold: Percent,
    funded_until: Option<Month>,
    runway_months: i32,
    gaps: Vec<Month>,
    expiring: Vec<ExpiringView>,
    risk: Risk,
    months: Vec<MonthAnswer>,
}

/// The projection as a caller may see it: a funder (`own_funder`) gets its own lines and
/// commitments in funder months; everyone else the whole of it. This is the one place that
/// decides.
fn continuity_view(
    facts: &PostFacts,
    as_of: Month,
    horizon: i32,
    threshold: Percent,
    own_funder: Option<FunderId>,
) -> ContinuityView {
    let commitments = &facts.commitments;
    let verdict = &facts.continuity;
    let months = verdict
        .months
        .iter()
        .map(|split| {
            let lines: Vec<CommitmentLineView> = split
                .lines
                .iter()
                .zip(commitments)
                .filter(|(_, c)| own_funder.is_none_or(|own| own == c.funder_id))
                .filter_map(|(line, c)| {
                    line.map(|cents| CommitmentLineView::of(c.id, c.funder_id, cents))
                })
                .collect();
            match own_funder {
                Some(_) => MonthAnswer::Funder(FunderMonthView {
                    month: split.month,
                    lines,
                }),
                None => MonthAnswer::Full(MonthView {
                    month: split.month,
                    budget: Money::from_cents(split.cost_cents),
                    allocated: Money::from_cents(split.allocated_cents()),
                    lines,
                    uncovered: Money::from_cents(split.uncovered_cents),
                    coverage: coverage(split.allocated_cents(), split.cost_cents),
                }),
            }
        })
        .collect();
    ContinuityView {
        post_id: facts.post.row.id,
        as_of,
        horizon,
        threshold,
        funded_until: verdict.funded_until,
        runway_months: verdict.runway_months,
        gaps: verdict.gaps.clone(),
        expiring: expiring_views(facts, own_funder),
        risk: verdict.risk,
        months,
    }
}

/// The query of the continuity endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContinuityQuery {
    as_of: Option<String>,
    horizon: Option<String>,
    threshold: Option<String>,
}

/// `GET /v1/posts/{id}/continuity?as_of=&horizon=&threshold=` (employer, mission, a funder of
/// the post with its own lines and commitments only).
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: Query<ContinuityQuery>,
) -> Result<HttpResponse, ApiError> {
    let post_id = path_id(&path, "post")?;
    let q = query.0;
    // The coverage a threshold tests is what a funder may not learn (twenty thresholds bisect
    // it, and the other funders' total follows): a funder reads the default verdict only.
    if caller.own_funder().is_some() && q.threshold.is_some() {
        return Err(ApiError::Forbidden(
            "a funder reads its continuity at the default threshold; threshold is not its to set"
                .into(),
        ));
    }
    let as_of = parse_param("as_of", q.as_of.as_deref(), Month::parse)?;
    let horizon = parse_param("horizon", q.horizon.as_deref(), |h| {
        h.parse::<i32>()
            .ok()
            .filter(|h| (1..=MAX_HORIZON_MONTHS).contains(h))
            .ok_or(format!(
                "must be a whole number of months from 1 to {MAX_HORIZON_MONTHS}"
            ))
    })?
    .unwrap_or(DEFAULT_HORIZON_MONTHS);
    let threshold = parse_param("threshold", q.threshold.as_deref(), |t| {
        Percent::parse(t).ok_or("must be a percentage from 0 to 100, such as \"90\"")
    })?
    .unwrap_or(Percent::HUNDRED);
    let body = state
        .with_connection(move |conn| {
            let post = posts::load_readable(conn, &caller, post_id)?;
            let as_of = as_of.unwrap_or_else(|| clock::today().month().max(post.start()));
            if as_of < post.start() {
                return Err(ApiError::field(
                    "/as_of",
                    format!("must not be before the post's start {}", post.start()),
                ));
            }
            if post.end().is_some_and(|end| as_of > end) {
                return Err(ApiError::field(
                    "/as_of",
                    "must not be after the post's end",
                ));
            }
            let facts = project_posts(
                conn,
                &Selection::Post(post.row.id),
                None,
                as_of,
                horizon,
                threshold,
            )?
            .pop()
            .ok_or(ApiError::NotFound("post"))?;
            let own_funder = caller.own_funder();
            Ok(continuity_view(
                &facts, as_of, horizon, threshold, own_funder,
            ))
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}
