//! Email templates compiled into the binary: each is a folder with `subject.txt`, `body.txt`
//! and `body.html`, filled by `{{name}}` placeholders (HTML-escaped in the HTML part). Values
//! are inserted in one pass, so a value that itself contains `{{...}}` stays as it is.

/// The emails the portal sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    Invitation,
    PasswordReset,
    /// Double opt-in for a subscription without an account.
    SubscriptionConfirm,
    /// One change, to one subscriber.
    Notification,
    /// A subscriber's changes of one day.
    Digest,
    /// A UIT issue assigned to an organisation, to its admins.
    UitIssueAssigned,
    /// A claim lapses in 2 days, to the holder's members.
    ClaimLapsing,
    /// A waiting organisation got the claim, to its members.
    ClaimGranted,
}

macro_rules! parts {
    ($dir:literal) => {
        (
            include_str!(concat!("templates/", $dir, "/subject.txt")),
            include_str!(concat!("templates/", $dir, "/body.txt")),
            include_str!(concat!("templates/", $dir, "/body.html")),
        )
    };
}

impl Template {
    pub fn name(self) -> &'static str {
        match self {
            Template::Invitation => "invitation",
            Template::PasswordReset => "password_reset",
            Template::SubscriptionConfirm => "subscription_confirm",
            Template::Notification => "notification",
            Template::Digest => "digest",
            Template::UitIssueAssigned => "uit_issue_assigned",
            Template::ClaimLapsing => "claim_lapsing",
            Template::ClaimGranted => "claim_granted",
        }
    }

    fn parts(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Template::Invitation => parts!("invitation"),
            Template::PasswordReset => parts!("password_reset"),
            Template::SubscriptionConfirm => parts!("subscription_confirm"),
            Template::Notification => parts!("notification"),
            Template::Digest => parts!("digest"),
            Template::UitIssueAssigned => parts!("uit_issue_assigned"),
            Template::ClaimLapsing => parts!("claim_lapsing"),
            Template::ClaimGranted => parts!("claim_granted"),
        }
    }
}

/// A rendered email, ready for the outbox.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub template: &'static str,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Fills the template; unknown placeholders are left as they are, so a test catches them.
pub fn render(template: Template, vars: &[(&str, &str)]) -> Rendered {
    render_with_html(template, vars, &[])
}

/// Like [`render`], plus `html_blocks`: placeholders of the HTML part filled with markup as
/// given (the caller escapes what goes into it), e.g. a list of a digest's items.
pub fn render_with_html(template: Template, vars: &[(&str, &str)], html_blocks: &[(&str, &str)]) -> Rendered {
    let (subject, text, html) = template.parts();
    Rendered {
        template: template.name(),
        // Header injection is impossible: line breaks in a subject become spaces.
        subject: fill(subject, vars, &[], false).trim().replace(['\r', '\n'], " "),
        text: fill(text, vars, &[], false),
        html: fill(html, vars, html_blocks, true),
    }
}

/// Replaces each `{{name}}` of `source` once, from `vars` (escaped when `escape`) or `raw`.
fn fill(source: &str, vars: &[(&str, &str)], raw: &[(&str, &str)], escape: bool) -> String {
    let mut out = String::with_capacity(source.len() + 256);
    let mut rest = source;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let key = &after[..end];
        if let Some((_, value)) = raw.iter().find(|(k, _)| *k == key) {
            out.push_str(value);
        } else if let Some((_, value)) = vars.iter().find(|(k, _)| *k == key) {
            if escape {
                out.push_str(&escape_html(value));
            } else {
                out.push_str(value);
            }
        } else {
            out.push_str(&rest[start..start + 2 + end + 2]);
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_of_every_template_is_filled() {
        let vars = [
            ("org_name", "A & B <Energy>"),
            ("inviter", "Ann"),
            ("role", "member"),
            ("accept_url", "https://x/accept?token=t"),
            ("token", "t"),
            ("expires_at", "2026-01-01T00:00:00Z"),
            ("public_url", "https://x"),
            ("reset_url", "https://x/reset?token=t"),
            ("ttl_minutes", "60"),
            ("topics", "uit_windows"),
            ("filters", "all products"),
            ("mode", "immediate"),
            ("confirm_url", "https://x/confirm?token=t"),
            (
                "summary",
                "UIT-1 now closes 2027-03-28 10:00 UTC, was 2027-03-21 10:00 UTC",
            ),
            ("subject", "UIT-1 now closes 2027-03-28"),
            ("headline", "UIT window UIT-1 extended by 7 days"),
            (
                "details",
                "UIT-1 now closes Sun 28 Mar 2027 10:00 UTC instead of Sun 21 Mar 10:00 UTC.",
            ),
            ("facts", "Changed by: DCC"),
            ("resource_url", "https://x/api/v1/uit-windows/1"),
            ("reason", "you subscribed"),
            ("unsubscribe_url", "https://x/api/v1/unsubscribe?token=u"),
            ("day", "2027-03-20"),
            ("count", "2 changes"),
            ("items", "- one"),
            ("raiser", "Supplier A"),
            ("window", "UIT-2027-03"),
            ("title", "Top-up lost"),
            ("severity", "blocking"),
            ("description", "The credit never arrives."),
            ("issue_url", "https://x/uit-issues/1"),
            ("device_set", "CHF 3.0 + ESME 1.0"),
            ("expires_at", "Tue 8 Dec 2026 10:00 UTC"),
            ("window_url", "https://x/windows/1"),
            ("how", "released"),
        ];
        let blocks = [
            ("details_html", "<p>x</p>"),
            ("facts_html", "<p>y</p>"),
            ("items_html", "<li>one</li>"),
        ];
        for t in [
            Template::Invitation,
            Template::PasswordReset,
            Template::SubscriptionConfirm,
            Template::Notification,
            Template::Digest,
            Template::UitIssueAssigned,
            Template::ClaimLapsing,
            Template::ClaimGranted,
        ] {
            let r = render_with_html(t, &vars, &blocks);
            for part in [&r.subject, &r.text, &r.html] {
                assert!(!part.contains("{{"), "{} has an unfilled placeholder: {part}", t.name());
            }
        }
        let r = render(Template::Invitation, &vars);
        assert!(r.html.contains("A &amp; B &lt;Energy&gt;"));
        assert!(r.text.contains("A & B <Energy>"));
    }

    #[test]
    fn values_are_inserted_once_and_blocks_verbatim() {
        let r = render_with_html(
            Template::Notification,
            &[
                ("subject", "Mask {{unsubscribe_url}} <b>"),
                ("headline", "Mask {{unsubscribe_url}} <b>"),
                ("unsubscribe_url", "https://x/u"),
            ],
            &[("details_html", "<ul><li>a</li></ul>")],
        );
        assert!(r.subject.contains("Mask {{unsubscribe_url}} <b>"));
        assert!(r.html.contains("Mask {{unsubscribe_url}} &lt;b&gt;"));
        assert!(r.html.contains("<ul><li>a</li></ul>"));
        assert!(r.text.contains("{{details}}"), "unknown placeholders stay visible");
    }
}
