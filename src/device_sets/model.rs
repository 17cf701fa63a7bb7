//! Device sets: rows, membership checks and queries.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::composition::{self, Composition};
use crate::catalogue::model::{DeviceType, FirmwareStatus};
use crate::db::schema::{device_models as dm, device_set_members as dsm, device_sets as ds, firmware_versions as fw};
use crate::db::{DbConn, DeviceModelId, DeviceSetId, FirmwareId, OrgId};
use crate::http::validate::Validator;
use crate::http::ApiError;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = ds)]
pub struct DeviceSetRow {
    pub id: DeviceSetId,
    pub name: String,
    pub membership_key: String,
    pub comms_hub_firmware_id: FirmwareId,
    pub prevalence: i64,
    pub created_by_org_id: OrgId,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
}

/// The largest prevalence a set may declare: the GB estate is tens of millions of homes, so
/// this leaves room while keeping sums of many sets far from any integer limit.
pub const MAX_PREVALENCE: i64 = 100_000_000;

/// A Comms Hub firmware plus the firmware of the devices on the same home area network.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeviceSet {
    #[schema(value_type = String)]
    pub id: DeviceSetId,
    pub name: String,
    #[schema(value_type = String)]
    pub comms_hub_firmware_id: FirmwareId,
    /// Every member, the Comms Hub firmware included, sorted.
    #[schema(value_type = Vec<String>)]
    pub firmware_ids: Vec<FirmwareId>,
    /// What the set is: the Comms Hub firmware and each device's type, manufacturer, model
    /// and firmware version.
    pub composition: Composition,
    /// How many such combinations are deployed (0 to 100,000,000).
    #[schema(maximum = 100_000_000, minimum = 0)]
    pub prevalence: i64,
    #[schema(value_type = String)]
    pub created_by_org_id: OrgId,
    pub created_by_org_name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl DeviceSet {
    fn new(r: DeviceSetRow, firmware_ids: Vec<FirmwareId>, composition: Composition, org_name: String) -> Self {
        Self {
            id: r.id,
            name: r.name,
            comms_hub_firmware_id: r.comms_hub_firmware_id,
            firmware_ids,
            composition,
            prevalence: r.prevalence,
            created_by_org_id: r.created_by_org_id,
            created_by_org_name: org_name,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

/// 422 on `field` unless `prevalence` is within 0..=MAX_PREVALENCE.
pub fn check_prevalence(v: &mut Validator, field: &str, prevalence: i64) {
    if prevalence < 0 {
        v.error(field, "must not be negative");
    } else if prevalence > MAX_PREVALENCE {
        v.error(field, "must be at most 100000000 (the GB estate is tens of millions)");
    }
}

/// The identity of a membership: its sorted, de-duplicated firmware ids.
pub fn membership_key<T: Ord + Clone + std::borrow::Borrow<str>>(firmware_ids: &[T]) -> String {
    let mut ids = firmware_ids.to_vec();
    ids.sort();
    ids.dedup();
    ids.join(",")
}

/// Checks a membership: every firmware exists and is not withdrawn, exactly one is a Comms
/// Hub (CHF) firmware and at least one is not. Returns the Comms Hub firmware id.
pub fn check_membership(conn: &mut DbConn, firmware_ids: &[FirmwareId]) -> Result<FirmwareId, ApiError> {
    if firmware_ids.len() < 2 || firmware_ids.len() > 50 {
        return Err(ApiError::invalid_field(
            "firmware_ids",
            "must list between 2 and 50 firmware versions",
        ));
    }
    let mut v = Validator::new();
    let mut seen = std::collections::HashSet::new();
    for (i, id) in firmware_ids.iter().enumerate() {
        if !seen.insert(id) {
            v.error(&format!("firmware_ids[{i}]"), "is listed twice");
        }
    }
    let found: Vec<(FirmwareId, DeviceType, FirmwareStatus)> = fw::table
        .inner_join(dm::table)
        .filter(fw::id.eq_any(firmware_ids))
        .select((fw::id, dm::device_type, fw::status))
        .load(conn)?;
    for (i, id) in firmware_ids.iter().enumerate() {
        match found.iter().find(|(fid, _, _)| fid == id) {
            None => v.error(&format!("firmware_ids[{i}]"), "no such firmware"),
            Some((_, _, FirmwareStatus::Withdrawn)) => v.error(&format!("firmware_ids[{i}]"), "is withdrawn"),
            Some(_) => {}
        }
    }
    let hubs: Vec<&FirmwareId> = found
        .iter()
        .filter(|(_, t, _)| *t == DeviceType::Chf)
        .map(|(id, _, _)| id)
        .collect();
    if hubs.len() != 1 {
        v.error(
            "firmware_ids",
            format!(
                "must contain exactly one Comms Hub (CHF) firmware; found {}",
                hubs.len()
            ),
        );
    }
    if found.iter().all(|(_, t, _)| *t == DeviceType::Chf) {
        v.error(
            "firmware_ids",
            "must contain at least one device firmware besides the Comms Hub",
        );
    }
    v.finish()?;
    Ok(hubs[0].clone())
}

pub fn find_by_key(conn: &mut DbConn, key: &str) -> QueryResult<Option<String>> {
    ds::table
        .filter(ds::membership_key.eq(key))
        .select(ds::id)
        .first(conn)
        .optional()
}

pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<DeviceSetRow>> {
    ds::table
        .find(id)
        .select(DeviceSetRow::as_select())
        .first(conn)
        .optional()
}

pub fn insert(conn: &mut DbConn, row: &DeviceSetRow, firmware_ids: &[FirmwareId]) -> QueryResult<()> {
    diesel::insert_into(ds::table).values(row).execute(conn)?;
    // Row by row: multi-row inserts are not available through the two-backend connection,
    // and a set has at most 50 members.
    for firmware in firmware_ids {
        diesel::insert_into(dsm::table)
            .values((dsm::device_set_id.eq(&row.id), dsm::firmware_id.eq(firmware)))
            .execute(conn)?;
    }
    Ok(())
}

pub fn update(conn: &mut DbConn, row: &DeviceSetRow) -> QueryResult<bool> {
    let n = diesel::update(ds::table.find(&row.id).filter(ds::version.eq(row.version)))
        .set((
            ds::name.eq(&row.name),
            ds::prevalence.eq(row.prevalence),
            ds::updated_at.eq(crate::db::now()),
            ds::version.eq(row.version + 1),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Attaches members, compositions and organisation names to rows: three queries for the
/// whole page.
pub fn with_members(conn: &mut DbConn, rows: Vec<DeviceSetRow>) -> QueryResult<Vec<DeviceSet>> {
    let ids: Vec<DeviceSetId> = rows.iter().map(|r| r.id.clone()).collect();
    let mut compositions = composition::load(conn, &ids)?;
    let mut org_ids: Vec<&OrgId> = rows.iter().map(|r| &r.created_by_org_id).collect();
    org_ids.sort();
    org_ids.dedup();
    let orgs = crate::organisations::model::names_of(conn, org_ids)?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let composition = compositions.remove(&r.id)?;
            let mut firmware: Vec<FirmwareId> = std::iter::once(&composition.comms_hub)
                .chain(&composition.devices)
                .map(|m| m.firmware_id.clone())
                .collect();
            firmware.sort();
            let org_name = orgs.get(&r.created_by_org_id).cloned().unwrap_or_default();
            Some(DeviceSet::new(r, firmware, composition, org_name))
        })
        .collect())
}

pub struct SetFilter {
    pub firmware_id: Option<FirmwareId>,
    pub device_model_id: Option<DeviceModelId>,
    pub min_prevalence: Option<i64>,
}

pub fn list(conn: &mut DbConn, f: SetFilter, after: Option<String>, limit: i64) -> QueryResult<Vec<DeviceSetRow>> {
    let mut q = ds::table.select(DeviceSetRow::as_select()).into_boxed();
    if let Some(firmware) = f.firmware_id {
        q = q.filter(
            ds::id.eq_any(
                dsm::table
                    .filter(dsm::firmware_id.eq(firmware))
                    .select(dsm::device_set_id),
            ),
        );
    }
    if let Some(model) = f.device_model_id {
        let sets = dsm::table
            .inner_join(fw::table)
            .filter(fw::device_model_id.eq(model))
            .select(dsm::device_set_id);
        q = q.filter(ds::id.eq_any(sets));
    }
    if let Some(min) = f.min_prevalence {
        q = q.filter(ds::prevalence.ge(min));
    }
    if let Some(after) = after {
        q = q.filter(ds::id.gt(after));
    }
    q.order(ds::id.asc()).limit(limit).load(conn)
}
crate::audit::audited!(DeviceSet, "device_set", id, owner = created_by_org_id);
crate::http::idempotency::located!(DeviceSet, "/api/v1/device-sets", id);
