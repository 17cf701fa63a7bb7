use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::{self, HistoryRow, IssueFilter, IssueRow, IssueSeverity, IssueStatus, UitIssue};
use super::{raise, update};
use crate::auth::{AuthContext, Caller, Capability};
use crate::db::{new_id, DeviceSetId, OrgId, ResultId, WindowId};
use crate::http::etag::{read_tagged, tagged, IfMatch};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::json::Json;
use crate::http::pagination::{keyed, list_page, list_query, Page};
use crate::http::responses::*;
use crate::http::validate::Validator;
use crate::http::ApiError;
use crate::AppState;

/// At most this many device sets and results per issue.
const MAX_LINKS: usize = 200;

list_query! {
    pub struct IssueQuery {
        #[param(value_type = Option<String>)]
        pub uit_window_id: Option<WindowId>,
        pub status: Option<IssueStatus>,
        pub severity: Option<IssueSeverity>,
        #[param(value_type = Option<String>)]
        pub resolving_org_id: Option<OrgId>,
    }
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
    let page = q.page()?;
    let filter = IssueFilter {
        window_id: q.uit_window_id,
        status: q.status,
        severity: q.severity,
        resolving_org_id: q.resolving_org_id,
    };
    list_page(&state.db, caller, &req, page, move |conn, ctx, after, fetch| {
        let rows = model::list(conn, &ctx, filter, after, fetch)?;
        Ok(model::views(conn, &ctx, rows)?)
    })
    .await
}

keyed!(UitIssue, id);

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"uit_window_id": "0193a1c2-5b7e-7c41-8d2f-3e9a1b6c4d01", "title": "Prepayment top-up lost after a Comms Hub replacement", "description": "The PPMID shows the credit, the meter never applies it (alert 8F3E).", "severity": "blocking", "device_set_ids": ["0193a1c2-4f10-7a88-b1c3-77d0e2f4a9b2"], "result_ids": ["0193a1c3-0a11-7b22-9c33-4d5e6f708192"], "resolving_org_id": "0193a1c0-1b2c-7d3e-8f40-5a6b7c8d9e0f"}))]
pub struct NewIssue {
    #[schema(value_type = String)]
    pub uit_window_id: WindowId,
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    /// Default empty.
    #[serde(default)]
    #[schema(max_length = 10000)]
    pub description: String,
    pub severity: IssueSeverity,
    /// The device sets it was seen on; each must exist.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub device_set_ids: Vec<DeviceSetId>,
    /// Results of this window that show it; each must be one you may read.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub result_ids: Vec<ResultId>,
    /// An organisation of kind `manufacturer`, `service_provider` or `operator`.
    #[schema(value_type = String)]
    pub resolving_org_id: OrgId,
}

fn check_texts(v: &mut Validator, title: Option<&str>, description: Option<&str>) {
    if let Some(title) = title {
        v.text("title", title, 200);
    }
    if description.is_some_and(|d| d.chars().count() > 10_000) {
        v.error("description", "must be at most 10000 characters");
    }
}

pub(super) fn history_row(row: &IssueRow, ctx: &AuthContext, from: Option<IssueStatus>, comment: &str) -> HistoryRow {
    HistoryRow {
        id: new_id(),
        uit_issue_id: row.id.clone(),
        from_status: from,
        to_status: row.status,
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
    params(crate::http::idempotency::IdempotencyKeyHeader),
    responses(
        (status = 201, description = "Raised", body = UitIssue),
        (status = 403, response = Forbidden),
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
    check_new(&body)?;
    let idem = key.bind("POST /uit-issues", &body);
    let public_url = state.config.public_url.clone();
    let (stored, emailed) = state
        .db
        .write_as(caller, move |conn, ctx| {
            ctx.require(Capability::Participate)?;
            let mut emailed = 0;
            let stored = idempotency::created(conn, idem.as_ref(), &ctx.user_id, |conn| {
                let (view, sent) = raise::raise(conn, &ctx, &body, &public_url)?;
                emailed = sent;
                Ok(view)
            })?;
            Ok((stored, emailed))
        })
        .await?;
    if emailed > 0 {
        state.mail_wake.notify_one();
    }
    Ok(stored.into_response())
}

/// What is checked before the database: the texts' lengths and at most 200 links of each kind.
fn check_new(body: &NewIssue) -> Result<(), ApiError> {
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
    v.finish()
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
    ),
    security(("bearer" = []))
)]
#[get("/uit-issues/{id}")]
pub async fn get_issue(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    read_tagged(&state.db, caller, move |conn, ctx| {
        let row = model::find_visible(conn, &ctx, &path)?;
        let view = model::view(conn, &ctx, row)?;
        Ok((view.version, view))
    })
    .await
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
    #[schema(value_type = Option<String>)]
    pub resolving_org_id: Option<OrgId>,
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
        crate::http::etag::IfMatchHeader,
    ),
    responses(
        (status = 200, description = "Updated", body = UitIssue, headers(("ETag" = String))),
        (status = 403, response = Forbidden),
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
    let (view, emailed) = state
        .db
        .write_as(caller, move |conn, ctx| {
            update::apply(conn, &ctx, &id, if_match, patch, &public_url)
        })
        .await?;
    if emailed > 0 {
        state.mail_wake.notify_one();
    }
    Ok(tagged(view.version, &view))
}
