//! `/v1/webhooks`: every role subscribes, for its own scope, to the events it may see. A
//! webhook is seen and managed only by callers of the scope that created it (an employer's by
//! that employer's tokens, a funder's by that funder's, the mission's by the mission); any
//! other caller is told it does not exist.

use crate::auth::Caller;
use crate::db::webhooks::{self as store, Changes, DeliveryRow, NewWebhook, WebhookRow};
use crate::db::{self, DbConnection};
use crate::domain::ids::{DeliveryId, EventId, WebhookId};
use crate::domain::webhooks::{check_url, Secret, SECRET_OVERLAP};
use crate::error::ApiError;
use crate::http::events::{event_type, EVENT_TYPES};
use crate::http::extract::{page_response, path_id, Body, Page, Query, Senders, SentBy};
use crate::http::idempotency::{self, Outcome};
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

/// The most webhooks one scope may have.
pub const MAX_WEBHOOKS_PER_SCOPE: i64 = 25;

/// The body of `POST /v1/webhooks`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookBody {
    url: String,
    types: Vec<String>,
    #[serde(default)]
    description: Option<String>,
}

impl SentBy for NewWebhookBody {
    const SENDERS: Senders = Senders::Anyone;
}

/// The body of `PATCH /v1/webhooks/{id}`: only the fields given change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookChanges {
    #[serde(default, deserialize_with = "crate::http::extract::not_null")]
    url: Option<String>,
    #[serde(default, deserialize_with = "crate::http::extract::not_null")]
    types: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::http::extract::present")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::extract::not_null")]
    enabled: Option<bool>,
}

impl SentBy for WebhookChanges {
    const SENDERS: Senders = Senders::Anyone;
}

/// The body of the actions that take none (rotate, test, retry): none, or `{}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoFields {}

impl SentBy for NoFields {
    const SENDERS: Senders = Senders::Anyone;
}

/// A webhook as answered. `secret` appears only in the answers to its creation and to a
/// rotation.
#[derive(Debug, Serialize)]
pub struct WebhookView {
    id: WebhookId,
    url: String,
    types: Vec<String>,
    description: Option<String>,
    enabled: bool,
    disabled_reason: Option<String>,
    failing_since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    previous_secret_expires_at: Option<String>,
    version: i64,
    updated_at: String,
    recorded_by: db::RecordedBy,
    recorded_at: String,
}

impl WebhookView {
    fn of(row: &WebhookRow, secret: Option<String>) -> WebhookView {
        WebhookView {
            id: row.id,
            url: row.url.clone(),
            types: row.type_list(),
            description: row.description.clone(),
            enabled: row.enabled,
            disabled_reason: row.disabled_reason.clone(),
            failing_since: row.failing_since.clone(),
            secret,
            previous_secret_expires_at: row
                .previous_secret
                .as_ref()
                .and(row.previous_secret_until.clone()),
            version: row.version,
            updated_at: row.updated_at.clone(),
            recorded_by: db::recorded_by_view(&row.recorded_by_sub, &row.recorded_by_role),
            recorded_at: row.created_at.clone(),
        }
    }

    fn json(row: &WebhookRow, secret: Option<String>) -> Result<serde_json::Value, ApiError> {
        serde_json::to_value(WebhookView::of(row, secret)).map_err(|e| ApiError::Internal(e.into()))
    }
}

/// A delivery as answered.
#[derive(Debug, Serialize)]
pub struct DeliveryView {
    id: DeliveryId,
    webhook_id: WebhookId,
    event_id: EventId,
    #[serde(rename = "type")]
    kind: String,
    status: String,
    attempts: i32,
    last_attempt_at: Option<String>,
    response_status: Option<i32>,
    error: Option<String>,
    next_attempt_at: Option<String>,
    created_at: String,
}

impl DeliveryView {
    fn of(row: &DeliveryRow) -> DeliveryView {
        DeliveryView {
            id: row.id,
            webhook_id: row.webhook_id,
            event_id: row.message_id,
            kind: row.kind.clone(),
            status: row.status.clone(),
            attempts: row.attempts,
            last_attempt_at: row.last_attempt_at.clone(),
            response_status: row.response_status,
            error: row.error.clone(),
            next_attempt_at: (row.status == "pending")
                .then(|| row.next_attempt_at.clone())
                .flatten(),
            created_at: row.created_at.clone(),
        }
    }

    fn json(row: &DeliveryRow) -> Result<serde_json::Value, ApiError> {
        serde_json::to_value(DeliveryView::of(row)).map_err(|e| ApiError::Internal(e.into()))
    }
}

fn checked_url(state: &AppState, url: &str) -> Result<String, ApiError> {
    check_url(url, state.webhooks.allow_http, state.webhooks.allow_private)
        .map(|_| url.to_owned())
        .map_err(|reason| ApiError::field("/url", reason))
}

/// The event types asked for: known, at least one, each once (in the order of
/// [`EVENT_TYPES`]).
fn checked_types(types: &[String]) -> Result<Vec<String>, ApiError> {
    if types.is_empty() {
        return Err(ApiError::field("/types", "name at least one event type"));
    }
    for (i, t) in types.iter().enumerate() {
        event_type(&format!("/types/{i}"), t)?;
    }
    Ok(EVENT_TYPES
        .iter()
        .filter(|known| types.iter().any(|t| t == *known))
        .map(|t| (*t).to_owned())
        .collect())
}

fn new_secret() -> Result<Secret, ApiError> {
    Secret::generate()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("no random source for a secret: {e}")))
}

fn find(conn: &mut DbConnection, caller: &Caller, id: WebhookId) -> Result<WebhookRow, ApiError> {
    store::find_owned(conn, caller.scope, id)?.ok_or(ApiError::NotFound("webhook"))
}

fn webhook_id(path: &str) -> Result<WebhookId, ApiError> {
    path_id::<WebhookId>(path, "webhook")
}

/// `POST /v1/webhooks` (every role, for its own scope): 201 with the secret, shown this once.
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    body: Body<NewWebhookBody>,
) -> Result<HttpResponse, ApiError> {
    let input = body.value;
    let url = checked_url(&state, &input.url)?;
    let types = checked_types(&input.types)?;
    let description =
        crate::http::text::optional_label("/description", input.description.as_deref())?;
    let secret = new_secret()?.expose();
    idempotency::run(&state, &req, caller.key(), body.fingerprint, move |conn| {
        if store::count_owned(conn, caller.scope)? >= MAX_WEBHOOKS_PER_SCOPE {
            return Err(ApiError::conflict(
                "webhook_limit",
                format!("a scope may have at most {MAX_WEBHOOKS_PER_SCOPE} webhooks"),
            ));
        }
        let new = NewWebhook {
            id: WebhookId::generate(),
            owner: caller.scope,
            url,
            types,
            description,
            secret: secret.clone(),
        };
        let row = store::create(
            conn,
            &new,
            &caller.recorder(),
            time::OffsetDateTime::now_utc(),
        )?;
        tracing::info!(webhook = %row.id, url = %row.url, types = %row.types, "webhook created");
        Ok(Outcome::created(
            format!("/v1/webhooks/{}", row.id),
            WebhookView::json(&row, Some(secret))?,
        ))
    })
    .await
}

/// The query of `GET /v1/webhooks`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /v1/webhooks`: the caller's scope's webhooks, without their secrets.
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = Page::parse(query.0.limit.as_deref(), query.0.cursor.as_deref())?;
    let (items, next) = state
        .with_connection(move |conn| {
            let rows = store::list_owned(conn, caller.scope, page.after.clone(), page.limit + 1)?;
            let (rows, next) = page.finish(rows, |r| r.id.to_string());
            let items: Vec<WebhookView> = rows.iter().map(|r| WebhookView::of(r, None)).collect();
            Ok((items, next))
        })
        .await?;
    Ok(page_response(items, next))
}

/// `GET /v1/webhooks/{id}`.
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path)?;
    let row = state
        .with_connection(move |conn| find(conn, &caller, id))
        .await?;
    Ok(HttpResponse::Ok().json(WebhookView::of(&row, None)))
}

/// `PATCH /v1/webhooks/{id}`: `url`, `types`, `description`, `enabled`; `If-Match` as for
/// posts.
pub async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<String>,
    body: Body<WebhookChanges>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path)?;
    let expected = crate::http::posts::expected_version(&req)?;
    let input = body.value;
    if input.url.is_none()
        && input.types.is_none()
        && input.description.is_none()
        && input.enabled.is_none()
    {
        return Err(ApiError::field("/", "name at least one field to change"));
    }
    let changes = Changes {
        url: input.url.map(|u| checked_url(&state, &u)).transpose()?,
        types: input.types.map(|t| checked_types(&t)).transpose()?,
        description: input
            .description
            .map(|d| crate::http::text::optional_label("/description", d.as_deref()))
            .transpose()?,
        enabled: input.enabled,
    };
    let row = state
        .with_write_connection(move |conn| {
            db::write_transaction(conn, |conn| {
                let row = find(conn, &caller, id)?;
                if let Some(expected) = expected.filter(|v| *v != row.version) {
                    return Err(ApiError::PreconditionFailed(format!(
                        "the webhook is at version {}, not {expected}",
                        row.version
                    )));
                }
                let row = store::update(conn, &row, changes, time::OffsetDateTime::now_utc())?;
                tracing::info!(webhook = %row.id, enabled = row.enabled, "webhook changed");
                Ok(row)
            })
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((
            actix_web::http::header::ETAG,
            format!("\"{}\"", row.version),
        ))
        .json(WebhookView::of(&row, None)))
}

/// `DELETE /v1/webhooks/{id}`: the webhook and its deliveries; 204.
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path)?;
    state
        .with_write_connection(move |conn| {
            db::write_transaction(conn, |conn| {
                let row = find(conn, &caller, id)?;
                store::delete(conn, &row)?;
                tracing::info!(webhook = %row.id, "webhook deleted");
                Ok(())
            })
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /v1/webhooks/{id}/rotate-secret`: a new secret, shown this once; the old one keeps
/// signing beside it for 24 hours.
pub async fn rotate_secret(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<String>,
    body: Body<NoFields>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path)?;
    let secret = new_secret()?.expose();
    idempotency::run(&state, &req, caller.key(), body.fingerprint, move |conn| {
        let row = find(conn, &caller, id)?;
        let now = time::OffsetDateTime::now_utc();
        let row = store::rotate(conn, &row, &secret, now, now + SECRET_OVERLAP)?;
        tracing::info!(webhook = %row.id, "webhook secret rotated");
        Ok(Outcome::ok(WebhookView::json(&row, Some(secret))?))
    })
    .await
}

/// `POST /v1/webhooks/{id}/test`: queues a `webhook.test` message; 202 with its delivery.
pub async fn test(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<String>,
    body: Body<NoFields>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path)?;
    idempotency::run(&state, &req, caller.key(), body.fingerprint, move |conn| {
        let row = find(conn, &caller, id)?;
        let delivery = store::queue_test(conn, &row, time::OffsetDateTime::now_utc())?;
        accepted(&delivery)
    })
    .await
}

fn accepted(delivery: &DeliveryRow) -> Result<Outcome, ApiError> {
    Ok(Outcome {
        status: actix_web::http::StatusCode::ACCEPTED,
        location: None,
        body: DeliveryView::json(delivery)?,
    })
}

/// The query of `GET /v1/webhooks/{id}/deliveries`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    status: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /v1/webhooks/{id}/deliveries?status=`: newest first, with attempts, status, the last
/// response code and the next try.
pub async fn deliveries(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: Query<DeliveriesQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path)?;
    let q = query.0;
    let status = match q.status.as_deref() {
        None => None,
        Some(s @ ("pending" | "delivered" | "failed")) => Some(s.to_owned()),
        Some(_) => {
            return Err(ApiError::field(
                "/status",
                "must be pending, delivered or failed",
            ))
        }
    };
    let page = Page::parse_with(q.limit.as_deref(), q.cursor.as_deref(), |c| {
        c.parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .map(|n| n.to_string())
    })?;
    let before = page.after.as_deref().and_then(|c| c.parse::<i64>().ok());
    let (items, next) = state
        .with_connection(move |conn| {
            let hook = find(conn, &caller, id)?;
            let rows = store::deliveries(conn, hook.id, status, before, page.limit + 1)?;
            let (rows, next) = page.finish(rows, |r| r.seq.to_string());
            let items: Vec<DeliveryView> = rows.iter().map(DeliveryView::of).collect();
            Ok((items, next))
        })
        .await?;
    Ok(page_response(items, next))
}

/// `POST /v1/webhooks/{id}/deliveries/{delivery_id}/retry`: sends a failed delivery again,
/// with its attempts counted afresh; 202. Only a failed delivery can be retried (409
/// `not_failed`).
pub async fn retry(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: Body<NoFields>,
) -> Result<HttpResponse, ApiError> {
    let (id, delivery_id) = path.into_inner();
    let id = webhook_id(&id)?;
    let delivery_id: DeliveryId = path_id(&delivery_id, "delivery")?;
    idempotency::run(&state, &req, caller.key(), body.fingerprint, move |conn| {
        let hook = find(conn, &caller, id)?;
        let delivery = store::find_delivery(conn, hook.id, delivery_id)?
            .ok_or(ApiError::NotFound("delivery"))?;
        if delivery.status != "failed" {
            return Err(ApiError::conflict(
                "not_failed",
                format!(
                    "the delivery is {}: only a failed one is sent again",
                    delivery.status
                ),
            ));
        }
        let delivery = store::retry(conn, &delivery, time::OffsetDateTime::now_utc())?;
        tracing::info!(webhook = %hook.id, delivery = %delivery.id, "delivery queued again");
        accepted(&delivery)
    })
    .await
}
