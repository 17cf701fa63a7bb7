//! `/windows/{id}/cell`: the results behind a heatmap cell, with their revisions.

use std::collections::BTreeMap;

use actix_web::web;
use askama::Template;
use diesel::prelude::*;
use serde::Deserialize;

use super::words::*;
use super::Page;
use crate::db::schema::{device_sets, scenarios};
use crate::db::{DbConn, DeviceSetId, WindowId};
use crate::http::ApiError;
use crate::results::handlers::{ResultQuery, Revision};
use crate::results::model::TestResult;
use crate::ui::comments::CommentView;
use crate::ui::member::Member;
use crate::ui::pages::human_time;
use crate::ui::{error_page, member_page, Chrome};
use crate::windows::model as windows;
use crate::AppState;

#[derive(Deserialize)]
pub struct CellQuery {
    device_set: Option<DeviceSetId>,
    scenario: Option<String>,
}

/// An earlier revision, as the cell page shows it.
pub struct RevisionView {
    pub revision: i64,
    pub replaced: String,
    pub changed: String,
    pub outcome: &'static str,
    pub class: &'static str,
    pub notes: String,
}

/// A result behind a cell.
pub struct ResultView {
    pub id: String,
    pub org: String,
    pub outcome: &'static str,
    pub class: &'static str,
    pub words: &'static str,
    pub executed: String,
    pub notes: String,
    pub masks: Vec<(String, String)>,
    pub visibility: &'static str,
    pub lead: bool,
    pub revision: i64,
    pub revisions: Vec<RevisionView>,
    pub comments: Vec<CommentView>,
}

#[derive(Template)]
#[template(path = "win_cell.html")]
pub struct CellPage {
    pub chrome: Chrome,
    pub window_id: WindowId,
    pub window_name: String,
    pub set_name: String,
    pub scenario_title: String,
    pub results: Vec<ResultView>,
    pub may_comment: bool,
    pub csrf: String,
}

pub(super) fn result_outcome(r: &TestResult) -> &'static str {
    if r.context.known_issue {
        "known_issue"
    } else {
        r.outcome.as_str()
    }
}

/// The results behind one cell that the member may read (the API's results list and
/// revisions, with the member's context), in one database hop.
pub async fn cell(
    state: web::Data<AppState>,
    member: Member,
    path: web::Path<WindowId>,
    query: web::Query<CellQuery>,
) -> Page {
    let id = path.into_inner();
    let (Some(set), Some(code)) = (query.device_set.clone(), query.scenario.clone()) else {
        return error_page(ApiError::not_found());
    };
    member_page(state.db.run(move |conn| load(conn, &member, id, set, code)).await)
}

/// The cell of device set `set` and scenario `code` in window `id` (404 when one of them does
/// not exist): the results `member` may read, by organisation, each with its revisions and
/// comments.
fn load(
    conn: &mut DbConn,
    member: &Member,
    id: WindowId,
    set: DeviceSetId,
    code: String,
) -> Result<CellPage, ApiError> {
    let ctx = &member.auth;
    let window = windows::find(conn, &id)?.ok_or_else(ApiError::not_found)?;
    let set_name: String = device_sets::table
        .find(&set)
        .select(device_sets::name)
        .first(conn)
        .optional()?
        .ok_or_else(ApiError::not_found)?;
    let title: String = scenarios::table
        .find(&code)
        .select(scenarios::title)
        .first(conn)
        .optional()?
        .ok_or_else(ApiError::not_found)?;
    let q = ResultQuery {
        uit_window_id: Some(id.clone()),
        device_set_id: Some(set),
        scenario: Some(code),
        outcome: None,
        org_id: None,
        visibility: None,
        embed: None,
        limit: None,
        cursor: None,
    };
    let mut results = crate::results::handlers::list(conn, ctx, q, None, 500)?;
    let mut revisions = BTreeMap::new();
    let mut threads = BTreeMap::new();
    for r in &results {
        revisions.insert(
            r.id.clone(),
            crate::results::handlers::revisions(conn, ctx, &r.id, None, 100)?,
        );
        threads.insert(r.id.clone(), crate::ui::comments::thread(conn, ctx, &r.id)?);
    }
    results.sort_by(|a, b| a.context.org_name.cmp(&b.context.org_name));
    let views = results
        .into_iter()
        .map(|r| {
            let revisions = revisions.remove(&r.id).unwrap_or_default();
            let comments = threads.remove(&r.id).unwrap_or_default();
            result_view(r, revisions, comments)
        })
        .collect();
    Ok(CellPage {
        chrome: Chrome::new(format!("{set_name}: {title}"), Some(member.nav())),
        window_id: window.id,
        window_name: window.name,
        set_name,
        scenario_title: title,
        results: views,
        may_comment: crate::ui::comments::may_comment(member),
        csrf: member.csrf().to_string(),
    })
}

/// A result as the cell shows it, with its earlier revisions and its thread.
fn result_view(r: TestResult, revisions: Vec<(String, Revision)>, comments: Vec<CommentView>) -> ResultView {
    let outcome = result_outcome(&r);
    let (label, class) = outcome_label(Some(outcome));
    ResultView {
        comments,
        id: r.id.to_string(),
        org: r.context.org_name.clone(),
        outcome: label,
        class,
        words: outcome_words(outcome),
        executed: r.executed_at.map(human_time).unwrap_or_else(|| "not given".to_string()),
        masks: r
            .context
            .known_issue_masks
            .iter()
            .map(|m| (m.id.to_string(), m.code.clone()))
            .collect(),
        visibility: r.visibility.as_str(),
        lead: r.lead,
        revision: r.revision,
        revisions: revisions
            .into_iter()
            .map(|(_, rev)| {
                let (label, class) = outcome_label(Some(rev.result.outcome.as_str()));
                RevisionView {
                    revision: rev.revision,
                    replaced: human_time(rev.replaced_at),
                    changed: rev.changed.join(", "),
                    outcome: label,
                    class,
                    notes: rev.result.notes,
                }
            })
            .collect(),
        notes: r.notes,
    }
}
