//! Estate imports: the job row, what the API shows of it, and its queries.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::schema::{estate_import_rejections as rej, estate_imports as ei};
use crate::db::{now, DbConn, OrgId, UserId};
use crate::http::ApiError;

crate::text_enum!(
    /// How a DPL file is written: CSV with a header, or JSON lines.
    ImportFormat {
        Csv => "csv",
        Jsonl => "jsonl",
    }
);

crate::text_enum!(
    /// Where an import job is: waiting for a worker, being read, finished, or stopped by an
    /// error that no row caused (an unreadable file, a database failure).
    ImportStatus {
        Queued => "queued",
        Running => "running",
        Done => "done",
        Failed => "failed",
    }
);

/// How many rejected rows an import keeps with their reasons (`rows_rejected` counts all).
pub const REJECTIONS_KEPT: i64 = 1000;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = ei)]
pub struct ImportRow {
    pub id: String,
    pub content_sha256: String,
    pub format: ImportFormat,
    pub as_of: NaiveDate,
    pub status: ImportStatus,
    pub rows_imported: i64,
    pub rows_rejected: i64,
    pub bytes_total: i64,
    pub bytes_read: i64,
    pub error: Option<String>,
    pub created_by_user_id: Option<UserId>,
    pub created_by_org_id: OrgId,
    pub created_at: NaiveDateTime,
    pub started_at: Option<NaiveDateTime>,
    pub finished_at: Option<NaiveDateTime>,
    pub heartbeat_at: Option<NaiveDateTime>,
}

impl ImportRow {
    /// A queued job for an uploaded file.
    pub fn queued(
        id: String,
        sha256: String,
        format: ImportFormat,
        as_of: NaiveDate,
        bytes: i64,
        by: (Option<UserId>, OrgId),
    ) -> Self {
        Self {
            id,
            content_sha256: sha256,
            format,
            as_of,
            status: ImportStatus::Queued,
            rows_imported: 0,
            rows_rejected: 0,
            bytes_total: bytes,
            bytes_read: 0,
            error: None,
            created_by_user_id: by.0,
            created_by_org_id: by.1,
            created_at: now(),
            started_at: None,
            finished_at: None,
            heartbeat_at: None,
        }
    }
}

/// A row of the file that was not imported, and why.
#[derive(Debug, Clone, Serialize, ToSchema, Queryable)]
pub struct Rejection {
    /// The row's line in the file (for CSV the header is line 1; a quoted field spanning
    /// lines counts from the line the row starts on).
    #[schema(example = 17)]
    pub line: i64,
    /// The column (CSV) or field path (JSON lines) and what is wrong with its value.
    #[schema(example = "device2_firmware: ESME model \"Atlas ES-10\" has no firmware version \"9.9\"")]
    pub reason: String,
}

/// A Deployed Products List import and how far it got.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EstateImport {
    pub id: String,
    pub format: ImportFormat,
    /// The date the DPL describes the estate at.
    pub as_of: NaiveDate,
    /// SHA-256 of the uploaded bytes (hex); with `as_of`, the import's identity.
    pub content_sha256: String,
    pub status: ImportStatus,
    /// Rows read so far (the header and blank lines are not rows).
    pub rows_read: i64,
    /// Rows accepted: each counted into its device set's installed count.
    pub rows_imported: i64,
    /// Rows refused whole (the first 1,000 are listed with their reasons).
    pub rows_rejected: i64,
    pub bytes_total: i64,
    pub bytes_read: i64,
    /// 0 to 1: the share of the file read (1 once done).
    #[schema(minimum = 0, maximum = 1)]
    pub progress: f64,
    /// Why a `failed` import stopped.
    pub error: Option<String>,
    #[schema(value_type = Option<String>)]
    pub created_by_user_id: Option<UserId>,
    #[schema(value_type = String)]
    pub created_by_org_id: OrgId,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The first 1,000 rejected rows by line; present when one import is read (and in the
    /// answer to an upload), absent from lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejections: Option<Vec<Rejection>>,
}

impl From<ImportRow> for EstateImport {
    fn from(r: ImportRow) -> Self {
        let status = r.status;
        let progress = match status {
            ImportStatus::Done => 1.0,
            _ if r.bytes_total > 0 => (r.bytes_read as f64 / r.bytes_total as f64).min(0.99),
            _ => 0.0,
        };
        Self {
            format: r.format,
            status,
            progress,
            id: r.id,
            as_of: r.as_of,
            content_sha256: r.content_sha256,
            rows_read: r.rows_imported + r.rows_rejected,
            rows_imported: r.rows_imported,
            rows_rejected: r.rows_rejected,
            bytes_total: r.bytes_total,
            bytes_read: r.bytes_read,
            error: r.error,
            created_by_user_id: r.created_by_user_id,
            created_by_org_id: r.created_by_org_id,
            created_at: r.created_at.and_utc(),
            started_at: r.started_at.map(|t| t.and_utc()),
            finished_at: r.finished_at.map(|t| t.and_utc()),
            rejections: None,
        }
    }
}

crate::audit::audited!(EstateImport, "estate_import", id);

pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<ImportRow>> {
    ei::table.find(id).select(ImportRow::as_select()).first(conn).optional()
}

/// The import of exactly these bytes as of this date, if there is one.
pub fn find_by_content(conn: &mut DbConn, sha256: &str, as_of: NaiveDate) -> QueryResult<Option<ImportRow>> {
    ei::table
        .filter(ei::content_sha256.eq(sha256))
        .filter(ei::as_of.eq(as_of))
        .select(ImportRow::as_select())
        .first(conn)
        .optional()
}

/// Inserts a job unless one with the same content and date exists (a concurrent upload of
/// the same file); true when this one was inserted.
pub fn insert(conn: &mut DbConn, row: &ImportRow) -> QueryResult<bool> {
    let n =
        crate::on_backend!(conn, c => diesel::insert_into(ei::table).values(row).on_conflict_do_nothing().execute(c))?;
    Ok(n == 1)
}

/// One import with its kept rejections.
pub fn load(conn: &mut DbConn, id: &str) -> Result<EstateImport, ApiError> {
    let row = find(conn, id)?.ok_or_else(ApiError::not_found)?;
    with_rejections(conn, row)
}

pub fn with_rejections(conn: &mut DbConn, row: ImportRow) -> Result<EstateImport, ApiError> {
    let rejections = rej::table
        .filter(rej::import_id.eq(&row.id))
        .order(rej::line.asc())
        .select((rej::line, rej::reason))
        .load::<Rejection>(conn)?;
    let mut view = EstateImport::from(row);
    view.rejections = Some(rejections);
    Ok(view)
}

/// A page of imports, oldest first.
pub fn list(conn: &mut DbConn, after: Option<String>, limit: i64) -> QueryResult<Vec<EstateImport>> {
    let mut q = ei::table.select(ImportRow::as_select()).into_boxed();
    if let Some(after) = after {
        q = q.filter(ei::id.gt(after));
    }
    Ok(q.order(ei::id.asc())
        .limit(limit)
        .load(conn)?
        .into_iter()
        .map(EstateImport::from)
        .collect())
}

/// Puts a failed import back in the queue for a new upload of the same bytes: counters and
/// rejections start again.
pub fn requeue(conn: &mut DbConn, id: &str, bytes: i64, format: ImportFormat) -> QueryResult<()> {
    diesel::delete(rej::table.filter(rej::import_id.eq(id))).execute(conn)?;
    diesel::update(ei::table.find(id))
        .set((
            ei::status.eq(ImportStatus::Queued),
            ei::format.eq(format.as_str()),
            ei::rows_imported.eq(0),
            ei::rows_rejected.eq(0),
            ei::bytes_total.eq(bytes),
            ei::bytes_read.eq(0),
            ei::error.eq(None::<String>),
            ei::started_at.eq(None::<NaiveDateTime>),
            ei::finished_at.eq(None::<NaiveDateTime>),
            ei::heartbeat_at.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Marks a job running (a fresh start: counters and rejections cleared, since the file is
/// read again from its first byte).
pub fn start(conn: &mut DbConn, id: &str) -> QueryResult<()> {
    let at = now();
    diesel::delete(rej::table.filter(rej::import_id.eq(id))).execute(conn)?;
    diesel::update(ei::table.find(id))
        .set((
            ei::status.eq(ImportStatus::Running),
            ei::rows_imported.eq(0),
            ei::rows_rejected.eq(0),
            ei::bytes_read.eq(0),
            ei::error.eq(None::<String>),
            ei::started_at.eq(Some(at)),
            ei::heartbeat_at.eq(Some(at)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Claims the oldest job a worker may take: queued, or running without a heartbeat since
/// `stale_before` (its worker died), and marks it running. `local` says whether this process
/// holds the job's file. The update repeats the condition, so two workers never both claim
/// one job.
pub fn claim(
    conn: &mut DbConn,
    stale_before: NaiveDateTime,
    local: impl Fn(&str) -> bool,
) -> QueryResult<Option<ImportRow>> {
    let claimable = ei::status.eq(ImportStatus::Queued).or(ei::status
        .eq(ImportStatus::Running)
        .and(ei::heartbeat_at.lt(stale_before)));
    let candidates: Vec<ImportRow> = ei::table
        .filter(claimable)
        .order(ei::id.asc())
        .limit(20)
        .select(ImportRow::as_select())
        .load(conn)?;
    for row in candidates.into_iter().filter(|r| local(&r.id)) {
        let taken = diesel::update(ei::table.find(&row.id).filter(claimable))
            .set((ei::status.eq(ImportStatus::Running), ei::heartbeat_at.eq(Some(now()))))
            .execute(conn)?;
        if taken == 1 {
            return Ok(Some(row));
        }
    }
    Ok(None)
}

/// What a running job has counted so far (the device-set counts are reported by the command
/// line and the import's closing audit row; the job row keeps the row counts).
#[derive(Debug, Clone, Copy, Default)]
pub struct Counters {
    pub rows_read: i64,
    pub rows_imported: i64,
    pub rows_rejected: i64,
    pub bytes_read: i64,
    pub sets_created: i64,
    pub sets_recorded: i64,
}

/// Records progress (and the heartbeat) of a running job.
pub fn progress(conn: &mut DbConn, id: &str, c: &Counters) -> QueryResult<()> {
    diesel::update(ei::table.find(id))
        .set((
            ei::rows_imported.eq(c.rows_imported),
            ei::rows_rejected.eq(c.rows_rejected),
            ei::bytes_read.eq(c.bytes_read),
            ei::heartbeat_at.eq(Some(now())),
        ))
        .execute(conn)?;
    Ok(())
}

/// Keeps rejected rows (the caller stops at [`REJECTIONS_KEPT`]).
pub fn add_rejections(conn: &mut DbConn, id: &str, rows: &[(i64, String)]) -> Result<(), ApiError> {
    use diesel::sql_types::{BigInt, Text};
    for chunk in rows.chunks(500) {
        let sql = format!(
            "INSERT INTO estate_import_rejections (import_id, line, reason) VALUES {}",
            crate::db::sql::values_clause(conn, chunk.len(), 3, None)
        );
        let mut q = diesel::sql_query(sql).into_boxed::<crate::db::DbBackend>();
        for (line, reason) in chunk {
            q = q.bind::<Text, _>(id).bind::<BigInt, _>(*line).bind::<Text, _>(reason);
        }
        q.execute(conn)?;
    }
    Ok(())
}

/// Ends a job: `done` with its final counters, or `failed` with the reason.
pub fn finish(conn: &mut DbConn, id: &str, c: &Counters, error: Option<&str>) -> QueryResult<()> {
    let status = if error.is_some() {
        ImportStatus::Failed
    } else {
        ImportStatus::Done
    };
    progress(conn, id, c)?;
    diesel::update(ei::table.find(id))
        .set((
            ei::status.eq(status.as_str()),
            ei::error.eq(error),
            ei::finished_at.eq(Some(now())),
        ))
        .execute(conn)?;
    Ok(())
}
