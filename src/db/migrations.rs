//! Embedded migrations: one tree per backend, with the same folder names.

use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::DbConn;

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Applies every pending migration; returns the names applied.
pub fn run_pending(conn: &mut DbConn) -> Result<Vec<String>, BoxError> {
    let applied = match conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE)?,
        DbConn::Pg(c) => c.run_pending_migrations(POSTGRES)?,
    };
    Ok(applied.into_iter().map(|v| v.to_string()).collect())
}

/// Reverts every applied migration (used by the up/down/up test and by operators).
pub fn revert_all(conn: &mut DbConn) -> Result<Vec<String>, BoxError> {
    let reverted = match conn {
        DbConn::Sqlite(c) => c.revert_all_migrations(SQLITE)?,
        DbConn::Pg(c) => c.revert_all_migrations(POSTGRES)?,
    };
    Ok(reverted.into_iter().map(|v| v.to_string()).collect())
}

/// Reverts the latest applied migration; returns its name.
pub fn revert_last(conn: &mut DbConn) -> Result<String, BoxError> {
    let reverted = match conn {
        DbConn::Sqlite(c) => c.revert_last_migration(SQLITE)?,
        DbConn::Pg(c) => c.revert_last_migration(POSTGRES)?,
    };
    Ok(reverted.to_string())
}

/// True when every embedded migration has been applied.
pub fn is_current(conn: &mut DbConn) -> Result<bool, BoxError> {
    let pending = match conn {
        DbConn::Sqlite(c) => c.has_pending_migration(SQLITE)?,
        DbConn::Pg(c) => c.has_pending_migration(POSTGRES)?,
    };
    Ok(!pending)
}
