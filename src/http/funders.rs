//! `/v1/funders`: the registry of commissioning bodies. Every role reads names and kinds;
//! the mission and the operator also see SIRENs and register new funders.

use crate::auth::{Caller, Scope};
use crate::db::schema::funders;
use crate::db::{self, DbConnection};
use crate::domain::ids::FunderId;
use crate::domain::kinds::FunderKind;
use crate::domain::Siren;
use crate::error::ApiError;
use crate::http::extract::{page_response, path_id, Body, Page, Query};
use crate::http::idempotency::{self, Outcome};
use crate::http::text::required_label;
use crate::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use diesel::prelude::*;
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

/// A funder as stored.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = funders)]
pub struct Funder {
    id: String,
    name: String,
    kind: String,
    siren: Option<String>,
    created_at: String,
    #[serde(skip)]
    recorded_by_sub: String,
    #[serde(skip)]
    recorded_by_role: String,
}

impl Funder {
    /// The funder as `caller` may see it: employers and funders read names and kinds only.
    fn view(&self, caller: &Caller) -> serde_json::Value {
        match caller.scope {
            Scope::Admin | Scope::Mission => serde_json::json!({
                "id": self.id,
                "name": self.name,
                "kind": self.kind,
                "siren": self.siren,
                "created_at": self.created_at,
                "recorded_by": db::recorded_by_view(&self.recorded_by_sub, &self.recorded_by_role),
                "recorded_at": self.created_at,
            }),
            Scope::Employer(_) | Scope::Funder(_) => {
                serde_json::json!({"id": self.id, "name": self.name, "kind": self.kind})
            }
        }
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
    let row = Funder {
        id: Uuid::now_v7().to_string(),
        name: required_label("/name", &input.name)?,
        kind: input.kind.as_str().to_owned(),
        siren: input.siren.map(|s| s.as_str().to_owned()),
        created_at: db::now_timestamp(),
        recorded_by_sub: caller.sub.clone(),
        recorded_by_role: caller.role().to_owned(),
    };
    let view = row.view(&caller);
    let by = caller.recorder();
    idempotency::run(&state, &req, caller.key(), body.fingerprint, move |conn| {
        diesel::insert_into(funders::table)
            .values((
                funders::id.eq(&row.id),
                funders::name.eq(&row.name),
                funders::kind.eq(&row.kind),
                funders::siren.eq(&row.siren),
                funders::created_at.eq(&row.created_at),
                crate::recorded_by!(funders, &by),
            ))
            .execute(conn)?;
        tracing::info!(funder_id = %row.id, "funder registered");
        Ok(Outcome::created(format!("/v1/funders/{}", row.id), view))
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
        .with_connection(move |conn| {
            let query = funders::table.select(Funder::as_select()).into_boxed();
            let query = keyset_page!(query, funders::id, page);
            let rows = query.load(conn)?;
            Ok(page.finish(rows, |f: &Funder| f.id.clone()))
        })
        .await?;
    let items: Vec<serde_json::Value> = rows.iter().map(|f| f.view(&caller)).collect();
    Ok(page_response(items, next))
}

/// `GET /v1/funders/{id}`.
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "funder")?;
    let row = state.with_connection(move |conn| find(conn, id)).await?;
    Ok(HttpResponse::Ok().json(row.view(&caller)))
}

/// Reads one funder, or 404.
pub fn find(conn: &mut DbConnection, id: FunderId) -> Result<Funder, ApiError> {
    funders::table
        .find(id)
        .select(Funder::as_select())
        .first(conn)
        .optional()?
        .ok_or(ApiError::NotFound("funder"))
}
