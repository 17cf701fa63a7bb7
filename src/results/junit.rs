//! JUnit XML from test harnesses: each `<testcase name=...>` is a scenario; `<failure>` or
//! `<error>` makes it `fail`, `<skipped>` `not_run`, otherwise `pass`.
//!
//! Documents with a DTD are refused outright: no DOCTYPE means no entity declarations, so
//! entity-expansion ("billion laughs") and external-entity attacks have nothing to work with.
//! Only XML's five predefined entities and character references are understood.

use chrono::{DateTime, NaiveDateTime, Utc};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::model::Outcome;

const MAX_CASES: usize = 1000;
const MAX_DEPTH: usize = 32;
const MAX_NOTES: usize = 4000;

/// One test case as read from the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub scenario: String,
    pub outcome: Outcome,
    pub notes: String,
    pub executed_at: Option<DateTime<Utc>>,
}

fn attr(e: &BytesStart<'_>, name: &[u8]) -> Result<Option<String>, String> {
    for a in e.attributes() {
        let a = a.map_err(|e| format!("bad attribute: {e}"))?;
        if a.key.as_ref() == name {
            return a
                .unescape_value()
                .map(|v| Some(v.into_owned()))
                .map_err(|e| format!("bad attribute value: {e}"));
        }
    }
    Ok(None)
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

fn push_note(notes: &mut String, text: &str) {
    let text = text.trim();
    if text.is_empty() || notes.chars().count() >= MAX_NOTES {
        return;
    }
    if !notes.is_empty() {
        notes.push('\n');
    }
    let room = MAX_NOTES.saturating_sub(notes.chars().count());
    notes.extend(text.chars().take(room));
}

/// Parses a JUnit report; the error is a message fit for a 400.
pub fn parse(xml: &str) -> Result<Vec<Case>, String> {
    if xml.contains('\0') {
        return Err("NUL characters are not allowed in XML".into());
    }
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(false);
    let mut cases = Vec::new();
    let mut suite_time: Vec<Option<DateTime<Utc>>> = Vec::new();
    let mut current: Option<Case> = None;
    // Inside <failure>/<error>/<skipped> of the current case, text becomes notes.
    let mut in_detail = false;
    let mut detail = String::new();
    let mut depth = 0usize;
    let mut saw_root = false;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("not well-formed XML at byte {}: {e}", reader.buffer_position()))?;
        match event {
            Event::DocType(_) => return Err("DOCTYPE declarations are not accepted".into()),
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                if !empty {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(format!("elements nest deeper than {MAX_DEPTH}"));
                    }
                }
                saw_root = true;
                match e.name().as_ref() {
                    b"testsuites" => {}
                    b"testsuite" if !empty => {
                        suite_time.push(attr(e, b"timestamp")?.as_deref().and_then(timestamp));
                    }
                    b"testcase" => {
                        if current.is_some() {
                            return Err("a testcase cannot contain another testcase".into());
                        }
                        let name = attr(e, b"name")?
                            .filter(|n| !n.trim().is_empty())
                            .ok_or("a testcase has no name")?;
                        let case = Case {
                            scenario: name.trim().to_string(),
                            outcome: Outcome::Pass,
                            notes: String::new(),
                            executed_at: attr(e, b"timestamp")?
                                .as_deref()
                                .and_then(timestamp)
                                .or_else(|| suite_time.iter().rev().flatten().next().copied()),
                        };
                        if cases.len() >= MAX_CASES {
                            return Err(format!("more than {MAX_CASES} test cases"));
                        }
                        if empty {
                            cases.push(case);
                        } else {
                            current = Some(case);
                        }
                    }
                    tag @ (b"failure" | b"error" | b"skipped") => {
                        let Some(case) = current.as_mut() else {
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
                        if let Some(message) = attr(e, b"message")? {
                            push_note(&mut case.notes, &message);
                        }
                        in_detail = !empty;
                    }
                    _ => {}
                }
            }
            Event::End(ref e) => {
                depth = depth.saturating_sub(1);
                match e.name().as_ref() {
                    b"testcase" => cases.extend(current.take()),
                    b"testsuite" => {
                        suite_time.pop();
                    }
                    b"failure" | b"error" | b"skipped" => {
                        in_detail = false;
                        if let Some(case) = current.as_mut() {
                            push_note(&mut case.notes, &detail);
                        }
                        detail.clear();
                    }
                    _ => {}
                }
            }
            Event::Text(ref t) if in_detail && detail.len() < MAX_NOTES * 4 => {
                detail.push_str(&t.decode().map_err(|e| format!("bad text: {e}"))?);
            }
            Event::CData(ref t) if in_detail && detail.len() < MAX_NOTES * 4 => {
                detail.push_str(&String::from_utf8_lossy(t.as_ref()));
            }
            Event::GeneralRef(ref r) => {
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
                if let (true, Some(c)) = (in_detail, resolved) {
                    detail.push(c);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_root {
        return Err("the document is empty".into());
    }
    if current.is_some() || depth != 0 {
        return Err("the document ends inside an element".into());
    }
    if cases.is_empty() {
        return Err("the report has no test cases".into());
    }
    Ok(cases)
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
        let cases = parse(xml).unwrap();
        let outcomes: Vec<(&str, Outcome)> = cases.iter().map(|c| (c.scenario.as_str(), c.outcome)).collect();
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
}
