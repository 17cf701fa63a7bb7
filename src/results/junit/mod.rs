//! JUnit XML from test harnesses: each `<testcase>` is a scenario run; `<failure>` or
//! `<error>` makes it `fail`, `<skipped>` `not_run`, otherwise `pass`.
//!
//! Names as harnesses write them: `test_change_of_mode[credit-to-prepay]` is a run of the
//! scenario `change_of_mode` with the parameter `credit-to-prepay` ([`scenario_of`]); the runs of
//! one scenario on one device set make one result ([`group`]). A `<testsuite>` may name the
//! device set its cases ran on ([`Suite`]), so one report can carry a whole run.
//!
//! Documents with a DTD are refused outright: no DOCTYPE means no entity declarations, so
//! entity-expansion ("billion laughs") and external-entity attacks have nothing to work with.
//! Only XML's five predefined entities and character references are understood. What a report
//! may contain is bounded (size, elements, attributes per element, depth, test cases), and
//! attributes are read once per element in linear time, so a hostile report costs little to
//! refuse.

use chrono::{DateTime, NaiveDateTime, Utc};
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

mod scenarios;

use super::model::Outcome;
use crate::db::DeviceSetId;
pub use scenarios::{group, scenario_of, Group, Mapped, Placed};

/// At most this many bytes of XML.
pub const MAX_REPORT_BYTES: usize = 8 * 1024 * 1024;
/// At most this many elements in a report.
pub const MAX_ELEMENTS: usize = 50_000;
/// At most this many attributes on one element.
pub const MAX_ATTRIBUTES: usize = 64;
/// At most this many nested elements.
pub const MAX_DEPTH: usize = 32;
/// At most this many test cases.
pub const MAX_CASES: usize = 1000;
const MAX_NOTES: usize = 4000;

/// A `<testsuite>`: its name and, from `<property name="device_set_id" value="..."/>`, the
/// device set its cases ran on.
#[derive(Debug, Clone, PartialEq)]
pub struct Suite {
    pub name: Option<String>,
    pub device_set_id: Option<DeviceSetId>,
    pub timestamp: Option<DateTime<Utc>>,
    pub line: usize,
    /// The enclosing suite, for nested suites.
    pub parent: Option<usize>,
}

/// One test case as read from the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// The name as written, e.g. `test_change_of_mode[credit-to-prepay]`.
    pub name: String,
    /// The innermost suite it belongs to (an index into [`Report::suites`]).
    pub suite: Option<usize>,
    pub line: usize,
    pub outcome: Outcome,
    /// Failure, error and skip messages and their text.
    pub notes: String,
    pub executed_at: Option<DateTime<Utc>>,
    /// From a `device_set_id` property of the case itself.
    pub device_set_id: Option<DeviceSetId>,
}

/// A parsed report.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub suites: Vec<Suite>,
    pub cases: Vec<Case>,
}

impl Report {
    /// The suites a case is in, innermost first.
    pub fn suites_of(&self, case: &Case) -> impl Iterator<Item = (usize, &Suite)> {
        std::iter::successors(case.suite, |&i| self.suites[i].parent).map(|i| (i, &self.suites[i]))
    }

    /// The name of a case's innermost suite, when it has one.
    pub fn suite_name(&self, case: &Case) -> Option<&str> {
        case.suite.and_then(|i| self.suites[i].name.as_deref())
    }
}

/// Where the reader is, for messages: the line and the testcase and suite being read.
struct Position<'a> {
    xml: &'a str,
    counted_to: usize,
    line: usize,
}

impl Position<'_> {
    /// The 1-based line of byte `offset`; offsets only grow, so counting is linear overall.
    fn line_at(&mut self, offset: usize) -> usize {
        let offset = offset.min(self.xml.len());
        if offset > self.counted_to {
            self.line += memchr::memchr_iter(b'\n', &self.xml.as_bytes()[self.counted_to..offset]).count();
            self.counted_to = offset;
        }
        self.line
    }
}

/// An element's attributes, read once, without quick-xml's duplicate check (quadratic in their
/// number): at most [`MAX_ATTRIBUTES`], and duplicates found by sorting.
fn attributes<'a>(e: &'a BytesStart<'a>) -> Result<Vec<Attribute<'a>>, String> {
    let mut out = Vec::new();
    for a in e.attributes().with_checks(false) {
        if out.len() == MAX_ATTRIBUTES {
            return Err(format!("an element has more than {MAX_ATTRIBUTES} attributes"));
        }
        out.push(a.map_err(|e| format!("bad attribute: {e}"))?);
    }
    let mut keys: Vec<&[u8]> = out.iter().map(|a| a.key.as_ref()).collect();
    keys.sort_unstable();
    if keys.windows(2).any(|w| w[0] == w[1]) {
        return Err("an element repeats an attribute".into());
    }
    Ok(out)
}

fn attr(attrs: &[Attribute<'_>], name: &[u8]) -> Result<Option<String>, String> {
    attrs
        .iter()
        .find(|a| a.key.as_ref() == name)
        .map(|a| {
            a.unescape_value()
                .map(|v| v.into_owned())
                .map_err(|e| format!("bad attribute value: {e}"))
        })
        .transpose()
}

/// JUnit timestamps are ISO 8601, usually without a zone (taken as UTC).
fn timestamp(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
}

/// Appends `text` as a line of `notes`, which holds `*chars` characters, up to [`MAX_NOTES`].
/// The count is kept by the caller, so a case with thousands of messages costs linear time.
pub(super) fn push_note(notes: &mut String, chars: &mut usize, text: &str) {
    let text = text.trim();
    let separator = usize::from(!notes.is_empty());
    if text.is_empty() || *chars + separator >= MAX_NOTES {
        return;
    }
    if separator == 1 {
        notes.push('\n');
        *chars += 1;
    }
    for c in text.chars().take(MAX_NOTES - *chars) {
        notes.push(c);
        *chars += 1;
    }
}

/// `testcase "name" in testsuite "suite" (line 12)`, or the parts of it that are known.
pub fn locator(suite: Option<&str>, case: Option<&str>, line: usize) -> String {
    match (case, suite) {
        (Some(c), Some(s)) => format!("testcase \"{c}\" in testsuite \"{s}\" (line {line})"),
        (Some(c), None) => format!("testcase \"{c}\" (line {line})"),
        (None, Some(s)) => format!("testsuite \"{s}\" (line {line})"),
        (None, None) => format!("line {line}"),
    }
}

/// The state of one parse.
struct Parser {
    report: Report,
    open_suites: Vec<usize>,
    current: Option<Case>,
    /// Inside `<failure>`/`<error>`/`<skipped>` of the current case, text becomes notes.
    in_detail: bool,
    detail: String,
    depth: usize,
    elements: usize,
    /// The characters in the current case's notes.
    notes_chars: usize,
}

impl Parser {
    /// Where the reader is, for a message: the testcase and suite being read, and the line.
    fn here(&self, line: usize) -> String {
        let suite = self
            .open_suites
            .last()
            .and_then(|&i| self.report.suites[i].name.as_deref());
        locator(suite, self.current.as_ref().map(|c| c.name.as_str()), line)
    }

    fn start(&mut self, e: &BytesStart<'_>, empty: bool, line: usize) -> Result<(), String> {
        self.elements += 1;
        if self.elements > MAX_ELEMENTS {
            return Err(format!("the report has more than {MAX_ELEMENTS} elements"));
        }
        if !empty {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(format!("elements nest deeper than {MAX_DEPTH}"));
            }
        }
        let attrs = attributes(e)?;
        match e.name().as_ref() {
            b"testsuite" if !empty => {
                if self.current.is_some() {
                    return Err("a testsuite cannot be inside a testcase".into());
                }
                let suite = Suite {
                    name: attr(&attrs, b"name")?
                        .map(|n| n.trim().to_string())
                        .filter(|n| !n.is_empty()),
                    device_set_id: None,
                    timestamp: attr(&attrs, b"timestamp")?.as_deref().and_then(timestamp),
                    line,
                    parent: self.open_suites.last().copied(),
                };
                self.report.suites.push(suite);
                self.open_suites.push(self.report.suites.len() - 1);
            }
            b"testcase" => {
                if self.current.is_some() {
                    return Err("a testcase cannot contain another testcase".into());
                }
                let name = attr(&attrs, b"name")?
                    .map(|n| n.trim().to_string())
                    .filter(|n| !n.is_empty())
                    .ok_or("a testcase has no name")?;
                if self.report.cases.len() >= MAX_CASES {
                    return Err(format!("the report has more than {MAX_CASES} test cases"));
                }
                let suite = self.open_suites.last().copied();
                let suite_time = std::iter::successors(suite, |&i| self.report.suites[i].parent)
                    .find_map(|i| self.report.suites[i].timestamp);
                let case = Case {
                    name,
                    suite,
                    line,
                    outcome: Outcome::Pass,
                    notes: String::new(),
                    executed_at: attr(&attrs, b"timestamp")?
                        .as_deref()
                        .and_then(timestamp)
                        .or(suite_time),
                    device_set_id: None,
                };
                if empty {
                    self.report.cases.push(case);
                } else {
                    self.current = Some(case);
                    self.notes_chars = 0;
                }
            }
            b"property" if attr(&attrs, b"name")?.as_deref() == Some("device_set_id") => {
                let value = attr(&attrs, b"value")?
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty())
                    .ok_or("the device_set_id property has no value")?;
                if let Some(case) = self.current.as_mut() {
                    case.device_set_id = Some(value.into());
                } else if let Some(&suite) = self.open_suites.last() {
                    self.report.suites[suite].device_set_id = Some(value.into());
                }
            }
            tag @ (b"failure" | b"error" | b"skipped") => {
                let message = attr(&attrs, b"message")?;
                let Some(case) = self.current.as_mut() else {
                    return Err("failure, error and skipped belong inside a testcase".into());
                };
                case.outcome = if tag == b"skipped" {
                    // A failure outranks a skip in the same case.
                    if case.outcome == Outcome::Fail {
                        Outcome::Fail
                    } else {
                        Outcome::NotRun
                    }
                } else {
                    Outcome::Fail
                };
                if let Some(message) = message {
                    push_note(&mut case.notes, &mut self.notes_chars, &message);
                }
                self.in_detail = !empty;
            }
            _ => {}
        }
        Ok(())
    }

    fn end(&mut self, name: &[u8]) {
        self.depth = self.depth.saturating_sub(1);
        match name {
            b"testcase" => self.report.cases.extend(self.current.take()),
            b"testsuite" => {
                self.open_suites.pop();
            }
            b"failure" | b"error" | b"skipped" => {
                self.in_detail = false;
                if let Some(case) = self.current.as_mut() {
                    push_note(&mut case.notes, &mut self.notes_chars, &self.detail);
                }
                self.detail.clear();
            }
            _ => {}
        }
    }

    fn reference(&mut self, r: &quick_xml::events::BytesRef<'_>) -> Result<(), String> {
        let resolved = if r.is_char_ref() {
            r.resolve_char_ref()
                .map_err(|e| format!("bad character reference: {e}"))?
        } else {
            match r.decode().map_err(|e| format!("bad reference: {e}"))?.as_ref() {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                other => return Err(format!("unknown entity &{other};")),
            }
        };
        if let (true, Some(c)) = (self.in_detail, resolved) {
            self.detail.push(c);
        }
        Ok(())
    }
}

/// Parses a JUnit report; the error is a message fit for a 400 that says where (line, and
/// the testcase and suite being read).
pub fn parse(xml: &str) -> Result<Report, String> {
    if xml.len() > MAX_REPORT_BYTES {
        return Err(format!("the report is larger than {MAX_REPORT_BYTES} bytes"));
    }
    if xml.contains('\0') {
        return Err("NUL characters are not allowed in XML".into());
    }
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(false);
    let mut position = Position {
        xml,
        counted_to: 0,
        line: 1,
    };
    let mut p = Parser {
        report: Report {
            suites: Vec::new(),
            cases: Vec::new(),
        },
        open_suites: Vec::new(),
        current: None,
        in_detail: false,
        detail: String::new(),
        depth: 0,
        elements: 0,
        notes_chars: 0,
    };
    loop {
        let at = reader.buffer_position() as usize;
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => {
                let line = position.line_at(reader.error_position() as usize);
                return Err(format!("{}: not well-formed XML: {e}", p.here(line)));
            }
        };
        let result = match event {
            Event::DocType(_) => return Err("DOCTYPE declarations are not accepted".into()),
            Event::Start(ref e) => p.start(e, false, position.line_at(at)),
            Event::Empty(ref e) => p.start(e, true, position.line_at(at)),
            Event::End(ref e) => {
                p.end(e.name().as_ref());
                Ok(())
            }
            Event::Text(ref t) if p.in_detail && p.detail.len() < MAX_NOTES * 4 => t
                .decode()
                .map(|text| p.detail.push_str(&text))
                .map_err(|e| format!("bad text: {e}")),
            Event::CData(ref t) if p.in_detail && p.detail.len() < MAX_NOTES * 4 => {
                p.detail.push_str(&String::from_utf8_lossy(t.as_ref()));
                Ok(())
            }
            Event::GeneralRef(ref r) => p.reference(r),
            Event::Eof => break,
            _ => Ok(()),
        };
        if let Err(message) = result {
            let line = position.line_at(at);
            return Err(format!("{}: {message}", p.here(line)));
        }
    }
    if p.elements == 0 {
        return Err("the document is empty".into());
    }
    if p.current.is_some() || p.depth != 0 {
        let line = position.line_at(xml.len());
        return Err(format!("{}: the document ends inside an element", p.here(line)));
    }
    if p.report.cases.is_empty() {
        return Err("the report has no test cases".into());
    }
    Ok(p.report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_testcases_to_outcomes() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="uit" timestamp="2026-11-20T09:30:00">
    <testcase name="install_and_commission" classname="hub" time="12.5"/>
    <testcase name="prepayment_top_up"><failure message="credit not applied">meter showed &lt;0&gt; credit</failure></testcase>
    <testcase name="comms_hub_replacement"><skipped/></testcase>
    <testcase name="change_of_mode"><error message="timeout"/></testcase>
  </testsuite>
</testsuites>"#;
        let cases = parse(xml).unwrap().cases;
        let outcomes: Vec<(&str, Outcome)> = cases.iter().map(|c| (c.name.as_str(), c.outcome)).collect();
        assert_eq!(
            outcomes,
            [
                ("install_and_commission", Outcome::Pass),
                ("prepayment_top_up", Outcome::Fail),
                ("comms_hub_replacement", Outcome::NotRun),
                ("change_of_mode", Outcome::Fail),
            ]
        );
        assert_eq!(cases[1].notes, "credit not applied\nmeter showed <0> credit");
        assert_eq!(cases[0].executed_at.unwrap().to_rfc3339(), "2026-11-20T09:30:00+00:00");
    }

    #[test]
    fn hostile_and_broken_documents_are_refused() {
        let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><testsuite><testcase name="&lol2;"/></testsuite>"#;
        assert!(parse(laughs).unwrap_err().contains("DOCTYPE"));
        let xxe = r#"<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><testsuite><testcase name="a">&e;</testcase></testsuite>"#;
        assert!(parse(xxe).is_err());
        assert!(parse("<testsuite><testcase name=\"a\"></testsuite>").is_err());
        assert!(parse("").is_err());
        assert!(parse("<testsuite/>").unwrap_err().contains("no test cases"));
        assert!(parse("<testsuite><testcase/></testsuite>")
            .unwrap_err()
            .contains("no name"));
        assert!(parse("<testsuite><testcase name=\"a\"><failure>&custom;</failure></testcase></testsuite>").is_err());
        let deep = format!("{}{}", "<a>".repeat(40), "</a>".repeat(40));
        assert!(parse(&deep).unwrap_err().contains("deeper"));
    }

    #[test]
    fn bounds_are_enforced_and_errors_say_where() {
        let attrs: String = (0..100_000).map(|i| format!(" a{i}=\"x\"")).collect();
        let hostile = format!("<testsuite><testcase name=\"x\"{attrs}/></testsuite>");
        let err = parse(&hostile).unwrap_err();
        assert!(err.contains("more than 64 attributes"), "{err}");
        let many = format!("<testsuite>{}</testsuite>", "<x/>".repeat(MAX_ELEMENTS + 1));
        assert!(parse(&many).unwrap_err().contains("elements"));
        assert!(parse(&" ".repeat(MAX_REPORT_BYTES + 1)).unwrap_err().contains("larger"));
        assert!(parse(r#"<testsuite><testcase name="a" b="1" b="2"/></testsuite>"#)
            .unwrap_err()
            .contains("repeats"));
        let messages = format!(
            "<testsuite><testcase name=\"a\">{}</testcase></testsuite>",
            format!("<failure message=\"{}\"/>", "é".repeat(60)).repeat(20_000)
        );
        let started = std::time::Instant::now();
        let report = parse(&messages).unwrap();
        assert_eq!(report.cases[0].notes.chars().count(), MAX_NOTES);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        let err = parse(
            "<testsuite name=\"nightly\">\n<testcase name=\"a\">\n<failure>&bogus;</failure></testcase></testsuite>",
        )
        .unwrap_err();
        assert_eq!(
            err,
            "testcase \"a\" in testsuite \"nightly\" (line 3): unknown entity &bogus;"
        );
    }
}
