//! What a result's ids mean, for the people reading it: names beside ids, the defect masks
//! that make a failure a known issue, and on request the device set's composition. Filled for
//! a whole page in a fixed number of queries.

use std::collections::HashMap;

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::{Outcome, TestResult};
use crate::db::schema::{device_sets, organisations, scenarios};
use crate::db::{DbConn, DeviceSetId, ResultId};
use crate::defect_masks::model::{explaining, MaskRef};
use crate::device_sets::composition::{summaries, DeviceSetSummary, Embed};

/// Names beside a result's ids, whether it is a known issue, and (on request) its device set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct ResultContext {
    pub org_name: String,
    pub device_set_name: String,
    pub scenario_title: String,
    /// A failure explained by a defect mask that applies to its device set (counted as
    /// `known_issue` in the matrix). Describes the current result, not earlier revisions.
    pub known_issue: bool,
    /// Of the cited defect masks, those that explain the failure: not withdrawn, and the set
    /// holds one of their affected firmware versions (or, for a mask naming none, firmware of
    /// their device model).
    pub known_issue_masks: Vec<MaskRef>,
    /// The device set's name, prevalence and composition; only with `?embed=device_set`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_set: Option<DeviceSetSummary>,
}

fn names<I: Ord, T: Iterator<Item = I>>(ids: T) -> Vec<I> {
    let mut v: Vec<I> = ids.collect();
    v.sort();
    v.dedup();
    v
}

/// Fills the context of a page of results.
pub fn describe(conn: &mut DbConn, items: &mut [TestResult], embed: Option<Embed>) -> QueryResult<()> {
    if items.is_empty() {
        return Ok(());
    }
    let org_ids = names(items.iter().map(|r| r.org_id.to_string()));
    let set_ids = names(items.iter().map(|r| r.device_set_id.clone()));
    let codes = names(items.iter().map(|r| r.scenario.clone()));
    // Only a failure that cites masks can be a known issue: the others need no query (the
    // known-issue query cannot be kept prepared, and PostgreSQL plans it afresh each time).
    let result_ids: Vec<ResultId> = items
        .iter()
        .filter(|r| r.outcome == Outcome::Fail && !r.defect_mask_ids.is_empty())
        .map(|r| r.id.clone())
        .collect();
    let mut orgs: HashMap<String, String> = HashMap::new();
    for chunk in org_ids.chunks(500) {
        orgs.extend(
            organisations::table
                .filter(organisations::id.eq_any(chunk))
                .select((organisations::id, organisations::name))
                .load::<(String, String)>(conn)?,
        );
    }
    let titles: HashMap<String, String> = scenarios::table
        .filter(scenarios::code.eq_any(&codes))
        .select((scenarios::code, scenarios::title))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let mut sets: HashMap<DeviceSetId, String> = HashMap::new();
    let mut embedded = HashMap::new();
    if embed == Some(Embed::DeviceSet) {
        embedded = summaries(conn, &set_ids)?;
        sets.extend(embedded.values().map(|s| (s.id.clone(), s.name.clone())));
    } else {
        for chunk in set_ids.chunks(500) {
            sets.extend(
                device_sets::table
                    .filter(device_sets::id.eq_any(chunk))
                    .select((device_sets::id, device_sets::name))
                    .load::<(DeviceSetId, String)>(conn)?,
            );
        }
    }
    let masks = explaining(conn, &result_ids)?;
    for r in items {
        let known_issue_masks = masks.get(&r.id).cloned().unwrap_or_default();
        r.context = ResultContext {
            org_name: orgs.get(r.org_id.as_str()).cloned().unwrap_or_default(),
            device_set_name: sets.get(&r.device_set_id).cloned().unwrap_or_default(),
            scenario_title: titles.get(&r.scenario).cloned().unwrap_or_default(),
            known_issue: !known_issue_masks.is_empty(),
            known_issue_masks,
            device_set: embedded.get(&r.device_set_id).cloned(),
        };
    }
    Ok(())
}
