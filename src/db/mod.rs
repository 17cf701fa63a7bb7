//! Database access: one connection type over SQLite and PostgreSQL, an r2d2 pool,
//! per-connection SQLite settings, write transactions and migrations.

pub mod error;
pub mod ids;
pub mod migrations;
pub mod schema;
pub mod sql;
pub mod text;
pub mod timestamps;

pub use error::UniqueKey;
pub use ids::{
    ClaimId, DefectMaskId, DeviceModelId, DeviceSetId, FirmwareId, OrgId, ReleaseId, ResultId, UserId, WindowId,
};
pub use text::JsonText;
pub use timestamps::{OptTs, Ts};

use std::time::{Duration, Instant};

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};

/// A connection to whichever backend the configured URL names.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Pg(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// The backend, chosen from the URL scheme (never by trying to connect).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How to reach the database, parsed from `database_url`.
#[derive(Debug, Clone)]
pub struct DbTarget {
    pub backend: Backend,
    /// For SQLite the file path; for PostgreSQL the libpq URL.
    pub url: String,
    pub sqlite_synchronous: String,
}

impl DbTarget {
    /// Parses `sqlite://path`, `postgres://...` or `postgresql://...`.
    pub fn parse(url: &str, sqlite_synchronous: &str) -> Result<Self, String> {
        let sync = sqlite_synchronous.to_ascii_uppercase();
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("sqlite:// URL has no file path".into());
            }
            Ok(Self {
                backend: Backend::Sqlite,
                url: path.to_string(),
                sqlite_synchronous: sync,
            })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self {
                backend: Backend::Postgres,
                url: url.to_string(),
                sqlite_synchronous: sync,
            })
        } else {
            Err("must start with sqlite://, postgres:// or postgresql://".into())
        }
    }

    /// Opens one connection, with the per-connection settings applied.
    pub fn connect(&self) -> ConnectionResult<DbConn> {
        match self.backend {
            Backend::Postgres => {
                let mut conn = diesel::PgConnection::establish(&self.url)?;
                // JIT compilation pays off for long analytical queries; for this API's short
                // ones it costs more than it saves (the window matrix at 1M results: 216 ms of
                // JIT for a 77 ms query).
                conn.batch_execute("SET jit = off")
                    .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConn::Pg(conn))
            }
            Backend::Sqlite => {
                let mut conn = diesel::SqliteConnection::establish(&self.url)?;
                // WAL lets readers run beside the single writer; busy_timeout makes writers
                // queue instead of failing; foreign keys are off by default in SQLite. The
                // planner needs statistics to pick the right index for a window's grid (the
                // partial index of failures citing masks over a scan of the window): `optimize`
                // with 0x10002, as SQLite advises for long-lived connections, gathers them when
                // a table has none or has grown tenfold, sampling at most 1,000 rows per index.
                // Pages are read through a shared memory map (up to 256 MiB) rather than
                // copied into each connection's small page cache by read calls.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = {}; \
                     PRAGMA analysis_limit = 1000; PRAGMA optimize = 0x10002; \
                     PRAGMA mmap_size = 268435456;",
                    self.sqlite_synchronous
                ))
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConn::Sqlite(conn))
            }
        }
    }
}

/// r2d2 manager that opens connections through [`DbTarget::connect`].
pub struct Manager(DbTarget);

/// A pooled connection and when it was last handed back: r2d2 asks the manager whether a
/// connection is still good at every checkout, and a `SELECT 1` round trip per request is
/// most of a short request's cost on PostgreSQL. A connection returned in the last
/// [`TRUSTED_FOR`] is taken as good (a failure then still marks it broken and it is dropped on
/// return); one idle for longer is pinged first.
pub struct Pooled {
    conn: DbConn,
    returned: Instant,
}

/// How long after its last use a connection is handed out without a ping.
const TRUSTED_FOR: Duration = Duration::from_secs(15);

impl std::ops::Deref for Pooled {
    type Target = DbConn;

    fn deref(&self) -> &DbConn {
        &self.conn
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut DbConn {
        &mut self.conn
    }
}

impl ManageConnection for Manager {
    type Connection = Pooled;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<Pooled, r2d2::Error> {
        let conn = self.0.connect().map_err(r2d2::Error::ConnectionError)?;
        Ok(Pooled {
            conn,
            returned: Instant::now(),
        })
    }

    fn is_valid(&self, pooled: &mut Pooled) -> Result<(), r2d2::Error> {
        if pooled.returned.elapsed() < TRUSTED_FOR {
            return Ok(());
        }
        pooled.conn.ping().map_err(r2d2::Error::QueryError)
    }

    /// Called as the connection goes back to the pool: the moment [`Manager::is_valid`] counts from.
    fn has_broken(&self, pooled: &mut Pooled) -> bool {
        pooled.returned = Instant::now();
        pooled.conn.is_broken()
    }
}

pub type Pool = r2d2::Pool<Manager>;

/// The shared handle handlers use: a pool plus the backend it talks to.
#[derive(Clone)]
pub struct Db {
    pub pool: Pool,
    pub backend: Backend,
}

impl Db {
    /// Builds the pool; fails when no connection can be opened.
    pub fn connect(target: DbTarget, size: u32) -> anyhow::Result<Self> {
        let backend = target.backend;
        let pool = r2d2::Pool::builder()
            .max_size(size)
            .connection_timeout(Duration::from_secs(10))
            .build(Manager(target))?;
        Ok(Self { pool, backend })
    }
}

/// The same code on whichever concrete connection `conn` holds, for the builders diesel
/// offers per backend only (`on_conflict_do_nothing`, the transaction manager):
/// `on_backend!(conn, c => insert_into(t).values(v).on_conflict_do_nothing().execute(c))`.
/// SQL that differs between the backends is chosen with `match conn` instead.
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::db::DbConn::Pg($c) => $body,
            $crate::db::DbConn::Sqlite($c) => $body,
        }
    };
}

/// Runs `f` in a transaction that may write. On SQLite it starts with `BEGIN IMMEDIATE`, so
/// the write lock is taken up front and concurrent writers queue on `busy_timeout` rather
/// than failing with SQLITE_BUSY when a read lock would have to be upgraded.
pub fn write_tx<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    E: From<diesel::result::Error>,
    F: FnOnce(&mut DbConn) -> Result<T, E>,
{
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        DbConn::Pg(c) => AnsiTransactionManager::begin_transaction(c)?,
    }
    match f(conn) {
        Ok(value) => {
            crate::on_backend!(conn, c => AnsiTransactionManager::commit_transaction(c))?;
            Ok(value)
        }
        Err(e) => {
            // A failed rollback leaves the connection marked broken; r2d2 then discards it.
            let _ = crate::on_backend!(conn, c => AnsiTransactionManager::rollback_transaction(c));
            Err(e)
        }
    }
}

/// A table whose rows a write may lock before reading them (see [`lock_row`]).
#[derive(Debug, Clone, Copy)]
pub enum Lockable {
    Organisations,
    DeviceModels,
    Releases,
    RoadmapItems,
    LibraryContacts,
    UitWindows,
    UitIssues,
}

impl Lockable {
    fn statement(self) -> &'static str {
        match self {
            Lockable::Organisations => "SELECT id FROM organisations WHERE id = $1 FOR UPDATE",
            Lockable::DeviceModels => "SELECT id FROM device_models WHERE id = $1 FOR UPDATE",
            Lockable::Releases => "SELECT id FROM releases WHERE id = $1 FOR UPDATE",
            Lockable::RoadmapItems => "SELECT id FROM roadmap_items WHERE id = $1 FOR UPDATE",
            Lockable::LibraryContacts => "SELECT id FROM library_contacts WHERE id = $1 FOR UPDATE",
            Lockable::UitWindows => "SELECT id FROM uit_windows WHERE id = $1 FOR UPDATE",
            Lockable::UitIssues => "SELECT id FROM uit_issues WHERE id = $1 FOR UPDATE",
        }
    }
}

/// Serialises the writes of one row for the rest of the transaction: a read-check-write
/// (a version check, a rule over the row's neighbours) then sees no concurrent change. On
/// PostgreSQL a row lock; on SQLite nothing, as [`write_tx`] already holds the database's one
/// write lock from `BEGIN IMMEDIATE`.
pub fn lock_row(conn: &mut DbConn, table: Lockable, id: &str) -> QueryResult<()> {
    if let DbConn::Pg(_) = conn {
        diesel::sql_query(table.statement())
            .bind::<diesel::sql_types::Text, _>(id)
            .execute(conn)?;
    }
    Ok(())
}

/// The backend type of [`DbConn`], for boxed queries.
pub type DbBackend = <DbConn as Connection>::Backend;

/// Current time, truncated to microseconds so it round-trips through both backends.
pub fn now() -> chrono::NaiveDateTime {
    truncate(chrono::Utc::now().naive_utc())
}

/// An instant truncated to microseconds, the precision both backends store.
pub fn truncate(t: chrono::NaiveDateTime) -> chrono::NaiveDateTime {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}

/// A new UUIDv7 id as text.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
