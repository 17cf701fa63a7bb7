//! The latest Deployed Products List in memory, for sampling: its sets with their installed
//! counts and members, and every firmware version with whether it is live. Four queries,
//! whatever the estate's size.

use std::collections::HashMap;

use chrono::NaiveDate;
use diesel::prelude::*;

use crate::catalogue::lifecycle::LIVE;
use crate::catalogue::model::{DeviceType, FirmwareStatus};
use crate::db::schema::{
    device_models as dm, device_set_members as dsm, device_set_prevalence as p, device_sets as ds,
    firmware_versions as fw,
};
use crate::db::{DbConn, DeviceModelId};

/// A set of the latest DPL.
pub struct EstateSet {
    pub id: String,
    pub installed: i64,
    /// Indexes into [`Estate::firmware`].
    pub members: Vec<u32>,
}

/// A firmware version of the catalogue.
pub struct Fw {
    pub device_model_id: DeviceModelId,
    /// "CHF 1.2.0 of Hub X".
    pub label: String,
    pub live: bool,
}

/// The latest DPL: its date, its sets (most installed first, then by id) and the catalogue's
/// firmware they index.
pub struct Estate {
    pub as_of: NaiveDate,
    pub sets: Vec<EstateSet>,
    pub firmware: Vec<Fw>,
}

impl Estate {
    /// The installed base of the latest DPL.
    pub fn total(&self) -> i64 {
        self.sets.iter().map(|s| s.installed).sum()
    }

    /// Installed counts by set id.
    pub fn counts(&self) -> Counts {
        Counts {
            as_of: Some(self.as_of),
            by_set: self.sets.iter().map(|s| (s.id.clone(), s.installed)).collect(),
            total: self.total(),
        }
    }
}

/// The installed counts of the latest DPL, by set.
#[derive(Default)]
pub struct Counts {
    pub as_of: Option<NaiveDate>,
    pub by_set: HashMap<String, i64>,
    pub total: i64,
}

impl Counts {
    /// What `set_ids` cover of the installed base: their sum, and its share (null without a DPL).
    pub fn cover<'a>(&self, set_ids: impl IntoIterator<Item = &'a str>) -> (i64, Option<f64>) {
        let covered: i64 = set_ids.into_iter().filter_map(|id| self.by_set.get(id)).sum();
        let share = (self.total > 0).then(|| covered as f64 / self.total as f64);
        (covered, share)
    }
}

/// The date of the latest DPL, if any was imported.
pub fn latest(conn: &mut DbConn) -> QueryResult<Option<NaiveDate>> {
    p::table.select(diesel::dsl::max(p::as_of)).first(conn)
}

/// The installed counts of the latest DPL (none without one).
pub fn counts(conn: &mut DbConn) -> QueryResult<Counts> {
    let Some(as_of) = latest(conn)? else {
        return Ok(Counts::default());
    };
    let by_set: HashMap<String, i64> = p::table
        .filter(p::as_of.eq(as_of))
        .select((p::device_set_id, p::installed_count))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect();
    let total = by_set.values().sum();
    Ok(Counts {
        as_of: Some(as_of),
        by_set,
        total,
    })
}

/// The latest DPL with its sets' members and the catalogue's firmware; `None` without a DPL.
pub fn load(conn: &mut DbConn) -> QueryResult<Option<Estate>> {
    let Some(as_of) = latest(conn)? else {
        return Ok(None);
    };
    let catalogue: Vec<(String, String, FirmwareStatus, DeviceModelId, DeviceType, String)> = fw::table
        .inner_join(dm::table)
        .select((fw::id, fw::version, fw::status, dm::id, dm::device_type, dm::name))
        .load(conn)?;
    let mut index: HashMap<String, u32> = HashMap::with_capacity(catalogue.len());
    let firmware: Vec<Fw> = catalogue
        .into_iter()
        .enumerate()
        .map(|(i, (id, version, status, model_id, device_type, model))| {
            index.insert(id, i as u32);
            Fw {
                device_model_id: model_id,
                label: format!("{device_type} {version} of {model}"),
                live: LIVE.contains(&status),
            }
        })
        .collect();
    let mut sets: Vec<EstateSet> = p::table
        .filter(p::as_of.eq(as_of))
        .select((p::device_set_id, p::installed_count))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .map(|(id, installed)| EstateSet {
            id,
            installed,
            members: Vec::new(),
        })
        .collect();
    sets.sort_by(|a, b| b.installed.cmp(&a.installed).then_with(|| a.id.cmp(&b.id)));
    let at: HashMap<&str, usize> = sets.iter().enumerate().map(|(i, s)| (s.id.as_str(), i)).collect();
    let members: Vec<(String, String)> = p::table
        .inner_join(ds::table.inner_join(dsm::table))
        .filter(p::as_of.eq(as_of))
        .select((dsm::device_set_id, dsm::firmware_id))
        .load(conn)?;
    let mut placed: Vec<Vec<u32>> = vec![Vec::new(); sets.len()];
    for (set, firmware_id) in members {
        if let (Some(&s), Some(&f)) = (at.get(set.as_str()), index.get(&firmware_id)) {
            placed[s].push(f);
        }
    }
    for (set, members) in sets.iter_mut().zip(placed) {
        set.members = members;
    }
    Ok(Some(Estate { as_of, sets, firmware }))
}
