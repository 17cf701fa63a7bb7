//! How an email tells of a change, in sentences a person reads: names instead of ids, dates
//! as people write them ("Fri 19 Dec 2026 17:00 UTC"), how much a date moved, and no internal
//! codes (event kinds, field names, topic codes).

mod dates;
mod deployment;
mod manufacturing;
mod names;
mod releases;

use super::email::Change;
use dates::{date_of, instant_beside, instant_of, moved};
pub use dates::{day, instant, span};
pub use deployment::stage;
pub use names::{name_all, Names};

/// What an email says about one change.
#[derive(Debug, Clone, PartialEq)]
pub struct Wording {
    /// One line: the subject, and the first line of the body.
    pub headline: String,
    /// What changed, as a sentence, when there is more to say than the headline.
    pub detail: Option<String>,
    /// A note the decision-maker wrote, quoted as given.
    pub note: Option<String>,
}

/// Results named one by one in an email; the rest are counted.
const RESULTS_NAMED: usize = 10;

/// New failures and known issues of shared results: who published how many where, the first
/// few by device set and scenario (with the masks that explain the known issues), and who
/// else can read them.
fn results(change: &Change) -> Wording {
    let d = &change.details;
    let text = |key: &str| d.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    let count = |key: &str| d.get(key).and_then(|v| v.as_u64()).unwrap_or(0) as usize;
    let window = change
        .names
        .window
        .clone()
        .unwrap_or_else(|| match text("window_name") {
            name if name.is_empty() => "a UIT window".into(),
            name => name,
        });
    let org = change
        .names
        .actor_org
        .clone()
        .unwrap_or_else(|| match text("org_name") {
            name if name.is_empty() => "An organisation".into(),
            name => name,
        });
    let counted = crate::results::notify::counted(count("failures"), count("known_issues"));
    let items = d.get("items").and_then(|v| v.as_array()).cloned().unwrap_or_default();
    let named: Vec<String> = items
        .iter()
        .take(RESULTS_NAMED)
        .map(|i| {
            let field = |key: &str| i.get(key).and_then(|v| v.as_str()).unwrap_or_default();
            let masks: Vec<&str> = i
                .get("masks")
                .and_then(|m| m.as_array())
                .map(|m| m.iter().filter_map(|c| c.as_str()).collect())
                .unwrap_or_default();
            let scenario = field("scenario").replace('_', " ");
            if masks.is_empty() {
                format!("{} ({scenario}): failed", field("device_set_name"))
            } else {
                format!(
                    "{} ({scenario}): failed, a known issue ({})",
                    field("device_set_name"),
                    masks.join(", ")
                )
            }
        })
        .collect();
    let rest = items.len().saturating_sub(RESULTS_NAMED) + count("more");
    let mut detail = format!("{org} published {counted} in {window}: {}", named.join("; "));
    if rest > 0 {
        detail.push_str(&format!("; and {rest} more"));
    }
    detail.push('.');
    detail.push_str(match text("visibility").as_str() {
        "industry" => " They are visible to every organisation.",
        _ => " They are shared with the window's participants.",
    });
    Wording {
        headline: format!("{window}: {counted} from {org}"),
        detail: Some(detail),
        note: None,
    }
}

/// A code from the details (a status, a category) in words.
fn words(v: Option<&serde_json::Value>) -> Option<String> {
    v.and_then(|v| v.as_str()).map(|s| s.replace('_', " "))
}

/// A headline and a detail, with no note.
fn plain(headline: String, detail: Option<String>) -> Wording {
    Wording {
        headline,
        detail,
        note: None,
    }
}

/// The words for `change`.
pub fn describe(change: &Change) -> Wording {
    let d = &change.details;
    let names = &change.names;
    match change.entity_type.as_str() {
        "uit_window" => {
            let window = names.window.clone().unwrap_or_else(|| "A UIT window".into());
            let of_release = names
                .release
                .as_ref()
                .map(|r| format!(" of release {r}"))
                .unwrap_or_default();
            let subject = format!("UIT window {window}{of_release}");
            let (from, to) = (instant_of(d.get("from")), instant_of(d.get("to")));
            let closes = instant_of(d.get("closes_at"));
            match (change.kind.as_str(), from, to) {
                ("window.extended" | "window.shortened", Some(from), Some(to)) => {
                    let how = if to >= from { "extended" } else { "shortened" };
                    let by = span(to - from);
                    plain(
                        format!("{subject} {how} by {by}"),
                        Some(format!(
                            "{window} now closes {} instead of {}: {how} by {by}.",
                            instant(to),
                            instant_beside(from, to)
                        )),
                    )
                }
                ("window.rescheduled", Some(from), Some(to)) => plain(
                    format!("{subject} now opens {}", instant(to)),
                    Some(format!(
                        "{window} now opens {} instead of {}: {}.",
                        instant(to),
                        instant_beside(from, to),
                        moved(from, to)
                    )),
                ),
                ("window.scheduled", ..) => plain(
                    format!("{subject} scheduled"),
                    match (instant_of(d.get("opens_at")), closes) {
                        (Some(opens), Some(closes)) => Some(format!(
                            "{window} opens {} and closes {}.",
                            instant(opens),
                            instant(closes)
                        )),
                        _ => None,
                    },
                ),
                ("window.cancelled", ..) => plain(
                    format!("{subject} cancelled"),
                    d.get("cancel_reason")
                        .and_then(|r| r.as_str())
                        .filter(|r| !r.trim().is_empty())
                        .map(|r| format!("The reason given: {r}")),
                ),
                ("window.opened", ..) => plain(
                    format!("{subject} is open"),
                    closes.map(|c| format!("{window} is open until {}.", instant(c))),
                ),
                ("window.closing_soon", ..) => plain(
                    format!("{subject} closes soon"),
                    closes.map(|c| format!("{window} closes {}.", instant(c))),
                ),
                ("window.closed", ..) => plain(
                    format!("{subject} has closed"),
                    closes.map(|c| format!("{window} closed {}.", instant(c))),
                ),
                ("window.exit_criteria_changed", ..) => plain(
                    format!("{subject}: exit criteria changed"),
                    Some(format!("{}.", change.summary)),
                ),
                ("review_pack.created", ..) => plain(
                    format!("{subject}: evidence frozen for review"),
                    Some(format!(
                        "{}. Reviewers record their verdict on the pack's page, linked from the window's readiness.",
                        change.summary
                    )),
                ),
                _ => plain(change.summary.clone(), None),
            }
        }
        "firmware" if change.kind == "firmware.manufacturing" => manufacturing::describe(change),
        "results" => results(change),
        "release_deployment" => deployment::describe(change),
        "release" => releases::describe(change),
        // The summaries of these already say a status change in words ("is now fixed, was
        // open"); dates and sharing get a sentence of their own.
        _ => {
            let detail = match (d.get("field").and_then(|f| f.as_str()), words(d.get("to"))) {
                (Some("planned_date" | "retirement_date"), _) => match (date_of(d.get("from")), date_of(d.get("to"))) {
                    (Some(from), Some(to)) => Some(format!("Now {} instead of {}.", day(to), day(from))),
                    (None, Some(to)) => Some(format!("Now {}.", day(to))),
                    (Some(from), None) => Some(format!("No date any more; it was {}.", day(from))),
                    (None, None) => None,
                },
                (Some("visibility"), Some(to)) => Some(match to.as_str() {
                    "participants" => "Now visible to the organisations taking part in an open UIT window.".into(),
                    "industry" => "Now visible to the whole industry.".into(),
                    _ => format!("Now {to}."),
                }),
                _ => None,
            };
            plain(change.summary.clone(), detail)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, NaiveDate};
    use serde_json::json;

    fn window_change(kind: &str, details: serde_json::Value) -> Change {
        let at = NaiveDate::from_ymd_opt(2026, 12, 5)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap();
        let summary = "UIT-2026-12 now closes 2026-12-19 17:00 UTC, was 2026-12-15 21:43 UTC";
        let names = Names {
            actor_org: Some("Data Communications Company".into()),
            release: Some("CHF 4.2.1".into()),
            window: Some("UIT-2026-12".into()),
        };
        let change = Change::sample(("uit_windows", kind), ("uit_window", "w1"), at, summary, details);
        Change { names, ..change }
    }

    #[test]
    fn a_release_firmware_change_names_the_versions_it_adds_and_drops() {
        let mut c = window_change(
            "release.firmware_changed",
            json!({ "added": [{ "id": "f1", "label": "Aurora (CHF) 4.2" }],
                    "removed": [{ "id": "f2", "label": "Aurora (CHF) 4.1" }] }),
        );
        c.entity_type = "release".into();
        let w = describe(&c);
        assert_eq!(w.headline, "Release CHF 4.2.1: firmware changed");
        assert_eq!(
            w.detail.as_deref(),
            Some("Release CHF 4.2.1 now also carries Aurora (CHF) 4.2. It no longer carries Aurora (CHF) 4.1.")
        );
    }

    #[test]
    fn an_extension_reads_as_a_sentence() {
        let c = window_change(
            "window.extended",
            json!({ "field": "closes_at", "from": "2026-12-15T21:43:00Z", "to": "2026-12-19T17:00:00Z" }),
        );
        let w = describe(&c);
        assert_eq!(
            w.headline,
            "UIT window UIT-2026-12 of release CHF 4.2.1 extended by 4 days"
        );
        assert_eq!(
            w.detail.as_deref(),
            Some(
                "UIT-2026-12 now closes Sat 19 Dec 2026 17:00 UTC instead of Tue 15 Dec 21:43 UTC: extended by 4 days."
            )
        );
    }

    #[test]
    fn new_failures_name_the_cells_and_who_reads_them() {
        let mut c = window_change(
            "results.failed",
            json!({
                "uit_window_id": "w1", "window_name": "UIT-2026-12", "org_id": "o2", "org_name": "Northern Lights",
                "visibility": "participants", "failures": 1, "known_issues": 1, "more": 0,
                "items": [
                    { "device_set_name": "CHF 4.2 + ESME A", "scenario": "change_of_mode", "masks": [] },
                    { "device_set_name": "CHF 4.2 + GSME B", "scenario": "top_up", "masks": ["DM-0042"] },
                ],
            }),
        );
        c.entity_type = "results".into();
        c.names.actor_org = Some("Northern Lights".into());
        let w = describe(&c);
        assert_eq!(
            w.headline,
            "UIT-2026-12: 1 new failure and 1 new known issue from Northern Lights"
        );
        assert_eq!(
            w.detail.as_deref(),
            Some(
                "Northern Lights published 1 new failure and 1 new known issue in UIT-2026-12: \
                 CHF 4.2 + ESME A (change of mode): failed; CHF 4.2 + GSME B (top up): failed, a known issue (DM-0042). \
                 They are shared with the window's participants."
            )
        );
    }

    #[test]
    fn spans_read_naturally() {
        assert_eq!(span(Duration::minutes(1)), "1 minute");
        assert_eq!(span(Duration::minutes(-90)), "2 hours");
        assert_eq!(span(Duration::hours(47)), "47 hours");
        assert_eq!(span(Duration::hours(91)), "4 days");
        assert_eq!(span(Duration::days(1) + Duration::hours(1)), "25 hours");
    }

    #[test]
    fn a_frozen_review_pack_and_new_exit_criteria_are_told_in_words() {
        let mut c = window_change("review_pack.created", json!({ "readiness_met": false }));
        c.summary = "Review pack \"exit review\" frozen: 11 industry results, exit criteria not met".into();
        let w = describe(&c);
        assert!(w.headline.ends_with(": evidence frozen for review"), "{}", w.headline);
        assert!(w.detail.unwrap().starts_with("Review pack \"exit review\" frozen"));
        let w = describe(&window_change("window.exit_criteria_changed", json!({})));
        assert!(w.headline.ends_with(": exit criteria changed"), "{}", w.headline);
    }

    #[test]
    fn a_stage_move_citing_a_pack_summarises_the_evidence() {
        let mut c = window_change(
            "release.stage_changed",
            json!({ "from": "uit", "to": "production_proving", "effective_at": "2026-12-05T09:00:00Z",
                    "override_reason": "Rig fault RIG-7.",
                    "review_pack": { "title": "exit review", "sha256": "abcdef0123456789",
                        "summary": { "results": 11, "tested_share": 0.417, "unexplained_failures": 1, "open_uit_issues": 0,
                                     "criteria": [{ "description": "At most 0 shared failures", "met": false }] },
                        "reviews": [{ "org_name": "SECAS", "verdict": "concerns" }] } }),
        );
        c.entity_type = "release".into();
        let detail = describe(&c).detail.unwrap();
        for part in [
            "review pack \"exit review\" (SHA-256 abcdef012345…)",
            "11 industry results, 41.7% of the installed base tested",
            "At most 0 shared failures (not met)",
            "Verdicts: SECAS concerns.",
            "overrode the unmet criteria: Rig fault RIG-7.",
        ] {
            assert!(detail.contains(part), "{part} not in: {detail}");
        }
    }

    #[test]
    fn a_scheduled_stage_move_says_when_and_quotes_the_note() {
        let mut c = window_change(
            "release.stage_changed",
            json!({ "from": "approved", "to": "deployment_phase_1",
                    "effective_at": "2026-12-15T09:00:00Z", "decision_note": "Exit criteria met." }),
        );
        c.entity_type = "release".into();
        let w = describe(&c);
        assert_eq!(
            w.headline,
            "Release CHF 4.2.1 moves to deployment phase 1 on Tue 15 Dec 2026"
        );
        let detail = w.detail.unwrap();
        assert!(
            detail.contains("on Tue 15 Dec 2026 09:00 UTC, 10 days from this decision"),
            "{detail}"
        );
        assert!(detail.contains("stays in approved"), "{detail}");
        assert_eq!(w.note.as_deref(), Some("Exit criteria met."));
    }
}
