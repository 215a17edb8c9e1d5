//! Webhooks and their deliveries. A webhook belongs to a scope (an employer, a funder, the
//! mission or the operator) and receives the events of that scope through the same views as
//! `GET /v1/events`. Delivery state lives here, so that a server killed mid-delivery loses
//! nothing: a lease on the webhook row lets one server at a time deliver for a webhook.

use super::events::{self, Audience, EventView, NewEvent};
use super::schema::{webhook_deliveries, webhooks};
use super::{format_timestamp, DbConnection, Recorder};
use crate::auth::Scope;
use crate::domain::events::{EventData, WebhookDisabled};
use crate::domain::ids::{DeliveryId, EmployerId, EventId, FunderId, WebhookId};
use crate::domain::webhooks::Next;
use diesel::prelude::*;
use serde::Serialize;
use std::collections::HashMap;
use time::OffsetDateTime;

/// Events examined per fan-out pass.
const FAN_OUT_BATCH: i64 = 500;

/// A webhook as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhooks)]
pub struct WebhookRow {
    /// Its id.
    pub id: WebhookId,
    /// `employer`, `funder`, `mission` or `admin`.
    pub owner_role: String,
    /// The employer or funder it belongs to.
    pub owner_id: Option<String>,
    /// Where it is delivered.
    pub url: String,
    /// The event types it receives, comma-separated.
    pub types: String,
    /// What its owner says it is for.
    pub description: Option<String>,
    /// Whether it receives events.
    pub enabled: bool,
    /// Why it was disabled (`gone`, `failing`, `by_owner`).
    pub disabled_reason: Option<String>,
    /// The signing secret (`whsec_…`).
    pub secret: String,
    /// The secret before the last rotation, which signs beside the new one for a while.
    pub previous_secret: Option<String>,
    /// Until when the previous secret signs.
    pub previous_secret_until: Option<String>,
    /// The last event already queued for it.
    pub after_seq: i64,
    /// Since when every attempt has failed.
    pub failing_since: Option<String>,
    /// The optimistic-lock version.
    pub version: i64,
    /// When it was created.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
    /// Who created it.
    pub recorded_by_sub: String,
    /// Their role.
    pub recorded_by_role: String,
}

/// A webhook's row whose owner columns do not name a scope.
#[derive(Debug, thiserror::Error)]
#[error("webhook {id} has an unknown owner {role}/{owner:?}")]
pub struct CorruptOwner {
    id: WebhookId,
    role: String,
    owner: Option<String>,
}

impl WebhookRow {
    /// The scope it belongs to.
    pub fn owner(&self) -> Result<Scope, CorruptOwner> {
        let id = self.owner_id.as_deref().unwrap_or_default();
        let scope = match self.owner_role.as_str() {
            "employer" => id.parse::<EmployerId>().ok().map(Scope::Employer),
            "funder" => id.parse::<FunderId>().ok().map(Scope::Funder),
            "mission" => Some(Scope::Mission),
            "admin" => Some(Scope::Admin),
            _ => None,
        };
        scope.ok_or_else(|| CorruptOwner {
            id: self.id,
            role: self.owner_role.clone(),
            owner: self.owner_id.clone(),
        })
    }

    /// The event types it receives.
    pub fn type_list(&self) -> Vec<String> {
        self.types
            .split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// The owner columns of a scope.
fn owner_columns(scope: Scope) -> (&'static str, Option<String>) {
    match scope {
        Scope::Employer(id) => ("employer", Some(id.to_string())),
        Scope::Funder(id) => ("funder", Some(id.to_string())),
        Scope::Mission => ("mission", None),
        Scope::Admin => ("admin", None),
    }
}

/// A boxed query over the webhooks of one scope.
fn owned(scope: Scope) -> webhooks::BoxedQuery<'static, super::MultiBackend> {
    let (role, id) = owner_columns(scope);
    let query = webhooks::table
        .filter(webhooks::owner_role.eq(role))
        .into_boxed();
    match id {
        Some(id) => query.filter(webhooks::owner_id.eq(id)),
        None => query,
    }
}

/// A webhook to create.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    /// Its id.
    pub id: WebhookId,
    /// The scope it belongs to.
    pub owner: Scope,
    /// Where it is delivered.
    pub url: String,
    /// The event types it receives.
    pub types: Vec<String>,
    /// What it is for.
    pub description: Option<String>,
    /// Its secret, `whsec_…`.
    pub secret: String,
}

/// Records a webhook. It receives the events recorded after it.
pub fn create(
    conn: &mut DbConnection,
    new: &NewWebhook,
    by: &Recorder,
    now: OffsetDateTime,
) -> QueryResult<WebhookRow> {
    let (role, owner_id) = owner_columns(new.owner);
    let at = format_timestamp(now);
    let after = events::last_seq(conn)?;
    diesel::insert_into(webhooks::table)
        .values((
            webhooks::id.eq(&new.id),
            webhooks::owner_role.eq(role),
            webhooks::owner_id.eq(owner_id),
            webhooks::url.eq(&new.url),
            webhooks::types.eq(new.types.join(",")),
            webhooks::description.eq(&new.description),
            webhooks::enabled.eq(true),
            webhooks::secret.eq(&new.secret),
            webhooks::after_seq.eq(after),
            webhooks::created_at.eq(&at),
            webhooks::updated_at.eq(&at),
            crate::recorded_by!(webhooks, by),
        ))
        .execute(conn)?;
    find(conn, new.id)?.ok_or(diesel::result::Error::NotFound)
}

fn find(conn: &mut DbConnection, id: WebhookId) -> QueryResult<Option<WebhookRow>> {
    webhooks::table
        .find(id)
        .select(WebhookRow::as_select())
        .first(conn)
        .optional()
}

/// How many webhooks a scope has.
pub fn count_owned(conn: &mut DbConnection, scope: Scope) -> QueryResult<i64> {
    owned(scope).count().get_result(conn)
}

/// A scope's webhook, if it has this one.
pub fn find_owned(
    conn: &mut DbConnection,
    scope: Scope,
    id: WebhookId,
) -> QueryResult<Option<WebhookRow>> {
    owned(scope)
        .filter(webhooks::id.eq(id))
        .select(WebhookRow::as_select())
        .first(conn)
        .optional()
}

/// A page of a scope's webhooks, by id, after `after`.
pub fn list_owned(
    conn: &mut DbConnection,
    scope: Scope,
    after: Option<String>,
    limit: i64,
) -> QueryResult<Vec<WebhookRow>> {
    let mut query = owned(scope)
        .order(webhooks::id)
        .limit(limit)
        .select(WebhookRow::as_select());
    if let Some(after) = after {
        query = query.filter(webhooks::id.gt(after));
    }
    query.load(conn)
}

/// What a `PATCH` changes.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    /// A new URL.
    pub url: Option<String>,
    /// New event types.
    pub types: Option<Vec<String>>,
    /// A new description (`Some(None)` removes it).
    pub description: Option<Option<String>>,
    /// Enabled or disabled by its owner.
    pub enabled: Option<bool>,
}

/// Applies changes to a webhook. Enabling it again clears why it was disabled and starts its
/// feed at the events recorded from then on (what was already queued is still delivered).
pub fn update(
    conn: &mut DbConnection,
    row: &WebhookRow,
    changes: Changes,
    now: OffsetDateTime,
) -> QueryResult<WebhookRow> {
    let at = format_timestamp(now);
    let enabled = changes.enabled.unwrap_or(row.enabled);
    let (reason, failing_since, after_seq) = match (row.enabled, enabled) {
        (false, true) => (None, None, events::last_seq(conn)?),
        (true, false) => (
            Some("by_owner".to_owned()),
            row.failing_since.clone(),
            row.after_seq,
        ),
        _ => (
            row.disabled_reason.clone(),
            row.failing_since.clone(),
            row.after_seq,
        ),
    };
    diesel::update(webhooks::table.find(&row.id))
        .set((
            webhooks::url.eq(changes.url.unwrap_or_else(|| row.url.clone())),
            webhooks::types.eq(changes
                .types
                .map_or_else(|| row.types.clone(), |t| t.join(","))),
            webhooks::description.eq(changes
                .description
                .unwrap_or_else(|| row.description.clone())),
            webhooks::enabled.eq(enabled),
            webhooks::disabled_reason.eq(reason),
            webhooks::failing_since.eq(failing_since),
            webhooks::after_seq.eq(after_seq),
            webhooks::version.eq(row.version + 1),
            webhooks::updated_at.eq(&at),
        ))
        .execute(conn)?;
    find(conn, row.id)?.ok_or(diesel::result::Error::NotFound)
}

/// Replaces a webhook's secret; the old one keeps signing until `overlap_until`.
pub fn rotate(
    conn: &mut DbConnection,
    row: &WebhookRow,
    new_secret: &str,
    now: OffsetDateTime,
    overlap_until: OffsetDateTime,
) -> QueryResult<WebhookRow> {
    diesel::update(webhooks::table.find(&row.id))
        .set((
            webhooks::secret.eq(new_secret),
            webhooks::previous_secret.eq(&row.secret),
            webhooks::previous_secret_until.eq(format_timestamp(overlap_until)),
            webhooks::version.eq(row.version + 1),
            webhooks::updated_at.eq(format_timestamp(now)),
        ))
        .execute(conn)?;
    find(conn, row.id)?.ok_or(diesel::result::Error::NotFound)
}

/// Removes a webhook and its deliveries, and forgets the idempotency key that created it: a
/// client retrying that creation after the deletion must not be answered a webhook that no
/// longer exists (webhooks are the one resource that can be deleted).
pub fn delete(conn: &mut DbConnection, row: &WebhookRow) -> QueryResult<()> {
    use super::schema::idempotency_keys;
    diesel::delete(
        idempotency_keys::table
            .filter(idempotency_keys::response_location.eq(format!("/v1/webhooks/{}", row.id))),
    )
    .execute(conn)?;
    diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::webhook_id.eq(&row.id)))
        .execute(conn)?;
    diesel::delete(webhooks::table.find(&row.id)).execute(conn)?;
    Ok(())
}

/// A delivery as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries)]
pub struct DeliveryRow {
    /// Its place in the webhook's queue.
    pub seq: i64,
    /// Its id.
    pub id: DeliveryId,
    /// The webhook.
    pub webhook_id: WebhookId,
    /// The `webhook-id` it is sent under: the event's id.
    pub message_id: EventId,
    /// The event type.
    pub kind: String,
    /// The body sent, the same on every attempt.
    pub payload: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made.
    pub attempts: i32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<String>,
    /// When the last attempt was made.
    pub last_attempt_at: Option<String>,
    /// The status the receiver answered last.
    pub response_status: Option<i32>,
    /// Why the last attempt failed, when it had no answer.
    pub error: Option<String>,
    /// When it was queued.
    pub created_at: String,
}

fn queue(
    conn: &mut DbConnection,
    webhook_id: WebhookId,
    message_id: EventId,
    kind: &str,
    payload: &str,
    now: &str,
) -> QueryResult<DeliveryId> {
    let id = DeliveryId::generate();
    diesel::insert_into(webhook_deliveries::table)
        .values((
            webhook_deliveries::id.eq(id),
            webhook_deliveries::webhook_id.eq(webhook_id),
            webhook_deliveries::message_id.eq(message_id),
            webhook_deliveries::kind.eq(kind),
            webhook_deliveries::payload.eq(payload),
            webhook_deliveries::status.eq("pending"),
            webhook_deliveries::attempts.eq(0),
            webhook_deliveries::next_attempt_at.eq(now),
            webhook_deliveries::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}

/// The Standard Webhooks body of a message: `{"type", "timestamp", "data"}`.
#[derive(Serialize)]
struct Message<'a, D: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    timestamp: &'a str,
    data: D,
}

impl<D: Serialize> Message<'_, D> {
    fn body(&self) -> QueryResult<String> {
        serde_json::to_string(self)
            .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))
    }
}

/// `webhook.test`'s data.
#[derive(Serialize)]
struct TestData {
    webhook_id: WebhookId,
    message: &'static str,
}

/// The Standard Webhooks body of an event as a webhook's owner sees it.
pub fn payload_of(view: &EventView) -> QueryResult<String> {
    Message {
        kind: &view.kind,
        timestamp: &view.occurred_at,
        data: &view.data,
    }
    .body()
}

/// Queues a `webhook.test` message for a webhook, ahead of nothing: it waits its turn.
pub fn queue_test(
    conn: &mut DbConnection,
    row: &WebhookRow,
    now: OffsetDateTime,
) -> QueryResult<DeliveryRow> {
    let at = format_timestamp(now);
    let message_id = EventId::generate();
    let payload = Message {
        kind: "webhook.test",
        timestamp: &at,
        data: TestData {
            webhook_id: row.id,
            message: "test message from portage-ledger",
        },
    }
    .body()?;
    let id = queue(conn, row.id, message_id, "webhook.test", &payload, &at)?;
    find_delivery(conn, row.id, id)?.ok_or(diesel::result::Error::NotFound)
}

/// A webhook's delivery.
pub fn find_delivery(
    conn: &mut DbConnection,
    webhook_id: WebhookId,
    id: DeliveryId,
) -> QueryResult<Option<DeliveryRow>> {
    webhook_deliveries::table
        .filter(webhook_deliveries::webhook_id.eq(webhook_id))
        .filter(webhook_deliveries::id.eq(id))
        .select(DeliveryRow::as_select())
        .first(conn)
        .optional()
}

/// A page of a webhook's deliveries, newest first, before `before` (a `seq`).
pub fn deliveries(
    conn: &mut DbConnection,
    webhook_id: WebhookId,
    status: Option<String>,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<DeliveryRow>> {
    let mut query = webhook_deliveries::table
        .filter(webhook_deliveries::webhook_id.eq(webhook_id))
        .order(webhook_deliveries::seq.desc())
        .limit(limit)
        .select(DeliveryRow::as_select())
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(webhook_deliveries::status.eq(status));
    }
    if let Some(before) = before {
        query = query.filter(webhook_deliveries::seq.lt(before));
    }
    query.load(conn)
}

/// Sends a failed delivery again: pending, its attempts counted afresh, due now.
pub fn retry(
    conn: &mut DbConnection,
    delivery: &DeliveryRow,
    now: OffsetDateTime,
) -> QueryResult<DeliveryRow> {
    diesel::update(webhook_deliveries::table.find(delivery.seq))
        .set((
            webhook_deliveries::status.eq("pending"),
            webhook_deliveries::attempts.eq(0),
            webhook_deliveries::next_attempt_at.eq(format_timestamp(now)),
        ))
        .execute(conn)?;
    find_delivery(conn, delivery.webhook_id, delivery.id)?.ok_or(diesel::result::Error::NotFound)
}

/// The enabled webhooks, free of any lease at `now`, that have something to do: events
/// recorded after their feed, or a queue whose first delivery is due.
pub fn with_work(conn: &mut DbConnection, now: OffsetDateTime) -> QueryResult<Vec<WebhookId>> {
    let at = format_timestamp(now);
    let top = events::last_seq(conn)?;
    let candidates: Vec<(WebhookId, i64)> = webhooks::table
        .filter(webhooks::enabled.eq(true))
        .filter(
            webhooks::lease_until
                .is_null()
                .or(webhooks::lease_until.lt(&at)),
        )
        .select((webhooks::id, webhooks::after_seq))
        .load(conn)?;
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<WebhookId> = candidates.iter().map(|(id, _)| *id).collect();
    let heads: Vec<Option<i64>> = webhook_deliveries::table
        .filter(webhook_deliveries::webhook_id.eq_any(&ids))
        .filter(webhook_deliveries::status.eq("pending"))
        .group_by(webhook_deliveries::webhook_id)
        .select(diesel::dsl::min(webhook_deliveries::seq))
        .load(conn)?;
    let heads: Vec<i64> = heads.into_iter().flatten().collect();
    let due: HashMap<WebhookId, bool> = webhook_deliveries::table
        .filter(webhook_deliveries::seq.eq_any(&heads))
        .select((
            webhook_deliveries::webhook_id,
            webhook_deliveries::next_attempt_at,
        ))
        .load::<(WebhookId, Option<String>)>(conn)?
        .into_iter()
        .map(|(id, next)| (id, next.is_some_and(|n| n <= at)))
        .collect();
    Ok(candidates
        .into_iter()
        .filter(|(id, after)| *after < top || due.get(id).copied().unwrap_or(false))
        .map(|(id, _)| id)
        .collect())
}

/// Takes (or renews) the lease on a webhook until `until`, unless another holder's lease is
/// still running; answers whether `holder` now holds it. A conditional update: of two
/// servers, one wins.
pub fn take_lease(
    conn: &mut DbConnection,
    id: WebhookId,
    holder: &str,
    now: OffsetDateTime,
    until: OffsetDateTime,
) -> QueryResult<Option<WebhookRow>> {
    let at = format_timestamp(now);
    let taken = diesel::update(
        webhooks::table
            .filter(webhooks::id.eq(id))
            .filter(webhooks::enabled.eq(true))
            .filter(
                webhooks::lease_until
                    .is_null()
                    .or(webhooks::lease_until.lt(&at))
                    .or(webhooks::lease_owner.eq(holder)),
            ),
    )
    .set((
        webhooks::lease_owner.eq(holder),
        webhooks::lease_until.eq(format_timestamp(until)),
    ))
    .execute(conn)?;
    if taken == 1 {
        find(conn, id)
    } else {
        Ok(None)
    }
}

/// Gives the lease back.
pub fn release_lease(conn: &mut DbConnection, id: WebhookId, holder: &str) -> QueryResult<()> {
    diesel::update(
        webhooks::table
            .filter(webhooks::id.eq(id))
            .filter(webhooks::lease_owner.eq(holder)),
    )
    .set((
        webhooks::lease_owner.eq(None::<String>),
        webhooks::lease_until.eq(None::<String>),
    ))
    .execute(conn)?;
    Ok(())
}

/// Queues for a webhook the events recorded after its feed that its owner may see and that
/// are of its types, each as its owner's view; answers how many were queued. Run under the
/// webhook's lease, in a write transaction.
pub fn fan_out(
    conn: &mut DbConnection,
    row: &WebhookRow,
    now: OffsetDateTime,
) -> Result<usize, anyhow::Error> {
    let audience = Audience::from(row.owner()?);
    // Read before the page: every event up to `top` has committed (events commit in seq
    // order), so the feed may move to `top` when the page was not full.
    let top = events::last_seq(conn)?;
    if row.after_seq >= top {
        return Ok(0);
    }
    let types = row.type_list();
    let page = events::page(conn, audience, &types, row.after_seq, FAN_OUT_BATCH)?;
    let at = format_timestamp(now);
    let mut queued = 0;
    for event in &page {
        if let Some(view) = event.view(audience)? {
            queue(
                conn,
                row.id,
                event.id,
                &event.kind,
                &payload_of(&view)?,
                &at,
            )?;
            queued += 1;
        }
    }
    let last = page.last().map_or(row.after_seq, |e| e.seq);
    let after = if (page.len() as i64) < FAN_OUT_BATCH {
        last.max(top)
    } else {
        last
    };
    diesel::update(webhooks::table.find(&row.id))
        .set(webhooks::after_seq.eq(after))
        .execute(conn)?;
    Ok(queued)
}

/// The first delivery in a webhook's queue.
pub fn head(conn: &mut DbConnection, webhook_id: WebhookId) -> QueryResult<Option<DeliveryRow>> {
    webhook_deliveries::table
        .filter(webhook_deliveries::webhook_id.eq(webhook_id))
        .filter(webhook_deliveries::status.eq("pending"))
        .order(webhook_deliveries::seq)
        .select(DeliveryRow::as_select())
        .first(conn)
        .optional()
}

/// What one attempt came to, for the record.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    /// The receiver's status, when it answered.
    pub response_status: Option<u16>,
    /// Why there was no usable answer.
    pub error: Option<String>,
    /// What follows.
    pub next: Next,
}

/// Records an attempt on a delivery and what follows from it: delivered, retried, failed, or
/// the webhook disabled (410 at once; or when every attempt has failed for
/// [`crate::domain::webhooks::FAILING_LIMIT`]), with a `webhook.disabled` event.
pub fn record_attempt(
    conn: &mut DbConnection,
    webhook: &WebhookRow,
    delivery: &DeliveryRow,
    attempt: &AttemptRecord,
    now: OffsetDateTime,
) -> Result<(), anyhow::Error> {
    let at = format_timestamp(now);
    let (status, next_at) = match attempt.next {
        Next::Delivered => ("delivered", None),
        Next::RetryAfter(wait) => ("pending", Some(format_timestamp(now + wait))),
        Next::GiveUp | Next::Gone => ("failed", None),
    };
    diesel::update(webhook_deliveries::table.find(delivery.seq))
        .set((
            webhook_deliveries::status.eq(status),
            webhook_deliveries::attempts.eq(delivery.attempts + 1),
            webhook_deliveries::next_attempt_at.eq(next_at),
            webhook_deliveries::last_attempt_at.eq(&at),
            webhook_deliveries::response_status.eq(attempt.response_status.map(i32::from)),
            webhook_deliveries::error.eq(&attempt.error),
        ))
        .execute(conn)?;
    if attempt.next == Next::Delivered {
        diesel::update(webhooks::table.find(&webhook.id))
            .set(webhooks::failing_since.eq(None::<String>))
            .execute(conn)?;
        return Ok(());
    }
    let failing_since = webhook.failing_since.clone().unwrap_or_else(|| at.clone());
    let since = super::parse_timestamp(&failing_since).ok_or_else(|| {
        anyhow::anyhow!(
            "webhook {} holds failing_since {failing_since:?}, not a time",
            webhook.id
        )
    })?;
    // A clock set back makes the span negative: it is then no time at all.
    let failing_for = (now - since).try_into().unwrap_or_default();
    let reason = if attempt.next == Next::Gone {
        Some("gone")
    } else if crate::domain::webhooks::failing_too_long(failing_for) {
        Some("failing")
    } else {
        None
    };
    diesel::update(webhooks::table.find(&webhook.id))
        .set(webhooks::failing_since.eq(&failing_since))
        .execute(conn)?;
    if let Some(reason) = reason {
        disable(conn, webhook, reason, &failing_since, now)?;
    }
    Ok(())
}

/// Disables a webhook the service gave up on and records `webhook.disabled` for its owner.
fn disable(
    conn: &mut DbConnection,
    webhook: &WebhookRow,
    reason: &'static str,
    failing_since: &str,
    now: OffsetDateTime,
) -> Result<(), anyhow::Error> {
    let at = format_timestamp(now);
    diesel::update(webhooks::table.find(&webhook.id))
        .set((
            webhooks::enabled.eq(false),
            webhooks::disabled_reason.eq(reason),
            webhooks::version.eq(webhook.version + 1),
            webhooks::updated_at.eq(&at),
        ))
        .execute(conn)?;
    let (employer_id, funders) = match webhook.owner()? {
        Scope::Employer(id) => (Some(id), Vec::new()),
        Scope::Funder(id) => (None, vec![id]),
        Scope::Mission | Scope::Admin => (None, Vec::new()),
    };
    tracing::warn!(webhook = %webhook.id, url = %webhook.url, reason, "webhook disabled");
    events::record(
        conn,
        &[NewEvent {
            employer_id,
            funders,
            data: EventData::WebhookDisabled(WebhookDisabled {
                webhook_id: webhook.id,
                url: webhook.url.clone(),
                reason,
                failing_since: failing_since.to_owned(),
                disabled_at: at.clone(),
            }),
            once_key: None,
        }],
    )?;
    Ok(())
}
