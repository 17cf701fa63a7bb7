//! Reading a DPL file row by row, CSV with a header (here) or JSON lines (`jsonl.rs`), in
//! constant memory. Each row's shape is checked here (required fields present, the count a
//! non-negative integer); what its names mean is `resolve.rs`'s business. A row that fails is
//! handed on as a rejection with its line number and a reason naming the column; only a file
//! that cannot be read at all (a bad header, an I/O error) stops the reading.

use std::io::Read;

use super::model::ImportFormat;
use crate::device_sets::model::MAX_PREVALENCE;

/// Device columns a row may have besides the Comms Hub (a set has at most 50 members).
pub const MAX_DEVICES: usize = 49;

/// One of a member's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Type,
    Model,
    Firmware,
    Manufacturer,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Part::Type => "type",
            Part::Model => "model",
            Part::Firmware => "firmware",
            Part::Manufacturer => "manufacturer",
        }
    }
}

/// A member of a row as written: the Comms Hub (its type is implied) or a device.
#[derive(Debug, Clone, Default)]
pub struct Slot {
    pub device_type: String,
    pub model: String,
    pub firmware: String,
    /// Empty when the file does not say (the model name alone identifies the product).
    pub manufacturer: String,
    /// Whether the row fills this device's columns (always true for the hub).
    pub present: bool,
}

impl Slot {
    pub(super) fn clear(&mut self) {
        self.device_type.clear();
        self.model.clear();
        self.firmware.clear();
        self.manufacturer.clear();
        self.present = false;
    }

    fn part_mut(&mut self, part: Part) -> &mut String {
        match part {
            Part::Type => &mut self.device_type,
            Part::Model => &mut self.model,
            Part::Firmware => &mut self.firmware,
            Part::Manufacturer => &mut self.manufacturer,
        }
    }

    fn is_blank(&self) -> bool {
        self.device_type.is_empty() && self.model.is_empty() && self.firmware.is_empty() && self.manufacturer.is_empty()
    }
}

/// One row of the DPL, reused from row to row (no allocation per row once warm).
#[derive(Debug, Default)]
pub struct DplRow {
    pub line: u64,
    pub hub: Slot,
    /// Device `i + 1` of the row; `present` says which are filled.
    pub devices: Vec<Slot>,
    pub installed_count: i64,
}

/// How reasons name a field: CSV columns (`device2_model`) or JSON paths (`devices[1].model`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    Csv,
    Jsonl,
}

impl Naming {
    /// The name of `part` of member `group` (0: the Comms Hub; `i`: device `i`, from 1).
    pub fn field(self, group: usize, part: Part) -> String {
        match (self, group) {
            (_, 0) => format!("comms_hub_{}", part.name()),
            (Naming::Csv, g) => format!("device{g}_{}", part.name()),
            (Naming::Jsonl, g) => format!("devices[{}].{}", g - 1, part.name()),
        }
    }
}

/// What reading hands on: a row whose shape is sound, or a rejected line with its reason.
pub enum Item<'a> {
    Row(&'a DplRow),
    Rejected { line: u64, reason: String },
}

/// A value as a reason quotes it: at most 60 characters.
pub fn shown(value: &str) -> String {
    let mut out: String = value.chars().take(60).collect();
    if out.len() < value.len() {
        out.push('…');
    }
    format!("\"{out}\"")
}

/// What a CSV column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Count,
    /// `Part` of member `group` (0: the hub).
    Member(usize, Part),
}

const HEADER_HELP: &str = "expected comms_hub_model, comms_hub_firmware, optionally comms_hub_manufacturer, \
     then per device deviceN_type, deviceN_model, deviceN_firmware (optionally deviceN_manufacturer) for N from 1, \
     and installed_count";

fn column(name: &str) -> Option<Column> {
    if name == "installed_count" {
        return Some(Column::Count);
    }
    let part = |p: &str| match p {
        "type" => Some(Part::Type),
        "model" => Some(Part::Model),
        "firmware" => Some(Part::Firmware),
        "manufacturer" => Some(Part::Manufacturer),
        _ => None,
    };
    if let Some(p) = name.strip_prefix("comms_hub_") {
        return part(p).filter(|p| *p != Part::Type).map(|p| Column::Member(0, p));
    }
    let (group, p) = name.strip_prefix("device")?.split_once('_')?;
    let group: usize = group.parse().ok().filter(|g| (1..=MAX_DEVICES).contains(g))?;
    part(p).map(|p| Column::Member(group, p))
}

/// Reads the header (line 1): every column known, none twice, the required ones there, and
/// each device's type, model and firmware columns together. Returns the columns and the
/// number of device groups.
fn header(fields: &csv::ByteRecord) -> Result<(Vec<Column>, usize), String> {
    let mut columns = Vec::with_capacity(fields.len());
    for (i, raw) in fields.iter().enumerate() {
        let name = String::from_utf8_lossy(raw);
        let name = name.trim_start_matches('\u{feff}').trim().to_ascii_lowercase();
        let col = column(&name).ok_or_else(|| format!("line 1: unknown column {} ({HEADER_HELP})", shown(&name)))?;
        if columns.contains(&col) {
            return Err(format!("line 1: column {name} appears twice"));
        }
        if i > 0 && name.is_empty() {
            return Err("line 1: a column has no name".into());
        }
        columns.push(col);
    }
    let has = |c: Column| columns.contains(&c);
    for (c, name) in [
        (Column::Member(0, Part::Model), "comms_hub_model"),
        (Column::Member(0, Part::Firmware), "comms_hub_firmware"),
        (Column::Count, "installed_count"),
    ] {
        if !has(c) {
            return Err(format!("line 1: the column {name} is missing ({HEADER_HELP})"));
        }
    }
    let groups = columns
        .iter()
        .filter_map(|c| match c {
            Column::Member(g, _) => Some(*g),
            Column::Count => None,
        })
        .max()
        .unwrap_or(0);
    for g in 1..=groups {
        for p in [Part::Type, Part::Model, Part::Firmware] {
            if !has(Column::Member(g, p)) && columns.iter().any(|c| matches!(c, Column::Member(x, _) if *x == g)) {
                return Err(format!("line 1: the column {} is missing", Naming::Csv.field(g, p)));
            }
        }
    }
    Ok((columns, groups))
}

/// Checks the start of an uploaded file before it is queued: for CSV, its header.
pub fn check(format: ImportFormat, reader: impl Read) -> Result<(), String> {
    if format == ImportFormat::Jsonl {
        return Ok(());
    }
    let mut csv = csv_reader(reader);
    let mut fields = csv::ByteRecord::new();
    match csv.read_byte_record(&mut fields) {
        Ok(true) => header(&fields).map(|_| ()),
        Ok(false) => Err("the file has no header line".into()),
        Err(e) => Err(format!("line 1: {e}")),
    }
}

fn csv_reader<R: Read>(reader: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 16)
        .from_reader(reader)
}

/// Reads every row of `reader`, handing each to `each`; stops at the first error `each`
/// returns. A file-level problem is `Err(message)`.
pub fn read<R: Read, E: From<String>>(
    format: ImportFormat,
    reader: R,
    each: &mut dyn FnMut(Item) -> Result<(), E>,
) -> Result<(), E> {
    match format {
        ImportFormat::Csv => read_csv(reader, each),
        ImportFormat::Jsonl => super::jsonl::read(reader, each),
    }
}

fn read_csv<R: Read, E: From<String>>(reader: R, each: &mut dyn FnMut(Item) -> Result<(), E>) -> Result<(), E> {
    // A final newline, so that every record ends with one (an empty last line is skipped):
    // see `start_line`.
    let mut csv = csv_reader(reader.chain(&b"\n"[..]));
    let mut record = csv::ByteRecord::new();
    if !csv.read_byte_record(&mut record).map_err(|e| format!("line 1: {e}"))? {
        return Err(String::from("the file has no header line").into());
    }
    let (columns, groups) = header(&record)?;
    let mut row = DplRow {
        devices: vec![Slot::default(); groups],
        ..DplRow::default()
    };
    loop {
        match csv.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e) => return Err(format!("reading the file: {e}").into()),
        }
        let line = start_line(&csv, &record);
        row.line = line;
        match fill_csv(&record, &columns, &mut row) {
            Ok(()) => each(Item::Row(&row))?,
            Err(reason) => each(Item::Rejected { line, reason })?,
        }
    }
}

/// The line a record starts on. The reader's own record position counts from where it began
/// looking, before the blank lines it skipped; its position after the record is exact, and
/// the record spans one line plus one per newline inside its quoted fields.
fn start_line<R: Read>(csv: &csv::Reader<R>, record: &csv::ByteRecord) -> u64 {
    let inner = memchr::memchr_iter(b'\n', record.as_slice()).count() as u64;
    csv.position().line().saturating_sub(1 + inner)
}

fn fill_csv(record: &csv::ByteRecord, columns: &[Column], row: &mut DplRow) -> Result<(), String> {
    if record.len() != columns.len() {
        return Err(format!(
            "the row has {} fields; the header has {}",
            record.len(),
            columns.len()
        ));
    }
    row.hub.clear();
    row.devices.iter_mut().for_each(Slot::clear);
    let mut count = "";
    for (col, raw) in columns.iter().zip(record.iter()) {
        let name = || match col {
            Column::Count => "installed_count".to_string(),
            Column::Member(g, p) => Naming::Csv.field(*g, *p),
        };
        let text = std::str::from_utf8(raw)
            .map_err(|_| format!("{}: not UTF-8 text", name()))?
            .trim();
        match col {
            Column::Count => count = text,
            Column::Member(0, p) => row.hub.part_mut(*p).push_str(text),
            Column::Member(g, p) => row.devices[g - 1].part_mut(*p).push_str(text),
        }
    }
    for d in row.devices.iter_mut() {
        d.present = !d.is_blank();
    }
    check_members(row, Naming::Csv)?;
    row.installed_count = count_of(count)?;
    Ok(())
}

/// The installed count as written in a CSV field.
fn count_of(text: &str) -> Result<i64, String> {
    if text.is_empty() {
        return Err("installed_count: empty".into());
    }
    let n: u64 = text
        .parse()
        .map_err(|_| format!("installed_count: {} is not a non-negative integer", shown(text)))?;
    in_range(n)
}

pub(super) fn in_range(n: u64) -> Result<i64, String> {
    if n > MAX_PREVALENCE as u64 {
        return Err(format!("installed_count: {n} is more than {MAX_PREVALENCE}"));
    }
    Ok(n as i64)
}

/// Required fields: the hub's model and firmware, each present device's type, model and
/// firmware, and at least one device.
pub(super) fn check_members(row: &mut DplRow, naming: Naming) -> Result<(), String> {
    row.hub.present = true;
    for p in [Part::Model, Part::Firmware] {
        if row.hub.part_mut(p).is_empty() {
            return Err(format!("{}: empty", naming.field(0, p)));
        }
    }
    let mut any = false;
    for (i, d) in row.devices.iter_mut().enumerate().filter(|(_, d)| d.present) {
        any = true;
        for p in [Part::Type, Part::Model, Part::Firmware] {
            if d.part_mut(p).is_empty() {
                return Err(format!("{}: empty", naming.field(i + 1, p)));
            }
        }
    }
    if !any {
        let first = match naming {
            Naming::Csv => "device1_type, device1_model, device1_firmware",
            Naming::Jsonl => "devices",
        };
        return Err(format!(
            "no device besides the Comms Hub: a device set needs at least one ({first})"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row's line and its count, or the reason it was rejected.
    type Got = (u64, Result<i64, String>);

    /// What reading `text` hands on, item by item.
    fn items(format: ImportFormat, text: &str) -> Result<Vec<Got>, String> {
        let mut out = Vec::new();
        read::<_, String>(format, text.as_bytes(), &mut |item| {
            out.push(match item {
                Item::Row(r) => (r.line, Ok(r.installed_count)),
                Item::Rejected { line, reason } => (line, Err(reason)),
            });
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn csv_rows_carry_their_line_numbers_and_reasons() {
        let text = "comms_hub_model,comms_hub_firmware,device1_type,device1_model,device1_firmware,installed_count\n\
                    CH,1.0,ESME,E,2.0,5\n\
                    \n\
                    CH,1.0,ESME,E,2.0,-1\n\
                    CH,1.0,ESME,E,2.0\n\
                    \"CH\nsplit\",1.0,ESME,,2.0,3\n\
                    CH,1.0,,,,4\n\
                    CH,1.0,ESME,E,2.0,7\n";
        let got = items(ImportFormat::Csv, text).unwrap();
        assert_eq!(got[0], (2, Ok(5)));
        assert_eq!(got[1].0, 4);
        assert!(got[1].1.as_ref().unwrap_err().contains("installed_count: \"-1\""));
        assert_eq!(got[2], (5, Err("the row has 5 fields; the header has 6".into())));
        assert_eq!(got[3], (6, Err("device1_model: empty".into())));
        assert!(got[4].1.as_ref().unwrap_err().starts_with("no device"));
        assert_eq!(got[4].0, 8);
        assert_eq!(got[5], (9, Ok(7)));
    }

    #[test]
    fn csv_headers_are_checked() {
        let check_csv = |h: &str| check(ImportFormat::Csv, h.as_bytes());
        assert!(check_csv("comms_hub_model,comms_hub_firmware,installed_count\n").is_ok());
        assert!(check_csv("\u{feff}Comms_Hub_Model,comms_hub_firmware,installed_count,comms_hub_manufacturer").is_ok());
        assert!(check_csv("comms_hub_model,comms_hub_firmware,count")
            .unwrap_err()
            .contains("unknown column \"count\""));
        assert!(check_csv("comms_hub_model,installed_count")
            .unwrap_err()
            .contains("comms_hub_firmware is missing"));
        let partial = "comms_hub_model,comms_hub_firmware,device2_type,device2_model,installed_count";
        assert!(check_csv(partial).unwrap_err().contains("device2_firmware is missing"));
        assert!(check_csv("comms_hub_model,comms_hub_model")
            .unwrap_err()
            .contains("twice"));
        assert!(check_csv("").is_err());
    }

    #[test]
    fn json_lines_are_read_with_their_line_numbers() {
        let text = "{\"comms_hub_model\":\"CH\",\"comms_hub_firmware\":\"1.0\",\"devices\":[{\"type\":\"ESME\",\"model\":\"E\",\"firmware\":\"2.0\"}],\"installed_count\":12}\n\
                    \n\
                    {\"comms_hub_model\":\"CH\",\"comms_hub_firmware\":\"1.0\",\"devices\":[],\"installed_count\":1}\n\
                    {\"comms_hub_model\":\"CH\",\"comms_hub_firmware\":\"1.0\",\"devices\":[{\"type\":\"ESME\",\"model\":\"E\",\"firmware\":\"2.0\"}],\"installed_count\":1.5}\n\
                    {\"comms_hub_model\":\"CH\",\"colour\":1}\n";
        let got = items(ImportFormat::Jsonl, text).unwrap();
        assert_eq!(got[0], (1, Ok(12)));
        assert_eq!(got[1].0, 3);
        assert!(got[1].1.as_ref().unwrap_err().starts_with("no device"));
        assert_eq!(
            got[2],
            (4, Err("installed_count: 1.5 is not a non-negative integer".into()))
        );
        assert_eq!(got[3].0, 5);
        assert!(got[3].1.as_ref().unwrap_err().contains("unknown field `colour`"));
    }
}
