//! The aggregation behind coverage and the matrix: the window's device sets, their leads and
//! compositions, and per (set, scenario) the counts of visible outcomes, failures explained by
//! a defect mask that applies to the set counted apart as `known_issue` (with the masks' codes).
//! A fixed handful of queries, whatever the window's size.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::AuthContext;
use crate::db::DbConn;
use crate::defect_masks::model::EXPLAINS_FAILURE;
use crate::device_sets::composition::{self, Composition};
use crate::http::ApiError;
pub use crate::results::visibility::Evidence;
use crate::results::visibility::{self, VISIBLE};
use crate::windows::model::WindowRow;

/// Outcome columns, worst first: `fail` outranks a known issue, which outranks `blocked`, and
/// so on down to `not_run`.
pub const ORDER: [&str; 6] = [
    "fail",
    "known_issue",
    "blocked",
    "pass_with_observations",
    "pass",
    "not_run",
];

/// One cell: the worst visible outcome and how many visible results had each outcome.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Cell {
    /// `fail`, `known_issue`, `blocked`, `pass_with_observations`, `pass` or `not_run`; null
    /// when no visible result exists.
    pub worst: Option<String>,
    /// Non-zero counts only, keyed by outcome (`known_issue` for explained failures).
    pub counts: BTreeMap<String, i64>,
    /// Codes of the defect masks behind the cell's known issues, sorted.
    pub known_issue_masks: Vec<String>,
}

impl Cell {
    fn add(&mut self, outcome: &str, n: i64) {
        *self.counts.entry(outcome.to_string()).or_default() += n;
        let rank = |o: &str| ORDER.iter().position(|x| *x == o).unwrap_or(ORDER.len());
        if self.worst.as_deref().is_none_or(|w| rank(outcome) < rank(w)) {
            self.worst = Some(outcome.to_string());
        }
    }

    pub fn total(&self) -> i64 {
        self.counts.values().sum()
    }

    /// Whether a result other than `not_run` is in the cell.
    pub fn tested(&self) -> bool {
        self.total() - self.counts.get("not_run").copied().unwrap_or(0) > 0
    }
}

/// A device set in the window's scope, with its lead and cells.
#[derive(Debug, Clone)]
pub struct Row {
    pub device_set_id: String,
    pub name: String,
    pub prevalence: i64,
    pub lead_org_id: Option<String>,
    pub lead_org_name: Option<String>,
    pub composition: Option<Composition>,
    pub cells: BTreeMap<String, Cell>,
    /// In the window's scope (explicit or implied) or claimed in it; false for a set that is
    /// here only for the visible results it has in the window.
    pub in_scope: bool,
}

/// Everything about a window the caller may see.
#[derive(Clone)]
pub struct Grid {
    pub window: WindowRow,
    pub scenarios: Vec<String>,
    /// Scenario titles keyed by code.
    pub scenario_titles: BTreeMap<String, String>,
    pub rows: Vec<Row>,
}

#[derive(Clone, QueryableByName)]
struct SetRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    prevalence: i64,
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = Text)]
    device_set_id: String,
    #[diesel(sql_type = Text)]
    scenario_code: String,
    #[diesel(sql_type = Text)]
    outcome: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct MaskRow {
    #[diesel(sql_type = Text)]
    device_set_id: String,
    #[diesel(sql_type = Text)]
    scenario_code: String,
    #[diesel(sql_type = Text)]
    result_id: String,
    #[diesel(sql_type = Text)]
    code: String,
}

#[derive(QueryableByName)]
struct LeadRow {
    #[diesel(sql_type = Text)]
    device_set_id: String,
    #[diesel(sql_type = Text)]
    org_id: String,
    #[diesel(sql_type = Text)]
    org_name: String,
}

/// The window's scope: its explicit scope when the operator set one (`window_scope_sets`,
/// see `crate::scope`), else the implied one, device sets containing any firmware of its
/// release; plus, either way, any set claimed in it. `grid` adds sets with results the caller
/// may see. Sets tested only in results the caller may not see stay out, so the scope leaks
/// nothing. (`$n` placeholders work on both backends: SQLite reads `$2` as a named parameter
/// bound by first use.) Each part looks its sets up by key, so PostgreSQL need not hash all
/// device sets (9 ms to 5 ms for 2,000 of 20,000).
const SCOPE: &str = "SELECT ds.id, ds.name, ds.prevalence FROM release_firmware rf
        JOIN device_set_members dsm ON dsm.firmware_id = rf.firmware_id
        JOIN device_sets ds ON ds.id = dsm.device_set_id
    WHERE rf.release_id = $1
        AND NOT EXISTS (SELECT 1 FROM window_scopes ws WHERE ws.window_id = $2)
    UNION SELECT ds.id, ds.name, ds.prevalence FROM window_scope_sets wss
        JOIN device_sets ds ON ds.id = wss.device_set_id
    WHERE wss.window_id = $2
    UNION SELECT ds.id, ds.name, ds.prevalence FROM claims c
        JOIN device_sets ds ON ds.id = c.device_set_id
    WHERE c.window_id = $2";

/// The visible failures that a mask explains (known issues), with the masks' codes: one row
/// per (result, mask). Counted apart from the per-cell counts (`cells::cells_sql`), so the explanation is worked out for
/// the few failures citing masks, not inside the aggregate over every result of the window.
fn masks_sql() -> String {
    format!(
        "SELECT DISTINCT results.device_set_id, results.scenario_code, results.id AS result_id,
            defect_masks.code
        FROM results
            JOIN result_defect_masks rdm ON rdm.result_id = results.id
            JOIN defect_masks ON defect_masks.id = rdm.defect_mask_id
        WHERE {VISIBLE} AND results.outcome = 'fail' AND results.defect_mask_ids <> '[]'
            AND {explains}",
        explains = EXPLAINS_FAILURE
    )
}

const LEADS: &str = "SELECT c.device_set_id, c.org_id, o.name AS org_name FROM claims c
    JOIN organisations o ON o.id = c.org_id WHERE c.window_id = $1";

/// A cell's failures that masks explain: their result ids, and the masks' codes.
type Explained = (HashSet<String>, Vec<String>);

/// What a window's grid is drawn on, the same for every reader and changed only with the global
/// grid version (`super::versions`): the window, its scenarios and their titles, the sets in its
/// scope with their compositions, and the leads. Built once per version and kept, so a grid
/// after a result write reads only the counts.
struct Frame {
    window: WindowRow,
    scenarios: Vec<String>,
    scenario_titles: BTreeMap<String, String>,
    sets: Vec<SetRow>,
    leads: HashMap<String, (String, String)>,
    compositions: HashMap<String, Composition>,
}

/// Frames kept: the few windows being looked at.
const FRAMES: usize = 4;

/// The kept frames, most recently used last, by window id and global version. Window ids are
/// unique across databases (UUIDv7), so one process serving several (the tests) cannot mix
/// them up.
static FRAME_CACHE: std::sync::Mutex<Vec<(String, i64, Arc<Frame>)>> = std::sync::Mutex::new(Vec::new());

/// The frame of `window_id` at the current global version: kept, or built and kept.
fn frame(conn: &mut DbConn, window_id: &str) -> Result<Arc<Frame>, ApiError> {
    let (global, _) = super::versions::of(conn, window_id)?.ok_or_else(ApiError::not_found)?;
    {
        let mut kept = FRAME_CACHE.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(at) = kept.iter().position(|(w, v, _)| w == window_id && *v == global) {
            let hit = kept.remove(at);
            let frame = hit.2.clone();
            kept.push(hit);
            return Ok(frame);
        }
    }
    let window = crate::windows::model::find(conn, window_id)?.ok_or_else(ApiError::not_found)?;
    let scenarios = crate::windows::model::scenarios_of(conn, std::slice::from_ref(&window.id))?
        .remove(&window.id)
        .unwrap_or_default();
    let sets: Vec<SetRow> = diesel::sql_query(SCOPE)
        .bind::<Text, _>(&window.release_id)
        .bind::<Text, _>(&window.id)
        .load(conn)?;
    let leads: HashMap<String, (String, String)> = diesel::sql_query(LEADS)
        .bind::<Text, _>(&window.id)
        .load::<LeadRow>(conn)?
        .into_iter()
        .map(|l| (l.device_set_id, (l.org_id, l.org_name)))
        .collect();
    let set_ids: Vec<String> = sets.iter().map(|s| s.id.clone()).collect();
    let compositions = composition::load(conn, &set_ids)?;
    let scenario_titles = crate::db::schema::scenarios::table
        .filter(crate::db::schema::scenarios::code.eq_any(&scenarios))
        .select((crate::db::schema::scenarios::code, crate::db::schema::scenarios::title))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let frame = Arc::new(Frame {
        window,
        scenarios,
        scenario_titles,
        sets,
        leads,
        compositions,
    });
    let mut kept = FRAME_CACHE.lock().unwrap_or_else(|p| p.into_inner());
    kept.retain(|(w, _, _)| w != window_id);
    kept.push((window_id.to_string(), global, frame.clone()));
    if kept.len() > FRAMES {
        kept.remove(0);
    }
    Ok(frame)
}

/// Builds the grid of `window_id` as `ctx` may see it.
pub fn grid(conn: &mut DbConn, ctx: &AuthContext, window_id: &str) -> Result<Grid, ApiError> {
    grid_of(conn, ctx, window_id, Evidence::Readable, true)
}

/// Builds the grid of `window_id` from the `evidence` `ctx` may see; each row's composition
/// only when `with_compositions`.
pub fn grid_of(
    conn: &mut DbConn,
    ctx: &AuthContext,
    window_id: &str,
    evidence: Evidence,
    with_compositions: bool,
) -> Result<Grid, ApiError> {
    let frame = frame(conn, window_id)?;
    let window = frame.window.clone();
    let (org, sees_participants, own_private) = visibility::lens(conn, ctx, &window.id, evidence)?;
    // The per-cell aggregates, plus the reader's own results they cannot attribute.
    let cell_rows: Vec<super::cells::Cell> = diesel::sql_query(super::cells::cells_sql())
        .bind::<Text, _>(&window.id)
        .load(conn)?;
    // Per set, per scenario: the visible counts in the order of `cells::OUTCOMES`.
    let mut raw: HashMap<String, BTreeMap<String, [i64; 5]>> = HashMap::new();
    for c in cell_rows {
        let visible = c.visible(sees_participants);
        if visible.iter().any(|n| *n > 0) {
            raw.entry(c.device_set_id).or_default().insert(c.scenario_code, visible);
        }
    }
    if let (false, Some((v1, v2))) = (
        org.is_empty(),
        super::cells::own_visibilities(sees_participants, own_private),
    ) {
        let own: Vec<CountRow> = diesel::sql_query(super::cells::OWN)
            .bind::<Text, _>(&window.id)
            .bind::<Text, _>(&org)
            .bind::<Text, _>(v1)
            .bind::<Text, _>(v2)
            .load(conn)?;
        for c in own {
            if let Some(i) = super::cells::OUTCOMES.iter().position(|o| *o == c.outcome) {
                raw.entry(c.device_set_id)
                    .or_default()
                    .entry(c.scenario_code)
                    .or_default()[i] += c.n;
            }
        }
    }
    let masks: Vec<MaskRow> = diesel::sql_query(masks_sql())
        .bind::<Text, _>(&window.id)
        .bind::<Text, _>(&org)
        .bind::<Bool, _>(sees_participants)
        .bind::<Bool, _>(own_private)
        .load(conn)?;
    let leads = &frame.leads;
    let mut sets: Vec<SetRow> = frame.sets.clone();
    let in_scope: std::collections::HashSet<&str> = frame.sets.iter().map(|s| s.id.as_str()).collect();
    let mut outside: Vec<String> = raw
        .keys()
        .filter(|id| !in_scope.contains(id.as_str()))
        .cloned()
        .collect();
    outside.sort();
    outside.dedup();
    for chunk in outside.chunks(500) {
        let extra: Vec<(String, String, i64)> = crate::db::schema::device_sets::table
            .filter(crate::db::schema::device_sets::id.eq_any(chunk))
            .select((
                crate::db::schema::device_sets::id,
                crate::db::schema::device_sets::name,
                crate::db::schema::device_sets::prevalence,
            ))
            .load(conn)?;
        sets.extend(
            extra
                .into_iter()
                .map(|(id, name, prevalence)| SetRow { id, name, prevalence }),
        );
    }
    // Per (set, scenario): the explained failures and their masks' codes.
    let mut known: HashMap<String, HashMap<String, Explained>> = HashMap::new();
    for m in masks {
        let entry = known
            .entry(m.device_set_id)
            .or_default()
            .entry(m.scenario_code)
            .or_default();
        entry.0.insert(m.result_id);
        entry.1.push(m.code);
    }
    let mut cells: HashMap<String, BTreeMap<String, Cell>> = HashMap::with_capacity(raw.len());
    for (set, by_scenario) in raw {
        let explained_in = known.get(&set);
        let row: BTreeMap<String, Cell> = by_scenario
            .into_iter()
            .map(|(scenario, counts)| {
                let mut cell = Cell::default();
                for (i, (outcome, n)) in super::cells::OUTCOMES.iter().zip(counts).enumerate() {
                    // Failures a mask explains are known issues, counted apart.
                    let explained = match (i, explained_in.and_then(|k| k.get(&scenario))) {
                        (0, Some((ids, _))) => (ids.len() as i64).min(n),
                        _ => 0,
                    };
                    if explained > 0 {
                        cell.add("known_issue", explained);
                    }
                    if n > explained {
                        cell.add(outcome, n - explained);
                    }
                }
                (scenario, cell)
            })
            .collect();
        cells.insert(set, row);
    }
    for (set, by_scenario) in known {
        for (scenario, (_, mut codes)) in by_scenario {
            codes.sort();
            codes.dedup();
            let cell = cells.entry(set.clone()).or_default().entry(scenario).or_default();
            cell.known_issue_masks = codes;
        }
    }
    // Compositions from the frame; sets outside the scope (tested there all the same) have
    // theirs read now.
    let mut extra_compositions = if with_compositions && !outside.is_empty() {
        composition::load(conn, &outside)?
    } else {
        HashMap::new()
    };
    let mut rows: Vec<Row> = sets
        .into_iter()
        .map(|s| {
            let lead = leads.get(&s.id).cloned();
            let composition = match with_compositions {
                true => extra_compositions
                    .remove(&s.id)
                    .or_else(|| frame.compositions.get(&s.id).cloned()),
                false => None,
            };
            Row {
                in_scope: in_scope.contains(s.id.as_str()),
                composition,
                cells: cells.remove(&s.id).unwrap_or_default(),
                lead_org_id: lead.as_ref().map(|l| l.0.clone()),
                lead_org_name: lead.map(|l| l.1),
                device_set_id: s.id,
                name: s.name,
                prevalence: s.prevalence,
            }
        })
        .collect();
    // Most prevalent first: that is where coverage matters most.
    rows.sort_by(|a, b| {
        b.prevalence
            .cmp(&a.prevalence)
            .then_with(|| a.device_set_id.cmp(&b.device_set_id))
    });
    Ok(Grid {
        window,
        scenarios: frame.scenarios.clone(),
        scenario_titles: frame.scenario_titles.clone(),
        rows,
    })
}

#[derive(QueryableByName)]
struct PublisherRow {
    #[diesel(sql_type = Text)]
    org_id: String,
    #[diesel(sql_type = Text)]
    org_name: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The supplier organisations with `evidence` in window `window_id` that `ctx` may see, with
/// how many results each published, by name.
pub fn publishers(
    conn: &mut DbConn,
    ctx: &AuthContext,
    window_id: &str,
    evidence: Evidence,
) -> Result<Vec<(String, String, i64)>, ApiError> {
    let (org, sees_participants, own_private) = visibility::lens(conn, ctx, window_id, evidence)?;
    let sql = super::cells::publishers_sql(VISIBLE);
    let rows: Vec<PublisherRow> = diesel::sql_query(sql)
        .bind::<Text, _>(window_id)
        .bind::<Text, _>(&org)
        .bind::<Bool, _>(sees_participants)
        .bind::<Bool, _>(own_private)
        .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.org_id, r.org_name, r.n)).collect())
}
