//! A defect mask's changes besides its status (`defect_mask.status_changed`), told to
//! subscribers of `defect_masks` as one `defect_mask.updated` event naming each field with
//! what it was and what it is.

use serde_json::{json, Value};

use super::model::DefectMask;
use crate::catalogue::labels;
use crate::db::{DbConn, FirmwareId};
use crate::events::NewEvent;
use crate::http::ApiError;

/// The fields whose text is told as changed, not quoted: they can be long.
const TEXTS: [&str; 3] = ["description", "symptom", "workaround"];

/// The `defect_mask.updated` event for `before` -> `after`, or `None` when only the status
/// (or nothing) changed.
pub fn event(conn: &mut DbConn, before: &DefectMask, after: &DefectMask) -> Result<Option<NewEvent>, ApiError> {
    let mut changes: Vec<Value> = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let change = |changes: &mut Vec<Value>, field: &str, from: Value, to: Value| {
        changes.push(json!({ "field": field, "from": from, "to": to }))
    };
    if before.title != after.title {
        change(&mut changes, "title", json!(before.title), json!(after.title));
        words.push(format!("title now \"{}\"", after.title));
    }
    if before.severity != after.severity {
        change(&mut changes, "severity", json!(before.severity), json!(after.severity));
        words.push(format!("severity now {}, was {}", after.severity, before.severity));
    }
    for (field, from, to) in [
        (TEXTS[0], &before.description, &after.description),
        (TEXTS[1], &before.symptom, &after.symptom),
        (TEXTS[2], &before.workaround, &after.workaround),
    ] {
        if from != to {
            change(&mut changes, field, json!(from), json!(to));
            words.push(format!("{field} updated"));
        }
    }
    if before.affected_firmware_ids != after.affected_firmware_ids {
        let (added, removed, list) =
            labels::list_change(conn, &before.affected_firmware_ids, &after.affected_firmware_ids)?;
        changes.push(json!({
            "field": "affected_firmware_ids", "from": before.affected_firmware_ids,
            "to": after.affected_firmware_ids, "added": added, "removed": removed,
        }));
        words.push(format!("affected firmware {list}"));
    }
    if before.fixed_in_firmware_id != after.fixed_in_firmware_id {
        let ids: Vec<FirmwareId> = [&before.fixed_in_firmware_id, &after.fixed_in_firmware_id]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        let named = labels::firmware(conn, &ids)?;
        let label = |id: &Option<FirmwareId>| {
            id.as_ref()
                .map(|id| named.get(id).cloned().unwrap_or_else(|| id.to_string()))
        };
        let (from, to) = (label(&before.fixed_in_firmware_id), label(&after.fixed_in_firmware_id));
        change(
            &mut changes,
            "fixed_in_firmware_id",
            json!({ "id": before.fixed_in_firmware_id, "label": from }),
            json!({ "id": after.fixed_in_firmware_id, "label": to }),
        );
        words.push(match (from, to) {
            (_, Some(to)) => format!("fixed in {to}"),
            (Some(from), None) => format!("no longer marked fixed in {from}"),
            (None, None) => "fixed-in version cleared".into(),
        });
    }
    if changes.is_empty() {
        return Ok(None);
    }
    let fields: Vec<&str> = changes.iter().filter_map(|c| c["field"].as_str()).collect();
    let details = json!({ "code": after.code, "title": after.title, "fields": fields, "changes": changes });
    let summary = format!("Defect mask {} changed: {}", after.code, words.join("; "));
    Ok(Some(
        NewEvent::new(
            crate::events::Topic::DefectMasks,
            "defect_mask.updated",
            "defect_mask",
            &after.id,
            summary,
        )
        .details(details),
    ))
}
