//! Defect masks: rows, API types and queries.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::schema::{defect_mask_adoptions as dma, defect_mask_firmware as dmf, defect_masks as dm};
use crate::db::{DbConn, DefectMaskId, DeviceModelId, FirmwareId, OrgId, ResultId};

crate::text_enum!(
    /// How bad a known defect is.
    Severity {
        Critical => "critical",
        Major => "major",
        Minor => "minor",
        Cosmetic => "cosmetic",
    }
);

crate::text_enum!(
    /// Where a known defect stands. A failure citing a mask that is not `withdrawn` and
    /// concerns the result's device set (one of its affected firmware versions, or its device
    /// model when it names none) counts as a known issue.
    MaskStatus {
        Open => "open",
        Mitigated => "mitigated",
        Fixed => "fixed",
        Withdrawn => "withdrawn",
    }
);

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = dm)]
pub struct MaskRow {
    pub id: DefectMaskId,
    pub code: String,
    pub title: String,
    pub description: String,
    pub severity: Severity,
    pub device_model_id: DeviceModelId,
    pub symptom: String,
    pub workaround: String,
    pub status: MaskStatus,
    pub fixed_in_firmware_id: Option<FirmwareId>,
    pub owner_org_id: OrgId,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
}

/// A known defect that everyone can match failures against.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DefectMask {
    #[schema(value_type = String)]
    pub id: DefectMaskId,
    #[schema(example = "DM-0042")]
    pub code: String,
    pub title: String,
    pub description: String,
    pub severity: Severity,
    #[schema(value_type = String)]
    pub device_model_id: DeviceModelId,
    #[schema(value_type = Vec<String>)]
    pub affected_firmware_ids: Vec<FirmwareId>,
    pub symptom: String,
    pub workaround: String,
    pub status: MaskStatus,
    #[schema(value_type = Option<String>)]
    pub fixed_in_firmware_id: Option<FirmwareId>,
    /// The publishing organisation.
    #[schema(value_type = String)]
    pub owner_org_id: OrgId,
    /// How many organisations follow the mask.
    pub adoption_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<MaskRow>> {
    dm::table.find(id).select(MaskRow::as_select()).first(conn).optional()
}

pub fn code_taken(conn: &mut DbConn, code: &str) -> QueryResult<Option<String>> {
    dm::table
        .filter(dm::code.eq(code))
        .select(dm::id)
        .first(conn)
        .optional()
}

/// API views of rows, with affected firmware and adoption counts in two queries.
pub fn views(conn: &mut DbConn, rows: Vec<MaskRow>) -> QueryResult<Vec<DefectMask>> {
    let ids: Vec<&DefectMaskId> = rows.iter().map(|r| &r.id).collect();
    let firmware: Vec<(DefectMaskId, FirmwareId)> = dmf::table
        .filter(dmf::defect_mask_id.eq_any(&ids))
        .select((dmf::defect_mask_id, dmf::firmware_id))
        .order((dmf::defect_mask_id, dmf::firmware_id))
        .load(conn)?;
    let adoptions: Vec<(DefectMaskId, i64)> = dma::table
        .filter(dma::defect_mask_id.eq_any(&ids))
        .group_by(dma::defect_mask_id)
        .select((dma::defect_mask_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| DefectMask {
            affected_firmware_ids: firmware
                .iter()
                .filter(|(m, _)| *m == r.id)
                .map(|(_, f)| f.clone())
                .collect(),
            adoption_count: adoptions.iter().find(|(m, _)| *m == r.id).map(|(_, n)| *n).unwrap_or(0),
            severity: r.severity,
            status: r.status,
            id: r.id,
            code: r.code,
            title: r.title,
            description: r.description,
            device_model_id: r.device_model_id,
            symptom: r.symptom,
            workaround: r.workaround,
            fixed_in_firmware_id: r.fixed_in_firmware_id,
            owner_org_id: r.owner_org_id,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        })
        .collect())
}

pub struct MaskFilter {
    pub device_model_id: Option<DeviceModelId>,
    pub firmware_id: Option<FirmwareId>,
    pub status: Option<MaskStatus>,
}

pub fn list(conn: &mut DbConn, f: MaskFilter, after: Option<String>, limit: i64) -> QueryResult<Vec<MaskRow>> {
    let mut q = dm::table.select(MaskRow::as_select()).into_boxed();
    if let Some(model) = f.device_model_id {
        q = q.filter(dm::device_model_id.eq(model));
    }
    if let Some(firmware) = f.firmware_id {
        q = q.filter(
            dm::id.eq_any(
                dmf::table
                    .filter(dmf::firmware_id.eq(firmware))
                    .select(dmf::defect_mask_id),
            ),
        );
    }
    if let Some(status) = f.status {
        q = q.filter(dm::status.eq(status));
    }
    if let Some(after) = after {
        q = q.filter(dm::id.gt(after));
    }
    q.order(dm::id.asc()).limit(limit).load(conn)
}

pub fn replace_firmware(conn: &mut DbConn, mask_id: &DefectMaskId, firmware: &[FirmwareId]) -> QueryResult<()> {
    diesel::delete(dmf::table.filter(dmf::defect_mask_id.eq(mask_id))).execute(conn)?;
    for f in firmware {
        diesel::insert_into(dmf::table)
            .values((dmf::defect_mask_id.eq(mask_id), dmf::firmware_id.eq(f)))
            .execute(conn)?;
    }
    Ok(())
}

/// Saves the editable fields when the row is still at `row.version`; `false` when it moved on.
pub fn update(conn: &mut DbConn, row: &MaskRow) -> QueryResult<bool> {
    let n = diesel::update(dm::table.find(&row.id))
        .filter(dm::version.eq(row.version))
        .set((
            dm::title.eq(&row.title),
            dm::description.eq(&row.description),
            dm::severity.eq(&row.severity),
            dm::symptom.eq(&row.symptom),
            dm::workaround.eq(&row.workaround),
            dm::status.eq(&row.status),
            dm::fixed_in_firmware_id.eq(&row.fixed_in_firmware_id),
            dm::updated_at.eq(crate::db::now()),
            dm::version.eq(row.version + 1),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Of `ids`, the masks that exist.
pub fn existing(conn: &mut DbConn, ids: &[DefectMaskId]) -> QueryResult<Vec<DefectMaskId>> {
    dm::table.filter(dm::id.eq_any(ids)).select(dm::id).load(conn)
}

/// The one rule for when a defect mask explains a failure, as an SQL condition over the
/// unaliased `results` and `defect_masks` tables (the matrix and result reads both use it):
/// the mask is not withdrawn, and it concerns the result's device set: the set contains one
/// of the mask's affected firmware versions, or, for a mask that names no affected versions,
/// any firmware of the mask's device model. A mask of another product explains nothing.
pub const EXPLAINS_FAILURE: &str = "(defect_masks.status <> 'withdrawn' AND (
    EXISTS (SELECT 1 FROM defect_mask_firmware dmf_x
                JOIN device_set_members dsm_x ON dsm_x.firmware_id = dmf_x.firmware_id
            WHERE dmf_x.defect_mask_id = defect_masks.id AND dsm_x.device_set_id = results.device_set_id)
    OR (NOT EXISTS (SELECT 1 FROM defect_mask_firmware dmf_y WHERE dmf_y.defect_mask_id = defect_masks.id)
        AND EXISTS (SELECT 1 FROM device_set_members dsm_y
                        JOIN firmware_versions fw_y ON fw_y.id = dsm_y.firmware_id
                    WHERE dsm_y.device_set_id = results.device_set_id
                      AND fw_y.device_model_id = defect_masks.device_model_id))))";

/// A defect mask named by its code beside its id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize, ToSchema)]
pub struct MaskRef {
    #[schema(value_type = String)]
    pub id: DefectMaskId,
    #[schema(example = "DM-0042")]
    pub code: String,
}

/// Of the masks each failed result cites, those that explain it (`EXPLAINS_FAILURE`), keyed
/// by result id; results that are not failures or cite no applicable mask are absent.
pub fn explaining(
    conn: &mut DbConn,
    result_ids: &[ResultId],
) -> QueryResult<std::collections::HashMap<ResultId, Vec<MaskRef>>> {
    use crate::db::schema::{result_defect_masks as rdm, results as r};
    let mut out: std::collections::HashMap<ResultId, Vec<MaskRef>> = std::collections::HashMap::new();
    // No query for no results (`chunks` of an empty slice yields none).
    for chunk in result_ids.chunks(500) {
        let rows: Vec<(ResultId, DefectMaskId, String)> = rdm::table
            .inner_join(r::table.on(r::id.eq(rdm::result_id)))
            .inner_join(dm::table.on(dm::id.eq(rdm::defect_mask_id)))
            .filter(rdm::result_id.eq_any(chunk))
            .filter(r::outcome.eq(crate::results::model::Outcome::Fail))
            .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(EXPLAINS_FAILURE))
            .select((rdm::result_id, dm::id, dm::code))
            .load(conn)?;
        for (result, id, code) in rows {
            out.entry(result).or_default().push(MaskRef { id, code });
        }
    }
    for masks in out.values_mut() {
        masks.sort_by(|a, b| a.code.cmp(&b.code));
    }
    Ok(out)
}
crate::audit::audited!(DefectMask, "defect_mask", id, owner = owner_org_id);
crate::http::idempotency::located!(DefectMask, "/api/v1/defect-masks", id);
