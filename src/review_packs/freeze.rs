//! Freezing a pack: the window's industry evidence read once, in one consistent moment, and
//! written as canonical JSON, a CSV table and an index, in parts, hashing as it goes.

use diesel::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::model::{CriterionSummary, PackRow, PackSummary, FORMAT, PART_BYTES};
use crate::auth::AuthContext;
use crate::db::schema::{results as r, review_pack_parts as parts, review_packs};
use crate::db::{new_id, now, DbConn, ResultId, WindowId};
use crate::http::ApiError;
use crate::matrix::model::{self as matrix, Evidence};
use crate::readiness::model::{self as readiness, Readiness};
use crate::results::model::{ResultRow, TestResult};

/// Results read per query while writing a pack.
const BATCH: i64 = 1_000;

/// Writes one part of a pack in pieces of at most [`PART_BYTES`], hashing what it writes.
struct PartWriter {
    pack_id: String,
    part: &'static str,
    seq: i32,
    buf: String,
    hasher: Sha256,
    bytes: i64,
}

impl PartWriter {
    fn new(pack_id: &str, part: &'static str) -> Self {
        Self {
            pack_id: pack_id.to_string(),
            part,
            seq: 0,
            buf: String::with_capacity(PART_BYTES),
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    fn push(&mut self, conn: &mut DbConn, s: &str) -> QueryResult<()> {
        if self.buf.len() + s.len() > PART_BYTES && !self.buf.is_empty() {
            self.flush(conn)?;
        }
        self.buf.push_str(s);
        if self.buf.len() >= PART_BYTES {
            self.flush(conn)?;
        }
        Ok(())
    }

    fn flush(&mut self, conn: &mut DbConn) -> QueryResult<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        diesel::insert_into(parts::table)
            .values((
                parts::pack_id.eq(&self.pack_id),
                parts::part.eq(self.part),
                parts::seq.eq(self.seq),
                parts::body.eq(&self.buf),
            ))
            .execute(conn)?;
        self.hasher.update(self.buf.as_bytes());
        self.bytes += self.buf.len() as i64;
        self.seq += 1;
        self.buf.clear();
        Ok(())
    }

    /// Hex SHA-256 and size of everything written.
    fn finish(mut self, conn: &mut DbConn) -> QueryResult<(String, i64)> {
        self.flush(conn)?;
        Ok((hex::encode(self.hasher.finalize()), self.bytes))
    }
}

/// Canonical JSON: keys sorted at every level (whatever order a map keeps), no whitespace.
pub fn canonical<T: Serialize>(value: &T) -> Result<String, ApiError> {
    Ok(serde_json::to_string(&sorted(serde_json::to_value(value)?))?)
}

fn sorted(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// `"key":value,` in canonical form.
fn field<T: Serialize>(key: &str, value: &T) -> Result<String, ApiError> {
    Ok(format!("{}:{},", serde_json::to_string(key)?, canonical(value)?))
}

/// The CSV header of a pack's results table.
const CSV_HEADER: [&str; 14] = [
    "result_id",
    "device_set_id",
    "device_set_name",
    "scenario",
    "org_id",
    "org_name",
    "outcome",
    "known_issue_masks",
    "defect_mask_ids",
    "executed_at",
    "revision",
    "lead",
    "external_ref",
    "notes",
];

fn csv_line(fields: &[String]) -> Result<String, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(fields).map_err(ApiError::internal)?;
    String::from_utf8(w.into_inner().map_err(ApiError::internal)?).map_err(ApiError::internal)
}

fn csv_record(t: &TestResult, v: &serde_json::Value) -> Vec<String> {
    let text = |key: &str| v.get(key).and_then(|x| x.as_str()).unwrap_or_default().to_string();
    let known: Vec<String> = v
        .get("known_issue_masks")
        .and_then(|x| x.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|m| m.get("code").and_then(|c| c.as_str()).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    vec![
        t.id.to_string(),
        t.device_set_id.to_string(),
        crate::matrix::handlers::neutralise(&text("device_set_name")),
        t.scenario.clone(),
        t.org_id.to_string(),
        crate::matrix::handlers::neutralise(&text("org_name")),
        t.outcome.as_str().to_string(),
        known.join(" "),
        t.defect_mask_ids.join(" "),
        t.executed_at.map(|x| x.to_rfc3339()).unwrap_or_default(),
        t.revision.to_string(),
        t.lead.to_string(),
        crate::matrix::handlers::neutralise(t.external_ref.as_deref().unwrap_or("")),
        crate::matrix::handlers::neutralise(&t.notes),
    ]
}

/// What a new pack is made of besides the window's results.
pub struct NewPack<'a> {
    pub ctx: &'a AuthContext,
    pub window_id: &'a WindowId,
    pub title: Option<String>,
    /// Unresolved UIT issues to freeze, as JSON values, and their count.
    pub uit_issues: Vec<serde_json::Value>,
}

/// Freezes the industry evidence of the window into a new pack (inside the caller's write
/// transaction, which is what makes the pack one consistent moment).
pub fn create(conn: &mut DbConn, new: NewPack<'_>) -> Result<PackRow, ApiError> {
    let ctx = new.ctx;
    // One moment: SQLite's write transaction already keeps writers out; on PostgreSQL the
    // evidence tables are locked against writes until the pack is stored, so every section
    // (matrix, readiness, results) reads the same data.
    if let DbConn::Pg(_) = conn {
        diesel::sql_query(
            "LOCK TABLE results, result_defect_masks, defect_masks, claims, uit_windows, window_participants, uit_issues \
             IN SHARE MODE",
        )
        .execute(conn)?;
    }
    let grid = matrix::grid_of(
        conn,
        ctx,
        new.window_id,
        Evidence::Industry,
        matrix::Detail::Compositions,
    )?;
    let readiness: Readiness = readiness::readiness_of(conn, ctx, &grid, Evidence::Industry)?;
    let window = crate::windows::model::load(conn, new.window_id)?.1;
    let (_, release) = crate::releases::model::load(conn, &window.release_id)?;
    let coverage = crate::matrix::handlers::coverage(grid.clone(), None);
    let matrix = crate::matrix::handlers::matrix(grid);
    let at = now();
    let id = new_id();
    let title = new
        .title
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| format!("{} review pack, {}", window.name, crate::events::show(at)));
    let summary = PackSummary {
        criteria: readiness
            .criteria
            .iter()
            .map(|m| CriterionSummary {
                criterion: m.criterion,
                description: m.description.clone(),
                threshold: m.threshold,
                measured: m.measured,
                met: m.met,
            })
            .collect(),
        unmet: readiness.unmet.clone(),
        results: readiness.evidence.results,
        device_sets: readiness.evidence.device_sets,
        tested_share: coverage.totals.tested_share,
        complete_share: coverage.totals.complete_share,
        unexplained_failures: readiness.evidence.unexplained_failures,
        known_issues: readiness.evidence.known_issues,
        open_uit_issues: new.uit_issues.len() as i64,
    };
    let mut row = PackRow {
        id: id.clone(),
        window_id: window.id.clone(),
        release_id: release.id.clone(),
        title,
        sha256: String::new(),
        bytes: 0,
        results: 0,
        readiness_met: readiness.met,
        summary: serde_json::to_string(&summary)?,
        created_at: at,
        created_by_user_id: Some(ctx.user_id.clone()),
        created_by_org_id: ctx.org_id.clone(),
    };
    diesel::insert_into(review_packs::table).values(&row).execute(conn)?;

    let masks = cited_masks(conn, &window.id)?;
    let mut doc = PartWriter::new(&id, "json");
    let mut csv = PartWriter::new(&id, "csv");
    let mut index = PartWriter::new(&id, "index");
    // Keys in sorted order: coverage, created_at, created_by_org_id, defect_masks, format, id,
    // matrix, readiness, release, results, title, uit_issues, uit_window.
    let mut head = String::from("{");
    head += &field("coverage", &coverage)?;
    head += &field("created_at", &at.and_utc())?;
    head += &field("created_by_org_id", &ctx.org_id)?;
    head += &field("defect_masks", &masks)?;
    head += &field("format", &FORMAT)?;
    head += &field("id", &id)?;
    head += &field("matrix", &matrix)?;
    head += &field("readiness", &readiness)?;
    head += &field("release", &release)?;
    head += "\"results\":[";
    doc.push(conn, &head)?;
    csv.push(conn, &csv_line(&CSV_HEADER.map(String::from))?)?;
    for m in &readiness.criteria {
        index.push(conn, &format!("K {} {}\n", m.criterion.as_str(), m.met))?;
    }
    for row in &matrix.rows {
        for (code, cell) in &row.cells {
            if let Some(worst) = &cell.worst {
                index.push(conn, &format!("C {} {} {}\n", row.device_set_id, code, worst))?;
            }
        }
    }
    let mut after: Option<ResultId> = None;
    let mut count = 0i64;
    loop {
        let mut q = r::table
            .filter(r::window_id.eq(&window.id))
            .filter(r::visibility.eq(crate::results::model::Visibility::Industry))
            .select(ResultRow::as_select())
            .order(r::id.asc())
            .limit(BATCH)
            .into_boxed();
        if let Some(a) = &after {
            q = q.filter(r::id.gt(a.clone()));
        }
        let rows: Vec<ResultRow> = q.load(conn)?;
        let Some(last) = rows.last() else { break };
        after = Some(last.id.clone());
        let mut items: Vec<TestResult> = rows.into_iter().map(TestResult::from).collect();
        crate::results::context::describe(conn, &mut items, None)?;
        for t in &items {
            let v = sorted(serde_json::to_value(t)?);
            let json = serde_json::to_string(&v)?;
            doc.push(conn, if count == 0 { "" } else { "," })?;
            doc.push(conn, &json)?;
            csv.push(conn, &csv_line(&csv_record(t, &v))?)?;
            index.push(conn, &format!("R {} {}\n", t.id, t.revision))?;
            count += 1;
        }
    }
    let mut tail = String::from("],");
    tail += &field("title", &row.title)?;
    tail += &field("uit_issues", &new.uit_issues)?;
    tail += &format!("\"uit_window\":{}}}", canonical(&window)?);
    doc.push(conn, &tail)?;
    let (sha256, bytes) = doc.finish(conn)?;
    csv.finish(conn)?;
    index.finish(conn)?;
    diesel::update(review_packs::table.find(&id))
        .set((
            review_packs::sha256.eq(&sha256),
            review_packs::bytes.eq(bytes),
            review_packs::results.eq(count),
        ))
        .execute(conn)?;
    row.sha256 = sha256;
    row.bytes = bytes;
    row.results = count;
    Ok(row)
}

/// The defect masks the window's industry results cite, by id.
fn cited_masks(
    conn: &mut DbConn,
    window_id: &WindowId,
) -> Result<Vec<crate::defect_masks::model::DefectMask>, ApiError> {
    use crate::db::schema::result_defect_masks as rdm;
    let ids: Vec<String> = rdm::table
        .inner_join(r::table.on(r::id.eq(rdm::result_id)))
        .filter(r::window_id.eq(window_id))
        .filter(r::visibility.eq(crate::results::model::Visibility::Industry))
        .select(rdm::defect_mask_id)
        .distinct()
        .order(rdm::defect_mask_id.asc())
        .load(conn)?;
    ids.iter()
        .map(|id| crate::defect_masks::handlers::load_one(conn, id).map(|(m, _)| m))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_at_every_level_and_has_no_whitespace() {
        let v = json!({ "b": [ { "z": 1, "a": 0.5 } ], "a": { "y": null, "x": "s p" } });
        assert_eq!(
            super::canonical(&v).unwrap(),
            r#"{"a":{"x":"s p","y":null},"b":[{"a":0.5,"z":1}]}"#
        );
    }
}
