//! The `portage-ledger` binary: reads the configuration and starts the service. Everything
//! else lives in the library, so that the tests run the same server.

use anyhow::Context;
use clap::{Parser, Subcommand};
use portage_ledger::auth::{now_seconds, Claims, TokenKeys};
use portage_ledger::config::{self, Config};
use portage_ledger::db::idempotency::purge_expired;
use portage_ledger::db::{self, DatabaseUrl};
use portage_ledger::delivery::{Deliverer, SystemClock};
use portage_ledger::error::CauseChain;
use portage_ledger::{build_server, demo, AppState, ServerSettings};
use std::net::TcpListener;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "portage-ledger",
    version,
    about = "System of record for co-funded mediation posts"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the HTTP service (migrations are applied first).
    Serve {
        /// Loads the demonstration data set into a fresh database and prints a token per role.
        #[arg(long)]
        demo: bool,
    },
    /// Applies the pending migrations and exits.
    Migrate,
    /// Prints a signed token (needs PORTAGE_JWT_SECRET).
    Token {
        /// employer, funder, mission or admin.
        #[arg(long)]
        role: String,
        /// The employer an employer token is scoped to.
        #[arg(long)]
        employer_id: Option<String>,
        /// The funder a funder token is scoped to.
        #[arg(long)]
        funder_id: Option<String>,
        /// Who the token is for.
        #[arg(long, default_value = "cli")]
        sub: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
        /// Prints a sign-in link to the page at this base URL (`http://host:port`) instead of
        /// the bare token; the token travels in the fragment, which browsers never send.
        #[arg(long)]
        link: Option<String>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("PORTAGE_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { demo } => serve(demo),
        Command::Migrate => migrate(),
        Command::Token {
            role,
            employer_id,
            funder_id,
            sub,
            ttl,
            link,
        } => token(role, employer_id, funder_id, sub, ttl, link),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("portage-ledger: {}", CauseChain(&error));
            ExitCode::FAILURE
        }
    }
}

fn config(default_database: &str) -> anyhow::Result<Config> {
    Config::from_env(default_database).map_err(|e| anyhow::anyhow!("configuration: {e}"))
}

fn open_pool(config: &Config) -> anyhow::Result<db::Pools> {
    let pools = db::build_pools(&config.database_url, config.pool).with_context(|| {
        format!(
            "cannot reach the database at {}",
            config.database_url.redacted()
        )
    })?;
    let mut conn = pools
        .write
        .get()
        .context("cannot get a database connection")?;
    let applied = db::run_migrations(&mut conn)?;
    if !applied.is_empty() {
        tracing::info!(?applied, "migrations applied");
    }
    // A database that answers but cannot write would start healthy and refuse every write.
    db::can_write(&mut conn).with_context(|| {
        format!(
            "the database at {} cannot be written (read-only file or server?)",
            config.database_url.redacted()
        )
    })?;
    if db::autovacuum_off(&mut conn).context("cannot read the server's autovacuum setting")? {
        tracing::warn!(
            "PostgreSQL runs without autovacuum: tables are never analyzed as they grow, so \
             the planner keeps the figures of small tables and reads slow down with the books; \
             turn autovacuum on (the default) or run ANALYZE regularly"
        );
    }
    Ok(pools)
}

fn migrate() -> anyhow::Result<()> {
    let config = config(config::DEFAULT_DATABASE_URL)?;
    open_pool(&config)?;
    println!(
        "migrations are up to date on {}",
        config.database_url.redacted()
    );
    Ok(())
}

fn token(
    role: String,
    employer_id: Option<String>,
    funder_id: Option<String>,
    sub: String,
    ttl: u64,
    link: Option<String>,
) -> anyhow::Result<()> {
    let secret = std::env::var("PORTAGE_JWT_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
        .context("PORTAGE_JWT_SECRET must be set to sign a token")?;
    let now = now_seconds();
    let claims = Claims {
        sub,
        role,
        employer_id,
        funder_id,
        exp: now + ttl,
        iat: Some(now),
        nbf: None,
    };
    // Refuse to print a token the service would refuse.
    portage_ledger::auth::caller_from_claims(claims.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let signed = TokenKeys::from_secret(secret.as_bytes())?.sign(&claims)?;
    match link {
        Some(base) => println!("{}/app/#token={signed}", base.trim_end_matches('/')),
        None => println!("{signed}"),
    }
    Ok(())
}

/// Forgets idempotency keys past their retention, once at start and then every hour, so that
/// the table does not grow for ever.
fn spawn_key_purger(pool: db::Pool) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("idempotency-purge".into())
        .spawn(move || loop {
            let purged = pool
                .get()
                .map_err(|e| e.to_string())
                .and_then(|mut conn| purge_expired(&mut conn).map_err(|e| e.to_string()));
            match purged {
                Ok(0) => {}
                Ok(count) => tracing::info!(count, "expired idempotency keys forgotten"),
                Err(error) => tracing::warn!(%error, "could not purge idempotency keys"),
            }
            std::thread::sleep(std::time::Duration::from_secs(3_600));
        })?;
    Ok(())
}

/// Sweeps for the events time brings (overdue calls, expiring conventions, caps, risks), once
/// at start and then every hour.
fn spawn_sweeper(pool: db::Pool) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("event-sweep".into())
        .spawn(move || loop {
            let swept = pool.get().map_err(|e| e.to_string()).and_then(|mut conn| {
                db::write_transaction(&mut conn, |conn| {
                    portage_ledger::db::sweep::sweep(
                        conn,
                        portage_ledger::db::sweep::SweepScope::All,
                        portage_ledger::domain::clock::today(),
                    )
                })
                .map_err(|e| e.to_string())
            });
            match swept {
                Ok(0) => {}
                Ok(count) => tracing::info!(count, "sweep recorded events"),
                Err(error) => tracing::warn!(%error, "the event sweep failed"),
            }
            std::thread::sleep(std::time::Duration::from_secs(3_600));
        })?;
    Ok(())
}

fn serve(demo_mode: bool) -> anyhow::Result<()> {
    let default_database = if demo_mode {
        config::DEMO_DATABASE_URL
    } else {
        config::DEFAULT_DATABASE_URL
    };
    let config = config(default_database)?;
    let secret = match (&config.jwt_secret, demo_mode) {
        (Some(secret), _) => secret.clone(),
        (None, true) => format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        ),
        (None, false) => anyhow::bail!(
            "PORTAGE_JWT_SECRET is not set: set it to a long random secret, or use `serve --demo`"
        ),
    };
    // A short secret is refused before anything else is touched.
    let keys = TokenKeys::from_secret(secret.as_bytes())?;
    if demo_mode && !Config::database_url_is_set() {
        // The demo database is recreated at each start.
        if let DatabaseUrl::Sqlite(path) = &config.database_url {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{path}{suffix}"));
            }
        }
    }
    let pools = open_pool(&config)?;
    if demo_mode {
        let mut conn = pools
            .write
            .get()
            .context("cannot get a database connection")?;
        let loaded = demo::load(&mut conn).map_err(|e| anyhow::anyhow!("loading the demo: {e}"))?;
        let lines = demo::token_lines(&loaded, &keys)?;
        for line in &lines {
            println!("{line}");
        }
        // One sign-in link per role for the page; the token travels in the fragment, which
        // browsers never send to the server.
        for line in &lines {
            if let Some((role, token)) = line
                .strip_prefix("export PORTAGE_TOKEN_")
                .and_then(|rest| rest.split_once('='))
            {
                println!(
                    "# page for the {}: http://{}/app/#token={token}",
                    role.to_lowercase(),
                    config.bind
                );
            }
        }
    }
    let listener = TcpListener::bind(&config.bind)
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    tracing::info!(
        bind = %config.bind,
        database = %config.database_url.redacted(),
        "portage-ledger listening"
    );
    spawn_key_purger(pools.write.clone())?;
    spawn_sweeper(pools.write.clone())?;
    let group_commit = db::Pools::group_commit(&config.database_url, config.pool);
    let mut state = AppState::new(pools.clone(), group_commit)?;
    state.webhooks = config.webhooks;
    state.abandon_after_seconds = config.abandon_after_seconds;
    let webhooks = config.webhooks;
    let settings = ServerSettings {
        workers: config.workers,
        max_body_bytes: config.max_body_bytes,
        max_import_bytes: config.max_import_bytes,
        body_timeout: config.body_timeout,
        export_idle: config.export_idle,
    };
    actix_web::rt::System::new().block_on(async move {
        let server = build_server(state, keys, listener, settings)?;
        // Webhook delivery runs beside the server, on its system: its client is actix's own.
        actix_web::rt::spawn(
            Deliverer::new(pools.write, webhooks, std::sync::Arc::new(SystemClock)).run(),
        );
        server.await
    })?;
    Ok(())
}
