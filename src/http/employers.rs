//! `/v1/employers`: the bodies that carry posts.

use crate::auth::{Caller, Scope};
use crate::db::schema::employers;
use crate::db::{self, DbConnection};
use crate::domain::ids::EmployerId;
use crate::domain::kinds::EmployerKind;
use crate::domain::Siren;
use crate::error::ApiError;
use crate::http::extract::{page_response, path_id, Body, Page, Query};
use crate::http::idempotency::{self, Outcome};
use crate::http::text::{optional_label, required_label};
use crate::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

/// The body of `POST /v1/employers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEmployer {
    name: String,
    kind: EmployerKind,
    #[serde(default)]
    siren: Option<Siren>,
    #[serde(default)]
    territory: Option<String>,
}

impl crate::http::extract::SentBy for NewEmployer {
    const SENDERS: crate::http::extract::Senders = crate::http::extract::Senders::Registrars;
}

/// An employer as stored.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = employers)]
pub struct Employer {
    id: EmployerId,
    name: String,
    kind: String,
    siren: Option<String>,
    territory: Option<String>,
    created_at: String,
    #[serde(skip)]
    recorded_by_sub: String,
    #[serde(skip)]
    recorded_by_role: String,
}

impl Employer {
    /// The employer as answered.
    pub fn view(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "siren": self.siren,
            "territory": self.territory,
            "created_at": self.created_at,
            "recorded_by": db::recorded_by_view(&self.recorded_by_sub, &self.recorded_by_role),
            "recorded_at": self.created_at,
        })
    }
}

/// `POST /v1/employers` (mission, admin).
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    body: Body<NewEmployer>,
) -> Result<HttpResponse, ApiError> {
    caller.require_registrar()?;
    let input = body.value;
    let name = required_label("/name", &input.name)?;
    let territory = optional_label("/territory", input.territory.as_deref())?;
    let row = Employer {
        id: EmployerId::generate(),
        name,
        kind: input.kind.as_str().to_owned(),
        siren: input.siren.map(|s| s.as_str().to_owned()),
        territory,
        created_at: db::now_timestamp(),
        recorded_by_sub: caller.sub.clone(),
        recorded_by_role: caller.role().to_owned(),
    };
    let by = caller.recorder();
    idempotency::run(&state, &req, caller.key(), body.fingerprint, move |conn| {
        diesel::insert_into(employers::table)
            .values((
                employers::id.eq(row.id),
                employers::name.eq(&row.name),
                employers::kind.eq(&row.kind),
                employers::siren.eq(&row.siren),
                employers::territory.eq(&row.territory),
                employers::created_at.eq(&row.created_at),
                crate::recorded_by!(employers, &by),
            ))
            .execute(conn)?;
        tracing::info!(employer_id = %row.id, "employer registered");
        Ok(Outcome::created(
            format!("/v1/employers/{}", row.id),
            row.view(),
        ))
    })
    .await
}

/// Funders read the funder registry and their own statements, never the employers'.
fn refuse_funders(caller: &Caller) -> Result<(), ApiError> {
    match caller.scope {
        Scope::Funder(_) => Err(ApiError::Forbidden(
            "funders read the funder registry and their own statements, not employers".into(),
        )),
        _ => Ok(()),
    }
}

/// The query of `GET /v1/employers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /v1/employers`: all of them for the mission and the operator, its own for an employer.
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = Page::parse(query.0.limit.as_deref(), query.0.cursor.as_deref())?;
    refuse_funders(&caller)?;
    let only = caller.employer_in_scope(None)?;
    let rows = state
        .with_connection(move |conn| {
            let mut query = employers::table.select(Employer::as_select()).into_boxed();
            if let Some(id) = only {
                query = query.filter(employers::id.eq(id));
            }
            let query = keyset_page!(query, employers::id, page);
            let rows = query.load(conn)?;
            Ok(page.finish(rows, |e: &Employer| e.id.to_string()))
        })
        .await?;
    let items: Vec<_> = rows.0.iter().map(Employer::view).collect();
    Ok(page_response(items, rows.1))
}

/// `GET /v1/employers/{id}`.
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "employer")?;
    refuse_funders(&caller)?;
    if !caller.can_read_employer(id) {
        return Err(ApiError::NotFound("employer"));
    }
    let row = state.with_connection(move |conn| find(conn, id)).await?;
    Ok(HttpResponse::Ok().json(row.view()))
}

/// Reads one employer, or 404.
pub fn find(conn: &mut DbConnection, id: EmployerId) -> Result<Employer, ApiError> {
    employers::table
        .find(id)
        .select(Employer::as_select())
        .first(conn)
        .optional()?
        .ok_or(ApiError::NotFound("employer"))
}
