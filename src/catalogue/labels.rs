//! Firmware versions named as people read them in change events: "Aurora (CHF) 4.2.1".

use std::collections::BTreeMap;

use diesel::prelude::*;

use crate::db::schema::{device_models as dm, firmware_versions as fw};
use crate::db::{DbConn, FirmwareId};

/// The label of each of `ids` that exists, by id.
pub fn firmware(conn: &mut DbConn, ids: &[FirmwareId]) -> QueryResult<BTreeMap<FirmwareId, String>> {
    let mut labels = BTreeMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<(FirmwareId, String, String, String)> = fw::table
            .inner_join(dm::table)
            .filter(fw::id.eq_any(chunk))
            .select((fw::id, dm::name, dm::device_type, fw::version))
            .load(conn)?;
        for (id, name, device_type, version) in rows {
            labels.insert(id, format!("{name} ({device_type}) {version}"));
        }
    }
    Ok(labels)
}

/// What `after` adds to `before` and what it drops, each as `{id, label}` in label order, and
/// the sentence naming them ("adds A 1.2; drops B 0.9").
pub fn list_change(
    conn: &mut DbConn,
    before: &[FirmwareId],
    after: &[FirmwareId],
) -> QueryResult<(serde_json::Value, serde_json::Value, String)> {
    let added: Vec<FirmwareId> = after.iter().filter(|id| !before.contains(id)).cloned().collect();
    let removed: Vec<FirmwareId> = before.iter().filter(|id| !after.contains(id)).cloned().collect();
    let all: Vec<FirmwareId> = added.iter().chain(&removed).cloned().collect();
    let labels = firmware(conn, &all)?;
    let named = |ids: &[FirmwareId]| {
        let mut v: Vec<(String, FirmwareId)> = ids
            .iter()
            .map(|id| (labels.get(id).cloned().unwrap_or_else(|| id.to_string()), id.clone()))
            .collect();
        v.sort();
        v
    };
    let (added, removed) = (named(&added), named(&removed));
    let json = |v: &[(String, FirmwareId)]| {
        serde_json::Value::Array(
            v.iter()
                .map(|(label, id)| serde_json::json!({ "id": id, "label": label }))
                .collect(),
        )
    };
    let words = |verb: &str, v: &[(String, FirmwareId)]| {
        (!v.is_empty()).then(|| {
            let names: Vec<&str> = v.iter().map(|(l, _)| l.as_str()).collect();
            format!("{verb} {}", names.join(", "))
        })
    };
    let sentence = [words("adds", &added), words("drops", &removed)]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("; ");
    Ok((json(&added), json(&removed), sentence))
}
