//! `/windows/{id}`: a window's header, coverage and heatmap (filtered, sorted, paged), and
//! its CSV.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Deserialize;

use super::words::*;
use super::{Page, PER_PAGE};
use crate::auth::Capability;
use crate::catalogue::model::DeviceType;
use crate::db::schema::releases;
use crate::db::{DbConn, DeviceSetId, ReleaseId, WindowId};
use crate::device_sets::composition::{Composition, DEVICE_TYPE_ORDER};
use crate::http::ApiError;
use crate::matrix::handlers::{self as matrix, CoverageItem, CoverageState, CoverageTotals, Matrix, MatrixRow};
use crate::matrix::model::{Cell, ORDER};
use crate::ui::member::Member;
use crate::ui::pages::human_time;
use crate::ui::{error_page, member_page, Chrome};
use crate::windows::{participants, WindowStatus};
use crate::AppState;

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
pub(super) struct Filter {
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

    /// The state menu, with the filter's choice selected.
    fn state_choices(&self) -> Vec<Choice> {
        let opts: Vec<(&str, &str)> = CoverageState::ALL
            .iter()
            .map(|s| (s.as_str(), state_words(*s)))
            .collect();
        choices("any", self.state.map(|s| s.as_str()), &opts)
    }

    /// The outcome menu.
    fn outcome_choices(&self) -> Vec<Choice> {
        let opts: Vec<(&str, &str)> = ORDER.iter().map(|o| (*o, outcome_words(o))).collect();
        choices("any", self.outcome, &opts)
    }

    /// The device type menu.
    fn type_choices(&self) -> Vec<Choice> {
        let opts: Vec<(&str, &str)> = DEVICE_TYPE_ORDER.iter().map(|t| (t.as_str(), t.as_str())).collect();
        choices("any", self.device_type.map(|t| t.as_str()), &opts)
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

pub(super) fn choices(any: &str, current: Option<&str>, options: &[(&str, &str)]) -> Vec<Choice> {
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
    /// When the member's organisation's lead lapses without a new result (`Claim.expires_at`).
    pub lapses: Option<String>,
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
    pub release_id: ReleaseId,
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

pub(super) fn members_of(c: &Option<Composition>) -> Vec<String> {
    match c {
        Some(c) => std::iter::once(&c.comms_hub)
            .chain(&c.devices)
            .map(|m| format!("{}: {}", m.device_type, m.label()))
            .collect(),
        None => Vec::new(),
    }
}

pub(super) fn cell_view(window_id: &str, set_id: &str, code: &str, cell: Option<&Cell>) -> CellView {
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
    path: web::Path<WindowId>,
    query: web::Query<MatrixQuery>,
) -> Page {
    let id = path.into_inner();
    let filter = Filter::new(&query);
    member_page(state.db.run(move |conn| load(conn, &member, id, &filter)).await)
}

/// An organisation and when each of its leads lapses, by set.
type Lapses<'a> = (&'a str, HashMap<DeviceSetId, DateTime<Utc>>);

/// Window `id`'s page for `member`: the API's grid (404 when they may not see the window), its
/// release's name and participants, the coverage and the page of heatmap rows `filter` asks for.
fn load(conn: &mut DbConn, member: &Member, id: WindowId, filter: &Filter) -> Result<WindowPage, ApiError> {
    let grid = crate::matrix::model::grid(conn, &member.auth, &id)?;
    let release: Option<String> = releases::table
        .find(&grid.window.release_id)
        .select(releases::name)
        .first(conn)
        .optional()?;
    let participants = participants::list(conn, &id, 1_000)?;
    let now = Utc::now();
    let w = grid.window.clone();
    let status = w.status_at(now.naive_utc());
    let states: HashMap<DeviceSetId, CoverageState> = grid
        .rows
        .iter()
        .map(|r| (r.device_set_id.clone(), matrix::state_of(r, &grid.scenarios)))
        .collect();
    let claimed_sets = grid.rows.iter().filter(|r| r.lead_org_id.is_some()).count() as i64;
    let gaps_coverage = matrix::coverage(grid.clone(), Some(CoverageState::Unclaimed));
    let m = matrix::matrix(grid);
    let totals = &gaps_coverage.totals;
    let own = (
        member.auth.org_id.as_str(),
        crate::claims::lapse::deadlines_of(conn, &id, &member.auth.org_id)?,
    );
    let heat = Heatmap::new(&m, &states, filter, &own, &id);
    let base = format!("/windows/{id}");
    let may_claim =
        member.may(Capability::Participate) && matches!(status, WindowStatus::Open | WindowStatus::Scheduled);
    Ok(WindowPage {
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
        shares: shares(totals, claimed_sets),
        states: state_lines(totals),
        gaps: gaps(&gaps_coverage.items),
        gaps_total: gaps_coverage.items.len(),
        state_choices: filter.state_choices(),
        outcome_choices: filter.outcome_choices(),
        type_choices: filter.type_choices(),
        by_name: filter.by_name,
        filtered: filter.state.is_some() || filter.outcome.is_some() || filter.device_type.is_some(),
        total_text: thousands(heat.total as i64),
        total_rows: heat.total,
        first: heat.first,
        last: heat.last,
        rows: heat.rows,
        pages: pager(heat.current, heat.pages, |n| format!("{base}{}", filter.query(n))),
        may_claim,
        csrf: member.csrf().to_string(),
        back: format!("{base}{}", filter.query(heat.current)),
        printed: human_time(now),
        id: id.into_string(),
    })
}

/// The claimed, tested and complete shares of the window's prevalence, with their sets.
fn shares(totals: &CoverageTotals, claimed_sets: i64) -> Vec<ShareBar> {
    let by_state = |s: CoverageState| totals.by_state.get(s.as_str());
    let sets_in =
        |list: &[CoverageState]| -> i64 { list.iter().filter_map(|s| by_state(*s)).map(|t| t.device_sets).sum() };
    vec![
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
    ]
}

/// Each coverage state's sets, prevalence and share of the whole.
fn state_lines(totals: &CoverageTotals) -> Vec<StateLine> {
    let whole = totals.prevalence;
    CoverageState::ALL
        .iter()
        .map(|s| {
            let t = totals.by_state.get(s.as_str());
            let p = t.map(|t| t.prevalence).unwrap_or(0);
            StateLine {
                label: state_words(*s),
                sets: thousands(t.map(|t| t.device_sets).unwrap_or(0)),
                prevalence: thousands(i64::try_from(p).unwrap_or(i64::MAX)),
                share: percent(if whole == 0 { 0.0 } else { p as f64 / whole as f64 }),
            }
        })
        .collect()
}

/// The ten most prevalent unclaimed sets.
fn gaps(items: &[CoverageItem]) -> Vec<Gap> {
    items
        .iter()
        .take(10)
        .map(|g| Gap {
            name: g.name.clone(),
            prevalence: thousands(g.prevalence),
        })
        .collect()
}

/// The heatmap page shown: the rows the filter keeps (by name when asked, else as the matrix
/// orders them), and which of them are on this page.
struct Heatmap {
    rows: Vec<RowView>,
    total: usize,
    pages: usize,
    current: usize,
    first: usize,
    last: usize,
}

impl Heatmap {
    /// `own`: the member's organisation, whose leads the page marks with `lapses` (by set).
    fn new(
        m: &Matrix,
        states: &HashMap<DeviceSetId, CoverageState>,
        filter: &Filter,
        own: &Lapses,
        window_id: &WindowId,
    ) -> Self {
        let state_of = |r: &MatrixRow| {
            states
                .get(&r.device_set_id)
                .copied()
                .unwrap_or(CoverageState::Unclaimed)
        };
        let mut rows: Vec<&MatrixRow> = m.rows.iter().filter(|r| filter.keeps(r, state_of(r))).collect();
        if filter.by_name {
            rows.sort_by(|a, b| {
                a.device_set_name
                    .to_lowercase()
                    .cmp(&b.device_set_name.to_lowercase())
                    .then_with(|| a.device_set_id.cmp(&b.device_set_id))
            });
        }
        let total = rows.len();
        let pages = total.div_ceil(PER_PAGE).max(1);
        let current = filter.page.min(pages);
        let row_views: Vec<RowView> = rows
            .iter()
            .skip((current - 1) * PER_PAGE)
            .take(PER_PAGE)
            .map(|r| RowView {
                id: r.device_set_id.to_string(),
                name: r.device_set_name.clone(),
                prevalence: thousands(r.prevalence),
                state: state_words(state_of(r)),
                members: members_of(&r.composition),
                lead: r.lead_org_name.clone(),
                own_lead: r.lead_org_id.as_deref() == Some(own.0),
                lapses: own.1.get(&r.device_set_id).map(|t| human_time(*t)),
                cells: m
                    .scenarios
                    .iter()
                    .map(|code| cell_view(window_id, &r.device_set_id, code, r.cells.get(code)))
                    .collect(),
            })
            .collect();
        let first = if row_views.is_empty() {
            0
        } else {
            (current - 1) * PER_PAGE + 1
        };
        let last = first + row_views.len().saturating_sub(1);
        Self {
            rows: row_views,
            total,
            pages,
            current,
            first,
            last,
        }
    }
}

// ---- /windows/{id}/matrix.csv -----------------------------------------------------------------

/// The API's CSV of the matrix (`GET /uit-windows/{id}/matrix`, `Accept: text/csv`), for the
/// signed-in member, as a download.
pub async fn matrix_csv(state: web::Data<AppState>, member: Member, path: web::Path<WindowId>) -> Page {
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
