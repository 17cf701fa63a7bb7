//! `/windows`: every window, open ones first.

use std::collections::HashMap;

use actix_web::web;
use askama::Template;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Deserialize;

use super::words::*;
use super::{Page, PER_PAGE};
use crate::db::schema::releases;
use crate::db::{DbConn, ReleaseId};
use crate::http::ApiError;
use crate::ui::member::Member;
use crate::ui::pages::human_time;
use crate::ui::{member_page, Chrome};
use crate::windows::model::{self as windows, UitWindow};
use crate::windows::WindowStatus;
use crate::AppState;

/// A window as the list shows it.
pub struct WindowItem {
    pub id: String,
    pub name: String,
    pub release: String,
    pub status: &'static str,
    pub opens: String,
    pub closes: String,
    pub when: String,
    pub scenarios: usize,
    pub participants: i64,
}

#[derive(Template)]
#[template(path = "win_list.html")]
pub struct ListPage {
    pub chrome: Chrome,
    pub total: usize,
    pub first: usize,
    pub last: usize,
    pub items: Vec<WindowItem>,
    pub pages: Vec<PageLink>,
}

#[derive(Deserialize)]
pub struct ListQuery {
    page: Option<String>,
}

/// Every window (the API's list: any signed-in member sees them all), open ones first.
pub async fn list(state: web::Data<AppState>, member: Member, query: web::Query<ListQuery>) -> Page {
    let page = page_number(query.page.as_deref());
    member_page(state.db.run(move |conn| load(conn, &member, page)).await)
}

/// Page `page` of every window with its release's name: open ones first (closing soonest
/// first), then upcoming (opening soonest first), then closed (latest first), then cancelled.
fn load(conn: &mut DbConn, member: &Member, page: usize) -> Result<ListPage, ApiError> {
    let now = crate::db::now();
    let rows = windows::list(conn, None, None, now, None, i64::MAX)?;
    let mut items = windows::assemble(conn, rows, now)?;
    let ids: Vec<ReleaseId> = items.iter().map(|w| w.release_id.clone()).collect();
    let names: HashMap<ReleaseId, String> = releases::table
        .filter(releases::id.eq_any(&ids))
        .select((releases::id, releases::name))
        .load::<(ReleaseId, String)>(conn)?
        .into_iter()
        .collect();
    let rank = |s: WindowStatus| match s {
        WindowStatus::Open => 0,
        WindowStatus::Scheduled => 1,
        WindowStatus::Closed => 2,
        WindowStatus::Cancelled => 3,
    };
    items.sort_by(|a, b| {
        rank(a.status).cmp(&rank(b.status)).then_with(|| match a.status {
            WindowStatus::Open => a.closes_at.cmp(&b.closes_at),
            WindowStatus::Scheduled => a.opens_at.cmp(&b.opens_at),
            _ => b.closes_at.cmp(&a.closes_at),
        })
    });
    let total = items.len();
    let pages = total.div_ceil(PER_PAGE).max(1);
    let current = page.min(pages);
    let now = Utc::now();
    let shown: Vec<WindowItem> = items
        .into_iter()
        .skip((current - 1) * PER_PAGE)
        .take(PER_PAGE)
        .map(|w| window_item(w, &names, now))
        .collect();
    let first = if shown.is_empty() {
        0
    } else {
        (current - 1) * PER_PAGE + 1
    };
    Ok(ListPage {
        chrome: Chrome::new("UIT windows", Some(member.nav())),
        total,
        first,
        last: first + shown.len().saturating_sub(1),
        items: shown,
        pages: pager(current, pages, |n| format!("/windows?page={n}")),
    })
}

/// A window as the list shows it; `releases`: release names by id.
fn window_item(w: UitWindow, releases: &HashMap<ReleaseId, String>, now: DateTime<Utc>) -> WindowItem {
    WindowItem {
        release: releases.get(&w.release_id).cloned().unwrap_or_default(),
        status: w.status.as_str(),
        opens: human_time(w.opens_at),
        closes: human_time(w.closes_at),
        when: match w.status {
            WindowStatus::Open => format!("closes {}", relative(w.closes_at, now)),
            WindowStatus::Scheduled => format!("opens {}", relative(w.opens_at, now)),
            WindowStatus::Closed => format!("closed {}", relative(w.closes_at, now)),
            WindowStatus::Cancelled => "cancelled".to_string(),
        },
        scenarios: w.scenarios.len(),
        participants: w.participant_count,
        id: w.id.into_string(),
        name: w.name,
    }
}
