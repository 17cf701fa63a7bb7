//! What a window's grid is drawn on, the same for every reader: the window, its scenarios, the
//! sets in its scope with their members, and the leads. Built once per global grid version
//! (`super::versions`) and kept, so a grid after a result write reads only the counts; the
//! sets' compositions are made from the members the first time a reader shows them.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::db::{DbConn, DeviceSetId, OrgId, WindowId};
use crate::device_sets::composition::{Composition, Members};
use crate::http::ApiError;
use crate::windows::model::WindowRow;

#[derive(Clone, QueryableByName)]
pub(super) struct SetRow {
    #[diesel(sql_type = Text)]
    pub id: DeviceSetId,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = BigInt)]
    pub prevalence: i64,
}

#[derive(QueryableByName)]
struct LeadRow {
    #[diesel(sql_type = Text)]
    device_set_id: DeviceSetId,
    #[diesel(sql_type = Text)]
    org_id: OrgId,
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

const LEADS: &str = "SELECT c.device_set_id, c.org_id, o.name AS org_name FROM claims c
    JOIN organisations o ON o.id = c.org_id WHERE c.window_id = $1";

/// A window's frame: the window, its scenarios and their titles, the sets in its scope with
/// their members, and the leads.
pub(super) struct Frame {
    pub window: WindowRow,
    pub scenarios: Vec<String>,
    pub scenario_titles: BTreeMap<String, String>,
    pub sets: Vec<SetRow>,
    /// Set id to (organisation id, organisation name).
    pub leads: HashMap<DeviceSetId, (OrgId, String)>,
    /// The members of `sets`.
    pub members: Arc<Members>,
    compositions: OnceLock<HashMap<DeviceSetId, Arc<Composition>>>,
}

impl Frame {
    /// The compositions of `sets`, made from `members` on first use.
    pub fn compositions(&self) -> &HashMap<DeviceSetId, Arc<Composition>> {
        self.compositions.get_or_init(|| {
            self.sets
                .iter()
                .filter_map(|s| Some((s.id.clone(), Arc::new(self.members.composition(&s.id)?))))
                .collect()
        })
    }
}

/// Frames kept: the few windows being looked at.
const FRAMES: usize = 4;

/// The kept frames, most recently used last, by window id and global version. Window ids are
/// unique across databases (UUIDv7), so one process serving several (the tests) cannot mix
/// them up.
static FRAME_CACHE: std::sync::Mutex<Vec<(WindowId, i64, Arc<Frame>)>> = std::sync::Mutex::new(Vec::new());

/// The frame of `window_id` at the current global version: kept, or built and kept.
pub(super) fn frame(conn: &mut DbConn, window_id: &WindowId) -> Result<Arc<Frame>, ApiError> {
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
    let started = std::time::Instant::now();
    let window = crate::windows::model::find(conn, window_id)?.ok_or_else(ApiError::not_found)?;
    let scenarios = crate::windows::model::scenarios_of(conn, std::slice::from_ref(&window.id))?
        .remove(&window.id)
        .unwrap_or_default();
    let sets: Vec<SetRow> = diesel::sql_query(SCOPE)
        .bind::<Text, _>(&window.release_id)
        .bind::<Text, _>(&window.id)
        .load(conn)?;
    let leads: HashMap<DeviceSetId, (OrgId, String)> = diesel::sql_query(LEADS)
        .bind::<Text, _>(&window.id)
        .load::<LeadRow>(conn)?
        .into_iter()
        .map(|l| (l.device_set_id, (l.org_id, l.org_name)))
        .collect();
    let scoped = started.elapsed();
    let set_ids: Vec<DeviceSetId> = sets.iter().map(|s| s.id.clone()).collect();
    // The window's previous frame, at an older version: its sets' members are still theirs.
    let previous = FRAME_CACHE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .find(|(w, _, _)| w == window_id)
        .map(|(_, _, f)| f.members.clone());
    let members = Arc::new(Members::load_reusing(conn, &set_ids, previous.as_deref())?);
    tracing::debug!(
        window_id = window_id.as_str(),
        sets = sets.len(),
        scope_ms = scoped.as_millis() as u64,
        members_ms = (started.elapsed() - scoped).as_millis() as u64,
        "grid frame built"
    );
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
        members,
        compositions: OnceLock::new(),
    });
    let mut kept = FRAME_CACHE.lock().unwrap_or_else(|p| p.into_inner());
    kept.retain(|(w, _, _)| w != window_id);
    kept.push((window_id.clone(), global, frame.clone()));
    if kept.len() > FRAMES {
        kept.remove(0);
    }
    Ok(frame)
}
