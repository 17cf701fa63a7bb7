//! Words and numbers for people: relative times, thousands, shares, outcome labels, pagers.

use chrono::{DateTime, Utc};

use crate::matrix::handlers::CoverageState;
use crate::ui::pages::human_time;
use crate::windows::WindowStatus;

/// "in 4 days", "3 hours ago", "in 12 minutes", "now".
pub fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (t - now).num_seconds();
    let s = secs.unsigned_abs();
    let amount = if s < 60 {
        return "now".to_string();
    } else if s < 3_600 {
        plural(s / 60, "minute")
    } else if s < 48 * 3_600 {
        plural((s + 1_800) / 3_600, "hour")
    } else {
        plural((s + 43_200) / 86_400, "day")
    };
    if secs > 0 {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

pub(super) fn plural(n: u64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// 410000 -> "410,000".
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// "1 set", "2,000 sets".
pub(super) fn sets_phrase(n: i64) -> String {
    if n == 1 {
        "1 set".to_string()
    } else {
        format!("{} sets", thousands(n))
    }
}

pub(super) fn percent(share: f64) -> String {
    let p = share * 100.0;
    if p > 0.0 && p < 1.0 {
        "under 1%".to_string()
    } else {
        format!("{p:.0}%")
    }
}

/// The heatmap's word and colour class for a worst outcome (WEB.md's table).
pub(super) fn outcome_label(worst: Option<&str>) -> (&'static str, &'static str) {
    match worst {
        Some("fail") => ("FAIL", "o-fail"),
        Some("known_issue") => ("KNOWN", "o-known"),
        Some("blocked") => ("BLOCKED", "o-blocked"),
        Some("pass_with_observations") => ("OBS", "o-obs"),
        Some("pass") => ("PASS", "o-pass"),
        Some("not_run") => ("NOT RUN", "o-notrun"),
        _ => ("-", "o-none"),
    }
}

pub(super) fn outcome_words(outcome: &str) -> &'static str {
    match outcome {
        "fail" => "failed",
        "known_issue" => "known issue",
        "blocked" => "blocked",
        "pass_with_observations" => "passed with observations",
        "pass" => "passed",
        "not_run" => "not run",
        _ => "unknown",
    }
}

pub(super) fn state_words(s: CoverageState) -> &'static str {
    match s {
        CoverageState::Unclaimed => "unclaimed",
        CoverageState::Claimed => "claimed",
        CoverageState::InProgress => "in progress",
        CoverageState::Complete => "complete",
    }
}

pub(super) fn status_words(
    status: WindowStatus,
    opens: DateTime<Utc>,
    closes: DateTime<Utc>,
    now: DateTime<Utc>,
) -> String {
    match status {
        WindowStatus::Open => format!("open, closes {} ({})", human_time(closes), relative(closes, now)),
        WindowStatus::Scheduled => format!("scheduled, opens {} ({})", human_time(opens), relative(opens, now)),
        WindowStatus::Closed => format!("closed {} ({})", human_time(closes), relative(closes, now)),
        WindowStatus::Cancelled => "cancelled".to_string(),
    }
}

/// A link to page `n` of a list, keeping its filters.
pub struct PageLink {
    /// `None` for the "..." between far pages.
    pub number: Option<usize>,
    pub href: String,
    pub current: bool,
}

/// "1 2 3 ... 40": the first and last pages and two either side of the current one.
pub(super) fn pager(current: usize, pages: usize, href: impl Fn(usize) -> String) -> Vec<PageLink> {
    let mut links = Vec::new();
    if pages <= 1 {
        return links;
    }
    let mut last_shown = 0;
    for n in 1..=pages {
        let near = n + 2 >= current && n <= current + 2;
        if n == 1 || n == pages || near {
            if last_shown + 1 < n {
                links.push(PageLink {
                    number: None,
                    href: String::new(),
                    current: false,
                });
            }
            links.push(PageLink {
                number: Some(n),
                href: href(n),
                current: n == current,
            });
            last_shown = n;
        }
    }
    links
}

pub(super) fn page_number(raw: Option<&str>) -> usize {
    raw.and_then(|p| p.trim().parse::<usize>().ok()).unwrap_or(1).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn relative_times_read_as_people_say_them() {
        let now = Utc::now();
        assert_eq!(relative(now + chrono::Duration::days(4), now), "in 4 days");
        assert_eq!(relative(now - chrono::Duration::hours(3), now), "3 hours ago");
        assert_eq!(relative(now + chrono::Duration::minutes(12), now), "in 12 minutes");
        assert_eq!(relative(now + chrono::Duration::seconds(5), now), "now");
    }

    #[test]
    fn numbers_get_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(410_000), "410,000");
        assert_eq!(thousands(-1_234_567), "-1,234,567");
    }

    #[test]
    fn the_pager_shows_ends_and_neighbours() {
        let shown = |current, pages| {
            pager(current, pages, |n| n.to_string())
                .iter()
                .map(|l| l.number.map(|n| n.to_string()).unwrap_or_else(|| "...".into()))
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(shown(1, 40), "1 2 3 ... 40");
        assert_eq!(shown(20, 40), "1 ... 18 19 20 21 22 ... 40");
        assert_eq!(shown(1, 1), "");
    }
}
