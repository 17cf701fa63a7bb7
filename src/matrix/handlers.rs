use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::model::{self, Cell, Grid, Row, ORDER};
use super::versions::Answer;
use crate::auth::Caller;
use crate::db::{DeviceSetId, OrgId, WindowId};
use crate::device_sets::composition::{Composition, DEVICE_TYPE_ORDER};
use crate::http::responses::*;
use crate::http::ApiError;
use crate::http::{accept, etag};
use crate::AppState;

crate::text_enum!(
    /// How far a device set is in a window: no lead and no visible result (`unclaimed`), a lead
    /// but no visible result (`claimed`), some visible results (`in_progress`), or a visible
    /// result other than `not_run` for every scenario (`complete`).
    CoverageState {
        Unclaimed => "unclaimed",
        Claimed => "claimed",
        InProgress => "in_progress",
        Complete => "complete",
    }
);

pub fn state_of(row: &Row, scenarios: &[String]) -> CoverageState {
    let total: i64 = row.cells.values().map(Cell::total).sum();
    let done = |code: &String| row.cells.get(code).is_some_and(Cell::tested);
    if !scenarios.is_empty() && scenarios.iter().all(done) {
        CoverageState::Complete
    } else if total > 0 {
        CoverageState::InProgress
    } else if row.lead_org_id.is_some() {
        CoverageState::Claimed
    } else {
        CoverageState::Unclaimed
    }
}

/// Results of one scenario for a set, as the caller sees them.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScenarioCoverage {
    /// Worst visible outcome (see the matrix), null when untested.
    pub worst: Option<String>,
    pub results: i64,
}

/// One device set's coverage.
#[derive(Debug, Serialize, ToSchema)]
pub struct CoverageItem {
    #[schema(value_type = String)]
    pub device_set_id: DeviceSetId,
    pub name: String,
    /// The Comms Hub firmware and each device's type, manufacturer, model and firmware version.
    pub composition: Option<Composition>,
    pub prevalence: i64,
    #[schema(value_type = Option<String>)]
    pub lead_org_id: Option<OrgId>,
    pub lead_org_name: Option<String>,
    pub state: CoverageState,
    pub scenarios: BTreeMap<String, ScenarioCoverage>,
}

/// Sets and prevalence in one state.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct StateTotal {
    pub device_sets: i64,
    #[serde(serialize_with = "saturating")]
    #[schema(value_type = i64)]
    pub prevalence: i128,
}

/// Prevalence is summed in i128, which no number of sets can overflow; it is written as a
/// JSON integer within i64 (never reached while each set is at most 100,000,000).
fn saturating<S: serde::Serializer>(v: &i128, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(i64::try_from(*v).unwrap_or(if *v < 0 { i64::MIN } else { i64::MAX }))
}

/// Totals over every set of the window, whatever the `state` filter.
#[derive(Debug, Serialize, ToSchema)]
pub struct CoverageTotals {
    pub device_sets: i64,
    #[serde(serialize_with = "saturating")]
    #[schema(value_type = i64)]
    pub prevalence: i128,
    pub by_state: BTreeMap<String, StateTotal>,
    /// Share of prevalence with a lead, i.e. claimed in this window (0-1).
    pub claimed_share: f64,
    /// Share of prevalence with at least one visible result.
    pub tested_share: f64,
    /// Share of prevalence complete.
    pub complete_share: f64,
}

/// The coverage of a window.
#[derive(Debug, Serialize, ToSchema)]
pub struct Coverage {
    #[schema(value_type = String)]
    pub uit_window_id: WindowId,
    pub uit_window_name: String,
    pub scenarios: Vec<String>,
    /// Scenario titles keyed by code.
    pub scenario_titles: BTreeMap<String, String>,
    pub totals: CoverageTotals,
    /// Most prevalent first.
    pub items: Vec<CoverageItem>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CoverageQuery {
    /// Only sets in this state; `unclaimed` lists the gaps, most prevalent first.
    pub state: Option<CoverageState>,
}

/// `part` of `whole` (0-1), to four decimal places; 0 when `whole` is.
pub fn share(part: i128, whole: i128) -> f64 {
    if whole == 0 {
        0.0
    } else {
        ((part as f64 / whole as f64) * 10_000.0).round() / 10_000.0
    }
}

/// The coverage of `grid` (the body of `GET /uit-windows/{id}/coverage`), items in `filter`'s state.
pub fn coverage(grid: Grid, filter: Option<CoverageState>) -> Coverage {
    let mut by_state: BTreeMap<String, StateTotal> = CoverageState::ALL
        .iter()
        .map(|s| (s.as_str().to_string(), StateTotal::default()))
        .collect();
    let (mut sets, mut prevalence, mut claimed) = (0, 0i128, 0i128);
    let mut items = Vec::new();
    for row in grid.rows {
        let state = state_of(&row, &grid.scenarios);
        let t = by_state.entry(state.as_str().to_string()).or_default();
        t.device_sets += 1;
        t.prevalence += i128::from(row.prevalence);
        sets += 1;
        prevalence += i128::from(row.prevalence);
        if row.lead_org_id.is_some() {
            claimed += i128::from(row.prevalence);
        }
        if filter.is_some_and(|f| f != state) {
            continue;
        }
        let scenarios = grid
            .scenarios
            .iter()
            .map(|code| {
                let cell = row.cells.get(code).cloned().unwrap_or_default();
                (
                    code.clone(),
                    ScenarioCoverage {
                        results: cell.total(),
                        worst: cell.worst,
                    },
                )
            })
            .collect();
        items.push(CoverageItem {
            device_set_id: row.device_set_id,
            name: row.name,
            composition: row.composition.map(Arc::unwrap_or_clone),
            prevalence: row.prevalence,
            lead_org_id: row.lead_org_id,
            lead_org_name: row.lead_org_name,
            state,
            scenarios,
        });
    }
    let p = |s: &str| by_state.get(s).map(|t| t.prevalence).unwrap_or(0);
    let totals = CoverageTotals {
        device_sets: sets,
        prevalence,
        claimed_share: share(claimed, prevalence),
        tested_share: share(p("in_progress") + p("complete"), prevalence),
        complete_share: share(p("complete"), prevalence),
        by_state,
    };
    Coverage {
        uit_window_id: grid.window.id,
        uit_window_name: grid.window.name,
        scenarios: grid.scenarios,
        scenario_titles: grid.scenario_titles,
        totals,
        items,
    }
}

/// Coverage of a UIT window
///
/// Every device set in the window's scope (its explicit scope, `POST /uit-windows/{id}/scope`,
/// else the sets containing firmware of the window's release; and any set claimed or tested
/// in the window) with its lead, the results per scenario the caller may see, and its state;
/// totals weighted by prevalence. `?state=unclaimed` lists the gaps, most prevalent first. The
/// `ETag` changes with anything the answer is built from (a result, a claim, a defect mask, a
/// device set, the release's firmware, the window's scope, a participant, an organisation's
/// name); `If-None-Match` with the current one answers 304.
#[utoipa::path(
    tag = "uit-windows",
    operation_id = "getWindowCoverage",
    params(("id" = String, Path, description = "UIT window id"), CoverageQuery),
    responses(
        (status = 200, description = "The window's coverage", body = Coverage, headers(("ETag" = String))),
        (status = 304, description = "Not modified (the ETag matches)"),
    ),
    security(("bearer" = []))
)]
#[get("/uit-windows/{id}/coverage")]
pub async fn window_coverage(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<WindowId>,
    query: web::Query<CoverageQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let filter = query.into_inner().state;
    let kind = match filter {
        Some(s) => format!("coverage.{}", s.as_str()),
        None => "coverage".to_string(),
    };
    let tags = etag::if_none_match(&req);
    let grids = state.grids.clone();
    let answer = state
        .db
        .read_as(caller, move |conn, ctx| {
            grids.answer(conn, &ctx, &id, &kind, &tags, |conn| {
                let grid = model::grid(conn, &ctx, &id)?;
                Ok(serde_json::to_vec(&coverage(grid, filter))?)
            })
        })
        .await?;
    let mut ok = HttpResponse::Ok();
    ok.content_type("application/json");
    Ok(respond(answer, ok))
}

/// A grid's answer: 304, or the body with the headers `ok` already holds. Either way the
/// ETag, and `Cache-Control: private, no-cache`: a reader's own view, to be revalidated.
fn respond(answer: Answer, ok: actix_web::HttpResponseBuilder) -> HttpResponse {
    let (mut resp, tag, body) = match answer {
        Answer::NotModified(tag) => (HttpResponse::NotModified(), tag, None),
        Answer::Body(tag, body) => (ok, tag, Some(body)),
    };
    resp.insert_header((header::ETAG, tag))
        .insert_header((header::VARY, "Accept"))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"));
    match body {
        Some(body) => resp.body(body),
        None => resp.finish(),
    }
}

/// One row of the matrix.
#[derive(Debug, Serialize, ToSchema)]
pub struct MatrixRow {
    #[schema(value_type = String)]
    pub device_set_id: DeviceSetId,
    pub device_set_name: String,
    /// The Comms Hub firmware and each device's type, manufacturer, model and firmware version.
    pub composition: Option<Composition>,
    pub prevalence: i64,
    #[schema(value_type = Option<String>)]
    pub lead_org_id: Option<OrgId>,
    pub lead_org_name: Option<String>,
    /// Keyed by scenario code; every window scenario is present.
    pub cells: BTreeMap<String, Cell>,
}

/// Device sets x scenarios of a window, as the caller may see them.
#[derive(Debug, Serialize, ToSchema)]
pub struct Matrix {
    #[schema(value_type = String)]
    pub uit_window_id: WindowId,
    pub uit_window_name: String,
    pub scenarios: Vec<String>,
    /// Scenario titles keyed by code.
    pub scenario_titles: BTreeMap<String, String>,
    /// Outcome ranks, worst first: fail, known_issue, blocked, pass_with_observations, pass, not_run.
    pub outcome_order: Vec<String>,
    /// Counts over the whole matrix, keyed by outcome.
    pub totals: BTreeMap<String, i64>,
    /// Most prevalent first.
    pub rows: Vec<MatrixRow>,
}

/// The matrix of `grid` (the body of `GET /uit-windows/{id}/matrix`).
pub fn matrix(grid: Grid) -> Matrix {
    let mut totals: BTreeMap<String, i64> = ORDER.iter().map(|o| (o.to_string(), 0)).collect();
    let rows = grid
        .rows
        .into_iter()
        .map(|row| {
            let cells = grid
                .scenarios
                .iter()
                .map(|code| {
                    let cell = row.cells.get(code).cloned().unwrap_or_default();
                    for (outcome, n) in &cell.counts {
                        *totals.entry(outcome.clone()).or_default() += n;
                    }
                    (code.clone(), cell)
                })
                .collect();
            MatrixRow {
                device_set_id: row.device_set_id,
                device_set_name: row.name,
                composition: row.composition.map(Arc::unwrap_or_clone),
                prevalence: row.prevalence,
                lead_org_id: row.lead_org_id,
                lead_org_name: row.lead_org_name,
                cells,
            }
        })
        .collect();
    Matrix {
        uit_window_id: grid.window.id,
        uit_window_name: grid.window.name,
        scenarios: grid.scenarios,
        scenario_titles: grid.scenario_titles,
        outcome_order: ORDER.iter().map(|o| o.to_string()).collect(),
        totals,
        rows,
    }
}

/// The matrix as CSV: one line per (device set, scenario): the set, the lead, the scenario,
/// the worst outcome, a count column per outcome, the codes of the defect masks behind known
/// issues, then a column per device type (each member as "manufacturer model version",
/// several joined by "; "). New columns come after the original ones, so readers that go by
/// position keep working.
pub fn csv(m: &Matrix) -> Result<String, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec![
        "device_set_id",
        "device_set_name",
        "prevalence",
        "lead_org",
        "scenario",
        "worst",
    ];
    header.extend(ORDER);
    header.push("known_issue_masks");
    header.extend(DEVICE_TYPE_ORDER.iter().map(|t| t.as_str()));
    w.write_record(&header).map_err(ApiError::internal)?;
    for row in &m.rows {
        let devices: Vec<String> = DEVICE_TYPE_ORDER
            .iter()
            .map(|t| {
                let labels = row.composition.as_ref().map(|c| c.labels_of(*t)).unwrap_or_default();
                neutralise(&labels.join("; "))
            })
            .collect();
        for (code, cell) in &row.cells {
            let mut record = vec![
                row.device_set_id.to_string(),
                // A leading =, +, - or @ would be a formula to a spreadsheet.
                neutralise(&row.device_set_name),
                row.prevalence.to_string(),
                neutralise(row.lead_org_name.as_deref().unwrap_or("")),
                code.clone(),
                cell.worst.clone().unwrap_or_default(),
            ];
            record.extend(
                ORDER
                    .iter()
                    .map(|o| cell.counts.get(*o).copied().unwrap_or(0).to_string()),
            );
            record.push(neutralise(&cell.known_issue_masks.join(" ")));
            record.extend(devices.iter().cloned());
            w.write_record(&record).map_err(ApiError::internal)?;
        }
    }
    String::from_utf8(w.into_inner().map_err(ApiError::internal)?).map_err(ApiError::internal)
}

/// A cell that a spreadsheet would read as a formula, quoted.
pub fn neutralise(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MatrixQuery {}

/// Compatibility matrix of a UIT window
///
/// Device sets x scenarios: per cell the worst visible outcome and the counts per outcome, with
/// failures explained by a defect mask counted apart as `known_issue` (and the masks' codes).
/// A mask explains a failure when it is not withdrawn and concerns the set: the set holds one
/// of its affected firmware versions or, for a mask naming none, firmware of its device model.
/// Each row carries the set's composition. Each caller sees only the results visibility
/// allows. `Accept: text/csv` gives the same table as CSV, one line per device set and
/// scenario, with a column per device type and the codes of the masks behind known issues.
/// Each representation has its own `ETag`, which changes with anything the matrix is built
/// from; `If-None-Match` with the current one answers 304.
#[utoipa::path(
    tag = "uit-windows",
    operation_id = "getWindowMatrix",
    params(("id" = String, Path, description = "UIT window id"), MatrixQuery),
    responses(
        (status = 200, description = "The matrix (JSON, or CSV with `Accept: text/csv`)",
            content((Matrix = "application/json"), (String = "text/csv")), headers(("ETag" = String))),
        (status = 400, response = BadRequest),
        (status = 304, description = "Not modified (the ETag matches)"),
    ),
    security(("bearer" = []))
)]
#[get("/uit-windows/{id}/matrix")]
pub async fn window_matrix(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<WindowId>,
    _query: web::Query<MatrixQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let as_csv = accept::prefers(&req, "text/csv", "application/json");
    let kind = if as_csv { "matrix.csv" } else { "matrix" };
    let mut ok = HttpResponse::Ok();
    if as_csv {
        let name = format!("attachment; filename=\"matrix-{id}.csv\"");
        ok.content_type("text/csv; charset=utf-8")
            .insert_header((header::CONTENT_DISPOSITION, name));
    } else {
        ok.content_type("application/json");
    }
    let tags = etag::if_none_match(&req);
    let grids = state.grids.clone();
    let answer = state
        .db
        .read_as(caller, move |conn, ctx| {
            grids.answer(conn, &ctx, &id, kind, &tags, |conn| {
                let m = matrix(model::grid(conn, &ctx, &id)?);
                Ok(if as_csv {
                    csv(&m)?.into_bytes()
                } else {
                    serde_json::to_vec(&m)?
                })
            })
        })
        .await?;
    Ok(respond(answer, ok))
}
