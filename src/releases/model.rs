//! Releases, their firmware and stage history: rows, API types and queries.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::{ReleaseKind, Stage, StageMoveStatus};
use crate::db::schema::{device_models, firmware_versions, release_firmware, release_stage_history, releases};
use crate::db::{now, DbConn, DeviceModelId, FirmwareId, JsonText, OrgId, ReleaseId, UserId};
use crate::events::NewEvent;
use crate::http::validate::Validator;
use crate::http::ApiError;
use crate::review_packs::model::ReviewSnapshot;

/// Most firmware versions one release may carry.
pub const MAX_FIRMWARE: usize = 500;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = releases)]
pub struct ReleaseRow {
    pub id: ReleaseId,
    pub name: String,
    pub kind: ReleaseKind,
    pub target_date: Option<NaiveDate>,
    /// The last decided stage: the head of the track, which the next move follows. It may not
    /// be in effect yet (see [`Track`]).
    pub stage: Stage,
    pub notes: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
}

/// A firmware release moving through PIT, SIT, UIT and deployment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Release {
    #[schema(value_type = String)]
    pub id: ReleaseId,
    #[schema(example = "CHF 4.2.1 planned maintenance")]
    pub name: String,
    pub kind: ReleaseKind,
    /// The planned production date.
    pub target_date: Option<NaiveDate>,
    /// The stage in effect now. A move decided for later (a deployment phase starts at its
    /// `effective_at`) changes it only when it takes effect; until then it is in
    /// `pending_moves`.
    pub stage: Stage,
    /// Moves decided but not in effect yet, in the order they take effect; empty when none.
    pub pending_moves: Vec<PendingMove>,
    pub notes: String,
    /// The firmware versions the release carries, sorted.
    #[schema(value_type = Vec<String>)]
    pub firmware_ids: Vec<FirmwareId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Release {
    pub fn new(r: ReleaseRow, firmware_ids: Vec<FirmwareId>, track: Track) -> Self {
        Self {
            kind: r.kind,
            stage: track.in_effect.unwrap_or(r.stage),
            pending_moves: track.pending,
            id: r.id,
            name: r.name,
            target_date: r.target_date,
            notes: r.notes,
            firmware_ids,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

/// A move that is decided but has not taken effect.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PendingMove {
    /// The stage history entry that decided it.
    pub stage_change_id: String,
    pub stage: Stage,
    /// When it takes effect (for a deployment phase, when the phase starts).
    pub effective_at: DateTime<Utc>,
}

/// Where a release stands at an instant, worked out from its stage history: moves take
/// effect at their `effective_at`, not when they are decided.
#[derive(Debug, Clone, Default)]
pub struct Track {
    /// The stage in effect: the last decided move whose `effective_at` has come.
    pub in_effect: Option<Stage>,
    /// Decided moves not in effect yet, in the order they take effect.
    pub pending: Vec<PendingMove>,
    /// History entries that will never take effect: a later decision (a withdrawal) takes
    /// effect before them.
    pub superseded: HashSet<String>,
    /// The last decided move: its stage and when it takes effect. The next move may not take
    /// effect before it (a withdrawal may: it supersedes what has not happened yet).
    pub last: Option<(Stage, NaiveDateTime)>,
}

impl Track {
    /// The track of one release at `now`, from its history oldest decision first.
    pub fn of(history: &[StageChangeRow], now: NaiveDateTime) -> Self {
        let stage = |r: &StageChangeRow| r.to_stage;
        let mut track = Track {
            in_effect: history.iter().rev().find(|r| r.effective_at <= now).map(stage),
            last: history.last().map(|r| (stage(r), r.effective_at)),
            ..Track::default()
        };
        let mut earliest_later: Option<NaiveDateTime> = None;
        for r in history.iter().rev() {
            if earliest_later.is_some_and(|later| later < r.effective_at) {
                track.superseded.insert(r.id.clone());
            } else if r.effective_at > now {
                track.pending.push(PendingMove {
                    stage_change_id: r.id.clone(),
                    stage: stage(r),
                    effective_at: r.effective_at.and_utc(),
                });
            }
            earliest_later = Some(earliest_later.map_or(r.effective_at, |t| t.min(r.effective_at)));
        }
        track
            .pending
            .sort_by(|a, b| (a.effective_at, &a.stage_change_id).cmp(&(b.effective_at, &b.stage_change_id)));
        track
    }

    /// Where the history entry `row` stands at `now`.
    pub fn status_of(&self, row: &StageChangeRow, now: NaiveDateTime) -> StageMoveStatus {
        if self.superseded.contains(&row.id) {
            StageMoveStatus::Superseded
        } else if row.effective_at > now {
            StageMoveStatus::Scheduled
        } else {
            StageMoveStatus::Effective
        }
    }
}

/// The tracks of `release_ids` at `now`.
pub fn tracks(
    conn: &mut DbConn,
    release_ids: &[ReleaseId],
    now: NaiveDateTime,
) -> QueryResult<HashMap<ReleaseId, Track>> {
    let rows: Vec<StageChangeRow> = release_stage_history::table
        .filter(release_stage_history::release_id.eq_any(release_ids))
        .select(StageChangeRow::as_select())
        .order((release_stage_history::release_id.asc(), release_stage_history::id.asc()))
        .load(conn)?;
    let mut per_release: HashMap<ReleaseId, Vec<StageChangeRow>> = HashMap::new();
    for row in rows {
        per_release.entry(row.release_id.clone()).or_default().push(row);
    }
    Ok(per_release
        .into_iter()
        .map(|(id, history)| (id, Track::of(&history, now)))
        .collect())
}

pub fn list(
    conn: &mut DbConn,
    kind: Option<ReleaseKind>,
    stage: Option<Stage>,
    after: Option<String>,
    limit: i64,
) -> QueryResult<Vec<ReleaseRow>> {
    let mut q = releases::table.select(ReleaseRow::as_select()).into_boxed();
    if let Some(kind) = kind {
        q = q.filter(releases::kind.eq(kind));
    }
    if let Some(stage) = stage {
        // By the stage in effect: each release's last decided move that has taken effect.
        let now = now();
        let latest = diesel::alias!(release_stage_history as latest);
        let in_effect = latest
            .filter(latest.field(release_stage_history::effective_at).le(now))
            .group_by(latest.field(release_stage_history::release_id))
            .select(diesel::dsl::max(latest.field(release_stage_history::id)));
        q = q.filter(
            releases::id.eq_any(
                release_stage_history::table
                    .filter(release_stage_history::to_stage.eq(stage))
                    .filter(release_stage_history::id.nullable().eq_any(in_effect))
                    .select(release_stage_history::release_id),
            ),
        );
    }
    if let Some(after) = after {
        q = q.filter(releases::id.gt(after));
    }
    q.order(releases::id.asc()).limit(limit).load(conn)
}

pub fn find(conn: &mut DbConn, id: &ReleaseId) -> QueryResult<Option<ReleaseRow>> {
    releases::table
        .find(id)
        .select(ReleaseRow::as_select())
        .first(conn)
        .optional()
}

/// The release with its firmware; 404 when missing.
pub fn load(conn: &mut DbConn, id: &ReleaseId) -> Result<(ReleaseRow, Release), ApiError> {
    let row = find(conn, id)?.ok_or_else(ApiError::not_found)?;
    let ids = std::slice::from_ref(&row.id);
    let firmware = firmware_of(conn, ids)?.remove(&row.id).unwrap_or_default();
    let track = tracks(conn, ids, now())?.remove(&row.id).unwrap_or_default();
    Ok((row.clone(), Release::new(row, firmware, track)))
}

/// The id of another release with this name.
pub fn name_taken(conn: &mut DbConn, name: &str, except_id: Option<&str>) -> QueryResult<Option<String>> {
    let mut q = releases::table
        .filter(releases::name.eq(name))
        .select(releases::id)
        .into_boxed();
    if let Some(id) = except_id {
        q = q.filter(releases::id.ne(id.to_string()));
    }
    q.first(conn).optional()
}

/// Firmware ids per release, each list sorted.
pub fn firmware_of(conn: &mut DbConn, release_ids: &[ReleaseId]) -> QueryResult<HashMap<ReleaseId, Vec<FirmwareId>>> {
    let pairs: Vec<(ReleaseId, FirmwareId)> = release_firmware::table
        .filter(release_firmware::release_id.eq_any(release_ids))
        .select((release_firmware::release_id, release_firmware::firmware_id))
        .order((release_firmware::release_id.asc(), release_firmware::firmware_id.asc()))
        .load(conn)?;
    let mut map: HashMap<ReleaseId, Vec<FirmwareId>> = HashMap::new();
    for (release, firmware) in pairs {
        map.entry(release).or_default().push(firmware);
    }
    Ok(map)
}

/// Adds a field error unless `year` has four digits. RFC 3339 dates and instants do; chrono
/// also parses years like `+100000` or `-0001`, which PostgreSQL refuses (a 500) and SQLite
/// would store as text that no longer sorts.
pub fn check_year(v: &mut Validator, field: &str, year: i32) {
    if !(0..=9999).contains(&year) {
        v.error(field, "must have a four-digit year (0000-9999)");
    }
}

/// Drops repeated ids, keeping the first of each.
pub fn dedup_keep_order<T: Clone + Eq + std::hash::Hash>(ids: Vec<T>) -> Vec<T> {
    let mut seen = std::collections::HashSet::new();
    ids.into_iter().filter(|id| seen.insert(id.clone())).collect()
}

/// Adds a field error for each firmware id that names no firmware version (or one for too
/// many); returns the ids without repeats.
pub fn check_firmware(conn: &mut DbConn, v: &mut Validator, ids: Vec<FirmwareId>) -> QueryResult<Vec<FirmwareId>> {
    if ids.len() > MAX_FIRMWARE {
        v.error(
            "firmware_ids",
            format!("must list at most {MAX_FIRMWARE} firmware versions"),
        );
        return Ok(Vec::new());
    }
    let found: Vec<FirmwareId> = firmware_versions::table
        .filter(firmware_versions::id.eq_any(&ids))
        .select(firmware_versions::id)
        .load(conn)?;
    for (i, id) in ids.iter().enumerate() {
        if !found.contains(id) {
            v.error(&format!("firmware_ids[{i}]"), "no such firmware version");
        }
    }
    Ok(dedup_keep_order(ids))
}

/// Replaces the release's firmware with `ids`.
pub fn set_firmware(conn: &mut DbConn, release_id: &ReleaseId, ids: &[FirmwareId]) -> QueryResult<()> {
    diesel::delete(release_firmware::table.filter(release_firmware::release_id.eq(release_id))).execute(conn)?;
    // One row at a time: MultiConnection has no batch insert.
    for firmware_id in ids {
        diesel::insert_into(release_firmware::table)
            .values((
                release_firmware::release_id.eq(release_id),
                release_firmware::firmware_id.eq(firmware_id),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn insert(conn: &mut DbConn, row: &ReleaseRow) -> QueryResult<()> {
    diesel::insert_into(releases::table).values(row).execute(conn)?;
    Ok(())
}

/// Saves name, target date, notes and stage when the row is still at `row.version`;
/// `false` when it moved on.
pub fn update(conn: &mut DbConn, row: &ReleaseRow) -> QueryResult<bool> {
    let n = diesel::update(releases::table.find(&row.id).filter(releases::version.eq(row.version)))
        .set((
            releases::name.eq(&row.name),
            releases::target_date.eq(row.target_date),
            releases::notes.eq(&row.notes),
            releases::stage.eq(&row.stage),
            releases::updated_at.eq(now()),
            releases::version.eq(row.version + 1),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = release_stage_history)]
pub struct StageChangeRow {
    pub id: String,
    pub release_id: ReleaseId,
    pub from_stage: Option<Stage>,
    pub to_stage: Stage,
    pub decided_at: NaiveDateTime,
    pub effective_at: NaiveDateTime,
    pub actor_user_id: Option<UserId>,
    pub actor_org_id: Option<OrgId>,
    pub decision_note: String,
    pub review_pack_id: Option<String>,
    pub review_pack_sha256: Option<String>,
    pub reviews: Option<JsonText<Vec<ReviewSnapshot>>>,
    pub override_reason: Option<String>,
}

impl StageChangeRow {
    /// A decision that cites no review pack.
    pub fn plain(
        release_id: &ReleaseId,
        from_stage: Option<Stage>,
        to_stage: Stage,
        decided_at: NaiveDateTime,
        effective_at: NaiveDateTime,
        actor: Option<(&UserId, &OrgId)>,
        decision_note: String,
    ) -> Self {
        Self {
            id: crate::db::new_id(),
            release_id: release_id.clone(),
            from_stage,
            to_stage,
            decided_at,
            effective_at,
            actor_user_id: actor.map(|a| a.0.clone()),
            actor_org_id: actor.map(|a| a.1.clone()),
            decision_note,
            review_pack_id: None,
            review_pack_sha256: None,
            reviews: None,
            override_reason: None,
        }
    }
}

/// One decision on a release's track: who moved it, when, and why.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StageChange {
    pub id: String,
    #[schema(value_type = String)]
    pub release_id: ReleaseId,
    /// Null for the release's creation.
    pub from_stage: Option<Stage>,
    pub to_stage: Stage,
    /// When the decision was recorded.
    pub decided_at: DateTime<Utc>,
    /// When the stage takes effect (for deployment phases, when the phase starts): the
    /// release's `stage` changes then, not when the move is decided.
    pub effective_at: DateTime<Utc>,
    /// `effective` once `effective_at` has come, `scheduled` before, `superseded` when a later
    /// decision (a withdrawal) took effect first, so this move never will.
    pub status: StageMoveStatus,
    #[schema(value_type = Option<String>)]
    pub actor_user_id: Option<UserId>,
    #[schema(value_type = Option<String>)]
    pub actor_org_id: Option<OrgId>,
    pub decision_note: String,
    /// The review pack the decision cites (moves to `production_proving` and `approved`).
    pub review_pack_id: Option<String>,
    /// The cited pack's SHA-256, as it was when the decision was made.
    pub review_pack_sha256: Option<String>,
    /// The current verdicts on the pack when the decision was made.
    pub reviews: Option<Vec<ReviewSnapshot>>,
    /// Why the operator went ahead although the pack's exit criteria were not met.
    pub override_reason: Option<String>,
}

impl StageChange {
    /// The entry as it stands at `now` on `track`, its release's.
    pub fn new(r: StageChangeRow, track: &Track, now: NaiveDateTime) -> QueryResult<Self> {
        Ok(Self {
            status: track.status_of(&r, now),
            reviews: r.reviews.map(JsonText::into_inner),
            review_pack_id: r.review_pack_id,
            review_pack_sha256: r.review_pack_sha256,
            override_reason: r.override_reason,
            id: r.id,
            release_id: r.release_id,
            from_stage: r.from_stage,
            to_stage: r.to_stage,
            decided_at: r.decided_at.and_utc(),
            effective_at: r.effective_at.and_utc(),
            actor_user_id: r.actor_user_id,
            actor_org_id: r.actor_org_id,
            decision_note: r.decision_note,
        })
    }
}

pub fn insert_stage_change(conn: &mut DbConn, row: &StageChangeRow) -> QueryResult<()> {
    diesel::insert_into(release_stage_history::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Oldest first.
pub fn stage_history(
    conn: &mut DbConn,
    release_id: &ReleaseId,
    after: Option<String>,
    limit: i64,
) -> QueryResult<Vec<StageChangeRow>> {
    let mut q = release_stage_history::table
        .filter(release_stage_history::release_id.eq(release_id))
        .select(StageChangeRow::as_select())
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(release_stage_history::id.gt(after));
    }
    q.order(release_stage_history::id.asc()).limit(limit).load(conn)
}

/// The products a release touches, for subscription filters on its change events.
#[derive(Debug, Clone, Default)]
pub struct ProductScope {
    pub device_types: Vec<String>,
    pub device_model_ids: Vec<DeviceModelId>,
    pub manufacturer_org_ids: Vec<OrgId>,
}

impl ProductScope {
    /// Scopes `event` to these products.
    pub fn apply(self, event: NewEvent) -> NewEvent {
        event.scope(self.device_types, self.device_model_ids, self.manufacturer_org_ids)
    }

    /// The products of both, each list sorted and without repeats.
    pub fn merge(mut self, other: ProductScope) -> Self {
        merge_sorted(&mut self.device_types, other.device_types);
        merge_sorted(&mut self.device_model_ids, other.device_model_ids);
        merge_sorted(&mut self.manufacturer_org_ids, other.manufacturer_org_ids);
        self
    }
}

/// `mine` with `theirs` added, sorted and without repeats.
fn merge_sorted<T: Ord>(mine: &mut Vec<T>, theirs: Vec<T>) {
    mine.extend(theirs);
    mine.sort();
    mine.dedup();
}

/// The device types, models and manufacturers of the release's firmware.
pub fn product_scope(conn: &mut DbConn, release_id: &ReleaseId) -> QueryResult<ProductScope> {
    let rows: Vec<(String, DeviceModelId, OrgId)> = release_firmware::table
        .inner_join(firmware_versions::table.inner_join(device_models::table))
        .filter(release_firmware::release_id.eq(release_id))
        .select((
            device_models::device_type,
            device_models::id,
            device_models::manufacturer_org_id,
        ))
        .load(conn)?;
    let mut scope = ProductScope::default();
    for (device_type, model_id, manufacturer) in rows {
        scope.device_types.push(device_type);
        scope.device_model_ids.push(model_id);
        scope.manufacturer_org_ids.push(manufacturer);
    }
    Ok(scope)
}
crate::audit::audited!(Release, "release", id);
crate::http::idempotency::located!(Release, "/api/v1/releases", id);
