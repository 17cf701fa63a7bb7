//! Setting a window's scope: a prevalence sample of the latest DPL or an explicit list, with
//! its audit row and, once the window has opened, a change event for its participants.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use serde::Deserialize;
use utoipa::ToSchema;

use super::model::{self, ScopeRow, WindowScope};
use super::{estate, sample, ScopeStrategy};
use crate::audit::{self, Actor, Change};
use crate::auth::{AuthContext, Capability};
use crate::db::schema::device_sets as ds;
use crate::db::{now, DbConn, DeviceSetId};
use crate::events::{self, NewEvent, Topic};
use crate::http::validate::Validator;
use crate::http::{ApiError, ErrorCode, FieldError};
use crate::windows::model::WindowRow;

/// Most sets a prevalence sample starts from.
pub const MAX_TOP_N: i64 = 1000;
/// Most sets an explicit list names.
pub const MAX_LISTED: usize = 20_000;

/// A window's new scope.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"strategy": "prevalence", "top_n": 5, "cover_every_live_version": true}))]
pub struct NewScope {
    /// `prevalence`: the `top_n` most installed sets of the latest DPL, plus (with
    /// `cover_every_live_version`) the fewest sets that bring every live firmware version of
    /// every product in the estate in. `explicit`: the sets of `device_set_ids`.
    pub strategy: ScopeStrategy,
    /// With `prevalence` only: 1 to 1,000.
    #[schema(minimum = 1, maximum = 1000)]
    pub top_n: Option<i64>,
    /// With `prevalence` only. Default true.
    pub cover_every_live_version: Option<bool>,
    /// With `explicit` only: 1 to 20,000 distinct device set ids, in the order wanted.
    #[schema(max_items = 20000)]
    pub device_set_ids: Option<Vec<String>>,
}

/// The checks that need no database: each strategy with its own fields, bounds, no repeats.
pub fn check(new: &NewScope) -> Result<(), ApiError> {
    let mut v = Validator::new();
    match new.strategy {
        ScopeStrategy::Prevalence => {
            match new.top_n {
                None => v.error("top_n", "is required with strategy prevalence"),
                Some(n) if !(1..=MAX_TOP_N).contains(&n) => v.error("top_n", "must be 1 to 1000"),
                Some(_) => {}
            }
            if new.device_set_ids.is_some() {
                v.error("device_set_ids", "is only accepted with strategy explicit");
            }
        }
        ScopeStrategy::Explicit => {
            if new.top_n.is_some() || new.cover_every_live_version.is_some() {
                let field = if new.top_n.is_some() {
                    "top_n"
                } else {
                    "cover_every_live_version"
                };
                v.error(field, "is only accepted with strategy prevalence");
            }
            let ids = new.device_set_ids.as_deref().unwrap_or_default();
            if ids.is_empty() || ids.len() > MAX_LISTED {
                v.error("device_set_ids", "must list 1 to 20000 device sets");
            }
            let mut first: HashMap<&str, usize> = HashMap::new();
            for (i, id) in ids.iter().enumerate() {
                match first.get(id.as_str()) {
                    Some(j) => v.error(&format!("device_set_ids[{i}]"), format!("repeats device_set_ids[{j}]")),
                    None => {
                        first.insert(id, i);
                    }
                }
            }
        }
    }
    v.finish()
}

/// Sets the scope of window `id`; answers it as it now reads. Operator organisations only; a
/// cancelled window's scope cannot change (422 `window_cancelled`).
pub fn apply(conn: &mut DbConn, ctx: &AuthContext, id: &str, new: NewScope) -> Result<WindowScope, ApiError> {
    ctx.require(Capability::ManageIndustry)?;
    crate::db::lock_row(conn, crate::db::Lockable::UitWindows, id)?;
    let window = crate::windows::model::find(conn, id)?.ok_or_else(ApiError::not_found)?;
    if window.cancelled_at.is_some() {
        return Err(ApiError::unprocessable(
            ErrorCode::WindowCancelled,
            format!("{} is cancelled; its scope cannot change.", window.name),
        ));
    }
    let (sets, counts, uncovered) = choose(conn, &new)?;
    let before = model::view(conn, &window, &counts)?;
    let row = ScopeRow {
        window_id: window.id.clone(),
        strategy: new.strategy,
        top_n: new.top_n,
        cover_every_live_version: new.strategy == ScopeStrategy::Prevalence
            && new.cover_every_live_version.unwrap_or(true),
        dpl_as_of: counts.as_of.filter(|_| new.strategy == ScopeStrategy::Prevalence),
        set_by_user_id: Some(ctx.user_id.clone()),
        set_by_org_id: ctx.org_id.clone(),
        set_at: now(),
    };
    model::replace(conn, &row, &sets)?;
    let mut after = model::view(conn, &window, &counts)?;
    if now() >= window.opens_at {
        announce(conn, ctx, &window, &before, &after)?;
    }
    audit::record(
        conn,
        &Actor::from(ctx),
        Change::new("uit_window.scope", "uit_window", &window.id)
            .before_opt(before.explicit.then(|| snapshot(&before)))
            .after(snapshot(&after)),
    )?;
    after.uncovered_live_versions = uncovered;
    Ok(after)
}

/// The sets `(id, reason)` of the new scope, the counts of the latest DPL and, for a sample,
/// the live versions no set holds.
type Chosen = (Vec<(String, String)>, estate::Counts, Option<Vec<String>>);

fn choose(conn: &mut DbConn, new: &NewScope) -> Result<Chosen, ApiError> {
    if new.strategy == ScopeStrategy::Explicit {
        let ids = new.device_set_ids.clone().unwrap_or_default();
        check_known(conn, &ids)?;
        let sets = ids
            .into_iter()
            .map(|id| (id, "listed by the operator".to_string()))
            .collect();
        return Ok((sets, estate::counts(conn)?, None));
    }
    let estate = estate::load(conn)?.ok_or_else(|| {
        ApiError::unprocessable(
            ErrorCode::NoDpl,
            "No Deployed Products List has been imported, so there is no prevalence to sample: \
             import one (POST /api/v1/estate/imports) or list the sets (strategy explicit).",
        )
    })?;
    let top_n = new.top_n.unwrap_or(1).clamp(1, MAX_TOP_N) as usize;
    let s = sample::sample(&estate, top_n, new.cover_every_live_version.unwrap_or(true));
    let sets = s
        .picks
        .into_iter()
        .map(|p| (estate.sets[p.set].id.clone(), p.reason))
        .collect();
    Ok((sets, estate.counts(), Some(s.uncovered)))
}

/// 422 naming each listed id no device set has.
fn check_known(conn: &mut DbConn, ids: &[String]) -> Result<(), ApiError> {
    let mut known: HashSet<String> = HashSet::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        known.extend(
            ds::table
                .filter(ds::id.eq_any(chunk))
                .select(ds::id)
                .load::<String>(conn)?,
        );
    }
    let errors: Vec<FieldError> = ids
        .iter()
        .enumerate()
        .filter(|(_, id)| !known.contains(*id))
        .map(|(i, _)| FieldError {
            field: format!("device_set_ids[{i}]"),
            message: "no device set has this id".into(),
        })
        .collect();
    match errors.is_empty() {
        true => Ok(()),
        false => Err(ApiError::validation(errors)),
    }
}

/// What an audit row keeps of a scope: how it was chosen, its set ids and share.
fn snapshot(scope: &WindowScope) -> serde_json::Value {
    serde_json::json!({
        "strategy": scope.strategy,
        "top_n": scope.top_n,
        "cover_every_live_version": scope.cover_every_live_version,
        "device_set_ids": scope.sets.iter().map(|s| &s.device_set_id).collect::<Vec<_>>(),
        "covered_share": scope.covered_share,
    })
}

/// Sets listed in a change event's details, at most.
const LISTED: usize = 100;

/// `window.scope_changed` for the window's participants and subscribers, when the sets changed:
/// which were added and removed (the first 100 of each, with the counts) and the share before
/// and after.
fn announce(
    conn: &mut DbConn,
    ctx: &AuthContext,
    window: &WindowRow,
    before: &WindowScope,
    after: &WindowScope,
) -> Result<(), ApiError> {
    let ids = |s: &WindowScope| -> Vec<DeviceSetId> { s.sets.iter().map(|x| x.device_set_id.clone()).collect() };
    let (was, now_in) = (ids(before), ids(after));
    let (was_set, now_set): (HashSet<&DeviceSetId>, HashSet<&DeviceSetId>) =
        (was.iter().collect(), now_in.iter().collect());
    let added: Vec<&DeviceSetId> = now_in.iter().filter(|id| !was_set.contains(id)).collect();
    let removed: Vec<&DeviceSetId> = was.iter().filter(|id| !now_set.contains(id)).collect();
    if added.is_empty() && removed.is_empty() {
        return Ok(());
    }
    let pct = |s: Option<f64>| s.map_or("an unknown share".to_string(), |s| format!("{:.1}%", s * 100.0));
    let summary = format!(
        "{}'s scope now has {} device sets covering {} of the installed base, was {} covering {}",
        window.name,
        now_in.len(),
        pct(after.covered_share),
        was.len(),
        pct(before.covered_share)
    );
    let details = serde_json::json!({
        "field": "scope",
        "strategy": after.strategy,
        "added": added.iter().take(LISTED).collect::<Vec<_>>(),
        "added_count": added.len(),
        "removed": removed.iter().take(LISTED).collect::<Vec<_>>(),
        "removed_count": removed.len(),
        "share_before": before.covered_share,
        "share_after": after.covered_share,
    });
    let scope = crate::releases::model::product_scope(conn, &window.release_id)?;
    let event = NewEvent::new(
        Topic::UitWindows,
        "window.scope_changed",
        "uit_window",
        &window.id,
        summary,
    )
    .details(details)
    .actor(&ctx.org_id);
    events::record(conn, scope.apply(event))?;
    Ok(())
}
