//! Building the feed: UIT windows, firmware retirements and committed roadmap dates as
//! VEVENTs with stable UIDs, so calendar clients update events instead of duplicating them.
//!
//! The `icalendar` crate writes CRLF line ends and folds long lines, but its folding can leave
//! the last piece of a long line at 76 octets (a leading space plus 75), over RFC 5545's limit
//! of 75. [`refold`] therefore unfolds its output and folds every content line again.

use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use icalendar::{Calendar, Component, Event, EventLike, EventStatus, Property};

use crate::catalogue::model::{DeviceModelRow, FirmwareRow};
use crate::db::schema::{device_models, firmware_versions, releases, uit_windows};
use crate::db::DbConn;
use crate::http::ApiError;
use crate::roadmaps::model::{self as roadmaps, ItemFilter, Order, Viewer};
use crate::roadmaps::RoadmapStatus;
use crate::windows::model::WindowRow;

/// How far back the feed reaches: windows that closed, retirements and roadmap dates up to
/// this many days ago (and everything later). Keeps the feed small as years pass.
pub const LOOK_BACK_DAYS: i64 = 180;

/// Most events of each kind in one feed; a backstop, far above what the industry schedules.
const MAX_PER_KIND: i64 = 5000;

/// The longest content line RFC 5545 allows, in octets, not counting the CRLF.
const MAX_LINE_OCTETS: usize = 75;

const UID_DOMAIN: &str = "uit-portal";

/// The calendar for `viewer` at `now`, as RFC 5545 text.
pub fn build(conn: &mut DbConn, viewer: &Viewer, now: NaiveDateTime) -> Result<String, ApiError> {
    let since = now - Duration::days(LOOK_BACK_DAYS);
    let mut calendar = Calendar::empty();
    calendar
        .append_property(Property::new("VERSION", "2.0"))
        .append_property(Property::new("PRODID", "-//UIT Portal//Calendar feed//EN"))
        .append_property(Property::new("CALSCALE", "GREGORIAN"))
        .append_property(Property::new("METHOD", "PUBLISH"))
        .name("UIT Portal")
        .ttl(&Duration::hours(1));

    let Entries {
        windows,
        retiring,
        successors,
        committed,
    } = entries(conn, viewer, since)?;
    for (w, release) in windows {
        calendar.push(window_event(&w, &release));
    }
    for (f, product) in retiring {
        let successor = f.successor_id.as_ref().and_then(|id| successors.get(id));
        if let Some(event) = retirement_event(&f, &product, successor.map(String::as_str)) {
            calendar.push(event);
        }
    }
    for (item, product) in committed {
        if let Some(event) = roadmap_event(&item, &product) {
            calendar.push(event);
        }
    }

    Ok(refold(&calendar.to_string()))
}

/// What the feed holds for `viewer` from `since` on: windows (with their release's name),
/// firmware retirements (with their product; successor versions by id) and the committed
/// roadmap dates the viewer may see. The feed and the calendar page both read it.
pub struct Entries {
    pub windows: Vec<(WindowRow, String)>,
    pub retiring: Vec<(FirmwareRow, DeviceModelRow)>,
    pub successors: std::collections::HashMap<String, String>,
    pub committed: Vec<(roadmaps::RoadmapRow, DeviceModelRow)>,
}

/// The feed's entries for `viewer` that end or fall on or after `since`, each kind by date.
pub fn entries(conn: &mut DbConn, viewer: &Viewer, since: NaiveDateTime) -> Result<Entries, ApiError> {
    let windows: Vec<(WindowRow, String)> = uit_windows::table
        .inner_join(releases::table)
        .filter(uit_windows::closes_at.ge(since))
        .select((WindowRow::as_select(), releases::name))
        .order((uit_windows::opens_at.asc(), uit_windows::id.asc()))
        .limit(MAX_PER_KIND)
        .load(conn)?;

    let retiring: Vec<(FirmwareRow, DeviceModelRow)> = firmware_versions::table
        .inner_join(device_models::table)
        .filter(firmware_versions::retirement_date.ge(since.date()))
        .select((FirmwareRow::as_select(), DeviceModelRow::as_select()))
        .order((firmware_versions::retirement_date.asc(), firmware_versions::id.asc()))
        .limit(MAX_PER_KIND)
        .load(conn)?;
    let successor_ids: Vec<String> = retiring.iter().filter_map(|(f, _)| f.successor_id.clone()).collect();
    let successors: std::collections::HashMap<String, String> = firmware_versions::table
        .filter(firmware_versions::id.eq_any(&successor_ids))
        .select((firmware_versions::id, firmware_versions::version))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let committed = roadmaps::select(
        conn,
        viewer,
        ItemFilter {
            from: Some(since.date()),
            status: Some(RoadmapStatus::Committed),
            ..ItemFilter::default()
        },
        Order::ByDate,
        MAX_PER_KIND,
    )?;
    Ok(Entries {
        windows,
        retiring,
        successors,
        committed,
    })
}

/// TEXT values may not hold control characters other than tab; line breaks become `\n`
/// (which the crate escapes).
fn clean(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace('\r', "\n")
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect()
}

/// SEQUENCE starts at 0 (RFC 5545 3.8.7.4); row versions start at 1 and only grow.
fn sequence(version: i64) -> u32 {
    u32::try_from(version.saturating_sub(1)).unwrap_or(u32::MAX)
}

fn uid(kind: &str, id: &str) -> String {
    format!("{kind}-{id}@{UID_DOMAIN}")
}

fn all_day(event: &mut Event, date: NaiveDate) {
    // DTEND of an all-day event is exclusive: the next day.
    event.starts(date).ends(date.succ_opt().unwrap_or(date));
}

fn window_event(w: &WindowRow, release: &str) -> Event {
    let cancelled = w.cancelled_at.is_some();
    let mut description = format!("UIT window for release {release}.");
    if let Some(reason) = w.cancel_reason.as_deref().filter(|r| !r.is_empty()) {
        description.push_str(&format!("\nCancelled: {reason}"));
    }
    let mut event = Event::new();
    event
        .uid(&uid("window", &w.id))
        .sequence(sequence(w.version))
        .timestamp(w.updated_at.and_utc())
        .last_modified(w.updated_at.and_utc())
        .created(w.created_at.and_utc())
        .summary(&clean(&format!("UIT window {} ({release})", w.name)))
        .description(&clean(&description))
        .starts(w.opens_at.and_utc())
        .ends(w.closes_at.and_utc())
        .status(if cancelled {
            EventStatus::Cancelled
        } else {
            EventStatus::Confirmed
        })
        .add_property("TRANSP", "TRANSPARENT");
    event.done()
}

fn retirement_event(f: &FirmwareRow, product: &DeviceModelRow, successor: Option<&str>) -> Option<Event> {
    let date = f.retirement_date?;
    let replaced_by = successor.map(|s| format!(", replaced by {s}")).unwrap_or_default();
    let mut event = Event::new();
    event
        .uid(&uid("retirement", &f.id))
        .sequence(sequence(f.row_version))
        .timestamp(f.updated_at.and_utc())
        .last_modified(f.updated_at.and_utc())
        .created(f.created_at.and_utc())
        .summary(&clean(&format!(
            "{} ({}) firmware {} retires{replaced_by}",
            product.name, product.device_type, f.version
        )))
        .add_property("TRANSP", "TRANSPARENT");
    all_day(&mut event, date);
    Some(event.done())
}

fn roadmap_event(item: &roadmaps::RoadmapRow, product: &DeviceModelRow) -> Option<Event> {
    let date = item.planned_date?;
    let mut event = Event::new();
    event
        .uid(&uid("roadmap", &item.id))
        .sequence(sequence(item.version))
        .timestamp(item.updated_at.and_utc())
        .last_modified(item.updated_at.and_utc())
        .created(item.created_at.and_utc())
        .summary(&clean(&format!(
            "{} ({}) firmware {} planned ({})",
            product.name, product.device_type, item.planned_version, item.category
        )))
        .description(&clean(&item.summary))
        .add_property("TRANSP", "TRANSPARENT");
    all_day(&mut event, date);
    Some(event.done())
}

/// Unfolds `ics` (CRLF followed by one space or tab continues a line) and folds every content
/// line again so that no line exceeds 75 octets, splitting only between UTF-8 characters.
/// Every line, the last included, ends with CRLF.
pub fn refold(ics: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for physical in ics.split("\r\n") {
        if let Some(rest) = physical.strip_prefix([' ', '\t']) {
            if let Some(last) = lines.last_mut() {
                last.push_str(rest);
                continue;
            }
        }
        if !physical.is_empty() {
            lines.push(physical.to_string());
        }
    }
    let mut out = String::with_capacity(ics.len() + ics.len() / 64);
    for line in &lines {
        fold_into(&mut out, line);
    }
    out
}

fn fold_into(out: &mut String, line: &str) {
    let mut rest = line;
    let mut first = true;
    loop {
        // A continuation line starts with the space that unfolding removes.
        let room = if first { MAX_LINE_OCTETS } else { MAX_LINE_OCTETS - 1 };
        if !first {
            out.push(' ');
        }
        if rest.len() <= room {
            out.push_str(rest);
            out.push_str("\r\n");
            return;
        }
        let mut cut = room;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push_str(&rest[..cut]);
        out.push_str("\r\n");
        rest = &rest[cut..];
        first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::{clean, refold};

    fn check_lines(ics: &str) {
        assert!(ics.ends_with("\r\n"));
        for line in ics.split_terminator("\r\n") {
            assert!(
                !line.contains('\n') && !line.contains('\r'),
                "bare line break in {line:?}"
            );
            assert!(line.len() <= 75, "{} octets: {line:?}", line.len());
        }
    }

    fn unfold(ics: &str) -> String {
        ics.replace("\r\n ", "")
    }

    #[test]
    fn long_lines_fold_at_75_octets_and_unfold_to_the_original() {
        for n in [74, 75, 76, 149, 150, 151, 223, 224, 225, 300] {
            let line = format!("SUMMARY:{}", "x".repeat(n - 8));
            let folded = refold(&format!("{line}\r\n"));
            check_lines(&folded);
            assert_eq!(unfold(&folded), format!("{line}\r\n"), "{n}");
        }
    }

    #[test]
    fn folding_never_splits_a_character() {
        let line = format!("SUMMARY:{}", "Zählerstandsgang – 老虎 ".repeat(12));
        let folded = refold(&format!("BEGIN:VEVENT\r\n{line}\r\nEND:VEVENT\r\n"));
        check_lines(&folded);
        assert_eq!(unfold(&folded), format!("BEGIN:VEVENT\r\n{line}\r\nEND:VEVENT\r\n"));
    }

    #[test]
    fn the_crates_own_folds_are_undone_first() {
        let crate_output = format!("DESCRIPTION:{}\r\n {}\r\n", "a".repeat(63), "b".repeat(75));
        let folded = refold(&crate_output);
        check_lines(&folded);
        assert_eq!(
            unfold(&folded),
            format!("DESCRIPTION:{}{}\r\n", "a".repeat(63), "b".repeat(75))
        );
    }

    #[test]
    fn lines_the_crate_leaves_at_76_octets_are_refolded() {
        use icalendar::{Calendar, Component, Event};
        // With these lengths icalendar 0.17 ends the SUMMARY with a 76-octet continuation.
        for n in [142, 216] {
            let mut event = Event::new();
            event.summary(&"x".repeat(n));
            let mut calendar = Calendar::empty();
            calendar.push(event.done());
            let text = calendar.to_string();
            let folded = refold(&text);
            check_lines(&folded);
            assert_eq!(unfold(&folded), unfold(&text));
        }
    }

    #[test]
    fn control_characters_are_dropped_and_line_breaks_kept() {
        assert_eq!(clean("a\r\nb\rc\u{7}d\te"), "a\nb\ncd\te");
    }
}
