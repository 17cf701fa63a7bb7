//! The import worker: one loop per process (in `serve` and `worker`) that claims the oldest
//! queued import whose file this process holds, runs it on the blocking pool, and sleeps
//! until an upload wakes it or the poll interval passes. A job whose worker died (no
//! heartbeat for [`STALE_SECONDS`]) is claimed again and run from the start of its file;
//! its writes are upserts, so the second run ends where one clean run would have.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use actix_web::web;

use super::import;
use super::model;
use crate::config::Config;
use crate::db::{now, write_tx, DbConn};
use crate::http::ApiError;
use crate::AppState;

/// How long a running job may go without a heartbeat before another worker takes it over.
/// A job beats at least every 20,000 rows or 1,000 sets, well within it.
pub const STALE_SECONDS: i64 = 120;

/// How often an idle worker looks for work it was not woken for (stale jobs).
const POLL: Duration = Duration::from_secs(5);

/// Where uploaded files wait for their job: `<data_dir>/estate-imports`.
pub fn import_dir(config: &Config) -> PathBuf {
    config.data_dir.join("estate-imports")
}

/// The file of import `id` in `dir`.
pub fn file_of(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.dpl"))
}

/// Starts the loop; it stops when the process does.
pub fn start(state: &web::Data<AppState>) {
    let state = state.clone();
    actix_web::rt::spawn(async move {
        loop {
            if state.stopping.load(Ordering::Relaxed) {
                return;
            }
            let dir = import_dir(&state.config);
            match state.db.run(move |conn| run_next(conn, &dir)).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "DPL import worker: retrying after the poll interval"),
            }
            tokio::select! {
                _ = state.estate_wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    });
}

/// Claims and runs one job; false when there was none. Blocking.
pub fn run_next(conn: &mut DbConn, dir: &Path) -> Result<bool, ApiError> {
    let stale_before = now() - chrono::Duration::seconds(STALE_SECONDS);
    let claimed = write_tx(conn, |conn| {
        model::claim(conn, stale_before, |id| file_of(dir, id).exists())
    })?;
    let Some(job) = claimed else {
        return Ok(false);
    };
    let file = file_of(dir, &job.id);
    tracing::info!(import = %job.id, as_of = %job.as_of, "DPL import started");
    if let Ok(counters) = import::run(conn, &job, &file, &mut |_| {}) {
        tracing::info!(import = %job.id, rows = counters.rows_read, rejected = counters.rows_rejected,
            sets_created = counters.sets_created, "DPL import done");
    }
    // Done or failed, the file has served: the same bytes uploaded again answer the done
    // import, or bring a new copy for a failed one.
    let _ = std::fs::remove_file(&file);
    Ok(true)
}
