//! Where a product's firmware stands in the estate: its live versions (N, `deployed`, and the
//! `previous` ones not yet retired), the upgrade path from any version to N (one OTA hop by
//! rule, several only by exception), and the products with more than two live versions, the
//! fragmentation the seed papers want reduced ("Production Comms Hubs will either be operating
//! ... Version N or ... Version N-1"; "A single OTA upgrade will bring the CH to the latest
//! firmware version, with multiple hops only considered by exception").

use std::collections::{HashMap, HashSet, VecDeque};

use actix_web::{get, web, HttpResponse};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::model::{self, DeviceModelRow, DeviceType, Firmware, FirmwareRow, FirmwareStatus};
use crate::auth::Caller;
use crate::db::schema::{device_models as dm, firmware_upgrade_paths as up, firmware_versions as fw};
use crate::db::{DbConn, DeviceModelId, FirmwareId, OrgId};
use crate::http::responses::*;
use crate::http::seam::read_json;
use crate::http::ApiError;
use crate::AppState;

/// The statuses of a version still in the field.
pub const LIVE: [FirmwareStatus; 2] = [FirmwareStatus::Deployed, FirmwareStatus::Previous];

/// More live versions than this is fragmentation.
pub const LIVE_LIMIT: usize = 2;

/// A product's live versions, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveVersions {
    #[schema(value_type = String)]
    pub device_model_id: DeviceModelId,
    /// Newest first: N (`deployed`), then the `previous` versions not yet retired.
    pub versions: Vec<Firmware>,
    /// True when more than two versions are live (N and N-1 is the rule).
    pub fragmented: bool,
}

/// One OTA upgrade: from a version to another of the same product.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Hop {
    pub from_id: String,
    #[schema(example = "1.3.0")]
    pub from_version: String,
    pub to_id: String,
    #[schema(example = "1.4.2")]
    pub to_version: String,
}

/// How a version reaches its product's current N.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpgradePath {
    #[schema(value_type = String)]
    pub firmware_id: FirmwareId,
    pub version: String,
    /// The product's current N (its `deployed` version); null when none is deployed.
    pub target_id: Option<String>,
    pub target_version: Option<String>,
    /// The upgrades in order: none when the version is N, one by rule, more by exception.
    pub hops: Vec<Hop>,
    /// True when N cannot be reached in a single approved hop but can in several.
    pub exception: bool,
    /// False when no chain of approved upgrades leads to N (or nothing is deployed).
    pub reachable: bool,
}

/// A product with more than two live versions.
#[derive(Debug, Serialize, ToSchema)]
pub struct FragmentedProduct {
    #[schema(value_type = String)]
    pub device_model_id: DeviceModelId,
    #[schema(value_type = String)]
    pub manufacturer_org_id: OrgId,
    pub device_type: DeviceType,
    pub name: String,
    pub hardware_version: String,
    /// Newest first.
    pub live_versions: Vec<LiveVersion>,
}

/// A live version, briefly.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveVersion {
    pub id: String,
    pub version: String,
    pub status: FirmwareStatus,
}

/// The estate's fragmentation: every product with more than two live versions.
#[derive(Debug, Serialize, ToSchema)]
pub struct Fragmentation {
    /// Most live versions first, then by name.
    pub products: Vec<FragmentedProduct>,
}

/// The live versions of `model_id`, newest first.
pub fn live_rows(conn: &mut DbConn, model_ids: &[&str]) -> QueryResult<Vec<FirmwareRow>> {
    fw::table
        .filter(fw::device_model_id.eq_any(model_ids))
        .filter(fw::status.eq_any(LIVE))
        .order((fw::device_model_id, fw::version_key.desc()))
        .select(FirmwareRow::as_select())
        .load(conn)
}

fn live_versions(conn: &mut DbConn, model_id: &DeviceModelId) -> Result<LiveVersions, ApiError> {
    let product: DeviceModelRow = model::find_model(conn, model_id)?.ok_or_else(ApiError::not_found)?;
    let rows = live_rows(conn, &[model_id])?;
    let versions = model::firmware_views(conn, rows, &product)?;
    Ok(LiveVersions {
        device_model_id: product.id,
        fragmented: versions.len() > LIVE_LIMIT,
        versions,
    })
}

/// The shortest chain of approved upgrades from `from` to the product's deployed version
/// (breadth first over `firmware_upgrade_paths`, within the product).
pub fn upgrade_path(conn: &mut DbConn, id: &str) -> Result<UpgradePath, ApiError> {
    let start = model::find_firmware(conn, id)?.ok_or_else(ApiError::not_found)?;
    let versions: Vec<FirmwareRow> = fw::table
        .filter(fw::device_model_id.eq(&start.device_model_id))
        .select(FirmwareRow::as_select())
        .load(conn)?;
    let ids: Vec<&str> = versions.iter().map(|v| v.id.as_str()).collect();
    let edges: Vec<(String, String)> = up::table
        .filter(up::firmware_id.eq_any(&ids))
        .select((up::from_firmware_id, up::firmware_id))
        .load(conn)?;
    let by_id: HashMap<&str, &FirmwareRow> = versions.iter().map(|v| (v.id.as_str(), v)).collect();
    let target = versions.iter().find(|v| v.status == FirmwareStatus::Deployed);
    let chain = target.and_then(|t| shortest(&edges, &start.id, &t.id));
    let hops: Vec<Hop> = chain
        .as_deref()
        .unwrap_or_default()
        .windows(2)
        .map(|w| Hop {
            from_id: w[0].clone(),
            from_version: by_id.get(w[0].as_str()).map(|v| v.version.clone()).unwrap_or_default(),
            to_id: w[1].clone(),
            to_version: by_id.get(w[1].as_str()).map(|v| v.version.clone()).unwrap_or_default(),
        })
        .collect();
    Ok(UpgradePath {
        exception: hops.len() > 1,
        reachable: chain.is_some(),
        hops,
        target_id: target.map(|t| t.id.to_string()),
        target_version: target.map(|t| t.version.clone()),
        firmware_id: start.id,
        version: start.version,
    })
}

/// The shortest chain of ids from `from` to `to` over `(from, to)` edges, both ends included.
fn shortest(edges: &[(String, String)], from: &str, to: &str) -> Option<Vec<String>> {
    let mut before: HashMap<&str, &str> = HashMap::new();
    let mut seen: HashSet<&str> = HashSet::from([from]);
    let mut queue = VecDeque::from([from]);
    while let Some(at) = queue.pop_front() {
        if at == to {
            let mut chain = vec![to.to_string()];
            let mut cur = to;
            while let Some(prev) = before.get(cur) {
                chain.push(prev.to_string());
                cur = prev;
            }
            chain.reverse();
            return Some(chain);
        }
        for (a, b) in edges.iter().filter(|(a, _)| a == at) {
            if seen.insert(b.as_str()) {
                before.insert(b.as_str(), a.as_str());
                queue.push_back(b.as_str());
            }
        }
    }
    None
}

fn fragmentation(conn: &mut DbConn) -> Result<Fragmentation, ApiError> {
    let counts: Vec<(String, i64)> = fw::table
        .filter(fw::status.eq_any(LIVE))
        .group_by(fw::device_model_id)
        .having(diesel::dsl::count_star().gt(LIVE_LIMIT as i64))
        .select((fw::device_model_id, diesel::dsl::count_star()))
        .load(conn)?;
    let ids: Vec<&str> = counts.iter().map(|(id, _)| id.as_str()).collect();
    let products: Vec<DeviceModelRow> = dm::table
        .filter(dm::id.eq_any(&ids))
        .select(DeviceModelRow::as_select())
        .load(conn)?;
    let mut live: HashMap<DeviceModelId, Vec<LiveVersion>> = HashMap::new();
    for r in live_rows(conn, &ids)? {
        live.entry(r.device_model_id).or_default().push(LiveVersion {
            id: r.id.into_string(),
            version: r.version,
            status: r.status,
        });
    }
    let mut out: Vec<FragmentedProduct> = products
        .into_iter()
        .map(|p| FragmentedProduct {
            live_versions: live.remove(&p.id).unwrap_or_default(),
            device_model_id: p.id,
            manufacturer_org_id: p.manufacturer_org_id,
            device_type: p.device_type,
            name: p.name,
            hardware_version: p.hardware_version,
        })
        .collect();
    out.sort_by(|a, b| {
        b.live_versions
            .len()
            .cmp(&a.live_versions.len())
            .then(a.name.cmp(&b.name))
    });
    Ok(Fragmentation { products: out })
}

/// A product's live versions
///
/// N (`deployed`) and the `previous` versions not yet retired, newest first; `fragmented` when
/// more than two are live.
#[utoipa::path(
    tag = "catalogue",
    operation_id = "getLiveVersions",
    params(("id" = String, Path, description = "Device model id")),
    responses(
        (status = 200, description = "The live versions", body = LiveVersions),
        (status = 404, response = NotFound),
    ),
    security(("bearer" = []))
)]
#[get("/device-models/{id}/live-versions")]
pub async fn get_live_versions(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<DeviceModelId>,
) -> Result<HttpResponse, ApiError> {
    read_json(&state.db, caller, move |conn, _ctx| live_versions(conn, &path)).await
}

/// How a version upgrades to N
///
/// The shortest chain of approved single-hop upgrades (`upgrade_from`) from this version to its
/// product's `deployed` version: one hop by rule; `exception` when only several lead there;
/// `reachable` false when none does or nothing is deployed.
#[utoipa::path(
    tag = "catalogue",
    operation_id = "getUpgradePath",
    params(("id" = String, Path, description = "Firmware id")),
    responses(
        (status = 200, description = "The upgrade path", body = UpgradePath),
        (status = 404, response = NotFound),
    ),
    security(("bearer" = []))
)]
#[get("/firmware/{id}/upgrade-path")]
pub async fn get_upgrade_path(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<FirmwareId>,
) -> Result<HttpResponse, ApiError> {
    read_json(&state.db, caller, move |conn, _ctx| upgrade_path(conn, &path)).await
}

/// Products with more than two live versions
///
/// Across the estate: every product with more than N and N-1 live, most live versions first.
#[utoipa::path(
    tag = "catalogue",
    operation_id = "getFragmentation",
    responses((status = 200, description = "The fragmented products", body = Fragmentation)),
    security(("bearer" = []))
)]
#[get("/catalogue/fragmentation")]
pub async fn get_fragmentation(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let view = state.db.read_as(caller, move |conn, _ctx| fragmentation(conn)).await?;
    Ok(HttpResponse::Ok().json(view))
}

#[cfg(test)]
mod tests {
    use super::shortest;

    fn e(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn the_shortest_chain_of_upgrades_wins() {
        let edges = e(&[("1.0", "1.1"), ("1.1", "1.2"), ("1.2", "2.0"), ("1.1", "2.0")]);
        assert_eq!(shortest(&edges, "1.0", "2.0").unwrap(), ["1.0", "1.1", "2.0"]);
        assert_eq!(shortest(&edges, "1.2", "2.0").unwrap(), ["1.2", "2.0"]);
        assert_eq!(shortest(&edges, "2.0", "2.0").unwrap(), ["2.0"]);
        assert!(shortest(&edges, "2.0", "1.0").is_none());
    }
}
