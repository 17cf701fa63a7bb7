//! Reading a DPL as JSON lines: one object per line, blank lines skipped, lines counted from 1.

use std::io::{BufRead, BufReader, Read};

use serde::Deserialize;

use super::parse::{check_members, in_range, DplRow, Item, Naming, Slot, MAX_DEVICES};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRow {
    comms_hub_model: String,
    comms_hub_firmware: String,
    #[serde(default)]
    comms_hub_manufacturer: Option<String>,
    #[serde(default)]
    devices: Vec<JsonDevice>,
    installed_count: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonDevice {
    #[serde(rename = "type")]
    device_type: String,
    model: String,
    firmware: String,
    #[serde(default)]
    manufacturer: Option<String>,
}

pub fn read<R: Read, E: From<String>>(reader: R, each: &mut dyn FnMut(Item) -> Result<(), E>) -> Result<(), E> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let mut buf = Vec::new();
    let mut row = DplRow::default();
    let mut line = 0u64;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| format!("reading the file: {e}"))?;
        if n == 0 {
            return Ok(());
        }
        line += 1;
        let text = match std::str::from_utf8(&buf) {
            Ok(t) => t.trim(),
            Err(_) => {
                each(Item::Rejected {
                    line,
                    reason: "not UTF-8 text".into(),
                })?;
                continue;
            }
        };
        if text.is_empty() {
            continue;
        }
        row.line = line;
        match fill_json(text, &mut row) {
            Ok(()) => each(Item::Row(&row))?,
            Err(reason) => each(Item::Rejected { line, reason })?,
        }
    }
}

fn fill_json(text: &str, row: &mut DplRow) -> Result<(), String> {
    let parsed: JsonRow = serde_json::from_str(text).map_err(|e| {
        let message = e.to_string();
        // serde_json counts lines within the one line it was given.
        let message = message.replace(" at line 1 column ", " at column ");
        format!("not a DPL row: {message}")
    })?;
    if parsed.devices.len() > MAX_DEVICES {
        return Err(format!(
            "devices: {} devices; a set holds at most {MAX_DEVICES} besides the Comms Hub",
            parsed.devices.len()
        ));
    }
    row.hub.clear();
    row.hub.model = parsed.comms_hub_model.trim().to_string();
    row.hub.firmware = parsed.comms_hub_firmware.trim().to_string();
    row.hub.manufacturer = parsed.comms_hub_manufacturer.unwrap_or_default().trim().to_string();
    row.devices.clear();
    for d in parsed.devices {
        row.devices.push(Slot {
            device_type: d.device_type.trim().to_string(),
            model: d.model.trim().to_string(),
            firmware: d.firmware.trim().to_string(),
            manufacturer: d.manufacturer.unwrap_or_default().trim().to_string(),
            present: true,
        });
    }
    check_members(row, Naming::Jsonl)?;
    let count = &parsed.installed_count;
    let n = count
        .as_u64()
        .ok_or_else(|| format!("installed_count: {count} is not a non-negative integer"))?;
    row.installed_count = in_range(n)?;
    Ok(())
}
