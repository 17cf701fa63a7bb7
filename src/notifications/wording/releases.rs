//! A release's changes in words: a stage move (with the evidence it rests on), a target
//! date set or moved, the firmware it carries, its creation.

use chrono::{Duration, NaiveDate};

use super::dates::{date_of, instant_of, moved};
use super::{day, instant, plain, span, stage, Wording};
use crate::notifications::email::Change;

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

/// The words for an event about a release.
pub(super) fn describe(change: &Change) -> Wording {
    let d = &change.details;
    let names = &change.names;
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
        "release.firmware_changed" => {
            let labels = |key: &str| -> Vec<String> {
                d.get(key)
                    .and_then(|v| v.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|f| f["label"].as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let (added, removed) = (labels("added"), labels("removed"));
            let mut said = Vec::new();
            if !added.is_empty() {
                said.push(format!("Release {release} now also carries {}.", added.join(", ")));
            }
            if !removed.is_empty() {
                said.push(format!("It no longer carries {}.", removed.join(", ")));
            }
            plain(
                format!("Release {release}: firmware changed"),
                (!said.is_empty()).then(|| said.join(" ")),
            )
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
