//! A DPL import from upload to end: queueing an uploaded file (idempotent by content), and
//! running a job: the file streamed row by row, each row resolved against the catalogue in
//! memory and counted into its membership's total (rows with one membership are summed), then
//! the totals written in batches (`apply.rs`). Memory grows with the number of distinct
//! memberships, never with the number of rows.

use std::cell::Cell;
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::rc::Rc;

use chrono::NaiveDate;

use super::apply;
use super::model::{self, Counters, EstateImport, ImportRow, ImportStatus, REJECTIONS_KEPT};
use super::parse::{self, Item, Naming};
use super::resolve::Catalogue;
use super::upload::Upload;
use crate::audit::{self, Actor, Change};
use crate::auth::AuthContext;
use crate::db::{new_id, write_tx, DbConn};
use crate::device_sets::model::MAX_PREVALENCE;
use crate::http::ApiError;

/// How often (in rows) a running job records its progress and heartbeat.
const PROGRESS_ROWS: i64 = 20_000;

/// What an upload became: a new (or re-queued) job, or the import these bytes already had.
pub enum Enqueued {
    Queued(EstateImport),
    Existing(EstateImport),
}

/// Queues `upload` as of `as_of`, its file kept as the job's (`file`): the import of the same
/// bytes as of the same date when there is one (a failed one is queued again), else a new
/// job, with its audit row.
pub fn enqueue(
    conn: &mut DbConn,
    ctx: &AuthContext,
    upload: Upload,
    as_of: NaiveDate,
    file: impl Fn(&str) -> std::path::PathBuf,
) -> Result<Enqueued, ApiError> {
    if let Some(existing) = model::find_by_content(conn, &upload.sha256, as_of)? {
        if existing.status != ImportStatus::Failed {
            return Ok(Enqueued::Existing(model::with_rejections(conn, existing)?));
        }
        upload.keep(&file(&existing.id))?;
        model::requeue(conn, &existing.id, upload.bytes, upload.format)?;
        let view = model::load(conn, &existing.id)?;
        audit::record(
            conn,
            &Actor::from(ctx),
            Change::new("estate_import.retry", "estate_import", &existing.id)
                .org(&existing.created_by_org_id)
                .before(serde_json::json!({ "status": existing.status, "error": existing.error }))
                .after(serde_json::json!({ "status": view.status })),
        )?;
        return Ok(Enqueued::Queued(view));
    }
    let by = (Some(ctx.user_id.clone()), ctx.org_id.clone());
    let row = ImportRow::queued(new_id(), upload.sha256.clone(), upload.format, as_of, upload.bytes, by);
    upload.keep(&file(&row.id))?;
    if !model::insert(conn, &row)? {
        // The same bytes raced in from another request (PostgreSQL): that one stands.
        let _ = std::fs::remove_file(file(&row.id));
        let existing = model::find_by_content(conn, &row.content_sha256, as_of)?.ok_or_else(ApiError::not_found)?;
        return Ok(Enqueued::Existing(model::with_rejections(conn, existing)?));
    }
    let view = model::with_rejections(conn, row)?;
    audit::created(conn, ctx, "estate_import.create", &view)?;
    Ok(Enqueued::Queued(view))
}

/// What the command line's progress bar shows.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub counters: Counters,
    pub bytes_total: i64,
    /// Device sets to write, once the file is read (0 while reading).
    pub sets_total: i64,
}

/// Why a job stopped short.
pub enum Stop {
    /// The file cannot be read as a DPL (a bad header, an I/O error).
    File(String),
    Db(ApiError),
}

impl From<String> for Stop {
    fn from(message: String) -> Self {
        Stop::File(message)
    }
}

impl From<ApiError> for Stop {
    fn from(e: ApiError) -> Self {
        Stop::Db(e)
    }
}

impl From<diesel::result::Error> for Stop {
    fn from(e: diesel::result::Error) -> Self {
        Stop::Db(e.into())
    }
}

/// Runs a claimed job over `file` to its end: `done` with its counters and audit row, or
/// `failed` with the reason (also returned). Blocking; holds `conn` throughout, each batch
/// in a write transaction of its own.
pub fn run(
    conn: &mut DbConn,
    job: &ImportRow,
    file: &Path,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<Counters, String> {
    match attempt(conn, job, file, on_progress) {
        Ok(counters) => Ok(counters),
        Err(stop) => {
            let reason = match stop {
                Stop::File(message) => message,
                Stop::Db(e) => e.detail,
            };
            tracing::warn!(import = %job.id, reason = %reason, "DPL import failed");
            let failed = write_tx(conn, |conn| {
                model::finish(conn, &job.id, &Counters::default(), Some(&reason))
            });
            if let Err(e) = failed {
                tracing::error!(import = %job.id, error = %e, "could not record that a DPL import failed");
            }
            Err(reason)
        }
    }
}

fn attempt(
    conn: &mut DbConn,
    job: &ImportRow,
    file: &Path,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<Counters, Stop> {
    write_tx(conn, |conn| model::start(conn, &job.id))?;
    let catalogue = Catalogue::load(conn)?;
    let opened = std::fs::File::open(file).map_err(|e| format!("the uploaded file cannot be opened: {e}"))?;
    let tally = read(conn, job, opened, &catalogue, on_progress)?;
    let mut counters = tally.counters;
    apply::apply(conn, job, &catalogue, tally.sets, &mut counters, on_progress)?;
    write_tx(conn, |conn| {
        model::finish(conn, &job.id, &counters, None)?;
        audit::record(
            conn,
            &Actor {
                user_id: job.created_by_user_id.clone(),
                org_id: Some(job.created_by_org_id.clone()),
                request_id: None,
            },
            Change::new("estate_import.finish", "estate_import", &job.id)
                .org(&job.created_by_org_id)
                .after(serde_json::json!({
                    "as_of": job.as_of, "rows_read": counters.rows_read, "rows_imported": counters.rows_imported,
                    "rows_rejected": counters.rows_rejected, "sets_created": counters.sets_created,
                    "sets_recorded": counters.sets_recorded,
                })),
        )
    })?;
    Ok(counters)
}

/// A membership's total so far and the line of its first row.
pub struct Total {
    pub count: i64,
    pub first_line: u64,
}

/// What reading the file gathers: the total of each membership (sorted firmware indexes)
/// and the counters, with rejected rows waiting to be written.
#[derive(Default)]
struct Tally {
    sets: HashMap<Box<[u32]>, Total>,
    counters: Counters,
    pending: Vec<(i64, String)>,
    kept: i64,
}

impl Tally {
    fn add(&mut self, members: &[u32], count: i64, line: u64) {
        match self.sets.get_mut(members) {
            Some(total) if total.count + count > MAX_PREVALENCE => {
                self.reject(
                    line,
                    format!("installed_count: this device set's rows add up to more than {MAX_PREVALENCE}"),
                );
                return;
            }
            Some(total) => total.count += count,
            None => {
                self.sets.insert(
                    members.into(),
                    Total {
                        count,
                        first_line: line,
                    },
                );
            }
        }
        self.counters.rows_read += 1;
        self.counters.rows_imported += 1;
    }

    fn reject(&mut self, line: u64, reason: String) {
        self.counters.rows_read += 1;
        self.counters.rows_rejected += 1;
        if self.kept < REJECTIONS_KEPT {
            self.kept += 1;
            self.pending.push((line as i64, reason));
        }
    }

    /// Records progress, heartbeat and the rejections gathered since the last time.
    fn flush(&mut self, conn: &mut DbConn, id: &str) -> Result<(), ApiError> {
        let pending = std::mem::take(&mut self.pending);
        let counters = self.counters;
        write_tx(conn, |conn| {
            model::progress(conn, id, &counters)?;
            model::add_rejections(conn, id, &pending)
        })
    }
}

/// Bytes read from the file so far, for progress.
struct Counting<R> {
    inner: R,
    bytes: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.set(self.bytes.get() + n as u64);
        Ok(n)
    }
}

fn read(
    conn: &mut DbConn,
    job: &ImportRow,
    file: std::fs::File,
    catalogue: &Catalogue,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<Tally, Stop> {
    let bytes = Rc::new(Cell::new(0u64));
    let reader = Counting {
        inner: file,
        bytes: bytes.clone(),
    };
    let format = job.format;
    let naming = match format {
        model::ImportFormat::Csv => Naming::Csv,
        model::ImportFormat::Jsonl => Naming::Jsonl,
    };
    let mut tally = Tally::default();
    let (mut key, mut members) = (String::new(), Vec::new());
    parse::read::<_, Stop>(format, reader, &mut |item| {
        match item {
            Item::Row(row) => match catalogue.resolve(row, naming, &mut key, &mut members) {
                Ok(()) => tally.add(&members, row.installed_count, row.line),
                Err(reason) => tally.reject(row.line, reason),
            },
            Item::Rejected { line, reason } => tally.reject(line, reason),
        }
        if tally.counters.rows_read % PROGRESS_ROWS == 0 {
            tally.counters.bytes_read = bytes.get() as i64;
            tally.flush(conn, &job.id)?;
            on_progress(&progress(&tally.counters, job, 0));
        }
        Ok(())
    })?;
    tally.counters.bytes_read = bytes.get() as i64;
    tally.flush(conn, &job.id)?;
    on_progress(&progress(&tally.counters, job, tally.sets.len() as i64));
    Ok(tally)
}

pub fn progress(counters: &Counters, job: &ImportRow, sets_total: i64) -> Progress {
    Progress {
        counters: *counters,
        bytes_total: job.bytes_total,
        sets_total,
    }
}
