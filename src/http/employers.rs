//! `/v1/employers`: the bodies that carry posts.

use crate::auth::{Caller, Scope};
use crate::db::schema::employers;
use crate::db::schema::journal_entries;
use crate::db::{self, DbConnection};
use crate::domain::ids::EmployerId;
use crate::domain::kinds::EmployerKind;
use crate::domain::{Bic, Iban, Siren};
use crate::error::ApiError;
use crate::http::extract::{page_response, path_id, Body, Page, Query};
use crate::http::idempotency::{self, Outcome};
use crate::http::text::{optional_label, required_label};
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use diesel::prelude::*;
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
    /// The month its fiscal year ends in.
    pub fiscal_year_end_month: i32,
    /// Its postal address.
    pub address: Option<String>,
    /// Its IBAN.
    pub iban: Option<String>,
    /// Its BIC.
    pub bic: Option<String>,
    /// Its version, raised by each change.
    pub version: i64,
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
            "fiscal_year_end_month": self.fiscal_year_end_month,
            "address": self.address,
            "iban": self.iban,
            "bic": self.bic,
            "version": self.version,
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
    let address = input.address.as_deref().map(address).transpose()?;
    let row = Employer {
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
        diesel::insert_into(employers::table)
            .values((
                employers::id.eq(row.id),
                employers::name.eq(&row.name),
                employers::kind.eq(&row.kind),
                employers::siren.eq(&row.siren),
                employers::territory.eq(&row.territory),
                employers::created_at.eq(&row.created_at),
                crate::recorded_by!(employers, &by),
                employers::fiscal_year_end_month.eq(row.fiscal_year_end_month),
                employers::address.eq(&row.address),
                employers::iban.eq(&row.iban),
                employers::bic.eq(&row.bic),
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
            let query = crate::keyset_page!(query, employers::id, page);
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
    Ok(with_etag(HttpResponse::Ok(), &row).json(row.view()))
}

fn with_etag(
    mut builder: actix_web::HttpResponseBuilder,
    row: &Employer,
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
                db::lock_employer(conn, id)?;
                let row = find(conn, id)?;
                if let Some(expected) = expected {
                    if expected != row.version {
                        return Err(ApiError::PreconditionFailed(format!(
                            "the employer is at version {}, not {expected}",
                            row.version
                        )));
                    }
                }
                let fiscal = changes.fiscal_year_end_month.map(|m| m.0);
                if fiscal.is_some_and(|m| m != row.fiscal_year_end_month) {
                    let has_books: bool = diesel::select(diesel::dsl::exists(
                        journal_entries::table.filter(journal_entries::employer_id.eq(id)),
                    ))
                    .get_result(conn)?;
                    if has_books {
                        return Err(ApiError::conflict(
                            "fiscal_year_locked",
                            "the employer has journal entries: its fiscal year can no longer change",
                        ));
                    }
                }
                diesel::update(employers::table.find(id))
                    .set((
                        employers::fiscal_year_end_month
                            .eq(fiscal.unwrap_or(row.fiscal_year_end_month)),
                        employers::address.eq(new_address.unwrap_or(row.address.clone())),
                        employers::iban.eq(match changes.iban {
                            Some(iban) => iban.map(|i| i.as_str().to_owned()),
                            None => row.iban.clone(),
                        }),
                        employers::bic.eq(match changes.bic {
                            Some(bic) => bic.map(|b| b.as_str().to_owned()),
                            None => row.bic.clone(),
                        }),
                        employers::siren.eq(match &changes.siren {
                            Some(siren) => Some(siren.as_str().to_owned()),
                            None => row.siren.clone(),
                        }),
                        employers::version.eq(row.version + 1),
                    ))
                    .execute(conn)?;
                find(conn, id)
            })
        })
        .await?;
    tracing::info!(employer_id = %id, version = row.version, "employer changed");
    Ok(with_etag(HttpResponse::Ok(), &row).json(row.view()))
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
