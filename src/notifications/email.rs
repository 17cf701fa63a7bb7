//! What a notification email says: the change in sentences (see [`super::wording`]), the
//! names of what it is about and who made it, a link back to the API resource, why the
//! subscriber gets it and how to stop it.

use chrono::{NaiveDate, NaiveDateTime};

use super::model::{describe_topics, unsubscribe_url, Filters};
use super::wording::{self, Names};
use super::Mode;
use crate::db::OrgId;
use crate::events::Topic;
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
    pub actor_org_id: Option<OrgId>,
    /// Filled by [`wording::name_all`] before rendering.
    pub names: Names,
}

#[cfg(test)]
impl Change {
    /// A change for unit tests: event `e1` by organisation `o1`, about `entity` (type, id),
    /// with no names filled in.
    pub fn sample(
        (topic, kind): (&str, &str),
        (entity_type, entity_id): (&str, &str),
        occurred_at: NaiveDateTime,
        summary: &str,
        details: serde_json::Value,
    ) -> Change {
        Change {
            id: "e1".into(),
            occurred_at,
            topic: topic.into(),
            kind: kind.into(),
            entity_type: entity_type.into(),
            entity_id: entity_id.into(),
            summary: summary.into(),
            details,
            actor_org_id: Some("o1".into()),
            names: Names::default(),
        }
    }
}

/// The subscription an email is sent for.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub topics: Vec<Topic>,
    pub filters: Filters,
    pub mode: Mode,
    pub unsubscribe_token: String,
}

/// The portal page of what a change is about (the web pages in `src/web/`; members sign in
/// first, and come back to it). New results link to their window's page.
pub fn page_path(entity_type: &str, entity_id: &str) -> Option<String> {
    let collection = match entity_type {
        "uit_issue" => "uit-issues",
        "release" | "release_deployment" => "releases",
        "uit_window" | "results" => "windows",
        "firmware" => "firmware",
        "defect_mask" => "defect-masks",
        "roadmap_item" => "roadmap",
        "library_contact" => "library-contacts",
        _ => return None,
    };
    Some(format!("/{collection}/{entity_id}"))
}

/// A topic as people call it.
pub fn topic_label(topic: Topic) -> &'static str {
    match topic {
        Topic::Releases => "Releases",
        Topic::UitWindows => "UIT windows",
        Topic::Retirements => "Firmware retirements",
        Topic::Roadmaps => "Roadmaps",
        Topic::DefectMasks => "Defect masks",
        Topic::UitIssues => "UIT issues",
        Topic::Results => "Results (new failures and known issues)",
    }
}

fn link(public_url: &str, change: &Change) -> String {
    let path = page_path(&change.entity_type, &change.entity_id).unwrap_or_else(|| "/".into());
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

/// The subject line; long headlines are cut at a word.
fn subject_summary(summary: &str) -> String {
    const MAX: usize = 160;
    if summary.chars().count() <= MAX {
        return summary.to_string();
    }
    let cut: String = summary.chars().take(MAX).collect();
    let cut = cut.rsplit_once(' ').map(|(head, _)| head.to_string()).unwrap_or(cut);
    format!("{cut}...")
}

/// The names and facts under the sentences: release, window, who, when, topic.
fn facts(change: &Change) -> Vec<(&'static str, String)> {
    let mut facts = Vec::new();
    if let Some(release) = &change.names.release {
        facts.push(("Release", release.clone()));
    }
    if let Some(window) = &change.names.window {
        facts.push(("UIT window", window.clone()));
    }
    if let Some(org) = &change.names.actor_org {
        facts.push(("Changed by", org.clone()));
    }
    facts.push(("When", wording::instant(change.occurred_at.and_utc())));
    if let Some(topic) = Topic::parse(&change.topic) {
        facts.push(("Topic", topic_label(topic).to_string()));
    }
    facts
}

/// One change, to one subscriber.
pub fn render_change(public_url: &str, recipient: &Recipient, change: &Change) -> Rendered {
    let public_url = public_url.trim_end_matches('/');
    let words = wording::describe(change);
    let (mut details, mut details_html) = (String::new(), String::new());
    if let Some(detail) = &words.detail {
        details.push_str(&format!("{detail}\n"));
        details_html.push_str(&format!("<p>{}</p>\n", escape_html(detail)));
    }
    if let Some(note) = &words.note {
        details.push_str(&format!("The decision note: \"{note}\"\n"));
        details_html.push_str(&format!(
            "<p>The decision note:</p>\n<blockquote>{}</blockquote>\n",
            escape_html(note)
        ));
    }
    let (mut facts_text, mut facts_html) = (String::new(), String::from("<p style=\"color: #444\">"));
    for (i, (label, value)) in facts(change).iter().enumerate() {
        facts_text.push_str(&format!("{label}: {value}\n"));
        if i > 0 {
            facts_html.push_str("<br>");
        }
        facts_html.push_str(&format!("{label}: {}", escape_html(value)));
    }
    facts_html.push_str("</p>");
    render_with_html(
        Template::Notification,
        &[
            ("subject", &subject_summary(&words.headline)),
            ("headline", &words.headline),
            ("details", &details),
            ("facts", &facts_text),
            ("resource_url", &link(public_url, change)),
            ("reason", &reason(recipient)),
            (
                "unsubscribe_url",
                &unsubscribe_url(public_url, &recipient.unsubscribe_token),
            ),
            ("public_url", public_url),
        ],
        &[("details_html", &details_html), ("facts_html", &facts_html)],
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
        let words = wording::describe(change);
        let by = change
            .names
            .actor_org
            .as_ref()
            .map(|org| format!(" (by {org})"))
            .unwrap_or_default();
        let detail = words.detail.map(|d| format!("{d} ")).unwrap_or_default();
        items.push_str(&format!("- {at}  {}{by}\n  {detail}{url}\n", words.headline));
        items_html.push_str(&format!(
            "<li><strong>{at}</strong> {}{}<br>{}<a href=\"{}\">Open it in the portal</a></li>\n",
            escape_html(&words.headline),
            escape_html(&by),
            escape_html(&detail),
            escape_html(&url),
        ));
    }
    let count = match changes.len() {
        1 => "1 change".to_string(),
        n => format!("{n} changes"),
    };
    render_with_html(
        Template::Digest,
        &[
            ("day", &wording::day(day)),
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
        let at = NaiveDate::from_ymd_opt(2027, 3, 20)
            .unwrap()
            .and_hms_opt(9, 30, 0)
            .unwrap();
        let names = Names {
            actor_org: Some("DCC <Operator>".into()),
            release: Some("CHF 4.2.1".into()),
            window: Some("UIT-2027-03".into()),
        };
        let change = Change::sample(
            ("uit_windows", "window.extended"),
            ("uit_window", "w1"),
            at,
            summary,
            details,
        );
        Change { names, ..change }
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
    fn a_change_email_says_what_changed_in_words_links_back_and_offers_unsubscribe() {
        let c = change(
            "UIT-2027-03 now closes 2027-03-28 10:00 UTC, was 2027-03-21 10:00 UTC",
            json!({ "field": "closes_at", "from": "2027-03-21T10:00:00Z", "to": "2027-03-28T10:00:00Z" }),
        );
        let r = render_change("https://uit.example.org/", &recipient(Mode::Immediate), &c);
        assert_eq!(
            r.subject,
            "[UIT Portal] UIT window UIT-2027-03 of release CHF 4.2.1 extended by 7 days"
        );
        for part in [&r.subject, &r.text, &r.html] {
            for code in ["window.extended", "closes_at", "uit_windows", "2027-03-28T10"] {
                assert!(!part.contains(code), "{code} in {part}");
            }
        }
        for part in [&r.text, &r.html] {
            assert!(part.contains("https://uit.example.org/windows/w1"));
            assert!(part.contains("https://uit.example.org/api/v1/unsubscribe?token=uitu_abc"));
            assert!(part
                .contains("now closes Sun 28 Mar 2027 10:00 UTC instead of Sun 21 Mar 10:00 UTC: extended by 7 days"));
            assert!(!part.contains("{{"), "{part}");
        }
        assert!(r.text.contains("Changed by: DCC <Operator>") && r.text.contains("Release: CHF 4.2.1"));
        assert!(r.html.contains("DCC &lt;Operator&gt;") && !r.html.contains("<Operator>"));
        assert!(r.text.contains("you subscribed to UIT windows for all products"));
    }

    #[test]
    fn a_digest_lists_the_days_changes() {
        let mut first = change("First", json!({}));
        first.kind = "window.opened".into();
        let mut second = change("Second <i>", json!({}));
        second.entity_type = "defect_mask".into();
        let day = NaiveDate::from_ymd_opt(2027, 3, 20).unwrap();
        let r = render_digest(
            "https://uit.example.org",
            &recipient(Mode::DailyDigest),
            day,
            &[first, second],
        );
        assert_eq!(r.subject, "[UIT Portal] Daily digest for Sat 20 Mar 2027: 2 changes");
        assert!(r
            .text
            .contains("- 09:30 UTC  UIT window UIT-2027-03 of release CHF 4.2.1 is open (by DCC <Operator>)"));
        assert!(r.text.contains("Second <i>"));
        assert!(r.html.contains("Second &lt;i&gt;"));
        assert!(r.text.contains("as a daily digest"));
        assert!(!r.html.contains("{{") && !r.text.contains("{{"));
    }

    #[test]
    fn long_subjects_are_cut_at_a_word() {
        let mut c = change(&"word ".repeat(60), json!({}));
        c.entity_type = "defect_mask".into();
        let r = render_change("https://x", &recipient(Mode::Immediate), &c);
        assert!(r.subject.len() < 180 && r.subject.ends_with("..."));
    }
}
