//! UIT issues for people: a window's issues (`/windows/{id}/issues`) and one issue
//! (`/uit-issues/{id}`) with the results and device sets behind it, its history, and the buttons
//! of the moves the member may make (`POST /uit-issues/{id}/transitions`).
//!
//! Reads and moves go through the functions the API calls with the member's `AuthContext`
//! (`uit_issues::model::{list, find_visible, view, history}`, `uit_issues::transitions::transition`),
//! so an issue is visible here exactly when `GET /api/v1/uit-issues/{id}` would show it.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use diesel::prelude::*;
use serde::Deserialize;

use super::library::{words, Names};
use super::member::{Member, MemberForm};
use super::pages::human_time;
use super::{error_page, render, see_other_or_error, Chrome, Exposure};
use crate::auth::{AuthContext, Capability};
use crate::db::schema::{defect_masks, device_sets, results, uit_windows};
use crate::db::{DbConn, DeviceSetId, WindowId};
use crate::http::etag::{etag, IfMatch};
use crate::http::ApiError;
use crate::results::model::ResultRow;
use crate::uit_issues::model::{self as issues, IssueFilter, IssueRow, IssueSeverity, IssueStatus};
use crate::uit_issues::transitions::{transition, Transition};
use crate::AppState;

type Page = Result<actix_web::HttpResponse, ApiError>;

/// Issues listed on a window's page of issues.
const MAX_ISSUES: i64 = 500;

/// Steps of an issue's history shown.
const MAX_STEPS: i64 = 500;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/windows/{id}/issues").route(web::get().to(list)))
        .service(web::resource("/uit-issues/{id}").route(web::get().to(issue)))
        .service(web::resource("/uit-issues/{id}/transitions").route(web::post().to(move_issue)));
}

fn window_name(conn: &mut DbConn, id: &str) -> Result<String, ApiError> {
    uit_windows::table
        .find(id)
        .select(uit_windows::name)
        .first(conn)
        .optional()?
        .ok_or_else(ApiError::not_found)
}

/// An issue in a list.
pub struct IssueLine {
    pub id: String,
    pub title: String,
    pub severity: &'static str,
    pub status: &'static str,
    pub pending: bool,
    pub raiser: String,
    pub resolver: String,
    pub updated: String,
}

fn line(names: &Names, r: &IssueRow) -> IssueLine {
    IssueLine {
        id: r.id.clone(),
        title: r.title.clone(),
        severity: r.severity.as_str(),
        status: r.status.words(),
        pending: r.status.is_pending(),
        raiser: names.org(&r.raised_by_org_id),
        resolver: names.org(&r.resolving_org_id),
        updated: human_time(r.updated_at.and_utc()),
    }
}

#[derive(Template)]
#[template(path = "iss_list.html")]
pub struct ListPage {
    pub chrome: Chrome,
    pub window_id: WindowId,
    pub window_name: String,
    pub issues: Vec<IssueLine>,
    pub pending: usize,
    pub blocking: usize,
}

/// The issues of a window that the member may read, blocking and pending ones first.
pub async fn list(state: web::Data<AppState>, member: Member, path: web::Path<WindowId>) -> Page {
    let id = path.into_inner();
    let ctx = member.auth.clone();
    let wid = id.clone();
    let loaded = state
        .db
        .run(move |conn| {
            let name = window_name(conn, &wid)?;
            let filter = IssueFilter {
                window_id: Some(wid.clone()),
                ..IssueFilter::default()
            };
            let rows = issues::list(conn, &ctx, filter, None, MAX_ISSUES)?;
            Ok((name, rows, Names::load(conn)?))
        })
        .await;
    let (name, mut rows, names) = match loaded {
        Ok(x) => x,
        Err(e) => return error_page(e),
    };
    let rank = |r: &IssueRow| (!r.status.is_pending(), r.severity != IssueSeverity::Blocking);
    rows.sort_by(|a, b| rank(a).cmp(&rank(b)).then(b.updated_at.cmp(&a.updated_at)));
    let pending = rows.iter().filter(|r| r.status.is_pending()).count();
    let blocking = rows
        .iter()
        .filter(|r| r.status.is_pending() && r.severity == IssueSeverity::Blocking)
        .count();
    let page = ListPage {
        chrome: Chrome::new(format!("UIT issues of {name}"), Some(member.nav())),
        window_id: id,
        window_name: name,
        issues: rows.iter().map(|r| line(&names, r)).collect(),
        pending,
        blocking,
    };
    Ok(render(StatusCode::OK, Exposure::Private, &page, |_| {}))
}

/// A cited result, as the issue page names it.
pub struct CitedResult {
    pub org: String,
    pub set: String,
    pub scenario: String,
    pub outcome: String,
    pub href: String,
}

/// A step of the history.
pub struct StepLine {
    pub when: String,
    pub what: String,
    pub by: String,
    pub comment: String,
}

/// A move the member may make: the status, its button, whether a reason is required.
pub struct MoveButton {
    pub to: &'static str,
    pub label: String,
    pub needs_comment: bool,
}

#[derive(Template)]
#[template(path = "iss_issue.html")]
pub struct IssuePage {
    pub chrome: Chrome,
    pub id: String,
    pub window_id: WindowId,
    pub window_name: String,
    pub severity: &'static str,
    pub status: &'static str,
    pub description: String,
    pub raiser: String,
    pub resolver: String,
    pub raised: String,
    pub sets: Vec<String>,
    pub results: Vec<CitedResult>,
    pub mask: Option<(String, String)>,
    pub steps: Vec<StepLine>,
    pub moves: Vec<MoveButton>,
    pub version: String,
    pub csrf: String,
    pub error: Option<String>,
}

/// Everything the issue page shows, read in one hop.
struct Loaded {
    row: IssueRow,
    window_name: String,
    sets: Vec<String>,
    results: Vec<CitedResult>,
    mask: Option<(String, String)>,
    steps: Vec<issues::IssueStep>,
    names: Names,
}

fn load(conn: &mut DbConn, ctx: &AuthContext, id: &str) -> Result<Loaded, ApiError> {
    let row = issues::find_visible(conn, ctx, id)?;
    let view = issues::view(conn, ctx, row.clone())?;
    let window_name = window_name(conn, &row.window_id)?;
    // `view` holds only the cited results the member may read.
    let mut found: Vec<ResultRow> = results::table
        .filter(results::id.eq_any(&view.result_ids))
        .select(ResultRow::as_select())
        .load(conn)?;
    found.sort_by(|a, b| (&a.device_set_id, &a.scenario_code).cmp(&(&b.device_set_id, &b.scenario_code)));
    // The names of the issue's sets and of the cited results' sets, in one query.
    let mut set_ids: Vec<&DeviceSetId> = view
        .device_set_ids
        .iter()
        .chain(found.iter().map(|r| &r.device_set_id))
        .collect();
    set_ids.sort();
    set_ids.dedup();
    let set_names: HashMap<DeviceSetId, String> = device_sets::table
        .filter(device_sets::id.eq_any(set_ids))
        .select((device_sets::id, device_sets::name))
        .load::<(DeviceSetId, String)>(conn)?
        .into_iter()
        .collect();
    let mut sets: Vec<String> = view
        .device_set_ids
        .iter()
        .filter_map(|id| set_names.get(id).cloned())
        .collect();
    sets.sort();
    let names = Names::load(conn)?;
    let results = found
        .into_iter()
        .map(|r| CitedResult {
            org: names.org(&r.org_id),
            set: set_names.get(&r.device_set_id).cloned().unwrap_or_default(),
            scenario: words(&r.scenario_code),
            outcome: words(r.outcome.as_str()),
            href: format!(
                "/windows/{}/cell?device_set={}&scenario={}",
                r.window_id, r.device_set_id, r.scenario_code
            ),
        })
        .collect();
    let mask = match &row.defect_mask_id {
        Some(m) => defect_masks::table
            .find(m)
            .select((defect_masks::id, defect_masks::code))
            .first::<(String, String)>(conn)
            .optional()?,
        None => None,
    };
    let steps = issues::history(conn, &row.id, None, MAX_STEPS)?;
    Ok(Loaded {
        row,
        window_name,
        sets,
        results,
        mask,
        steps,
        names,
    })
}

fn step_words(step: &issues::IssueStep, names: &Names) -> String {
    match step.from_status {
        None => format!("Raised, for {} to resolve", names.org(&step.resolving_org_id)),
        Some(from)
            if from == step.to_status || (from == IssueStatus::Triaged && step.to_status == IssueStatus::Open) =>
        {
            format!("Passed on to {}", names.org(&step.resolving_org_id))
        }
        Some(from) => format!("{} to {}", from.words(), step.to_status.words()),
    }
}

/// The moves `member` may make from the issue's status: the track's, by the member's party,
/// for roles that participate.
fn moves(member: &Member, row: &IssueRow) -> Vec<MoveButton> {
    if !member.may(Capability::Participate) {
        return Vec::new();
    }
    let from = row.status;
    from.allowed()
        .into_iter()
        .filter_map(|to| {
            let step = from.step(to)?;
            row.acts_as(&member.auth, step.party).then(|| MoveButton {
                to: to.as_str(),
                label: match to {
                    IssueStatus::Triaged => "Mark as triaged".into(),
                    IssueStatus::Resolved => "Mark as resolved".into(),
                    IssueStatus::WontFix => "Close as won't fix".into(),
                    IssueStatus::Confirmed => "Confirm the resolution".into(),
                    IssueStatus::Open => "Reopen".into(),
                },
                needs_comment: step.needs_comment,
            })
        })
        .collect()
}

fn issue_page(member: &Member, l: Loaded, status: StatusCode, error: Option<String>) -> Page {
    let row = &l.row;
    let page = IssuePage {
        chrome: Chrome::new(row.title.clone(), Some(member.nav())),
        id: row.id.clone(),
        window_id: row.window_id.clone(),
        window_name: l.window_name.clone(),
        severity: row.severity.as_str(),
        status: row.status.words(),
        description: row.description.clone(),
        raiser: l.names.org(&row.raised_by_org_id),
        resolver: l.names.org(&row.resolving_org_id),
        raised: human_time(row.created_at.and_utc()),
        sets: l.sets.clone(),
        mask: l.mask.clone(),
        steps: l
            .steps
            .iter()
            .map(|s| StepLine {
                when: human_time(s.occurred_at),
                what: step_words(s, &l.names),
                by: s.actor_org_id.as_deref().map(|o| l.names.org(o)).unwrap_or_default(),
                comment: s.comment.clone(),
            })
            .collect(),
        moves: moves(member, row),
        version: row.version.to_string(),
        csrf: member.csrf().to_string(),
        error,
        results: l.results,
    };
    Ok(render(status, Exposure::Private, &page, |_| {}))
}

/// One issue: what, where, who, the evidence, the history and the member's moves.
pub async fn issue(state: web::Data<AppState>, member: Member, path: web::Path<String>) -> Page {
    let id = path.into_inner();
    let ctx = member.auth.clone();
    match state.db.run(move |conn| load(conn, &ctx, &id)).await {
        Ok(l) => issue_page(&member, l, StatusCode::OK, None),
        Err(e) => error_page(e),
    }
}

#[derive(Deserialize)]
pub struct MoveForm {
    to: String,
    #[serde(default)]
    comment: String,
    /// The version the page showed: a move made meanwhile by someone else is not overridden.
    version: Option<i64>,
}

/// A move's button: 303 back to the issue; a refusal the person can mend (a missing reason,
/// a move someone made meanwhile) shows on the issue page again.
pub async fn move_issue(
    state: web::Data<AppState>,
    MemberForm { member, form }: MemberForm<MoveForm>,
    path: web::Path<String>,
) -> Page {
    let id = path.into_inner();
    let Some(to) = IssueStatus::parse(&form.to) else {
        return error_page(ApiError::invalid_field("to", "names a status that does not exist"));
    };
    let if_match = IfMatch(form.version.map(|v| vec![etag(v)]));
    let ctx = member.auth.clone();
    let iid = id.clone();
    let body = Transition {
        to,
        comment: form.comment,
    };
    let outcome = state
        .db
        .write(move |conn| transition(conn, &ctx, &iid, &body, &if_match))
        .await;
    match outcome {
        Err(e) if e.status == StatusCode::PRECONDITION_FAILED || e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            show_refusal(&state, &member, id, &e).await
        }
        outcome => see_other_or_error(outcome, |_| format!("/uit-issues/{id}")),
    }
}

/// The issue page again, as it is now, saying why the move was refused: 409 when someone
/// moved the issue meanwhile (the API's 412), 422 for a move the person can mend.
async fn show_refusal(state: &AppState, member: &Member, id: String, e: &ApiError) -> Page {
    let stale = e.status == StatusCode::PRECONDITION_FAILED;
    let message = refusal_words(e, stale);
    let ctx = member.auth.clone();
    match state.db.run(move |conn| load(conn, &ctx, &id)).await {
        Ok(l) => {
            let status = if stale {
                StatusCode::CONFLICT
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            issue_page(member, l, status, Some(message))
        }
        Err(e) => error_page(e),
    }
}

/// Why a move was refused, in words: the stale page, each field's message, or the detail.
fn refusal_words(e: &ApiError, stale: bool) -> String {
    match e.status.as_u16() {
        _ if stale => "Someone changed this issue while you were reading it; here it is as it is now.".to_string(),
        _ if !e.errors.is_empty() => e
            .errors
            .iter()
            .map(|f| format!("{}: {}.", words(&f.field), f.message))
            .collect::<Vec<_>>()
            .join(" "),
        _ => e.detail.clone(),
    }
}
