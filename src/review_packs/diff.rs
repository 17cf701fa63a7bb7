//! What changed between two review packs of one window, from their stored indexes (one line
//! per criterion `K`, non-empty cell `C` and result `R`, results in id order).

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::model;
use crate::db::{DbConn, DeviceSetId, ResultId};
use crate::http::ApiError;
use crate::http::ErrorCode;

/// Most entries listed per kind of change; the totals count them all.
pub const MAX_LISTED: usize = 1_000;

/// A cell whose worst outcome changed (null: no result).
#[derive(Debug, Serialize, ToSchema)]
pub struct CellChange {
    #[schema(value_type = String)]
    pub device_set_id: DeviceSetId,
    pub scenario: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// A result amended between the packs.
#[derive(Debug, Serialize, ToSchema)]
pub struct Amended {
    #[schema(value_type = String)]
    pub result_id: ResultId,
    pub from_revision: i64,
    pub to_revision: i64,
}

/// An exit criterion met in one pack and not in the other (or set in only one).
#[derive(Debug, Serialize, ToSchema)]
pub struct CriterionFlip {
    pub criterion: String,
    /// Null when the criterion was not set.
    pub from_met: Option<bool>,
    pub to_met: Option<bool>,
}

/// How many of each change, whether listed in full or not.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct DiffTotals {
    pub cells_changed: i64,
    pub results_added: i64,
    pub results_amended: i64,
    pub results_withdrawn: i64,
}

/// The changes from pack `against_id` to pack `review_pack_id`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PackDiff {
    pub review_pack_id: String,
    pub against_id: String,
    pub cells_changed: Vec<CellChange>,
    /// Industry results in this pack and not in the other.
    pub results_added: Vec<String>,
    pub results_amended: Vec<Amended>,
    /// Industry results of the other pack that are not in this one (deleted, or no longer at
    /// `industry` visibility).
    pub results_withdrawn: Vec<String>,
    pub criteria_flipped: Vec<CriterionFlip>,
    pub readiness_met: ReadinessChange,
    pub totals: DiffTotals,
}

/// Whether each pack met its criteria.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessChange {
    pub from: bool,
    pub to: bool,
}

#[derive(Default)]
struct Index {
    criteria: BTreeMap<String, bool>,
    cells: BTreeMap<(String, String), String>,
    results: BTreeMap<String, i64>,
}

fn parse(text: &str) -> Result<Index, ApiError> {
    let mut index = Index::default();
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        match f.as_slice() {
            ["K", name, met] => {
                index.criteria.insert(name.to_string(), *met == "true");
            }
            ["C", set, scenario, worst] => {
                index
                    .cells
                    .insert((set.to_string(), scenario.to_string()), worst.to_string());
            }
            ["R", id, revision] => {
                let revision = revision
                    .parse()
                    .map_err(|_| ApiError::internal(format!("bad review pack index line: {line}")))?;
                index.results.insert(id.to_string(), revision);
            }
            _ => return Err(ApiError::internal(format!("bad review pack index line: {line}"))),
        }
    }
    Ok(index)
}

fn capped<T>(v: Vec<T>) -> Vec<T> {
    v.into_iter().take(MAX_LISTED).collect()
}

/// The diff of `id` against `against`: 404 when either is missing, 422 when they belong to
/// different windows.
pub fn diff(conn: &mut DbConn, id: &str, against: &str) -> Result<PackDiff, ApiError> {
    let to = model::find(conn, id)?.ok_or_else(ApiError::not_found)?;
    let from = model::find(conn, against)?.ok_or_else(|| ApiError::invalid_field("against", "no such review pack"))?;
    if from.window_id != to.window_id {
        return Err(ApiError::unprocessable(
            ErrorCode::PacksOfDifferentWindows,
            "Only packs of the same UIT window can be compared.",
        )
        .with_context(serde_json::json!({ "uit_window_id": to.window_id, "against_uit_window_id": from.window_id })));
    }
    let new = parse(&model::whole(conn, id, "index")?)?;
    let old = parse(&model::whole(conn, against, "index")?)?;

    let mut cells = Vec::new();
    let keys: std::collections::BTreeSet<&(String, String)> = new.cells.keys().chain(old.cells.keys()).collect();
    for key in keys {
        let (a, b) = (old.cells.get(key), new.cells.get(key));
        if a != b {
            cells.push(CellChange {
                device_set_id: key.0.clone().into(),
                scenario: key.1.clone(),
                from: a.cloned(),
                to: b.cloned(),
            });
        }
    }
    let mut added = Vec::new();
    let mut amended = Vec::new();
    for (rid, rev) in &new.results {
        match old.results.get(rid) {
            None => added.push(rid.clone()),
            Some(old_rev) if old_rev != rev => amended.push(Amended {
                result_id: rid.clone().into(),
                from_revision: *old_rev,
                to_revision: *rev,
            }),
            Some(_) => {}
        }
    }
    let withdrawn: Vec<String> = old
        .results
        .keys()
        .filter(|rid| !new.results.contains_key(*rid))
        .cloned()
        .collect();
    let mut flipped = Vec::new();
    let names: std::collections::BTreeSet<&String> = new.criteria.keys().chain(old.criteria.keys()).collect();
    for name in names {
        let (a, b) = (old.criteria.get(name).copied(), new.criteria.get(name).copied());
        if a != b {
            flipped.push(CriterionFlip {
                criterion: name.clone(),
                from_met: a,
                to_met: b,
            });
        }
    }
    let totals = DiffTotals {
        cells_changed: cells.len() as i64,
        results_added: added.len() as i64,
        results_amended: amended.len() as i64,
        results_withdrawn: withdrawn.len() as i64,
    };
    Ok(PackDiff {
        review_pack_id: to.id,
        against_id: from.id,
        cells_changed: capped(cells),
        results_added: capped(added),
        results_amended: capped(amended),
        results_withdrawn: capped(withdrawn),
        criteria_flipped: flipped,
        readiness_met: ReadinessChange {
            from: from.readiness_met,
            to: to.readiness_met,
        },
        totals,
    })
}
