//! Dates and lengths of time as people write them.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

/// "Fri 19 Dec 2026 17:00 UTC".
pub fn instant(t: DateTime<Utc>) -> String {
    t.format("%a %-d %b %Y %H:%M UTC").to_string()
}

/// Like [`instant`], without the year when it is `reference`'s: "Mon 15 Dec 21:43 UTC".
pub(super) fn instant_beside(t: DateTime<Utc>, reference: DateTime<Utc>) -> String {
    if t.year() == reference.year() {
        t.format("%a %-d %b %H:%M UTC").to_string()
    } else {
        instant(t)
    }
}

/// "Fri 19 Dec 2026".
pub fn day(d: NaiveDate) -> String {
    d.format("%a %-d %b %Y").to_string()
}

/// A length of time as people say it: minutes under an hour, hours under two days, then
/// days (rounded).
pub fn span(d: Duration) -> String {
    let seconds = d.num_seconds().unsigned_abs();
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    let round = |unit: u64| (seconds + unit / 2) / unit;
    if seconds < 3_600 {
        plural(round(60).max(1), "minute")
    } else if seconds < 48 * 3_600 {
        plural(round(3_600), "hour")
    } else {
        plural(round(86_400), "day")
    }
}

pub(super) fn instant_of(v: Option<&serde_json::Value>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v?.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

pub(super) fn date_of(v: Option<&serde_json::Value>) -> Option<NaiveDate> {
    v?.as_str()?.get(..10)?.parse().ok()
}

/// "later"/"earlier" with how much: "4 days later".
pub(super) fn moved(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let direction = if to >= from { "later" } else { "earlier" };
    format!("{} {direction}", span(to - from))
}
