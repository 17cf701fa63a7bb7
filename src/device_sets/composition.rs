//! What a device set is, for people: its Comms Hub firmware and each device's type,
//! manufacturer, model and firmware version. Loaded for a whole page of sets in one query per
//! 500 sets, never one per row.

use std::collections::HashMap;

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::catalogue::model::DeviceType;
use crate::db::schema::{
    device_models as dm, device_set_members as dsm, device_sets as ds, firmware_versions as fw, organisations as o,
};
use crate::db::DbConn;

/// One firmware of a device set and the product it runs on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SetMember {
    pub device_type: DeviceType,
    pub manufacturer_org_id: String,
    #[schema(example = "EDMI")]
    pub manufacturer_name: String,
    pub device_model_id: String,
    #[schema(example = "Atlas ES-10")]
    pub model_name: String,
    pub hardware_version: String,
    pub firmware_id: String,
    #[schema(example = "1.4.2")]
    pub firmware_version: String,
}

impl SetMember {
    /// "EDMI Atlas ES-10 1.4.2".
    pub fn label(&self) -> String {
        format!(
            "{} {} {}",
            self.manufacturer_name, self.model_name, self.firmware_version
        )
    }
}

/// A device set's composition: the Comms Hub firmware and the devices on its home area network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Composition {
    pub comms_hub: SetMember,
    /// The other members, by device type (ESME, GSME, GPF, PPMID, HCALCS, IHD, CAD), then
    /// manufacturer, model and firmware version.
    pub devices: Vec<SetMember>,
    /// One line for people.
    #[schema(example = "CHF: Toshiba CH2 3.0 + ESME: EDMI Atlas ES-10 1.4.2")]
    pub summary: String,
}

impl Composition {
    /// The members of one device type, as labels (a set may hold two devices of one type).
    pub fn labels_of(&self, device_type: DeviceType) -> Vec<String> {
        std::iter::once(&self.comms_hub)
            .chain(&self.devices)
            .filter(|m| m.device_type == device_type)
            .map(SetMember::label)
            .collect()
    }

    fn new(mut members: Vec<SetMember>) -> Option<Self> {
        members.sort_by(|a, b| {
            rank(a.device_type)
                .cmp(&rank(b.device_type))
                .then_with(|| a.manufacturer_name.cmp(&b.manufacturer_name))
                .then_with(|| a.model_name.cmp(&b.model_name))
                .then_with(|| a.firmware_version.cmp(&b.firmware_version))
                .then_with(|| a.firmware_id.cmp(&b.firmware_id))
        });
        let hub = members.iter().position(|m| m.device_type == DeviceType::Chf)?;
        let comms_hub = members.remove(hub);
        let summary = std::iter::once(&comms_hub)
            .chain(&members)
            .map(|m| format!("{}: {}", m.device_type, m.label()))
            .collect::<Vec<_>>()
            .join(" + ");
        Some(Self {
            comms_hub,
            devices: members,
            summary,
        })
    }
}

/// Device types in the order people read a set: the hub first, then meters, then the rest.
pub const DEVICE_TYPE_ORDER: [DeviceType; 8] = [
    DeviceType::Chf,
    DeviceType::Esme,
    DeviceType::Gsme,
    DeviceType::Gpf,
    DeviceType::Ppmid,
    DeviceType::Hcalcs,
    DeviceType::Ihd,
    DeviceType::Cad,
];

fn rank(t: DeviceType) -> usize {
    DEVICE_TYPE_ORDER
        .iter()
        .position(|x| *x == t)
        .unwrap_or(DEVICE_TYPE_ORDER.len())
}

/// A member's product: (device type, device model id, manufacturer id).
pub type Product = (String, String, String);

/// The products of each set's members, keyed by set id: one [`Product`] per member, what subscription filters match a change about those sets
/// against. One query per 500 sets.
pub fn products(conn: &mut DbConn, set_ids: &[String]) -> QueryResult<HashMap<String, Vec<Product>>> {
    let mut out: HashMap<String, Vec<Product>> = HashMap::new();
    for chunk in set_ids.chunks(500) {
        let rows: Vec<(String, String, String, String)> = dsm::table
            .inner_join(fw::table.on(fw::id.eq(dsm::firmware_id)))
            .inner_join(dm::table.on(dm::id.eq(fw::device_model_id)))
            .filter(dsm::device_set_id.eq_any(chunk))
            .select((dsm::device_set_id, dm::device_type, dm::id, dm::manufacturer_org_id))
            .load(conn)?;
        for (set, device_type, model, maker) in rows {
            out.entry(set).or_default().push((device_type, model, maker));
        }
    }
    Ok(out)
}

type MemberTuple = (
    String,
    DeviceType,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
);

/// The compositions of `set_ids`, keyed by set id: one query per 500 sets.
pub fn load(conn: &mut DbConn, set_ids: &[String]) -> QueryResult<HashMap<String, Composition>> {
    let mut ids: Vec<&String> = set_ids.iter().collect();
    ids.sort();
    ids.dedup();
    let mut members: HashMap<String, Vec<SetMember>> = HashMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<MemberTuple> = dsm::table
            .inner_join(fw::table.on(fw::id.eq(dsm::firmware_id)))
            .inner_join(dm::table.on(dm::id.eq(fw::device_model_id)))
            .inner_join(o::table.on(o::id.eq(dm::manufacturer_org_id)))
            .filter(dsm::device_set_id.eq_any(chunk))
            .select((
                dsm::device_set_id,
                dm::device_type,
                dm::manufacturer_org_id,
                o::name,
                dm::id,
                dm::name,
                dm::hardware_version,
                fw::id,
                fw::version,
            ))
            .load(conn)?;
        for (set, device_type, maker_id, maker, model_id, model, hardware, firmware_id, version) in rows {
            members.entry(set).or_default().push(SetMember {
                device_type,
                manufacturer_org_id: maker_id,
                manufacturer_name: maker,
                device_model_id: model_id,
                model_name: model,
                hardware_version: hardware,
                firmware_id,
                firmware_version: version,
            });
        }
    }
    Ok(members
        .into_iter()
        .filter_map(|(set, m)| Composition::new(m).map(|c| (set, c)))
        .collect())
}

/// A device set named and described, for embedding beside a `device_set_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeviceSetSummary {
    pub id: String,
    pub name: String,
    pub prevalence: i64,
    pub composition: Composition,
}

/// Summaries of `set_ids` (names, prevalence and compositions) in two queries per 500 sets.
pub fn summaries(conn: &mut DbConn, set_ids: &[String]) -> QueryResult<HashMap<String, DeviceSetSummary>> {
    let mut compositions = load(conn, set_ids)?;
    let mut ids: Vec<&String> = set_ids.iter().collect();
    ids.sort();
    ids.dedup();
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<(String, String, i64)> = ds::table
            .filter(ds::id.eq_any(chunk))
            .select((ds::id, ds::name, ds::prevalence))
            .load(conn)?;
        for (id, name, prevalence) in rows {
            if let Some(composition) = compositions.remove(&id) {
                out.insert(
                    id.clone(),
                    DeviceSetSummary {
                        id,
                        name,
                        prevalence,
                        composition,
                    },
                );
            }
        }
    }
    Ok(out)
}

crate::text_enum!(
    /// What a response may embed on request (`?embed=`).
    Embed {
        DeviceSet => "device_set",
    }
);
