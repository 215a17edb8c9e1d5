//! `/v1/rates`: dated rates, the public parameters conventions are written in (the State's
//! adultes-relais aid per full-time post and year). The mission and the operator register
//! them and add values; every role reads them.

use crate::auth::Caller;
use crate::db::rates::{self as store, RateRow, ValueRow};
use crate::db::{self, DbConnection, RecordedBy};
use crate::domain::{Money, Month};
use crate::error::ApiError;
use crate::http::extract::{page_response, Body, Page, Query};
use crate::http::idempotency::{self, Outcome};
use crate::http::text::required_label;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use diesel::QueryResult;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// The longest list of values a registration may carry.
const MAX_VALUES: usize = 600;

/// A value of a rate, as sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewValue {
    from_month: Month,
    annual_amount: Money,
}

impl crate::http::extract::SentBy for NewValue {
    const SENDERS: crate::http::extract::Senders = crate::http::extract::Senders::Registrars;
}

/// The body of `POST /v1/rates`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRate {
    code: String,
    label: String,
    #[serde(default)]
    values: Vec<NewValue>,
}

impl crate::http::extract::SentBy for NewRate {
    const SENDERS: crate::http::extract::Senders = crate::http::extract::Senders::Registrars;
}

/// A code is a short plain name: letters, digits, `-`, `_` and `.`, starting with a letter or a
/// digit, at most 64 characters (it appears in paths and in commitments).
fn checked_code(code: &str) -> Result<String, ApiError> {
    let plain = code
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    let starts = code
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric());
    if (1..=64).contains(&code.len()) && plain && starts {
        Ok(code.to_owned())
    } else {
        Err(ApiError::field(
            "/code",
            "must be 1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit",
        ))
    }
}

/// A value of a rate, from a month on.
#[derive(Debug, Serialize)]
struct ValueView {
    from_month: Month,
    annual_amount: Money,
    recorded_at: String,
    recorded_by: RecordedBy,
    superseded: bool,
}

/// A rate with all its values.
#[derive(Debug, Serialize)]
struct RateView {
    code: String,
    label: String,
    values: Vec<ValueView>,
    recorded_by: RecordedBy,
    recorded_at: String,
}

/// The rates with all their values, as answered: values by month then in the order recorded,
/// each marked `superseded` when a later value was recorded for the same month.
fn views(conn: &mut DbConnection, rows: &[RateRow]) -> QueryResult<Vec<RateView>> {
    let codes: Vec<String> = rows.iter().map(|r| r.code.clone()).collect();
    let mut by_code: HashMap<String, Vec<ValueRow>> = HashMap::new();
    for value in store::values_of(conn, &codes)? {
        by_code
            .entry(value.rate_code.clone())
            .or_default()
            .push(value);
    }
    Ok(rows
        .iter()
        .map(|rate| {
            // A rate may be recorded before any of its values.
            let values = by_code.remove(&rate.code).unwrap_or_default();
            // Values come by month, then in the order recorded: the last of each month is in
            // force.
            let mut seen_later: HashSet<Month> = HashSet::new();
            let mut shown: Vec<ValueView> = values
                .iter()
                .rev()
                .map(|v| ValueView {
                    superseded: !seen_later.insert(v.from_month),
                    from_month: v.from_month,
                    annual_amount: Money::from_cents(v.annual_amount_cents),
                    recorded_at: v.created_at.clone(),
                    recorded_by: db::recorded_by_view(&v.recorded_by_sub, &v.recorded_by_role),
                })
                .collect();
            shown.reverse();
            RateView {
                code: rate.code.clone(),
                label: rate.label.clone(),
                values: shown,
                recorded_by: db::recorded_by_view(&rate.recorded_by_sub, &rate.recorded_by_role),
                recorded_at: rate.created_at.clone(),
            }
        })
        .collect())
}

fn view_one(conn: &mut DbConnection, code: &str) -> Result<RateView, ApiError> {
    let row = store::find(conn, code)?;
    views(conn, std::slice::from_ref(&row))?
        .pop()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a rate read back without its view")))
}

/// `POST /v1/rates` (mission, admin): a rate and, optionally, its first values.
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    body: Body<NewRate>,
) -> Result<HttpResponse, ApiError> {
    caller.require_registrar()?;
    let input = body.value;
    let code = checked_code(&input.code)?;
    let label = required_label("/label", &input.label)?;
    if input.values.len() > MAX_VALUES {
        return Err(ApiError::field(
            "/values",
            format!("at most {MAX_VALUES} values at once"),
        ));
    }
    idempotency::run(&state, &req, caller.key(), body.fingerprint, move |conn| {
        if store::exists(conn, &code)? {
            return Err(ApiError::conflict(
                "already_exists",
                format!("a rate has the code {code:?}"),
            ));
        }
        let by = caller.recorder();
        store::insert(conn, &code, &label, &by)?;
        for value in &input.values {
            store::add_value(conn, &code, value.from_month, value.annual_amount, &by)?;
        }
        tracing::info!(rate = %code, values = input.values.len(), "rate registered");
        Outcome::created_as(format!("/v1/rates/{code}"), view_one(conn, &code)?)
    })
    .await
}

/// `POST /v1/rates/{code}/values` (mission, admin): a new value, never an edit. A value for a
/// month that already has one supersedes it; both are kept. Answers the rate with all values.
pub async fn add_value(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<String>,
    body: Body<NewValue>,
) -> Result<HttpResponse, ApiError> {
    caller.require_registrar()?;
    let code = path.into_inner();
    let value = body.value;
    idempotency::run(&state, &req, caller.key(), body.fingerprint, move |conn| {
        store::find(conn, &code)?;
        store::add_value(
            conn,
            &code,
            value.from_month,
            value.annual_amount,
            &caller.recorder(),
        )?;
        tracing::info!(rate = %code, from_month = %value.from_month, "rate value added");
        // A new value changes what every rate commitment asks, and so the continuity of the
        // posts they fund, for any employer: their risks are swept again.
        crate::db::sweep::after_write(conn, crate::db::sweep::SweepScope::All)?;
        Outcome::created_as(format!("/v1/rates/{code}"), view_one(conn, &code)?)
    })
    .await
}

/// The query of `GET /v1/rates`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /v1/rates`: every role.
pub async fn list(
    state: web::Data<AppState>,
    _caller: Caller,
    query: Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = Page::parse_with(query.0.limit.as_deref(), query.0.cursor.as_deref(), |c| {
        checked_code(c).ok()
    })?;
    let (items, next) = state
        .with_connection(move |conn| {
            let (rows, next) = store::page(conn, &page)?;
            Ok((views(conn, &rows)?, next))
        })
        .await?;
    Ok(page_response(items, next))
}

/// `GET /v1/rates/{code}`: every role.
pub async fn get(
    state: web::Data<AppState>,
    _caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let code = path.into_inner();
    let body = state
        .with_connection(move |conn| view_one(conn, &code))
        .await?;
    Ok(HttpResponse::Ok().json(body))
}
