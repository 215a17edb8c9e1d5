//! Costs of posts: `POST /v1/posts/{id}/costs`, `GET /v1/posts/{id}/costs`,
//! `GET /v1/costs/{id}` and `POST /v1/costs/{id}/reverse`. Each cost posts its journal entry
//! (64 / 42) in the same transaction; a correction is a reversing record, never an edit.

use crate::auth::{Caller, Scope};
use crate::db::costs::CostRow;
use crate::db::{self, RecordedBy};
use crate::domain::ids::{CostId, EmployerId, EntryId, ImportId, PostId};
use crate::domain::kinds::CostCategory;
use crate::domain::{clock, Money, Month};
use crate::error::ApiError;
use crate::http::extract::{page_response, parse_param, path_id, Body, Page, Query};
use crate::http::idempotency::{self, Outcome};
use crate::http::posts;
use crate::http::text::{optional_label, required_label};
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

/// The body of `POST /v1/posts/{id}/costs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCost {
    month: Month,
    category: CostCategory,
    amount: Money,
    #[serde(default, deserialize_with = "crate::http::extract::not_null")]
    reference: Option<String>,
}

impl crate::http::extract::SentBy for NewCost {
    const SENDERS: crate::http::extract::Senders = crate::http::extract::Senders::EmployerSide;
}

/// A cost whose fields passed every check that needs no stored data.
#[derive(Debug, Clone)]
pub struct CheckedCost {
    /// The month it belongs to.
    pub month: Month,
    /// What it is for.
    pub category: CostCategory,
    /// The amount, in cents (positive).
    pub amount_cents: i64,
    /// The employer's own reference.
    pub reference: Option<String>,
}

impl NewCost {
    /// The checks of a cost beyond its fields' types (the single endpoint and the imports).
    pub fn checked(self) -> Result<CheckedCost, ApiError> {
        if self.amount.cents() == 0 {
            return Err(ApiError::field("/amount", "must be more than 0.00"));
        }
        Ok(CheckedCost {
            month: self.month,
            category: self.category,
            amount_cents: self.amount.cents(),
            reference: optional_label("/reference", self.reference.as_deref())?,
        })
    }
}

/// The body of `POST /v1/costs/{id}/reverse`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reversal {
    reason: String,
}

impl crate::http::extract::SentBy for Reversal {
    const SENDERS: crate::http::extract::Senders = crate::http::extract::Senders::EmployerSide;
}

/// A cost or a reversal.
#[derive(Debug, Serialize)]
struct CostView {
    id: CostId,
    employer_id: EmployerId,
    post_id: PostId,
    month: Month,
    category: String,
    amount: Money,
    reference: Option<String>,
    reverses: Option<CostId>,
    reason: Option<String>,
    reversed_by: Option<CostId>,
    entry_id: EntryId,
    import_id: Option<ImportId>,
    created_at: String,
    recorded_by: RecordedBy,
    recorded_at: String,
}

fn view(row: &CostRow, reversed_by: Option<CostId>) -> CostView {
    CostView {
        id: row.id,
        employer_id: row.employer_id,
        post_id: row.post_id,
        month: row.month,
        category: row.category.clone(),
        amount: Money::from_cents(row.amount_cents),
        reference: row.reference.clone(),
        reverses: row.reverses_cost_id,
        reason: row.reason.clone(),
        reversed_by,
        entry_id: row.entry_id,
        import_id: row.import_id,
        created_at: row.created_at.clone(),
        recorded_by: db::recorded_by_view(&row.recorded_by_sub, &row.recorded_by_role),
        recorded_at: row.created_at.clone(),
    }
}

/// Costs are the employer's own data: a funder never reads them (it could derive the other
/// funders' amounts from them).
fn refuse_funders(caller: &Caller) -> Result<(), ApiError> {
    match caller.scope {
        Scope::Funder(_) => Err(ApiError::Forbidden(
            "funders do not read a post's costs".into(),
        )),
        _ => Ok(()),
    }
}

/// `POST /v1/posts/{id}/costs` (the post's employer, the operator).
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<String>,
    body: Body<NewCost>,
) -> Result<HttpResponse, ApiError> {
    caller.require_writer_role()?;
    let post_id: PostId = path_id(&path, "post")?;
    let input = body.value.checked()?;
    // On PostgreSQL a cost without a key joins the next batch; one the batch declines (any
    // refusal, an employer being run or closed) and one with a key go the ordinary way below.
    if let (Some(writer), None) = (&state.cost_writer, idempotency::key_of(&req)?) {
        let request = db::cost_writer::CostRequest {
            caller: caller.clone(),
            post_id,
            month: input.month,
            category: input.category,
            amount_cents: input.amount_cents,
            reference: input.reference.clone(),
        };
        if let db::cost_writer::Written::Recorded(row) = writer.record(request).await? {
            return Ok(recorded(&row)?.into_response());
        }
    }
    let reference = input.reference.clone();
    idempotency::run(&state, &req, caller.key(), body.fingerprint, move |conn| {
        let post = posts::load_writable(conn, &caller, post_id)?;
        let lock = db::lock_employer_to_append(conn, post.employer_id)?;
        post.check_month(input.month)?;
        let row = db::costs::record(
            conn,
            &lock,
            &db::costs::NewCost {
                post_id,
                month: input.month,
                category: input.category,
                amount_cents: input.amount_cents,
                reference: reference.as_deref(),
            },
            &caller.recorder(),
        )?;
        recorded(&row)
    })
    .await
}

/// The answer to a cost just recorded, either way.
fn recorded(row: &CostRow) -> Result<Outcome, ApiError> {
    tracing::info!(cost_id = %row.id, post_id = %row.post_id, month = %row.month, "cost recorded");
    Outcome::created_as(format!("/v1/costs/{}", row.id), view(row, None))
}

/// `POST /v1/costs/{id}/reverse`: records the reversing cost and its entry, dated today.
pub async fn reverse(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<String>,
    body: Body<Reversal>,
) -> Result<HttpResponse, ApiError> {
    caller.require_writer_role()?;
    let cost_id: CostId = path_id(&path, "cost")?;
    let reason = required_label("/reason", &body.value.reason)?;
    idempotency::run(&state, &req, caller.key(), body.fingerprint, move |conn| {
        let original = db::costs::find(conn, cost_id)?;
        caller
            .require_employer_writer(original.employer_id)
            .map_err(|_| ApiError::NotFound("cost"))?;
        let lock = db::lock_employer(conn, original.employer_id)?;
        let row = db::costs::reverse(
            conn,
            &lock,
            &original,
            &reason,
            clock::today(),
            &caller.recorder(),
        )?;
        let id = &row.id;
        tracing::info!(cost_id = %cost_id, reversal_id = %id, "cost reversed");
        Outcome::created_as(format!("/v1/costs/{id}"), view(&row, None))
    })
    .await
}

/// `GET /v1/costs/{id}`.
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    refuse_funders(&caller)?;
    let id: CostId = path_id(&path, "cost")?;
    let body = state
        .with_connection(move |conn| {
            let row = db::costs::find(conn, id)?;
            if !caller.can_read_employer(row.employer_id) {
                return Err(ApiError::NotFound("cost"));
            }
            let reversed_by = db::costs::reversal_of(conn, row.id)?;
            Ok(view(&row, reversed_by))
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// The query of `GET /v1/posts/{id}/costs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /v1/posts/{id}/costs?from=&to=`: the post's costs and reversals, by month.
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    refuse_funders(&caller)?;
    let post_id: PostId = path_id(&path, "post")?;
    let query = query.0;
    let page = Page::parse(query.limit.as_deref(), query.cursor.as_deref())?;
    let from = parse_param("from", query.from.as_deref(), Month::parse)?;
    let to = parse_param("to", query.to.as_deref(), Month::parse)?;
    let (items, next) = state
        .with_connection(move |conn| {
            posts::load_readable(conn, &caller, post_id)?;
            let (rows, next) = db::costs::page(conn, post_id, from, to, &page)?;
            let ids: Vec<CostId> = rows.iter().map(|r| r.id).collect();
            let mut reversals = db::costs::reversals_of(conn, &ids)?;
            let items: Vec<CostView> = rows
                .iter()
                .map(|row| view(row, reversals.remove(&row.id)))
                .collect();
            Ok((items, next))
        })
        .await?;
    Ok(page_response(items, next))
}
