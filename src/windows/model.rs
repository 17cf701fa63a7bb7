//! UIT windows: rows, API types and queries.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::WindowStatus;
use crate::db::schema::{uit_windows, window_participants, window_scenarios};
use crate::db::{now, DbConn, ReleaseId, WindowId};
use crate::http::ApiError;
use crate::readiness::criteria::ExitCriteria;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = uit_windows)]
pub struct WindowRow {
    pub id: WindowId,
    pub release_id: ReleaseId,
    pub name: String,
    pub opens_at: NaiveDateTime,
    pub closes_at: NaiveDateTime,
    pub cancelled_at: Option<NaiveDateTime>,
    pub cancel_reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
    /// JSON of [`ExitCriteria`]; null when none are set.
    pub exit_criteria: Option<String>,
    /// Days a claim lives without a result; null: claims here do not lapse.
    pub claim_ttl_days: Option<i32>,
}

impl WindowRow {
    /// The status at `now`; `list` filters with the same rules in SQL.
    pub fn status_at(&self, now: NaiveDateTime) -> WindowStatus {
        if self.cancelled_at.is_some() {
            WindowStatus::Cancelled
        } else if now < self.opens_at {
            WindowStatus::Scheduled
        } else if now < self.closes_at {
            WindowStatus::Open
        } else {
            WindowStatus::Closed
        }
    }
}

/// A period in which organisations test a release's firmware against business scenarios.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UitWindow {
    #[schema(value_type = String)]
    pub id: WindowId,
    #[schema(value_type = String)]
    pub release_id: ReleaseId,
    #[schema(example = "UIT-2027-03")]
    pub name: String,
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    /// From the clock at the time of the request, or `cancelled`.
    pub status: WindowStatus,
    /// Scenario codes to run, in order.
    pub scenarios: Vec<String>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    /// How many organisations have joined.
    pub participant_count: i64,
    /// What the shared evidence must show before the firmware leaves UIT (see
    /// `GET /uit-windows/{id}/readiness`); null when the operator has set none.
    pub exit_criteria: Option<ExitCriteria>,
    /// Days a claim in this window lives without a result of its holder (counted from the
    /// claim, the window's opening or the holder's latest result on the set, whichever is
    /// last); null: claims here do not lapse. See `Claim.expires_at`.
    pub claim_ttl_days: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl UitWindow {
    fn new(r: WindowRow, now: NaiveDateTime, scenarios: Vec<String>, participant_count: i64) -> QueryResult<Self> {
        Ok(Self {
            exit_criteria: ExitCriteria::from_stored(r.exit_criteria.as_deref())?,
            status: r.status_at(now),
            claim_ttl_days: r.claim_ttl_days,
            id: r.id,
            release_id: r.release_id,
            name: r.name,
            opens_at: r.opens_at.and_utc(),
            closes_at: r.closes_at.and_utc(),
            scenarios,
            cancelled_at: r.cancelled_at.map(|t| t.and_utc()),
            cancel_reason: r.cancel_reason,
            participant_count,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        })
    }
}

pub fn list(
    conn: &mut DbConn,
    release_id: Option<ReleaseId>,
    status: Option<WindowStatus>,
    now: NaiveDateTime,
    after: Option<String>,
    limit: i64,
) -> QueryResult<Vec<WindowRow>> {
    use uit_windows::dsl as w;
    let mut q = w::uit_windows.select(WindowRow::as_select()).into_boxed();
    if let Some(release_id) = release_id {
        q = q.filter(w::release_id.eq(release_id));
    }
    q = match status {
        None => q,
        Some(WindowStatus::Cancelled) => q.filter(w::cancelled_at.is_not_null()),
        Some(WindowStatus::Scheduled) => q.filter(w::cancelled_at.is_null()).filter(w::opens_at.gt(now)),
        Some(WindowStatus::Open) => q
            .filter(w::cancelled_at.is_null())
            .filter(w::opens_at.le(now))
            .filter(w::closes_at.gt(now)),
        Some(WindowStatus::Closed) => q.filter(w::cancelled_at.is_null()).filter(w::closes_at.le(now)),
    };
    if let Some(after) = after {
        q = q.filter(w::id.gt(after));
    }
    q.order(w::id.asc()).limit(limit).load(conn)
}

pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<WindowRow>> {
    uit_windows::table
        .find(id)
        .select(WindowRow::as_select())
        .first(conn)
        .optional()
}

/// The id of another window with this name.
pub fn name_taken(conn: &mut DbConn, name: &str) -> QueryResult<Option<String>> {
    uit_windows::table
        .filter(uit_windows::name.eq(name))
        .select(uit_windows::id)
        .first(conn)
        .optional()
}

/// Scenario codes per window, in the window's order.
pub fn scenarios_of(conn: &mut DbConn, window_ids: &[WindowId]) -> QueryResult<HashMap<WindowId, Vec<String>>> {
    let rows: Vec<(WindowId, String)> = window_scenarios::table
        .filter(window_scenarios::window_id.eq_any(window_ids))
        .select((window_scenarios::window_id, window_scenarios::scenario_code))
        .order((window_scenarios::window_id.asc(), window_scenarios::position.asc()))
        .load(conn)?;
    let mut map: HashMap<WindowId, Vec<String>> = HashMap::new();
    for (window, code) in rows {
        map.entry(window).or_default().push(code);
    }
    Ok(map)
}

/// Participants per window.
pub fn participant_counts(conn: &mut DbConn, window_ids: &[WindowId]) -> QueryResult<HashMap<WindowId, i64>> {
    let rows: Vec<(WindowId, i64)> = window_participants::table
        .filter(window_participants::window_id.eq_any(window_ids))
        .group_by(window_participants::window_id)
        .select((window_participants::window_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// The API form of `rows`, with their scenarios and participant counts, status as at `now`.
pub fn assemble(conn: &mut DbConn, rows: Vec<WindowRow>, now: NaiveDateTime) -> QueryResult<Vec<UitWindow>> {
    let ids: Vec<WindowId> = rows.iter().map(|r| r.id.clone()).collect();
    let mut scenarios = scenarios_of(conn, &ids)?;
    let counts = participant_counts(conn, &ids)?;
    rows.into_iter()
        .map(|r| {
            let s = scenarios.remove(&r.id).unwrap_or_default();
            let n = counts.get(&r.id).copied().unwrap_or(0);
            UitWindow::new(r, now, s, n)
        })
        .collect()
}

/// The window as the API shows it now; 404 when missing.
pub fn load(conn: &mut DbConn, id: &str) -> Result<(WindowRow, UitWindow), ApiError> {
    let row = find(conn, id)?.ok_or_else(ApiError::not_found)?;
    let window = assemble(conn, vec![row.clone()], now())?
        .pop()
        .ok_or_else(ApiError::not_found)?;
    Ok((row, window))
}

pub fn insert(conn: &mut DbConn, row: &WindowRow, scenarios: &[String]) -> QueryResult<()> {
    diesel::insert_into(uit_windows::table).values(row).execute(conn)?;
    // One row at a time: MultiConnection has no batch insert.
    for (position, code) in scenarios.iter().enumerate() {
        diesel::insert_into(window_scenarios::table)
            .values((
                window_scenarios::window_id.eq(&row.id),
                window_scenarios::scenario_code.eq(code),
                window_scenarios::position.eq(position as i32),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Saves the schedule, cancellation and exit criteria when the row is still at `row.version`; `false` when
/// it moved on.
pub fn update(conn: &mut DbConn, row: &WindowRow) -> QueryResult<bool> {
    let n = diesel::update(
        uit_windows::table
            .find(&row.id)
            .filter(uit_windows::version.eq(row.version)),
    )
    .set((
        uit_windows::opens_at.eq(row.opens_at),
        uit_windows::closes_at.eq(row.closes_at),
        uit_windows::cancelled_at.eq(row.cancelled_at),
        uit_windows::cancel_reason.eq(&row.cancel_reason),
        uit_windows::exit_criteria.eq(&row.exit_criteria),
        uit_windows::claim_ttl_days.eq(row.claim_ttl_days),
        uit_windows::updated_at.eq(now()),
        uit_windows::version.eq(row.version + 1),
    ))
    .execute(conn)?;
    Ok(n == 1)
}
crate::audit::audited!(UitWindow, "uit_window", id);
crate::http::idempotency::located!(UitWindow, "/api/v1/uit-windows", id);
