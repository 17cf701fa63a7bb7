//! Results: types, the visibility rule, and the validation and upsert machinery shared by
//! single, batch and JUnit writes.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::AuthContext;
use crate::db::schema::{
    claims, device_sets, result_defect_masks as rdm, result_revisions as rr, results as r, uit_windows,
    window_participants as wp, window_scenarios as ws,
};
use crate::db::{new_id, now, DbConn};
use crate::http::{ApiError, FieldError};

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
    pub id: String,
    pub window_id: String,
    pub device_set_id: String,
    pub scenario_code: String,
    pub org_id: String,
    pub outcome: String,
    pub executed_at: Option<NaiveDateTime>,
    pub notes: String,
    pub external_ref: Option<String>,
    pub visibility: String,
    pub lead: bool,
    pub defect_mask_ids: String,
    pub published_by_user_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
}

/// A compatibility result of one organisation for one device set and scenario in a window.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TestResult {
    pub id: String,
    pub uit_window_id: String,
    pub device_set_id: String,
    pub scenario: String,
    pub org_id: String,
    pub outcome: Outcome,
    pub executed_at: Option<DateTime<Utc>>,
    pub notes: String,
    pub defect_mask_ids: Vec<String>,
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
            outcome: Outcome::parse(&row.outcome).unwrap_or(Outcome::NotRun),
            visibility: Visibility::parse(&row.visibility).unwrap_or(Visibility::Private),
            defect_mask_ids: serde_json::from_str(&row.defect_mask_ids).unwrap_or_default(),
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

/// The boxed results query, narrowed to what `ctx` may read: its own organisation's results,
/// `industry` ones, and `participants` ones of windows it joined (all of them for the operator).
pub fn visible_to(ctx: &AuthContext) -> r::BoxedQuery<'static, crate::db::DbBackend> {
    let org = ctx.org_id.clone();
    let own_or_industry = r::org_id.eq(org.clone()).or(r::visibility.eq("industry"));
    if ctx.is_operator() {
        r::table
            .filter(own_or_industry.or(r::visibility.eq("participants")))
            .into_boxed()
    } else {
        let joined = wp::table.filter(wp::org_id.eq(org)).select(wp::window_id);
        r::table
            .filter(own_or_industry.or(r::visibility.eq("participants").and(r::window_id.eq_any(joined))))
            .into_boxed()
    }
}

/// Whether `ctx` may read a result of `org_id` with `visibility` in `window_id`.
pub fn may_read(
    conn: &mut DbConn,
    ctx: &AuthContext,
    org_id: &str,
    visibility: &str,
    window_id: &str,
) -> QueryResult<bool> {
    Ok(match visibility {
        _ if org_id == ctx.org_id => true,
        "industry" => true,
        "participants" if ctx.is_operator() => true,
        "participants" => is_participant(conn, window_id, &ctx.org_id)?,
        _ => false,
    })
}

pub fn is_participant(conn: &mut DbConn, window_id: &str, org_id: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        wp::table.filter(wp::window_id.eq(window_id).and(wp::org_id.eq(org_id))),
    ))
    .get_result(conn)
}

/// One result as submitted (single, batch item or JUnit test case).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResultInput {
    pub uit_window_id: String,
    pub device_set_id: String,
    /// One of the window's scenario codes.
    pub scenario: String,
    pub outcome: Outcome,
    pub executed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub notes: String,
    /// Defect masks that explain a failure.
    #[serde(default)]
    pub defect_mask_ids: Vec<String>,
    /// Default `private`.
    pub visibility: Option<Visibility>,
    pub external_ref: Option<String>,
}

impl ResultInput {
    fn key(&self) -> (String, String, String) {
        (
            self.uit_window_id.clone(),
            self.device_set_id.clone(),
            self.scenario.clone(),
        )
    }

    fn masks(&self) -> Vec<String> {
        let mut masks = self.defect_mask_ids.clone();
        masks.sort();
        masks.dedup();
        masks
    }

    /// Whether the stored row already says exactly this.
    fn same_as(&self, row: &ResultRow) -> bool {
        row.outcome == self.outcome.as_str()
            && row.executed_at == self.executed_at.map(|t| crate::db::truncate(t.naive_utc()))
            && row.notes == self.notes
            && row.defect_mask_ids == serde_json::to_string(&self.masks()).unwrap_or_default()
            && row.visibility == self.visibility.unwrap_or(Visibility::Private).as_str()
            && row.external_ref == self.external_ref
    }
}

/// Checks items against the database with a handful of set-based queries (not one per item);
/// returns every problem as `items[i].field` (or `field` when `prefix` is empty).
pub fn validate(conn: &mut DbConn, items: &[ResultInput], prefix: &str) -> Result<Vec<FieldError>, ApiError> {
    let field = |i: usize, name: &str| {
        if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}[{i}].{name}")
        }
    };
    let window_ids: Vec<String> = unique(items.iter().map(|i| i.uit_window_id.clone()));
    let set_ids: Vec<String> = unique(items.iter().map(|i| i.device_set_id.clone()));
    let mask_ids: Vec<String> = unique(items.iter().flat_map(|i| i.defect_mask_ids.clone()));
    let windows: HashMap<String, Option<NaiveDateTime>> = chunked(&window_ids, |chunk| {
        uit_windows::table
            .filter(uit_windows::id.eq_any(chunk))
            .select((uit_windows::id, uit_windows::cancelled_at))
            .load::<(String, Option<NaiveDateTime>)>(conn)
    })?
    .into_iter()
    .collect();
    let scenarios: HashSet<(String, String)> = chunked(&window_ids, |chunk| {
        ws::table
            .filter(ws::window_id.eq_any(chunk))
            .select((ws::window_id, ws::scenario_code))
            .load(conn)
    })?
    .into_iter()
    .collect();
    let sets: HashSet<String> = chunked(&set_ids, |chunk| {
        device_sets::table
            .filter(device_sets::id.eq_any(chunk))
            .select(device_sets::id)
            .load(conn)
    })?
    .into_iter()
    .collect();
    let masks: HashSet<String> = chunked(&mask_ids, |chunk| crate::defect_masks::model::existing(conn, chunk))?
        .into_iter()
        .collect();

    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let mut error = |name: &str, message: &str| {
            errors.push(FieldError {
                field: field(i, name),
                message: message.into(),
            })
        };
        match windows.get(&item.uit_window_id) {
            None => error("uit_window_id", "no such UIT window"),
            Some(Some(_)) => error("uit_window_id", "the window is cancelled"),
            Some(None) if !scenarios.contains(&(item.uit_window_id.clone(), item.scenario.clone())) => {
                error("scenario", "is not one of the window's scenarios")
            }
            Some(None) => {}
        }
        if !sets.contains(&item.device_set_id) {
            error("device_set_id", "no such device set");
        }
        for (m, id) in item.defect_mask_ids.iter().enumerate() {
            if !masks.contains(id) {
                error(&format!("defect_mask_ids[{m}]"), "no such defect mask");
            }
        }
        if item.defect_mask_ids.len() > 20 {
            error("defect_mask_ids", "at most 20 defect masks");
        }
        if item.notes.chars().count() > 4000 {
            error("notes", "must be at most 4000 characters");
        }
        if item.external_ref.as_ref().is_some_and(|e| e.chars().count() > 200) {
            error("external_ref", "must be at most 200 characters");
        }
        if item
            .executed_at
            .is_some_and(|t| t.naive_utc() > now() + chrono::Duration::hours(24))
        {
            error("executed_at", "must not be in the future");
        }
        if !seen.insert(item.key()) {
            error(
                "scenario",
                "the same window, device set and scenario appear twice in this request",
            );
        }
    }
    Ok(errors)
}

/// Runs `query` over `ids` in chunks, so very long IN lists stay within database limits.
fn chunked<T>(ids: &[String], mut query: impl FnMut(&[String]) -> QueryResult<Vec<T>>) -> QueryResult<Vec<T>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        out.extend(query(chunk)?);
    }
    Ok(out)
}

fn unique(values: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = values.collect();
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

/// Writes validated items for the caller's organisation: creates, amends (keeping the old
/// revision) or leaves alone what is identical. Lead flags come from the caller's claims; the
/// organisation joins every window it publishes in.
pub fn upsert(
    conn: &mut DbConn,
    ctx: &AuthContext,
    items: &[ResultInput],
) -> Result<Vec<(WriteOutcome, ResultRow)>, ApiError> {
    let window_ids = unique(items.iter().map(|i| i.uit_window_id.clone()));
    let set_ids = unique(items.iter().map(|i| i.device_set_id.clone()));
    let mut existing: HashMap<(String, String, String), ResultRow> = HashMap::new();
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
    let leads: HashSet<(String, String)> = chunked(&window_ids, |chunk| {
        claims::table
            .filter(claims::org_id.eq(&ctx.org_id).and(claims::window_id.eq_any(chunk)))
            .select((claims::window_id, claims::device_set_id))
            .load(conn)
    })?
    .into_iter()
    .collect();
    for window in &window_ids {
        join_quietly(conn, window, &ctx.org_id, &ctx.user_id)?;
    }
    let now = now();
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let masks = item.masks();
        let lead = leads.contains(&(item.uit_window_id.clone(), item.device_set_id.clone()));
        match existing.get(&item.key()) {
            Some(row) if item.same_as(row) => out.push((WriteOutcome::Unchanged, row.clone())),
            Some(row) => {
                keep_revision(conn, row, &ctx.user_id, now)?;
                let updated = ResultRow {
                    outcome: item.outcome.as_str().to_string(),
                    executed_at: item.executed_at.map(|t| crate::db::truncate(t.naive_utc())),
                    notes: item.notes.clone(),
                    external_ref: item.external_ref.clone(),
                    visibility: item.visibility.unwrap_or(Visibility::Private).as_str().to_string(),
                    lead,
                    defect_mask_ids: serde_json::to_string(&masks)?,
                    published_by_user_id: Some(ctx.user_id.clone()),
                    updated_at: now,
                    version: row.version + 1,
                    ..row.clone()
                };
                save(conn, &updated, row.version)?;
                replace_masks(conn, &updated.id, &masks)?;
                out.push((WriteOutcome::Updated, updated));
            }
            None => {
                let created = ResultRow {
                    id: new_id(),
                    window_id: item.uit_window_id.clone(),
                    device_set_id: item.device_set_id.clone(),
                    scenario_code: item.scenario.clone(),
                    org_id: ctx.org_id.clone(),
                    outcome: item.outcome.as_str().to_string(),
                    executed_at: item.executed_at.map(|t| crate::db::truncate(t.naive_utc())),
                    notes: item.notes.clone(),
                    external_ref: item.external_ref.clone(),
                    visibility: item.visibility.unwrap_or(Visibility::Private).as_str().to_string(),
                    lead,
                    defect_mask_ids: serde_json::to_string(&masks)?,
                    published_by_user_id: Some(ctx.user_id.clone()),
                    created_at: now,
                    updated_at: now,
                    version: 1,
                };
                diesel::insert_into(r::table).values(&created).execute(conn)?;
                replace_masks(conn, &created.id, &masks)?;
                out.push((WriteOutcome::Created, created));
            }
        }
    }
    Ok(out)
}

/// Joins the window unless already a participant; publishing in a window is taking part.
/// Unlike `windows::join` it does not refuse closed windows: late results are still results.
fn join_quietly(conn: &mut DbConn, window_id: &str, org_id: &str, user_id: &str) -> QueryResult<()> {
    if !is_participant(conn, window_id, org_id)? {
        diesel::insert_into(wp::table)
            .values((
                wp::window_id.eq(window_id),
                wp::org_id.eq(org_id),
                wp::joined_at.eq(now()),
                wp::joined_by_user_id.eq(user_id),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Stores the row as it was before an amendment.
pub fn keep_revision(conn: &mut DbConn, row: &ResultRow, user_id: &str, at: NaiveDateTime) -> Result<(), ApiError> {
    let snapshot = serde_json::to_string(&TestResult::from(row.clone()))?;
    diesel::insert_into(rr::table)
        .values((
            rr::id.eq(new_id()),
            rr::result_id.eq(&row.id),
            rr::revision.eq(row.version as i32),
            rr::snapshot_json.eq(snapshot),
            rr::visibility.eq(&row.visibility),
            rr::replaced_at.eq(at),
            rr::replaced_by_user_id.eq(user_id),
        ))
        .execute(conn)?;
    Ok(())
}

/// Saves an amended row when the stored one is still at `expected_version`.
pub fn save(conn: &mut DbConn, row: &ResultRow, expected_version: i64) -> Result<(), ApiError> {
    let n = diesel::update(r::table.find(&row.id).filter(r::version.eq(expected_version)))
        .set((
            r::outcome.eq(&row.outcome),
            r::executed_at.eq(row.executed_at),
            r::notes.eq(&row.notes),
            r::external_ref.eq(&row.external_ref),
            r::visibility.eq(&row.visibility),
            r::lead.eq(row.lead),
            r::defect_mask_ids.eq(&row.defect_mask_ids),
            r::published_by_user_id.eq(&row.published_by_user_id),
            r::updated_at.eq(row.updated_at),
            r::version.eq(row.version),
        ))
        .execute(conn)?;
    if n != 1 {
        return Err(ApiError::precondition_failed());
    }
    Ok(())
}

pub fn replace_masks(conn: &mut DbConn, result_id: &str, masks: &[String]) -> QueryResult<()> {
    diesel::delete(rdm::table.filter(rdm::result_id.eq(result_id))).execute(conn)?;
    for m in masks {
        diesel::insert_into(rdm::table)
            .values((rdm::result_id.eq(result_id), rdm::defect_mask_id.eq(m)))
            .execute(conn)?;
    }
    Ok(())
}
