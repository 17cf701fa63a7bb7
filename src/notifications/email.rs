//! What a notification email says: the change's summary, what changed from and to, a link
//! back to the API resource, why the subscriber gets it and how to stop it.

use chrono::{NaiveDate, NaiveDateTime};

use super::model::{describe_topics, unsubscribe_url, Filters};
use super::Mode;
use crate::events::{show, Topic};
use crate::mail::templates::{escape_html, render_with_html, Rendered};
use crate::mail::Template;

/// A change event, as an email shows it.
#[derive(Debug, Clone)]
pub struct Change {
    pub id: String,
    pub occurred_at: NaiveDateTime,
    pub topic: String,
    pub kind: String,
    pub entity_type: String,
    pub entity_id: String,
    pub summary: String,
    pub details: serde_json::Value,
}

/// The subscription an email is sent for.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub topics: Vec<Topic>,
    pub filters: Filters,
    pub mode: Mode,
    pub unsubscribe_token: String,
}

/// The API path of what a change is about.
pub fn resource_path(entity_type: &str, entity_id: &str) -> Option<String> {
    let collection = match entity_type {
        "release" => "releases",
        "uit_window" => "uit-windows",
        "firmware" => "firmware",
        "defect_mask" => "defect-masks",
        "roadmap_item" => "roadmap-items",
        "library_contact" => "library-contacts",
        _ => return None,
    };
    Some(format!("/api/v1/{collection}/{entity_id}"))
}

fn topic_label(topic: &str) -> &str {
    match Topic::parse(topic) {
        Some(Topic::Releases) => "Releases",
        Some(Topic::UitWindows) => "UIT windows",
        Some(Topic::Retirements) => "Firmware retirements",
        Some(Topic::Roadmaps) => "Roadmaps",
        Some(Topic::DefectMasks) => "Defect masks",
        None => topic,
    }
}

fn value(v: Option<&serde_json::Value>) -> String {
    match v {
        None | Some(serde_json::Value::Null) => "(none)".into(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// "closes_at: from 2027-03-21T10:00:00Z to 2027-03-28T10:00:00Z", when the details name a field.
pub fn what_changed(details: &serde_json::Value) -> Option<(String, String, String)> {
    let field = details.get("field")?.as_str()?.to_string();
    Some((field, value(details.get("from")), value(details.get("to"))))
}

fn link(public_url: &str, change: &Change) -> String {
    let path = resource_path(&change.entity_type, &change.entity_id).unwrap_or_else(|| "/api/v1".into());
    format!("{public_url}{path}")
}

fn reason(recipient: &Recipient) -> String {
    let mode = match recipient.mode {
        Mode::Immediate => "",
        Mode::DailyDigest => " as a daily digest",
    };
    format!(
        "you subscribed to {} for {}{mode}",
        describe_topics(&recipient.topics),
        recipient.filters.describe()
    )
}

/// The subject line; long summaries are cut at a word.
fn subject_summary(summary: &str) -> String {
    const MAX: usize = 160;
    if summary.chars().count() <= MAX {
        return summary.to_string();
    }
    let cut: String = summary.chars().take(MAX).collect();
    let cut = cut.rsplit_once(' ').map(|(head, _)| head.to_string()).unwrap_or(cut);
    format!("{cut}...")
}

/// One change, to one subscriber.
pub fn render_change(public_url: &str, recipient: &Recipient, change: &Change) -> Rendered {
    let public_url = public_url.trim_end_matches('/');
    let (changes, changes_html) = match what_changed(&change.details) {
        Some((field, from, to)) => (
            format!("What changed: {field}, from {from} to {to}\n"),
            format!(
                "<p>What changed: <code>{}</code>, from <strong>{}</strong> to <strong>{}</strong></p>",
                escape_html(&field),
                escape_html(&from),
                escape_html(&to)
            ),
        ),
        None => (String::new(), String::new()),
    };
    render_with_html(
        Template::Notification,
        &[
            ("subject", &subject_summary(&change.summary)),
            ("summary", &change.summary),
            ("changes", &changes),
            ("topic", topic_label(&change.topic)),
            ("kind", &change.kind),
            ("occurred_at", &show(change.occurred_at)),
            ("resource_url", &link(public_url, change)),
            ("reason", &reason(recipient)),
            (
                "unsubscribe_url",
                &unsubscribe_url(public_url, &recipient.unsubscribe_token),
            ),
            ("public_url", public_url),
        ],
        &[("changes_html", &changes_html)],
    )
}

/// A subscriber's changes of `day`, oldest first, in one email.
pub fn render_digest(public_url: &str, recipient: &Recipient, day: NaiveDate, changes: &[Change]) -> Rendered {
    let public_url = public_url.trim_end_matches('/');
    let mut items = String::new();
    let mut items_html = String::new();
    for change in changes {
        let url = link(public_url, change);
        let at = change.occurred_at.format("%H:%M UTC");
        items.push_str(&format!("- {at}  {}\n  {url}\n", change.summary));
        items_html.push_str(&format!(
            "<li><strong>{at}</strong> {}<br><a href=\"{}\">{}</a></li>\n",
            escape_html(&change.summary),
            escape_html(&url),
            escape_html(&url)
        ));
    }
    let count = match changes.len() {
        1 => "1 change".to_string(),
        n => format!("{n} changes"),
    };
    render_with_html(
        Template::Digest,
        &[
            ("day", &day.format("%Y-%m-%d").to_string()),
            ("count", &count),
            ("items", &items),
            ("reason", &reason(recipient)),
            (
                "unsubscribe_url",
                &unsubscribe_url(public_url, &recipient.unsubscribe_token),
            ),
            ("public_url", public_url),
        ],
        &[("items_html", &items_html)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(summary: &str, details: serde_json::Value) -> Change {
        Change {
            id: "e1".into(),
            occurred_at: NaiveDate::from_ymd_opt(2027, 3, 20)
                .unwrap()
                .and_hms_opt(9, 30, 0)
                .unwrap(),
            topic: "uit_windows".into(),
            kind: "window.extended".into(),
            entity_type: "uit_window".into(),
            entity_id: "w1".into(),
            summary: summary.into(),
            details,
        }
    }

    fn recipient(mode: Mode) -> Recipient {
        Recipient {
            topics: vec![Topic::UitWindows],
            filters: Filters::default(),
            mode,
            unsubscribe_token: "uitu_abc".into(),
        }
    }

    #[test]
    fn a_change_email_says_what_changed_links_back_and_offers_unsubscribe() {
        let c = change(
            "UIT-2027-03 now closes 2027-03-28 10:00 UTC, was 2027-03-21 10:00 UTC <b>",
            json!({ "field": "closes_at", "from": "2027-03-21T10:00:00Z", "to": "2027-03-28T10:00:00Z" }),
        );
        let r = render_change("https://uit.example.org/", &recipient(Mode::Immediate), &c);
        assert!(r.subject.starts_with("[UIT Portal] UIT-2027-03 now closes 2027-03-28"));
        for part in [&r.text, &r.html] {
            assert!(part.contains("https://uit.example.org/api/v1/uit-windows/w1"));
            assert!(part.contains("https://uit.example.org/api/v1/unsubscribe?token=uitu_abc"));
            assert!(part.contains("2027-03-21T10:00:00Z") && part.contains("2027-03-28T10:00:00Z"));
            assert!(!part.contains("{{"), "{part}");
        }
        assert!(r
            .text
            .contains("What changed: closes_at, from 2027-03-21T10:00:00Z to 2027-03-28T10:00:00Z"));
        assert!(r.html.contains("&lt;b&gt;") && !r.html.contains("<b>"));
    }

    #[test]
    fn a_digest_lists_the_days_changes() {
        let changes = [change("First", json!({})), change("Second <i>", json!({}))];
        let day = NaiveDate::from_ymd_opt(2027, 3, 20).unwrap();
        let r = render_digest("https://uit.example.org", &recipient(Mode::DailyDigest), day, &changes);
        assert_eq!(r.subject, "[UIT Portal] Daily digest for 2027-03-20: 2 changes");
        assert!(r.text.contains("- 09:30 UTC  First") && r.text.contains("Second <i>"));
        assert!(r.html.contains("Second &lt;i&gt;"));
        assert!(r.text.contains("as a daily digest"));
        assert!(!r.html.contains("{{") && !r.text.contains("{{"));
    }

    #[test]
    fn long_subjects_are_cut_at_a_word() {
        let c = change(&"word ".repeat(60), json!({}));
        let r = render_change("https://x", &recipient(Mode::Immediate), &c);
        assert!(r.subject.len() < 180 && r.subject.ends_with("..."));
    }
}
