//! Checking result items against the database before a write: windows, scenarios, device
//! sets and masks that exist, in a handful of set-based queries whatever the number of items,
//! every problem named with its item's position.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::model::{chunked, unique, ResultInput};
use crate::db::schema::{device_sets, uit_windows, window_scenarios as ws};
use crate::db::{now, DbConn, DefectMaskId, DeviceSetId, WindowId};
use crate::http::{ApiError, FieldError};

/// A problem with one item of a write: its position, the field and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemError {
    pub index: usize,
    pub field: String,
    pub message: String,
}

/// Item errors as field errors: `items[i].field` (or `field` when `prefix` is empty).
pub fn field_errors(errors: Vec<ItemError>, prefix: &str) -> Vec<FieldError> {
    errors
        .into_iter()
        .map(|e| FieldError {
            field: if prefix.is_empty() {
                e.field
            } else {
                format!("{prefix}[{}].{}", e.index, e.field)
            },
            message: e.message,
        })
        .collect()
}

/// Checks items against the database with a handful of set-based queries (not one per item);
/// returns every problem with the item's position.
pub fn validate(conn: &mut DbConn, items: &[ResultInput]) -> Result<Vec<ItemError>, ApiError> {
    let window_ids: Vec<WindowId> = unique(items.iter().map(|i| i.uit_window_id.clone()));
    let set_ids: Vec<DeviceSetId> = unique(items.iter().map(|i| i.device_set_id.clone()));
    let mask_ids: Vec<DefectMaskId> = unique(items.iter().flat_map(|i| i.defect_mask_ids.clone().unwrap_or_default()));
    let windows: HashMap<WindowId, Option<NaiveDateTime>> = chunked(&window_ids, |chunk| {
        uit_windows::table
            .filter(uit_windows::id.eq_any(chunk))
            .select((uit_windows::id, uit_windows::cancelled_at))
            .load::<(WindowId, Option<NaiveDateTime>)>(conn)
    })?
    .into_iter()
    .collect();
    let scenarios: HashSet<(WindowId, String)> = chunked(&window_ids, |chunk| {
        ws::table
            .filter(ws::window_id.eq_any(chunk))
            .select((ws::window_id, ws::scenario_code))
            .load(conn)
    })?
    .into_iter()
    .collect();
    let sets: HashSet<DeviceSetId> = chunked(&set_ids, |chunk| {
        device_sets::table
            .filter(device_sets::id.eq_any(chunk))
            .select(device_sets::id)
            .load(conn)
    })?
    .into_iter()
    .collect();
    let masks: HashSet<DefectMaskId> = chunked(&mask_ids, |chunk| crate::defect_masks::model::existing(conn, chunk))?
        .into_iter()
        .collect();

    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let mut error = |name: &str, message: &str| {
            errors.push(ItemError {
                index: i,
                field: name.to_string(),
                message: message.into(),
            })
        };
        match windows.get(&item.uit_window_id) {
            None => error("uit_window_id", "no such UIT window"),
            Some(Some(_)) => error("uit_window_id", "the window is cancelled"),
            Some(None) if !scenarios.contains(&(item.uit_window_id.clone(), item.scenario.clone())) => {
                error("scenario", "is not one of the window's scenarios")
            }
            Some(None) => {}
        }
        if !sets.contains(&item.device_set_id) {
            error("device_set_id", "no such device set");
        }
        let item_masks = item.defect_mask_ids.as_deref().unwrap_or_default();
        for (m, id) in item_masks.iter().enumerate() {
            if !masks.contains(id) {
                error(&format!("defect_mask_ids[{m}]"), "no such defect mask");
            }
        }
        if item_masks.len() > 20 {
            error("defect_mask_ids", "at most 20 defect masks");
        }
        if item.notes.as_ref().is_some_and(|n| n.chars().count() > 4000) {
            error("notes", "must be at most 4000 characters");
        }
        if item
            .external_ref
            .as_ref()
            .is_some_and(|e| e.as_ref().is_some_and(|e| e.chars().count() > 200))
        {
            error("external_ref", "must be at most 200 characters");
        }
        if item
            .executed_at
            .flatten()
            .is_some_and(|t| t.naive_utc() > now() + chrono::Duration::hours(24))
        {
            error("executed_at", "must not be in the future");
        }
        if !seen.insert(item.key()) {
            error(
                "scenario",
                "the same window, device set and scenario appear twice in this request",
            );
        }
    }
    Ok(errors)
}
