//! `POST /v1/periods/close` and `GET /v1/periods`: closing an employer's months for good.

use crate::auth::{Caller, Scope};
use crate::db;
use crate::db::schema::closed_periods;
use crate::domain::ids::EmployerId;
use crate::domain::Month;
use crate::error::ApiError;
use crate::http::extract::{id_param, page_response, Body, Page, Query};
use crate::http::idempotency::{self, Outcome};
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use diesel::prelude::*;
use serde::Deserialize;

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
                    kind: "period.closed",
                    employer_id: Some(input.employer_id),
                    funders: Vec::new(),
                    data: serde_json::json!({"employer_id": input.employer_id, "month": through}),
                    once_key: None,
                }],
            )?;
        }
        tracing::info!(employer_id = %input.employer_id, closed_through = %through, "period closed");
        Ok(Outcome::ok(serde_json::json!({
            "employer_id": input.employer_id,
            "closed_through": through,
        })))
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
            let q = closed_periods::table
                .filter(closed_periods::employer_id.eq(employer))
                .select((
                    closed_periods::month,
                    closed_periods::closed_at,
                    closed_periods::recorded_by_sub,
                    closed_periods::recorded_by_role,
                ))
                .into_boxed();
            let q = crate::keyset_page!(q, closed_periods::month, page);
            let rows: Vec<(Month, String, String, String)> = q.load(conn)?;
            let (rows, next) = page.finish(rows, |r| r.0.to_string());
            let items: Vec<serde_json::Value> = rows
                .into_iter()
                .map(|(month, closed_at, sub, role)| {
                    serde_json::json!({
                        "employer_id": employer, "month": month, "status": "closed",
                        "closed_at": closed_at,
                        "recorded_by": crate::db::recorded_by_view(&sub, &role),
                        "recorded_at": closed_at,
                    })
                })
                .collect();
            Ok((items, next))
        })
        .await?;
    Ok(page_response(items, next))
}
