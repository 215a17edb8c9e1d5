//! portage-ledger: the system of record for co-funded social-mediation posts.
//!
//! `lib.rs` builds the HTTP application from an [`AppState`]; `main.rs` only reads the
//! configuration and starts it, so the integration tests run the very same server.

pub mod auth;
pub mod config;
pub mod db;
pub mod delivery;
pub mod demo;
pub mod domain;
pub mod error;
pub mod http;
pub mod state;

pub use state::{AppState, ExportLimits};

use crate::auth::TokenKeys;
use actix_web::{web, App, HttpServer};
use std::net::TcpListener;

/// The OpenAPI document, as written in `openapi/openapi.yaml`.
pub const OPENAPI_YAML: &str = include_str!("../openapi/openapi.yaml");

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
    /// The largest import file, in bytes.
    pub max_import_bytes: usize,
    /// How long a client may take to send a body (six times as long for an import).
    pub body_timeout: std::time::Duration,
    /// How long an export waits for a client that stopped reading.
    pub export_idle: std::time::Duration,
}

/// Builds the server on a bound listener (port 0 in tests). The caller awaits or spawns it.
pub fn build_server(
    mut state: AppState,
    keys: TokenKeys,
    listener: TcpListener,
    settings: ServerSettings,
) -> std::io::Result<actix_web::dev::Server> {
    state.exports.idle = settings.export_idle;
    let state = web::Data::new(state);
    let keys = web::Data::new(keys);
    let metrics = web::Data::new(http::ops::Metrics::default());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(keys.clone())
            .app_data(metrics.clone())
            .app_data(http::extract::BodyLimit(settings.max_body_bytes))
            .app_data(http::imports::ImportLimit(settings.max_import_bytes))
            .app_data(http::extract::BodyTimeout(settings.body_timeout))
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
