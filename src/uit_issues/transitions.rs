//! Moving a UIT issue along its status track, its history, and turning it into a defect mask.

use crate::audit;
use crate::http::ErrorCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::handlers::history_row;
use super::model::{self, IssueRow, IssueStatus, IssueStep, Party, UitIssue};
use super::notify;
use crate::auth::{AuthContext, Caller, Capability};
use crate::db::{now, DbConn};
use crate::defect_masks::handlers::{self as masks, NewDefectMask};
use crate::defect_masks::model::DefectMask;
use crate::http::etag::{tagged, IfMatch};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::json::Json;
use crate::http::pagination::{keyed, list_page, list_query, Page};
use crate::http::responses::*;
use crate::http::validate::Validator;
use crate::http::ApiError;
use crate::AppState;

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"to": "wont_fix", "comment": "Works as specified in SMETS2 section 4.6; the supplier's head-end must resend."}))]
pub struct Transition {
    /// The status to move to.
    pub to: IssueStatus,
    /// Kept in the history. Required (the reason) for `wont_fix` and for reopening (`open`).
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub comment: String,
}

fn illegal(from: IssueStatus, to: IssueStatus) -> ApiError {
    let allowed = from.allowed();
    let names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
    let next = if names.is_empty() {
        "it cannot move any further".to_string()
    } else {
        format!("it can move to {}", names.join(" or "))
    };
    ApiError::unprocessable(
        ErrorCode::IllegalTransition,
        format!("The issue is {from}; it cannot move to {to}: {next}."),
    )
    .with_context(serde_json::json!({ "from": from, "to": to, "allowed": allowed }))
}

/// Move a UIT issue along its status track
///
/// The track: `open` -> `triaged` -> `resolved` or `wont_fix`, moved by the resolving party
/// (any admin or member of the resolving organisation) or the operator; then the raising
/// organisation (any admin or member) or the operator either confirms a resolution
/// (`resolved` -> `confirmed`, final) or reopens the issue with a reason (`resolved` or
/// `wont_fix` -> `open`). `wont_fix` and reopening need a `comment`. Any other move is 422
/// `illegal_transition`, naming `from`, `to` and the allowed moves; a legal move by the wrong
/// party is 403. Every move is kept in the history and told to subscribers of `uit_issues`.
#[utoipa::path(
    tag = "uit-issues",
    operation_id = "transitionUitIssue",
    request_body = Transition,
    params(
        ("id" = String, Path, description = "UIT issue id"),
        crate::http::etag::IfMatchHeader,
    ),
    responses(
        (status = 200, description = "Moved; the updated issue", body = UitIssue, headers(("ETag" = String))),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[post("/uit-issues/{id}/transitions")]
pub async fn transition_issue(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    if_match: IfMatch,
    body: Json<Transition>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let body = body.into_inner();
    let view = state
        .db
        .write_as(caller, move |conn, ctx| transition(conn, &ctx, &id, &body, &if_match))
        .await?;
    Ok(tagged(view.version, &view))
}

/// Moves issue `id` to `body.to` for `ctx`: the track's rules, the party, the comment a step
/// needs, the precondition; keeps the history, tells subscribers, audits. The API's
/// `POST /uit-issues/{id}/transitions` and the issue page's buttons both call it.
pub fn transition(
    conn: &mut crate::db::DbConn,
    ctx: &AuthContext,
    id: &str,
    body: &Transition,
    if_match: &IfMatch,
) -> Result<UitIssue, ApiError> {
    ctx.require(Capability::Participate)?;
    if body.comment.chars().count() > 2000 {
        return Err(ApiError::invalid_field("comment", "must be at most 2000 characters"));
    }
    let before = model::find_visible(conn, ctx, id)?;
    let from = before.status;
    let step = from.step(body.to).ok_or_else(|| illegal(from, body.to))?;
    if !before.acts_as(ctx, step.party) {
        return Err(ApiError::forbidden(match step.party {
            Party::Resolver => "Only the resolving organisation (or the operator) moves an issue to this status.",
            Party::Raiser => "Only the organisation that raised the issue (or the operator) confirms or reopens it.",
        }));
    }
    let comment = body.comment.trim().to_string();
    if step.needs_comment && comment.is_empty() {
        let mut v = Validator::new();
        v.error("comment", format!("must give the reason for moving to {}", body.to));
        v.finish()?;
    }
    if_match.check(before.version)?;
    let before_view = model::view(conn, ctx, before.clone())?;
    let mut after = before.clone();
    after.status = body.to;
    after.updated_at = now();
    after.version = before.version + 1;
    if !model::update(conn, &after)? {
        return Err(ApiError::precondition_failed());
    }
    model::insert_history(conn, &history_row(&after, ctx, Some(before.status), &comment))?;
    let names = notify::names(conn, &after)?;
    let reason = if comment.is_empty() {
        String::new()
    } else {
        format!(": {comment}")
    };
    notify::record(
        conn,
        &after,
        "uit_issue.status_changed",
        format!(
            "UIT issue \"{}\" in {} is now {}, was {}{reason}",
            after.title,
            names.window,
            body.to.words(),
            from.words()
        ),
        &ctx.org_id,
        serde_json::json!({ "field": "status", "from": from, "to": body.to, "comment": comment }),
    )?;
    let view = model::view(conn, ctx, after)?;
    audit::changed(conn, ctx, "uit_issue.transition", &before_view, &view)?;
    Ok(view)
}

list_query! {
    pub struct HistoryQuery {
    }
}

/// A UIT issue's history
///
/// Every step, oldest first: raised (`from_status` null), each status move with its comment,
/// and each change of resolving party. Visible as the issue is.
#[utoipa::path(
    tag = "uit-issues",
    operation_id = "listUitIssueHistory",
    params(("id" = String, Path, description = "UIT issue id"), HistoryQuery),
    responses(
        (status = 200, description = "The issue's steps", body = Page<IssueStep>),
    ),
    security(("bearer" = []))
)]
#[get("/uit-issues/{id}/history")]
pub async fn issue_history(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<HistoryQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let q = query.into_inner();
    list_page(&state.db, caller, &req, q.page()?, move |conn, ctx, after, fetch| {
        model::find_visible(conn, &ctx, &id)?;
        Ok(model::history(conn, &id, after, fetch)?)
    })
    .await
}

keyed!(IssueStep, id);

/// Turn a UIT issue into a defect mask
///
/// Once the incident is understood, the resolving organisation (any admin or member) or the
/// operator publishes it as a defect mask: the body is what `POST /defect-masks` takes, and the
/// mask is created exactly as there (owned by your organisation, industry-visible, told to
/// subscribers of `defect_masks`). The issue links it in `defect_mask_id`; an issue becomes one
/// mask only (409 `uit_issue_already_converted`, with the mask's id). Any status will do: a
/// `wont_fix` issue often becomes a mask with its workaround.
#[utoipa::path(
    tag = "uit-issues",
    operation_id = "convertUitIssueToDefectMask",
    request_body = NewDefectMask,
    params(
        ("id" = String, Path, description = "UIT issue id"),
        crate::http::idempotency::IdempotencyKeyHeader,
    ),
    responses(
        (status = 201, description = "The defect mask, published and linked", body = DefectMask),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    ),
    security(("bearer" = []))
)]
#[post("/uit-issues/{id}/defect-mask")]
pub async fn convert_issue(
    state: web::Data<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    path: web::Path<String>,
    body: Json<NewDefectMask>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let body = body.into_inner();
    let code = masks::validate_new(&body)?;
    let idem = key.bind(&format!("POST /uit-issues/{id}/defect-mask"), &body);
    idempotency::create_as(&state.db, caller, idem, move |conn, ctx, once| {
        let before = convertible(conn, &ctx, &id)?;
        once.create(conn, |conn| convert(conn, &ctx, before, &body, &code))
    })
    .await
}

/// The issue `id`, when `ctx` may turn it into a defect mask (checked before a replay could
/// answer): a participant that publishes defect masks (403), the issue visible (404), and the
/// resolving organisation or the operator (403).
fn convertible(conn: &mut DbConn, ctx: &AuthContext, id: &str) -> Result<IssueRow, ApiError> {
    ctx.require(Capability::Participate)?;
    ctx.require(Capability::PublishDefectMasks)?;
    // Two conversions at once queue here, so the second reads the first's link and answers
    // `uit_issue_already_converted` (not the first's version or mask code meeting it).
    crate::db::lock_row(conn, crate::db::Lockable::UitIssues, id)?;
    let before = model::find_visible(conn, ctx, id)?;
    if !before.acts_as(ctx, Party::Resolver) {
        return Err(ApiError::forbidden(
            "Only the resolving organisation (or the operator) turns an issue into a defect mask.",
        ));
    }
    Ok(before)
}

/// Publishes the issue as a defect mask (exactly as `POST /defect-masks` does), links it in
/// `defect_mask_id`, tells subscribers (`uit_issue.converted`) and audits; answers the mask.
/// An issue becomes one mask only (409 `uit_issue_already_converted`, with the mask's id).
pub fn convert(
    conn: &mut DbConn,
    ctx: &AuthContext,
    before: IssueRow,
    body: &NewDefectMask,
    code: &str,
) -> Result<DefectMask, ApiError> {
    if let Some(existing) = &before.defect_mask_id {
        return Err(ApiError::conflict(
            ErrorCode::UitIssueAlreadyConverted,
            "This issue is already a defect mask.",
        )
        .with_context(serde_json::json!({ "defect_mask_id": existing })));
    }
    let mask = masks::publish(conn, ctx, body, code)?;
    let before_view = model::view(conn, ctx, before.clone())?;
    let mut after = before.clone();
    after.defect_mask_id = Some(mask.id.clone());
    after.updated_at = now();
    after.version = before.version + 1;
    if !model::update(conn, &after)? {
        return Err(ApiError::precondition_failed());
    }
    let names = notify::names(conn, &after)?;
    notify::record(
        conn,
        &after,
        "uit_issue.converted",
        format!(
            "UIT issue \"{}\" in {} is now defect mask {}",
            after.title, names.window, mask.code
        ),
        &ctx.org_id,
        serde_json::json!({ "defect_mask_id": mask.id, "defect_mask_code": mask.code }),
    )?;
    let view = model::view(conn, ctx, after)?;
    audit::changed(conn, ctx, "uit_issue.convert", &before_view, &view)?;
    Ok(mask)
}
