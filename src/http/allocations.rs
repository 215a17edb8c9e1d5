//! `POST /v1/allocations/run` and `GET /v1/posts/{id}/allocations`.

use crate::auth::{Caller, Scope};
use crate::db;
use crate::db::allocation_runs::{self, RunResult, RunScope};
use crate::db::schema::{allocated_months, allocation_lines, posts as posts_table};
use crate::domain::ids::{EmployerId, PostId};
use crate::domain::{Money, Month};
use crate::error::ApiError;
use crate::http::extract::{page_response, parse_param, path_id, Body, Page, Query};
use crate::http::idempotency::{self, Outcome};
use crate::http::posts;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use diesel::prelude::*;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The body of `POST /v1/allocations/run`: one post or a whole employer, and a month.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    #[serde(default, deserialize_with = "crate::http::extract::not_null")]
    employer_id: Option<EmployerId>,
    #[serde(default, deserialize_with = "crate::http::extract::not_null")]
    post_id: Option<PostId>,
    month: Month,
}

impl crate::http::extract::SentBy for RunRequest {
    const SENDERS: crate::http::extract::Senders = crate::http::extract::Senders::EmployerSide;
}

fn result_view(result: &RunResult) -> serde_json::Value {
    serde_json::json!({
        "post_id": result.post_id,
        "month": result.month,
        "cost": Money::from_cents(result.cost_cents),
        "allocated": Money::from_cents(result.allocated_cents),
        "uncovered": Money::from_cents(result.uncovered_cents),
        "entries_posted": result.entries_posted,
    })
}

/// `POST /v1/allocations/run` (employer, admin).
pub async fn run(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    body: Body<RunRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_writer_role()?;
    let input = body.value;
    let target = match (input.employer_id, input.post_id) {
        (Some(employer), None) => Target::Employer(employer),
        (None, Some(post)) => Target::Post(post),
        _ => {
            return Err(ApiError::field(
                "/post_id",
                "give exactly one of employer_id and post_id",
            ))
        }
    };
    let month = input.month;
    idempotency::run(&state, &req, caller.key(), body.fingerprint, move |conn| {
        let swept;
        let results = match target {
            Target::Post(post_id) => {
                let post = posts::load_writable(conn, &caller, post_id)?;
                let lock = db::lock_employer(conn, post.employer_id)?;
                post.check_month(month)?;
                swept = crate::http::sweep::SweepScope::Post(post.employer_id, post.id);
                allocation_runs::run(
                    conn,
                    &lock,
                    RunScope::Post(post.id),
                    month,
                    &caller.recorder(),
                )?
            }
            Target::Employer(employer_id) => {
                caller.require_employer_writer(employer_id)?;
                crate::db::employers::find(conn, employer_id)?;
                let lock = db::lock_employer(conn, employer_id)?;
                swept = crate::http::sweep::SweepScope::Employer(employer_id);
                let post_ids: Vec<PostId> = posts_table::table
                    .filter(posts_table::employer_id.eq(employer_id))
                    .filter(posts_table::start_month.le(month))
                    .filter(
                        posts_table::end_month
                            .is_null()
                            .or(posts_table::end_month.ge(month)),
                    )
                    .order(posts_table::id)
                    .select(posts_table::id)
                    .load(conn)?;
                allocation_runs::run(
                    conn,
                    &lock,
                    RunScope::Posts(&post_ids),
                    month,
                    &caller.recorder(),
                )?
            }
        };
        // What the run changed may bring events of time: caps used, risks changed.
        crate::http::sweep::after_write(conn, swept)?;
        let posted: i64 = results.iter().map(|r| r.entries_posted).sum();
        tracing::info!(%month, posts = results.len(), entries_posted = posted, "allocation run");
        Ok(Outcome::ok(serde_json::json!({
            "results": results.iter().map(result_view).collect::<Vec<_>>()
        })))
    })
    .await
}

enum Target {
    Employer(EmployerId),
    Post(PostId),
}

/// The query of `GET /v1/posts/{id}/allocations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /v1/posts/{id}/allocations?from=&to=`: one item per allocated month; a funder sees only
/// its own lines, and neither the cost nor the uncovered part.
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let post_id = path_id(&path, "post")?;
    let query = query.0;
    let page = Page::parse_with(query.limit.as_deref(), query.cursor.as_deref(), |c| {
        Month::parse(c).ok().map(|m| m.to_string())
    })?;
    let from = parse_param("from", query.from.as_deref(), Month::parse)?;
    let to = parse_param("to", query.to.as_deref(), Month::parse)?;
    let (items, next) = state
        .with_connection(move |conn| {
            posts::load_readable(conn, &caller, post_id)?;
            let post = post_id.to_string();
            let funder = match caller.scope {
                Scope::Funder(own) => Some(own.to_string()),
                _ => None,
            };
            let mut months_q = allocated_months::table
                .filter(allocated_months::post_id.eq(&post))
                .select((
                    allocated_months::month,
                    allocated_months::cost_cents,
                    allocated_months::uncovered_cents,
                ))
                .into_boxed();
            if let Some(from) = from {
                months_q = months_q.filter(allocated_months::month.ge(from.to_string()));
            }
            if let Some(to) = to {
                months_q = months_q.filter(allocated_months::month.le(to.to_string()));
            }
            let mut months_q = crate::keyset_page!(months_q, allocated_months::month, page);
            if let Some(funder) = &funder {
                months_q = months_q.filter(
                    allocated_months::month.eq_any(
                        allocation_lines::table
                            .filter(allocation_lines::post_id.eq(&post))
                            .filter(allocation_lines::funder_id.eq(funder.clone()))
                            .select(allocation_lines::month),
                    ),
                );
            }
            let months: Vec<(String, i64, i64)> = months_q.load(conn)?;
            let (months, next) = page.finish(months, |m| m.0.clone());
            let (Some(first), Some(last)) = (months.first(), months.last()) else {
                return Ok((Vec::new(), next));
            };
            let mut lines_q = allocation_lines::table
                .filter(allocation_lines::post_id.eq(&post))
                .filter(allocation_lines::month.between(first.0.clone(), last.0.clone()))
                .order((allocation_lines::month, allocation_lines::commitment_id))
                .select((
                    allocation_lines::month,
                    allocation_lines::commitment_id,
                    allocation_lines::funder_id,
                    allocation_lines::amount_cents,
                ))
                .into_boxed();
            if let Some(funder) = &funder {
                lines_q = lines_q.filter(allocation_lines::funder_id.eq(funder.clone()));
            }
            let mut by_month: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
            for (month, commitment, funder_id, amount) in lines_q.load::<(String, String, String, i64)>(conn)? {
                by_month.entry(month).or_default().push(serde_json::json!({
                    "commitment_id": commitment, "funder_id": funder_id, "amount": Money::from_cents(amount)
                }));
            }
            let items = months
                .into_iter()
                .map(|(month, cost, uncovered)| {
                    let lines = by_month.remove(&month).unwrap_or_default();
                    if funder.is_some() {
                        serde_json::json!({"month": month, "lines": lines})
                    } else {
                        serde_json::json!({
                            "month": month,
                            "cost": Money::from_cents(cost),
                            "lines": lines,
                            "uncovered": Money::from_cents(uncovered),
                        })
                    }
                })
                .collect();
            Ok((items, next))
        })
        .await?;
    Ok(page_response(items, next))
}
