//! The signed-out forms (`/forgot-password`, `/subscribe`), the HTML 405 for browsers and what
//! the signed-in home page adds: the organisation's claims and the recent changes a person
//! may see.

use std::time::Duration;

use serde_json::json;

use crate::fixtures::world;
use crate::helpers::TestApp;
use crate::roadmaps::item;
use crate::web::{assert_html_headers, assert_token_page, hidden, nth_mail, unique_email, Browser};

/// Emails to `to` so far.
fn mails_to(app: &TestApp, to: &str) -> usize {
    app.smtp
        .received()
        .iter()
        .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(to)))
        .count()
}

#[test]
fn forgot_password_answers_alike_for_any_address_and_emails_only_an_account() {
    let app = TestApp::spawn();
    let user = app.user_in_new_org(&app.admin_token(), "supplier", "member");
    let unknown = unique_email("nobody");
    let mut b = Browser::new(&app);
    let sign_in = b.get("/sign-in");
    assert!(sign_in.body.contains("href=\"/forgot-password\""), "{}", sign_in.body);
    assert!(!sign_in.body.contains("POST /api/v1"), "{}", sign_in.body);

    let page = b.get("/forgot-password");
    assert_eq!(page.status, 200);
    assert_token_page(&page);
    let csrf = hidden(&page.body, "csrf");
    let known = b.post("/forgot-password", &[("csrf", &csrf), ("email", &user.email)]);
    let stranger = b.post("/forgot-password", &[("csrf", &csrf), ("email", &unknown)]);
    assert_eq!((known.status, stranger.status), (200, 200), "{}", known.body);
    assert_eq!(
        known.body, stranger.body,
        "one answer whether or not the account exists"
    );
    assert!(
        known
            .body
            .contains("If an account exists for that address, an email with a link is on its way"),
        "{}",
        known.body
    );
    let mail = nth_mail(&app, &user.email, 0);
    assert!(
        mail.decoded().contains("/reset-password?token=uitx_"),
        "{}",
        mail.decoded()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        mails_to(&app, &unknown),
        0,
        "no email for an address without an account"
    );

    // A form that did not come from the page: 403, and no email.
    let other = app.user_in_new_org(&app.admin_token(), "supplier", "member");
    for fields in [
        vec![("email", other.email.as_str())],
        vec![("csrf", "forged"), ("email", other.email.as_str())],
    ] {
        let forged = b.post("/forgot-password", &fields);
        assert_eq!(forged.status, 403, "{}", forged.body);
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(mails_to(&app, &other.email), 0, "a refused form sends nothing");
}

#[test]
fn subscribe_records_a_pending_subscription_and_sends_one_confirmation() {
    let app = TestApp::spawn();
    let mut b = Browser::new(&app);
    let home = b.get("/");
    assert!(home.body.contains("href=\"/subscribe\""), "{}", home.body);
    assert!(!home.body.contains("POST /api/v1/subscriptions"), "{}", home.body);
    let page = b.get("/subscribe");
    assert_eq!(page.status, 200);
    assert_html_headers(&page);
    let csrf = hidden(&page.body, "csrf");
    let email = unique_email("follower");

    // Refused: a forged form changes nothing; a form without a topic says what to change.
    let forged = b.post(
        "/subscribe",
        &[("csrf", "forged"), ("email", &email), ("topic", "releases")],
    );
    assert_eq!(forged.status, 403);
    let empty = b.post("/subscribe", &[("csrf", &csrf), ("email", &email)]);
    assert_eq!(empty.status, 422, "{}", empty.body);
    assert!(empty.body.contains("Choose at least one topic."), "{}", empty.body);
    let bad = b.post(
        "/subscribe",
        &[("csrf", &csrf), ("email", "not an address"), ("topic", "releases")],
    );
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.body.contains("Enter an email address"), "{}", bad.body);
    // The page offers no member-only topic; a hand-made form asking for one is told why.
    assert!(
        !page.body.contains("value=\"results\"") && !page.body.contains("value=\"uit_issues\""),
        "{}",
        page.body
    );
    let members_only = b.post(
        "/subscribe",
        &[("csrf", &csrf), ("email", &email), ("topic", "results")],
    );
    assert_eq!(members_only.status, 422, "{}", members_only.body);
    assert!(
        members_only.body.contains("for signed-in members"),
        "{}",
        members_only.body
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(mails_to(&app, &email), 0, "nothing sent for refused forms");

    let done = b.post(
        "/subscribe",
        &[
            ("csrf", &csrf),
            ("email", &email),
            ("topic", "uit_windows"),
            ("topic", "defect_masks"),
            ("mode", "daily_digest"),
        ],
    );
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Check your inbox"), "{}", done.body);
    let token = nth_mail(&app, &email, 0).token("uitn_");
    // The pending subscription holds the choice made on the form.
    let confirm = app.get(&format!("/confirm-subscription?token={token}"), None);
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    for text in [
        "Confirm your subscription",
        "UIT windows",
        "Defect masks",
        "one email a day",
        &email,
    ] {
        assert!(confirm.body.contains(text), "{text}: {}", confirm.body);
    }
    assert!(!confirm.body.contains("Releases"), "{}", confirm.body);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(mails_to(&app, &email), 1, "one confirmation email");
}

#[test]
fn a_wrong_method_is_an_html_405_for_browsers_and_problem_json_for_programs() {
    let app = TestApp::spawn();
    let b = Browser::new(&app);
    for path in ["/sign-in", "/forgot-password", "/subscribe", "/"] {
        let page = b.send("PUT", path, Some(String::new()));
        assert_eq!(page.status, 405, "{path}: {}", page.body);
        assert_html_headers(&page);
        let allow = page.header("allow").unwrap_or_default();
        assert!(allow.contains("GET"), "{path}: {allow}");
        assert!(page.body.contains("<h1>Not possible here</h1>"), "{}", page.body);
    }
    let program = app.send("PUT", "/sign-in", None, &[("accept", "application/json")], None);
    assert_eq!(program.status, 405);
    assert!(
        program
            .header("content-type")
            .unwrap_or_default()
            .starts_with("application/problem+json"),
        "{:?}",
        program.header("content-type")
    );
    assert!(program.header("allow").unwrap_or_default().contains("POST"));
    assert_eq!(program.json()["code"], "method_not_allowed");
    // The API stays problem+json even for a client that prefers HTML.
    let api = app.send("PUT", "/api/v1/auth/login", None, &[("accept", "text/html")], None);
    assert_eq!(api.status, 405);
    assert!(api
        .header("content-type")
        .unwrap_or_default()
        .starts_with("application/problem+json"));
}

#[test]
fn the_home_page_shows_only_its_organisations_claims_and_changes_its_reader_may_see() {
    let app = TestApp::spawn();
    let w = world(&app);
    let claims = format!("/api/v1/uit-windows/{}/claims", w.window);
    app.post(&claims, Some(&w.a.token), &json!({ "device_set_id": w.sets[0] }))
        .expect(201);
    app.post(&claims, Some(&w.b.token), &json!({ "device_set_id": w.sets[2] }))
        .expect(201);
    let window_name = app
        .get(&format!("/api/v1/uit-windows/{}", w.window), Some(&w.admin))
        .json()["name"]
        .as_str()
        .unwrap()
        .to_string();
    // A change everybody may see, and one only the maker may: a private item's date moved.
    let model = w.esme_model.clone();
    item(&app, &w.maker.token, &model, json!({ "planned_version": "4.56" }));
    let private = item(
        &app,
        &w.maker.token,
        &model,
        json!({ "planned_version": "7.89", "visibility": "private" }),
    );
    app.patch(
        &format!("/api/v1/roadmap-items/{}", private["id"].as_str().unwrap()),
        Some(&w.maker.token),
        &json!({ "planned_date": "2027-06-01" }),
    )
    .expect(200);

    let home = |email: &str| Browser::signed_in(&app, email).get("/").body;
    let a = home(&w.a.email);
    assert!(a.contains("Claims of "), "{a}");
    assert!(a.contains(">set 5000</td>"), "a's own claim: {a}");
    assert!(a.contains(&format!("href=\"/windows/{}\"", w.window)), "{a}");
    assert!(a.contains(&window_name), "{a}");
    assert!(!a.contains("set 20000"), "another organisation's claim: {a}");
    assert!(a.contains("Recent changes"), "{a}");
    assert!(a.contains("firmware 4.56"), "an industry change: {a}");
    assert!(!a.contains("firmware 7.89"), "another organisation's private item: {a}");
    assert!(
        !a.contains("roadmap.") && !a.contains("uit_window"),
        "codes, not words: {a}"
    );

    let b_home = home(&w.b.email);
    assert!(
        b_home.contains(">set 20000</td>") && !b_home.contains(">set 5000</td>"),
        "{b_home}"
    );

    let maker = home(&w.maker.email);
    assert!(
        maker.contains("firmware 7.89 now planned for 2027-06-01"),
        "its own private item: {maker}"
    );
    assert!(maker.contains("leads no device set"), "{maker}");
}
