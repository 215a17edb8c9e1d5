//! `/v1/funders`: the registry of commissioning bodies. Every role reads names and kinds;
//! the mission and the operator also see SIRENs and register new funders.

use crate::auth::{Caller, Scope};
use crate::db::funders::FunderRow;
use crate::db::{self, RecordedBy};
use crate::domain::ids::FunderId;
use crate::domain::kinds::FunderKind;
use crate::domain::Siren;
use crate::error::ApiError;
use crate::http::extract::{page_response, path_id, Body, Page, Query};
use crate::http::idempotency::{self, Outcome};
use crate::http::text::required_label;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The body of `POST /v1/funders`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewFunder {
    name: String,
    kind: FunderKind,
    #[serde(default, deserialize_with = "crate::http::extract::not_null")]
    siren: Option<Siren>,
}

impl crate::http::extract::SentBy for NewFunder {
    const SENDERS: crate::http::extract::Senders = crate::http::extract::Senders::Registrars;
}

/// A funder as the mission and the operator see it.
#[derive(Debug, Serialize)]
pub struct FunderView {
    id: FunderId,
    name: String,
    kind: String,
    siren: Option<String>,
    created_at: String,
    recorded_by: RecordedBy,
    recorded_at: String,
}

/// A funder as employers and funders see it: its name and kind.
#[derive(Debug, Serialize)]
pub struct PublicFunderView {
    id: FunderId,
    name: String,
    kind: String,
}

/// What a caller sees of a funder.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum FunderAnswer {
    /// The mission's and the operator's.
    Full(FunderView),
    /// Everyone else's.
    Public(PublicFunderView),
}

/// The funder as `caller` may see it: employers and funders read names and kinds only.
fn view(row: FunderRow, caller: &Caller) -> FunderAnswer {
    match caller.scope {
        Scope::Admin | Scope::Mission => FunderAnswer::Full(FunderView {
            recorded_by: db::recorded_by_view(&row.recorded_by_sub, &row.recorded_by_role),
            recorded_at: row.created_at.clone(),
            id: row.id,
            name: row.name,
            kind: row.kind,
            siren: row.siren,
            created_at: row.created_at,
        }),
        Scope::Employer(_) | Scope::Funder(_) => FunderAnswer::Public(PublicFunderView {
            id: row.id,
            name: row.name,
            kind: row.kind,
        }),
    }
}

/// `POST /v1/funders` (mission, admin).
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    body: Body<NewFunder>,
) -> Result<HttpResponse, ApiError> {
    caller.require_registrar()?;
    let input = body.value;
    let row = FunderRow {
        id: FunderId(Uuid::now_v7()),
        name: required_label("/name", &input.name)?,
        kind: input.kind.as_str().to_owned(),
        siren: input.siren.map(|s| s.as_str().to_owned()),
        created_at: db::now_timestamp(),
        recorded_by_sub: caller.sub.clone(),
        recorded_by_role: caller.role().to_owned(),
    };
    let by = caller.recorder();
    let id = row.id;
    let view = view(row.clone(), &caller);
    idempotency::run(&state, &req, caller.key(), body.fingerprint, move |conn| {
        db::funders::insert(conn, &row, &by)?;
        tracing::info!(funder_id = %id, "funder registered");
        Outcome::created_as(format!("/v1/funders/{id}"), view)
    })
    .await
}

/// The query of `GET /v1/funders`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /v1/funders`: the registry, for every role.
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = Page::parse(query.0.limit.as_deref(), query.0.cursor.as_deref())?;
    let (rows, next) = state
        .with_connection(move |conn| Ok(db::funders::page(conn, &page)?))
        .await?;
    let items: Vec<FunderAnswer> = rows.into_iter().map(|f| view(f, &caller)).collect();
    Ok(page_response(items, next))
}

/// `GET /v1/funders/{id}`.
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "funder")?;
    let row = state
        .with_connection(move |conn| Ok(db::funders::find(conn, id)?))
        .await?;
    Ok(HttpResponse::Ok().json(view(row, &caller)))
}
