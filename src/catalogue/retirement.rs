//! The firmware lifecycle to the end: deploying N+1 makes N `previous` and schedules the old
//! N-1's retirement with N+1 as its successor; the retirement clock retires a version on its
//! date; each step is a change event for subscribers of `retirements`, with the upgrade path.
//!
//! The seed papers: "Production Comms Hubs will either be operating ... Version N or ... Version
//! N-1"; "clear communication on the retirement of firmware versions and their intended
//! succession".

use actix_web::web;
use chrono::{Duration, NaiveDate, Utc};
use diesel::prelude::*;

use super::lifecycle;
use super::model::{self, DeviceModelRow, FirmwareRow, FirmwareStatus};
use crate::audit::{self, Actor, Change};
use crate::auth::AuthContext;
use crate::db::schema::firmware_versions as fw;
use crate::db::{now, DbConn, OrgId};
use crate::events::{self, NewEvent, Topic};
use crate::http::ApiError;
use crate::AppState;

/// Most versions one clock tick retires; the rest wait for the next tick.
const BATCH: i64 = 500;

/// Deploying `new_id` makes the product's current `deployed` version `previous` (N becomes
/// N-1); returns it as it was. Call before the new version is saved as `deployed` (one
/// deployed version per product is a unique index), then [`announce_deploy`] after.
pub fn demote_current(
    conn: &mut DbConn,
    ctx: &AuthContext,
    product: &DeviceModelRow,
    new_id: &str,
) -> Result<Option<FirmwareRow>, ApiError> {
    // Concurrent deploys of one product's versions queue here, so each demotes the one before
    // it rather than both demoting the same and meeting at the unique index.
    crate::db::lock_row(conn, crate::db::Lockable::DeviceModels, &product.id)?;
    let Some(current) = model::deployed_other_than(conn, &product.id, new_id)? else {
        return Ok(None);
    };
    model::set_status(conn, &current.id, FirmwareStatus::Previous)?;
    audit::record(
        conn,
        &Actor::from(ctx),
        Change::new("firmware.superseded", "firmware", &current.id)
            .org(&product.manufacturer_org_id)
            .before(serde_json::json!({ "status": "deployed" }))
            .after(serde_json::json!({ "status": "previous", "superseded_by": new_id })),
    )?;
    Ok(Some(current))
}

/// Once `new_id` is saved as `deployed`: announces the demoted N as N-1, and gives each older
/// `previous` version without a retirement date (the old N-1) one `notice_days` from today,
/// with `new_id` as its successor where it has none, announced with its upgrade path.
pub fn announce_deploy(
    conn: &mut DbConn,
    ctx: &AuthContext,
    product: &DeviceModelRow,
    new_id: &str,
    demoted: Option<FirmwareRow>,
    notice_days: i64,
) -> Result<(), ApiError> {
    let Some(demoted) = demoted else {
        return Ok(());
    };
    let mut now_previous = demoted.clone();
    now_previous.status = FirmwareStatus::Previous;
    events(conn, Some(&ctx.org_id), Some(&demoted), &now_previous, product)?;
    let retire_on = Utc::now().date_naive() + Duration::days(notice_days);
    let old: Vec<FirmwareRow> = fw::table
        .filter(fw::device_model_id.eq(&product.id))
        .filter(fw::status.eq(FirmwareStatus::Previous))
        .filter(fw::id.ne(&demoted.id).and(fw::id.ne(new_id)))
        .filter(fw::retirement_date.is_null())
        .select(FirmwareRow::as_select())
        .load(conn)?;
    for before in old {
        let mut after = before.clone();
        after.retirement_date = Some(retire_on);
        after.successor_id = after.successor_id.or_else(|| Some(new_id.to_string()));
        if !model::update_firmware(conn, &after)? {
            return Err(ApiError::precondition_failed());
        }
        audit::record(
            conn,
            &Actor::from(ctx),
            Change::new("firmware.retirement_scheduled", "firmware", &after.id)
                .org(&product.manufacturer_org_id)
                .before(serde_json::json!({ "retirement_date": null, "successor_id": before.successor_id }))
                .after(serde_json::json!({ "retirement_date": retire_on, "successor_id": after.successor_id })),
        )?;
        events(conn, Some(&ctx.org_id), Some(&before), &after, product)?;
    }
    Ok(())
}

fn version_of(conn: &mut DbConn, id: Option<&str>) -> Result<Option<String>, ApiError> {
    Ok(match id {
        Some(id) => model::find_firmware(conn, id)?.map(|f| f.version),
        None => None,
    })
}

/// ", upgraded in a single OTA hop to 1.4", ", upgraded by exception in 2 hops (1.2 -> 1.3 ->
/// 1.4)", or ", with no approved upgrade to the deployed version", and the hops for details.
fn upgrade_words(conn: &mut DbConn, id: &str) -> Result<(String, serde_json::Value), ApiError> {
    let path = lifecycle::upgrade_path(conn, id)?;
    let words = match (&path.target_id, path.reachable, path.hops.len()) {
        (None, ..) | (_, true, 0) => String::new(),
        (Some(_), true, 1) => format!(", upgraded in a single OTA hop to {}", path.hops[0].to_version),
        (Some(_), true, n) => {
            let mut chain = vec![path.hops[0].from_version.clone()];
            chain.extend(path.hops.iter().map(|h| h.to_version.clone()));
            format!(", upgraded by exception in {n} hops ({})", chain.join(" -> "))
        }
        (Some(_), false, _) => ", with no approved upgrade to the deployed version".to_string(),
    };
    Ok((words, serde_json::to_value(&path.hops)?))
}

/// Records what subscribers of retirements (the firmware lifecycle) care about: a version
/// superseded (N becoming N-1), its retirement date set, moved or cleared, the version retired,
/// each with its successor and the upgrade path to the deployed version, and any other status
/// move (`firmware.status_changed`: approved, deployed, withdrawn, ...). `actor` is the acting organisation (none for
/// the clock).
pub fn events(
    conn: &mut DbConn,
    actor: Option<&OrgId>,
    before: Option<&FirmwareRow>,
    after: &FirmwareRow,
    product: &DeviceModelRow,
) -> Result<(), ApiError> {
    let old_date = before.and_then(|b| b.retirement_date);
    let moved = |to: FirmwareStatus| before.is_some_and(|b| b.status != to) && after.status == to;
    // Any other status move (planned -> in_test -> approved -> deployed, or withdrawn).
    let other_move = before
        .filter(|b| b.status != after.status)
        .filter(|_| !matches!(after.status, FirmwareStatus::Previous | FirmwareStatus::Retired))
        .map(|b| b.status);
    if old_date == after.retirement_date
        && !moved(FirmwareStatus::Previous)
        && !moved(FirmwareStatus::Retired)
        && other_move.is_none()
    {
        return Ok(());
    }
    let label = format!("{} ({}) firmware {}", product.name, product.device_type, after.version);
    let successor = version_of(conn, after.successor_id.as_deref())?;
    let replaced_by = successor
        .as_ref()
        .map(|s| format!("; its successor is {s}"))
        .unwrap_or_default();
    let (upgrade, hops) = upgrade_words(conn, &after.id)?;
    let mut due = Vec::new();
    match (old_date, after.retirement_date) {
        (None, Some(new)) => due.push((
            "firmware.retirement_scheduled",
            format!("{label} will retire on {new}{replaced_by}{upgrade}"),
            "retirement_date",
        )),
        (Some(old), Some(new)) if old != new => due.push((
            "firmware.retirement_moved",
            format!("{label} now retires on {new}, was {old}{replaced_by}{upgrade}"),
            "retirement_date",
        )),
        (Some(old), None) => due.push((
            "firmware.retirement_cancelled",
            format!("{label} no longer retires on {old}"),
            "retirement_date",
        )),
        _ => {}
    }
    if moved(FirmwareStatus::Previous) {
        due.push((
            "firmware.superseded",
            format!("{label} is now the previous version (N-1){upgrade}"),
            "status",
        ));
    }
    if moved(FirmwareStatus::Retired) {
        due.push((
            "firmware.retired",
            format!("{label} is retired{replaced_by}{upgrade}"),
            "status",
        ));
    }
    if let Some(from) = other_move {
        let words = |s: FirmwareStatus| s.as_str().replace('_', " ");
        due.push((
            "firmware.status_changed",
            format!("{label} is now {}, was {}", words(after.status), words(from)),
            "status",
        ));
    }
    for (kind, summary, field) in due {
        let (from, to) = match field {
            "status" => (
                serde_json::json!(before.map(|b| b.status)),
                serde_json::json!(after.status),
            ),
            _ => (serde_json::json!(old_date), serde_json::json!(after.retirement_date)),
        };
        let details = serde_json::json!({
            "field": field, "from": from, "to": to,
            "version": after.version, "successor_id": after.successor_id, "successor_version": successor,
            "upgrade_hops": hops,
        });
        let mut event = NewEvent::new(Topic::Retirements, kind, "firmware", &after.id, summary)
            .details(details)
            .scope(
                vec![product.device_type.as_str().to_string()],
                vec![product.id.clone()],
                vec![product.manufacturer_org_id.clone()],
            );
        if let Some(org) = actor {
            event = event.actor(org);
        }
        events::record(conn, event)?;
    }
    Ok(())
}

/// Retires every `previous` version whose retirement date is `today` or past, announcing each;
/// returns how many it retired. The conditional update makes each retirement happen once, also
/// when instances sweep at once. Run it inside a write transaction.
pub fn sweep(conn: &mut DbConn, today: NaiveDate) -> Result<usize, ApiError> {
    let due: Vec<FirmwareRow> = fw::table
        .filter(fw::status.eq(FirmwareStatus::Previous))
        .filter(fw::retirement_date.le(today))
        .order(fw::id.asc())
        .limit(BATCH)
        .select(FirmwareRow::as_select())
        .load(conn)?;
    let mut retired = 0;
    for before in due {
        let n = diesel::update(
            fw::table
                .find(&before.id)
                .filter(fw::status.eq(FirmwareStatus::Previous)),
        )
        .set((
            fw::status.eq(FirmwareStatus::Retired),
            fw::updated_at.eq(now()),
            fw::row_version.eq(fw::row_version + 1),
        ))
        .execute(conn)?;
        if n == 0 {
            continue;
        }
        let product = model::find_model(conn, &before.device_model_id)?.ok_or_else(ApiError::not_found)?;
        let mut after = before.clone();
        after.status = FirmwareStatus::Retired;
        audit::record(
            conn,
            &Actor::default(),
            Change::new("firmware.retired", "firmware", &after.id)
                .org(&product.manufacturer_org_id)
                .before(serde_json::json!({ "status": "previous" }))
                .after(serde_json::json!({ "status": "retired", "retirement_date": after.retirement_date })),
        )?;
        events(conn, None, Some(&before), &after, &product)?;
        retired += 1;
    }
    Ok(retired)
}

/// Starts the retirement clock (every `window_clock_interval_seconds`; none when 0).
pub fn start_clock(state: &web::Data<AppState>) {
    crate::ops::clock::every(state, "firmware retirement", |conn| {
        sweep(conn, Utc::now().date_naive())
    });
}
