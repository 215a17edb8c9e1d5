//! What the benchmarks share: bulk inserts of seed rows, and running a bench on a fresh SQLite
//! file and then on a fresh PostgreSQL database (`PORTAGE_BENCH_POSTGRES_URL`, default the local
//! server; skipped if it does not answer), both dropped afterwards.

// Each benchmark compiles this module on its own and uses a part of it.
#![allow(dead_code)]

use diesel::connection::SimpleConnection;
use diesel::Connection;
use portage_ledger::db::DatabaseUrl;
use uuid::Uuid;

/// Rows per multi-row insert.
pub const CHUNK: usize = 2_000;

/// Inserts rows in chunks on the inner connection (multi-row inserts need it).
#[macro_export]
macro_rules! insert_all {
    ($conn:expr, $table:expr, $rows:expr) => {
        for chunk in $rows.chunks($crate::support::CHUNK) {
            match &mut *$conn {
                portage_ledger::db::DbConnection::Postgresql(c) => diesel::insert_into($table)
                    .values(chunk.to_vec())
                    .execute(c)?,
                portage_ledger::db::DbConnection::Sqlite(c) => diesel::insert_into($table)
                    .values(chunk.to_vec())
                    .execute(c)?,
            };
        }
    };
}

/// Runs `bench` on a new SQLite file, then on a new PostgreSQL database.
pub fn on_both_backends(
    name: &str,
    mut bench: impl FnMut(&'static str, DatabaseUrl) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let path = std::env::temp_dir().join(format!("portage_{name}_{}.db", Uuid::new_v4().simple()));
    let sqlite =
        DatabaseUrl::parse(&format!("sqlite://{}", path.display())).map_err(anyhow::Error::msg)?;
    let result = bench("SQLite", sqlite);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    result?;
    let admin = std::env::var("PORTAGE_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let Ok(mut admin_conn) = diesel::pg::PgConnection::establish(&admin) else {
        println!("{name}, PostgreSQL: skipped ({admin} does not answer)");
        return Ok(());
    };
    let database = format!("portage_{name}_{}", std::process::id());
    admin_conn.batch_execute(&format!("CREATE DATABASE {database}"))?;
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    let result = DatabaseUrl::parse(&format!("{base}/{database}"))
        .map_err(anyhow::Error::msg)
        .and_then(|url| bench("PostgreSQL", url));
    admin_conn.batch_execute(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))?;
    result
}

/// Starts the real server on a free loopback port, with `serve`'s default limits; answers its
/// address (`http://127.0.0.1:PORT`) and its handle. Call it inside an actix system.
pub fn start_server(
    state: portage_ledger::AppState,
    keys: portage_ledger::auth::TokenKeys,
) -> anyhow::Result<(String, actix_web::dev::ServerHandle)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let address = format!("http://{}", listener.local_addr()?);
    let server = portage_ledger::build_server(
        state,
        keys,
        listener,
        portage_ledger::ServerSettings {
            workers: 2,
            max_body_bytes: 65_536,
            max_import_bytes: 8 * 1_048_576,
            body_timeout: std::time::Duration::from_secs(10),
            export_idle: std::time::Duration::from_secs(30),
        },
    )?;
    let handle = server.handle();
    actix_rt::spawn(server);
    Ok((address, handle))
}

/// The keys a bench server checks tokens with, and a token of `role` (for `employer_id`, when
/// the role is an employer's), valid for an hour.
pub fn keys_and_token(
    role: &str,
    employer_id: Option<&str>,
) -> anyhow::Result<(portage_ledger::auth::TokenKeys, String)> {
    use portage_ledger::auth::{now_seconds, Claims, TokenKeys};
    let keys = TokenKeys::from_secret(b"bench-secret-only-for-this-machine-run")?;
    let token = keys.sign(&Claims {
        sub: "bench".into(),
        role: role.into(),
        employer_id: employer_id.map(str::to_owned),
        funder_id: None,
        exp: now_seconds() + 3_600,
        iat: Some(now_seconds()),
        nbf: None,
    })?;
    Ok((keys, token))
}

/// Inserts the bench's employer, an association named "Bench".
pub fn insert_employer(
    conn: &mut portage_ledger::db::DbConnection,
    id: &str,
) -> diesel::QueryResult<()> {
    use diesel::prelude::*;
    use portage_ledger::db::schema::employers;
    diesel::insert_into(employers::table)
        .values((
            employers::id.eq(id),
            employers::name.eq("Bench"),
            employers::kind.eq("association"),
            employers::created_at.eq(portage_ledger::db::now_timestamp()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Inserts four funders, one of each kind a post's commitments usually come from, each named
/// by its kind; answers their ids.
pub fn insert_funders_by_kind(
    conn: &mut portage_ledger::db::DbConnection,
) -> diesel::QueryResult<Vec<String>> {
    use diesel::prelude::*;
    use portage_ledger::db::schema::funders;
    let kinds = [
        "state",
        "social_landlord",
        "transport_operator",
        "municipality",
    ];
    let now = portage_ledger::db::now_timestamp();
    let mut ids = Vec::with_capacity(kinds.len());
    for kind in kinds {
        let id = Uuid::now_v7().to_string();
        diesel::insert_into(funders::table)
            .values((
                funders::id.eq(&id),
                funders::name.eq(kind),
                funders::kind.eq(kind),
                funders::created_at.eq(&now),
            ))
            .execute(conn)?;
        ids.push(id);
    }
    Ok(ids)
}
