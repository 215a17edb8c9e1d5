//! What every request handler shares: the pools, the write path, and the settings read at
//! start-up. Handlers reach the database only through [`AppState::with_connection`] and
//! [`AppState::with_write_connection`], which run diesel on the blocking pool.

use crate::db::{self, DbConnection, Pool, Pools};
use crate::error::ApiError;
use crate::{auth, delivery, openapi_document};
use actix_web::web;
use std::sync::Arc;

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The pool for reads.
    pub pool: Pool,
    /// The pool for write transactions (the same pool on PostgreSQL).
    pub write_pool: Pool,
    /// On SQLite with a single writer, the group-commit queue every write goes through.
    pub write_queue: Option<db::write_queue::WriteQueue>,
    /// On PostgreSQL, the group commit single costs go through.
    pub cost_writer: Option<db::cost_writer::CostWriter>,
    /// The OpenAPI document, parsed once at start-up.
    pub openapi: Arc<serde_json::Value>,
    /// The parties tokens were found to name (the check runs on every request).
    pub parties: auth::KnownParties,
    /// What exports may take: their share of the pool, and how long a client may stall.
    pub exports: ExportLimits,
    /// Which webhook targets are accepted (and how deliveries are made).
    pub webhooks: delivery::DeliverySettings,
    /// How long an in-flight idempotency key blocks its replays before it counts as abandoned.
    pub abandon_after_seconds: i64,
}

/// The limits of export downloads, which hold a connection while their client reads.
#[derive(Clone)]
pub struct ExportLimits {
    /// Exports running at once: half the read pool (at least one), so that the rest of the
    /// service always finds connections.
    pub slots: Arc<tokio::sync::Semaphore>,
    /// How long an export waits for a client that stopped reading before giving it up.
    pub idle: std::time::Duration,
    /// What a page of an export reads at once. A page holds every line of its entries, and a
    /// call's entry has a line per post called: 2,000 entries a page made an export of the
    /// 1.36-million-line bench ledger peak at 380 MB, 250 entries (some 70,000 lines of calls)
    /// at 130-180 MB; a bound on lines keeps a page to a few megabytes whatever its entries.
    pub page_size: db::exports::PageSize,
}

impl AppState {
    /// A state over the pools, with the OpenAPI document parsed. With `group_commit`, writes
    /// go through a [`db::write_queue::WriteQueue`] on the write pool (SQLite with one writer).
    pub fn new(pools: Pools, group_commit: bool) -> anyhow::Result<AppState> {
        let write_queue = if group_commit {
            Some(db::write_queue::WriteQueue::start(pools.write.clone())?)
        } else {
            None
        };
        let cost_writer = if pools.is_postgres() {
            Some(db::cost_writer::CostWriter::start(pools.write.clone())?)
        } else {
            None
        };
        let exports = ExportLimits {
            slots: Arc::new(tokio::sync::Semaphore::new(
                (pools.read.max_size() as usize / 2).max(1),
            )),
            idle: std::time::Duration::from_secs(30),
            page_size: db::exports::PageSize {
                entries: 250,
                lines: 5_000,
            },
        };
        Ok(AppState {
            pool: pools.read,
            write_pool: pools.write,
            write_queue,
            cost_writer,
            openapi: Arc::new(openapi_document()?),
            parties: auth::KnownParties::default(),
            exports,
            webhooks: delivery::DeliverySettings::default(),
            abandon_after_seconds: db::idempotency::ABANDONED_AFTER_SECONDS,
        })
    }

    /// Runs reads with a pooled connection on the blocking thread pool, inside the current
    /// tracing span. Diesel is synchronous: it never runs on an async worker.
    pub async fn with_connection<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        Self::on_pool(self.pool.clone(), work).await
    }

    /// Runs a write transaction's work with a connection of the write pool.
    pub async fn with_write_connection<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        match &self.write_queue {
            Some(queue) => queue.run(work).await,
            None => Self::on_pool(self.write_pool.clone(), work).await,
        }
    }

    async fn on_pool<T, F>(pool: Pool, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let span = tracing::Span::current();
        web::block(move || {
            span.in_scope(|| {
                let mut conn = pool.get()?;
                let result = work(&mut conn);
                if result.is_err() {
                    db::drop_if_dead(&mut conn);
                }
                result
            })
        })
        .await?
    }
}
