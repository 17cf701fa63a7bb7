//! Results: types and the upsert machinery shared by
//! single, batch and JUnit writes.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::AuthContext;
use crate::catalogue::nullable;
use crate::db::schema::{claims, results as r};
use crate::db::{now, DbConn, DefectMaskId, DeviceSetId, JsonText, OrgId, ResultId, UserId, WindowId};
use crate::http::ApiError;

crate::text_enum!(
    /// A test outcome, from worst to best: fail, blocked, pass_with_observations, pass, not_run.
    Outcome {
        Pass => "pass",
        PassWithObservations => "pass_with_observations",
        Fail => "fail",
        Blocked => "blocked",
        NotRun => "not_run",
    }
);

crate::text_enum!(
    /// Who may read a result: its organisation alone, also every organisation that joined the
    /// window (and the operator), or every authenticated organisation (reviewers included).
    Visibility {
        Private => "private",
        Participants => "participants",
        Industry => "industry",
    }
);

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = r)]
pub struct ResultRow {
    pub id: ResultId,
    pub window_id: WindowId,
    pub device_set_id: DeviceSetId,
    pub scenario_code: String,
    pub org_id: OrgId,
    pub outcome: Outcome,
    #[diesel(deserialize_as = crate::db::OptTs)]
    pub executed_at: Option<NaiveDateTime>,
    pub notes: String,
    pub external_ref: Option<String>,
    pub visibility: Visibility,
    pub lead: bool,
    pub defect_mask_ids: JsonText<Vec<DefectMaskId>>,
    pub published_by_user_id: Option<UserId>,
    #[diesel(deserialize_as = crate::db::Ts)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = crate::db::Ts)]
    pub updated_at: NaiveDateTime,
    pub version: i64,
}

/// A compatibility result of one organisation for one device set and scenario in a window.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TestResult {
    #[schema(value_type = String)]
    pub id: ResultId,
    #[schema(value_type = String)]
    pub uit_window_id: WindowId,
    #[schema(value_type = String)]
    pub device_set_id: DeviceSetId,
    pub scenario: String,
    #[schema(value_type = String)]
    pub org_id: OrgId,
    pub outcome: Outcome,
    pub executed_at: Option<DateTime<Utc>>,
    pub notes: String,
    #[schema(value_type = Vec<String>)]
    pub defect_mask_ids: Vec<DefectMaskId>,
    pub visibility: Visibility,
    pub external_ref: Option<String>,
    /// True when the organisation holds the window's claim on the device set.
    pub lead: bool,
    /// 1 for the first publication, +1 per amendment.
    pub revision: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Names beside the ids, whether a failure is a known issue (and which masks explain it),
    /// and the device set when asked for with `?embed=device_set`.
    #[serde(flatten)]
    pub context: super::context::ResultContext,
}

impl From<ResultRow> for TestResult {
    fn from(row: ResultRow) -> Self {
        Self {
            outcome: row.outcome,
            visibility: row.visibility,
            defect_mask_ids: row.defect_mask_ids.0,
            id: row.id,
            uit_window_id: row.window_id,
            device_set_id: row.device_set_id,
            scenario: row.scenario_code,
            org_id: row.org_id,
            executed_at: row.executed_at.map(|t| t.and_utc()),
            notes: row.notes,
            external_ref: row.external_ref,
            lead: row.lead,
            revision: row.version,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
            context: Default::default(),
        }
    }
}

/// One result as submitted (single, batch item or JUnit test case). A batch or JUnit item
/// that amends an existing result changes only the fields it sends: one left out keeps its
/// current value. On creation, left-out fields take the defaults below.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"uit_window_id": "0193a1c2-5b7e-7c41-8d2f-3e9a1b6c4d01", "device_set_id": "0193a1c2-4f10-7a88-b1c3-77d0e2f4a9b2", "scenario": "change_of_mode", "outcome": "fail", "executed_at": "2026-12-03T14:20:00Z", "notes": "Credit to prepay timed out at the meter (alert 8F3E).", "defect_mask_ids": ["0193a1c1-9e22-7f05-a6b4-5c8d9e0f1a23"], "visibility": "industry", "external_ref": "RUN-1042"}))]
pub struct ResultInput {
    #[schema(value_type = String)]
    pub uit_window_id: WindowId,
    #[schema(value_type = String)]
    pub device_set_id: DeviceSetId,
    /// One of the window's scenario codes.
    pub scenario: String,
    pub outcome: Outcome,
    /// Default none; `null` clears it on an amendment.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub executed_at: Option<Option<DateTime<Utc>>>,
    /// Default empty.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    pub notes: Option<String>,
    /// Defect masks that explain a failure; default none.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Vec<String>)]
    pub defect_mask_ids: Option<Vec<DefectMaskId>>,
    /// Default `private`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
    /// Default none; `null` clears it on an amendment.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub external_ref: Option<Option<String>>,
}

/// A field that may be left out but, when sent, must not be `null`.
fn present<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

impl ResultInput {
    pub(super) fn key(&self) -> (WindowId, DeviceSetId, String) {
        (
            self.uit_window_id.clone(),
            self.device_set_id.clone(),
            self.scenario.clone(),
        )
    }

    fn masks(&self) -> Option<Vec<DefectMaskId>> {
        self.defect_mask_ids.as_ref().map(|ids| {
            let mut masks = ids.clone();
            masks.sort();
            masks.dedup();
            masks
        })
    }

    /// The stored values this item asks for: what it sends, and for what it leaves out the
    /// current row's value (an amendment) or the default (a creation).
    fn apply(&self, row: &mut ResultRow) -> Result<(), serde_json::Error> {
        row.outcome = self.outcome;
        if let Some(t) = self.executed_at {
            row.executed_at = t.map(|t| crate::db::truncate(t.naive_utc()));
        }
        if let Some(notes) = &self.notes {
            row.notes = notes.clone();
        }
        if let Some(masks) = self.masks() {
            row.defect_mask_ids = JsonText(masks);
        }
        if let Some(v) = self.visibility {
            row.visibility = v;
        }
        if let Some(e) = &self.external_ref {
            row.external_ref = e.clone();
        }
        Ok(())
    }
}

/// The fields a publisher sets that differ between two states of a result, in API names.
pub fn changed_fields(before: &TestResult, after: &TestResult) -> Vec<&'static str> {
    [
        ("outcome", before.outcome != after.outcome),
        ("executed_at", before.executed_at != after.executed_at),
        ("notes", before.notes != after.notes),
        ("defect_mask_ids", before.defect_mask_ids != after.defect_mask_ids),
        ("visibility", before.visibility != after.visibility),
        ("external_ref", before.external_ref != after.external_ref),
    ]
    .into_iter()
    .filter(|(_, differs)| *differs)
    .map(|(name, _)| name)
    .collect()
}

/// Runs `query` over `ids` in chunks, so very long IN lists stay within database limits.
pub(super) fn chunked<I, T>(ids: &[I], mut query: impl FnMut(&[I]) -> QueryResult<Vec<T>>) -> QueryResult<Vec<T>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        out.extend(query(chunk)?);
    }
    Ok(out)
}

pub(super) fn unique<T: Ord>(values: impl Iterator<Item = T>) -> Vec<T> {
    let mut v: Vec<T> = values.collect();
    v.sort();
    v.dedup();
    v
}

/// What writing one item did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WriteOutcome {
    Created,
    Updated,
    Unchanged,
}

/// One written item: what happened, the row as it is now, and for an update the fields it
/// changed.
#[derive(Debug, Clone)]
pub struct Written {
    pub status: WriteOutcome,
    pub row: ResultRow,
    pub changed: Vec<&'static str>,
}

/// Writes validated items for the caller's organisation: creates, amends (keeping the old
/// revision; fields an item leaves out keep their values) or leaves alone what would not
/// change. Lead flags come from the caller's claims. Publishing in a window the organisation
/// has not joined joins it, under the same rule as joining ([`crate::windows::participants::accepts_joining`]).
/// New shared failures become `results` change events ([`super::notify`]); the per-cell
/// aggregates and the windows' grid versions follow every write ([`crate::matrix::cells`],
/// [`crate::matrix::versions`]).
pub fn upsert(conn: &mut DbConn, ctx: &AuthContext, items: &[ResultInput]) -> Result<Vec<Written>, ApiError> {
    let window_ids = unique(items.iter().map(|i| i.uit_window_id.clone()));
    let set_ids = unique(items.iter().map(|i| i.device_set_id.clone()));
    let mut existing: HashMap<(WindowId, DeviceSetId, String), ResultRow> = HashMap::new();
    for windows in window_ids.chunks(100) {
        let rows: Vec<ResultRow> = chunked(&set_ids, |sets| {
            r::table
                .filter(
                    r::org_id
                        .eq(&ctx.org_id)
                        .and(r::window_id.eq_any(windows))
                        .and(r::device_set_id.eq_any(sets)),
                )
                .select(ResultRow::as_select())
                .load(conn)
        })?;
        for row in rows {
            existing.insert(
                (
                    row.window_id.clone(),
                    row.device_set_id.clone(),
                    row.scenario_code.clone(),
                ),
                row,
            );
        }
    }
    let leads: HashSet<(WindowId, DeviceSetId)> = chunked(&window_ids, |chunk| {
        claims::table
            .filter(claims::org_id.eq(&ctx.org_id).and(claims::window_id.eq_any(chunk)))
            .select((claims::window_id, claims::device_set_id))
            .load(conn)
    })?
    .into_iter()
    .collect();
    for window in &window_ids {
        join_by_publishing(conn, ctx, window)?;
    }
    let now = now();
    let mut out = Vec::with_capacity(items.len());
    let mut failed = Vec::new();
    let mut deltas = crate::matrix::cells::Deltas::default();
    let mut writes = super::writes::Writes::default();
    for item in items {
        let lead = leads.contains(&(item.uit_window_id.clone(), item.device_set_id.clone()));
        match existing.get(&item.key()) {
            Some(row) => {
                let mut updated = row.clone();
                item.apply(&mut updated)?;
                let changed = changed_fields(&TestResult::from(row.clone()), &TestResult::from(updated.clone()));
                if changed.is_empty() {
                    out.push(Written {
                        status: WriteOutcome::Unchanged,
                        row: row.clone(),
                        changed,
                    });
                    continue;
                }
                let updated = ResultRow {
                    lead,
                    published_by_user_id: Some(ctx.user_id.clone()),
                    updated_at: now,
                    version: row.version + 1,
                    ..updated
                };
                let masks = item.defect_mask_ids.is_some().then(|| item.masks().unwrap_or_default());
                writes.amend(row, updated.clone(), &ctx.user_id, now, masks)?;
                deltas.written(Some(row), &updated);
                if super::notify::newly_failed(Some(row), &updated) {
                    failed.push(updated.clone());
                }
                out.push(Written {
                    status: WriteOutcome::Updated,
                    row: updated,
                    changed,
                });
            }
            None => {
                let mut created = ResultRow {
                    id: ResultId::new(),
                    window_id: item.uit_window_id.clone(),
                    device_set_id: item.device_set_id.clone(),
                    scenario_code: item.scenario.clone(),
                    org_id: ctx.org_id.clone(),
                    outcome: Outcome::NotRun,
                    executed_at: None,
                    notes: String::new(),
                    external_ref: None,
                    visibility: Visibility::Private,
                    lead,
                    defect_mask_ids: JsonText(Vec::new()),
                    published_by_user_id: Some(ctx.user_id.clone()),
                    created_at: now,
                    updated_at: now,
                    version: 1,
                };
                item.apply(&mut created)?;
                writes.create(created.clone(), item.masks().unwrap_or_default());
                deltas.written(None, &created);
                if super::notify::newly_failed(None, &created) {
                    failed.push(created.clone());
                }
                out.push(Written {
                    status: WriteOutcome::Created,
                    row: created,
                    changed: Vec::new(),
                });
            }
        }
    }
    writes.flush(conn)?;
    deltas.apply(conn)?;
    let written = out
        .iter()
        .filter(|w| !matches!(w.status, WriteOutcome::Unchanged))
        .map(|w| w.row.window_id.clone());
    crate::matrix::versions::bump(conn, &unique(written))?;
    super::notify::record(conn, ctx, &failed)?;
    Ok(out)
}

/// Publishing in a window is taking part: the first result of an organisation joins it, but
/// only while the window accepts participants (the rule of `POST .../participants`). An
/// organisation that already takes part may still publish once the window has closed.
fn join_by_publishing(conn: &mut DbConn, ctx: &AuthContext, window_id: &WindowId) -> Result<(), ApiError> {
    if super::visibility::is_participant(conn, window_id, &ctx.org_id)? {
        return Ok(());
    }
    if crate::windows::join(conn, window_id, &ctx.org_id, &ctx.user_id)? {
        crate::audit::record(
            conn,
            &crate::audit::Actor::from(ctx),
            crate::audit::Change::new("uit_window.join", "uit_window", window_id)
                .org(&ctx.org_id)
                .after(serde_json::json!({
                    "uit_window_id": window_id,
                    "org_id": ctx.org_id,
                    "joined_by": "result",
                })),
        )?;
    }
    Ok(())
}
crate::audit::audited!(TestResult, "result", id, owner = org_id);
crate::http::idempotency::located!(TestResult, "/api/v1/results", id);
