//! Co-operative deployment in words: stages of the release track, a nomination for a phase
//! (who put forward how many hubs) and the assessment of a phase (what the meeting decided).

use super::Wording;
use crate::notifications::email::Change;

/// A stage of the release track in words.
pub fn stage(code: &str) -> String {
    match code {
        "pit" => "PIT".into(),
        "sit" => "SIT".into(),
        "uit" => "UIT".into(),
        other => other.replace('_', " "),
    }
}

/// The words for a `deployment.nominated` or `deployment.assessed` event.
pub(super) fn describe(change: &Change) -> Wording {
    let d = &change.details;
    let text = |key: &str| d.get(key).and_then(|v| v.as_str()).filter(|s| !s.trim().is_empty());
    let count = |key: &str| d.get(key).and_then(|v| v.as_u64()).unwrap_or(0);
    let release = change.names.release.clone().unwrap_or_else(|| "a release".into());
    let phase = text("phase").map(stage).unwrap_or_else(|| "a deployment phase".into());
    let org = change
        .names
        .actor_org
        .clone()
        .unwrap_or_else(|| "An organisation".into());
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    match change.kind.as_str() {
        "deployment.nominated" => {
            let hubs = plural(count("hub_count"), "Comms Hub", "Comms Hubs");
            let sets = plural(count("device_set_count"), "device set", "device sets");
            Wording {
                headline: format!("Release {release}: {org} nominated {hubs} for {phase}"),
                detail: Some(format!(
                    "{org} nominated {hubs} in {sets} for {phase} of release {release}."
                )),
                note: text("note").map(str::to_string),
            }
        }
        "deployment.assessed" => {
            let decided = match text("outcome") {
                Some("proceed") => "to proceed to the next phase",
                Some("hold") => "to hold the release where it is",
                Some("roll_back") => "to roll back",
                _ => "its outcome",
            };
            let issues = match count("issue_count") {
                0 => "No UIT issue or defect mask was cited.".to_string(),
                n => format!(
                    "{} cited.",
                    plural(n, "UIT issue or defect mask was", "UIT issues or defect masks were")
                ),
            };
            Wording {
                headline: format!(
                    "Release {release}: {phase} assessed, {}",
                    text("outcome").map(|o| o.replace('_', " ")).unwrap_or_default()
                ),
                detail: Some(format!(
                    "The assessment meeting after {phase} of release {release} decided {decided}. {issues}"
                )),
                note: text("minutes").map(str::to_string),
            }
        }
        _ => Wording {
            headline: change.summary.clone(),
            detail: None,
            note: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use serde_json::json;

    use super::*;

    fn change(kind: &str, details: serde_json::Value) -> Change {
        let at = NaiveDate::from_ymd_opt(2026, 12, 7)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap();
        let names = crate::notifications::wording::Names {
            actor_org: Some("Northern Lights".into()),
            release: Some("CHF 4.2.1".into()),
            window: None,
        };
        let change = Change::sample(("releases", kind), ("release_deployment", "r1"), at, "summary", details);
        Change { names, ..change }
    }

    #[test]
    fn a_nomination_and_an_assessment_read_as_sentences() {
        let w = super::super::describe(&change(
            "deployment.nominated",
            json!({ "phase": "deployment_phase_1", "hub_count": 250, "device_set_count": 1, "note": "North only." }),
        ));
        assert_eq!(
            w.headline,
            "Release CHF 4.2.1: Northern Lights nominated 250 Comms Hubs for deployment phase 1"
        );
        assert_eq!(
            w.detail.as_deref(),
            Some(
                "Northern Lights nominated 250 Comms Hubs in 1 device set for deployment phase 1 of release CHF 4.2.1."
            )
        );
        assert_eq!(w.note.as_deref(), Some("North only."));
        let w = super::super::describe(&change(
            "deployment.assessed",
            json!({ "phase": "deployment_phase_2", "outcome": "roll_back", "issue_count": 2, "minutes": "Hubs dropped off." }),
        ));
        assert_eq!(w.headline, "Release CHF 4.2.1: deployment phase 2 assessed, roll back");
        assert_eq!(
            w.detail.as_deref(),
            Some(
                "The assessment meeting after deployment phase 2 of release CHF 4.2.1 decided to roll back. \
                 2 UIT issues or defect masks were cited."
            )
        );
        assert_eq!(w.note.as_deref(), Some("Hubs dropped off."));
    }
}
