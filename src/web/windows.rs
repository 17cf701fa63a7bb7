//! The UIT window pages: the list of windows, a window's header, coverage and compatibility
//! matrix as a heatmap (filtered, sorted and paged at 50 rows), its CSV, the results behind a
//! cell, and claiming and releasing a device set from the page.
//!
//! Every read goes through the functions the API handlers call, with the member's
//! `AuthContext`: the grid of `GET /uit-windows/{id}/matrix` and `/coverage`
//! (`matrix::model::grid`, then `matrix::handlers::{coverage, matrix, csv}`), the results list
//! and revisions of `GET /results` (`results::handlers::{list, revisions}`), and the claims of
//! `POST /uit-windows/{id}/claims` and `DELETE /claims/{id}` (`claims::handlers::{claim,
//! release}`). So a page can never show what the API would not.

use std::collections::{BTreeMap, HashMap};

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Deserialize;

use super::member::{forbidden, safe_next, Member};
use super::pages::human_time;
use super::{error_page, render, see_other, Chrome, Exposure};
use crate::auth::Capability;
use crate::catalogue::model::DeviceType;
use crate::claims::handlers::NewClaim;
use crate::db::schema::{device_sets, releases, scenarios};
use crate::device_sets::composition::{Composition, DEVICE_TYPE_ORDER};
use crate::http::ApiError;
use crate::matrix::handlers::{self as matrix, CoverageState, MatrixRow};
use crate::matrix::model::{Cell, ORDER};
use crate::results::handlers::ResultQuery;
use crate::results::model::TestResult;
use crate::windows::{model as windows, participants, WindowStatus};
use crate::AppState;

type Page = Result<HttpResponse, ApiError>;

/// Rows of a list or the matrix on one page.
const PER_PAGE: usize = 50;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/windows").route(web::get().to(list)))
        .service(web::resource("/windows/{id}").route(web::get().to(window)))
        .service(web::resource("/windows/{id}/matrix.csv").route(web::get().to(matrix_csv)))
        .service(web::resource("/windows/{id}/cell").route(web::get().to(cell)))
        .service(web::resource("/windows/{id}/claim").route(web::post().to(claim)))
        .service(web::resource("/windows/{id}/release").route(web::post().to(release)));
}

// ---- words and numbers for people ------------------------------------------------------------

/// "in 4 days", "3 hours ago", "in 12 minutes", "now".
pub fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (t - now).num_seconds();
    let s = secs.unsigned_abs();
    let amount = if s < 60 {
        return "now".to_string();
    } else if s < 3_600 {
        plural(s / 60, "minute")
    } else if s < 48 * 3_600 {
        plural((s + 1_800) / 3_600, "hour")
    } else {
        plural((s + 43_200) / 86_400, "day")
    };
    if secs > 0 {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

fn plural(n: u64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// 410000 -> "410,000".
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// "1 set", "2,000 sets".
fn sets_phrase(n: i64) -> String {
    if n == 1 {
        "1 set".to_string()
    } else {
        format!("{} sets", thousands(n))
    }
}

fn percent(share: f64) -> String {
    let p = share * 100.0;
    if p > 0.0 && p < 1.0 {
        "under 1%".to_string()
    } else {
        format!("{p:.0}%")
    }
}

/// The heatmap's word and colour class for a worst outcome (WEB.md's table).
fn outcome_label(worst: Option<&str>) -> (&'static str, &'static str) {
    match worst {
        Some("fail") => ("FAIL", "o-fail"),
        Some("known_issue") => ("KNOWN", "o-known"),
        Some("blocked") => ("BLOCKED", "o-blocked"),
        Some("pass_with_observations") => ("OBS", "o-obs"),
        Some("pass") => ("PASS", "o-pass"),
        Some("not_run") => ("NOT RUN", "o-notrun"),
        _ => ("-", "o-none"),
    }
}

fn outcome_words(outcome: &str) -> &'static str {
    match outcome {
        "fail" => "failed",
        "known_issue" => "known issue",
        "blocked" => "blocked",
        "pass_with_observations" => "passed with observations",
        "pass" => "passed",
        "not_run" => "not run",
        _ => "unknown",
    }
}

fn state_words(s: CoverageState) -> &'static str {
    match s {
        CoverageState::Unclaimed => "unclaimed",
        CoverageState::Claimed => "claimed",
        CoverageState::InProgress => "in progress",
        CoverageState::Complete => "complete",
    }
}

fn status_words(status: WindowStatus, opens: DateTime<Utc>, closes: DateTime<Utc>, now: DateTime<Utc>) -> String {
    match status {
        WindowStatus::Open => format!("open, closes {} ({})", human_time(closes), relative(closes, now)),
        WindowStatus::Scheduled => format!("scheduled, opens {} ({})", human_time(opens), relative(opens, now)),
        WindowStatus::Closed => format!("closed {} ({})", human_time(closes), relative(closes, now)),
        WindowStatus::Cancelled => "cancelled".to_string(),
    }
}

/// A link to page `n` of a list, keeping its filters.
pub struct PageLink {
    /// `None` for the "..." between far pages.
    pub number: Option<usize>,
    pub href: String,
    pub current: bool,
}

/// "1 2 3 ... 40": the first and last pages and two either side of the current one.
fn pager(current: usize, pages: usize, href: impl Fn(usize) -> String) -> Vec<PageLink> {
    let mut links = Vec::new();
    if pages <= 1 {
        return links;
    }
    let mut last_shown = 0;
    for n in 1..=pages {
        let near = n + 2 >= current && n <= current + 2;
        if n == 1 || n == pages || near {
            if last_shown + 1 < n {
                links.push(PageLink {
                    number: None,
                    href: String::new(),
                    current: false,
                });
            }
            links.push(PageLink {
                number: Some(n),
                href: href(n),
                current: n == current,
            });
            last_shown = n;
        }
    }
    links
}

fn page_number(raw: Option<&str>) -> usize {
    raw.and_then(|p| p.trim().parse::<usize>().ok()).unwrap_or(1).max(1)
}

// ---- /windows ---------------------------------------------------------------------------------

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
    let loaded = state
        .db
        .run(|conn| {
            let now = crate::db::now();
            let rows = windows::list(conn, None, None, now, None, i64::MAX)?;
            let items = windows::assemble(conn, rows, now)?;
            let ids: Vec<String> = items.iter().map(|w| w.release_id.clone()).collect();
            let names: HashMap<String, String> = releases::table
                .filter(releases::id.eq_any(&ids))
                .select((releases::id, releases::name))
                .load::<(String, String)>(conn)?
                .into_iter()
                .collect();
            Ok((items, names))
        })
        .await;
    let (mut items, names) = match loaded {
        Ok(x) => x,
        Err(e) => return error_page(e),
    };
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
    let current = page_number(query.page.as_deref()).min(pages);
    let now = Utc::now();
    let shown: Vec<WindowItem> = items
        .into_iter()
        .skip((current - 1) * PER_PAGE)
        .take(PER_PAGE)
        .map(|w| WindowItem {
            release: names.get(&w.release_id).cloned().unwrap_or_default(),
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
            id: w.id,
            name: w.name,
        })
        .collect();
    let first = if shown.is_empty() {
        0
    } else {
        (current - 1) * PER_PAGE + 1
    };
    let page = ListPage {
        chrome: Chrome::new("UIT windows", Some(member.nav())),
        total,
        first,
        last: first + shown.len().saturating_sub(1),
        items: shown,
        pages: pager(current, pages, |n| format!("/windows?page={n}")),
    };
    Ok(render(StatusCode::OK, Exposure::Private, &page, |_| {}))
}

// ---- /windows/{id} ----------------------------------------------------------------------------

/// The matrix's GET filters, as sent (unknown values mean "any", so an old link still opens).
#[derive(Debug, Default, Deserialize)]
pub struct MatrixQuery {
    state: Option<String>,
    outcome: Option<String>,
    device_type: Option<String>,
    sort: Option<String>,
    page: Option<String>,
}

/// The filters understood.
#[derive(Debug, Clone)]
struct Filter {
    state: Option<CoverageState>,
    outcome: Option<&'static str>,
    device_type: Option<DeviceType>,
    by_name: bool,
    page: usize,
}

impl Filter {
    fn new(q: &MatrixQuery) -> Self {
        Self {
            state: q.state.as_deref().and_then(CoverageState::parse),
            outcome: q
                .outcome
                .as_deref()
                .and_then(|o| ORDER.iter().find(|x| **x == o).copied()),
            device_type: q.device_type.as_deref().and_then(DeviceType::parse),
            by_name: q.sort.as_deref() == Some("name"),
            page: page_number(q.page.as_deref()),
        }
    }

    /// The query string of these filters on page `page` (1 is left out).
    fn query(&self, page: usize) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if let Some(s) = self.state {
            pairs.push(("state", s.as_str().to_string()));
        }
        if let Some(o) = self.outcome {
            pairs.push(("outcome", o.to_string()));
        }
        if let Some(t) = self.device_type {
            pairs.push(("device_type", t.as_str().to_string()));
        }
        if self.by_name {
            pairs.push(("sort", "name".to_string()));
        }
        if page > 1 {
            pairs.push(("page", page.to_string()));
        }
        if pairs.is_empty() {
            String::new()
        } else {
            format!("?{}", serde_urlencoded::to_string(&pairs).unwrap_or_default())
        }
    }

    fn keeps(&self, row: &MatrixRow, state: CoverageState) -> bool {
        self.state.is_none_or(|s| s == state)
            && self
                .outcome
                .is_none_or(|o| row.cells.values().any(|c| c.counts.contains_key(o)))
            && self
                .device_type
                .is_none_or(|t| row.composition.as_ref().is_some_and(|c| !c.labels_of(t).is_empty()))
    }
}

/// A choice in a filter's `<select>`.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

fn choices(any: &str, current: Option<&str>, options: &[(&str, &str)]) -> Vec<Choice> {
    std::iter::once(("", any))
        .chain(options.iter().copied())
        .map(|(value, label)| Choice {
            value: value.to_string(),
            label: label.to_string(),
            selected: current.unwrap_or("") == value,
        })
        .collect()
}

/// One heatmap cell.
pub struct CellView {
    pub href: String,
    pub label: &'static str,
    pub class: &'static str,
    pub results: i64,
    pub masks: String,
}

/// One heatmap row: a device set.
pub struct RowView {
    pub id: String,
    pub name: String,
    pub prevalence: String,
    pub state: &'static str,
    pub members: Vec<String>,
    pub lead: Option<String>,
    pub own_lead: bool,
    pub cells: Vec<CellView>,
}

/// A scenario column.
pub struct ScenarioView {
    pub code: String,
    pub title: String,
}

/// A state's line in the coverage table.
pub struct StateLine {
    pub label: &'static str,
    pub sets: String,
    pub prevalence: String,
    pub share: String,
}

/// A share with its bar.
pub struct ShareBar {
    pub id: &'static str,
    pub label: &'static str,
    pub text: String,
    pub value: String,
    pub sets: String,
}

/// An unclaimed gap.
pub struct Gap {
    pub name: String,
    pub prevalence: String,
}

#[derive(Template)]
#[template(path = "win_window.html")]
pub struct WindowPage {
    pub chrome: Chrome,
    pub id: String,
    pub release_id: String,
    pub release: String,
    pub status: String,
    pub opens: String,
    pub scenarios: Vec<ScenarioView>,
    pub participants: Vec<String>,
    pub sets: String,
    pub prevalence: String,
    pub shares: Vec<ShareBar>,
    pub states: Vec<StateLine>,
    pub gaps: Vec<Gap>,
    pub gaps_total: usize,
    pub state_choices: Vec<Choice>,
    pub outcome_choices: Vec<Choice>,
    pub type_choices: Vec<Choice>,
    pub by_name: bool,
    pub filtered: bool,
    pub total_rows: usize,
    /// `total_rows` with thousands separators.
    pub total_text: String,
    pub first: usize,
    pub last: usize,
    pub rows: Vec<RowView>,
    pub pages: Vec<PageLink>,
    pub may_claim: bool,
    pub csrf: String,
    pub back: String,
    pub printed: String,
}

fn members_of(c: &Option<Composition>) -> Vec<String> {
    match c {
        Some(c) => std::iter::once(&c.comms_hub)
            .chain(&c.devices)
            .map(|m| format!("{}: {}", m.device_type, m.label()))
            .collect(),
        None => Vec::new(),
    }
}

fn cell_view(window_id: &str, set_id: &str, code: &str, cell: Option<&Cell>) -> CellView {
    let (label, class) = outcome_label(cell.and_then(|c| c.worst.as_deref()));
    let href = format!(
        "/windows/{window_id}/cell?{}",
        serde_urlencoded::to_string([("device_set", set_id), ("scenario", code)]).unwrap_or_default()
    );
    CellView {
        href,
        label,
        class,
        results: cell.map(Cell::total).unwrap_or(0),
        masks: cell.map(|c| c.known_issue_masks.join(" ")).unwrap_or_default(),
    }
}

/// The window page: header, coverage and the heatmap page asked for, in one database hop.
pub async fn window(
    state: web::Data<AppState>,
    member: Member,
    path: web::Path<String>,
    query: web::Query<MatrixQuery>,
) -> Page {
    let id = path.into_inner();
    let filter = Filter::new(&query);
    let ctx = member.auth.clone();
    let wid = id.clone();
    let loaded = state
        .db
        .run(move |conn| {
            let grid = crate::matrix::model::grid(conn, &ctx, &wid)?;
            let release: Option<String> = releases::table
                .find(&grid.window.release_id)
                .select(releases::name)
                .first(conn)
                .optional()?;
            let participants = participants::list(conn, &wid, 1_000)?;
            Ok((grid, release, participants))
        })
        .await;
    let (grid, release, participants) = match loaded {
        Ok(x) => x,
        Err(e) => return error_page(e),
    };
    let now = Utc::now();
    let w = grid.window.clone();
    let status = w.status_at(now.naive_utc());
    let states: HashMap<String, CoverageState> = grid
        .rows
        .iter()
        .map(|r| (r.device_set_id.clone(), matrix::state_of(r, &grid.scenarios)))
        .collect();
    let claimed_sets = grid.rows.iter().filter(|r| r.lead_org_id.is_some()).count() as i64;
    let gaps_coverage = matrix::coverage(grid.clone(), Some(CoverageState::Unclaimed));
    let m = matrix::matrix(grid);
    let totals = &gaps_coverage.totals;
    let by_state = |s: CoverageState| totals.by_state.get(s.as_str());
    let sets_in =
        |list: &[CoverageState]| -> i64 { list.iter().filter_map(|s| by_state(*s)).map(|t| t.device_sets).sum() };
    let shares = vec![
        ShareBar {
            id: "share-claimed",
            label: "Claimed",
            text: percent(totals.claimed_share),
            value: format!("{:.1}", totals.claimed_share * 100.0),
            sets: sets_phrase(claimed_sets),
        },
        ShareBar {
            id: "share-tested",
            label: "Tested",
            text: percent(totals.tested_share),
            value: format!("{:.1}", totals.tested_share * 100.0),
            sets: sets_phrase(sets_in(&[CoverageState::InProgress, CoverageState::Complete])),
        },
        ShareBar {
            id: "share-complete",
            label: "Complete",
            text: percent(totals.complete_share),
            value: format!("{:.1}", totals.complete_share * 100.0),
            sets: sets_phrase(sets_in(&[CoverageState::Complete])),
        },
    ];
    let whole = totals.prevalence;
    let state_lines = CoverageState::ALL
        .iter()
        .map(|s| {
            let t = by_state(*s);
            let p = t.map(|t| t.prevalence).unwrap_or(0);
            StateLine {
                label: state_words(*s),
                sets: thousands(t.map(|t| t.device_sets).unwrap_or(0)),
                prevalence: thousands(i64::try_from(p).unwrap_or(i64::MAX)),
                share: percent(if whole == 0 { 0.0 } else { p as f64 / whole as f64 }),
            }
        })
        .collect();
    let gaps_total = gaps_coverage.items.len();
    let gaps = gaps_coverage
        .items
        .iter()
        .take(10)
        .map(|g| Gap {
            name: g.name.clone(),
            prevalence: thousands(g.prevalence),
        })
        .collect();

    let mut rows: Vec<&MatrixRow> = m
        .rows
        .iter()
        .filter(|r| {
            let s = states
                .get(&r.device_set_id)
                .copied()
                .unwrap_or(CoverageState::Unclaimed);
            filter.keeps(r, s)
        })
        .collect();
    if filter.by_name {
        rows.sort_by(|a, b| {
            a.device_set_name
                .to_lowercase()
                .cmp(&b.device_set_name.to_lowercase())
                .then_with(|| a.device_set_id.cmp(&b.device_set_id))
        });
    }
    let total_rows = rows.len();
    let pages = total_rows.div_ceil(PER_PAGE).max(1);
    let current = filter.page.min(pages);
    let own = member.auth.org_id.clone();
    let row_views: Vec<RowView> = rows
        .iter()
        .skip((current - 1) * PER_PAGE)
        .take(PER_PAGE)
        .map(|r| RowView {
            id: r.device_set_id.clone(),
            name: r.device_set_name.clone(),
            prevalence: thousands(r.prevalence),
            state: state_words(
                states
                    .get(&r.device_set_id)
                    .copied()
                    .unwrap_or(CoverageState::Unclaimed),
            ),
            members: members_of(&r.composition),
            lead: r.lead_org_name.clone(),
            own_lead: r.lead_org_id.as_deref() == Some(own.as_str()),
            cells: m
                .scenarios
                .iter()
                .map(|code| cell_view(&id, &r.device_set_id, code, r.cells.get(code)))
                .collect(),
        })
        .collect();
    let first = if row_views.is_empty() {
        0
    } else {
        (current - 1) * PER_PAGE + 1
    };
    let last = first + row_views.len().saturating_sub(1);
    let state_opts: Vec<(&str, &str)> = CoverageState::ALL
        .iter()
        .map(|s| (s.as_str(), state_words(*s)))
        .collect();
    let outcome_opts: Vec<(&str, &str)> = ORDER.iter().map(|o| (*o, outcome_words(o))).collect();
    let type_opts: Vec<(&str, &str)> = DEVICE_TYPE_ORDER.iter().map(|t| (t.as_str(), t.as_str())).collect();
    let base = format!("/windows/{id}");
    let may_claim =
        member.may(Capability::Participate) && matches!(status, WindowStatus::Open | WindowStatus::Scheduled);
    let page = WindowPage {
        chrome: Chrome::new(w.name.clone(), Some(member.nav())),
        release_id: w.release_id.clone(),
        release: release.unwrap_or_default(),
        status: status_words(status, w.opens_at.and_utc(), w.closes_at.and_utc(), now),
        opens: human_time(w.opens_at.and_utc()),
        scenarios: m
            .scenarios
            .iter()
            .map(|code| ScenarioView {
                code: code.clone(),
                title: m.scenario_titles.get(code).cloned().unwrap_or_else(|| code.clone()),
            })
            .collect(),
        participants: participants.into_iter().map(|p| p.org_name).collect(),
        sets: thousands(totals.device_sets),
        prevalence: thousands(i64::try_from(totals.prevalence).unwrap_or(i64::MAX)),
        shares,
        states: state_lines,
        gaps,
        gaps_total,
        state_choices: choices("any", filter.state.map(|s| s.as_str()), &state_opts),
        outcome_choices: choices("any", filter.outcome, &outcome_opts),
        type_choices: choices("any", filter.device_type.map(|t| t.as_str()), &type_opts),
        by_name: filter.by_name,
        filtered: filter.state.is_some() || filter.outcome.is_some() || filter.device_type.is_some(),
        total_text: thousands(total_rows as i64),
        total_rows,
        first,
        last,
        rows: row_views,
        pages: pager(current, pages, |n| format!("{base}{}", filter.query(n))),
        may_claim,
        csrf: member.csrf().to_string(),
        back: format!("{base}{}", filter.query(current)),
        printed: human_time(now),
        id,
    };
    Ok(render(StatusCode::OK, Exposure::Private, &page, |_| {}))
}

// ---- /windows/{id}/matrix.csv -----------------------------------------------------------------

/// The API's CSV of the matrix (`GET /uit-windows/{id}/matrix`, `Accept: text/csv`), for the
/// signed-in member, as a download.
pub async fn matrix_csv(state: web::Data<AppState>, member: Member, path: web::Path<String>) -> Page {
    let id = path.into_inner();
    let ctx = member.auth;
    let grid = match state
        .db
        .run(move |conn| crate::matrix::model::grid(conn, &ctx, &id))
        .await
    {
        Ok(g) => g,
        Err(e) => return error_page(e),
    };
    let m = matrix::matrix(grid);
    let body = matrix::csv(&m)?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"matrix-{}.csv\"", m.uit_window_id),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body))
}

// ---- /windows/{id}/cell -----------------------------------------------------------------------

#[derive(Deserialize)]
pub struct CellQuery {
    device_set: Option<String>,
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
    pub comments: Vec<super::comments::CommentView>,
}

#[derive(Template)]
#[template(path = "win_cell.html")]
pub struct CellPage {
    pub chrome: Chrome,
    pub window_id: String,
    pub window_name: String,
    pub set_name: String,
    pub scenario_title: String,
    pub results: Vec<ResultView>,
    pub may_comment: bool,
    pub csrf: String,
}

fn result_outcome(r: &TestResult) -> &'static str {
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
    path: web::Path<String>,
    query: web::Query<CellQuery>,
) -> Page {
    let id = path.into_inner();
    let (Some(set), Some(code)) = (query.device_set.clone(), query.scenario.clone()) else {
        return error_page(ApiError::not_found());
    };
    let ctx = member.auth.clone();
    let loaded = state
        .db
        .run(move |conn| {
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
            let results = crate::results::handlers::list(conn, &ctx, q, None, 500)?;
            let mut revisions = BTreeMap::new();
            let mut threads = BTreeMap::new();
            for r in &results {
                revisions.insert(
                    r.id.clone(),
                    crate::results::handlers::revisions(conn, &ctx, &r.id, None, 100)?,
                );
                threads.insert(r.id.clone(), super::comments::thread(conn, &ctx, &r.id)?);
            }
            Ok((window, set_name, title, results, (revisions, threads)))
        })
        .await;
    let (window, set_name, title, mut results, (mut revisions, mut threads)) = match loaded {
        Ok(x) => x,
        Err(e) => return error_page(e),
    };
    results.sort_by(|a, b| a.context.org_name.cmp(&b.context.org_name));
    let views = results
        .into_iter()
        .map(|r| {
            let outcome = result_outcome(&r);
            let (label, class) = outcome_label(Some(outcome));
            ResultView {
                comments: threads.remove(&r.id).unwrap_or_default(),
                id: r.id.clone(),
                org: r.context.org_name.clone(),
                outcome: label,
                class,
                words: outcome_words(outcome),
                executed: r.executed_at.map(human_time).unwrap_or_else(|| "not given".to_string()),
                masks: r
                    .context
                    .known_issue_masks
                    .iter()
                    .map(|m| (m.id.clone(), m.code.clone()))
                    .collect(),
                visibility: r.visibility.as_str(),
                lead: r.lead,
                revision: r.revision,
                revisions: revisions
                    .remove(&r.id)
                    .unwrap_or_default()
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
        })
        .collect();
    let page = CellPage {
        chrome: Chrome::new(format!("{set_name}: {title}"), Some(member.nav())),
        window_id: window.id,
        window_name: window.name,
        set_name,
        scenario_title: title,
        results: views,
        may_comment: super::comments::may_comment(&member),
        csrf: member.csrf().to_string(),
    };
    Ok(render(StatusCode::OK, Exposure::Private, &page, |_| {}))
}

// ---- claim and release ------------------------------------------------------------------------

#[derive(Deserialize)]
pub struct SetForm {
    device_set_id: String,
    /// The page (with its filters) to return to.
    back: Option<String>,
}

/// Where to go after a claim or release: the window page the form was on.
fn back_to(window_id: &str, back: Option<&str>) -> String {
    let base = format!("/windows/{window_id}");
    let next = safe_next(back);
    if next == base || next.starts_with(&format!("{base}?")) {
        next
    } else {
        base
    }
}

/// "Lead this set": the API's claim, for the member's organisation; 303 back to the page.
pub async fn claim(
    state: web::Data<AppState>,
    member: Member,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> Page {
    let Some(form) = member.form::<SetForm>(&state, &req, &body) else {
        return Ok(forbidden());
    };
    let id = path.into_inner();
    let back = back_to(&id, form.back.as_deref());
    let new = NewClaim {
        device_set_id: form.device_set_id,
        note: String::new(),
    };
    match crate::claims::handlers::claim(state.get_ref(), member.auth.into(), id, new).await {
        Ok(_) => Ok(see_other(&back)),
        Err(e) => error_page(e),
    }
}

/// "Release": the API's release of the member's organisation's claim on the set; 303 back.
pub async fn release(
    state: web::Data<AppState>,
    member: Member,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> Page {
    let Some(form) = member.form::<SetForm>(&state, &req, &body) else {
        return Ok(forbidden());
    };
    let id = path.into_inner();
    let back = back_to(&id, form.back.as_deref());
    let (w, s) = (id.clone(), form.device_set_id);
    let holder = state
        .db
        .run(move |conn| Ok(crate::claims::model::holder(conn, &w, &s)?))
        .await?;
    let Some(held) = holder else {
        return error_page(ApiError::not_found());
    };
    match crate::claims::handlers::release(state.get_ref(), member.auth.into(), held.id).await {
        Ok(()) => Ok(see_other(&back)),
        Err(e) => error_page(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_read_as_people_say_them() {
        let now = Utc::now();
        assert_eq!(relative(now + chrono::Duration::days(4), now), "in 4 days");
        assert_eq!(relative(now - chrono::Duration::hours(3), now), "3 hours ago");
        assert_eq!(relative(now + chrono::Duration::minutes(12), now), "in 12 minutes");
        assert_eq!(relative(now + chrono::Duration::seconds(5), now), "now");
    }

    #[test]
    fn numbers_get_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(410_000), "410,000");
        assert_eq!(thousands(-1_234_567), "-1,234,567");
    }

    #[test]
    fn the_pager_shows_ends_and_neighbours() {
        let shown = |current, pages| {
            pager(current, pages, |n| n.to_string())
                .iter()
                .map(|l| l.number.map(|n| n.to_string()).unwrap_or_else(|| "...".into()))
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(shown(1, 40), "1 2 3 ... 40");
        assert_eq!(shown(20, 40), "1 ... 18 19 20 21 22 ... 40");
        assert_eq!(shown(1, 1), "");
    }

    #[test]
    fn a_return_address_stays_on_the_window() {
        assert_eq!(back_to("w1", Some("/windows/w1?page=2")), "/windows/w1?page=2");
        assert_eq!(back_to("w1", Some("/windows/w2")), "/windows/w1");
        assert_eq!(back_to("w1", Some("//evil.example/windows/w1")), "/windows/w1");
        assert_eq!(back_to("w1", None), "/windows/w1");
    }
}
