//! Rescheduling, extending, shortening and cancelling a UIT window, and setting its exit
//! criteria.

use chrono::Datelike;

use super::create::{check_length, check_release_in_progress, instant};
use super::handlers::{WindowPatch, WindowStatusChange};
use super::model::{self, UitWindow, WindowRow};
use super::WindowStatus;
use crate::audit;
use crate::auth::{AuthContext, Capability};
use crate::db::{now, DbConn};
use crate::events::{self, show, NewEvent, Topic};
use crate::http::etag::IfMatch;
use crate::http::validate::Validator;
use crate::http::ApiError;
use crate::http::ErrorCode;
use crate::readiness::criteria;
use crate::releases::model as releases;

/// What is checked before the database: a cancellation comes alone (no new times) and only it
/// carries a reason; the years are plausible.
pub fn check_patch(patch: &WindowPatch) -> Result<(), ApiError> {
    let mut v = Validator::new();
    let cancel = patch.status == Some(WindowStatusChange::Cancelled);
    if cancel && (patch.opens_at.is_some() || patch.closes_at.is_some()) {
        v.error("status", "cancel a window on its own, without opens_at or closes_at");
    }
    if let Some(t) = patch.opens_at {
        releases::check_year(&mut v, "opens_at", t.year());
    }
    if let Some(t) = patch.closes_at {
        releases::check_year(&mut v, "closes_at", t.year());
    }
    if let Some(Some(days)) = patch.claim_ttl_days {
        crate::claims::lapse::check_ttl(&mut v, days);
    }
    match &patch.cancel_reason {
        Some(_) if !cancel => v.error("cancel_reason", "is only accepted with status cancelled"),
        Some(reason) => v.text("cancel_reason", reason, 2000),
        None => {}
    }
    v.finish()
}

/// Applies a patch with its change events and audit row; answers the window's version and
/// the window. Operator organisations only; `If-Match` must name the current version; a
/// cancelled window cannot change (422 `window_cancelled`); new times follow the scheduling
/// rules (after `opens_at`, release in progress, length). A patch that changes nothing
/// answers the window as it is.
pub fn apply(
    conn: &mut DbConn,
    ctx: &AuthContext,
    id: &str,
    if_match: IfMatch,
    patch: WindowPatch,
) -> Result<(i64, UitWindow), ApiError> {
    ctx.require(Capability::ManageIndustry)?;
    crate::db::lock_row(conn, crate::db::Lockable::UitWindows, id)?;
    let (before_row, before) = model::load(conn, id)?;
    if_match.check(before_row.version)?;
    if before_row.cancelled_at.is_some() {
        return Err(ApiError::unprocessable(
            ErrorCode::WindowCancelled,
            format!("{} is cancelled; a cancelled window cannot change.", before.name),
        ));
    }
    let cancel = patch.status == Some(WindowStatusChange::Cancelled);
    let mut row = before_row.clone();
    if let Some(criteria) = &patch.exit_criteria {
        row.exit_criteria = criteria::checked(criteria.as_ref(), &before.scenarios)?;
    }
    let criteria_changed = row.exit_criteria != before_row.exit_criteria;
    if let Some(days) = patch.claim_ttl_days {
        row.claim_ttl_days = days;
    }
    let ttl_changed = row.claim_ttl_days != before_row.claim_ttl_days;
    if cancel {
        row.cancelled_at = Some(now());
        row.cancel_reason = patch.cancel_reason.map(|r| r.trim().to_string());
    }
    if let Some(t) = patch.opens_at {
        row.opens_at = instant(t);
    }
    if let Some(t) = patch.closes_at {
        row.closes_at = instant(t);
    }
    let moved = row.opens_at != before_row.opens_at || row.closes_at != before_row.closes_at;
    if moved {
        if row.closes_at <= row.opens_at {
            let field = if patch.closes_at.is_some() {
                "closes_at"
            } else {
                "opens_at"
            };
            return Err(ApiError::invalid_field(field, "closes_at must be after opens_at"));
        }
        let release = releases::find(conn, &row.release_id)?.ok_or_else(ApiError::not_found)?;
        check_release_in_progress(&release)?;
        check_length(&release, row.opens_at, row.closes_at)?;
    }
    if !moved && !cancel && !criteria_changed && !ttl_changed {
        return Ok((before_row.version, before));
    }
    if !model::update(conn, &row)? {
        return Err(ApiError::precondition_failed());
    }
    let (after_row, after) = model::load(conn, id)?;
    let changes = changes(&before_row, &before, &after_row, &after, criteria_changed, cancel);
    let scope = releases::product_scope(conn, &after.release_id)?;
    for (kind, summary, details) in changes {
        let event = NewEvent::new(Topic::UitWindows, kind, "uit_window", id, summary)
            .details(details)
            .actor(&ctx.org_id);
        events::record(conn, scope.clone().apply(event))?;
    }
    let action = if cancel {
        "uit_window.cancel"
    } else {
        "uit_window.update"
    };
    audit::changed(conn, ctx, action, &before, &after)?;
    Ok((after_row.version, after))
}

/// The change events a saved patch announces, in order: `window.rescheduled`,
/// `window.extended` or `window.shortened`, the exit criteria's change, `window.cancelled`.
fn changes(
    before_row: &WindowRow,
    before: &UitWindow,
    after_row: &WindowRow,
    after: &UitWindow,
    criteria_changed: bool,
    cancel: bool,
) -> Vec<(&'static str, String, serde_json::Value)> {
    let mut changes = Vec::new();
    if after_row.opens_at != before_row.opens_at {
        changes.push((
            "window.rescheduled",
            format!(
                "{} now opens {}, was {}",
                after.name,
                show(after_row.opens_at),
                show(before_row.opens_at)
            ),
            serde_json::json!({ "field": "opens_at", "from": before.opens_at, "to": after.opens_at }),
        ));
    }
    if after_row.closes_at != before_row.closes_at {
        let kind = if after_row.closes_at > before_row.closes_at {
            "window.extended"
        } else {
            "window.shortened"
        };
        changes.push((
            kind,
            format!(
                "{} now closes {}, was {}",
                after.name,
                show(after_row.closes_at),
                show(before_row.closes_at)
            ),
            serde_json::json!({ "field": "closes_at", "from": before.closes_at, "to": after.closes_at }),
        ));
    }
    if criteria_changed {
        changes.push(criteria::change(after, &before.exit_criteria));
    }
    if cancel {
        let summary = match &after.cancel_reason {
            Some(reason) if !reason.is_empty() => format!("{} cancelled: {reason}", after.name),
            _ => format!("{} cancelled", after.name),
        };
        changes.push((
            "window.cancelled",
            summary,
            serde_json::json!({
                "field": "status",
                "from": before.status,
                "to": WindowStatus::Cancelled,
                "cancel_reason": after.cancel_reason,
            }),
        ));
    }
    changes
}
