//! Coverage suggestions: the window's unclaimed in-scope sets ranked by what each would add,
//! prevalence first, then the firmware versions and (Comms Hub firmware, device firmware) pairs
//! that no claimed or tested set covers yet, recomputed after each pick (greedy marginal gain).
//!
//! "Tested" comes from the reader's grid (`matrix::model::grid`), which applies the visibility
//! rule: results the reader may not see change nothing, so the ranking tells no one of another
//! organisation's private results. Claims are industry-visible.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use utoipa::ToSchema;

use super::greedy::{self, Cover};
use crate::catalogue::model::DeviceType;
use crate::db::{DeviceSetId, FirmwareId, WindowId};
use crate::matrix::model::{Grid, Row};

/// A pair no claimed or tested set covers yet.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NewPair {
    #[schema(value_type = String)]
    pub comms_hub_firmware_id: FirmwareId,
    #[schema(value_type = String)]
    pub device_firmware_id: FirmwareId,
    /// "Toshiba CH2 3.0 + EDMI Atlas ES-10 1.4.2".
    pub label: String,
}

/// A firmware version no claimed or tested set covers yet.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NewVersion {
    #[schema(value_type = String)]
    pub firmware_id: FirmwareId,
    /// "EDMI Atlas ES-10 1.4.2".
    pub label: String,
}

/// One suggested set and what it would add.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Suggestion {
    /// 1 for the best.
    pub rank: usize,
    #[schema(value_type = String)]
    pub device_set_id: DeviceSetId,
    pub name: String,
    pub prevalence: i64,
    /// Its prevalence as a share of the scope's, 0 to 1.
    pub share_of_scope: f64,
    /// Versions it adds to what is claimed, tested or suggested above it.
    pub new_versions: Vec<NewVersion>,
    /// Pairs it adds likewise.
    pub new_pairs: Vec<NewPair>,
    /// One sentence: how much prevalence, which new versions and pairs.
    pub reason: String,
}

/// The suggestions for a window, as the reader sees its evidence.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Suggestions {
    #[schema(value_type = String)]
    pub window_id: WindowId,
    /// Whether the window has an explicit scope (else the implied one is ranked).
    pub explicit_scope: bool,
    /// How many unclaimed sets of the scope were ranked.
    pub candidates: usize,
    pub items: Vec<Suggestion>,
}

/// The grid's sets as interned firmware: versions and (hub, device) pairs per row.
struct Coverage<'a> {
    rows: &'a [Row],
    versions: Vec<Vec<u32>>,
    pairs: Vec<Vec<u64>>,
    covered_versions: HashSet<u32>,
    covered_pairs: HashSet<u64>,
}

impl Coverage<'_> {
    /// Covers what the claimed sets and the sets with a visible result other than `not_run` hold.
    fn cover_known(&mut self) {
        for i in 0..self.rows.len() {
            let row = &self.rows[i];
            if row.lead_org_id.is_some() || row.cells.values().any(|c| c.tested()) {
                self.pick(i);
            }
        }
    }

    fn new_versions(&self, i: usize) -> impl Iterator<Item = u32> + '_ {
        self.versions[i]
            .iter()
            .copied()
            .filter(|v| !self.covered_versions.contains(v))
    }

    fn new_pairs(&self, i: usize) -> impl Iterator<Item = u64> + '_ {
        self.pairs[i]
            .iter()
            .copied()
            .filter(|p| !self.covered_pairs.contains(p))
    }
}

impl Cover for Coverage<'_> {
    /// Prevalence, then the versions and pairs added.
    type Gain = (i64, usize);

    fn gain(&self, i: usize) -> Option<(i64, usize)> {
        Some((
            self.rows[i].prevalence,
            self.new_versions(i).count() + self.new_pairs(i).count(),
        ))
    }

    fn pick(&mut self, i: usize) {
        self.covered_versions.extend(self.versions[i].iter().copied());
        self.covered_pairs.extend(self.pairs[i].iter().copied());
    }
}

/// Per row its versions and pairs; the labels `(firmware id, label)` by firmware index.
type Interned = (Vec<Vec<u32>>, Vec<Vec<u64>>, Vec<(FirmwareId, String)>);

/// Each row's firmware as one index space over the grid's members (the scope's and those of
/// sets outside it): versions (hub first) and (hub, device) pairs; the labels by index.
fn intern(grid: &Grid) -> Interned {
    let mut index: HashMap<&str, u32> = HashMap::new();
    let mut labels: Vec<(FirmwareId, String)> = Vec::new();
    // Per members source, its firmware's index here (u32::MAX until seen).
    let mut local: Vec<Vec<u32>> = grid
        .members
        .iter()
        .map(|m| vec![u32::MAX; m.firmware_count()])
        .collect();
    let mut versions = Vec::with_capacity(grid.rows.len());
    let mut pairs = Vec::with_capacity(grid.rows.len());
    for row in &grid.rows {
        let mut ids: Vec<u32> = Vec::new();
        // A set without a Comms Hub (its first member in reading order) has no composition.
        if let Some((n, firmware)) = grid.members_of(&row.device_set_id).filter(|&(n, f)| {
            f.first()
                .is_some_and(|&i| grid.members[n].member(i).device_type == DeviceType::Chf)
        }) {
            let members = &grid.members[n];
            for &f in firmware {
                if local[n][f as usize] == u32::MAX {
                    let m = members.member(f);
                    local[n][f as usize] = *index.entry(m.firmware_id.as_str()).or_insert_with(|| {
                        labels.push((m.firmware_id.clone(), m.label()));
                        labels.len() as u32 - 1
                    });
                }
                ids.push(local[n][f as usize]);
            }
        }
        pairs.push(match ids.split_first() {
            Some((&hub, devices)) => devices.iter().map(|&d| (u64::from(hub) << 32) | u64::from(d)).collect(),
            None => Vec::new(),
        });
        versions.push(ids);
    }
    (versions, pairs, labels)
}

/// Ranks the unclaimed in-scope sets of `grid`, at most `limit`.
pub fn rank(grid: &Grid, explicit_scope: bool, limit: usize) -> Suggestions {
    let rows = &grid.rows;
    let (versions, pairs, labels) = intern(grid);
    let mut cover = Coverage {
        rows,
        versions,
        pairs,
        covered_versions: HashSet::new(),
        covered_pairs: HashSet::new(),
    };
    cover.cover_known();
    let candidates: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].in_scope && rows[i].lead_org_id.is_none())
        .collect();
    let scope_prevalence: i64 = rows.iter().filter(|r| r.in_scope).map(|r| r.prevalence).sum();
    let picks = greedy::pick(&mut cover, candidates.iter().copied(), limit);
    // Replay the picks from the claimed and tested cover to say what each adds.
    let mut replay = Coverage {
        rows,
        versions: std::mem::take(&mut cover.versions),
        pairs: std::mem::take(&mut cover.pairs),
        covered_versions: HashSet::new(),
        covered_pairs: HashSet::new(),
    };
    replay.cover_known();
    let items = picks
        .into_iter()
        .enumerate()
        .map(|(n, i)| {
            let s = suggestion(&replay, &labels, i, n + 1, scope_prevalence);
            replay.pick(i);
            s
        })
        .collect();
    Suggestions {
        window_id: grid.window.id.clone(),
        explicit_scope,
        candidates: candidates.len(),
        items,
    }
}

fn suggestion(cover: &Coverage<'_>, labels: &[(FirmwareId, String)], i: usize, rank: usize, total: i64) -> Suggestion {
    let row = &cover.rows[i];
    let new_versions: Vec<NewVersion> = cover
        .new_versions(i)
        .map(|v| NewVersion {
            firmware_id: labels[v as usize].0.clone(),
            label: labels[v as usize].1.clone(),
        })
        .collect();
    let new_pairs: Vec<NewPair> = cover
        .new_pairs(i)
        .map(|p| {
            let (hub, device) = (&labels[(p >> 32) as usize], &labels[(p & 0xffff_ffff) as usize]);
            NewPair {
                comms_hub_firmware_id: hub.0.clone(),
                device_firmware_id: device.0.clone(),
                label: format!("{} + {}", hub.1, device.1),
            }
        })
        .collect();
    let share = if total > 0 {
        row.prevalence as f64 / total as f64
    } else {
        0.0
    };
    let adds = match (new_versions.is_empty(), new_pairs.is_empty()) {
        (true, true) => "adds no version or pair that is not already claimed or tested".to_string(),
        _ => {
            let v: Vec<&str> = new_versions.iter().map(|v| v.label.as_str()).collect();
            format!(
                "adds {} new firmware version(s){}{} and {} new pair(s)",
                new_versions.len(),
                if v.is_empty() { "" } else { ": " },
                v.join(", "),
                new_pairs.len()
            )
        }
    };
    Suggestion {
        rank,
        reason: format!(
            "{} installed ({:.1}% of the scope); {adds}",
            row.prevalence,
            share * 100.0
        ),
        device_set_id: row.device_set_id.clone(),
        name: row.name.clone(),
        prevalence: row.prevalence,
        share_of_scope: share,
        new_versions,
        new_pairs,
    }
}
