//! portage-ledger: the system of record for co-funded social-mediation posts.
//!
//! `lib.rs` builds the HTTP application from an [`AppState`]; `main.rs` only reads the
//! configuration and starts it, so the integration tests run the very same server.

pub mod auth;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
pub mod http;

use crate::auth::TokenKeys;
use crate::db::{DbConnection, Pool};
use crate::error::ApiError;
use actix_web::{web, App, HttpServer};
use std::net::TcpListener;
use std::sync::Arc;

/// The OpenAPI document, as written in `openapi/openapi.yaml`.
pub const OPENAPI_YAML: &str = include_str!("../openapi/openapi.yaml");

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The database pool.
    pub pool: Pool,
    /// The OpenAPI document, parsed once at start-up.
    pub openapi: Arc<serde_json::Value>,
}

impl AppState {
    /// A state over a pool, with the OpenAPI document parsed.
    pub fn new(pool: Pool) -> anyhow::Result<AppState> {
        Ok(AppState {
            pool,
            openapi: Arc::new(openapi_document()?),
        })
    }

    /// Runs `work` with a pooled connection on the blocking thread pool, inside the current
    /// tracing span. Diesel is synchronous: it never runs on an async worker.
    pub async fn with_connection<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        let span = tracing::Span::current();
        web::block(move || {
            span.in_scope(|| {
                let mut conn = pool.get()?;
                work(&mut conn)
            })
        })
        .await?
    }
}

/// Parses the OpenAPI document.
pub fn openapi_document() -> anyhow::Result<serde_json::Value> {
    Ok(serde_yaml_ng::from_str(OPENAPI_YAML)?)
}

/// Settings of the HTTP server.
#[derive(Debug, Clone, Copy)]
pub struct ServerSettings {
    /// Worker threads.
    pub workers: usize,
    /// The largest request body, in bytes.
    pub max_body_bytes: usize,
}

/// Builds the server on a bound listener (port 0 in tests). The caller awaits or spawns it.
pub fn build_server(
    state: AppState,
    keys: TokenKeys,
    listener: TcpListener,
    settings: ServerSettings,
) -> std::io::Result<actix_web::dev::Server> {
    let state = web::Data::new(state);
    let keys = web::Data::new(keys);
    let metrics = web::Data::new(http::ops::Metrics::default());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(keys.clone())
            .app_data(metrics.clone())
            .app_data(http::extract::BodyLimit(settings.max_body_bytes))
            .app_data(web::PayloadConfig::new(settings.max_body_bytes))
            .configure(http::routes)
            .default_service(web::to(http::ops::no_route))
            .wrap(actix_web::middleware::from_fn(http::ops::observe))
    })
    .workers(settings.workers)
    .listen(listener)?
    .run();
    Ok(server)
}
