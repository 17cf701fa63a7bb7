//! The names an email shows instead of ids, loaded for a batch of changes at once.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;

use crate::db::schema::{organisations, releases, uit_windows};
use crate::db::{DbConn, OrgId};
use crate::notifications::email::Change;

/// The names an email shows for a change's ids.
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// The organisation that made the change; none for the clock's own events.
    pub actor_org: Option<String>,
    pub release: Option<String>,
    pub window: Option<String>,
}

/// Fills in the names of `changes` (acting organisations, windows and their releases,
/// releases) in three queries.
pub fn name_all<'a>(conn: &mut DbConn, changes: impl Iterator<Item = &'a mut Change>) -> QueryResult<()> {
    let changes: Vec<&mut Change> = changes.collect();
    let ids = |pick: &dyn Fn(&Change) -> Option<String>| -> Vec<String> {
        let set: HashSet<String> = changes.iter().filter_map(|c| pick(c)).collect();
        set.into_iter().collect()
    };
    let org_ids = ids(&|c| c.actor_org_id.as_ref().map(OrgId::to_string));
    let window_ids = ids(&|c| window_of(c).map(str::to_string));
    let orgs: HashMap<String, String> = organisations::table
        .filter(organisations::id.eq_any(&org_ids))
        .select((organisations::id, organisations::name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let windows: HashMap<String, (String, String)> = uit_windows::table
        .filter(uit_windows::id.eq_any(&window_ids))
        .select((uit_windows::id, uit_windows::name, uit_windows::release_id))
        .load::<(String, String, String)>(conn)?
        .into_iter()
        .map(|(id, name, release)| (id, (name, release)))
        .collect();
    let mut release_ids =
        ids(&|c| matches!(c.entity_type.as_str(), "release" | "release_deployment").then(|| c.entity_id.clone()));
    release_ids.extend(windows.values().map(|(_, release)| release.clone()));
    let release_names: HashMap<String, String> = releases::table
        .filter(releases::id.eq_any(&release_ids))
        .select((releases::id, releases::name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    for change in changes {
        change.names.actor_org = change
            .actor_org_id
            .as_ref()
            .and_then(|id| orgs.get(id.as_str()).cloned());
        match change.entity_type.as_str() {
            "uit_window" | "uit_issue" | "results" | "claim" => {
                if let Some((name, release)) = window_of(change).and_then(|w| windows.get(w)) {
                    change.names.window = Some(name.clone());
                    change.names.release = release_names.get(release).cloned();
                }
            }
            "release" | "release_deployment" => change.names.release = release_names.get(&change.entity_id).cloned(),
            _ => {}
        }
    }
    Ok(())
}

/// The UIT window a change is about or within: the window itself, or a UIT issue's window.
fn window_of(change: &Change) -> Option<&str> {
    match change.entity_type.as_str() {
        "uit_window" => Some(&change.entity_id),
        "uit_issue" | "results" | "claim" => change.details.get("uit_window_id").and_then(|w| w.as_str()),
        _ => None,
    }
}
