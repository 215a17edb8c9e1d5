//! `GET /v1/posts/{id}/continuity`: how far ahead a post is funded, projected with the
//! allocation rule on its budget (`domain::continuity`), through the same loader as the
//! reports.

use crate::auth::{Caller, Scope};
use crate::domain::continuity::{coverage, DEFAULT_HORIZON_MONTHS, MAX_HORIZON_MONTHS};
use crate::domain::{clock, Money, Month, Percent};
use crate::error::ApiError;
use crate::http::extract::{parse_param, path_id, Query};
use crate::http::posts;
use crate::http::reports::{project_posts, Selection};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

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
            let (commitments, verdict) = (facts.commitments, facts.continuity);
            // A funder sees its own lines and commitments, never the budget or the others.
            let own = |i: usize| match caller.scope {
                Scope::Funder(funder) => commitments[i].funder_id == funder,
                _ => true,
            };
            let is_funder = matches!(caller.scope, Scope::Funder(_));
            let months: Vec<serde_json::Value> = verdict
                .months
                .iter()
                .map(|split| {
                    let lines: Vec<serde_json::Value> = split
                        .lines
                        .iter()
                        .enumerate()
                        .filter(|(i, line)| line.is_some() && own(*i))
                        .map(|(i, line)| {
                            serde_json::json!({
                                "commitment_id": commitments[i].id,
                                "funder_id": commitments[i].funder_id,
                                "amount": Money::from_cents(line.unwrap_or(0)),
                            })
                        })
                        .collect();
                    if is_funder {
                        serde_json::json!({"month": split.month, "lines": lines})
                    } else {
                        serde_json::json!({
                            "month": split.month,
                            "budget": Money::from_cents(split.cost_cents),
                            "allocated": Money::from_cents(split.allocated_cents()),
                            "lines": lines,
                            "uncovered": Money::from_cents(split.uncovered_cents),
                            "coverage": coverage(split.allocated_cents(), split.cost_cents),
                        })
                    }
                })
                .collect();
            let expiring: Vec<serde_json::Value> = verdict
                .expiring
                .iter()
                .filter(|i| own(**i))
                .map(|&i| {
                    let c = &commitments[i];
                    serde_json::json!({
                        "commitment_id": c.id, "funder_id": c.funder_id, "basis": c.basis,
                        "end_month": c.end_month, "reference": c.reference,
                    })
                })
                .collect();
            Ok(serde_json::json!({
                "post_id": post.row.id,
                "as_of": as_of,
                "horizon": horizon,
                "threshold": threshold,
                "funded_until": verdict.funded_until,
                "runway_months": verdict.runway_months,
                "gaps": verdict.gaps,
                "expiring": expiring,
                "risk": verdict.risk,
                "months": months,
            }))
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}
