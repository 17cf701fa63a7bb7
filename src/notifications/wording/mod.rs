//! How an email tells of a change, in sentences a person reads: names instead of ids, dates
//! as people write them ("Fri 19 Dec 2026 17:00 UTC"), how much a date moved, and no internal
//! codes (event kinds, field names, topic codes).

mod dates;
mod deployment;
mod manufacturing;
mod names;

use chrono::{Duration, NaiveDate};

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

/// The evidence a stage decision cites, in words: the review pack (its title and the start of
/// its hash), what it froze, whether the exit criteria were met, the verdicts, any override.
fn evidence(d: &serde_json::Value) -> Option<String> {
    let pack = d.get("review_pack").filter(|p| p.is_object())?;
    let text = |v: &serde_json::Value, key: &str| v.get(key).and_then(|x| x.as_str()).unwrap_or_default().to_string();
    let summary = pack.get("summary").cloned().unwrap_or_default();
    let int = |key: &str| summary.get(key).and_then(|x| x.as_i64()).unwrap_or(0);
    let tested = summary.get("tested_share").and_then(|x| x.as_f64()).unwrap_or(0.0);
    let sha = text(pack, "sha256");
    let mut out = format!(
        "The decision rests on review pack \"{}\" (SHA-256 {}…): {} industry results, {}% of the installed base \
         tested, {} unexplained failures, {} open UIT issues.",
        text(pack, "title"),
        &sha[..sha.len().min(12)],
        int("results"),
        crate::readiness::criteria::percent(tested),
        int("unexplained_failures"),
        int("open_uit_issues"),
    );
    let criteria: Vec<String> = summary
        .get("criteria")
        .and_then(|c| c.as_array())
        .map(|a| {
            a.iter()
                .map(|c| {
                    let met = c.get("met").and_then(|m| m.as_bool()).unwrap_or(false);
                    format!("{} ({})", text(c, "description"), if met { "met" } else { "not met" })
                })
                .collect()
        })
        .unwrap_or_default();
    if criteria.is_empty() {
        out += " The window had no exit criteria.";
    } else {
        out += &format!(" Exit criteria: {}.", criteria.join("; "));
    }
    let reviews: Vec<String> = pack
        .get("reviews")
        .and_then(|r| r.as_array())
        .map(|a| {
            a.iter()
                .map(|r| format!("{} {}", text(r, "org_name"), text(r, "verdict")))
                .collect()
        })
        .unwrap_or_default();
    if reviews.is_empty() {
        out += " No reviewer had recorded a verdict.";
    } else {
        out += &format!(" Verdicts: {}.", reviews.join(", "));
    }
    if let Some(reason) = d.get("override_reason").and_then(|r| r.as_str()) {
        out += &format!(" The operator overrode the unmet criteria: {reason}");
    }
    Some(out)
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

/// The words for `change`.
pub fn describe(change: &Change) -> Wording {
    let d = &change.details;
    let names = &change.names;
    let plain = |headline: String, detail: Option<String>| Wording {
        headline,
        detail,
        note: None,
    };
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
        "release" => {
            let release = names
                .release
                .clone()
                .or_else(|| d.get("name").and_then(|n| n.as_str()).map(str::to_string))
                .unwrap_or_else(|| "a release".into());
            match change.kind.as_str() {
                "release.stage_changed" => {
                    let named = |key: &str| d.get(key).and_then(|v| v.as_str()).map(stage);
                    let from = named("from").unwrap_or_else(|| "its last stage".into());
                    let to = named("to").unwrap_or_else(|| "its next stage".into());
                    let effective = instant_of(d.get("effective_at"));
                    let later = effective.filter(|t| *t > change.occurred_at.and_utc() + Duration::minutes(1));
                    let (headline, detail) = match (later, effective) {
                        (Some(at), _) => (
                            format!("Release {release} moves to {to} on {}", day(at.date_naive())),
                            format!(
                                "Release {release} moves from {from} to {to} on {}, {} from this decision; \
                                 until then it stays in {from}.",
                                instant(at),
                                span(at - change.occurred_at.and_utc())
                            ),
                        ),
                        (None, Some(at)) => (
                            format!("Release {release} moved to {to}"),
                            format!(
                                "Release {release} moved from {from} to {to}, in effect from {}.",
                                instant(at)
                            ),
                        ),
                        (None, None) => (
                            format!("Release {release} moved to {to}"),
                            format!("Release {release} moved from {from} to {to}."),
                        ),
                    };
                    let detail = match evidence(d) {
                        Some(evidence) => format!("{detail} {evidence}"),
                        None => detail,
                    };
                    Wording {
                        headline,
                        detail: Some(detail),
                        note: d
                            .get("decision_note")
                            .and_then(|n| n.as_str())
                            .filter(|n| !n.trim().is_empty())
                            .map(str::to_string),
                    }
                }
                "release.date_changed" => {
                    let (from, to) = (date_of(d.get("from")), date_of(d.get("to")));
                    let detail = match (from, to) {
                        (Some(from), Some(to)) => {
                            let at = |d: NaiveDate| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
                            format!(
                                "The target date of release {release} is now {} instead of {}: {}.",
                                day(to),
                                day(from),
                                moved(at(from), at(to))
                            )
                        }
                        (None, Some(to)) => format!("The target date of release {release} is set to {}.", day(to)),
                        (Some(from), None) => {
                            format!("Release {release} no longer has a target date; it was {}.", day(from))
                        }
                        (None, None) => change.summary.clone(),
                    };
                    plain(format!("Release {release}: target date changed"), Some(detail))
                }
                "release.created" => plain(
                    format!("Release {release} created"),
                    d.get("kind").and_then(|k| k.as_str()).map(|kind| {
                        let kind = match kind {
                            "sec_release" => "SEC release".to_string(),
                            other => format!("{} release", other.replace('_', " ")),
                        };
                        format!("A new {kind}, at its first stage (content agreed).")
                    }),
                ),
                _ => plain(change.summary.clone(), None),
            }
        }
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
    use serde_json::json;

    fn window_change(kind: &str, details: serde_json::Value) -> Change {
        Change {
            id: "e1".into(),
            occurred_at: NaiveDate::from_ymd_opt(2026, 12, 5)
                .unwrap()
                .and_hms_opt(9, 0, 0)
                .unwrap(),
            topic: "uit_windows".into(),
            kind: kind.into(),
            entity_type: "uit_window".into(),
            entity_id: "w1".into(),
            summary: "UIT-2026-12 now closes 2026-12-19 17:00 UTC, was 2026-12-15 21:43 UTC".into(),
            details,
            actor_org_id: Some("o1".into()),
            names: Names {
                actor_org: Some("Data Communications Company".into()),
                release: Some("CHF 4.2.1".into()),
                window: Some("UIT-2026-12".into()),
            },
        }
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
