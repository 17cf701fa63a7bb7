//! Writing an import's totals: per batch of memberships, in one write transaction each, the
//! device sets found by membership (`device_sets::model::membership_key`, the identity rule)
//! or registered, the installed counts as of the DPL date upserted into the history, and
//! `device_sets.prevalence` set to the count of each set's latest date. Every statement is
//! multi-row. Running a batch twice writes the same rows, so a job re-run after a crash, or
//! the same DPL imported again, changes nothing.

use std::collections::HashMap;

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Text, Timestamp};

use super::import::{progress, Progress, Total};
use super::model::{self, Counters, ImportRow};
use super::resolve::Catalogue;
use crate::db::schema::{device_set_prevalence as dsp, device_sets as ds};
use crate::db::sql::values_clause;
use crate::db::{new_id, now, write_tx, DbBackend, DbConn};
use crate::device_sets::model::membership_key;
use crate::http::ApiError;

/// Memberships per write transaction.
const BATCH: usize = 1000;

/// Writes every membership's total, batch by batch, counting into `counters`.
pub fn apply(
    conn: &mut DbConn,
    job: &ImportRow,
    catalogue: &Catalogue,
    totals: HashMap<Box<[u32]>, Total>,
    counters: &mut Counters,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<(), ApiError> {
    let mut totals: Vec<(Box<[u32]>, Total)> = totals.into_iter().collect();
    // In file order, so a set's name and creation order do not depend on hashing.
    totals.sort_unstable_by_key(|(_, t)| t.first_line);
    let sets_total = totals.len() as i64;
    for chunk in totals.chunks(BATCH) {
        write_tx(conn, |conn| {
            counters.sets_created += batch(conn, job, catalogue, chunk)?;
            counters.sets_recorded += chunk.len() as i64;
            model::progress(conn, &job.id, counters)?;
            Ok::<_, ApiError>(())
        })?;
        on_progress(&progress(counters, job, sets_total));
    }
    Ok(())
}

/// A device set this batch registers.
struct NewSet {
    id: String,
    name: String,
    key: String,
    hub: String,
    prevalence: i64,
    members: Vec<String>,
}

/// One batch: finds or registers the sets, records their counts; returns how many it
/// registered.
fn batch(
    conn: &mut DbConn,
    job: &ImportRow,
    catalogue: &Catalogue,
    chunk: &[(Box<[u32]>, Total)],
) -> Result<i64, ApiError> {
    let members: Vec<Vec<String>> = chunk
        .iter()
        .map(|(m, _)| m.iter().map(|i| catalogue.ids[*i as usize].clone()).collect())
        .collect();
    let keys: Vec<String> = members.iter().map(|ids| membership_key(ids)).collect();
    let mut found = set_ids(conn, &keys)?;
    let new: Vec<NewSet> = chunk
        .iter()
        .zip(&keys)
        .zip(members)
        .filter(|((_, key), _)| !found.contains_key(*key))
        .map(|(((m, total), key), members)| new_set(catalogue, m, total.count, key, members))
        .collect();
    let mut created = 0;
    if !new.is_empty() {
        insert_sets(conn, job, &new)?;
        let now_found = set_ids(conn, &new.iter().map(|s| s.key.clone()).collect::<Vec<_>>())?;
        // A set registered meanwhile by another writer (PostgreSQL) keeps its id and members.
        let ours: Vec<&NewSet> = new.iter().filter(|s| now_found.get(&s.key) == Some(&s.id)).collect();
        insert_members(conn, &ours)?;
        created = ours.len() as i64;
        found.extend(now_found);
    }
    let counts: Vec<(&str, i64)> = keys
        .iter()
        .zip(chunk)
        .filter_map(|(key, (_, total))| found.get(key).map(|id| (id.as_str(), total.count)))
        .collect();
    record_counts(conn, &job.id, job.as_of, &counts)?;
    let ids: Vec<&str> = counts.iter().map(|(id, _)| *id).collect();
    refresh_prevalence(conn, &ids)?;
    Ok(created)
}

/// The ids of the sets with these membership keys, by key.
fn set_ids(conn: &mut DbConn, keys: &[String]) -> QueryResult<HashMap<String, String>> {
    Ok(ds::table
        .filter(ds::membership_key.eq_any(keys))
        .select((ds::membership_key, ds::id))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect())
}

/// A set for a membership no set has: named after its members, hub first ("CH2 3.0 + Atlas
/// 1.4"), at most 200 characters like any set's name.
fn new_set(catalogue: &Catalogue, members: &[u32], count: i64, key: &str, ids: Vec<String>) -> NewSet {
    let hub = members
        .iter()
        .copied()
        .find(|i| catalogue.hubs[*i as usize])
        .unwrap_or(members[0]);
    let labels: Vec<&str> = std::iter::once(hub)
        .chain(members.iter().copied().filter(|i| *i != hub))
        .map(|i| catalogue.labels[i as usize].as_str())
        .collect();
    let mut name = labels.join(" + ");
    if name.chars().count() > 200 {
        name = name.chars().take(199).collect::<String>() + "…";
    }
    NewSet {
        id: new_id(),
        name,
        key: key.to_string(),
        hub: catalogue.ids[hub as usize].clone(),
        prevalence: count,
        members: ids,
    }
}

fn insert_sets(conn: &mut DbConn, job: &ImportRow, sets: &[NewSet]) -> QueryResult<()> {
    let at = now();
    let sql = format!(
        "INSERT INTO device_sets (id, name, membership_key, comms_hub_firmware_id, prevalence, \
         created_by_org_id, created_at, updated_at, version) VALUES {} ON CONFLICT (membership_key) DO NOTHING",
        values_clause(conn, sets.len(), 9, None)
    );
    let mut q = diesel::sql_query(sql).into_boxed::<DbBackend>();
    for s in sets {
        q = q
            .bind::<Text, _>(&s.id)
            .bind::<Text, _>(&s.name)
            .bind::<Text, _>(&s.key)
            .bind::<Text, _>(&s.hub)
            .bind::<BigInt, _>(s.prevalence)
            .bind::<Text, _>(&job.created_by_org_id)
            .bind::<Timestamp, _>(at)
            .bind::<Timestamp, _>(at)
            .bind::<BigInt, _>(1i64);
    }
    q.execute(conn)?;
    Ok(())
}

fn insert_members(conn: &mut DbConn, sets: &[&NewSet]) -> QueryResult<()> {
    let rows: Vec<(&str, &str)> = sets
        .iter()
        .flat_map(|s| s.members.iter().map(|m| (s.id.as_str(), m.as_str())))
        .collect();
    for chunk in rows.chunks(5000) {
        let sql = format!(
            "INSERT INTO device_set_members (device_set_id, firmware_id) VALUES {}",
            values_clause(conn, chunk.len(), 2, None)
        );
        let mut q = diesel::sql_query(sql).into_boxed::<DbBackend>();
        for (set, firmware) in chunk {
            q = q.bind::<Text, _>(*set).bind::<Text, _>(*firmware);
        }
        q.execute(conn)?;
    }
    Ok(())
}

/// Each set's installed count as of `as_of`; a later import for the same date replaces it.
fn record_counts(conn: &mut DbConn, import_id: &str, as_of: NaiveDate, counts: &[(&str, i64)]) -> QueryResult<()> {
    if counts.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO device_set_prevalence (device_set_id, as_of, installed_count, import_id) VALUES {} \
         ON CONFLICT (device_set_id, as_of) DO UPDATE SET installed_count = excluded.installed_count, \
         import_id = excluded.import_id",
        values_clause(conn, counts.len(), 4, None)
    );
    let mut q = diesel::sql_query(sql).into_boxed::<DbBackend>();
    for (set, count) in counts {
        q = q
            .bind::<Text, _>(*set)
            .bind::<Date, _>(as_of)
            .bind::<BigInt, _>(*count)
            .bind::<Text, _>(import_id);
    }
    q.execute(conn)?;
    Ok(())
}

/// Sets `device_sets.prevalence` of `ids` to the count of each one's latest DPL date, where it
/// differs (a changed set gets a new version, and so a new ETag).
fn refresh_prevalence(conn: &mut DbConn, ids: &[&str]) -> QueryResult<()> {
    let history: Vec<(String, NaiveDate, i64)> = dsp::table
        .filter(dsp::device_set_id.eq_any(ids))
        .select((dsp::device_set_id, dsp::as_of, dsp::installed_count))
        .load(conn)?;
    let mut latest: HashMap<String, (NaiveDate, i64)> = HashMap::with_capacity(ids.len());
    for (set, as_of, count) in history {
        let entry = latest.entry(set).or_insert((as_of, count));
        if as_of > entry.0 {
            *entry = (as_of, count);
        }
    }
    let current: Vec<(String, i64)> = ds::table
        .filter(ds::id.eq_any(ids))
        .select((ds::id, ds::prevalence))
        .load(conn)?;
    let changed: Vec<(String, i64)> = current
        .into_iter()
        .filter_map(|(id, prevalence)| {
            let (_, count) = *latest.get(&id)?;
            (count != prevalence).then_some((id, count))
        })
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "WITH v (id, prevalence, updated_at) AS (VALUES {}) \
         UPDATE device_sets SET prevalence = v.prevalence, updated_at = v.updated_at, \
         version = version + 1 FROM v WHERE device_sets.id = v.id",
        values_clause(conn, changed.len(), 3, None)
    );
    let at = now();
    let mut q = diesel::sql_query(sql).into_boxed::<DbBackend>();
    for (id, count) in &changed {
        q = q.bind::<Text, _>(id).bind::<BigInt, _>(*count).bind::<Timestamp, _>(at);
    }
    q.execute(conn)?;
    Ok(())
}
