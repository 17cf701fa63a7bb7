//! Readiness: each exit criterion of a window measured against the shared evidence the caller
//! may see (results at `participants` or `industry` visibility; see
//! [`Evidence::Shared`](crate::matrix::model::Evidence::Shared)), with what falls short.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::criteria::{percent, ExitCriteria};
use crate::auth::AuthContext;
use crate::db::{DbConn, DeviceSetId, OrgId, WindowId};
use crate::http::ApiError;
use crate::matrix::model::{self as matrix, Cell, Evidence, Grid, Row};

/// The most findings listed per criterion; `findings_total` counts them all.
pub const MAX_FINDINGS: usize = 50;

crate::text_enum!(
    /// One exit criterion (the fields of `ExitCriteria`).
    Criterion {
        MinWeightedShare => "min_weighted_share",
        TopSets => "top_sets",
        MaxUnexplainedFailures => "max_unexplained_failures",
        MinPublishingSuppliers => "min_publishing_suppliers",
        NoOpenBlockingIssues => "no_open_blocking_issues",
    }
);

crate::text_enum!(
    /// What a finding shows: `scenario_share`, a scenario whose prevalence-weighted share
    /// tested (`value`) is below the threshold; `untested`, a device set with no shared result
    /// (other than `not_run`) in `scenario`; `unexplained_failure`, shared failures (`value` of
    /// them) in a cell that no applicable defect mask explains; `publisher`, a supplier that
    /// published shared results (`value` of them); `blocking_issue`, a `blocking` UIT issue not
    /// yet resolved.
    FindingKind {
        ScenarioShare => "scenario_share",
        Untested => "untested",
        UnexplainedFailure => "unexplained_failure",
        Publisher => "publisher",
        BlockingIssue => "blocking_issue",
    }
);

/// One piece of evidence behind a criterion: which scenario, set, organisation or UIT issue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Finding {
    pub kind: FindingKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub device_set_id: Option<DeviceSetId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_set_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prevalence: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub org_id: Option<OrgId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uit_issue_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// A share (0-1) or a count, as the kind says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

impl Finding {
    fn new(kind: FindingKind) -> Self {
        Self {
            kind,
            scenario: None,
            device_set_id: None,
            device_set_name: None,
            prevalence: None,
            org_id: None,
            org_name: None,
            uit_issue_id: None,
            title: None,
            value: None,
        }
    }

    fn set(mut self, row: &Row) -> Self {
        self.device_set_id = Some(row.device_set_id.clone());
        self.device_set_name = Some(row.name.clone());
        self.prevalence = Some(row.prevalence);
        self
    }

    fn scenario(mut self, code: &str) -> Self {
        self.scenario = Some(code.to_string());
        self
    }

    fn value(mut self, v: f64) -> Self {
        self.value = Some(v);
        self
    }
}

/// One criterion measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Measured {
    pub criterion: Criterion,
    /// The criterion in words, e.g. "At least 80% of the installed base tested in each scenario".
    pub description: String,
    /// The operator's threshold: a share (0-1) or a count; 1 for `no_open_blocking_issues`
    /// (0 open issues allowed, measured as the open count).
    pub threshold: f64,
    /// What the evidence shows, in the threshold's unit.
    pub measured: f64,
    pub met: bool,
    /// What falls short (or, for publishers, who published), the most important first, at
    /// most 50.
    pub findings: Vec<Finding>,
    pub findings_total: i64,
}

/// Counts behind the criteria.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EvidenceTotals {
    /// Shared results counted.
    pub results: i64,
    pub device_sets: i64,
    pub prevalence: i64,
    /// Shared failures no applicable defect mask explains.
    pub unexplained_failures: i64,
    /// Shared failures a defect mask explains.
    pub known_issues: i64,
}

/// A window's exit criteria measured against the shared evidence the caller may see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    #[schema(value_type = String)]
    pub uit_window_id: WindowId,
    pub uit_window_name: String,
    /// Every criterion set is met (true when the window has none).
    pub met: bool,
    /// The criteria not met, in the order listed.
    pub unmet: Vec<Criterion>,
    pub exit_criteria: Option<ExitCriteria>,
    pub criteria: Vec<Measured>,
    pub evidence: EvidenceTotals,
}

fn tested(cell: Option<&Cell>) -> bool {
    cell.is_some_and(Cell::tested)
}

fn measured(criterion: Criterion, description: String, threshold: f64, measured: f64, met: bool) -> Measured {
    Measured {
        criterion,
        description,
        threshold,
        measured,
        met,
        findings: Vec::new(),
        findings_total: 0,
    }
}

impl Measured {
    fn findings(mut self, all: Vec<Finding>) -> Self {
        self.findings_total = all.len() as i64;
        self.findings = all.into_iter().take(MAX_FINDINGS).collect();
        self
    }
}

/// Per scenario, the prevalence-weighted share of the window's sets tested (by count when no
/// set has a prevalence).
fn share_tested(grid: &Grid, code: &str) -> f64 {
    let total: i128 = grid.rows.iter().map(|r| i128::from(r.prevalence)).sum();
    let weight = |r: &Row| if total > 0 { i128::from(r.prevalence) } else { 1 };
    let whole: i128 = grid.rows.iter().map(weight).sum();
    let part: i128 = grid.rows.iter().filter(|r| tested(r.cells.get(code))).map(weight).sum();
    crate::matrix::handlers::share(part, whole)
}

fn weighted_share(grid: &Grid, threshold: f64) -> Measured {
    let shares: Vec<(String, f64)> = grid
        .scenarios
        .iter()
        .map(|c| (c.clone(), share_tested(grid, c)))
        .collect();
    let lowest = shares.iter().map(|s| s.1).fold(f64::INFINITY, f64::min);
    let lowest = if lowest.is_finite() { lowest } else { 0.0 };
    let mut findings = Vec::new();
    for (code, share) in shares.iter().filter(|s| s.1 < threshold) {
        findings.push(Finding::new(FindingKind::ScenarioShare).scenario(code).value(*share));
    }
    // Then the untested sets of the short scenarios, most prevalent first (rows are sorted so).
    for (code, _) in shares.iter().filter(|s| s.1 < threshold) {
        for row in grid.rows.iter().filter(|r| !tested(r.cells.get(code))) {
            findings.push(Finding::new(FindingKind::Untested).scenario(code).set(row));
        }
    }
    measured(
        Criterion::MinWeightedShare,
        format!(
            "At least {}% of the installed base tested in each scenario",
            percent(threshold)
        ),
        threshold,
        lowest,
        lowest >= threshold && !grid.scenarios.is_empty(),
    )
    .findings(findings)
}

fn top_sets(grid: &Grid, top_n: i64, scenarios: &[String]) -> Measured {
    let scenarios: Vec<String> = if scenarios.is_empty() {
        grid.scenarios.clone()
    } else {
        scenarios.to_vec()
    };
    let top: Vec<&Row> = grid.rows.iter().take(top_n.max(0) as usize).collect();
    let required = (top_n.max(0) as usize * scenarios.len()) as f64;
    let mut findings = Vec::new();
    let mut done = 0usize;
    for row in &top {
        for code in &scenarios {
            if tested(row.cells.get(code)) {
                done += 1;
            } else {
                findings.push(Finding::new(FindingKind::Untested).scenario(code).set(row));
            }
        }
    }
    // A window with fewer sets than `top_n` cannot meet it: the missing sets count as untested.
    let description = format!(
        "{} tested on each of the {top_n} most prevalent device sets",
        if scenarios.len() == grid.scenarios.len() {
            "Every scenario".to_string()
        } else {
            scenarios.join(", ")
        }
    );
    measured(
        Criterion::TopSets,
        description,
        required,
        done as f64,
        done as f64 >= required,
    )
    .findings(findings)
}

fn unexplained(grid: &Grid, max: i64) -> Measured {
    let mut findings = Vec::new();
    let mut total = 0i64;
    for row in &grid.rows {
        for code in &grid.scenarios {
            let n = row
                .cells
                .get(code)
                .and_then(|c| c.counts.get("fail"))
                .copied()
                .unwrap_or(0);
            if n > 0 {
                total += n;
                findings.push(
                    Finding::new(FindingKind::UnexplainedFailure)
                        .scenario(code)
                        .set(row)
                        .value(n as f64),
                );
            }
        }
    }
    measured(
        Criterion::MaxUnexplainedFailures,
        format!("At most {max} shared failures without an applicable defect mask"),
        max as f64,
        total as f64,
        total <= max,
    )
    .findings(findings)
}

fn suppliers(publishers: &[(OrgId, String, i64)], min: i64) -> Measured {
    let findings = publishers
        .iter()
        .map(|(id, name, n)| {
            let mut f = Finding::new(FindingKind::Publisher).value(*n as f64);
            f.org_id = Some(id.clone());
            f.org_name = Some(name.clone());
            f
        })
        .collect();
    let n = publishers.len() as i64;
    measured(
        Criterion::MinPublishingSuppliers,
        format!("At least {min} suppliers published shared results"),
        min as f64,
        n as f64,
        n >= min,
    )
    .findings(findings)
}

fn blocking(open: &[(String, String)]) -> Measured {
    let findings = open
        .iter()
        .map(|(id, title)| {
            let mut f = Finding::new(FindingKind::BlockingIssue);
            f.uit_issue_id = Some(id.clone());
            f.title = Some(title.clone());
            f
        })
        .collect();
    measured(
        Criterion::NoOpenBlockingIssues,
        "No unresolved blocking UIT issue".to_string(),
        0.0,
        open.len() as f64,
        open.is_empty(),
    )
    .findings(findings)
}

/// Totals of the evidence in `grid`.
fn totals(grid: &Grid) -> EvidenceTotals {
    let mut t = EvidenceTotals {
        results: 0,
        device_sets: grid.rows.len() as i64,
        prevalence: grid.rows.iter().map(|r| r.prevalence).sum(),
        unexplained_failures: 0,
        known_issues: 0,
    };
    for cell in grid.rows.iter().flat_map(|r| r.cells.values()) {
        t.results += cell.total();
        t.unexplained_failures += cell.counts.get("fail").copied().unwrap_or(0);
        t.known_issues += cell.counts.get("known_issue").copied().unwrap_or(0);
    }
    t
}

/// Measures `grid` (built from shared evidence) against `criteria`.
pub fn assess(
    grid: &Grid,
    criteria: Option<&ExitCriteria>,
    publishers: &[(OrgId, String, i64)],
    open_blocking: &[(String, String)],
) -> Readiness {
    let mut out = Vec::new();
    if let Some(c) = criteria {
        if let Some(t) = c.min_weighted_share {
            out.push(weighted_share(grid, t));
        }
        if let Some(t) = &c.top_sets {
            out.push(top_sets(grid, t.top_n, &t.scenarios));
        }
        if let Some(max) = c.max_unexplained_failures {
            out.push(unexplained(grid, max));
        }
        if let Some(min) = c.min_publishing_suppliers {
            out.push(suppliers(publishers, min));
        }
        if c.no_open_blocking_issues == Some(true) {
            out.push(blocking(open_blocking));
        }
    }
    let unmet: Vec<Criterion> = out.iter().filter(|m| !m.met).map(|m| m.criterion).collect();
    Readiness {
        uit_window_id: grid.window.id.clone(),
        uit_window_name: grid.window.name.clone(),
        met: unmet.is_empty(),
        unmet,
        exit_criteria: criteria.cloned(),
        criteria: out,
        evidence: totals(grid),
    }
}

/// The readiness of `window_id` from the shared evidence `ctx` may see; 404 when the window
/// does not exist.
pub fn readiness(conn: &mut DbConn, ctx: &AuthContext, window_id: &WindowId) -> Result<Readiness, ApiError> {
    let grid = matrix::grid_of(conn, ctx, window_id, Evidence::Shared, matrix::Detail::Counts)?;
    readiness_of(conn, ctx, &grid, Evidence::Shared)
}

/// The readiness of the window of `grid`, built from `evidence` (shared, or industry only for
/// a review pack).
pub fn readiness_of(
    conn: &mut DbConn,
    ctx: &AuthContext,
    grid: &Grid,
    evidence: Evidence,
) -> Result<Readiness, ApiError> {
    let criteria = ExitCriteria::from_stored(grid.window.exit_criteria.as_deref())?;
    let wants = |f: fn(&ExitCriteria) -> bool| criteria.as_ref().is_some_and(f);
    let publishers = if wants(|c| c.min_publishing_suppliers.is_some()) {
        matrix::publishers(conn, ctx, &grid.window.id, evidence)?
    } else {
        Vec::new()
    };
    let open_blocking = if wants(|c| c.no_open_blocking_issues == Some(true)) {
        open_blocking_issues(conn, ctx, &grid.window.id)?
    } else {
        Vec::new()
    };
    Ok(assess(grid, criteria.as_ref(), &publishers, &open_blocking))
}

/// The unresolved (`open` or `triaged`) blocking UIT issues of the window that `ctx` may see.
fn open_blocking_issues(
    conn: &mut DbConn,
    ctx: &AuthContext,
    window_id: &WindowId,
) -> Result<Vec<(String, String)>, ApiError> {
    Ok(crate::uit_issues::model::open_blocking(conn, ctx, window_id)?)
}
