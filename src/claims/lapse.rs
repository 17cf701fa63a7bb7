//! Claims lapse: a claim lives `claim_ttl_days` (the window's) from the latest of its claiming,
//! the window's opening and its holder's latest result on the set in the window (published or
//! amended). Two days before, the holder's members are emailed once per deadline; at the
//! deadline the clock removes the claim as a release does (audit row, `claim.lapsed` event
//! for the window's participants) and gives it to the next in line. Only claims of windows
//! open now lapse: a closed window's claims are its record.

use std::collections::HashMap;

use actix_web::web;
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::model::{self, set_lead, Claim};
use super::{notify, queue};
use crate::audit::{self, Actor, Change};
use crate::db::schema::{claims, results, uit_windows};
use crate::db::{now, DbConn, DeviceSetId, OrgId, UserId, WindowId};
use crate::events::show;
use crate::http::validate::Validator;
use crate::http::ApiError;
use crate::mail::Template;
use crate::AppState;

pub const MIN_TTL_DAYS: i64 = 3;
pub const MAX_TTL_DAYS: i64 = 365;
/// Days before the deadline at which the holder is reminded.
pub const REMIND_DAYS: i64 = 2;

/// Window ids per query of latest results.
const CHUNK: usize = 500;

/// Adds a 422 item for `claim_ttl_days` outside 3-365.
pub fn check_ttl(v: &mut Validator, days: i32) {
    if !(MIN_TTL_DAYS..=MAX_TTL_DAYS).contains(&i64::from(days)) {
        v.error("claim_ttl_days", "must be between 3 and 365");
    }
}

/// (window, set, org) -> the latest `updated_at` of that organisation's results there.
type Latest = HashMap<(WindowId, DeviceSetId, OrgId), NaiveDateTime>;

/// The latest result of each (window, set, org) in `window_ids`, limited to `set_ids` when given.
fn latest_results(conn: &mut DbConn, window_ids: &[WindowId], set_ids: Option<&[DeviceSetId]>) -> QueryResult<Latest> {
    let mut out = Latest::new();
    for chunk in window_ids.chunks(CHUNK) {
        let mut q = results::table
            .filter(results::window_id.eq_any(chunk))
            .group_by((results::window_id, results::device_set_id, results::org_id))
            .select((
                results::window_id,
                results::device_set_id,
                results::org_id,
                diesel::dsl::max(results::updated_at),
            ))
            .into_boxed();
        if let Some(sets) = set_ids {
            q = q.filter(results::device_set_id.eq_any(sets.to_vec()));
        }
        let rows: Vec<(WindowId, DeviceSetId, OrgId, Option<NaiveDateTime>)> = q.load(conn)?;
        for (w, s, o, at) in rows {
            if let Some(at) = at {
                out.insert((w, s, o), at);
            }
        }
    }
    Ok(out)
}

/// The deadline of a claim made at `claimed_at` in a window opening at `opens_at` with
/// `ttl_days`, whose holder's latest result there is `latest`; `None` when it does not lapse.
pub fn deadline(
    claimed_at: NaiveDateTime,
    opens_at: NaiveDateTime,
    latest: Option<NaiveDateTime>,
    ttl_days: Option<i32>,
) -> Option<NaiveDateTime> {
    let start = claimed_at.max(opens_at).max(latest.unwrap_or(claimed_at));
    Some(start + Duration::days(i64::from(ttl_days?)))
}

fn key(c: &Claim) -> (WindowId, DeviceSetId, OrgId) {
    (c.uit_window_id.clone(), c.device_set_id.clone(), c.org_id.clone())
}

/// When `org`'s claims in window `window_id` lapse, by set (claims without a deadline left out).
pub fn deadlines_of(
    conn: &mut DbConn,
    window_id: &WindowId,
    org: &str,
) -> QueryResult<HashMap<DeviceSetId, DateTime<Utc>>> {
    let own = model::ClaimFilter {
        window_id: Some(window_id),
        org_id: Some(org),
        ..Default::default()
    };
    let claims = model::load(conn, own, None, 100_000)?;
    Ok(claims
        .into_iter()
        .filter_map(|c| Some((c.device_set_id, c.expires_at?)))
        .collect())
}

/// Fills `expires_at` of claims loaded with their window's `claim_ttl_days` and opening.
pub fn with_deadlines(conn: &mut DbConn, rows: Vec<(Claim, Option<i32>, NaiveDateTime)>) -> QueryResult<Vec<Claim>> {
    let lapsing: Vec<&Claim> = rows.iter().filter(|r| r.1.is_some()).map(|r| &r.0).collect();
    let latest = if lapsing.is_empty() {
        Latest::new()
    } else {
        let mut windows: Vec<WindowId> = lapsing.iter().map(|c| c.uit_window_id.clone()).collect();
        let mut sets: Vec<DeviceSetId> = lapsing.iter().map(|c| c.device_set_id.clone()).collect();
        windows.sort();
        windows.dedup();
        sets.sort();
        sets.dedup();
        latest_results(conn, &windows, Some(&sets))?
    };
    Ok(rows
        .into_iter()
        .map(|(mut claim, ttl, opens_at)| {
            let last = latest.get(&key(&claim)).copied();
            claim.expires_at = deadline(claim.claimed_at.naive_utc(), opens_at, last, ttl).map(|t| t.and_utc());
            claim
        })
        .collect())
}

/// A claim the sweep looks at: (id, window, set, org, claimed_at, reminded_for, ttl, opens_at).
type Due = (
    String,
    WindowId,
    DeviceSetId,
    OrgId,
    NaiveDateTime,
    Option<NaiveDateTime>,
    Option<i32>,
    NaiveDateTime,
);

/// Reminds and lapses what is due at `now`; returns how many reminders and lapses it made.
/// Each step is a conditional write on the claim row (a lapse deletes the row only if it is
/// still the same claim of the same holder; a reminder marks the deadline it is for), so
/// instances sweeping at once act once. Run it inside a write transaction.
pub fn sweep(conn: &mut DbConn, now: NaiveDateTime, public_url: &str) -> Result<usize, ApiError> {
    let due: Vec<Due> = claims::table
        .inner_join(uit_windows::table.on(uit_windows::id.eq(claims::window_id)))
        .filter(uit_windows::claim_ttl_days.is_not_null())
        .filter(uit_windows::cancelled_at.is_null())
        .filter(uit_windows::opens_at.le(now))
        .filter(uit_windows::closes_at.gt(now))
        // Nothing claimed (or opened) within the last day is due: the shortest TTL is 3 days.
        .filter(claims::claimed_at.le(now - Duration::days(MIN_TTL_DAYS - REMIND_DAYS)))
        .select((
            claims::id,
            claims::window_id,
            claims::device_set_id,
            claims::org_id,
            claims::claimed_at,
            claims::reminded_for,
            uit_windows::claim_ttl_days,
            uit_windows::opens_at,
        ))
        .order(claims::id.asc())
        .load(conn)?;
    let mut windows: Vec<WindowId> = due.iter().map(|d| d.1.clone()).collect();
    windows.sort();
    windows.dedup();
    let latest = latest_results(conn, &windows, None)?;
    let mut count = 0;
    for (id, w, s, org, claimed_at, reminded_for, ttl, opens_at) in due {
        let last = latest.get(&(w.clone(), s.clone(), org.clone())).copied();
        let Some(expires) = deadline(claimed_at, opens_at, last, ttl) else {
            continue;
        };
        if now >= expires {
            count += usize::from(lapse(conn, &id, &org, claimed_at, expires, public_url)?);
        } else if now >= expires - Duration::days(REMIND_DAYS) && reminded_for != Some(expires) {
            count += usize::from(remind(conn, &id, &org, expires, public_url)?);
        }
    }
    Ok(count)
}

/// Emails the holder's members that claim `id` lapses at `expires`, once per deadline.
fn remind(conn: &mut DbConn, id: &str, org: &str, expires: NaiveDateTime, public_url: &str) -> Result<bool, ApiError> {
    let marked = diesel::update(
        claims::table
            .find(id)
            .filter(claims::org_id.eq(org))
            .filter(claims::reminded_for.is_null().or(claims::reminded_for.ne(expires))),
    )
    .set(claims::reminded_for.eq(expires))
    .execute(conn)?;
    if marked == 0 {
        return Ok(false);
    }
    let claim = model::find(conn, id)?.ok_or_else(ApiError::not_found)?;
    let when = show(expires);
    notify::email_holder(
        conn,
        &claim,
        Template::ClaimLapsing,
        public_url,
        &[("expires_at", &when)],
    )?;
    Ok(true)
}

/// Removes claim `id` of `org` made at `claimed_at` (if it still is that claim), as a release
/// does, records the lapse and gives the set to the next in line.
fn lapse(
    conn: &mut DbConn,
    id: &str,
    org: &OrgId,
    claimed_at: NaiveDateTime,
    expires: NaiveDateTime,
    public_url: &str,
) -> Result<bool, ApiError> {
    let Some(before) = model::find(conn, id)? else {
        return Ok(false);
    };
    // The lead flags of the holder's results change "by" the user who claimed.
    let by: Option<UserId> = claims::table.find(id).select(claims::claimed_by_user_id).first(conn)?;
    let gone = diesel::delete(
        claims::table
            .find(id)
            .filter(claims::org_id.eq(org))
            .filter(claims::claimed_at.eq(claimed_at)),
    )
    .execute(conn)?;
    if gone == 0 {
        return Ok(false);
    }
    let system = Actor::default();
    set_lead(
        conn,
        &before.uit_window_id,
        &before.device_set_id,
        org,
        false,
        by.as_deref().unwrap_or_default(),
    )?;
    audit::record(
        conn,
        &system,
        Change::new("claim.lapse", "claim", id)
            .org(org)
            .before(serde_json::to_value(&before)?),
    )?;
    let summary = format!(
        "{}'s claim on {} in {} lapsed on {}: no result of it in time",
        before.org_name,
        before.device_set_name,
        before.uit_window_name,
        show(expires)
    );
    notify::event(
        conn,
        &before,
        "claim.lapsed",
        summary,
        None,
        serde_json::json!({ "expires_at": expires.and_utc() }),
    )?;
    queue::promote(
        conn,
        &system,
        &before.uit_window_id,
        &before.device_set_id,
        "lapsed",
        public_url,
    )?;
    Ok(true)
}

/// Spawns the sweep every `window_clock_interval_seconds` (none when 0), the other clocks' tick.
pub fn start(state: &web::Data<AppState>) {
    let public_url = state.config.public_url.clone();
    crate::ops::clock::every(state, "claim lapse", move |conn| sweep(conn, now(), &public_url));
}
