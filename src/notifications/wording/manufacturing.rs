//! A manufacturing decision in words: which firmware new Comms Hubs of a model leave the
//! factory with, from when, and what they were made with before.

use super::dates::date_of;
use super::{day, Wording};
use crate::notifications::email::Change;

/// The words for a `firmware.manufacturing` event.
pub(super) fn describe(change: &Change) -> Wording {
    let d = &change.details;
    let text = |key: &str| d.get(key).and_then(|v| v.as_str()).filter(|s| !s.trim().is_empty());
    let model = match (text("model_name"), text("hardware_version")) {
        (Some(name), Some(hw)) => format!("{name} ({hw})"),
        (Some(name), None) => name.to_string(),
        _ => "a Comms Hub model".to_string(),
    };
    let version = text("version").unwrap_or("a new version");
    let when = |key: &str| date_of(d.get(key)).map(day);
    let from = when("from_date").unwrap_or_else(|| "a date to be announced".into());
    let before = match (text("previous_version"), when("previous_from_date")) {
        (Some(prev), Some(since)) => format!(", following firmware {prev} (manufactured from {since})"),
        _ => ", the first manufacturing decision recorded for this model".into(),
    };
    Wording {
        headline: format!("Comms Hubs of {model} manufactured with firmware {version} from {from}"),
        detail: Some(format!(
            "From {from}, new Comms Hubs of {model} are manufactured with firmware {version}{before}."
        )),
        note: text("note").map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use serde_json::json;

    use super::*;

    fn decision(details: serde_json::Value) -> Change {
        let at = NaiveDate::from_ymd_opt(2026, 12, 6)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap();
        let summary = "Comms Hubs of Hub X are manufactured with firmware 2.1 from 2027-02-01";
        let kind = ("retirements", "firmware.manufacturing");
        let change = Change::sample(kind, ("firmware", "f1"), at, summary, details);
        Change {
            actor_org_id: None,
            ..change
        }
    }

    #[test]
    fn a_decision_says_the_model_the_version_the_date_and_what_it_follows() {
        let w = super::super::describe(&decision(json!({
            "model_name": "Hub X", "hardware_version": "HW1", "version": "2.1", "from_date": "2027-02-01",
            "previous_version": "2.0", "previous_from_date": "2026-03-01", "note": "Proven in deployment.",
        })));
        assert_eq!(
            w.headline,
            "Comms Hubs of Hub X (HW1) manufactured with firmware 2.1 from Mon 1 Feb 2027"
        );
        assert_eq!(
            w.detail.as_deref(),
            Some(
                "From Mon 1 Feb 2027, new Comms Hubs of Hub X (HW1) are manufactured with firmware 2.1, \
                 following firmware 2.0 (manufactured from Sun 1 Mar 2026)."
            )
        );
        assert_eq!(w.note.as_deref(), Some("Proven in deployment."));
        let first = super::super::describe(&decision(
            json!({ "model_name": "Hub X", "version": "2.0", "from_date": "2026-03-01", "note": "" }),
        ));
        assert!(first
            .detail
            .unwrap()
            .ends_with("firmware 2.0, the first manufacturing decision recorded for this model."));
        assert_eq!(first.note, None);
    }
}
