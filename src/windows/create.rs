//! Scheduling a UIT window, and the scheduling rules a reschedule applies again.

use chrono::{DateTime, Datelike, Duration, NaiveDateTime, SubsecRound, Utc};

use super::handlers::NewWindow;
use super::model::{self, UitWindow, WindowRow};
use super::scenarios::{self, DEFAULT_SCENARIOS};
use crate::audit;
use crate::auth::AuthContext;
use crate::db::{now, DbConn, ReleaseId, WindowId};
use crate::events::{self, show, NewEvent, Topic};
use crate::http::validate::Validator;
use crate::http::ApiError;
use crate::http::ErrorCode;
use crate::readiness::criteria::ExitCriteria;
use crate::releases::model::{self as releases, ReleaseRow};
use crate::releases::ReleaseKind;

/// A `planned_maintenance` release's window lasts at most 4 weeks.
const PLANNED_MAINTENANCE_MAX_DAYS: i64 = 28;

/// Most scenarios one window may name.
const MAX_SCENARIOS: usize = 100;

pub(super) fn instant(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc().trunc_subsecs(6)
}

/// 422 unless the release is still in progress: a finished release gets no testing.
pub(super) fn check_release_in_progress(release: &ReleaseRow) -> Result<(), ApiError> {
    let stage = release.stage;
    if stage.is_finished() {
        return Err(ApiError::unprocessable(
            ErrorCode::ReleaseFinished,
            format!(
                "Release {} is {stage}; its UIT windows cannot be scheduled or moved.",
                release.name
            ),
        )
        .with_context(serde_json::json!({ "release_id": release.id, "stage": stage })));
    }
    Ok(())
}

/// 422 `window_too_long` when a `planned_maintenance` window exceeds 28 days.
pub(super) fn check_length(
    release: &ReleaseRow,
    opens_at: NaiveDateTime,
    closes_at: NaiveDateTime,
) -> Result<(), ApiError> {
    let length = closes_at - opens_at;
    if release.kind == ReleaseKind::PlannedMaintenance && length > Duration::days(PLANNED_MAINTENANCE_MAX_DAYS) {
        let days = length.num_seconds() as f64 / 86_400.0;
        return Err(ApiError::unprocessable(
            ErrorCode::WindowTooLong,
            format!(
                "A planned_maintenance release's UIT window may last at most {PLANNED_MAINTENANCE_MAX_DAYS} days; \
                 this one lasts {days:.1} days."
            ),
        )
        .with_context(serde_json::json!({ "max_days": PLANNED_MAINTENANCE_MAX_DAYS, "days": days })));
    }
    Ok(())
}

/// "<release> UIT — <opening month>", made unique with " (2)", " (3)"... The release's name
/// is shortened so the whole stays within the 100 characters a window's name may have.
fn default_name(conn: &mut DbConn, release: &ReleaseRow, opens_at: NaiveDateTime) -> Result<String, ApiError> {
    let release_name: String = release.name.trim().chars().take(64).collect();
    let base = format!("{} UIT — {}", release_name.trim_end(), opens_at.format("%B %Y"));
    for n in 1..1000 {
        let name = if n == 1 { base.clone() } else { format!("{base} ({n})") };
        if model::name_taken(conn, &name)?.is_none() {
            return Ok(name);
        }
    }
    Err(ApiError::conflict(
        ErrorCode::WindowNameTaken,
        "Too many windows of this release open in this month; name the window.",
    ))
}

/// The release's products, scoping `event` for subscription filters.
fn scoped(conn: &mut DbConn, release_id: &ReleaseId, event: NewEvent) -> Result<NewEvent, ApiError> {
    Ok(releases::product_scope(conn, release_id)?.apply(event))
}

/// Schedules a window with its `window.scheduled` event and audit row. The times, the
/// scenarios (default: the four seeded ones; each must exist), the release and the exit
/// criteria are validated together (422 naming each field); the release must be in progress
/// (422 `release_finished`) and a `planned_maintenance` release's window at most 28 days long
/// (422 `window_too_long`); a name in use is 409 `window_name_taken`.
pub fn schedule(conn: &mut DbConn, ctx: &AuthContext, body: NewWindow, ttl_days: i64) -> Result<UitWindow, ApiError> {
    let (opens_at, closes_at) = (instant(body.opens_at), instant(body.closes_at));
    let codes = body
        .scenarios
        .unwrap_or_else(|| DEFAULT_SCENARIOS.iter().map(|c| c.to_string()).collect());
    let mut v = Validator::new();
    if let Some(name) = &body.name {
        v.text("name", name, 100);
    }
    releases::check_year(&mut v, "opens_at", body.opens_at.year());
    releases::check_year(&mut v, "closes_at", body.closes_at.year());
    if closes_at <= opens_at {
        v.error("closes_at", "must be after opens_at");
    }
    if codes.is_empty() {
        v.error("scenarios", "must name at least one scenario");
    } else if codes.len() > MAX_SCENARIOS {
        v.error("scenarios", format!("must name at most {MAX_SCENARIOS} scenarios"));
    } else {
        for i in scenarios::unknown(conn, &codes)? {
            v.error(&format!("scenarios[{i}]"), "no such scenario");
        }
    }
    let release = releases::find(conn, &body.release_id)?;
    if release.is_none() {
        v.error("release_id", "no such release");
    }
    if let Some(days) = body.claim_ttl_days {
        crate::claims::lapse::check_ttl(&mut v, days);
    }
    if let Some(criteria) = &body.exit_criteria {
        criteria.validate(&mut v, &codes);
    }
    v.finish()?;
    let codes = releases::dedup_keep_order(codes);
    let release = release.ok_or_else(ApiError::not_found)?;
    check_release_in_progress(&release)?;
    check_length(&release, opens_at, closes_at)?;
    let name = match &body.name {
        Some(name) => {
            let name = name.trim().to_string();
            if let Some(existing) = model::name_taken(conn, &name)? {
                return Err(
                    ApiError::conflict(ErrorCode::WindowNameTaken, "A UIT window with this name exists.")
                        .with_context(serde_json::json!({ "existing_id": existing })),
                );
            }
            name
        }
        None => {
            // Windows of one release share a default name's base: on PostgreSQL the release's
            // row lock makes concurrent creations pick their numbers one after the other, so
            // none is refused a name its client never chose (SQLite's write lock already does).
            crate::db::lock_row(conn, crate::db::Lockable::Releases, &release.id)?;
            default_name(conn, &release, opens_at)?
        }
    };
    let now = now();
    let row = WindowRow {
        id: WindowId::new(),
        release_id: release.id.clone(),
        name,
        opens_at,
        closes_at,
        cancelled_at: None,
        cancel_reason: None,
        created_at: now,
        updated_at: now,
        version: 1,
        exit_criteria: body.exit_criteria.as_ref().and_then(ExitCriteria::to_stored),
        claim_ttl_days: Some(body.claim_ttl_days.unwrap_or(ttl_days as i32)),
    };
    model::insert(conn, &row, &codes)?;
    let (_, window) = model::load(conn, &row.id)?;
    announce_scheduled(conn, ctx, &release, &window, opens_at, closes_at)?;
    audit::created(conn, ctx, "uit_window.create", &window)?;
    Ok(window)
}

/// Tells subscribers to `uit_windows` (scoped to the release's products) about a new window.
fn announce_scheduled(
    conn: &mut DbConn,
    ctx: &AuthContext,
    release: &ReleaseRow,
    window: &UitWindow,
    opens_at: NaiveDateTime,
    closes_at: NaiveDateTime,
) -> Result<(), ApiError> {
    let event = NewEvent::new(
        Topic::UitWindows,
        "window.scheduled",
        "uit_window",
        &window.id,
        format!(
            "{} scheduled for release {}: opens {}, closes {}",
            window.name,
            release.name,
            show(opens_at),
            show(closes_at)
        ),
    )
    .details(serde_json::json!({
        "release_id": release.id,
        "opens_at": window.opens_at,
        "closes_at": window.closes_at,
        "scenarios": window.scenarios,
    }))
    .actor(&ctx.org_id);
    let event = scoped(conn, &release.id, event)?;
    events::record(conn, event)?;
    Ok(())
}
