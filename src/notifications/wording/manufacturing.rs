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
        (Some(prev), Some(since)) => format!("; before that they are manufactured with firmware {prev} (from {since})"),
        _ => "; it is the first manufacturing decision recorded for this model".into(),
    };
    Wording {
        headline: format!("Comms Hubs of {model} manufactured with firmware {version} from {from}"),
        detail: Some(format!(
            "From {from}, new Comms Hubs of {model} are manufactured with firmware {version}{before}."
        )),
        note: text("note").map(str::to_string),
    }
}
