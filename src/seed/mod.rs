//! Data for trying the portal (`seed-demo`) and for benchmarks (`seed-scale`), written with
//! plain multi-row INSERTs that both backends accept.

pub mod activity;
pub mod demo;
pub mod scale;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db::DbConn;

/// A quoted SQL string literal.
pub fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

pub fn ts(t: NaiveDateTime) -> String {
    q(&t.format("%Y-%m-%d %H:%M:%S%.6f").to_string())
}

pub fn date(d: NaiveDate) -> String {
    q(&d.format("%Y-%m-%d").to_string())
}

pub fn opt(v: Option<String>) -> String {
    v.unwrap_or_else(|| "NULL".into())
}

/// Inserts `rows` (each a parenthesised tuple of literals) in chunks.
pub fn insert_rows(conn: &mut DbConn, table: &str, columns: &str, rows: &[String]) -> QueryResult<()> {
    for chunk in rows.chunks(500) {
        diesel::sql_query(format!("INSERT INTO {table} ({columns}) VALUES {}", chunk.join(","))).execute(conn)?;
    }
    Ok(())
}

/// Inserts windows' scenarios (`(window_id, scenario_code, position)` tuples) and participants
/// (`(window_id, org_id, joined_at, joined_by_user_id)` tuples).
pub fn insert_window_rows(conn: &mut DbConn, scenarios: &[String], participants: &[String]) -> QueryResult<()> {
    insert_rows(
        conn,
        "window_scenarios",
        "window_id, scenario_code, position",
        scenarios,
    )?;
    insert_rows(
        conn,
        "window_participants",
        "window_id, org_id, joined_at, joined_by_user_id",
        participants,
    )
}

/// A small deterministic generator, so seeded estates are the same on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(2685821657736338717)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

pub const ORG_COLUMNS: &str = "id, name, slug, kind, created_at, updated_at, version";
pub const MODEL_COLUMNS: &str =
    "id, manufacturer_org_id, device_type, name, hardware_version, cpl_listed, created_at, updated_at, version";
pub const FIRMWARE_COLUMNS: &str = "id, device_model_id, version, version_key, status, released_on, retirement_date, \
     successor_id, ota_upgradable, notes, created_at, updated_at, row_version";
pub const SET_COLUMNS: &str =
    "id, name, membership_key, comms_hub_firmware_id, prevalence, created_by_org_id, created_at, updated_at, version";
pub const MEMBER_COLUMNS: &str = "device_set_id, firmware_id";

pub fn org_row(id: &str, name: &str, slug: &str, kind: &str, now: NaiveDateTime) -> String {
    format!(
        "({}, {}, {}, {}, {}, {}, 1)",
        q(id),
        q(name),
        q(slug),
        q(kind),
        ts(now),
        ts(now)
    )
}

pub fn model_row(id: &str, org: &str, device_type: &str, name: &str, hw: &str, now: NaiveDateTime) -> String {
    format!(
        "({}, {}, {}, {}, {}, TRUE, {}, {}, 1)",
        q(id),
        q(org),
        q(device_type),
        q(name),
        q(hw),
        ts(now),
        ts(now)
    )
}

pub struct FirmwareSeed<'a> {
    pub id: &'a str,
    pub model: &'a str,
    pub version: &'a str,
    pub status: &'a str,
    pub released_on: Option<NaiveDate>,
    pub retirement_date: Option<NaiveDate>,
    pub successor: Option<&'a str>,
}

pub fn firmware_row(f: &FirmwareSeed<'_>, now: NaiveDateTime) -> String {
    format!(
        "({}, {}, {}, {}, {}, {}, {}, {}, TRUE, '', {}, {}, 1)",
        q(f.id),
        q(f.model),
        q(f.version),
        q(&crate::catalogue::version::sort_key(f.version)),
        q(f.status),
        opt(f.released_on.map(date)),
        opt(f.retirement_date.map(date)),
        opt(f.successor.map(q)),
        ts(now),
        ts(now)
    )
}

/// A device set row and its member rows.
pub fn set_rows(
    id: &str,
    name: &str,
    hub: &str,
    members: &[String],
    prevalence: i64,
    org: &str,
    now: NaiveDateTime,
) -> (String, Vec<String>) {
    let mut sorted = members.to_vec();
    sorted.sort();
    let set = format!(
        "({}, {}, {}, {}, {prevalence}, {}, {}, {}, 1)",
        q(id),
        q(name),
        q(&sorted.join(",")),
        q(hub),
        q(org),
        ts(now),
        ts(now)
    );
    let member_rows = sorted.iter().map(|f| format!("({}, {})", q(id), q(f))).collect();
    (set, member_rows)
}
