//! What a DPL row's names mean: the catalogue (every firmware version with its product and
//! manufacturer) loaded once per import into maps, so that resolving a row costs a few hash
//! lookups and no query. A row whose Comms Hub or any device does not resolve to exactly one
//! firmware version is rejected whole, with the column that failed.

use std::collections::HashMap;

use diesel::prelude::*;

use super::parse::{shown, DplRow, Naming, Part, Slot};
use crate::catalogue::model::DeviceType;
use crate::db::schema::{device_models as dm, firmware_versions as fw, organisations as o};
use crate::db::DbConn;

/// A firmware version a (type, model name, version) triple may mean.
struct Candidate {
    index: u32,
    maker: String,
    maker_slug: String,
    withdrawn: bool,
}

/// The catalogue as the import reads it. Firmware indexes follow the ids' order, so a sorted
/// list of indexes is a sorted list of ids.
pub struct Catalogue {
    /// Firmware id by index.
    pub ids: Vec<String>,
    /// "Model 1.2" by index, for the names of new device sets.
    pub labels: Vec<String>,
    /// Whether the firmware is a Comms Hub's, by index.
    pub hubs: Vec<bool>,
    versions: HashMap<String, Vec<Candidate>>,
    /// Manufacturers (name, slug) of the products of each (type, model name).
    models: HashMap<String, Vec<(String, String)>>,
}

type CatalogueRow = (String, String, String, String, String, String, String);

fn key(buf: &mut String, device_type: &str, model: &str, version: Option<&str>) {
    buf.clear();
    buf.push_str(device_type);
    buf.push('\u{1f}');
    buf.push_str(model);
    if let Some(v) = version {
        buf.push('\u{1f}');
        buf.push_str(v);
    }
}

impl Catalogue {
    /// Every firmware version with its product and manufacturer: one query.
    pub fn load(conn: &mut DbConn) -> QueryResult<Self> {
        let rows: Vec<CatalogueRow> = fw::table
            .inner_join(dm::table.on(dm::id.eq(fw::device_model_id)))
            .inner_join(o::table.on(o::id.eq(dm::manufacturer_org_id)))
            .order(fw::id.asc())
            .select((
                fw::id,
                fw::version,
                fw::status,
                dm::device_type,
                dm::name,
                o::name,
                o::slug,
            ))
            .load(conn)?;
        let mut c = Catalogue {
            ids: Vec::with_capacity(rows.len()),
            labels: Vec::with_capacity(rows.len()),
            hubs: Vec::with_capacity(rows.len()),
            versions: HashMap::with_capacity(rows.len()),
            models: HashMap::new(),
        };
        let mut buf = String::new();
        for (index, (id, version, status, device_type, model, maker, slug)) in rows.into_iter().enumerate() {
            key(&mut buf, &device_type, &model, Some(&version));
            c.versions.entry(buf.clone()).or_default().push(Candidate {
                index: index as u32,
                maker: maker.clone(),
                maker_slug: slug.clone(),
                withdrawn: status == "withdrawn",
            });
            key(&mut buf, &device_type, &model, None);
            let makers = c.models.entry(buf.clone()).or_default();
            if !makers.iter().any(|(m, _)| *m == maker) {
                makers.push((maker, slug));
            }
            c.ids.push(id);
            c.labels.push(format!("{model} {version}"));
            c.hubs.push(device_type == DeviceType::Chf.as_str());
        }
        Ok(c)
    }

    /// The row's membership as sorted, distinct firmware indexes into `out` (a device listed
    /// twice is one member: the membership is a set), or the reason the row is rejected.
    pub fn resolve(&self, row: &DplRow, naming: Naming, buf: &mut String, out: &mut Vec<u32>) -> Result<(), String> {
        out.clear();
        out.push(self.member(&row.hub, 0, DeviceType::Chf, naming, buf)?);
        for (i, d) in row.devices.iter().enumerate().filter(|(_, d)| d.present) {
            let group = i + 1;
            let device_type = device_type(d, group, naming)?;
            out.push(self.member(d, group, device_type, naming, buf)?);
        }
        out.sort_unstable();
        out.dedup();
        Ok(())
    }

    fn member(
        &self,
        slot: &Slot,
        group: usize,
        device_type: DeviceType,
        naming: Naming,
        buf: &mut String,
    ) -> Result<u32, String> {
        let t = device_type.as_str();
        key(buf, t, &slot.model, Some(&slot.firmware));
        let by = |maker: &str, slug: &str| {
            slot.manufacturer.is_empty()
                || slot.manufacturer.eq_ignore_ascii_case(maker)
                || slot.manufacturer.eq_ignore_ascii_case(slug)
        };
        let candidates = self.versions.get(buf.as_str()).map(Vec::as_slice).unwrap_or_default();
        let mut matching = candidates.iter().filter(|c| by(&c.maker, &c.maker_slug));
        match (matching.next(), matching.next()) {
            (Some(one), None) if one.withdrawn => Err(format!(
                "{}: {t} model {} firmware {} is withdrawn",
                naming.field(group, Part::Firmware),
                shown(&slot.model),
                shown(&slot.firmware)
            )),
            (Some(one), None) => Ok(one.index),
            (None, _) => Err(self.unknown(slot, group, t, naming, buf)),
            (Some(_), Some(_)) => {
                let makers: Vec<&str> = candidates
                    .iter()
                    .filter(|c| by(&c.maker, &c.maker_slug))
                    .map(|c| c.maker.as_str())
                    .collect();
                Err(format!(
                    "{}: {} {t} models named {} have firmware {} (by {}); name the manufacturer in {}",
                    naming.field(group, Part::Model),
                    makers.len(),
                    shown(&slot.model),
                    shown(&slot.firmware),
                    makers.join(", "),
                    naming.field(group, Part::Manufacturer)
                ))
            }
        }
    }

    /// Why a member did not resolve: no such model (by that manufacturer), or no such version.
    fn unknown(&self, slot: &Slot, group: usize, t: &str, naming: Naming, buf: &mut String) -> String {
        key(buf, t, &slot.model, None);
        let makers = self.models.get(buf.as_str());
        let model_field = naming.field(group, Part::Model);
        match makers {
            None => format!("{model_field}: no {t} model is named {}", shown(&slot.model)),
            Some(makers)
                if !slot.manufacturer.is_empty()
                    && !makers.iter().any(|(m, s)| {
                        slot.manufacturer.eq_ignore_ascii_case(m) || slot.manufacturer.eq_ignore_ascii_case(s)
                    }) =>
            {
                format!(
                    "{}: no {t} model named {} is made by {}",
                    naming.field(group, Part::Manufacturer),
                    shown(&slot.model),
                    shown(&slot.manufacturer)
                )
            }
            Some(_) => format!(
                "{}: {t} model {} has no firmware version {}",
                naming.field(group, Part::Firmware),
                shown(&slot.model),
                shown(&slot.firmware)
            ),
        }
    }
}

/// A device's type: one of the device types other than the Comms Hub's.
fn device_type(slot: &Slot, group: usize, naming: Naming) -> Result<DeviceType, String> {
    let field = naming.field(group, Part::Type);
    let parsed =
        DeviceType::parse(&slot.device_type).or_else(|| DeviceType::parse(&slot.device_type.to_ascii_uppercase()));
    match parsed {
        Some(DeviceType::Chf) => Err(format!(
            "{field}: CHF is the Comms Hub's type; a device set has exactly one Comms Hub (the comms_hub_ fields)"
        )),
        Some(t) => Ok(t),
        None => Err(format!(
            "{field}: {} is not a device type (ESME, GSME, GPF, PPMID, HCALCS, IHD, CAD)",
            shown(&slot.device_type)
        )),
    }
}
