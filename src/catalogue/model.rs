//! Device models and firmware versions: enums, lifecycle rules, rows and queries.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::version;
use crate::db::schema::{device_models as dm, firmware_upgrade_paths as up, firmware_versions as fw, organisations};
use crate::db::{now, DbConn, DeviceModelId, FirmwareId, OrgId};
use crate::http::ApiError;
use crate::http::ErrorCode;

crate::text_enum!(
    /// The kind of smart-metering device.
    DeviceType {
        Esme => "ESME",
        Gsme => "GSME",
        Chf => "CHF",
        Gpf => "GPF",
        Ppmid => "PPMID",
        Hcalcs => "HCALCS",
        Ihd => "IHD",
        Cad => "CAD",
    }
);

crate::text_enum!(
    /// Where a firmware version is in its life.
    FirmwareStatus {
        Planned => "planned",
        InTest => "in_test",
        Approved => "approved",
        Deployed => "deployed",
        Previous => "previous",
        Retired => "retired",
        Withdrawn => "withdrawn",
    }
);

impl FirmwareStatus {
    /// The states a version may move to next: one step along
    /// planned -> in_test -> approved -> deployed -> previous -> retired, or withdrawn
    /// from anything before retired.
    pub fn allowed_next(self) -> Vec<FirmwareStatus> {
        use FirmwareStatus::*;
        let step = match self {
            Planned => Some(InTest),
            InTest => Some(Approved),
            Approved => Some(Deployed),
            Deployed => Some(Previous),
            Previous => Some(Retired),
            Retired | Withdrawn => None,
        };
        let mut next: Vec<_> = step.into_iter().collect();
        if !matches!(self, Retired | Withdrawn) {
            next.push(Withdrawn);
        }
        next
    }

    /// 422 naming the allowed next states unless `to` is one of them.
    pub fn check_move(self, to: FirmwareStatus) -> Result<(), ApiError> {
        let allowed = self.allowed_next();
        if allowed.contains(&to) {
            return Ok(());
        }
        let names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
        let detail = if names.is_empty() {
            format!("Firmware in {self} is final; it cannot move to {to}.")
        } else {
            format!(
                "Firmware in {self} cannot move to {to}; it can move to {}.",
                names.join(" or ")
            )
        };
        Err(ApiError::unprocessable(ErrorCode::IllegalStatusMove, detail)
            .with_context(serde_json::json!({ "current": self, "requested": to, "allowed": allowed })))
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = dm)]
pub struct DeviceModelRow {
    pub id: DeviceModelId,
    pub manufacturer_org_id: OrgId,
    pub device_type: DeviceType,
    pub name: String,
    pub hardware_version: String,
    pub cpl_listed: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
}

/// A product: one device model of one manufacturer (or Comms Hub service provider).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeviceModel {
    #[schema(value_type = String)]
    pub id: DeviceModelId,
    #[schema(value_type = String)]
    pub manufacturer_org_id: OrgId,
    pub device_type: DeviceType,
    pub name: String,
    pub hardware_version: String,
    /// Listed on the Certified Products List.
    pub cpl_listed: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<DeviceModelRow> for DeviceModel {
    fn from(r: DeviceModelRow) -> Self {
        Self {
            device_type: r.device_type,
            id: r.id,
            manufacturer_org_id: r.manufacturer_org_id,
            name: r.name,
            hardware_version: r.hardware_version,
            cpl_listed: r.cpl_listed,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = fw)]
pub struct FirmwareRow {
    pub id: FirmwareId,
    pub device_model_id: DeviceModelId,
    pub version: String,
    pub version_key: String,
    pub status: FirmwareStatus,
    pub released_on: Option<NaiveDate>,
    pub retirement_date: Option<NaiveDate>,
    pub successor_id: Option<String>,
    pub ota_upgradable: bool,
    pub notes: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub row_version: i64,
}

/// A firmware version of a product.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Firmware {
    #[schema(value_type = String)]
    pub id: FirmwareId,
    #[schema(value_type = String)]
    pub device_model_id: DeviceModelId,
    pub device_type: DeviceType,
    #[schema(value_type = String)]
    pub manufacturer_org_id: OrgId,
    #[schema(example = "3.10.2")]
    pub version: String,
    pub status: FirmwareStatus,
    pub released_on: Option<NaiveDate>,
    pub retirement_date: Option<NaiveDate>,
    /// The version that replaces this one (a later version of the same product).
    pub successor_id: Option<String>,
    pub ota_upgradable: bool,
    /// Versions that upgrade to this one in a single hop.
    pub upgrade_from: Vec<String>,
    pub notes: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Firmware {
    pub fn new(r: FirmwareRow, model: &DeviceModelRow, upgrade_from: Vec<String>) -> Self {
        Self {
            status: r.status,
            id: r.id,
            device_model_id: r.device_model_id,
            device_type: model.device_type,
            manufacturer_org_id: model.manufacturer_org_id.clone(),
            version: r.version,
            released_on: r.released_on,
            retirement_date: r.retirement_date,
            successor_id: r.successor_id,
            ota_upgradable: r.ota_upgradable,
            upgrade_from,
            notes: r.notes,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

pub fn find_model(conn: &mut DbConn, id: &str) -> QueryResult<Option<DeviceModelRow>> {
    dm::table
        .find(id)
        .select(DeviceModelRow::as_select())
        .first(conn)
        .optional()
}

pub fn org_kind(conn: &mut DbConn, org_id: &OrgId) -> QueryResult<Option<String>> {
    organisations::table
        .find(org_id)
        .select(organisations::kind)
        .first(conn)
        .optional()
}

pub fn existing_model(conn: &mut DbConn, org: &OrgId, name: &str, hw: &str) -> QueryResult<Option<DeviceModelId>> {
    dm::table
        .filter(
            dm::manufacturer_org_id
                .eq(org)
                .and(dm::name.eq(name))
                .and(dm::hardware_version.eq(hw)),
        )
        .select(dm::id)
        .first(conn)
        .optional()
}

pub fn list_models(
    conn: &mut DbConn,
    device_type: Option<DeviceType>,
    manufacturer: Option<OrgId>,
    after: Option<String>,
    limit: i64,
) -> QueryResult<Vec<DeviceModelRow>> {
    let mut q = dm::table.select(DeviceModelRow::as_select()).into_boxed();
    if let Some(t) = device_type {
        q = q.filter(dm::device_type.eq(t));
    }
    if let Some(m) = manufacturer {
        q = q.filter(dm::manufacturer_org_id.eq(m));
    }
    if let Some(after) = after {
        q = q.filter(dm::id.gt(after));
    }
    q.order(dm::id.asc()).limit(limit).load(conn)
}

pub fn insert_model(conn: &mut DbConn, row: &DeviceModelRow) -> QueryResult<()> {
    diesel::insert_into(dm::table).values(row).execute(conn).map(|_| ())
}

/// Saves name, hardware version and CPL listing when the row is still at its version.
pub fn update_model(conn: &mut DbConn, row: &DeviceModelRow) -> QueryResult<bool> {
    let n = diesel::update(dm::table.find(&row.id).filter(dm::version.eq(row.version)))
        .set((
            dm::name.eq(&row.name),
            dm::hardware_version.eq(&row.hardware_version),
            dm::cpl_listed.eq(row.cpl_listed),
            dm::updated_at.eq(now()),
            dm::version.eq(row.version + 1),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

pub fn find_firmware(conn: &mut DbConn, id: &str) -> QueryResult<Option<FirmwareRow>> {
    fw::table
        .find(id)
        .select(FirmwareRow::as_select())
        .first(conn)
        .optional()
}

/// A firmware version with its product.
pub fn find_firmware_with_model(conn: &mut DbConn, id: &str) -> QueryResult<Option<(FirmwareRow, DeviceModelRow)>> {
    fw::table
        .inner_join(dm::table)
        .filter(fw::id.eq(id))
        .select((FirmwareRow::as_select(), DeviceModelRow::as_select()))
        .first(conn)
        .optional()
}

pub fn upgrade_sources(conn: &mut DbConn, firmware_ids: &[FirmwareId]) -> QueryResult<Vec<(FirmwareId, String)>> {
    up::table
        .filter(up::firmware_id.eq_any(firmware_ids))
        .select((up::firmware_id, up::from_firmware_id))
        .order((up::firmware_id, up::from_firmware_id))
        .load(conn)
}

/// The API view of firmware rows of one product, with their upgrade paths.
pub fn firmware_views(conn: &mut DbConn, rows: Vec<FirmwareRow>, model: &DeviceModelRow) -> QueryResult<Vec<Firmware>> {
    let ids: Vec<FirmwareId> = rows.iter().map(|r| r.id.clone()).collect();
    let sources = upgrade_sources(conn, &ids)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let from = sources
                .iter()
                .filter(|(to, _)| *to == r.id)
                .map(|(_, from)| from.clone())
                .collect();
            Firmware::new(r, model, from)
        })
        .collect())
}

pub fn list_firmware(
    conn: &mut DbConn,
    model_id: &DeviceModelId,
    status: Option<FirmwareStatus>,
    after: Option<String>,
    limit: i64,
) -> QueryResult<Vec<FirmwareRow>> {
    let mut q = fw::table
        .filter(fw::device_model_id.eq(model_id))
        .select(FirmwareRow::as_select())
        .into_boxed();
    if let Some(s) = status {
        q = q.filter(fw::status.eq(s));
    }
    if let Some(after) = after {
        q = q.filter(fw::id.gt(after));
    }
    q.order(fw::id.asc()).limit(limit).load(conn)
}

pub fn version_taken(conn: &mut DbConn, model_id: &DeviceModelId, version: &str) -> QueryResult<Option<String>> {
    fw::table
        .filter(fw::device_model_id.eq(model_id).and(fw::version.eq(version)))
        .select(fw::id)
        .first(conn)
        .optional()
}

/// The product's current `deployed` version, other than `except`.
pub fn deployed_other_than(
    conn: &mut DbConn,
    model_id: &DeviceModelId,
    except: &str,
) -> QueryResult<Option<FirmwareRow>> {
    fw::table
        .filter(
            fw::device_model_id
                .eq(model_id)
                .and(fw::status.eq(FirmwareStatus::Deployed))
                .and(fw::id.ne(except)),
        )
        .select(FirmwareRow::as_select())
        .first(conn)
        .optional()
}

pub fn set_status(conn: &mut DbConn, id: &str, status: FirmwareStatus) -> QueryResult<()> {
    diesel::update(fw::table.find(id))
        .set((
            fw::status.eq(status),
            fw::updated_at.eq(now()),
            fw::row_version.eq(fw::row_version + 1),
        ))
        .execute(conn)
        .map(|_| ())
}

pub fn insert_firmware(conn: &mut DbConn, row: &FirmwareRow) -> QueryResult<()> {
    diesel::insert_into(fw::table).values(row).execute(conn).map(|_| ())
}

/// Saves every editable field when the row is still at its version.
pub fn update_firmware(conn: &mut DbConn, row: &FirmwareRow) -> QueryResult<bool> {
    let n = diesel::update(fw::table.find(&row.id).filter(fw::row_version.eq(row.row_version)))
        .set((
            fw::status.eq(&row.status),
            fw::released_on.eq(row.released_on),
            fw::retirement_date.eq(row.retirement_date),
            fw::successor_id.eq(&row.successor_id),
            fw::ota_upgradable.eq(row.ota_upgradable),
            fw::notes.eq(&row.notes),
            fw::updated_at.eq(now()),
            fw::row_version.eq(row.row_version + 1),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

pub fn replace_upgrade_paths(conn: &mut DbConn, firmware_id: &FirmwareId, from: &[String]) -> QueryResult<()> {
    diesel::delete(up::table.filter(up::firmware_id.eq(firmware_id))).execute(conn)?;
    for source in from {
        diesel::insert_into(up::table)
            .values((up::firmware_id.eq(firmware_id), up::from_firmware_id.eq(source)))
            .execute(conn)?;
    }
    Ok(())
}

/// Checks `successor_id` and `upgrade_from` against the product and version of `this`:
/// a successor is a later version of the same product; upgrade sources are earlier ones.
pub fn check_relations(
    conn: &mut DbConn,
    this_model: &DeviceModelId,
    this_version: &str,
    successor_id: Option<&str>,
    upgrade_from: Option<&[String]>,
) -> Result<(), ApiError> {
    let mut v = crate::http::validate::Validator::new();
    if let Some(successor) = successor_id {
        match find_firmware(conn, successor)? {
            Some(s) if s.device_model_id == this_model && version::is_later(&s.version, this_version) => {}
            Some(s) if s.device_model_id == this_model => v.error(
                "successor_id",
                format!("{} is not later than {this_version}", s.version),
            ),
            Some(_) => v.error("successor_id", "must be a version of the same product"),
            None => v.error("successor_id", "no such firmware"),
        }
    }
    for (i, source) in upgrade_from.unwrap_or_default().iter().enumerate() {
        let field = format!("upgrade_from[{i}]");
        match find_firmware(conn, source)? {
            Some(s) if s.device_model_id == this_model && version::is_later(this_version, &s.version) => {}
            Some(s) if s.device_model_id == this_model => {
                v.error(&field, format!("{} is not earlier than {this_version}", s.version))
            }
            Some(_) => v.error(&field, "must be a version of the same product"),
            None => v.error(&field, "no such firmware"),
        }
    }
    v.finish()
}

/// A new firmware row with defaults.
pub fn new_firmware_row(model_id: &DeviceModelId, version_text: &str, status: FirmwareStatus) -> FirmwareRow {
    let now = now();
    FirmwareRow {
        id: FirmwareId::new(),
        device_model_id: model_id.clone(),
        version: version_text.to_string(),
        version_key: version::sort_key(version_text),
        status,
        released_on: None,
        retirement_date: None,
        successor_id: None,
        ota_upgradable: true,
        notes: String::new(),
        created_at: now,
        updated_at: now,
        row_version: 1,
    }
}
crate::audit::audited!(DeviceModel, "device_model", id, owner = manufacturer_org_id);
crate::audit::audited!(Firmware, "firmware", id, owner = manufacturer_org_id);
crate::http::idempotency::located!(Firmware, "/api/v1/firmware", id);
crate::http::idempotency::located!(DeviceModel, "/api/v1/device-models", id);
