//! `/v1/payments`: money received from funders and its lettrage to calls.

use crate::auth::Caller;
use crate::db::calls as store;
use crate::db::payments::PaymentRow;
use crate::db::{self, DbConnection, RecordedBy};
use crate::domain::ids::{CallId, EmployerId, FunderId, PaymentId};
use crate::domain::{Date, Money};
use crate::error::{ApiError, FieldError};
use crate::http::extract::{page_response, path_id, Body, PartiesQuery, Query};
use crate::http::idempotency::{self, Outcome};
use crate::http::text::required_label;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One named application of a payment.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    call_id: CallId,
    amount: Money,
}

/// The body of `POST /v1/payments`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPayment {
    employer_id: EmployerId,
    funder_id: FunderId,
    amount: Money,
    received_on: Date,
    reference: String,
    #[serde(default, deserialize_with = "crate::http::extract::not_null")]
    applications: Option<Vec<Application>>,
}

impl crate::http::extract::SentBy for NewPayment {
    const SENDERS: crate::http::extract::Senders = crate::http::extract::Senders::EmployerSide;
}

/// An application of a payment to a call.
#[derive(Debug, Serialize)]
struct ApplicationView {
    call_id: CallId,
    number: String,
    amount: Money,
}

/// A payment and what it settled.
#[derive(Debug, Serialize)]
struct PaymentView {
    id: PaymentId,
    employer_id: EmployerId,
    funder_id: FunderId,
    amount: Money,
    received_on: Date,
    reference: String,
    applications: Vec<ApplicationView>,
    unapplied: Money,
    created_at: String,
    recorded_by: RecordedBy,
    recorded_at: String,
}

fn views(conn: &mut DbConnection, rows: &[PaymentRow]) -> Result<Vec<PaymentView>, ApiError> {
    let ids: Vec<PaymentId> = rows.iter().map(|r| r.id).collect();
    let mut by_payment = db::payments::applications(conn, &ids)?;
    Ok(rows
        .iter()
        .map(|row| {
            let applied = by_payment.remove(&row.id).unwrap_or_default();
            let applied_total: i64 = applied.iter().map(|a| a.1).sum();
            PaymentView {
                id: row.id,
                employer_id: row.employer_id,
                funder_id: row.funder_id,
                amount: Money::from_cents(row.amount_cents),
                received_on: row.received_on,
                reference: row.reference.clone(),
                applications: applied
                    .into_iter()
                    .map(|(call_id, cents, number)| ApplicationView {
                        call_id,
                        number,
                        amount: Money::from_cents(cents),
                    })
                    .collect(),
                unapplied: Money::from_cents(row.amount_cents - applied_total),
                created_at: row.created_at.clone(),
                recorded_by: db::recorded_by_view(&row.recorded_by_sub, &row.recorded_by_role),
                recorded_at: row.created_at.clone(),
            }
        })
        .collect())
}

/// Checks named applications against the calls as they stand (under the employer's lock).
fn checked_applications(
    conn: &mut DbConnection,
    employer_id: EmployerId,
    funder_id: FunderId,
    amount_cents: i64,
    applications: &[Application],
) -> Result<Vec<(CallId, i64)>, ApiError> {
    let mut errors = Vec::new();
    let mut per_call: HashMap<CallId, i64> = HashMap::new();
    let mut checked = Vec::with_capacity(applications.len());
    for (i, application) in applications.iter().enumerate() {
        let call_id = application.call_id;
        // A call of another employer does not exist for this one: 404, as for any id out of scope.
        let call = store::find(conn, call_id)?;
        if call.employer_id != employer_id {
            return Err(ApiError::NotFound("call"));
        }
        let pointer = format!("/applications/{i}");
        if call.funder_id != funder_id {
            errors.push(FieldError::new(
                format!("{pointer}/call_id"),
                "the call is addressed to another funder",
            ));
            continue;
        }
        if call.cancelled_on.is_some() {
            errors.push(FieldError::new(
                format!("{pointer}/call_id"),
                "the call is cancelled",
            ));
            continue;
        }
        if application.amount.cents() == 0 {
            errors.push(FieldError::new(
                format!("{pointer}/amount"),
                "must be more than 0.00",
            ));
            continue;
        }
        let paid = store::paid(conn, std::slice::from_ref(&call_id))?
            .get(&call_id)
            .copied()
            .unwrap_or(0);
        let asked = per_call.entry(call_id).or_default();
        *asked += application.amount.cents();
        if *asked > call.amount_cents - paid {
            errors.push(FieldError::new(
                format!("{pointer}/amount"),
                format!(
                    "more than the call's outstanding {}",
                    Money::from_cents(call.amount_cents - paid)
                ),
            ));
            continue;
        }
        checked.push((call_id, application.amount.cents()));
    }
    let total: i64 = applications.iter().map(|a| a.amount.cents()).sum();
    if total > amount_cents {
        errors.push(FieldError::new(
            "/applications",
            "the applications add up to more than the payment",
        ));
    }
    if errors.is_empty() {
        Ok(checked)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// `POST /v1/payments` (the employer, the operator).
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    body: Body<NewPayment>,
) -> Result<HttpResponse, ApiError> {
    let input = body.value;
    caller.require_employer_writer(input.employer_id)?;
    if input.amount.cents() == 0 {
        return Err(ApiError::field("/amount", "must be more than 0.00"));
    }
    let reference = required_label("/reference", &input.reference)?;
    idempotency::run(&state, &req, caller.key(), body.fingerprint, move |conn| {
        crate::db::employers::find(conn, input.employer_id)?;
        crate::db::funders::find(conn, input.funder_id)?;
        let lock = db::lock_employer(conn, input.employer_id)?;
        let named = input
            .applications
            .as_deref()
            .map(|apps| {
                checked_applications(
                    conn,
                    input.employer_id,
                    input.funder_id,
                    input.amount.cents(),
                    apps,
                )
            })
            .transpose()?;
        let id = store::receive(
            conn,
            &lock,
            &store::NewPayment {
                funder_id: input.funder_id,
                amount_cents: input.amount.cents(),
                received_on: input.received_on,
                reference: &reference,
                named: named.as_deref(),
            },
            &caller.recorder(),
        )?;
        let row = db::payments::find(conn, id)?;
        let view = views(conn, &[row])?
            .pop()
            .ok_or(ApiError::NotFound("payment"))?;
        let view = serde_json::to_value(view).map_err(anyhow::Error::from)?;
        crate::db::events::record(
            conn,
            &[crate::db::events::NewEvent {
                employer_id: Some(input.employer_id),
                funders: vec![input.funder_id],
                data: crate::domain::events::EventData::PaymentReceived(view.clone()),
                once_key: None,
            }],
        )?;
        crate::db::sweep::after_write(
            conn,
            crate::db::sweep::SweepScope::Money(input.employer_id),
        )?;
        tracing::info!(payment_id = %id, "payment recorded");
        Ok(Outcome::created(format!("/v1/payments/{id}"), view))
    })
    .await
}

fn readable(caller: &Caller, row: &PaymentRow) -> bool {
    caller.can_read_between(row.employer_id, row.funder_id)
}

/// `GET /v1/payments/{id}`.
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: PaymentId = path_id(&path, "payment")?;
    let view = state
        .with_connection(move |conn| {
            let row = db::payments::find(conn, id)?;
            if !readable(&caller, &row) {
                return Err(ApiError::NotFound("payment"));
            }
            views(conn, &[row])?
                .pop()
                .ok_or(ApiError::NotFound("payment"))
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `GET /v1/payments?funder_id=`: filtered to the caller's scope in the query.
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<PartiesQuery>,
) -> Result<HttpResponse, ApiError> {
    let (page, employer, funder) = query.0.parse()?;
    let (items, next) = state
        .with_connection(move |conn| {
            let (rows, next) = db::payments::page(conn, caller.scope, employer, funder, &page)?;
            Ok((views(conn, &rows)?, next))
        })
        .await?;
    Ok(page_response(items, next))
}
