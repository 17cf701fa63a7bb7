//! A write's statements, set-based: however many items a batch or a JUnit report holds, the
//! revisions kept, the rows amended, the rows created and the defect masks cited are each a few
//! multi-row statements (chunked under both backends' bind limits), not one round trip per item.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Timestamp};

use super::model::{ResultRow, TestResult};
use crate::db::sql::values_clause;
use crate::db::{DbBackend, DbConn, DefectMaskId, ResultId};
use crate::http::ApiError;

/// Rows per statement: at most 16 binds each, 8,000 a statement, under SQLite's 32,766 and
/// PostgreSQL's 65,535.
const CHUNK: usize = 500;

type Boxed<'a> = diesel::query_builder::BoxedSqlQuery<'a, DbBackend, diesel::query_builder::SqlQuery>;

/// Binds what a result's author writes, `outcome` to `published_by_user_id`, in the order both
/// the amendment's and the creation's column lists name them.
fn bind_written<'a>(q: Boxed<'a>, row: &'a ResultRow) -> Boxed<'a> {
    q.bind::<Text, _>(&row.outcome)
        .bind::<Nullable<Timestamp>, _>(row.executed_at)
        .bind::<Text, _>(&row.notes)
        .bind::<Nullable<Text>, _>(&row.external_ref)
        .bind::<Text, _>(&row.visibility)
        .bind::<Bool, _>(row.lead)
        .bind::<Text, _>(&row.defect_mask_ids)
        .bind::<Nullable<Text>, _>(&row.published_by_user_id)
}

/// A stored row as it was before an amendment.
struct Revision {
    result_id: ResultId,
    revision: i32,
    snapshot_json: String,
    visibility: String,
    replaced_at: NaiveDateTime,
    /// The user who replaced it; empty when the system did (a lapse, a grant from the queue).
    replaced_by_user_id: String,
}

/// The writes of one request, gathered while its items are checked and applied in [`Writes::flush`].
#[derive(Default)]
pub struct Writes {
    created: Vec<ResultRow>,
    revisions: Vec<Revision>,
    /// Each amended row with the version it replaces (the optimistic check).
    amended: Vec<(ResultRow, i64)>,
    /// Results whose cited masks are replaced (their old citations are deleted first).
    masks_replaced: Vec<ResultId>,
    masks: Vec<(ResultId, DefectMaskId)>,
}

impl Writes {
    /// A new result citing `masks`.
    pub fn create(&mut self, row: ResultRow, masks: Vec<DefectMaskId>) {
        self.masks.extend(masks.into_iter().map(|m| (row.id.clone(), m)));
        self.created.push(row);
    }

    /// `before` amended to `after` by `user_id` at `at`, keeping `before` as a revision; the
    /// cited masks become `masks` when given.
    pub fn amend(
        &mut self,
        before: &ResultRow,
        after: ResultRow,
        user_id: &str,
        at: NaiveDateTime,
        masks: Option<Vec<DefectMaskId>>,
    ) -> Result<(), ApiError> {
        self.keep(before, user_id, at)?;
        if let Some(masks) = masks {
            self.masks_replaced.push(after.id.clone());
            self.masks.extend(masks.into_iter().map(|m| (after.id.clone(), m)));
        }
        self.amended.push((after, before.version));
        Ok(())
    }

    /// Keeps `row` as a revision replaced by `user_id` at `at`.
    fn keep(&mut self, row: &ResultRow, user_id: &str, at: NaiveDateTime) -> Result<(), ApiError> {
        self.revisions.push(Revision {
            result_id: row.id.clone(),
            revision: row.version as i32,
            snapshot_json: serde_json::to_string(&TestResult::from(row.clone()))?,
            visibility: row.visibility.as_str().to_string(),
            replaced_at: at,
            replaced_by_user_id: user_id.to_string(),
        });
        Ok(())
    }

    /// Runs the statements: revisions, amendments (412 when a row moved on meanwhile),
    /// creations, then the masks' citations.
    pub fn flush(self, conn: &mut DbConn) -> Result<(), ApiError> {
        for chunk in self.revisions.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO result_revisions (id, result_id, revision, snapshot_json, visibility, \
                 replaced_at, replaced_by_user_id) VALUES {}",
                values_clause(conn, chunk.len(), 7, None)
            );
            let mut q = diesel::sql_query(sql).into_boxed::<DbBackend>();
            for r in chunk {
                q = q
                    .bind::<Text, _>(crate::db::new_id())
                    .bind::<Text, _>(&r.result_id)
                    .bind::<Integer, _>(r.revision)
                    .bind::<Text, _>(&r.snapshot_json)
                    .bind::<Text, _>(&r.visibility)
                    .bind::<Timestamp, _>(r.replaced_at)
                    .bind::<Nullable<Text>, _>(Some(&r.replaced_by_user_id));
            }
            q.execute(conn)?;
        }
        for chunk in self.amended.chunks(CHUNK) {
            let sql = format!(
                "WITH v (id, expected, outcome, executed_at, notes, external_ref, visibility, lead, \
                     defect_mask_ids, published_by_user_id, updated_at, version) AS (VALUES {})
                 UPDATE results SET outcome = v.outcome, executed_at = v.executed_at,
                     notes = v.notes, external_ref = v.external_ref, visibility = v.visibility,
                     lead = v.lead, defect_mask_ids = v.defect_mask_ids,
                     published_by_user_id = v.published_by_user_id, updated_at = v.updated_at,
                     version = v.version
                 FROM v WHERE results.id = v.id AND results.version = v.expected",
                values_clause(conn, chunk.len(), 12, None)
            );
            let mut q = diesel::sql_query(sql).into_boxed::<DbBackend>();
            for (row, expected) in chunk {
                q = q.bind::<Text, _>(&row.id).bind::<BigInt, _>(*expected);
                q = bind_written(q, row)
                    .bind::<Timestamp, _>(row.updated_at)
                    .bind::<BigInt, _>(row.version);
            }
            if q.execute(conn)? != chunk.len() {
                return Err(ApiError::precondition_failed());
            }
        }
        for chunk in self.created.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO results (id, window_id, device_set_id, scenario_code, org_id, outcome, \
                 executed_at, notes, external_ref, visibility, lead, defect_mask_ids, \
                 published_by_user_id, created_at, updated_at, version) VALUES {}",
                values_clause(conn, chunk.len(), 16, None)
            );
            let mut q = diesel::sql_query(sql).into_boxed::<DbBackend>();
            for row in chunk {
                q = q
                    .bind::<Text, _>(&row.id)
                    .bind::<Text, _>(&row.window_id)
                    .bind::<Text, _>(&row.device_set_id)
                    .bind::<Text, _>(&row.scenario_code)
                    .bind::<Text, _>(&row.org_id);
                q = bind_written(q, row)
                    .bind::<Timestamp, _>(row.created_at)
                    .bind::<Timestamp, _>(row.updated_at)
                    .bind::<BigInt, _>(row.version);
            }
            q.execute(conn)?;
        }
        use crate::db::schema::result_defect_masks as rdm;
        for chunk in self.masks_replaced.chunks(CHUNK) {
            diesel::delete(rdm::table.filter(rdm::result_id.eq_any(chunk))).execute(conn)?;
        }
        for chunk in self.masks.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO result_defect_masks (result_id, defect_mask_id) VALUES {}",
                values_clause(conn, chunk.len(), 2, None)
            );
            let mut q = diesel::sql_query(sql).into_boxed::<DbBackend>();
            for (result, mask) in chunk {
                q = q.bind::<Text, _>(result).bind::<Text, _>(mask);
            }
            q.execute(conn)?;
        }
        Ok(())
    }
}
