//! Defect masks: rows, API types and queries.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::schema::{defect_mask_adoptions as dma, defect_mask_firmware as dmf, defect_masks as dm};
use crate::db::DbConn;

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
    /// Where a known defect stands. Failures matched by a mask that is not `withdrawn` count
    /// as known issues.
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
    pub id: String,
    pub code: String,
    pub title: String,
    pub description: String,
    pub severity: String,
    pub device_model_id: String,
    pub symptom: String,
    pub workaround: String,
    pub status: String,
    pub fixed_in_firmware_id: Option<String>,
    pub owner_org_id: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
}

/// A known defect that everyone can match failures against.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DefectMask {
    pub id: String,
    #[schema(example = "DM-0042")]
    pub code: String,
    pub title: String,
    pub description: String,
    pub severity: Severity,
    pub device_model_id: String,
    pub affected_firmware_ids: Vec<String>,
    pub symptom: String,
    pub workaround: String,
    pub status: MaskStatus,
    pub fixed_in_firmware_id: Option<String>,
    /// The publishing organisation.
    pub owner_org_id: String,
    /// How many organisations follow the mask.
    pub adoption_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl MaskRow {
    pub fn status(&self) -> MaskStatus {
        MaskStatus::parse(&self.status).unwrap_or(MaskStatus::Open)
    }
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
    let ids: Vec<&String> = rows.iter().map(|r| &r.id).collect();
    let firmware: Vec<(String, String)> = dmf::table
        .filter(dmf::defect_mask_id.eq_any(&ids))
        .select((dmf::defect_mask_id, dmf::firmware_id))
        .order((dmf::defect_mask_id, dmf::firmware_id))
        .load(conn)?;
    let adoptions: Vec<(String, i64)> = dma::table
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
            severity: Severity::parse(&r.severity).unwrap_or(Severity::Minor),
            status: r.status(),
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
    pub device_model_id: Option<String>,
    pub firmware_id: Option<String>,
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
        q = q.filter(dm::status.eq(status.as_str()));
    }
    if let Some(after) = after {
        q = q.filter(dm::id.gt(after));
    }
    q.order(dm::id.asc()).limit(limit).load(conn)
}

pub fn replace_firmware(conn: &mut DbConn, mask_id: &str, firmware: &[String]) -> QueryResult<()> {
    diesel::delete(dmf::table.filter(dmf::defect_mask_id.eq(mask_id))).execute(conn)?;
    for f in firmware {
        diesel::insert_into(dmf::table)
            .values((dmf::defect_mask_id.eq(mask_id), dmf::firmware_id.eq(f)))
            .execute(conn)?;
    }
    Ok(())
}

/// Of `ids`, the masks that exist.
pub fn existing(conn: &mut DbConn, ids: &[String]) -> QueryResult<Vec<String>> {
    dm::table.filter(dm::id.eq_any(ids)).select(dm::id).load(conn)
}
