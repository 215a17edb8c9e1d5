//! `POST /v1/allocations/run` and `GET /v1/posts/{id}/allocations`.

use crate::auth::Caller;
use crate::db;
use crate::db::allocation_runs::{self, RunResult, RunScope};
use crate::db::allocations::AllocatedMonth;
use crate::domain::ids::{EmployerId, FunderId, PostId};
use crate::domain::{Money, Month};
use crate::error::ApiError;
use crate::http::extract::{page_response, parse_param, path_id, Body, Page, Query};
use crate::http::idempotency::{self, Outcome};
use crate::http::posts;
use crate::http::views::CommitmentLineView;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

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

/// What a run did to one post's month.
#[derive(Debug, Serialize)]
struct ResultView {
    post_id: PostId,
    month: Month,
    cost: Money,
    allocated: Money,
    uncovered: Money,
    entries_posted: i64,
}

impl From<&RunResult> for ResultView {
    fn from(result: &RunResult) -> ResultView {
        ResultView {
            post_id: result.post_id,
            month: result.month,
            cost: Money::from_cents(result.cost_cents),
            allocated: Money::from_cents(result.allocated_cents),
            uncovered: Money::from_cents(result.uncovered_cents),
            entries_posted: result.entries_posted,
        }
    }
}

/// The answer of a run.
#[derive(Debug, Serialize)]
struct RunView {
    results: Vec<ResultView>,
}

/// An allocated month as the employer, the mission and the operator see it.
#[derive(Debug, Serialize)]
struct MonthView {
    month: Month,
    cost: Money,
    lines: Vec<CommitmentLineView>,
    uncovered: Money,
}

/// An allocated month as a funder sees it: its own lines, no cost, nothing uncovered.
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

/// The month as a caller may see it (the lines were read for a funder's own already).
fn month_view(month: AllocatedMonth, funder: Option<FunderId>) -> MonthAnswer {
    let lines = month
        .lines
        .into_iter()
        .map(|(commitment_id, funder_id, cents)| {
            CommitmentLineView::of(commitment_id, funder_id, cents)
        })
        .collect();
    match funder {
        Some(_) => MonthAnswer::Funder(FunderMonthView {
            month: month.month,
            lines,
        }),
        None => MonthAnswer::Full(MonthView {
            month: month.month,
            cost: Money::from_cents(month.cost_cents),
            lines,
            uncovered: Money::from_cents(month.uncovered_cents),
        }),
    }
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
                swept = crate::db::sweep::SweepScope::Post(post.employer_id, post.id);
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
                swept = crate::db::sweep::SweepScope::Employer(employer_id);
                let post_ids = db::posts::in_force(conn, employer_id, month)?;
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
        crate::db::sweep::after_write(conn, swept)?;
        let posted: i64 = results.iter().map(|r| r.entries_posted).sum();
        tracing::info!(%month, posts = results.len(), entries_posted = posted, "allocation run");
        let view = RunView {
            results: results.iter().map(ResultView::from).collect(),
        };
        Outcome::ok_as(view)
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
            let funder = caller.own_funder();
            let (months, next) = db::allocations::page(conn, post_id, funder, from, to, &page)?;
            let items: Vec<MonthAnswer> =
                months.into_iter().map(|m| month_view(m, funder)).collect();
            Ok((items, next))
        })
        .await?;
    Ok(page_response(items, next))
}
