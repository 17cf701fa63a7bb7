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

use super::frame::{self, SetRow};
use crate::auth::AuthContext;
use crate::db::{DbConn, DeviceSetId, OrgId, ResultId, WindowId};
use crate::defect_masks::model::EXPLAINS_FAILURE;
use crate::device_sets::composition::{Composition, Members};
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
    pub device_set_id: DeviceSetId,
    pub name: String,
    pub prevalence: i64,
    pub lead_org_id: Option<OrgId>,
    pub lead_org_name: Option<String>,
    pub composition: Option<Arc<Composition>>,
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
    /// The members of the rows' sets: the scope's, then (with [`Detail::Members`] or
    /// [`Detail::Compositions`]) those of the sets outside it. See [`Grid::members_of`].
    pub members: Vec<Arc<Members>>,
}

impl Grid {
    /// Which of [`Grid::members`] holds set `set_id`, and its firmware there (reading order).
    pub fn members_of(&self, set_id: &DeviceSetId) -> Option<(usize, &[u32])> {
        self.members
            .iter()
            .enumerate()
            .find_map(|(n, m)| m.of(set_id).map(|f| (n, f)))
    }
}

/// What a grid carries besides the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// The counts (and the members of the scope's sets, which the frame holds anyway).
    Counts,
    /// The members of every row's set, the sets outside the scope included.
    Members,
    /// The members, and each row's composition.
    Compositions,
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = Text)]
    device_set_id: DeviceSetId,
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
    device_set_id: DeviceSetId,
    #[diesel(sql_type = Text)]
    scenario_code: String,
    #[diesel(sql_type = Text)]
    result_id: ResultId,
    #[diesel(sql_type = Text)]
    code: String,
}

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

/// A cell's failures that masks explain: their result ids, and the masks' codes.
type Explained = (HashSet<ResultId>, Vec<String>);

/// Builds the grid of `window_id` as `ctx` may see it.
pub fn grid(conn: &mut DbConn, ctx: &AuthContext, window_id: &WindowId) -> Result<Grid, ApiError> {
    grid_of(conn, ctx, window_id, Evidence::Readable, Detail::Compositions)
}

/// Builds the grid of `window_id` from the `evidence` `ctx` may see, with `detail`.
pub fn grid_of(
    conn: &mut DbConn,
    ctx: &AuthContext,
    window_id: &WindowId,
    evidence: Evidence,
    detail: Detail,
) -> Result<Grid, ApiError> {
    let frame = frame::frame(conn, window_id)?;
    let window = frame.window.clone();
    let (org, sees_participants, own_private) = visibility::lens(conn, ctx, &window.id, evidence)?;
    // The per-cell aggregates, plus the reader's own results they cannot attribute.
    let cell_rows: Vec<super::cells::Cell> = diesel::sql_query(super::cells::cells_sql())
        .bind::<Text, _>(&window.id)
        .load(conn)?;
    // Per set, per scenario: the visible counts in the order of `cells::OUTCOMES`.
    let mut raw: HashMap<DeviceSetId, BTreeMap<String, [i64; 5]>> = HashMap::new();
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
    let mut outside: Vec<DeviceSetId> = raw
        .keys()
        .filter(|id| !in_scope.contains(id.as_str()))
        .cloned()
        .collect();
    outside.sort();
    outside.dedup();
    for chunk in outside.chunks(500) {
        let extra: Vec<(DeviceSetId, String, i64)> = crate::db::schema::device_sets::table
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
    let mut known: HashMap<DeviceSetId, HashMap<String, Explained>> = HashMap::new();
    for m in masks {
        let entry = known
            .entry(m.device_set_id)
            .or_default()
            .entry(m.scenario_code)
            .or_default();
        entry.0.insert(m.result_id);
        entry.1.push(m.code);
    }
    let mut cells: HashMap<DeviceSetId, BTreeMap<String, Cell>> = HashMap::with_capacity(raw.len());
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
    // Members and compositions from the frame; sets outside the scope (tested there all the
    // same) have theirs read now.
    let mut members = vec![frame.members.clone()];
    if detail != Detail::Counts && !outside.is_empty() {
        members.push(Arc::new(Members::load(conn, &outside)?));
    }
    let compositions = (detail == Detail::Compositions).then(|| frame.compositions());
    let mut rows: Vec<Row> = sets
        .into_iter()
        .map(|s| {
            let lead = leads.get(&s.id).cloned();
            let composition = compositions.and_then(|kept| match kept.get(&s.id) {
                Some(c) => Some(c.clone()),
                None => members.get(1)?.composition(&s.id).map(Arc::new),
            });
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
        members,
    })
}

#[derive(QueryableByName)]
struct PublisherRow {
    #[diesel(sql_type = Text)]
    org_id: OrgId,
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
    window_id: &WindowId,
    evidence: Evidence,
) -> Result<Vec<(OrgId, String, i64)>, ApiError> {
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
