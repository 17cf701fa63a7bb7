//! Every link in every email the portal sends leads to a page that does what its text says:
//! the account emails (invitation, password reset, subscription confirmation), the change
//! notifications of every entity kind and the daily digest, to a member and to an address
//! without an account. Links are read from the messages the real SMTP server received.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use serde_json::json;

use crate::fixtures::world;
use crate::helpers::TestApp;
use crate::notifications::{db, delivered, wait_until};
use crate::smtp::Received;
use crate::web::Browser;

const PUBLIC: &str = "https://portal.example.org";
const PASSWORD: &str = "a long enough password";
const ALL_TOPICS: [&str; 5] = ["releases", "uit_windows", "retirements", "roadmaps", "defect_masks"];

/// The portal links of a message, in the order they appear (text and HTML parts, `&amp;`
/// undone), without repeats.
fn links(mail: &Received) -> Vec<String> {
    let text = mail.decoded().replace("&amp;", "&");
    let mut found = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find(PUBLIC) {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '<' | '>' | ')' | '\''))
            .unwrap_or(tail.len());
        let link = tail[..end].trim_end_matches(['.', ',']).to_string();
        if !found.contains(&link) {
            found.push(link);
        }
        rest = &tail[end..];
    }
    found
}

/// What a link leads to after its redirects: (status, body, the fragment of the last redirect).
fn open(browser: &mut Browser, link: &str) -> (u16, String, Option<String>, Vec<String>) {
    let mut path = link.strip_prefix(PUBLIC).unwrap_or(link).to_string();
    if path.is_empty() {
        path = "/".into();
    }
    let mut fragment = None;
    let mut hops = vec![path.clone()];
    for _ in 0..4 {
        let resp = browser.get(&path);
        if resp.status != 303 && resp.status != 302 {
            return (resp.status, resp.body, fragment, hops);
        }
        let location = resp.header("location").expect("a redirect names its target");
        let (target, frag) = match location.split_once('#') {
            Some((t, f)) => (t.to_string(), Some(f.to_string())),
            None => (location.clone(), None),
        };
        fragment = frag.or(fragment);
        path = target.strip_prefix(PUBLIC).unwrap_or(&target).to_string();
        hops.push(location);
    }
    panic!("too many redirects from {link}: {hops:?}");
}

fn mails_to(app: &TestApp, email: &str) -> Vec<Received> {
    app.smtp
        .received()
        .into_iter()
        .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(email)))
        .collect()
}

#[test]
fn every_link_of_every_email_leads_to_a_page_that_does_what_its_text_says() {
    let app = TestApp::spawn();
    let w = world(&app);
    let (member, digest_reader) = (&w.a, &w.b);
    let anonymous = format!("anon-{}@example.org", uuid::Uuid::new_v4().simple());

    // Subscribers: a supplier's member (immediate), another supplier's (daily digest), the
    // manufacturer's admin (immediate: stale contact reminders go to its admins only) and an
    // address without an account (confirmed from its email).
    let maker_admin = app.invite_user(&w.admin, &w.maker.org_id, "admin");
    for (user, mode) in [
        (member, "immediate"),
        (digest_reader, "daily_digest"),
        (&maker_admin, "immediate"),
    ] {
        app.post(
            "/api/v1/subscriptions",
            Some(&user.token),
            &json!({ "topics": ALL_TOPICS, "mode": mode }),
        )
        .expect(201);
    }
    app.post(
        "/api/v1/subscriptions",
        None,
        &json!({ "email": anonymous, "topics": ALL_TOPICS, "mode": "immediate" }),
    )
    .expect(202);
    // Its links are walked before the token is spent, as a person would click them.
    let mut seen = Seen::default();
    let confirmation = app.smtp.wait_for(&anonymous);
    walk(&app, &confirmation, &anonymous, None, &BTreeMap::new(), &mut seen);
    let walked = [confirmation.data.clone()];
    let token = confirmation.token("uitn_");
    app.post("/api/v1/subscriptions/confirm", None, &json!({ "token": token }))
        .expect(200);

    // A change of every kind an email links to, and what its page must show.
    let mut expect: BTreeMap<String, String> = BTreeMap::new();
    let get = |path: &str| {
        let r = app.get(path, Some(&w.admin));
        r.expect(200);
        r.json()
    };
    crate::releases::move_to(&app, &w.admin, &w.release, "pit", None).expect(200);
    expect.insert(
        w.release.clone(),
        get(&format!("/api/v1/releases/{}", w.release))["name"]
            .as_str()
            .unwrap()
            .into(),
    );
    app.patch(
        &format!("/api/v1/uit-windows/{}", w.window),
        Some(&w.admin),
        &json!({ "closes_at": (Utc::now() + Duration::days(12)).to_rfc3339() }),
    )
    .expect(200);
    expect.insert(
        w.window.clone(),
        get(&format!("/api/v1/uit-windows/{}", w.window))["name"]
            .as_str()
            .unwrap()
            .into(),
    );
    app.patch(
        &format!("/api/v1/firmware/{}", w.esme_fw),
        Some(&w.maker.token),
        &json!({ "retirement_date": (Utc::now() + Duration::days(200)).date_naive().to_string() }),
    )
    .expect(200);
    expect.insert(
        w.esme_fw.clone(),
        get(&format!("/api/v1/device-models/{}", w.esme_model))["name"]
            .as_str()
            .unwrap()
            .into(),
    );
    let mask = app.post(
        "/api/v1/defect-masks",
        Some(&w.a.token),
        &json!({ "code": "DM-0777", "title": "Join fails after hub swap", "severity": "major",
                 "device_model_id": w.esme_model, "affected_firmware_ids": [w.esme_fw],
                 "symptom": "ESME leaves the HAN", "workaround": "re-pair" }),
    );
    mask.expect(201);
    expect.insert(mask.json()["id"].as_str().unwrap().into(), "DM-0777".into());
    let item = crate::roadmaps::item(&app, &w.maker.token, &w.esme_model, json!({}));
    let item_id = item["id"].as_str().unwrap().to_string();
    expect.insert(item_id.clone(), format!("id=\"item-{item_id}\""));
    let contact = app.post(
        "/api/v1/library-contacts",
        Some(&w.maker.token),
        &json!({ "manufacturer_org_id": w.maker.org_id, "contact_name": "Firmware library desk",
                 "email": "firmware@maker.example",
                 "verified_on": (Utc::now().date_naive() - Duration::days(400)).to_string() }),
    );
    contact.expect(201);
    let contact_id = contact.id();
    expect.insert(contact_id.clone(), format!("id=\"contact-{contact_id}\""));
    {
        let mut conn = db(&app);
        uit_portal::contacts::clock::sweep(&mut conn, Utc::now().date_naive()).unwrap();
    }
    delivered(&app);

    // The digest reader's day, assembled as the clock would tomorrow.
    {
        let hour = app.config.notification_digest_hour;
        let tomorrow = (uit_portal::db::now() + Duration::days(1))
            .date()
            .and_hms_opt(hour, 0, 0)
            .unwrap();
        let mut conn = db(&app);
        uit_portal::notifications::digest::assemble(&mut conn, tomorrow, hour).unwrap();
    }
    wait_until(15, "the digest", || {
        mails_to(&app, &digest_reader.email)
            .iter()
            .any(|m| m.header("Subject").is_some_and(|s| s.contains("Daily digest")))
    });

    // A password reset for the member.
    app.post("/api/v1/auth/password-reset", None, &json!({ "email": member.email }))
        .expect(202);
    wait_until(15, "the reset email", || {
        mails_to(&app, &member.email)
            .iter()
            .any(|m| m.decoded().contains("/reset-password?token="))
    });

    // A fresh invitation (the world's were spent when its users joined).
    let invitee = format!("invitee-{}@example.org", uuid::Uuid::new_v4().simple());
    app.post(
        &format!("/api/v1/organisations/{}/invitations", member.org_id),
        Some(&w.admin),
        &json!({ "email": invitee, "role": "member" }),
    )
    .expect(201);
    app.smtp.wait_for(&invitee);

    // Every message each reader received since the world was built.
    for (reader, password) in [
        (member.email.as_str(), Some(PASSWORD)),
        (digest_reader.email.as_str(), Some(PASSWORD)),
        (maker_admin.email.as_str(), Some(PASSWORD)),
        (anonymous.as_str(), None),
        (invitee.as_str(), None),
    ] {
        let mails: Vec<Received> = mails_to(&app, reader)
            .into_iter()
            .filter(|m| {
                (!walked.contains(&m.data) && !m.decoded().contains("/accept-invitation?token=")) || reader == invitee
            })
            .collect();
        assert!(!mails.is_empty(), "{reader} got no email");
        let mut browser = password.map(|password| {
            let mut b = Browser::new(&app);
            assert_eq!(b.sign_in(reader, password).status, 303);
            b
        });
        for mail in &mails {
            walk(&app, mail, reader, browser.as_mut(), &expect, &mut seen);
        }
    }
    for kind in [
        "invitation",
        "reset",
        "confirm",
        "unsubscribe",
        "home",
        "entity (anonymous)",
    ] {
        assert!(
            seen.kinds.contains(&kind),
            "no {kind} link was walked: {:?}",
            seen.kinds
        );
    }
    // A member reached the page of every thing that changed, from an immediate email or the digest.
    for (id, want) in &expect {
        assert!(seen.member_pages.contains(id), "no email led a member to {want} ({id})");
    }
}

#[derive(Default)]
struct Seen {
    kinds: Vec<&'static str>,
    member_pages: Vec<String>,
}

/// Opens every link of `mail` as its reader would: in `member`, the reader's signed-in browser,
/// for the pages about things; signed out for the token pages and for an address without an
/// account.
fn walk<'a>(
    app: &'a TestApp,
    mail: &Received,
    reader: &str,
    mut member: Option<&mut Browser<'a>>,
    expect: &BTreeMap<String, String>,
    seen: &mut Seen,
) {
    let subject = mail.header("Subject").unwrap_or_default();
    let text = mail.decoded();
    let found = links(mail);
    assert!(!found.is_empty(), "no link in '{subject}'");
    for link in found {
        // Token links in a signed-out browser of their own (a token page may sign someone
        // in); the rest in the reader's browser, signed in once if the reader is a member.
        let mut fresh = Browser::new(app);
        let signed_in = member.is_some() && !link.contains("token=");
        let browser = match (signed_in, member.as_deref_mut()) {
            (true, Some(b)) => b,
            _ => &mut fresh,
        };
        let (status, body, fragment, hops) = open(browser, &link);
        assert_eq!(status, 200, "{link} from '{subject}' to {reader}: {hops:?}\n{body}");
        assert!(!body.contains("Page not found"), "{link}: {body}");
        let path = link.strip_prefix(PUBLIC).unwrap_or(&link);
        if path.starts_with("/accept-invitation?token=") {
            seen.kinds.push("invitation");
            assert!(body.contains("Accept and sign in"), "{body}");
        } else if path.starts_with("/reset-password?token=") {
            seen.kinds.push("reset");
            assert!(body.contains("Choose a new password"), "{body}");
        } else if path.starts_with("/confirm-subscription?token=") {
            seen.kinds.push("confirm");
            assert!(body.contains("Confirm subscription"), "{body}");
        } else if path.starts_with("/api/v1/unsubscribe?token=") {
            seen.kinds.push("unsubscribe");
            assert!(body.contains("<form") && body.contains("Unsubscribe"), "{body}");
        } else if path == "/" || path.is_empty() {
            seen.kinds.push("home");
        } else {
            // A page about one thing: its id is in the path, and the page shows it to a
            // member, or asks to sign in first, as the email says.
            let id = expect
                .keys()
                .find(|id| path.contains(id.as_str()))
                .unwrap_or_else(|| panic!("{link} in '{subject}' names nothing this test changed"));
            assert!(text.contains("members sign in first"), "{text}");
            if signed_in {
                let want = &expect[id];
                assert!(body.contains(want.as_str()), "{link}: no {want} in\n{body}");
                if want.starts_with("id=") {
                    assert_eq!(
                        fragment.as_deref().map(|f| format!("id=\"{f}\"")),
                        Some(want.clone()),
                        "{link} leads to its item on the page"
                    );
                }
                seen.member_pages.push(id.clone());
            } else {
                assert!(hops.last().unwrap().starts_with("/sign-in?next="), "{hops:?}");
                assert!(body.contains("Sign in"), "{body}");
                seen.kinds.push("entity (anonymous)");
            }
        }
    }
}
