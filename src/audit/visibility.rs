//! What an audit reader may see of a row's `before` and `after`: the audited entity's own
//! visibility rule, the one its read paths apply, for each snapshot as it was then. A reader
//! the rule does not admit still sees that the change happened (action, actor, entity, time),
//! with `before`/`after` null and `redacted` true.

use std::collections::HashSet;

use diesel::prelude::*;

use super::model::AuditEvent;
use crate::auth::AuthContext;
use crate::db::schema::results as r;
use crate::db::{DbConn, OrgId, ReleaseId, ResultId, WindowId};
use crate::http::ApiError;
use crate::roadmaps::Viewer;

/// Applies each row's entity rule to its snapshots, in place.
pub fn redact(conn: &mut DbConn, ctx: &AuthContext, events: &mut [AuditEvent]) -> Result<(), ApiError> {
    let mut roadmap_viewer: Option<Viewer> = None;
    for event in events.iter_mut() {
        let snapshots = [event.before.take(), event.after.take()];
        let mut shown: [Option<serde_json::Value>; 2] = [None, None];
        for (slot, snapshot) in shown.iter_mut().zip(snapshots) {
            let Some(snapshot) = snapshot else { continue };
            let keep = match event.entity_type.as_str() {
                "result" => result_readable(conn, ctx, &ResultId::from(event.entity_id.as_str()), &snapshot)?,
                "uit_issue" => {
                    if crate::uit_issues::model::may_read(conn, ctx, &event.entity_id)? {
                        let (kept, cut) = readable_issue_results(conn, ctx, snapshot)?;
                        event.redacted |= cut;
                        *slot = Some(kept);
                    } else {
                        event.redacted = true;
                    }
                    continue;
                }
                "result_comment" => crate::results::comments::snapshot_readable(conn, ctx, &snapshot)?,
                "result_batch" => {
                    let (kept, cut) = visible_batch(conn, ctx, snapshot)?;
                    event.redacted |= cut;
                    *slot = Some(kept);
                    continue;
                }
                "roadmap_item" => {
                    if roadmap_viewer.is_none() {
                        roadmap_viewer = Some(Viewer::of(conn, ctx)?);
                    }
                    roadmap_viewer.as_ref().is_some_and(|v| v.admits_snapshot(&snapshot))
                }
                "deployment_nomination" | "deployment_assessment" => {
                    let release = snapshot.get("release_id").and_then(|v| v.as_str()).unwrap_or_default();
                    crate::releases::deployment::may_read(conn, ctx, &ReleaseId::from(release))?
                }
                "subscription" => crate::notifications::model::readable_by(conn, &ctx.user_id, &event.entity_id)?,
                "api_token" => crate::me::api_tokens::readable_by(conn, ctx, &event.entity_id)?,
                // A calendar token is its user's own (the row's id is the user's).
                "calendar_token" => event.entity_id == ctx.user_id.as_str(),
                _ => true,
            };
            if keep {
                *slot = Some(snapshot);
            } else {
                event.redacted = true;
            }
        }
        let [before, after] = shown;
        event.before = before;
        event.after = after;
    }
    Ok(())
}

/// A result snapshot is shown when the reader may read it as it was then (its own
/// organisation, visibility and window) and may read the result now, as its revisions are.
fn result_readable(
    conn: &mut DbConn,
    ctx: &AuthContext,
    result_id: &ResultId,
    snapshot: &serde_json::Value,
) -> Result<bool, ApiError> {
    use crate::results::visibility::may_read;
    let text = |key: &str| snapshot.get(key).and_then(|v| v.as_str()).unwrap_or_default();
    if !may_read(
        conn,
        ctx,
        &OrgId::from(text("org_id")),
        text("visibility"),
        &WindowId::from(text("uit_window_id")),
    )? {
        return Ok(false);
    }
    let now: Option<(OrgId, String, WindowId)> = r::table
        .find(result_id)
        .select((r::org_id, r::visibility, r::window_id))
        .first(conn)
        .optional()?;
    Ok(match now {
        Some((org, visibility, window)) => may_read(conn, ctx, &org, &visibility, &window)?,
        None => true,
    })
}

/// A UIT issue snapshot is shown to those who may read the issue now, with the cited results
/// narrowed to those the reader may read. Returns the snapshot and whether any id was left out.
fn readable_issue_results(
    conn: &mut DbConn,
    ctx: &AuthContext,
    mut snapshot: serde_json::Value,
) -> Result<(serde_json::Value, bool), ApiError> {
    let ids: Vec<ResultId> = snapshot
        .get("result_ids")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str().map(ResultId::from)).collect())
        .unwrap_or_default();
    if ids.is_empty() {
        return Ok((snapshot, false));
    }
    let readable: HashSet<ResultId> = crate::uit_issues::model::readable_results(conn, ctx, &ids)?
        .into_iter()
        .collect();
    let kept: Vec<&ResultId> = ids.iter().filter(|id| readable.contains(*id)).collect();
    let cut = kept.len() < ids.len();
    snapshot["result_ids"] = serde_json::json!(kept);
    Ok((snapshot, cut))
}

/// A batch row lists the ids it wrote: only those of results the reader may read stay.
/// Returns the snapshot and whether any id was left out.
fn visible_batch(
    conn: &mut DbConn,
    ctx: &AuthContext,
    mut snapshot: serde_json::Value,
) -> Result<(serde_json::Value, bool), ApiError> {
    let mut cut = false;
    for key in ["created", "updated"] {
        let Some(ids) = snapshot.get(key).and_then(|v| v.as_array()) else {
            continue;
        };
        let ids: Vec<String> = ids.iter().filter_map(|v| v.as_str().map(str::to_string)).collect();
        let mut readable: HashSet<String> = HashSet::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            readable.extend(
                crate::results::visibility::visible_to(ctx)
                    .filter(r::id.eq_any(chunk))
                    .select(r::id)
                    .load::<String>(conn)?,
            );
        }
        let kept: Vec<&String> = ids.iter().filter(|id| readable.contains(*id)).collect();
        cut |= kept.len() < ids.len();
        snapshot[key] = serde_json::json!(kept);
    }
    Ok((snapshot, cut))
}
