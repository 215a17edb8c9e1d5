//! `POST /v1/periods/close` and `GET /v1/periods`: closing an employer's months for good.

use crate::auth::{Caller, Scope};
use crate::db::{self, RecordedBy};
use crate::domain::events::{EventData, PeriodClosed};
use crate::domain::ids::EmployerId;
use crate::domain::Month;
use crate::error::ApiError;
use crate::http::extract::{id_param, page_response, Body, Page, Query};
use crate::http::idempotency::{self, Outcome};
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

/// The body of `POST /v1/periods/close`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    employer_id: EmployerId,
    month: Month,
}

impl crate::http::extract::SentBy for CloseRequest {
    const SENDERS: crate::http::extract::Senders = crate::http::extract::Senders::EmployerSide;
}

/// What closing did: the employer's months are closed through `closed_through`.
#[derive(Debug, Serialize)]
struct Closed {
    employer_id: EmployerId,
    closed_through: Month,
}

/// A closed month.
#[derive(Debug, Serialize)]
struct PeriodView {
    employer_id: EmployerId,
    month: Month,
    status: &'static str,
    closed_at: String,
    recorded_by: RecordedBy,
    recorded_at: String,
}

/// `POST /v1/periods/close` (the employer, the operator): closes every month up to `month`.
pub async fn close(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    body: Body<CloseRequest>,
) -> Result<HttpResponse, ApiError> {
    let input = body.value;
    caller.require_employer_writer(input.employer_id)?;
    idempotency::run(&state, &req, caller.key(), body.fingerprint, move |conn| {
        crate::db::employers::find(conn, input.employer_id)?;
        let lock = db::lock_employer(conn, input.employer_id)?;
        let before = db::periods::closed_through(conn, input.employer_id)?;
        let through = db::periods::close_through(conn, &lock, input.month, &caller.recorder())?;
        if before != Some(through) {
            db::events::record(
                conn,
                &[db::events::NewEvent {
                    employer_id: Some(input.employer_id),
                    funders: Vec::new(),
                    data: EventData::PeriodClosed(PeriodClosed {
                        employer_id: input.employer_id,
                        month: through,
                    }),
                    once_key: None,
                }],
            )?;
        }
        tracing::info!(employer_id = %input.employer_id, closed_through = %through, "period closed");
        Outcome::ok_as(Closed {
            employer_id: input.employer_id,
            closed_through: through,
        })
    })
    .await
}

/// The query of `GET /v1/periods`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    employer_id: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /v1/periods?employer_id=`: the closed months of an employer, oldest first.
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let page = Page::parse_with(q.limit.as_deref(), q.cursor.as_deref(), |c| {
        Month::parse(c).ok().map(|m| m.to_string())
    })?;
    let asked = id_param("employer_id", q.employer_id.as_deref())?;
    let employer = match (caller.scope, asked) {
        (Scope::Funder(_), _) => {
            return Err(ApiError::Forbidden(
                "funders do not read an employer's periods".into(),
            ))
        }
        (Scope::Employer(own), Some(other)) if other != own => {
            return Err(ApiError::NotFound("employer"))
        }
        (Scope::Employer(own), _) => own,
        (Scope::Mission | Scope::Admin, Some(id)) => id,
        (Scope::Mission | Scope::Admin, None) => {
            return Err(ApiError::field(
                "/employer_id",
                "name the employer whose periods to list",
            ))
        }
    };
    let (items, next) = state
        .with_connection(move |conn| {
            let (rows, next) = db::periods::page(conn, employer, &page)?;
            let items: Vec<PeriodView> = rows
                .into_iter()
                .map(|(month, closed_at, sub, role)| PeriodView {
                    employer_id: employer,
                    month,
                    status: "closed",
                    recorded_by: db::recorded_by_view(&sub, &role),
                    recorded_at: closed_at.clone(),
                    closed_at,
                })
                .collect();
            Ok((items, next))
        })
        .await?;
    Ok(page_response(items, next))
}
