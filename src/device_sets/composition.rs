//! What a device set is, for people: its Comms Hub firmware and each device's type,
//! manufacturer, model and firmware version. Loaded for a whole page of sets in one query per
//! 500 sets, never one per row.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::catalogue::model::DeviceType;
use crate::db::schema::{
    device_models as dm, device_set_members as dsm, device_sets as ds, firmware_versions as fw, organisations as o,
};
use crate::db::{DbConn, DeviceModelId, DeviceSetId, FirmwareId, OrgId};

/// One firmware of a device set and the product it runs on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SetMember {
    pub device_type: DeviceType,
    #[schema(value_type = String)]
    pub manufacturer_org_id: OrgId,
    #[schema(example = "EDMI")]
    pub manufacturer_name: String,
    #[schema(value_type = String)]
    pub device_model_id: DeviceModelId,
    #[schema(example = "Atlas ES-10")]
    pub model_name: String,
    pub hardware_version: String,
    #[schema(value_type = String)]
    pub firmware_id: FirmwareId,
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

    /// The composition of `members` already in [`reading_order`]: the first Comms Hub is the
    /// hub; `None` without one.
    fn ordered(mut members: Vec<SetMember>) -> Option<Self> {
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
pub type Product = (String, DeviceModelId, OrgId);

/// The products of each set's members, keyed by set id: one [`Product`] per member, what subscription filters match a change about those sets
/// against. One query per 500 sets.
pub fn products(conn: &mut DbConn, set_ids: &[DeviceSetId]) -> QueryResult<HashMap<DeviceSetId, Vec<Product>>> {
    let mut out: HashMap<DeviceSetId, Vec<Product>> = HashMap::new();
    for chunk in set_ids.chunks(500) {
        let rows: Vec<(DeviceSetId, String, DeviceModelId, OrgId)> = dsm::table
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
    DeviceType,
    OrgId,
    String,
    DeviceModelId,
    String,
    String,
    FirmwareId,
    String,
);

/// How many ids one `IN` list binds: few round trips for a window's whole scope (one per
/// 5,000 sets), well under SQLite's 32,766 bound parameters.
const CHUNK: usize = 5_000;

/// The members of many device sets with each firmware held once: what their compositions are
/// made of, in two narrow queries per 5,000 sets (which firmware each set holds, then those
/// firmware with their products) instead of one wide row per member. The grid keeps this for
/// a window's whole scope and builds compositions only for the readers that show them.
#[derive(Debug, Default)]
pub struct Members {
    /// The firmware, in the order people read a set ([`reading_order`]).
    firmware: Vec<SetMember>,
    /// Per set, its firmware as indexes into `firmware`, ascending: the Comms Hub first.
    sets: HashMap<DeviceSetId, Vec<u32>>,
}

impl Members {
    /// The members of `set_ids`.
    pub fn load(conn: &mut DbConn, set_ids: &[DeviceSetId]) -> QueryResult<Self> {
        Self::load_reusing(conn, set_ids, None)
    }

    /// The members of `set_ids`, taking those of the sets `known` holds from it and reading
    /// only the others': a set's members are fixed when it is created (its membership is its
    /// identity, see `device_sets`), so a grid rebuilt after a claim or a scope change reads
    /// only the sets new to it. The firmware and their products are read afresh either way,
    /// so a renamed model or manufacturer shows its new name.
    pub fn load_reusing(conn: &mut DbConn, set_ids: &[DeviceSetId], known: Option<&Members>) -> QueryResult<Self> {
        let mut ids: Vec<&DeviceSetId> = set_ids.iter().collect();
        ids.sort();
        ids.dedup();
        let mut pairs: Vec<(DeviceSetId, FirmwareId)> = Vec::new();
        if let Some(known) = known {
            ids.retain(|set| match known.of(set) {
                Some(firmware) => {
                    let id = |&i: &u32| known.member(i).firmware_id.clone();
                    pairs.extend(firmware.iter().map(|i| ((*set).clone(), id(i))));
                    false
                }
                None => true,
            });
        }
        for chunk in ids.chunks(CHUNK) {
            pairs.extend(
                dsm::table
                    .filter(dsm::device_set_id.eq_any(chunk))
                    .select((dsm::device_set_id, dsm::firmware_id))
                    .load::<(DeviceSetId, FirmwareId)>(conn)?,
            );
        }
        let firmware_ids: Vec<&str> = pairs
            .iter()
            .map(|(_, f)| f.as_str())
            .collect::<HashSet<&str>>()
            .into_iter()
            .collect();
        let mut firmware: Vec<SetMember> = Vec::with_capacity(firmware_ids.len());
        for chunk in firmware_ids.chunks(CHUNK) {
            let rows: Vec<MemberTuple> = fw::table
                .inner_join(dm::table.on(dm::id.eq(fw::device_model_id)))
                .inner_join(o::table.on(o::id.eq(dm::manufacturer_org_id)))
                .filter(fw::id.eq_any(chunk))
                .select((
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
            firmware.extend(rows.into_iter().map(
                |(device_type, maker_id, maker, model_id, model, hardware, firmware_id, version)| SetMember {
                    device_type,
                    manufacturer_org_id: maker_id,
                    manufacturer_name: maker,
                    device_model_id: model_id,
                    model_name: model,
                    hardware_version: hardware,
                    firmware_id,
                    firmware_version: version,
                },
            ));
        }
        firmware.sort_by(reading_order);
        let index: HashMap<&str, u32> = firmware
            .iter()
            .enumerate()
            .map(|(i, m)| (m.firmware_id.as_str(), i as u32))
            .collect();
        let mut sets: HashMap<DeviceSetId, Vec<u32>> = HashMap::with_capacity(ids.len());
        for (set, firmware_id) in pairs {
            if let Some(&i) = index.get(firmware_id.as_str()) {
                sets.entry(set).or_default().push(i);
            }
        }
        sets.values_mut().for_each(|v| v.sort_unstable());
        Ok(Self { firmware, sets })
    }

    /// The firmware of set `set_id` in reading order (the Comms Hub first), as indexes for
    /// [`Members::member`]; `None` for a set not loaded.
    pub fn of(&self, set_id: &DeviceSetId) -> Option<&[u32]> {
        self.sets.get(set_id).map(Vec::as_slice)
    }

    /// The member at index `i` of [`Members::of`].
    pub fn member(&self, i: u32) -> &SetMember {
        &self.firmware[i as usize]
    }

    /// How many distinct firmware the sets hold (the indexes run below it).
    pub fn firmware_count(&self) -> usize {
        self.firmware.len()
    }

    /// The composition of set `set_id`; `None` for a set not loaded or without a Comms Hub.
    pub fn composition(&self, set_id: &DeviceSetId) -> Option<Composition> {
        let members = self.of(set_id)?.iter().map(|&i| self.member(i).clone()).collect();
        Composition::ordered(members)
    }

    /// Every loaded set's composition, by set id.
    pub fn compositions(&self) -> HashMap<DeviceSetId, Composition> {
        self.sets
            .keys()
            .filter_map(|set| self.composition(set).map(|c| (set.clone(), c)))
            .collect()
    }
}

/// The order people read a set's members in: device type ([`DEVICE_TYPE_ORDER`]), then
/// manufacturer, model, firmware version and id.
fn reading_order(a: &SetMember, b: &SetMember) -> std::cmp::Ordering {
    rank(a.device_type)
        .cmp(&rank(b.device_type))
        .then_with(|| a.manufacturer_name.cmp(&b.manufacturer_name))
        .then_with(|| a.model_name.cmp(&b.model_name))
        .then_with(|| a.firmware_version.cmp(&b.firmware_version))
        .then_with(|| a.firmware_id.cmp(&b.firmware_id))
}

/// The compositions of `set_ids`, keyed by set id.
pub fn load(conn: &mut DbConn, set_ids: &[DeviceSetId]) -> QueryResult<HashMap<DeviceSetId, Composition>> {
    Ok(Members::load(conn, set_ids)?.compositions())
}

/// A device set named and described, for embedding beside a `device_set_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeviceSetSummary {
    #[schema(value_type = String)]
    pub id: DeviceSetId,
    pub name: String,
    pub prevalence: i64,
    pub composition: Composition,
}

/// Summaries of `set_ids` (names, prevalence and compositions) in two queries per 500 sets.
pub fn summaries(conn: &mut DbConn, set_ids: &[DeviceSetId]) -> QueryResult<HashMap<DeviceSetId, DeviceSetSummary>> {
    let mut compositions = load(conn, set_ids)?;
    let mut ids: Vec<&DeviceSetId> = set_ids.iter().collect();
    ids.sort();
    ids.dedup();
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<(DeviceSetId, String, i64)> = ds::table
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
