//! `/v1/employers`: the bodies that carry posts.

use crate::auth::{Caller, Scope};
use crate::db::employers::EmployerRow;
use crate::db::{self, RecordedBy};
use crate::domain::ids::EmployerId;
use crate::domain::kinds::EmployerKind;
use crate::domain::{Bic, Iban, Siren};
use crate::error::ApiError;
use crate::http::extract::{page_response, path_id, Body, Page, Query};
use crate::http::idempotency::{self, Outcome};
use crate::http::text::{optional_label, required_label};
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

/// The body of `POST /v1/employers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEmployer {
    name: String,
    kind: EmployerKind,
    #[serde(default, deserialize_with = "crate::http::extract::not_null")]
    siren: Option<Siren>,
    #[serde(default, deserialize_with = "crate::http::extract::not_null")]
    territory: Option<String>,
    #[serde(default, deserialize_with = "crate::http::extract::not_null")]
    fiscal_year_end_month: Option<FiscalYearEnd>,
    #[serde(default, deserialize_with = "crate::http::extract::not_null")]
    address: Option<String>,
    #[serde(default, deserialize_with = "crate::http::extract::not_null")]
    iban: Option<Iban>,
    #[serde(default, deserialize_with = "crate::http::extract::not_null")]
    bic: Option<Bic>,
}

/// The month an employer's fiscal year ends in (its last day closes the books): 1 to 12.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FiscalYearEnd(i32);

impl<'de> Deserialize<'de> for FiscalYearEnd {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<FiscalYearEnd, D::Error> {
        let month = i64::deserialize(d)?;
        if (1..=12).contains(&month) {
            Ok(FiscalYearEnd(month as i32))
        } else {
            Err(serde::de::Error::custom(
                "must be a month number from 1 to 12",
            ))
        }
    }
}

/// The body of `PATCH /v1/employers/{id}`: only the fields given change; `null` clears an
/// address, an IBAN or a BIC.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmployerChanges {
    #[serde(default, deserialize_with = "crate::http::extract::not_null")]
    siren: Option<Siren>,
    #[serde(default, deserialize_with = "crate::http::extract::not_null")]
    fiscal_year_end_month: Option<FiscalYearEnd>,
    #[serde(default, deserialize_with = "crate::http::extract::present")]
    address: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::extract::present")]
    iban: Option<Option<Iban>>,
    #[serde(default, deserialize_with = "crate::http::extract::present")]
    bic: Option<Option<Bic>>,
}

impl crate::http::extract::SentBy for EmployerChanges {
    const SENDERS: crate::http::extract::Senders = crate::http::extract::Senders::EmployerSide;
}

/// The longest postal address, in characters (several lines).
const MAX_ADDRESS_CHARS: usize = 500;

/// A postal address: lines of plain text, at most [`MAX_ADDRESS_CHARS`] characters.
fn address(text: &str) -> Result<String, ApiError> {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_ADDRESS_CHARS {
        return Err(ApiError::field(
            "/address",
            format!("must be 1 to {MAX_ADDRESS_CHARS} characters"),
        ));
    }
    if trimmed.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::field(
            "/address",
            "must not contain control characters other than line breaks",
        ));
    }
    Ok(trimmed.to_owned())
}

impl crate::http::extract::SentBy for NewEmployer {
    const SENDERS: crate::http::extract::Senders = crate::http::extract::Senders::Registrars;
}

/// An employer as answered.
#[derive(Debug, Serialize)]
pub struct EmployerView {
    id: EmployerId,
    name: String,
    kind: String,
    siren: Option<String>,
    territory: Option<String>,
    fiscal_year_end_month: i32,
    address: Option<String>,
    iban: Option<String>,
    bic: Option<String>,
    version: i64,
    created_at: String,
    recorded_by: RecordedBy,
    recorded_at: String,
}

impl From<EmployerRow> for EmployerView {
    fn from(row: EmployerRow) -> EmployerView {
        EmployerView {
            recorded_by: db::recorded_by_view(&row.recorded_by_sub, &row.recorded_by_role),
            recorded_at: row.created_at.clone(),
            id: row.id,
            name: row.name,
            kind: row.kind,
            siren: row.siren,
            territory: row.territory,
            fiscal_year_end_month: row.fiscal_year_end_month,
            address: row.address,
            iban: row.iban,
            bic: row.bic,
            version: row.version,
            created_at: row.created_at,
        }
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
    let address = input.address.as_deref().map(address).transpose()?;
    let row = EmployerRow {
        id: EmployerId::generate(),
        name,
        kind: input.kind.as_str().to_owned(),
        siren: input.siren.map(|s| s.as_str().to_owned()),
        territory,
        created_at: db::now_timestamp(),
        recorded_by_sub: caller.sub.clone(),
        recorded_by_role: caller.role().to_owned(),
        fiscal_year_end_month: input.fiscal_year_end_month.map_or(12, |m| m.0),
        address,
        iban: input.iban.map(|i| i.as_str().to_owned()),
        bic: input.bic.map(|b| b.as_str().to_owned()),
        version: 1,
    };
    let by = caller.recorder();
    idempotency::run(&state, &req, caller.key(), body.fingerprint, move |conn| {
        db::employers::insert(conn, &row, &by)?;
        tracing::info!(employer_id = %row.id, "employer registered");
        let location = format!("/v1/employers/{}", row.id);
        Outcome::created_as(location, EmployerView::from(row))
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
    let (rows, next) = state
        .with_connection(move |conn| Ok(db::employers::page(conn, only, &page)?))
        .await?;
    let items: Vec<EmployerView> = rows.into_iter().map(EmployerView::from).collect();
    Ok(page_response(items, next))
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
    let row = state
        .with_connection(move |conn| Ok(db::employers::find(conn, id)?))
        .await?;
    Ok(with_etag(HttpResponse::Ok(), &row).json(EmployerView::from(row)))
}

fn with_etag(
    mut builder: actix_web::HttpResponseBuilder,
    row: &EmployerRow,
) -> actix_web::HttpResponseBuilder {
    builder.insert_header((
        actix_web::http::header::ETAG,
        format!("\"{}\"", row.version),
    ));
    builder
}

/// `PATCH /v1/employers/{id}` (the employer itself, the operator): its fiscal year, address
/// and bank; `If-Match` guards against lost updates. The fiscal year is fixed once the
/// employer has a journal entry (409 `fiscal_year_locked`): its books are cut by it.
pub async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<String>,
    body: Body<EmployerChanges>,
) -> Result<HttpResponse, ApiError> {
    let id: EmployerId = path_id(&path, "employer")?;
    caller.require_employer_writer(id)?;
    let expected = crate::http::posts::expected_version(&req)?;
    let changes = body.value;
    if changes.siren.is_none()
        && changes.fiscal_year_end_month.is_none()
        && changes.address.is_none()
        && changes.iban.is_none()
        && changes.bic.is_none()
    {
        return Err(ApiError::field("/", "name at least one field to change"));
    }
    let new_address = match &changes.address {
        Some(Some(text)) => Some(Some(address(text)?)),
        Some(None) => Some(None),
        None => None,
    };
    let row = state
        .with_write_connection(move |conn| {
            db::write_transaction(conn, |conn| {
                let lock = db::lock_employer(conn, id)?;
                let mut row = db::employers::find(conn, id)?;
                if let Some(expected) = expected {
                    if expected != row.version {
                        return Err(ApiError::PreconditionFailed(format!(
                            "the employer is at version {}, not {expected}",
                            row.version
                        )));
                    }
                }
                if let Some(fiscal) = changes.fiscal_year_end_month.map(|m| m.0) {
                    if fiscal != row.fiscal_year_end_month && db::employers::has_books(conn, id)? {
                        return Err(ApiError::conflict(
                            "fiscal_year_locked",
                            "the employer has journal entries: its fiscal year can no longer change",
                        ));
                    }
                    row.fiscal_year_end_month = fiscal;
                }
                if let Some(address) = new_address {
                    row.address = address;
                }
                if let Some(iban) = changes.iban {
                    row.iban = iban.map(|i| i.as_str().to_owned());
                }
                if let Some(bic) = changes.bic {
                    row.bic = bic.map(|b| b.as_str().to_owned());
                }
                if let Some(siren) = &changes.siren {
                    row.siren = Some(siren.as_str().to_owned());
                }
                db::employers::update(conn, &lock, &row)?;
                Ok(db::employers::find(conn, id)?)
            })
        })
        .await?;
    tracing::info!(employer_id = %id, version = row.version, "employer changed");
    Ok(with_etag(HttpResponse::Ok(), &row).json(EmployerView::from(row)))
}
