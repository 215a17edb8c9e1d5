//! Every setting, each from one documented environment variable.

use crate::db::{DatabaseUrl, PoolSettings};
use std::time::Duration;

/// The settings of a server process.
#[derive(Debug, Clone)]
pub struct Config {
    /// `PORTAGE_DATABASE_URL`: `sqlite://PATH` (default `sqlite://portage.db`) or `postgres://…`.
    pub database_url: DatabaseUrl,
    /// `PORTAGE_BIND`: the listen address (default `127.0.0.1:8080`).
    pub bind: String,
    /// `PORTAGE_JWT_SECRET`: the HS256 secret; `serve` refuses to start without it unless
    /// `--demo` is given.
    pub jwt_secret: Option<String>,
    /// `PORTAGE_DB_POOL_SIZE` (default 8), `PORTAGE_DB_TIMEOUT_MS` (default 5000) and
    /// `PORTAGE_SQLITE_WRITERS` (default 1).
    pub pool: PoolSettings,
    /// `PORTAGE_MAX_BODY_BYTES`: the largest request body accepted (default 65536).
    pub max_body_bytes: usize,
    /// `PORTAGE_MAX_IMPORT_BYTES`: the largest import file accepted (default 8 MiB).
    pub max_import_bytes: usize,
    /// `PORTAGE_BODY_TIMEOUT_MS`: how long a client may take to send a body (default 10000).
    pub body_timeout: Duration,
    /// `PORTAGE_EXPORT_IDLE_MS`: how long an export waits for a client that stopped reading
    /// (default 30000).
    pub export_idle: Duration,
    /// `PORTAGE_WORKERS`: HTTP worker threads (default: one per core).
    pub workers: usize,
    /// `PORTAGE_WEBHOOK_ALLOW_HTTP`, `PORTAGE_WEBHOOK_ALLOW_PRIVATE` (`1` to allow; both off by
    /// default), `PORTAGE_WEBHOOK_TIMEOUT_MS` (at most and by default 15000) and
    /// `PORTAGE_WEBHOOK_POLL_MS` (default 1000).
    pub webhooks: crate::delivery::DeliverySettings,
    /// `PORTAGE_IDEMPOTENCY_ABANDON_SECONDS`: how long a key claimed by a request that never
    /// answered (its server died) blocks its replays before one may take it over (default 120).
    pub abandon_after_seconds: i64,
}

/// The default database when `PORTAGE_DATABASE_URL` is unset.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://portage.db";
/// The default database of `serve --demo`.
pub const DEMO_DATABASE_URL: &str = "sqlite://portage-demo.db";
/// The default listen address.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn number<T: std::str::FromStr>(
    name: &str,
    default: T,
    valid: impl Fn(&T) -> bool,
) -> Result<T, String> {
    match var(name) {
        None => Ok(default),
        Some(text) => text
            .trim()
            .parse()
            .ok()
            .filter(|v| valid(v))
            .ok_or_else(|| format!("{name}={text:?} is not a valid value")),
    }
}

/// A switch: unset, empty or `0` is off, `1` is on; anything else is refused rather than
/// guessed at.
fn flag(name: &str) -> Result<bool, String> {
    match var(name).as_deref().map(str::trim) {
        None | Some("0") => Ok(false),
        Some("1") => Ok(true),
        Some(other) => Err(format!("{name}={other:?} must be 1 or 0")),
    }
}

impl Config {
    /// Reads the environment. `default_database` is used when `PORTAGE_DATABASE_URL` is unset.
    pub fn from_env(default_database: &str) -> Result<Config, String> {
        let url = var("PORTAGE_DATABASE_URL").unwrap_or_else(|| default_database.to_owned());
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Config {
            database_url: DatabaseUrl::parse(&url)?,
            bind: var("PORTAGE_BIND").unwrap_or_else(|| DEFAULT_BIND.to_owned()),
            jwt_secret: var("PORTAGE_JWT_SECRET"),
            pool: PoolSettings {
                max_size: number("PORTAGE_DB_POOL_SIZE", 8, |n: &u32| (1..=256).contains(n))?,
                connection_timeout: Duration::from_millis(number(
                    "PORTAGE_DB_TIMEOUT_MS",
                    5_000,
                    |n: &u64| (100..=120_000).contains(n),
                )?),
                sqlite_writers: number("PORTAGE_SQLITE_WRITERS", 1, |n: &u32| {
                    (1..=64).contains(n)
                })?,
            },
            max_body_bytes: number("PORTAGE_MAX_BODY_BYTES", 65_536, |n: &usize| {
                (1_024..=16 * 1_048_576).contains(n)
            })?,
            max_import_bytes: number("PORTAGE_MAX_IMPORT_BYTES", 8 * 1_048_576, |n: &usize| {
                (1_024..=256 * 1_048_576).contains(n)
            })?,
            body_timeout: Duration::from_millis(number(
                "PORTAGE_BODY_TIMEOUT_MS",
                10_000,
                |n: &u64| (100..=600_000).contains(n),
            )?),
            export_idle: Duration::from_millis(number(
                "PORTAGE_EXPORT_IDLE_MS",
                30_000,
                |n: &u64| (100..=3_600_000).contains(n),
            )?),
            workers: number("PORTAGE_WORKERS", cores, |n: &usize| (1..=256).contains(n))?,
            webhooks: crate::delivery::DeliverySettings {
                allow_http: flag("PORTAGE_WEBHOOK_ALLOW_HTTP")?,
                allow_private: flag("PORTAGE_WEBHOOK_ALLOW_PRIVATE")?,
                timeout: Duration::from_millis(number(
                    "PORTAGE_WEBHOOK_TIMEOUT_MS",
                    15_000,
                    |n: &u64| (100..=15_000).contains(n),
                )?),
                poll: Duration::from_millis(number(
                    "PORTAGE_WEBHOOK_POLL_MS",
                    1_000,
                    |n: &u64| (50..=60_000).contains(n),
                )?),
            },
            abandon_after_seconds: number(
                "PORTAGE_IDEMPOTENCY_ABANDON_SECONDS",
                crate::db::idempotency::ABANDONED_AFTER_SECONDS,
                |n: &i64| (1..=86_400).contains(n),
            )?,
        })
    }

    /// Whether the database URL was set explicitly.
    pub fn database_url_is_set() -> bool {
        var("PORTAGE_DATABASE_URL").is_some()
    }
}
