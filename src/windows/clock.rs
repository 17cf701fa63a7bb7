//! The window clock: records windows opening, closing soon and closing as change events.
//!
//! Each event's dedupe key carries the instant it is about, so the sweep can run on every
//! instance and as often as it likes, and a rescheduled window is announced afresh.

use actix_web::web;
use chrono::{Duration, NaiveDateTime, SecondsFormat};
use diesel::prelude::*;

use super::model::WindowRow;
use crate::db::schema::{change_events, uit_windows};
use crate::db::{now, DbConn, WindowId};
use crate::events::{self, show, NewEvent, Topic};
use crate::http::ApiError;
use crate::releases;
use crate::AppState;

/// How far back the sweep looks for windows that closed.
const LOOK_BACK_DAYS: i64 = 7;

fn key(kind: &str, window_id: &WindowId, at: NaiveDateTime) -> String {
    format!(
        "{kind}:{window_id}:{}",
        at.and_utc().to_rfc3339_opts(SecondsFormat::AutoSi, true)
    )
}

fn recorded(conn: &mut DbConn, key: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        change_events::table.filter(change_events::dedupe_key.eq(key)),
    ))
    .get_result(conn)
}

/// The clock events due for `w` at `now`, as (kind, dedupe key, summary).
fn due(w: &WindowRow, now: NaiveDateTime, closing_soon: Duration) -> Vec<(&'static str, String, String)> {
    let mut due = Vec::new();
    if now >= w.closes_at {
        due.push((
            "window.closed",
            key("window.closed", &w.id, w.closes_at),
            format!("{} closed {}", w.name, show(w.closes_at)),
        ));
    } else if now >= w.opens_at {
        due.push((
            "window.opened",
            key("window.opened", &w.id, w.opens_at),
            format!("{} is open until {}", w.name, show(w.closes_at)),
        ));
        if now >= w.closes_at - closing_soon {
            due.push((
                "window.closing_soon",
                key("window.closing_soon", &w.id, w.closes_at),
                format!("{} closes soon: {}", w.name, show(w.closes_at)),
            ));
        }
    }
    due
}

/// Records, once each, `window.opened` (open now), `window.closing_soon` (open and within
/// `closing_soon_hours` of `closes_at`) and `window.closed` for windows that are not cancelled
/// and closed at most 7 days ago or later. A window that is already closed when the sweep first
/// sees it gets only `window.closed`. Returns how many events it recorded. Run it inside a
/// write transaction.
pub fn sweep(conn: &mut DbConn, now: NaiveDateTime, closing_soon_hours: i64) -> Result<usize, ApiError> {
    let windows: Vec<WindowRow> = uit_windows::table
        .filter(uit_windows::cancelled_at.is_null())
        .filter(uit_windows::opens_at.le(now))
        .filter(uit_windows::closes_at.ge(now - Duration::days(LOOK_BACK_DAYS)))
        .select(WindowRow::as_select())
        .order(uit_windows::id.asc())
        .load(conn)?;
    let closing_soon = Duration::hours(closing_soon_hours);
    let mut count = 0;
    for w in windows {
        let mut pending = Vec::new();
        for item in due(&w, now, closing_soon) {
            if !recorded(conn, &item.1)? {
                pending.push(item);
            }
        }
        if pending.is_empty() {
            continue;
        }
        let scope = releases::product_scope(conn, &w.release_id)?;
        for (kind, dedupe_key, summary) in pending {
            let event = NewEvent::new(Topic::UitWindows, kind, "uit_window", &w.id, summary)
                .details(serde_json::json!({
                    "opens_at": w.opens_at.and_utc(),
                    "closes_at": w.closes_at.and_utc(),
                }))
                .once(dedupe_key);
            if events::record_once(conn, scope.clone().apply(event))? {
                count += 1;
            }
        }
    }
    Ok(count)
}

/// Spawns the sweep every `window_clock_interval_seconds` (none when 0).
pub fn start(state: &web::Data<AppState>) {
    let hours = state.config.window_closing_soon_hours;
    crate::ops::clock::every(state, "window", move |conn| sweep(conn, now(), hours));
}
