//! Raising a UIT issue: who may, what it links, and who is told.

use diesel::prelude::*;

use super::handlers::{history_row, NewIssue};
use super::model::{self, IssueRow, IssueStatus, UitIssue};
use super::notify;
use crate::audit;
use crate::auth::{AuthContext, OrgKind};
use crate::db::schema::{device_sets, results as r};
use crate::db::{new_id, now, DbConn, DeviceSetId, OrgId, ResultId, WindowId};
use crate::http::validate::Validator;
use crate::http::ApiError;

/// Raises an issue, `open`, with its first history step, its `uit_issue.raised` event, the
/// email to the resolving organisation's admins and its audit row; answers the issue and how
/// many emails were queued. The window must exist and not be cancelled (422 naming
/// `uit_window_id`); only its participants and the operator raise issues in it (403); then the
/// resolving party ([`check_resolver`]) and the links ([`check_links`]) are checked.
pub fn raise(
    conn: &mut DbConn,
    ctx: &AuthContext,
    body: &NewIssue,
    public_url: &str,
) -> Result<(UitIssue, usize), ApiError> {
    let window = crate::windows::model::find(conn, &body.uit_window_id)?
        .ok_or_else(|| ApiError::invalid_field("uit_window_id", "no such UIT window"))?;
    if window.cancelled_at.is_some() {
        return Err(ApiError::invalid_field("uit_window_id", "the UIT window is cancelled"));
    }
    if !ctx.is_operator() && !crate::results::visibility::is_participant(conn, &window.id, &ctx.org_id)? {
        return Err(ApiError::forbidden(
            "Only organisations that joined the UIT window (and the operator) raise issues in it.",
        ));
    }
    check_resolver(conn, &body.resolving_org_id)?;
    check_links(conn, ctx, &window.id, &body.device_set_ids, &body.result_ids)?;
    let now = now();
    let row = IssueRow {
        id: new_id(),
        window_id: window.id.clone(),
        title: body.title.trim().to_string(),
        description: body.description.clone(),
        severity: body.severity,
        status: IssueStatus::Open,
        raised_by_org_id: ctx.org_id.clone(),
        raised_by_user_id: Some(ctx.user_id.clone()),
        resolving_org_id: body.resolving_org_id.clone(),
        defect_mask_id: None,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    model::insert(conn, &row, &dedup(&body.device_set_ids), &dedup(&body.result_ids))?;
    model::insert_history(conn, &history_row(&row, ctx, None, ""))?;
    let names = notify::names(conn, &row)?;
    notify::record(
        conn,
        &row,
        "uit_issue.raised",
        format!(
            "{} raised a {} UIT issue in {}: \"{}\"; {} is to resolve it",
            names.raiser, row.severity, names.window, row.title, names.resolver
        ),
        &ctx.org_id,
        serde_json::json!({}),
    )?;
    let emailed = notify::email_resolvers(conn, &row, &names, public_url)?;
    let view = model::view(conn, ctx, row)?;
    audit::created(conn, ctx, "uit_issue.create", &view)?;
    Ok((view, emailed))
}

fn dedup<T: PartialEq + Clone>(ids: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(ids.len());
    for id in ids {
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
    out
}

/// 422 naming `resolving_org_id` unless it is an organisation that can resolve issues.
pub(super) fn check_resolver(conn: &mut DbConn, org_id: &OrgId) -> Result<(), ApiError> {
    let org = crate::organisations::model::find_org(conn, org_id)?
        .ok_or_else(|| ApiError::invalid_field("resolving_org_id", "no such organisation"))?;
    match org.kind {
        OrgKind::Manufacturer | OrgKind::ServiceProvider | OrgKind::Operator => Ok(()),
        _ => Err(ApiError::invalid_field(
            "resolving_org_id",
            "must be a manufacturer, a service provider or the operator",
        )),
    }
}

/// The device sets must exist, and the results must be results of `window_id` that `ctx`
/// may read: any other id (missing, invisible or of another window) gets the same message.
fn check_links(
    conn: &mut DbConn,
    ctx: &AuthContext,
    window_id: &WindowId,
    sets: &[DeviceSetId],
    results: &[ResultId],
) -> Result<(), ApiError> {
    let mut v = Validator::new();
    let found_sets: Vec<DeviceSetId> = device_sets::table
        .filter(device_sets::id.eq_any(sets))
        .select(device_sets::id)
        .load(conn)?;
    for (i, id) in sets.iter().enumerate() {
        if !found_sets.contains(id) {
            v.error(&format!("device_set_ids[{i}]"), "no such device set");
        }
    }
    let readable: Vec<ResultId> = crate::results::visibility::visible_to(ctx)
        .filter(r::id.eq_any(results.to_vec()))
        .filter(r::window_id.eq(window_id.to_string()))
        .select(r::id)
        .load(conn)?;
    for (i, id) in results.iter().enumerate() {
        if !readable.contains(id) {
            v.error(&format!("result_ids[{i}]"), "no such result in this UIT window");
        }
    }
    v.finish()
}
