//! The database: one connection type over SQLite and PostgreSQL, the pool, migrations, and
//! the transaction helpers every write goes through.

/// Rows per multi-row statement: within SQLite's (32,766) and PostgreSQL's (65,535) limits on
/// bound values for the widest table written in batches (costs, fifteen columns: 30,000).
pub const BATCH_ROWS: usize = 2_000;

/// Up to this many rows, an insert goes row by row (see [`insert_batches`]). On PostgreSQL a
/// cached single-row insert is one round trip and an uncached multi-row one two (prepare, then
/// execute): from three rows on, one statement is fewer (a batch of costs, a call's lines).
pub const FEW_ROWS: usize = 2;

/// From this many rows on, PostgreSQL takes them in one `COPY … FROM STDIN (FORMAT binary)`
/// rather than in multi-row inserts: COPY neither parses nor plans a statement per batch, nor
/// binds thousands of parameters, so a month-end run's tens of thousands of journal lines
/// reach the table in one stream. Fewer rows (a batch of single costs, a small call) keep the
/// insert, whose statement a connection may already have prepared.
pub const COPY_ROWS: usize = 500;

/// Inserts rows in batches of [`BATCH_ROWS`] on the inner connection (multi-row inserts do not
/// go through the multi-backend connection), or on PostgreSQL with one COPY from
/// [`COPY_ROWS`] rows on. The rows' `Insertable` must bind NULL for `None`
/// (`treat_none_as_default_value = false`), as COPY has no `DEFAULT`.
macro_rules! insert_batches {
    ($conn:expr, $table:expr, $rows:expr) => {
        if $rows.len() <= $crate::db::FEW_ROWS {
            // A few rows go one by one: a single-row insert is a statement diesel prepares
            // once and caches, where a multi-row one is prepared afresh at each call.
            for row in &$rows {
                diesel::insert_into($table)
                    .values(row)
                    .execute(&mut *$conn)?;
            }
        } else {
            match &mut *$conn {
                $crate::db::DbConnection::Postgresql(c) if $rows.len() >= $crate::db::COPY_ROWS => {
                    use diesel::ExecuteCopyFromDsl;
                    diesel::copy_from($table)
                        .from_insertable(&$rows[..])
                        .execute(c)?;
                }
                _ => {
                    for chunk in $rows.chunks($crate::db::BATCH_ROWS) {
                        match &mut *$conn {
                            $crate::db::DbConnection::Postgresql(c) => {
                                diesel::insert_into($table).values(chunk).execute(c)?
                            }
                            $crate::db::DbConnection::Sqlite(c) => {
                                diesel::insert_into($table).values(chunk).execute(c)?
                            }
                        };
                    }
                }
            }
        }
    };
}

pub mod allocation_runs;
pub mod allocations;
pub mod calls;
pub mod commitments;
pub mod cost_writer;
pub mod costs;
pub mod employers;
pub mod error;
pub mod events;
pub mod exports;
pub mod funders;
pub mod idempotency;
pub mod imports;
pub mod keys;
pub mod ledger;
pub mod month_balances;
pub mod paging;
pub mod payments;
pub mod periods;
pub mod posts;
pub mod projection;
pub mod rates;
pub mod schema;
pub mod scope;
pub mod solvency;
pub mod statement;
pub mod sweep;
pub mod types;
pub mod webhooks;
pub mod write_queue;

pub use error::StoreError;

use crate::domain::ids::EmployerId;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::time::Duration;

/// The SQLite migrations; `migrations/postgres` holds the same ones, name for name.
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
/// The PostgreSQL migrations.
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Any advisory-lock key would do as long as it is the same for every server: it keeps
/// servers that start together from running the migrations twice.
const MIGRATION_LOCK_KEY: i64 = 0x0070_6f72_7461_6765; // "portage" in ASCII

/// How long a SQLite connection waits for the write lock before giving up, in milliseconds.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 10_000;

/// A connection to either backend. Queries written once against it run on both.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    /// PostgreSQL, the production backend.
    Postgresql(PgConnection),
    /// SQLite, the embedded default.
    Sqlite(SqliteConnection),
}

/// Which database a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://PATH`: a file path (relative or absolute).
    Sqlite(String),
    /// `postgres://…` or `postgresql://…`, passed to libpq as it is.
    Postgres(String),
}

impl DatabaseUrl {
    /// Chooses the backend from the URL's scheme. Diesel's own `establish` would try each
    /// backend in turn, and SQLite accepts any string as a path, so the choice is made here.
    pub fn parse(url: &str) -> Result<DatabaseUrl, String> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("sqlite:// needs a file path, such as sqlite://portage.db".into());
            }
            Ok(DatabaseUrl::Sqlite(path.to_owned()))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseUrl::Postgres(url.to_owned()))
        } else {
            Err(format!(
                "unsupported database URL {:?}: use sqlite://PATH or postgres://…",
                redact(url)
            ))
        }
    }

    /// The URL with any password hidden, for logs.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{path}"),
            DatabaseUrl::Postgres(url) => redact(url),
        }
    }

    /// Opens one connection, configured for the service.
    pub fn connect(&self) -> Result<DbConnection, diesel::ConnectionError> {
        match self {
            DatabaseUrl::Postgres(url) => {
                PgConnection::establish(url).map(DbConnection::Postgresql)
            }
            DatabaseUrl::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(path)?;
                // busy_timeout first: switching to WAL itself needs the lock.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS};
                     PRAGMA journal_mode = WAL;
                     PRAGMA synchronous = NORMAL;
                     PRAGMA foreign_keys = ON;"
                ))
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

/// Hides the password of a `scheme://user:password@host` URL.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// An r2d2 manager that opens the backend the URL names.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    url: DatabaseUrl,
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        self.url.connect().map_err(r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    /// A connection given back while its thread panics, or left in a transaction (or with its
    /// transaction manager in error), is closed rather than reused: its open transaction then
    /// rolls back instead of swallowing the next user's work.
    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        std::thread::panicking() || !outside_transactions(conn)
    }
}

/// The shared pool of connections.
pub type Pool = r2d2::Pool<ConnectionManager>;

/// Sizes and time-outs of the pools, set explicitly rather than trusted to defaults.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Most connections open at once.
    pub max_size: u32,
    /// How long a request waits for a connection before answering 503.
    pub connection_timeout: Duration,
    /// On SQLite, how many connections write. One is best: writers then queue fairly on the
    /// pool instead of polling SQLite's lock with growing sleeps, which ruins tail latency.
    /// Tests use more, so that their races really race.
    pub sqlite_writers: u32,
}

/// The connections of a server: one pool for reads and one for writes. On PostgreSQL they
/// are the same pool; on SQLite writes go through their own small pool.
#[derive(Clone)]
pub struct Pools {
    /// For reads.
    pub read: Pool,
    /// For write transactions.
    pub write: Pool,
    /// Whether they are PostgreSQL's.
    postgres: bool,
}

fn pool(url: &DatabaseUrl, max_size: u32, settings: PoolSettings) -> Result<Pool, r2d2::PoolError> {
    r2d2::Pool::builder()
        .max_size(max_size)
        .min_idle(Some(1))
        .connection_timeout(settings.connection_timeout)
        .test_on_check_out(false)
        .build(ConnectionManager { url: url.clone() })
}

impl Pools {
    /// Whether the pools are PostgreSQL's.
    pub fn is_postgres(&self) -> bool {
        self.postgres
    }

    /// Whether writes should be grouped: SQLite with a single writing connection.
    pub fn group_commit(url: &DatabaseUrl, settings: PoolSettings) -> bool {
        matches!(url, DatabaseUrl::Sqlite(_)) && settings.sqlite_writers <= 1
    }
}

/// Builds the pools and checks that the database answers.
pub fn build_pools(url: &DatabaseUrl, settings: PoolSettings) -> Result<Pools, r2d2::PoolError> {
    let read = pool(url, settings.max_size, settings)?;
    let write = match url {
        DatabaseUrl::Postgres(_) => read.clone(),
        DatabaseUrl::Sqlite(_) => pool(url, settings.sqlite_writers.max(1), settings)?,
    };
    Ok(Pools {
        read,
        write,
        postgres: matches!(url, DatabaseUrl::Postgres(_)),
    })
}

/// Applies the pending migrations of the connection's backend. On PostgreSQL it holds an
/// advisory lock meanwhile, so that several servers starting together do not race.
pub fn run_migrations(conn: &mut DbConnection) -> anyhow::Result<Vec<String>> {
    let applied = match conn {
        DbConnection::Sqlite(c) => c
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("applying the SQLite migrations: {e}"))?
            .iter()
            .map(|m| m.to_string())
            .collect(),
        DbConnection::Postgresql(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))?;
            let result = c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|versions| versions.iter().map(|m| m.to_string()).collect())
                .map_err(|e| anyhow::anyhow!("applying the PostgreSQL migrations: {e}"));
            c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))?;
            result?
        }
    };
    Ok(applied)
}

/// Runs `work` in a write transaction. On SQLite every writer first takes the database's
/// write lock (the `write_gate` update), so that two writers never read the same snapshot and
/// then both write: the second waits for the first, as `BEGIN IMMEDIATE` would. On PostgreSQL
/// writers lock the rows they depend on (see [`lock_employer`]).
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    // Only an outermost transaction takes the gate: a nested one (a savepoint, as in a group
    // commit) runs inside a transaction that already holds it.
    let outermost = outside_transactions(conn);
    conn.transaction(|conn| {
        if let (true, DbConnection::Sqlite(c)) = (outermost, &mut *conn) {
            c.batch_execute(WRITE_GATE)?;
        }
        work(conn)
    })
}

/// After a unit of work failed, makes sure a connection the database dropped (a restart, a
/// fail-over) does not go back to the pool: libpq may fail such a query before its state tells
/// diesel anything, and the pool would hand the dead connection out again and again. One
/// `SELECT 1`, only on failure; a connection that fails it is marked broken, so the pool closes
/// it and opens a new one.
pub fn drop_if_dead(conn: &mut DbConnection) {
    if conn.batch_execute("SELECT 1").is_err() {
        tracing::warn!("a database connection failed; it will be replaced");
        <<DbConnection as Connection>::TransactionManager as diesel::connection::TransactionManager<DbConnection>>::transaction_manager_status_mut(conn)
            .set_in_error();
    }
}

/// Whether the connection is in no transaction, with its transaction manager in order.
fn outside_transactions(conn: &mut DbConnection) -> bool {
    matches!(
        <<DbConnection as Connection>::TransactionManager as diesel::connection::TransactionManager<DbConnection>>::transaction_manager_status_mut(conn)
            .transaction_depth(),
        Ok(None)
    )
}

/// The statement that takes SQLite's write lock at the start of a write transaction.
const WRITE_GATE: &str = "UPDATE write_gate SET turns = turns + 1 WHERE id = 1";

/// Proof that the current write transaction holds an employer's lock: the work that must not
/// race for one employer (allocation runs, calls, cancellations, payments, period closing,
/// imports, cost reversals and commitments, whose runs read them) takes one, and only
/// [`lock_employer`] makes one, so forgetting the lock is a compile error rather than a
/// comment nobody read.
#[derive(Debug)]
pub struct EmployerLock {
    employer: EmployerId,
}

/// Proof that the current write transaction holds an employer's lock in share mode, which
/// excludes every [`EmployerLock`] but no other [`AppendLock`]: enough to append a cost, which
/// must not land in a month being closed nor under a run reading the costs, but need not wait
/// for the employer's other costs (they meet only in the running balances, whose upsert is
/// atomic). Only [`lock_employer_to_append`] makes one.
#[derive(Debug)]
pub struct AppendLock {
    employer: EmployerId,
}

/// What either lock proves: the employer whose lock the transaction holds.
pub trait LockedEmployer {
    /// The employer whose lock is held.
    fn employer(&self) -> EmployerId;
}

impl LockedEmployer for EmployerLock {
    fn employer(&self) -> EmployerId {
        self.employer
    }
}

impl LockedEmployer for AppendLock {
    fn employer(&self) -> EmployerId {
        self.employer
    }
}

/// Locks an employer until the transaction ends: its row on PostgreSQL (`FOR UPDATE`); on
/// SQLite the write transaction already holds the whole database.
pub fn lock_employer(conn: &mut DbConnection, employer: EmployerId) -> QueryResult<EmployerLock> {
    lock_employer_row(conn, employer, RowLock::Update)?;
    Ok(EmployerLock { employer })
}

/// Whether PostgreSQL runs without autovacuum, which also analyzes tables as they grow. Without
/// it the planner keeps the figures of small tables, and a connection keeps the generic plans
/// it cached for them (a plan is dropped when its tables are analyzed): on this machine's
/// server, without autovacuum, a 3,000-post employer's monthly runs took 8 s for the first
/// month of the bench ledger and 18-20 s by the thirtieth, and 2.7-3.3 s once an `ANALYZE` had
/// dropped the plans. Always false on SQLite.
pub fn autovacuum_off(conn: &mut DbConnection) -> QueryResult<bool> {
    match conn {
        DbConnection::Postgresql(c) => {
            let setting: String = diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(
                "current_setting('autovacuum')",
            ))
            .get_result(c)?;
            Ok(setting == "off")
        }
        DbConnection::Sqlite(_) => Ok(false),
    }
}

/// Locks an employer in share mode until the transaction ends: its row `FOR KEY SHARE` on
/// PostgreSQL (the weakest lock `FOR UPDATE` waits for); on SQLite the write transaction
/// already holds the whole database. Whatever the transaction reads after this (a closed
/// period) is at least as recent as the last exclusive lock's commit: PostgreSQL's READ
/// COMMITTED takes each statement's snapshot when it starts.
pub fn lock_employer_to_append(
    conn: &mut DbConnection,
    employer: EmployerId,
) -> QueryResult<AppendLock> {
    lock_employer_row(conn, employer, RowLock::KeyShare)?;
    Ok(AppendLock { employer })
}

/// Locks several employers in share mode, at once or not at all: on PostgreSQL their rows
/// `FOR KEY SHARE NOWAIT`, which fails (aborting the transaction) rather than wait if any of
/// them is locked exclusively, by a run or a period close. Answers the locks in the given order.
pub fn try_lock_employers_to_append(
    conn: &mut DbConnection,
    employers: &[EmployerId],
) -> QueryResult<Vec<AppendLock>> {
    if let DbConnection::Postgresql(c) = conn {
        let locked: Vec<EmployerId> = schema::employers::table
            .filter(schema::employers::id.eq_any(employers))
            .select(schema::employers::id)
            .for_key_share()
            .no_wait()
            .load(c)?;
        if locked.len() != employers.len() {
            return Err(diesel::result::Error::NotFound);
        }
    }
    Ok(employers
        .iter()
        .map(|&employer| AppendLock { employer })
        .collect())
}

/// The row lock an employer's lock takes on PostgreSQL.
enum RowLock {
    Update,
    KeyShare,
}

/// Locks the employer's row on PostgreSQL, with a statement built by diesel (prepared once per
/// connection); nothing on SQLite, whose write transaction holds the whole database.
fn lock_employer_row(
    conn: &mut DbConnection,
    employer: EmployerId,
    mode: RowLock,
) -> QueryResult<()> {
    if let DbConnection::Postgresql(c) = conn {
        let row = schema::employers::table
            .find(employer)
            .select(schema::employers::id);
        match mode {
            RowLock::Update => row.for_update().execute(c)?,
            RowLock::KeyShare => row.for_key_share().execute(c)?,
        };
    }
    Ok(())
}

/// Who records a write: the token's subject and role, and the request it came in (its
/// `X-Request-Id`). Every recorded resource and journal entry stores it, and it is never
/// changed after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorder {
    /// The token's `sub`.
    pub sub: String,
    /// The token's role, or `system` for what the service does by itself.
    pub role: &'static str,
    /// The request's id, when a request did it.
    pub request_id: Option<String>,
}

impl Recorder {
    /// The service itself (a sweep, the demonstration loader), under a name for the logs.
    pub fn system(name: &str) -> Recorder {
        Recorder {
            sub: name.to_owned(),
            role: "system",
            request_id: None,
        }
    }
}

/// The `(recorded_by_sub, recorded_by_role, request_id)` values of an insert into `$table`,
/// from a [`Recorder`]: one place for the three columns every recorded table has.
#[macro_export]
macro_rules! recorded_by {
    ($table:ident, $recorder:expr) => {{
        let recorder: &$crate::db::Recorder = $recorder;
        (
            $table::recorded_by_sub.eq(recorder.sub.clone()),
            $table::recorded_by_role.eq(recorder.role),
            $table::request_id.eq(recorder.request_id.clone()),
        )
    }};
}

/// The `recorded_by` member of a view: `{"sub", "role"}` (beside it, `recorded_at` is the row's
/// `created_at`).
pub fn recorded_by_view(sub: &str, role: &str) -> RecordedBy {
    RecordedBy {
        sub: sub.to_owned(),
        role: role.to_owned(),
    }
}

/// Who recorded a row, as views show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RecordedBy {
    /// The token's `sub`, or the service's own name.
    pub sub: String,
    /// The token's role, or `system`.
    pub role: String,
}

/// Whether the database accepts a write. SQLite: the write gate's update, rolled back (a
/// read-only file refuses it). PostgreSQL: the transaction is not read-only (a standby or a
/// read-only default says so), which needs no write.
pub fn can_write(conn: &mut DbConnection) -> QueryResult<()> {
    match conn {
        DbConnection::Sqlite(c) => {
            use diesel::connection::TransactionManager;
            type Manager = <SqliteConnection as Connection>::TransactionManager;
            Manager::begin_transaction(c)?;
            let probe = c.batch_execute(WRITE_GATE);
            let rollback = Manager::rollback_transaction(c);
            probe.and(rollback)
        }
        DbConnection::Postgresql(c) => {
            let rows = diesel::sql_query(
                "SELECT 1 WHERE current_setting('transaction_read_only') = 'off'",
            )
            .execute(c)?;
            if rows == 1 {
                Ok(())
            } else {
                Err(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::ReadOnlyTransaction,
                    Box::new("the server accepts no writes".to_owned()),
                ))
            }
        }
    }
}

/// Whether the database answers, for `/healthz`.
pub fn ping(conn: &mut DbConnection) -> QueryResult<()> {
    conn.batch_execute("SELECT 1")
}

/// The layout of every stored timestamp: UTC, fixed width, so that text order is time order.
const TIMESTAMP_FORMAT: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
);

/// A time as stored in `created_at` columns.
pub fn format_timestamp(at: time::OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(TIMESTAMP_FORMAT)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

/// Reads a stored timestamp back.
pub fn parse_timestamp(text: &str) -> Option<time::OffsetDateTime> {
    time::PrimitiveDateTime::parse(text, TIMESTAMP_FORMAT)
        .ok()
        .map(|t| t.assume_utc())
}

/// The current time as stored in `created_at` columns.
pub fn now_timestamp() -> String {
    format_timestamp(time::OffsetDateTime::now_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_choose_their_backend() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://portage.db"),
            Ok(DatabaseUrl::Sqlite("portage.db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/portage.db"),
            Ok(DatabaseUrl::Sqlite("/var/lib/portage.db".into()))
        );
        assert!(matches!(
            DatabaseUrl::parse("postgres://u:p@h/db"),
            Ok(DatabaseUrl::Postgres(_))
        ));
        assert!(DatabaseUrl::parse("mysql://h/db").is_err());
        assert!(DatabaseUrl::parse("portage.db").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }

    #[test]
    fn a_connection_left_in_a_transaction_is_not_reused() {
        use diesel::connection::TransactionManager;
        type Manager = <DbConnection as Connection>::TransactionManager;
        let url = DatabaseUrl::Sqlite(":memory:".into());
        let manager = ConnectionManager { url: url.clone() };
        let mut conn = url.connect().unwrap();
        assert!(!manager.has_broken(&mut conn));
        Manager::begin_transaction(&mut conn).unwrap();
        assert!(manager.has_broken(&mut conn));
        Manager::commit_transaction(&mut conn).unwrap();
        assert!(!manager.has_broken(&mut conn));
    }

    #[test]
    fn passwords_do_not_reach_the_logs() {
        let url = DatabaseUrl::parse("postgres://app:s3cret@db:5432/portage").unwrap();
        assert_eq!(url.redacted(), "postgres://app:***@db:5432/portage");
        assert!(!url.redacted().contains("s3cret"));
    }
}
