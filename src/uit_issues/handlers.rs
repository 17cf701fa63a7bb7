//! Raising, listing, reading and editing UIT issues.

use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::model::{self, HistoryRow, IssueFilter, IssueRow, IssueSeverity, IssueStatus, Party, UitIssue};
use super::notify;
use crate::audit;
use crate::auth::{AuthContext, Caller, Capability, OrgKind};
use crate::db::schema::{device_sets, results as r};
use crate::db::{new_id, now, DbConn};
use crate::http::etag::{tagged, IfMatch};
use crate::http::idempotency::{self, IdempotencyKey, StoredResponse};
use crate::http::json::Json;
use crate::http::pagination::{page_response, Page, PageRequest};
use crate::http::responses::*;
use crate::http::validate::Validator;
use crate::http::ApiError;
use crate::http::ErrorCode;
use crate::AppState;

/// At most this many device sets and results per issue.
const MAX_LINKS: usize = 200;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IssueQuery {
    pub uit_window_id: Option<String>,
    pub status: Option<IssueStatus>,
    pub severity: Option<IssueSeverity>,
    pub resolving_org_id: Option<String>,
    /// Page size, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// Opaque cursor from `next_cursor`.
    #[param(min_length = 1, max_length = 86, pattern = "^[A-Za-z0-9_-]+$")]
    pub cursor: Option<String>,
}

/// List UIT issues
///
/// Only the issues you may read: those of windows your organisation joined (all of them for
/// the operator), and those your organisation raised or resolves. Oldest first.
#[utoipa::path(
    tag = "uit-issues",
    operation_id = "listUitIssues",
    params(IssueQuery),
    responses(
        (status = 200, description = "A page of UIT issues", body = Page<UitIssue>),
    ),
    security(("bearer" = []))
)]
#[get("/uit-issues")]
pub async fn list_issues(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<IssueQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let page = PageRequest::new(q.limit, q.cursor.as_deref())?;
    let (after, fetch) = (page.after.clone(), page.fetch());
    let filter = IssueFilter {
        window_id: q.uit_window_id,
        status: q.status,
        severity: q.severity,
        resolving_org_id: q.resolving_org_id,
    };
    let items = state
        .db
        .read_as(caller, move |conn, ctx| {
            let rows = model::list(conn, &ctx, filter, after, fetch)?;
            Ok(model::views(conn, &ctx, rows)?)
        })
        .await?;
    Ok(page_response(&req, &page.finish(items, |i| &i.id)))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"uit_window_id": "0193a1c2-5b7e-7c41-8d2f-3e9a1b6c4d01", "title": "Prepayment top-up lost after a Comms Hub replacement", "description": "The PPMID shows the credit, the meter never applies it (alert 8F3E).", "severity": "blocking", "device_set_ids": ["0193a1c2-4f10-7a88-b1c3-77d0e2f4a9b2"], "result_ids": ["0193a1c3-0a11-7b22-9c33-4d5e6f708192"], "resolving_org_id": "0193a1c0-1b2c-7d3e-8f40-5a6b7c8d9e0f"}))]
pub struct NewIssue {
    pub uit_window_id: String,
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    /// Default empty.
    #[serde(default)]
    #[schema(max_length = 10000)]
    pub description: String,
    pub severity: IssueSeverity,
    /// The device sets it was seen on; each must exist.
    #[serde(default)]
    pub device_set_ids: Vec<String>,
    /// Results of this window that show it; each must be one you may read.
    #[serde(default)]
    pub result_ids: Vec<String>,
    /// An organisation of kind `manufacturer`, `service_provider` or `operator`.
    pub resolving_org_id: String,
}

fn check_texts(v: &mut Validator, title: Option<&str>, description: Option<&str>) {
    if let Some(title) = title {
        v.text("title", title, 200);
    }
    if description.is_some_and(|d| d.chars().count() > 10_000) {
        v.error("description", "must be at most 10000 characters");
    }
}

fn dedup(ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids {
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
    out
}

/// 422 naming `resolving_org_id` unless it is an organisation that can resolve issues.
fn check_resolver(conn: &mut DbConn, org_id: &str) -> Result<(), ApiError> {
    let org = crate::organisations::model::find_org(conn, org_id)?
        .ok_or_else(|| ApiError::invalid_field("resolving_org_id", "no such organisation"))?;
    match OrgKind::parse(&org.kind) {
        Some(OrgKind::Manufacturer | OrgKind::ServiceProvider | OrgKind::Operator) => Ok(()),
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
    window_id: &str,
    sets: &[String],
    results: &[String],
) -> Result<(), ApiError> {
    let mut v = Validator::new();
    let found_sets: Vec<String> = device_sets::table
        .filter(device_sets::id.eq_any(sets))
        .select(device_sets::id)
        .load(conn)?;
    for (i, id) in sets.iter().enumerate() {
        if !found_sets.contains(id) {
            v.error(&format!("device_set_ids[{i}]"), "no such device set");
        }
    }
    let readable: Vec<String> = crate::results::model::visible_to(ctx)
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

pub(super) fn history_row(row: &IssueRow, ctx: &AuthContext, from: Option<&str>, comment: &str) -> HistoryRow {
    HistoryRow {
        id: new_id(),
        uit_issue_id: row.id.clone(),
        from_status: from.map(str::to_string),
        to_status: row.status.clone(),
        resolving_org_id: row.resolving_org_id.clone(),
        comment: comment.to_string(),
        actor_user_id: Some(ctx.user_id.clone()),
        actor_org_id: Some(ctx.org_id.clone()),
        occurred_at: row.updated_at,
    }
}

/// Raise a UIT issue
///
/// An organisation that joined the window (or the operator) raises an incident found in
/// testing, names the device sets and results that show it, and assigns it to the resolving
/// party: a manufacturer, a service provider or the operator (422 otherwise). Results must be
/// results of the window that you may read (422 naming `result_ids[i]`, whether the result is
/// missing, invisible to you or of another window). The issue starts `open`; the resolving
/// organisation's admins are emailed, and subscribers to `uit_issues` who may read it are told.
#[utoipa::path(
    tag = "uit-issues",
    operation_id = "createUitIssue",
    request_body = NewIssue,
    params((
            "Idempotency-Key" = Option<String>, Header, nullable = false,
            min_length = 1, max_length = 255, pattern = "^[!-~]+$",
            description = "1-255 visible ASCII characters; replays return the original response for 24 hours"
        )),
    responses(
        (status = 201, description = "Raised", body = UitIssue),
        (status = 403, response = Forbidden),
        (status = 422, response = Unprocessable),
    ),
    security(("bearer" = []))
)]
#[post("/uit-issues")]
pub async fn create_issue(
    state: web::Data<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    body: Json<NewIssue>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut v = Validator::new();
    check_texts(&mut v, Some(&body.title), Some(&body.description));
    for (field, n) in [
        ("device_set_ids", body.device_set_ids.len()),
        ("result_ids", body.result_ids.len()),
    ] {
        if n > MAX_LINKS {
            v.error(field, format!("must list at most {MAX_LINKS} ids"));
        }
    }
    v.finish()?;
    let idem = key.bind("POST /uit-issues", &body);
    let public_url = state.config.public_url.clone();
    let (stored, emailed) = state
        .db
        .write_as(caller, move |conn, ctx| {
            ctx.require(Capability::Participate)?;
            let mut emailed = 0;
            let stored = idempotency::once(conn, idem.as_ref(), &ctx.user_id, |conn| {
                let window = crate::windows::model::find(conn, &body.uit_window_id)?
                    .ok_or_else(|| ApiError::invalid_field("uit_window_id", "no such UIT window"))?;
                if window.cancelled_at.is_some() {
                    return Err(ApiError::invalid_field("uit_window_id", "the UIT window is cancelled"));
                }
                if !ctx.is_operator() && !crate::results::model::is_participant(conn, &window.id, &ctx.org_id)? {
                    return Err(ApiError::forbidden(
                        "Only organisations that joined the UIT window (and the operator) raise issues in it.",
                    ));
                }
                check_resolver(conn, &body.resolving_org_id)?;
                check_links(conn, &ctx, &window.id, &body.device_set_ids, &body.result_ids)?;
                let now = now();
                let row = IssueRow {
                    id: new_id(),
                    window_id: window.id.clone(),
                    title: body.title.trim().to_string(),
                    description: body.description.clone(),
                    severity: body.severity.as_str().to_string(),
                    status: IssueStatus::Open.as_str().to_string(),
                    raised_by_org_id: ctx.org_id.clone(),
                    raised_by_user_id: Some(ctx.user_id.clone()),
                    resolving_org_id: body.resolving_org_id.clone(),
                    defect_mask_id: None,
                    created_at: now,
                    updated_at: now,
                    version: 1,
                };
                model::insert(conn, &row, &dedup(&body.device_set_ids), &dedup(&body.result_ids))?;
                model::insert_history(conn, &history_row(&row, &ctx, None, ""))?;
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
                emailed = notify::email_resolvers(conn, &row, &names, &public_url)?;
                let view = model::view(conn, &ctx, row)?;
                audit::created(conn, &ctx, "uit_issue.create", &view)?;
                StoredResponse::created(&view, Some(format!("/api/v1/uit-issues/{}", view.id)))
            })?;
            Ok((stored, emailed))
        })
        .await?;
    if emailed > 0 {
        state.mail_wake.notify_one();
    }
    Ok(stored.into_response())
}

/// Get a UIT issue
///
/// Visible to the window's participants, the operator, and the organisations that raised and
/// resolve it; to anyone else 404, exactly as for a missing id. The `ETag` is the one
/// `If-Match` expects on PATCH and transitions.
#[utoipa::path(
    tag = "uit-issues",
    operation_id = "getUitIssue",
    params(("id" = String, Path, description = "UIT issue id")),
    responses(
        (status = 200, description = "The UIT issue", body = UitIssue, headers(("ETag" = String))),
        (status = 404, response = NotFound),
    ),
    security(("bearer" = []))
)]
#[get("/uit-issues/{id}")]
pub async fn get_issue(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let view = state
        .db
        .read_as(caller, move |conn, ctx| {
            let row = model::find_visible(conn, &ctx, &id)?;
            model::view(conn, &ctx, row)
        })
        .await?;
    Ok(tagged(view.version, &view))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssuePatch {
    /// The raising organisation or the operator.
    #[schema(min_length = 1, max_length = 200)]
    pub title: Option<String>,
    /// The raising organisation or the operator.
    #[schema(max_length = 10000)]
    pub description: Option<String>,
    /// The raising organisation or the operator.
    pub severity: Option<IssueSeverity>,
    /// Passes the issue to another resolving party (a manufacturer, a service provider or the
    /// operator): the raising organisation, the operator or the current resolving organisation,
    /// while the issue is `open` or `triaged`. A `triaged` issue goes back to `open` for the new
    /// party to triage; the new party's admins are emailed.
    pub resolving_org_id: Option<String>,
}

/// Update a UIT issue
///
/// Title, description and severity: the raising organisation or the operator. The resolving
/// organisation: see `resolving_org_id`. Status moves go through the transitions endpoint.
#[utoipa::path(
    tag = "uit-issues",
    operation_id = "updateUitIssue",
    request_body = IssuePatch,
    params(
        ("id" = String, Path, description = "UIT issue id"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "ETag from a previous read; 412 when stale"),
    ),
    responses(
        (status = 200, description = "Updated", body = UitIssue, headers(("ETag" = String))),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 412, response = PreconditionFailed),
        (status = 422, response = Unprocessable),
    ),
    security(("bearer" = []))
)]
#[patch("/uit-issues/{id}")]
pub async fn update_issue(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    if_match: IfMatch,
    body: Json<IssuePatch>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let patch = body.into_inner();
    let mut v = Validator::new();
    check_texts(&mut v, patch.title.as_deref(), patch.description.as_deref());
    v.finish()?;
    let public_url = state.config.public_url.clone();
    let (view, emailed) = state.db.write_as(caller, move |conn, ctx| {
            ctx.require(Capability::Participate)?;
            let before = model::find_visible(conn, &ctx, &id)?;
            let edits = patch.title.is_some() || patch.description.is_some() || patch.severity.is_some();
            if edits && !before.acts_as(&ctx, Party::Raiser) {
                return Err(ApiError::forbidden(
                    "Only the organisation that raised the issue (or the operator) changes its title, description or severity.",
                ));
            }
            let reassign = patch.resolving_org_id.as_ref().filter(|o| **o != before.resolving_org_id);
            if reassign.is_some() && !before.acts_as(&ctx, Party::Raiser) && !before.acts_as(&ctx, Party::Resolver) {
                return Err(ApiError::forbidden(
                    "Only the raising organisation, the resolving organisation or the operator passes an issue on.",
                ));
            }
            if_match.check(before.version)?;
            let before_view = model::view(conn, &ctx, before.clone())?;
            let mut after = before.clone();
            if let Some(t) = &patch.title {
                after.title = t.trim().to_string();
            }
            if let Some(d) = &patch.description {
                after.description = d.clone();
            }
            if let Some(s) = patch.severity {
                after.severity = s.as_str().to_string();
            }
            if let Some(org) = reassign {
                if !before.status().is_pending() {
                    return Err(ApiError::unprocessable(
                        ErrorCode::UitIssueNotPending,
                        format!(
                            "The issue is {}; only an open or triaged issue is passed to another resolving party.",
                            before.status
                        ),
                    )
                    .with_context(serde_json::json!({ "status": before.status })));
                }
                check_resolver(conn, org)?;
                after.resolving_org_id = org.clone();
                after.status = IssueStatus::Open.as_str().to_string();
            }
            if after == before {
                return Ok((before_view, 0));
            }
            after.updated_at = now();
            after.version = before.version + 1;
            if !model::update(conn, &after)? {
                return Err(ApiError::precondition_failed());
            }
            let names = notify::names(conn, &after)?;
            let mut emailed = 0;
            let mut changed: Vec<&str> = Vec::new();
            for (field, differs) in [
                ("title", before.title != after.title),
                ("description", before.description != after.description),
                ("severity", before.severity != after.severity),
            ] {
                if differs {
                    changed.push(field);
                }
            }
            if !changed.is_empty() {
                let severity = if before.severity != after.severity {
                    format!(" (now {}, was {})", after.severity, before.severity)
                } else {
                    String::new()
                };
                notify::record(
                    conn,
                    &after,
                    "uit_issue.updated",
                    format!(
                        "UIT issue \"{}\" in {} was edited: {}{severity}",
                        after.title,
                        names.window,
                        changed.join(", ")
                    ),
                    &ctx.org_id,
                    serde_json::json!({ "fields": changed, "from_severity": before.severity }),
                )?;
            }
            if before.resolving_org_id != after.resolving_org_id {
                let old = crate::organisations::model::find_org(conn, &before.resolving_org_id)?
                    .map(|o| o.name)
                    .unwrap_or_default();
                let comment = format!("Passed from {old} to {}", names.resolver);
                model::insert_history(conn, &history_row(&after, &ctx, Some(&before.status), &comment))?;
                notify::record(
                    conn,
                    &after,
                    "uit_issue.reassigned",
                    format!(
                        "UIT issue \"{}\" in {} passed from {old} to {}",
                        after.title, names.window, names.resolver
                    ),
                    &ctx.org_id,
                    serde_json::json!({ "from_resolving_org_id": before.resolving_org_id, "from_status": before.status }),
                )?;
                emailed = notify::email_resolvers(conn, &after, &names, &public_url)?;
            }
            let view = model::view(conn, &ctx, after)?;
            audit::changed(conn, &ctx, "uit_issue.update", &before_view, &view)?;
            Ok((view, emailed))
        })
        .await?;
    if emailed > 0 {
        state.mail_wake.notify_one();
    }
    Ok(tagged(view.version, &view))
}
