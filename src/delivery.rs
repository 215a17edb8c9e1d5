//! Webhook delivery: queues each webhook's events and sends them, Standard Webhooks 1.0
//! signed, one at a time per webhook, in order, at least once, with retries on the schedule
//! of [`crate::domain::webhooks`]. Every step is recorded in the database before the next, so
//! that a server killed mid-delivery loses nothing: the webhook's lease runs out and the next
//! server sends the same message again under the same `webhook-id`.

use crate::db::webhooks::{self as store, AttemptRecord, DeliveryRow, WebhookRow};
use crate::db::{self, Pool};
use crate::domain::ids::WebhookId;
use crate::domain::webhooks::{self as rules, Attempt, Next, Secret};
use std::cell::RefCell;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// Where time comes from: the system clock in service, a set one in tests (the retry schedule
/// is checked by moving the clock, not by sleeping).
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// How deliveries are made (from `PORTAGE_WEBHOOK_*`).
#[derive(Debug, Clone, Copy)]
pub struct DeliverySettings {
    /// `PORTAGE_WEBHOOK_ALLOW_HTTP=1`: plain `http` targets are accepted.
    pub allow_http: bool,
    /// `PORTAGE_WEBHOOK_ALLOW_PRIVATE=1`: private, loopback and link-local targets are accepted.
    pub allow_private: bool,
    /// How long one attempt may take (15 s; `PORTAGE_WEBHOOK_TIMEOUT_MS` shortens it for tests).
    pub timeout: Duration,
    /// How often the queues are looked at (`PORTAGE_WEBHOOK_POLL_MS`, default 1000).
    pub poll: Duration,
}

impl Default for DeliverySettings {
    fn default() -> DeliverySettings {
        DeliverySettings {
            allow_http: false,
            allow_private: false,
            timeout: rules::ATTEMPT_TIMEOUT,
            poll: Duration::from_secs(1),
        }
    }
}

/// Beyond an attempt's time-out, how long a lease outlives it: a server that holds a webhook
/// and dies gives it up this long after its attempt would have timed out.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// Delivers the webhooks of one database. Runs on an actix system (its HTTP client is not
/// `Send`); its database work runs on the blocking pool.
pub struct Deliverer {
    pool: Pool,
    settings: DeliverySettings,
    clock: Arc<dyn Clock>,
    holder: String,
    client: awc::Client,
    busy: Rc<RefCell<HashSet<WebhookId>>>,
}

/// Runs database work on the blocking pool with a connection of `pool`.
async fn on_connection<T, F>(pool: &Pool, work: F) -> anyhow::Result<T>
where
    F: FnOnce(&mut db::DbConnection) -> anyhow::Result<T> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    actix_web::web::block(move || {
        let mut conn = pool.get()?;
        work(&mut conn)
    })
    .await?
}

/// Runs database work on the blocking pool, in a write transaction.
async fn in_transaction<T, F>(pool: &Pool, work: F) -> anyhow::Result<T>
where
    F: FnOnce(&mut db::DbConnection) -> anyhow::Result<T> + Send + 'static,
    T: Send + 'static,
{
    on_connection(pool, |conn| db::write_transaction(conn, work)).await
}

impl Deliverer {
    /// A deliverer over the write pool.
    pub fn new(pool: Pool, settings: DeliverySettings, clock: Arc<dyn Clock>) -> Deliverer {
        let client = awc::Client::builder()
            .disable_redirects()
            .timeout(settings.timeout)
            .add_default_header((
                "User-Agent",
                concat!("portage-ledger/", env!("CARGO_PKG_VERSION")),
            ))
            .finish();
        Deliverer {
            pool,
            settings,
            clock,
            holder: uuid::Uuid::new_v4().to_string(),
            client,
            busy: Rc::default(),
        }
    }

    /// Runs for ever: looks at the queues every `poll`.
    pub async fn run(self) {
        let this = Rc::new(self);
        loop {
            if let Err(error) = this.tick().await {
                tracing::warn!(error = %crate::error::CauseChain(&error), "webhook delivery pass failed");
            }
            actix_web::rt::time::sleep(this.settings.poll).await;
        }
    }

    /// One pass: every webhook with something to do (and not already being served by this
    /// deliverer) queues its new events and sends what is due, webhooks side by side. Answers
    /// how many attempts were made.
    pub async fn tick(&self) -> anyhow::Result<usize> {
        let now = self.clock.now();
        // Only reads: an idle poll must not take SQLite's write lock every second.
        let ids = on_connection(&self.pool, move |conn| Ok(store::with_work(conn, now)?)).await?;
        let ids: Vec<WebhookId> = ids
            .into_iter()
            .filter(|id| self.busy.borrow_mut().insert(*id))
            .collect();
        let passes = ids.iter().map(|&id| async move {
            let result = self.serve(id).await;
            self.busy.borrow_mut().remove(&id);
            result.unwrap_or_else(|error| {
                tracing::warn!(webhook = %id, error = %crate::error::CauseChain(&error), "webhook pass failed");
                0
            })
        });
        Ok(futures_util::future::join_all(passes)
            .await
            .into_iter()
            .sum())
    }

    fn lease_until(&self, now: OffsetDateTime) -> OffsetDateTime {
        now + self.settings.timeout + LEASE_MARGIN
    }

    /// Serves one webhook under its lease: sends its due deliveries in order until one is not
    /// due or fails, then gives the lease back.
    async fn serve(&self, id: WebhookId) -> anyhow::Result<usize> {
        let attempts = self.send_due(id).await;
        let holder = self.holder.clone();
        in_transaction(&self.pool, move |conn| {
            Ok(store::release_lease(conn, id, &holder)?)
        })
        .await?;
        attempts
    }

    async fn send_due(&self, id: WebhookId) -> anyhow::Result<usize> {
        let mut attempts = 0;
        loop {
            let now = self.clock.now();
            let until = self.lease_until(now);
            let holder = self.holder.clone();
            // Before each attempt: take or renew the lease (another server may have taken the
            // webhook if this one stalled), queue the events recorded since, read the head.
            let next = in_transaction(&self.pool, move |conn| {
                let Some(row) = store::take_lease(conn, id, &holder, now, until)? else {
                    return Ok(None);
                };
                let queued = store::fan_out(conn, &row, now)?;
                if queued > 0 {
                    tracing::debug!(webhook = %row.id, queued, "events queued for a webhook");
                }
                Ok(store::head(conn, row.id)?.map(|head| (row, head)))
            })
            .await?;
            let Some((webhook, delivery)) = next else {
                return Ok(attempts);
            };
            let due = delivery
                .next_attempt_at
                .as_deref()
                .is_some_and(|at| at <= db::format_timestamp(now).as_str());
            if !due {
                return Ok(attempts);
            }
            let record = self.attempt(&webhook, &delivery).await;
            attempts += 1;
            let stop = record.next != Next::Delivered;
            tracing::info!(
                webhook = %webhook.id,
                event_id = %delivery.message_id,
                r#type = %delivery.kind,
                attempt = delivery.attempts + 1,
                status = ?record.response_status,
                error = ?record.error,
                next = ?record.next,
                "webhook attempt"
            );
            let at = self.clock.now();
            let (hook, sent) = (webhook.clone(), delivery.clone());
            in_transaction(&self.pool, move |conn| {
                store::record_attempt(conn, &hook, &sent, &record, at)
            })
            .await?;
            if stop {
                // A failed head waits for its retry; a given-up one lets the next go on the
                // next pass, after the webhook's state (perhaps disabled) is read again.
                return Ok(attempts);
            }
        }
    }

    /// The secrets that sign now: the current one, and the previous one during its overlap.
    fn secrets(webhook: &WebhookRow, now: OffsetDateTime) -> Vec<Secret> {
        let mut secrets: Vec<Secret> = Secret::parse(&webhook.secret).into_iter().collect();
        let overlapping = webhook
            .previous_secret_until
            .as_deref()
            .is_some_and(|until| db::format_timestamp(now).as_str() < until);
        if overlapping {
            secrets.extend(webhook.previous_secret.as_deref().and_then(Secret::parse));
        }
        secrets
    }

    /// The address to connect to: the URL's host resolved here, every address it resolves to
    /// checked (a name that resolves to a private address is refused however public it looks).
    async fn address(&self, target: &rules::Target) -> Result<SocketAddr, String> {
        let addresses: Vec<SocketAddr> =
            tokio::net::lookup_host((target.host.as_str(), target.port))
                .await
                .map_err(|e| format!("cannot resolve {}: {e}", target.host))?
                .collect();
        if !self.settings.allow_private {
            if let Some(private) = addresses.iter().find(|a| !rules::is_public(a.ip())) {
                return Err(format!(
                    "{} resolves to {}, a private, loopback or link-local address",
                    target.host,
                    private.ip()
                ));
            }
        }
        addresses
            .first()
            .copied()
            .ok_or_else(|| format!("{} resolves to no address", target.host))
    }

    /// One attempt: what the receiver answered, or why it did not.
    async fn attempt(&self, webhook: &WebhookRow, delivery: &DeliveryRow) -> AttemptRecord {
        let outcome = self.post(webhook, delivery).await;
        let attempts = u32::try_from(delivery.attempts).unwrap_or(u32::MAX - 1) + 1;
        match outcome {
            Ok((status, retry_after)) => AttemptRecord {
                response_status: Some(status),
                error: None,
                next: rules::next_step(
                    attempts,
                    &Attempt::Answered {
                        status,
                        retry_after,
                    },
                ),
            },
            Err(error) => AttemptRecord {
                response_status: None,
                next: rules::next_step(attempts, &Attempt::NoAnswer),
                error: Some(error),
            },
        }
    }

    async fn post(
        &self,
        webhook: &WebhookRow,
        delivery: &DeliveryRow,
    ) -> Result<(u16, Option<Duration>), String> {
        let target = rules::check_url(
            &webhook.url,
            self.settings.allow_http,
            self.settings.allow_private,
        )?;
        let address = self.address(&target).await?;
        let now = self.clock.now();
        let timestamp = now.unix_timestamp();
        let signature = rules::signature_header(
            &Self::secrets(webhook, now),
            &delivery.message_id.to_string(),
            timestamp,
            delivery.payload.as_bytes(),
        );
        let mut response = self
            .client
            .post(&webhook.url)
            .address(address)
            .insert_header(("Content-Type", "application/json"))
            .insert_header(("webhook-id", delivery.message_id.to_string()))
            .insert_header(("webhook-timestamp", timestamp.to_string()))
            .insert_header(("webhook-signature", signature))
            .send_body(delivery.payload.clone())
            .await
            .map_err(|e| format!("no answer from {}: {e}", target.host))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, now));
        // Read (a bounded part of) the body so that the connection is left clean; what it says
        // is not used.
        let _ = actix_web::rt::time::timeout(
            self.settings.timeout,
            response.body().limit(rules::MAX_RESPONSE_BYTES),
        )
        .await;
        Ok((status, retry_after))
    }
}

/// A `Retry-After` value: seconds, or an HTTP date.
fn retry_after(value: &str, now: OffsetDateTime) -> Option<Duration> {
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date: actix_web::http::header::HttpDate = value.trim().parse().ok()?;
    let at = std::time::SystemTime::from(date);
    at.duration_since(std::time::SystemTime::from(now)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = time::macros::datetime!(2026-12-02 10:00 UTC);
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Wed, 02 Dec 2026 10:01:30 GMT", now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("Wed, 02 Dec 2026 09:00:00 GMT", now), None);
    }
}
