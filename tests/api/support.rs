//! The test harness: each test starts the real server on port 0 against a database of its
//! own (a fresh SQLite file, or a PostgreSQL database cloned from a migrated template), and
//! drops that database afterwards.

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::Connection;
use portage_ledger::auth::{now_seconds, Claims, TokenKeys};
use portage_ledger::db::{self, DatabaseUrl, Pool, PoolSettings};
use portage_ledger::{build_server, AppState, ServerSettings};
use serde_json::Value;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use uuid::Uuid;

/// The secret every test server signs with.
pub const SECRET: &[u8] = b"test-secret-not-for-production-0123456789";
/// The largest body the test servers accept.
pub const BODY_LIMIT: usize = 16 * 1024;
/// How long the test servers wait for a body: short, so that a test can outlast it.
pub const BODY_TIMEOUT: Duration = Duration::from_millis(1_500);
/// How long the test servers wait for a client that stopped reading an export.
/// Long enough that a loaded machine sends a request while two downloads are stalled.
pub const EXPORT_IDLE: Duration = Duration::from_millis(3_000);
/// The import limit of the test servers: small, so that a test can pass it.
pub const IMPORT_LIMIT: usize = 256 * 1024;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn postgres_admin_url() -> String {
    std::env::var("PORTAGE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn postgres_required() -> bool {
    std::env::var("PORTAGE_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

fn with_database(url: &str, name: &str) -> String {
    let base = url.rsplit_once('/').map_or(url, |(b, _)| b);
    format!("{base}/{name}")
}

/// The migrated template every PostgreSQL test database is cloned from, created once per
/// test process; `None` when PostgreSQL is not reachable and not required.
fn postgres_template() -> Option<String> {
    static TEMPLATE: OnceLock<Option<String>> = OnceLock::new();
    static INIT: Mutex<()> = Mutex::new(());
    let _guard = INIT.lock().unwrap_or_else(|e| e.into_inner());
    TEMPLATE
        .get_or_init(|| {
            let admin = postgres_admin_url();
            let mut conn = match PgConnection::establish(&admin) {
                Ok(conn) => conn,
                Err(error) if !postgres_required() => {
                    eprintln!(
                        "NOTICE: PostgreSQL is not reachable at {admin} ({error}); the PostgreSQL \
                         tests are skipped. Set PORTAGE_TEST_REQUIRE_POSTGRES=1 to make this an error."
                    );
                    return None;
                }
                Err(error) => panic!("PostgreSQL is required but not reachable at {admin}: {error}"),
            };
            let pid = std::process::id();
            let template = format!("portage_tpl_{pid}");
            // Databases left by test processes that were killed before they could clean up.
            let stale: Vec<Datname> = diesel::RunQueryDsl::load(
                diesel::sql_query("SELECT datname FROM pg_database WHERE datname LIKE 'portage\\_t%'"),
                &mut conn,
            )
            .unwrap_or_default();
            // Only those of processes that are gone: another suite may be running beside this one.
            let owner_alive = |name: &str| {
                name.trim_start_matches("portage_tpl_")
                    .trim_start_matches("portage_t_")
                    .split('_')
                    .next()
                    .and_then(|p| p.parse::<u32>().ok())
                    .is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
            };
            for name in stale.iter().map(|d| &d.datname).filter(|n| !owner_alive(n)) {
                let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
            }
            conn.batch_execute(&format!("DROP DATABASE IF EXISTS \"{template}\" WITH (FORCE)"))
                .unwrap();
            conn.batch_execute(&format!("CREATE DATABASE \"{template}\"")).unwrap();
            let url = with_database(&admin, &template);
            let mut migrated = DatabaseUrl::parse(&url).unwrap().connect().unwrap();
            db::run_migrations(&mut migrated).unwrap();
            drop(migrated);
            Some(template)
        })
        .clone()
}

#[derive(diesel::QueryableByName)]
struct Datname {
    #[diesel(sql_type = diesel::sql_types::Text)]
    datname: String,
}

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file, with several writing connections racing for its lock.
    Sqlite,
    /// An SQLite file, with one writer committing queued writes in groups (the default of
    /// `serve`).
    SqliteGroupCommit,
    /// A PostgreSQL database.
    Postgres,
}

/// A database owned by one test, removed when the test ends.
pub enum TestDb {
    /// The file's path.
    Sqlite(String),
    /// The database's name.
    Postgres(String),
}

impl TestDb {
    /// A fresh database on `backend`, and its URL; `None` when the backend is unavailable.
    pub fn create(backend: Backend) -> Option<(TestDb, DatabaseUrl)> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        match backend {
            Backend::Sqlite | Backend::SqliteGroupCommit => {
                let path = std::env::temp_dir()
                    .join(format!(
                        "portage_t_{pid}_{n}_{}.db",
                        Uuid::new_v4().simple()
                    ))
                    .to_string_lossy()
                    .into_owned();
                let url = DatabaseUrl::parse(&format!("sqlite://{path}")).unwrap();
                Some((TestDb::Sqlite(path), url))
            }
            Backend::Postgres => {
                let template = postgres_template()?;
                let name = format!("portage_t_{pid}_{n}");
                let admin = postgres_admin_url();
                let mut conn = PgConnection::establish(&admin).unwrap();
                conn.batch_execute(&format!(
                    "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
                ))
                .unwrap();
                let url = DatabaseUrl::parse(&with_database(&admin, &name)).unwrap();
                Some((TestDb::Postgres(name), url))
            }
        }
    }
}

impl TestDb {
    /// The URL the binary is given for this database.
    pub fn url_text(&self) -> String {
        match self {
            TestDb::Sqlite(path) => format!("sqlite://{path}"),
            TestDb::Postgres(name) => with_database(&postgres_admin_url(), name),
        }
    }

    /// Makes a PostgreSQL database refuse writes to every new session, as a standby server or a
    /// read-only replica would.
    pub fn make_read_only(&self) {
        if let TestDb::Postgres(name) = self {
            PgConnection::establish(&postgres_admin_url())
                .unwrap()
                .batch_execute(&format!(
                    "ALTER DATABASE \"{name}\" SET default_transaction_read_only = on"
                ))
                .unwrap();
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match self {
            TestDb::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{path}{suffix}"));
                }
            }
            TestDb::Postgres(name) => {
                if let Ok(mut conn) = PgConnection::establish(&postgres_admin_url()) {
                    let _ = conn
                        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
                }
            }
        }
    }
}

/// A running server and its database.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The server's pool, for checks made under the API.
    pub pool: Pool,
    /// The server's write pool, for the webhook deliverer a test drives.
    pub write_pool: Pool,
    /// The server's export slots, so that a test can see when downloads hold them all.
    pub export_slots: std::sync::Arc<tokio::sync::Semaphore>,
    keys: TokenKeys,
    client: awc::Client,
    handle: actix_web::dev::ServerHandle,
    _db: TestDb,
}

/// An answer: status, headers and the JSON body (or `Null`).
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The response headers.
    pub headers: actix_web::http::header::HeaderMap,
    /// The body as JSON, `Null` when empty or not JSON.
    pub body: Value,
    /// The body as text.
    pub text: String,
    /// The body's bytes, as sent (a PDF, a file).
    pub bytes: Vec<u8>,
}

impl Answer {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Answer {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        self
    }

    /// Asserts a problem answer with this status and code.
    #[track_caller]
    pub fn problem(self, status: u16, code: &str) -> Answer {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        assert_eq!(
            self.header("content-type").as_deref(),
            Some("application/problem+json"),
            "a problem answer"
        );
        assert_eq!(self.body["status"], status);
        assert_eq!(self.body["code"], code, "problem body: {}", self.body);
        assert!(
            self.body["title"].is_string()
                && self.body["type"].is_string()
                && self.body["detail"].is_string()
        );
        self
    }

    /// The pointers of a validation problem's offending fields.
    pub fn pointers(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["pointer"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Starts a server on `backend`; `None` when that backend is unavailable and not required.
pub async fn spawn(backend: Backend) -> Option<TestApp> {
    let (test_db, url) = TestDb::create(backend)?;
    // Several SQLite writers in the plain SQLite mode, so that the race tests race rather than
    // queue; one writer and group commit in the other, as `serve` runs.
    let settings = PoolSettings {
        max_size: 4,
        connection_timeout: Duration::from_secs(10),
        sqlite_writers: if backend == Backend::SqliteGroupCommit {
            1
        } else {
            4
        },
    };
    let group_commit = db::Pools::group_commit(&url, settings);
    let pools = db::build_pools(&url, settings).unwrap();
    // The read pool: the checks made under the API must not hold the single writer.
    let pool = pools.read.clone();
    let write_pool = pools.write.clone();
    db::run_migrations(&mut pool.get().unwrap()).unwrap();
    let keys = TokenKeys::from_secret(SECRET).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut state = AppState::new(pools, group_commit).unwrap();
    // Small export pages, so that a test can stall a download with a modest ledger.
    state.exports.page_size.entries = 20;
    let export_slots = state.exports.slots.clone();
    // Tests deliver webhooks to receivers on 127.0.0.1, over plain http.
    state.webhooks.allow_http = true;
    state.webhooks.allow_private = true;
    let server = build_server(
        state,
        keys.clone(),
        listener,
        ServerSettings {
            workers: 2,
            max_body_bytes: BODY_LIMIT,
            max_import_bytes: IMPORT_LIMIT,
            body_timeout: BODY_TIMEOUT,
            export_idle: EXPORT_IDLE,
        },
    )
    .unwrap();
    let handle = server.handle();
    actix_rt::spawn(server);
    Some(TestApp {
        base: format!("http://127.0.0.1:{port}"),
        pool,
        write_pool,
        export_slots,
        keys,
        client: awc::Client::builder()
            .timeout(Duration::from_secs(30))
            .finish(),
        handle,
        _db: test_db,
    })
}

impl TestApp {
    /// Signs a token with the server's secret.
    pub fn sign(&self, claims: &Claims) -> String {
        self.keys.sign(claims).unwrap()
    }

    /// A valid token for a role, scoped to an employer or a funder where the role needs it.
    pub fn token(&self, role: &str, scope_id: Option<&str>) -> String {
        let now = now_seconds();
        self.sign(&Claims {
            sub: format!("test-{role}"),
            role: role.to_owned(),
            employer_id: (role == "employer").then(|| scope_id.unwrap_or_default().to_owned()),
            funder_id: (role == "funder").then(|| scope_id.unwrap_or_default().to_owned()),
            exp: now + 600,
            iat: Some(now),
            nbf: None,
        })
    }

    /// The operator's token.
    pub fn admin(&self) -> String {
        self.token("admin", None)
    }

    /// The mission's token.
    pub fn mission(&self) -> String {
        self.token("mission", None)
    }

    /// Sends a request with optional token, JSON body and extra headers.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut all_headers = vec![("Content-Type", "application/json")];
        all_headers.extend_from_slice(headers);
        self.send_as(method, path, token, body, &all_headers).await
    }

    /// Sends a request with exactly the headers given (no Content-Type unless among them).
    pub async fn send_as(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let request_method = actix_web::http::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .client
            .request(request_method.clone(), format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.insert_header(("Authorization", format!("Bearer {token}")));
        }
        for (name, value) in headers {
            request = request.insert_header((*name, *value));
        }
        let mut response = match body {
            Some(body) => request.send_body(body.to_owned()).await.unwrap(),
            None => request.send().await.unwrap(),
        };
        let bytes = response.body().limit(64 * 1024 * 1024).await.unwrap();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if let Err(difference) = crate::response_contract::check(
            request_method.as_str(),
            path,
            response.status().as_u16(),
            content_type,
            &bytes,
        ) {
            panic!("{request_method} {path}: the answer differs from openapi.yaml: {difference}");
        }
        Answer {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            text: String::from_utf8_lossy(&bytes).into_owned(),
            bytes: bytes.to_vec(),
        }
    }

    /// `GET` without a token, as plain text.
    pub async fn client_text(&self, path: &str) -> String {
        let mut response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let bytes = response.body().await.unwrap();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// `GET` with a token.
    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.send("GET", path, Some(token), None, &[]).await
    }

    /// `POST` a JSON value with a token.
    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Answer {
        self.send("POST", path, Some(token), Some(&body.to_string()), &[])
            .await
    }

    /// Registers an employer as the operator and returns its id.
    pub async fn employer(&self, name: &str) -> String {
        let answer = self
            .post(
                "/v1/employers",
                &self.admin(),
                &serde_json::json!({"name": name, "kind": "association"}),
            )
            .await
            .expect(201);
        answer.body["id"].as_str().unwrap().to_owned()
    }

    /// Registers a funder as the operator and returns its id.
    pub async fn funder(&self, name: &str, kind: &str) -> String {
        let answer = self
            .post(
                "/v1/funders",
                &self.admin(),
                &serde_json::json!({"name": name, "kind": kind}),
            )
            .await
            .expect(201);
        answer.body["id"].as_str().unwrap().to_owned()
    }

    /// Creates a post of an employer, as that employer, and returns its id.
    pub async fn post_of(&self, employer_id: &str, start_month: &str, budget: &str) -> String {
        let answer = self
            .post(
                "/v1/posts",
                &self.token("employer", Some(employer_id)),
                &serde_json::json!({
                    "employer_id": employer_id, "title": "Médiateur", "territory": "QP059034",
                    "activity": "housing", "fte": "1.00", "start_month": start_month,
                    "monthly_budget": budget
                }),
            )
            .await
            .expect(201);
        answer.body["id"].as_str().unwrap().to_owned()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop the server before its database goes away.
        drop(self.handle.stop(false));
    }
}

/// Runs each named test case on SQLite (several writers, and group commit) and on PostgreSQL.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[actix_rt::test]
                async fn $name() {
                    let app = $crate::support::spawn($crate::support::Backend::Sqlite).await.unwrap();
                    super::$name(&app).await;
                }
            )+
        }
        mod sqlite_group_commit {
            $(
                #[actix_rt::test]
                async fn $name() {
                    let app = $crate::support::spawn($crate::support::Backend::SqliteGroupCommit).await.unwrap();
                    super::$name(&app).await;
                }
            )+
        }
        mod postgres {
            $(
                #[actix_rt::test]
                async fn $name() {
                    let Some(app) = $crate::support::spawn($crate::support::Backend::Postgres).await else {
                        return;
                    };
                    super::$name(&app).await;
                }
            )+
        }
    };
}
