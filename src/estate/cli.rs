//! `uit-portal import-dpl FILE --as-of DATE [--format csv|jsonl]`: the import the API runs,
//! run here against the configured database on the file in place, with a progress bar on
//! stderr. The job is recorded like an upload's (by the operator organisation, no user), so
//! the API lists it and the same bytes uploaded later answer it.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use chrono::NaiveDate;
use diesel::prelude::*;

use super::import::{self, Progress};
use super::model::{self, EstateImport, ImportFormat, ImportRow, ImportStatus};
use super::parse;
use super::upload::hash_file;
use super::worker::STALE_SECONDS;
use crate::audit::{self, Actor, Change};
use crate::config::Config;
use crate::db::schema::organisations as o;
use crate::db::{new_id, now, write_tx, DbConn, OrgId};
use crate::http::ApiError;

/// The format a file's name suggests: `.jsonl`, `.ndjson` and `.json` are JSON lines.
pub fn format_of(path: &Path) -> ImportFormat {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("jsonl" | "ndjson" | "json") => ImportFormat::Jsonl,
        _ => ImportFormat::Csv,
    }
}

/// Imports `file` as of `as_of`; returns the import (an earlier one of the same bytes and
/// date when there is one, which is not run again).
pub fn import_file(
    config: &Config,
    file: &Path,
    as_of: NaiveDate,
    format: Option<ImportFormat>,
) -> anyhow::Result<EstateImport> {
    let format = format.unwrap_or_else(|| format_of(file));
    let (sha256, bytes) = hash_file(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    anyhow::ensure!(bytes > 0, "{}: the file is empty", file.display());
    parse::check(format, std::fs::File::open(file)?).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let db = crate::prepare_database(config)?;
    let mut conn = db.pool.get()?;
    let job = write_tx(&mut conn, |conn| take(conn, sha256.clone(), format, as_of, bytes))
        .map_err(|e| anyhow::anyhow!(e.detail))?;
    let Some(job) = job else {
        let existing = model::find_by_content(&mut conn, &sha256, as_of)?.ok_or_else(|| anyhow::anyhow!("vanished"))?;
        eprintln!(
            "{} was imported as of {as_of} already (import {}, {})",
            file.display(),
            existing.id,
            existing.status
        );
        return model::with_rejections(&mut conn, existing).map_err(|e| anyhow::anyhow!(e.detail));
    };
    let started = Instant::now();
    let mut bar = Bar::default();
    let outcome = import::run(&mut conn, &job, file, &mut |p| bar.draw(p));
    eprintln!();
    let counters = outcome.map_err(|reason| anyhow::anyhow!("the import failed: {reason}"))?;
    eprintln!(
        "imported in {:.1} s: {} rows read, {} imported, {} rejected; {} device sets recorded, {} of them new",
        started.elapsed().as_secs_f64(),
        counters.rows_read,
        counters.rows_imported,
        counters.rows_rejected,
        counters.sets_recorded,
        counters.sets_created
    );
    model::load(&mut conn, &job.id).map_err(|e| anyhow::anyhow!(e.detail))
}

/// The job to run: a new one, or a failed or abandoned one of the same bytes and date; `None`
/// when those bytes were imported (or are being imported) already.
fn take(
    conn: &mut DbConn,
    sha256: String,
    format: ImportFormat,
    as_of: NaiveDate,
    bytes: i64,
) -> Result<Option<ImportRow>, ApiError> {
    let stale_before = now() - chrono::Duration::seconds(STALE_SECONDS);
    if let Some(existing) = model::find_by_content(conn, &sha256, as_of)? {
        let abandoned =
            existing.status == ImportStatus::Running && existing.heartbeat_at.is_some_and(|t| t < stale_before);
        if existing.status != ImportStatus::Failed && !abandoned {
            return Ok(None);
        }
        model::requeue(conn, &existing.id, bytes, format)?;
        return Ok(model::find(conn, &existing.id)?);
    }
    let operator: OrgId = o::table
        .filter(o::kind.eq(crate::auth::OrgKind::Operator))
        .order(o::created_at.asc())
        .select(o::id)
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::internal("no operator organisation"))?;
    let row = ImportRow::queued(new_id(), sha256, format, as_of, bytes, (None, operator.clone()));
    model::insert(conn, &row)?;
    let view = EstateImport::from(row.clone());
    audit::record(
        conn,
        &Actor::default(),
        Change::new("estate_import.create", "estate_import", &row.id)
            .org(&operator)
            .after(serde_json::to_value(&view)?),
    )?;
    Ok(Some(row))
}

/// `[##########..........]  50%  500000 rows  12 rejected`, redrawn in place.
#[derive(Default)]
struct Bar {
    last: Option<Instant>,
}

impl Bar {
    fn draw(&mut self, p: &Progress) {
        let done = p.sets_total > 0 && p.counters.sets_recorded >= p.sets_total;
        // Redrawn in place on a terminal; elsewhere (a log) only the last state.
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        if !done && (!terminal || self.last.is_some_and(|t| t.elapsed().as_millis() < 100)) {
            return;
        }
        self.last = Some(Instant::now());
        let share = if p.bytes_total > 0 {
            p.counters.bytes_read as f64 / p.bytes_total as f64
        } else {
            1.0
        };
        let filled = ((share * 30.0) as usize).min(30);
        let mut line = format!(
            "\r[{}{}] {:3.0}% {} rows, {} rejected",
            "#".repeat(filled),
            ".".repeat(30 - filled),
            share * 100.0,
            p.counters.rows_read,
            p.counters.rows_rejected
        );
        if p.sets_total > 0 {
            line.push_str(&format!(", device sets {}/{}", p.counters.sets_recorded, p.sets_total));
        }
        if terminal {
            // Clears what a longer earlier line left.
            line.push_str("\x1b[K");
        }
        let mut err = std::io::stderr();
        let _ = err.write_all(line.as_bytes());
        let _ = err.flush();
    }
}
