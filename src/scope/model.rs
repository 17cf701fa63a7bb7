//! A window's stored scope, its implied scope when none is stored, and how either reads.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::estate::Counts;
use super::ScopeStrategy;
use crate::db::schema::{
    claims as c, device_set_members as dsm, device_sets as ds, release_firmware as rf, window_scope_sets as wss,
    window_scopes as ws,
};
use crate::db::sql::values_clause;
use crate::db::{DbBackend, DbConn, DeviceSetId, OrgId, UserId, WindowId};
use crate::windows::model::WindowRow;
use diesel::sql_types::{BigInt, Text};

/// Why a set is in an implied scope.
pub const HOLDS_RELEASE_FIRMWARE: &str = "holds firmware of the window's release";
pub const CLAIMED: &str = "claimed in the window";

/// A stored (explicit) scope.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = ws)]
pub struct ScopeRow {
    pub window_id: WindowId,
    pub strategy: ScopeStrategy,
    pub top_n: Option<i64>,
    pub cover_every_live_version: bool,
    pub dpl_as_of: Option<NaiveDate>,
    pub set_by_user_id: Option<UserId>,
    pub set_by_org_id: OrgId,
    pub set_at: NaiveDateTime,
}

/// A set in a scope and why it is there.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScopeSet {
    #[schema(value_type = String)]
    pub device_set_id: DeviceSetId,
    pub name: String,
    /// Its installed count in the latest DPL (0 when the DPL does not list it).
    pub installed_count: i64,
    /// E.g. "top 5 by prevalence", "adds CHF 1.2.0 of Hub X", "listed by the operator".
    pub reason: String,
}

/// A window's scope: the explicit one when the operator set one, else the implied one.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WindowScope {
    #[schema(value_type = String)]
    pub window_id: WindowId,
    /// False when no scope was set: `sets` are then the implied scope (the sets holding the
    /// release's firmware, and the sets claimed in the window).
    pub explicit: bool,
    /// How the explicit scope was chosen; null for the implied scope.
    pub strategy: Option<ScopeStrategy>,
    pub top_n: Option<i64>,
    pub cover_every_live_version: Option<bool>,
    /// The DPL a `prevalence` sample was drawn from.
    pub sampled_from_dpl_as_of: Option<NaiveDate>,
    /// In order: an explicit scope as chosen; the implied one most installed first.
    pub sets: Vec<ScopeSet>,
    /// The date of the latest DPL, which the share is measured against; null without one.
    pub dpl_as_of: Option<NaiveDate>,
    /// The sets' installed count in the latest DPL.
    pub covered_installed: i64,
    /// The latest DPL's whole installed base.
    pub total_installed: i64,
    /// `covered_installed / total_installed`, 0 to 1; null without a DPL.
    pub covered_share: Option<f64>,
    /// For a `prevalence` sample just drawn: the live versions of the estate's products that no
    /// set of the DPL holds, so no scope can cover them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uncovered_live_versions: Option<Vec<String>>,
    #[schema(value_type = Option<String>)]
    pub set_by_user_id: Option<UserId>,
    #[schema(value_type = Option<String>)]
    pub set_by_org_id: Option<OrgId>,
    pub set_at: Option<DateTime<Utc>>,
}

/// A set of a scope as stored: `(id, name, reason)`.
pub type Listed = (String, String, String);

/// The stored scope of `window_id` with its sets in order.
pub fn stored(conn: &mut DbConn, window_id: &WindowId) -> QueryResult<Option<(ScopeRow, Vec<Listed>)>> {
    let Some(row) = ws::table
        .find(window_id)
        .select(ScopeRow::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let sets = wss::table
        .inner_join(ds::table)
        .filter(wss::window_id.eq(window_id))
        .order(wss::position)
        .select((ds::id, ds::name, wss::reason))
        .load(conn)?;
    Ok(Some((row, sets)))
}

/// Whether `window_id` has an explicit scope.
pub fn is_explicit(conn: &mut DbConn, window_id: &WindowId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(ws::table.find(window_id))).get_result(conn)
}

/// The implied scope of `window`: the sets holding its release's firmware, then the other sets
/// claimed in it, each `(id, name, reason)`.
pub fn implied(conn: &mut DbConn, window: &WindowRow) -> QueryResult<Vec<Listed>> {
    let mut sets: Vec<(String, String)> = rf::table
        .inner_join(dsm::table.on(dsm::firmware_id.eq(rf::firmware_id)))
        .inner_join(ds::table.on(ds::id.eq(dsm::device_set_id)))
        .filter(rf::release_id.eq(&window.release_id))
        .select((ds::id, ds::name))
        .distinct()
        .load(conn)?;
    sets.sort();
    let held: std::collections::HashSet<String> = sets.iter().map(|s| s.0.clone()).collect();
    let claimed: Vec<(String, String)> = c::table
        .inner_join(ds::table)
        .filter(c::window_id.eq(&window.id))
        .select((ds::id, ds::name))
        .order(ds::id)
        .load(conn)?;
    let mut all: Vec<Listed> = sets
        .into_iter()
        .map(|(id, name)| (id, name, HOLDS_RELEASE_FIRMWARE.to_string()))
        .collect();
    all.extend(
        claimed
            .into_iter()
            .filter(|(id, _)| !held.contains(id))
            .map(|(id, name)| (id, name, CLAIMED.to_string())),
    );
    Ok(all)
}

/// Replaces the stored scope of `row.window_id` with `row` and `set_ids` (with their reasons).
pub fn replace(conn: &mut DbConn, row: &ScopeRow, sets: &[(String, String)]) -> QueryResult<()> {
    diesel::delete(wss::table.filter(wss::window_id.eq(&row.window_id))).execute(conn)?;
    diesel::delete(ws::table.find(&row.window_id)).execute(conn)?;
    diesel::insert_into(ws::table).values(row).execute(conn)?;
    let rows: Vec<(usize, &(String, String))> = sets.iter().enumerate().collect();
    for chunk in rows.chunks(1000) {
        let sql = format!(
            "INSERT INTO window_scope_sets (window_id, device_set_id, position, reason) VALUES {}",
            values_clause(conn, chunk.len(), 4, None)
        );
        let mut q = diesel::sql_query(sql).into_boxed::<DbBackend>();
        for (i, (id, reason)) in chunk {
            q = q
                .bind::<Text, _>(&row.window_id)
                .bind::<Text, _>(id)
                .bind::<BigInt, _>(*i as i64)
                .bind::<Text, _>(reason);
        }
        q.execute(conn)?;
    }
    Ok(())
}

/// The scope of `window` as it reads, its share measured with `counts`.
pub fn view(conn: &mut DbConn, window: &WindowRow, counts: &Counts) -> QueryResult<WindowScope> {
    let (row, sets) = match stored(conn, &window.id)? {
        Some((row, sets)) => (Some(row), sets),
        None => (None, implied(conn, window)?),
    };
    let mut sets: Vec<ScopeSet> = sets
        .into_iter()
        .map(|(id, name, reason)| ScopeSet {
            installed_count: counts.by_set.get(&id).copied().unwrap_or(0),
            device_set_id: id.into(),
            name,
            reason,
        })
        .collect();
    if row.is_none() {
        sets.sort_by(|a, b| {
            b.installed_count
                .cmp(&a.installed_count)
                .then_with(|| a.device_set_id.cmp(&b.device_set_id))
        });
    }
    let (covered, share) = counts.cover(sets.iter().map(|s| s.device_set_id.as_str()));
    Ok(WindowScope {
        window_id: window.id.clone(),
        explicit: row.is_some(),
        strategy: row.as_ref().map(|r| r.strategy),
        top_n: row.as_ref().and_then(|r| r.top_n),
        cover_every_live_version: row.as_ref().map(|r| r.cover_every_live_version),
        sampled_from_dpl_as_of: row.as_ref().and_then(|r| r.dpl_as_of),
        sets,
        dpl_as_of: counts.as_of,
        covered_installed: covered,
        total_installed: counts.total,
        covered_share: share,
        uncovered_live_versions: None,
        set_by_user_id: row.as_ref().and_then(|r| r.set_by_user_id.clone()),
        set_by_org_id: row.as_ref().map(|r| r.set_by_org_id.clone()),
        set_at: row.map(|r| r.set_at.and_utc()),
    })
}
