//! The retirement clock: records `firmware.retiring_soon` (topic `retirements`) when a
//! firmware version is 30 and again 7 days from its retirement date.
//!
//! The dedupe key carries the firmware, its retirement date and the reminder's day count, so
//! each reminder is recorded once however many instances sweep, a moved retirement date is
//! reminded of afresh, and a date set less than 30 days ahead gets only the reminders still
//! ahead of it. (Windows closing in three days need nothing here: the window clock records
//! `window.closing_soon`, and the fan-out sends it like any change.)

use actix_web::web;
use chrono::{Duration, NaiveDate};
use diesel::prelude::*;

use crate::catalogue::model::{DeviceModelRow, FirmwareRow, FirmwareStatus};
use crate::db::schema::{change_events, device_models, firmware_versions as fw};
use crate::db::DbConn;
use crate::events::{self, NewEvent, Topic};
use crate::http::ApiError;
use crate::AppState;

/// Days before retirement at which subscribers are reminded, furthest first.
pub const REMINDER_DAYS: [i64; 2] = [30, 7];

/// The reminder due `days_left` days before retirement: the nearest threshold at or above it.
pub fn threshold(days_left: i64) -> Option<i64> {
    if days_left <= 0 {
        return None;
    }
    REMINDER_DAYS.iter().rev().copied().find(|d| days_left <= *d)
}

/// Records the retirement reminders due on `today`; returns how many. Run it inside a write
/// transaction.
pub fn sweep(conn: &mut DbConn, today: NaiveDate) -> Result<usize, ApiError> {
    let horizon = today + Duration::days(REMINDER_DAYS[0]);
    let gone = [FirmwareStatus::Retired.as_str(), FirmwareStatus::Withdrawn.as_str()];
    let due: Vec<(FirmwareRow, DeviceModelRow)> = fw::table
        .inner_join(device_models::table)
        .filter(fw::retirement_date.gt(today))
        .filter(fw::retirement_date.le(horizon))
        .filter(fw::status.ne_all(gone))
        .select((FirmwareRow::as_select(), DeviceModelRow::as_select()))
        .order(fw::id.asc())
        .load(conn)?;
    let mut count = 0;
    for (firmware, product) in due {
        let Some(date) = firmware.retirement_date else {
            continue;
        };
        let days_left = (date - today).num_days();
        let Some(days) = threshold(days_left) else {
            continue;
        };
        let key = format!("firmware.retiring_soon:{}:{date}:{days}", firmware.id);
        let recorded: bool = diesel::select(diesel::dsl::exists(
            change_events::table.filter(change_events::dedupe_key.eq(&key)),
        ))
        .get_result(conn)?;
        if recorded {
            continue;
        }
        let successor: Option<String> = match &firmware.successor_id {
            Some(id) => fw::table.find(id).select(fw::version).first(conn).optional()?,
            None => None,
        };
        let replaced_by = successor
            .as_ref()
            .map(|s| format!("; its successor is {s}"))
            .unwrap_or_default();
        let in_days = if days_left == 1 {
            "tomorrow".to_string()
        } else {
            format!("in {days_left} days")
        };
        let summary = format!(
            "{} ({}) firmware {} retires {in_days}, on {date}{replaced_by}",
            product.name, product.device_type, firmware.version
        );
        let event = NewEvent::new(
            Topic::Retirements,
            "firmware.retiring_soon",
            "firmware",
            &firmware.id,
            summary,
        )
        .details(serde_json::json!({
            "retirement_date": date,
            "days": days,
            "days_left": days_left,
            "version": firmware.version,
            "device_model_id": product.id,
            "successor_id": firmware.successor_id,
            "successor_version": successor,
        }))
        .scope(
            vec![product.device_type.as_str().to_string()],
            vec![product.id.clone()],
            vec![product.manufacturer_org_id.clone()],
        )
        .once(key);
        if events::record_once(conn, event)? {
            count += 1;
        }
    }
    Ok(count)
}

/// Spawns the sweep every `window_clock_interval_seconds` (none when 0), the tick of the other
/// clocks: retirement dates are days, so any tick that keeps windows current is often enough.
pub fn start(state: &web::Data<AppState>) {
    crate::ops::clock::every(state, "retirement", |conn| sweep(conn, chrono::Utc::now().date_naive()));
}

#[cfg(test)]
mod tests {
    use super::threshold;

    #[test]
    fn each_reminder_has_its_window() {
        assert_eq!(threshold(45), None);
        assert_eq!(threshold(31), None);
        assert_eq!(threshold(30), Some(30));
        assert_eq!(threshold(8), Some(30));
        assert_eq!(threshold(7), Some(7));
        assert_eq!(threshold(1), Some(7));
        assert_eq!(threshold(0), None);
    }
}
