//! Tests of subscriptions, fan-out, delivery and unsubscribe.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use serde_json::{json, Value};
use uit_portal::db::DbConn;

use crate::helpers::{fresh_postgres_schema, with_search_path, Resp, TestApp, TestUser, ADMIN_EMAIL};
use crate::releases::{at, firmware, id};
use crate::roadmaps::{item, join, open_window};
use crate::smtp::{Received, SmtpServer};

const PUBLIC: &str = "https://portal.example.org";

fn unique_email(prefix: &str) -> String {
    format!(
        "{prefix}-{}@example.org",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// Polls `check` every 20 ms until it holds; panics with `what` after `secs` seconds.
pub(crate) fn wait_until(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + StdDuration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "timed out after {secs} s waiting for {what}");
        std::thread::sleep(StdDuration::from_millis(20));
    }
}

fn to(smtp: &SmtpServer, email: &str) -> Vec<Received> {
    smtp.received()
        .into_iter()
        .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(email)))
        .collect()
}

/// Notifications (not confirmation emails) received for `email`.
fn notifications_to(app: &TestApp, email: &str) -> Vec<Received> {
    to(&app.smtp, email)
        .into_iter()
        .filter(|m| m.header("List-Unsubscribe").is_some())
        .collect()
}

/// A connection to the app's own database.
pub(crate) fn db(app: &TestApp) -> DbConn {
    app.config.db_target().unwrap().connect().unwrap()
}

/// Waits until the fan-out has consumed every change event.
pub(crate) fn fanned_out(app: &TestApp) {
    wait_until(15, "the fan-out to consume every change event", || {
        let mut conn = db(app);
        let pending: i64 = uit_portal::db::schema::change_events::table
            .filter(uit_portal::db::schema::change_events::consumed_at.is_null())
            .count()
            .get_result(&mut conn)
            .unwrap();
        pending == 0
    });
}

/// Waits until no notification is due or in flight (pending, sending) for immediate delivery.
pub(crate) fn delivered(app: &TestApp) {
    fanned_out(app);
    wait_until(15, "every notification to be delivered", || {
        use uit_portal::db::schema::notifications as n;
        let mut conn = db(app);
        let busy: i64 = n::table
            .filter(n::status.eq_any(["pending", "sending"]))
            .filter(n::kind.ne("digest_item"))
            .count()
            .get_result(&mut conn)
            .unwrap();
        busy == 0
    });
}

fn subscribe_anonymously(app: &TestApp, email: &str, body: Value) -> Resp {
    let mut body = body;
    body["email"] = json!(email);
    app.post("/api/v1/subscriptions", None, &body)
}

/// Subscribes `email` without an account and confirms it with the emailed token; returns the
/// subscription.
fn confirmed(app: &TestApp, email: &str, body: Value) -> Value {
    subscribe_anonymously(app, email, body).expect(202);
    let token = app.smtp.wait_for(email).token("uitn_");
    let resp = app.post("/api/v1/subscriptions/confirm", None, &json!({ "token": token }));
    resp.expect(200);
    resp.json()
}

fn subscribe(app: &TestApp, token: &str, body: Value) -> Value {
    let resp = app.post("/api/v1/subscriptions", Some(token), &body);
    resp.expect(201);
    resp.json()
}

/// A window of a new release of a new `device_type` product: (window id, name).
fn window_of(app: &TestApp, admin: &str, device_type: &str, from: Duration, to: Duration) -> (String, String) {
    let (fw, _, _) = firmware(app, admin, device_type);
    let name = format!("UIT-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let rel = app.post(
        "/api/v1/releases",
        Some(admin),
        &json!({ "name": format!("Release {name}"), "kind": "sec_release", "firmware_ids": [fw] }),
    );
    rel.expect(201);
    let resp = app.post(
        "/api/v1/uit-windows",
        Some(admin),
        &json!({ "release_id": id(&rel.json()), "name": name, "opens_at": at(from), "closes_at": at(to) }),
    );
    resp.expect(201);
    (id(&resp.json()), name)
}

fn form(app: &TestApp, path: &str, body: &str) -> Resp {
    app.send(
        "POST",
        path,
        None,
        &[],
        Some(("application/x-www-form-urlencoded", body.as_bytes().to_vec())),
    )
}

fn outbox(app: &TestApp, admin: &str, query: &str) -> Vec<Value> {
    let resp = app.get(&format!("/api/v1/notifications?limit=500&{query}"), Some(admin));
    resp.expect(200);
    resp.json()["items"].as_array().unwrap().clone()
}

#[test]
fn an_anonymous_subscriber_confirms_gets_one_email_per_change_and_unsubscribes_in_one_click() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let (wid, name) = window_of(&app, &admin, "CHF", Duration::days(10), Duration::days(20));
    let email = unique_email("planner");

    let requested = subscribe_anonymously(&app, &email, json!({ "topics": ["uit_windows"] }));
    requested.expect(202);
    let confirmation = app.smtp.wait_for(&email);
    assert!(confirmation.decoded().contains("uitn_"));

    // Nothing but the confirmation reaches an unconfirmed address.
    app.patch(
        &format!("/api/v1/uit-windows/{wid}"),
        Some(&admin),
        &json!({ "closes_at": at(Duration::days(21)) }),
    )
    .expect(200);
    fanned_out(&app);
    let token = confirmation.token("uitn_");
    let confirmed = app.post("/api/v1/subscriptions/confirm", None, &json!({ "token": token }));
    confirmed.expect(200);
    let sub = confirmed.json();
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["email"], email.as_str());
    assert_eq!(sub["topics"], json!(["uit_windows"]));
    // Confirming twice is harmless.
    assert_eq!(
        app.post("/api/v1/subscriptions/confirm", None, &json!({ "token": token }))
            .json()["id"],
        sub["id"]
    );
    assert_eq!(to(&app.smtp, &email).len(), 1, "only the confirmation so far");

    // The change after confirming: exactly one email, with the list headers and both parts.
    let before = app.get(&format!("/api/v1/uit-windows/{wid}"), Some(&admin)).json();
    let was = before["closes_at"].as_str().unwrap()[..16].replace('T', " ");
    let new_close = (Utc::now() + Duration::days(25))
        .date_naive()
        .and_hms_opt(10, 0, 0)
        .unwrap();
    app.patch(
        &format!("/api/v1/uit-windows/{wid}"),
        Some(&admin),
        &json!({ "closes_at": format!("{}Z", new_close.format("%Y-%m-%dT%H:%M:%S")) }),
    )
    .expect(200);
    wait_until(15, "the notification email", || {
        notifications_to(&app, &email).len() == 1
    });
    delivered(&app);
    std::thread::sleep(StdDuration::from_millis(300));
    let mails = notifications_to(&app, &email);
    assert_eq!(mails.len(), 1, "exactly one email for one change");
    let mail = &mails[0];
    let message_id = mail.header("Message-ID").expect("Message-ID");
    assert!(
        message_id.starts_with("<n.") && message_id.ends_with("@portal.example.org>"),
        "{message_id}"
    );
    assert_eq!(
        mail.header("List-Id").as_deref(),
        Some("UIT Portal notifications <notifications.portal.example.org>")
    );
    let unsubscribe = mail.header("List-Unsubscribe").unwrap();
    assert!(
        unsubscribe.starts_with(&format!("<{PUBLIC}/api/v1/unsubscribe?token=uitu_")) && unsubscribe.ends_with('>'),
        "one https URL: {unsubscribe}"
    );
    assert!(!unsubscribe.contains(','), "one URL only");
    assert_eq!(
        mail.header("List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    let subject = mail.header("Subject").unwrap();
    assert!(subject.contains(&name), "{subject}");
    assert!(mail.data.contains("multipart/alternative"));
    assert!(mail.data.contains("text/plain") && mail.data.contains("text/html"));
    let text = mail.decoded();
    let now_closes = format!(
        "{name} now closes {} instead of ",
        new_close.format("%a %-d %b %Y %H:%M UTC")
    );
    assert!(text.contains(&now_closes), "says what changed from and to: {text}");
    let was = chrono::NaiveDateTime::parse_from_str(&was, "%Y-%m-%d %H:%M").unwrap();
    assert!(text.contains(&was.format("%a %-d %b").to_string()), "{text}");
    assert!(
        text.contains(&format!("{PUBLIC}/windows/{wid}")),
        "links to the window's page"
    );
    let url = unsubscribe.trim_start_matches('<').trim_end_matches('>').to_string();
    assert!(text.contains(&url), "a visible unsubscribe link");

    // The unsubscribe page says what stops and offers the one-click button.
    let path = url.trim_start_matches(PUBLIC).to_string();
    let page = app.get(&path, None);
    page.expect(200);
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    assert!(page.body.contains("UIT windows") && page.body.contains("List-Unsubscribe"));
    assert!(page.body.contains("method=\"post\""));

    // One click: at once, no login, no redirect, and again is the same.
    for _ in 0..2 {
        let done = form(&app, &path, "List-Unsubscribe=One-Click");
        done.expect(200);
        assert!(done.body.contains("no more"), "{}", done.body);
    }
    app.patch(
        &format!("/api/v1/uit-windows/{wid}"),
        Some(&admin),
        &json!({ "closes_at": at(Duration::days(30)) }),
    )
    .expect(200);
    delivered(&app);
    std::thread::sleep(StdDuration::from_millis(300));
    assert_eq!(
        notifications_to(&app, &email).len(),
        1,
        "no more mail after unsubscribing"
    );
    assert!(app.get(&path, None).body.contains("has ended"));
    let audit = app
        .get(
            &format!("/api/v1/audit-events?entity_id={}", sub["id"].as_str().unwrap()),
            Some(&admin),
        )
        .json();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "subscription.unsubscribe",
            "subscription.confirm",
            "subscription.request"
        ],
        "newest first"
    );
}

#[test]
fn anonymous_requests_say_the_same_whatever_the_address_and_confirm_once_an_hour() {
    let app = TestApp::spawn();
    let known = unique_email("known");
    confirmed(&app, &known, json!({ "topics": ["releases"] }));
    let fresh = unique_email("fresh");
    let first = subscribe_anonymously(&app, &fresh, json!({ "topics": ["roadmaps"], "mode": "daily_digest" }));
    first.expect(202);
    let again = subscribe_anonymously(&app, &fresh, json!({ "topics": ["releases"] }));
    let for_known = subscribe_anonymously(&app, &known, json!({ "topics": ["releases"] }));
    for resp in [&again, &for_known] {
        resp.expect(202);
        assert_eq!(resp.body, first.body, "no way to tell addresses apart");
    }
    app.smtp.wait_for(&fresh);
    std::thread::sleep(StdDuration::from_millis(500));
    assert_eq!(to(&app.smtp, &fresh).len(), 1, "one confirmation per address per hour");
    assert_eq!(
        to(&app.smtp, &known).len(),
        1,
        "a subscribed address gets nothing new either"
    );
    let text = to(&app.smtp, &fresh)[0].decoded();
    assert!(text.contains("Roadmaps") && text.contains("daily digest"), "{text}");
    assert!(!text.contains("daily_digest"), "no internal codes: {text}");

    // Bad requests.
    let bad = |body: Value, token: Option<&str>| app.post("/api/v1/subscriptions", token, &body);
    let problem =
        bad(json!({ "email": "not-an-address", "topics": ["releases"] }), None).expect_code(422, "validation_failed");
    assert_eq!(problem["errors"][0]["field"], "email");
    bad(json!({ "topics": ["releases"] }), None).expect_code(422, "validation_failed");
    bad(json!({ "email": unique_email("x"), "topics": [] }), None).expect_code(422, "validation_failed");
    bad(json!({ "email": unique_email("x"), "topics": ["weather"] }), None).expect_code(400, "malformed_body");
    bad(
        json!({ "email": unique_email("x"), "topics": ["releases"], "extra": 1 }),
        None,
    )
    .expect_code(400, "malformed_body");
    bad(json!({ "topics": ["releases"] }), Some("not-a-token")).expect_code(401, "invalid_token");
    let admin = app.admin_token();
    bad(
        json!({ "email": unique_email("x"), "topics": ["releases"] }),
        Some(&admin),
    )
    .expect_code(422, "validation_failed");
    let unknown =
        json!({ "email": unique_email("x"), "topics": ["releases"], "filters": { "device_model_ids": ["nope"] } });
    let problem = bad(unknown, None).expect_code(422, "validation_failed");
    assert_eq!(problem["errors"][0]["field"], "filters.device_model_ids");
    app.post(
        "/api/v1/subscriptions/confirm",
        None,
        &json!({ "token": "uitn_unknown" }),
    )
    .expect_code(404, "not_found");
}

#[test]
fn signed_in_users_manage_their_own_subscriptions_only() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let alice = app.user_in_new_org(&admin, "supplier", "viewer");
    let bob = app.user_in_new_org(&admin, "supplier", "member");
    let (_, model, maker) = firmware(&app, &admin, "ESME");

    let body = json!({
        "topics": ["retirements", "uit_windows", "retirements"],
        "filters": { "device_types": ["ESME"], "device_model_ids": [model], "manufacturer_org_ids": [maker] },
        "mode": "daily_digest",
    });
    let created = app.send(
        "POST",
        "/api/v1/subscriptions",
        Some(&alice.token),
        &[("Idempotency-Key", "sub-1")],
        Some(("application/json", body.to_string().into_bytes())),
    );
    created.expect(201);
    let sub = created.json();
    let sid = id(&sub);
    assert_eq!(
        created.header("location").unwrap(),
        format!("/api/v1/subscriptions/{sid}")
    );
    assert_eq!(sub["status"], "active", "active at once");
    assert_eq!(sub["email"], alice.email.as_str());
    assert_eq!(sub["topics"], json!(["uit_windows", "retirements"]));
    assert_eq!(sub["mode"], "daily_digest");
    assert!(sub["unsubscribe_url"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{PUBLIC}/api/v1/unsubscribe?token=uitu_")));
    let replay = app.send(
        "POST",
        "/api/v1/subscriptions",
        Some(&alice.token),
        &[("Idempotency-Key", "sub-1")],
        Some(("application/json", body.to_string().into_bytes())),
    );
    replay.expect(201);
    assert_eq!(replay.json()["id"], sub["id"]);
    subscribe(&app, &bob.token, json!({ "topics": ["releases"] }));

    let list = app.get("/api/v1/subscriptions", Some(&alice.token));
    list.expect(200);
    assert_eq!(list.json()["items"].as_array().unwrap().len(), 1);
    let path = format!("/api/v1/subscriptions/{sid}");
    let got = app.get(&path, Some(&alice.token));
    got.expect(200);
    assert_eq!(got.header("etag").as_deref(), Some("\"1\""));

    // Another user's subscription is 404 for every verb, with the same body as a missing one.
    let missing = app.get("/api/v1/subscriptions/no-such-id", Some(&bob.token));
    missing.expect(404);
    let theirs = app.get(&path, Some(&bob.token));
    theirs.expect(404);
    assert_eq!(theirs.body, missing.body);
    app.patch(&path, Some(&bob.token), &json!({ "mode": "immediate" }))
        .expect_code(404, "not_found");
    app.delete(&path, Some(&bob.token)).expect_code(404, "not_found");

    // Body checks come before If-Match; a stale If-Match is 412.
    let stale = |body: &Value| {
        app.send(
            "PATCH",
            &path,
            Some(&alice.token),
            &[("If-Match", "\"7\"")],
            Some(("application/json", body.to_string().into_bytes())),
        )
    };
    stale(&json!({ "topics": [] })).expect_code(422, "validation_failed");
    stale(&json!({ "mode": "immediate" })).expect_code(412, "precondition_failed");
    let updated = app.send(
        "PATCH",
        &path,
        Some(&alice.token),
        &[("If-Match", "\"1\"")],
        Some((
            "application/json",
            json!({ "mode": "immediate", "filters": {} }).to_string().into_bytes(),
        )),
    );
    updated.expect(200);
    assert_eq!(updated.header("etag").as_deref(), Some("\"2\""));
    assert_eq!(updated.json()["mode"], "immediate");
    assert_eq!(updated.json()["filters"]["device_types"], json!([]));

    app.delete(&path, Some(&alice.token)).expect(204);
    app.get(&path, Some(&alice.token)).expect_code(404, "not_found");
    assert!(app.get("/api/v1/subscriptions", Some(&alice.token)).json()["items"]
        .as_array()
        .unwrap()
        .is_empty());
    app.get("/api/v1/subscriptions", None).expect_code(401, "invalid_token");
}

#[test]
fn filters_and_topics_decide_who_hears_of_a_change() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let meters = app.user_in_new_org(&admin, "supplier", "member");
    let hubs = app.user_in_new_org(&admin, "supplier", "member");
    let releases_only = app.user_in_new_org(&admin, "supplier", "member");
    subscribe(
        &app,
        &meters.token,
        json!({ "topics": ["uit_windows"], "filters": { "device_types": ["ESME"] } }),
    );
    subscribe(
        &app,
        &hubs.token,
        json!({ "topics": ["uit_windows"], "filters": { "device_types": ["CHF"] } }),
    );
    subscribe(
        &app,
        &releases_only.token,
        json!({ "topics": ["releases"], "filters": { "device_types": ["CHF"] } }),
    );

    let (wid, name) = window_of(&app, &admin, "CHF", Duration::days(3), Duration::days(10));
    wait_until(15, "the CHF subscriber's email", || {
        !notifications_to(&app, &hubs.email).is_empty()
    });
    delivered(&app);
    let hub_mail = notifications_to(&app, &hubs.email);
    assert_eq!(hub_mail.len(), 1);
    let text = hub_mail[0].decoded();
    assert!(
        text.contains(&format!("UIT window {name} of release Release {name} scheduled")),
        "{text}"
    );
    assert!(
        notifications_to(&app, &meters.email).is_empty(),
        "ESME filter: not about ESMEs"
    );
    // The release subscriber heard of the release, not of the window.
    let release_mail = notifications_to(&app, &releases_only.email);
    assert_eq!(release_mail.len(), 1);
    assert!(release_mail[0].header("Subject").unwrap().contains("created"));
    let for_window = outbox(&app, &admin, "status=sent")
        .into_iter()
        .filter(|n| {
            n["summary"]
                .as_str()
                .is_some_and(|s| s.contains(&name) && s.contains("scheduled"))
        })
        .count();
    assert_eq!(for_window, 1, "one notification per matching subscriber for {wid}");
}

#[test]
fn roadmap_items_reach_only_those_who_may_read_them() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let maker = app.create_org(&admin, "manufacturer");
    let owner = app.invite_user(&admin, &maker, "member");
    let participant = app.user_in_new_org(&admin, "supplier", "member");
    let outsider = app.user_in_new_org(&admin, "supplier", "admin");
    let model = crate::fixtures::product(&app, &admin, &maker, "ESME");
    let window = open_window(&app, &admin);
    join(&app, &participant.token, &window);
    let anonymous = unique_email("anon");
    confirmed(&app, &anonymous, json!({ "topics": ["roadmaps"] }));
    let users: [(&str, &TestUser); 3] = [
        ("owner", &owner),
        ("participant", &participant),
        ("outsider", &outsider),
    ];
    let mut subs = HashMap::new();
    for (who, user) in users {
        subs.insert(
            who,
            id(&subscribe(&app, &user.token, json!({ "topics": ["roadmaps"] }))),
        );
    }
    let operator_sub = id(&subscribe(&app, &admin, json!({ "topics": ["roadmaps"] })));
    let heard = |summary_part: &str| -> Vec<String> {
        outbox(&app, &admin, "")
            .into_iter()
            .filter(|n| n["summary"].as_str().is_some_and(|s| s.contains(summary_part)))
            .map(|n| n["subscription_id"].as_str().unwrap().to_string())
            .collect()
    };

    // Private: the owner organisation alone, not even the operator.
    let private = item(
        &app,
        &owner.token,
        &model,
        json!({ "visibility": "private", "planned_version": "7.1" }),
    );
    app.patch(
        &format!("/api/v1/roadmap-items/{}", id(&private)),
        Some(&owner.token),
        &json!({ "planned_date": "2027-06-01" }),
    )
    .expect(200);
    delivered(&app);
    assert_eq!(heard("firmware 7.1"), vec![subs["owner"].clone()]);

    // Participants: the owner, the operator and organisations in an open window.
    let shared = item(
        &app,
        &owner.token,
        &model,
        json!({ "visibility": "participants", "planned_version": "7.2" }),
    );
    delivered(&app);
    let mut expected = vec![subs["owner"].clone(), subs["participant"].clone(), operator_sub.clone()];
    expected.sort();
    let mut got = heard("firmware 7.2");
    got.sort();
    assert_eq!(got, expected);

    // Industry: everybody, the address without an account included.
    app.patch(
        &format!("/api/v1/roadmap-items/{}", id(&shared)),
        Some(&owner.token),
        &json!({ "visibility": "industry" }),
    )
    .expect(200);
    let public = item(
        &app,
        &owner.token,
        &model,
        json!({ "visibility": "industry", "planned_version": "7.3" }),
    );
    let _ = public;
    delivered(&app);
    assert_eq!(heard("firmware 7.3").len(), 5);
    let mails = notifications_to(&app, &anonymous);
    assert_eq!(
        mails.len(),
        1,
        "the anonymous subscriber heard of the industry item only"
    );
    assert!(mails[0].decoded().contains("firmware 7.3"));
    assert!(
        notifications_to(&app, &outsider.email)
            .iter()
            .all(|m| !m.decoded().contains("7.1") && !m.decoded().contains("7.2")),
        "the outsider heard of a private or participants-only item"
    );
}

#[test]
fn daily_digests_group_a_subscribers_day_into_one_email() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let user = app.user_in_new_org(&admin, "supplier", "member");
    let sub = subscribe(
        &app,
        &user.token,
        json!({ "topics": ["uit_windows"], "mode": "daily_digest" }),
    );
    let (wid, name) = window_of(&app, &admin, "CHF", Duration::days(5), Duration::days(12));
    app.patch(
        &format!("/api/v1/uit-windows/{wid}"),
        Some(&admin),
        &json!({ "closes_at": at(Duration::days(14)) }),
    )
    .expect(200);
    fanned_out(&app);
    let waiting = outbox(&app, &admin, &format!("subscription_id={}", id(&sub)));
    assert_eq!(waiting.len(), 2);
    assert!(waiting
        .iter()
        .all(|n| n["kind"] == "digest_item" && n["status"] == "pending"));
    std::thread::sleep(StdDuration::from_millis(300));
    assert!(
        notifications_to(&app, &user.email).is_empty(),
        "nothing before the day is over"
    );

    // Today's digest is not due yet at any hour today; tomorrow at the digest hour it is.
    let hour = app.config.notification_digest_hour;
    let mut conn = db(&app);
    let now = uit_portal::db::now();
    assert_eq!(
        uit_portal::notifications::digest::assemble(&mut conn, now, 0).unwrap(),
        0
    );
    let tomorrow = (now + Duration::days(1)).date().and_hms_opt(hour, 0, 0).unwrap();
    assert_eq!(
        uit_portal::notifications::digest::assemble(&mut conn, tomorrow - Duration::minutes(1), hour).unwrap(),
        0
    );
    assert_eq!(
        uit_portal::notifications::digest::assemble(&mut conn, tomorrow, hour).unwrap(),
        1
    );
    assert_eq!(
        uit_portal::notifications::digest::assemble(&mut conn, tomorrow, hour).unwrap(),
        0
    );
    wait_until(15, "the digest", || !notifications_to(&app, &user.email).is_empty());
    delivered(&app);
    let mails = notifications_to(&app, &user.email);
    assert_eq!(mails.len(), 1, "one email for the day");
    let subject = mails[0].header("Subject").unwrap();
    assert!(
        subject.contains("Daily digest") && subject.contains("2 changes"),
        "{subject}"
    );
    let text = mails[0].decoded();
    assert!(
        text.contains(&format!("UIT window {name} of release Release {name} scheduled"))
            && text.contains(&format!("{name} now closes")),
        "{text}"
    );
    let rows = outbox(&app, &admin, &format!("subscription_id={}", id(&sub)));
    let digest = rows.iter().find(|n| n["kind"] == "digest").unwrap();
    assert_eq!(digest["status"], "sent");
    assert!(rows
        .iter()
        .filter(|n| n["kind"] == "digest_item")
        .all(|n| n["status"] == "digested" && n["digest_id"] == digest["id"]));
}

#[test]
fn failures_are_retried_or_dead_and_operators_retry_dead_ones() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let rejected = unique_email("reject");
    let flaky = unique_email("tempfail");
    app.allow_unsent_mail_to(&rejected);
    app.allow_unsent_mail_to(&flaky);
    let mut conn = db(&app);
    for email in [&rejected, &flaky] {
        // The test SMTP server refuses these addresses, confirmation included: activate directly.
        subscribe_anonymously(&app, email, json!({ "topics": ["uit_windows"] })).expect(202);
        use uit_portal::db::schema::subscriptions as s;
        wait_until(10, "the pending subscription", || {
            diesel::update(s::table.filter(s::email.eq(email.as_str())))
                .set(s::status.eq("active"))
                .execute(&mut conn)
                .unwrap()
                == 1
        });
    }
    window_of(&app, &admin, "CHF", Duration::days(3), Duration::days(9));
    fanned_out(&app);
    let find = |email: &str, status: &str| -> Option<Value> {
        outbox(&app, &admin, &format!("status={status}"))
            .into_iter()
            .find(|n| n["recipient"] == email)
    };
    wait_until(15, "the permanent failure", || find(&rejected, "dead").is_some());
    wait_until(15, "the transient failure", || find(&flaky, "failed").is_some());
    let dead = find(&rejected, "dead").unwrap();
    assert_eq!(dead["attempts"], 1, "a 5xx is permanent: no retries");
    assert!(dead["last_error"].as_str().unwrap().contains("550"), "{dead}");
    assert_eq!(dead["deliveries"].as_array().unwrap().len(), 1);
    assert_eq!(dead["deliveries"][0]["outcome"], "dead");
    let failed = find(&flaky, "failed").unwrap();
    assert!(failed["last_error"].as_str().unwrap().contains("451"), "{failed}");
    assert!(
        failed["next_attempt_at"].as_str().unwrap() > Utc::now().to_rfc3339().as_str(),
        "backs off"
    );

    // Only the operator sees the outbox; only dead notifications are retried.
    let supplier = app.user_in_new_org(&admin, "supplier", "admin");
    app.get("/api/v1/notifications", Some(&supplier.token))
        .expect_code(403, "forbidden");
    app.post(
        &format!("/api/v1/notifications/{}/retry", id(&dead)),
        Some(&supplier.token),
        &json!({}),
    )
    .expect_code(403, "forbidden");
    app.post(
        &format!("/api/v1/notifications/{}/retry", id(&failed)),
        Some(&admin),
        &json!({}),
    )
    .expect_code(422, "notification_not_dead");
    app.post("/api/v1/notifications/no-such-id/retry", Some(&admin), &json!({}))
        .expect_code(404, "not_found");
    app.get("/api/v1/notifications?status=lost", Some(&admin))
        .expect_code(400, "invalid_query");
    let retried = app.post(
        &format!("/api/v1/notifications/{}/retry", id(&dead)),
        Some(&admin),
        &json!({}),
    );
    retried.expect(200);
    assert_eq!(retried.json()["status"], "pending");
    assert_eq!(retried.json()["attempts"], 0);
    wait_until(15, "the retried notification to die again", || {
        find(&rejected, "dead").is_some_and(|n| n["deliveries"].as_array().unwrap().len() == 2)
    });
}

#[test]
fn reminders_for_closing_windows_and_retiring_firmware_are_sent_once() {
    let app = TestApp::spawn_with(|c| c.window_clock_interval_seconds = 1);
    let admin = app.admin_token();
    let user = app.user_in_new_org(&admin, "supplier", "member");
    subscribe(&app, &user.token, json!({ "topics": ["retirements", "uit_windows"] }));
    let (soon, _, _) = firmware(&app, &admin, "ESME");
    let (later, _, _) = firmware(&app, &admin, "GSME");
    let (far, _, _) = firmware(&app, &admin, "IHD");
    let today = Utc::now().date_naive();
    for (fw, days) in [(&soon, 5), (&later, 20), (&far, 45)] {
        app.patch(
            &format!("/api/v1/firmware/{fw}"),
            Some(&admin),
            &json!({ "retirement_date": (today + Duration::days(days)).to_string() }),
        )
        .expect(200);
    }
    let (wid, name) = window_of(&app, &admin, "CHF", Duration::hours(-1), Duration::hours(40));
    let reminders = |entity: &str, kind: &str| crate::releases::events_of_kind(&app, &admin, entity, kind);
    wait_until(15, "the reminders", || {
        reminders(&soon, "firmware.retiring_soon").len() == 1
            && reminders(&later, "firmware.retiring_soon").len() == 1
            && reminders(&wid, "window.closing_soon").len() == 1
    });
    // A few more ticks change nothing.
    std::thread::sleep(StdDuration::from_millis(2500));
    let soon_events = reminders(&soon, "firmware.retiring_soon");
    assert_eq!(soon_events.len(), 1);
    assert_eq!(soon_events[0]["details"]["days"], 7);
    assert!(soon_events[0]["summary"]
        .as_str()
        .unwrap()
        .contains("retires in 5 days"));
    let later_events = reminders(&later, "firmware.retiring_soon");
    assert_eq!(later_events.len(), 1);
    assert_eq!(later_events[0]["details"]["days"], 30);
    assert!(
        reminders(&far, "firmware.retiring_soon").is_empty(),
        "45 days out: no reminder yet"
    );
    assert_eq!(reminders(&wid, "window.closing_soon").len(), 1);
    delivered(&app);
    let subjects: Vec<String> = notifications_to(&app, &user.email)
        .iter()
        .map(|m| m.header("Subject").unwrap())
        .collect();
    let count = |part: &str| subjects.iter().filter(|s| s.contains(part)).count();
    assert_eq!(count("retires in 5 days"), 1, "{subjects:?}");
    assert_eq!(count("retires in 20 days"), 1, "{subjects:?}");
    assert_eq!(
        count(&format!("UIT window {name} of release Release {name} closes soon")),
        1,
        "{subjects:?}"
    );
}

#[test]
fn unsubscribe_refuses_what_is_not_a_one_click_request() {
    let app = TestApp::spawn();
    let user = app.user_in_new_org(&app.admin_token(), "supplier", "member");
    let sub = subscribe(&app, &user.token, json!({ "topics": ["releases"] }));
    let path = sub["unsubscribe_url"]
        .as_str()
        .unwrap()
        .trim_start_matches(PUBLIC)
        .to_string();
    app.send(
        "POST",
        &path,
        None,
        &[],
        Some(("application/json", b"{\"List-Unsubscribe\":\"One-Click\"}".to_vec())),
    )
    .expect_code(415, "unsupported_media_type");
    form(&app, &path, "List-Unsubscribe=Please").expect_code(400, "malformed_body");
    form(
        &app,
        "/api/v1/unsubscribe?token=uitu_unknown",
        "List-Unsubscribe=One-Click",
    )
    .expect_code(404, "not_found");
    app.get("/api/v1/unsubscribe?token=uitu_unknown", None)
        .expect_code(404, "not_found");
    app.get("/api/v1/unsubscribe", None).expect_code(400, "invalid_query");
    // Still subscribed after all that; then one click as a mail client sends it (multipart too).
    assert_eq!(
        app.get("/api/v1/subscriptions", Some(&user.token)).json()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let multipart = "--b\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--b--\r\n";
    app.send(
        "POST",
        &path,
        None,
        &[],
        Some(("multipart/form-data; boundary=b", multipart.as_bytes().to_vec())),
    )
    .expect(200);
    assert!(app.get("/api/v1/subscriptions", Some(&user.token)).json()["items"]
        .as_array()
        .unwrap()
        .is_empty());
}

// ---- the real binary: crash safety and several instances ----

const BIN: &str = env!("CARGO_BIN_EXE_uit-portal");

/// A database for spawned binaries: a fresh PostgreSQL schema when `TEST_DATABASE_URL` is set,
/// else a SQLite file in `dir`. Returns the URL and, for PostgreSQL, the schema to drop.
fn binary_database(dir: &std::path::Path) -> (String, Option<(uit_portal::db::DbTarget, String)>) {
    match fresh_postgres_schema() {
        Some((target, schema)) => (with_search_path(&target.url, &schema), Some((target, schema))),
        None => (format!("sqlite://{}", dir.join("portal.db").display()), None),
    }
}

fn binary(dir: &std::path::Path, database_url: &str, smtp: &SmtpServer, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("PORTAL_DATA_DIR", dir)
        .env("PORTAL_DATABASE_URL", database_url)
        .env("PORTAL_BOOTSTRAP_EMAIL", ADMIN_EMAIL)
        .env("PORTAL_BOOTSTRAP_PASSWORD", "bootstrap-password-1")
        .env("PORTAL_MAIL_TRANSPORT", "smtp")
        .env("PORTAL_SMTP_URL", smtp.url())
        .env("PORTAL_PUBLIC_URL", PUBLIC)
        .env("PORTAL_MAIL_POLL_INTERVAL_MS", "100")
        .env("PORTAL_NOTIFICATION_LEASE_SECONDS", "4")
        .env("PORTAL_WINDOW_CLOCK_INTERVAL_SECONDS", "0")
        .env("PORTAL_LOG_LEVEL", "warn")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// `count` active subscriptions without an account, `prefix-<i>@example.org`, and one change
/// event they all match; written straight into the database.
fn seed_subscribers(database_url: &str, prefix: &str, count: usize) {
    let target = uit_portal::db::DbTarget::parse(database_url, "normal").unwrap();
    let mut conn = target.connect().unwrap();
    let now = uit_portal::db::now();
    let rows: Vec<String> = (0..count)
        .map(|i| {
            let q = uit_portal::seed::q;
            format!(
                "({}, NULL, {}, '[\"uit_windows\"]', '{{}}', 'immediate', 'active', NULL, NULL, NULL, {}, NULL, {}, {}, 1)",
                q(&uit_portal::db::new_id()),
                q(&format!("{prefix}-{i}@example.org")),
                q(&uit_portal::auth::tokens::new_secret("uitu_")),
                uit_portal::seed::ts(now),
                uit_portal::seed::ts(now),
            )
        })
        .collect();
    uit_portal::seed::insert_rows(
        &mut conn,
        "subscriptions",
        "id, user_id, email, topics_json, filters_json, mode, status, confirm_token_hash, \
         confirmation_sent_at, confirmed_at, unsubscribe_token, unsubscribed_at, created_at, updated_at, version",
        &rows,
    )
    .unwrap();
    uit_portal::events::record(
        &mut conn,
        uit_portal::events::NewEvent::new(
            uit_portal::events::Topic::UitWindows,
            "window.extended",
            "uit_window",
            "w-load",
            "UIT-LOAD now closes 2027-03-28 10:00 UTC, was 2027-03-21 10:00 UTC".into(),
        ),
    )
    .unwrap();
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count_where(database_url: &str, status: &str) -> i64 {
    let target = uit_portal::db::DbTarget::parse(database_url, "normal").unwrap();
    let mut conn = target.connect().unwrap();
    diesel::sql_query(format!(
        "SELECT COUNT(*) AS n FROM notifications WHERE status = '{status}'"
    ))
    .get_result::<Count>(&mut conn)
    .unwrap()
    .n
}

/// Message-ID -> how many times the SMTP server received it.
fn message_ids(smtp: &SmtpServer) -> HashMap<String, usize> {
    let mut ids = HashMap::new();
    for m in smtp.received() {
        if let Some(id) = m.header("Message-ID") {
            *ids.entry(id).or_default() += 1;
        }
    }
    ids
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn drop_schema(pg: Option<(uit_portal::db::DbTarget, String)>) {
    if let Some((target, schema)) = pg {
        use diesel::connection::SimpleConnection;
        let _ = target
            .connect()
            .unwrap()
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
    }
}

#[test]
fn a_worker_killed_mid_delivery_loses_nothing_and_resends_at_most_what_was_in_flight() {
    const TOTAL: usize = 1000;
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start();
    let (url, pg) = binary_database(dir.path());
    let migrated = binary(dir.path(), &url, &smtp, &["migrate"]).status().unwrap();
    assert!(migrated.success());
    seed_subscribers(&url, "crash", TOTAL);

    let worker = binary(dir.path(), &url, &smtp, &["worker"]).spawn().unwrap();
    wait_until(60, "delivery to start", || smtp.received().len() >= 100);
    let pid = worker.id();
    stop(worker); // SIGKILL
    let at_kill = smtp.received().len();
    let in_flight = count_where(&url, "sending");
    assert!(
        at_kill < TOTAL,
        "killed mid-delivery ({at_kill} of {TOTAL} received; pid {pid})"
    );
    assert_eq!(
        count_where(&url, "sent") + count_where(&url, "sending") + count_where(&url, "pending"),
        TOTAL as i64
    );

    let worker = binary(dir.path(), &url, &smtp, &["worker"]).spawn().unwrap();
    wait_until(90, "every notification to arrive", || message_ids(&smtp).len() == TOTAL);
    wait_until(30, "the outbox to settle", || count_where(&url, "sent") == TOTAL as i64);
    stop(worker);
    let ids = message_ids(&smtp);
    let received: usize = ids.values().sum();
    let duplicates = received - TOTAL;
    assert!(
        duplicates as i64 <= in_flight,
        "{duplicates} duplicates, but only {in_flight} were in flight at the kill"
    );
    eprintln!("crash test: {at_kill} received at the kill, {in_flight} in flight, {duplicates} duplicates");
    drop_schema(pg);
}

#[test]
fn two_instances_on_one_postgresql_deliver_each_notification_exactly_once() {
    if crate::helpers::postgres_target().is_none() {
        eprintln!("skipped: two instances need PostgreSQL (set TEST_DATABASE_URL)");
        return;
    }
    const TOTAL: usize = 5000;
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    let smtp = SmtpServer::start();
    let (url, pg) = binary_database(dir.path());
    assert!(binary(&one, &url, &smtp, &["migrate"]).status().unwrap().success());
    seed_subscribers(&url, "pair", TOTAL);

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Each instance sends from its own address, so the split between them shows.
    let server = binary(&one, &url, &smtp, &["serve"])
        .env("PORTAL_BIND", format!("127.0.0.1:{port}"))
        .env("PORTAL_MAIL_FROM", "UIT Portal <one@uit-portal.test>")
        .spawn()
        .unwrap();
    let worker = binary(&two, &url, &smtp, &["worker"])
        .env("PORTAL_MAIL_FROM", "UIT Portal <two@uit-portal.test>")
        .spawn()
        .unwrap();
    wait_until(120, "every notification to arrive", || {
        message_ids(&smtp).len() == TOTAL
    });
    wait_until(30, "the outbox to settle", || count_where(&url, "sent") == TOTAL as i64);
    std::thread::sleep(StdDuration::from_millis(500));
    stop(server);
    stop(worker);
    let ids = message_ids(&smtp);
    assert_eq!(ids.len(), TOTAL, "no losses");
    let doubled: Vec<_> = ids.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "no duplicates: {doubled:?}");
    let by = |address: &str| smtp.received().iter().filter(|m| m.from.contains(address)).count();
    let (first, second) = (by("one@uit-portal.test"), by("two@uit-portal.test"));
    eprintln!("two instances: {first} + {second} emails");
    assert!(
        first > 0 && second > 0,
        "both instances must have delivered a share: {first} + {second}"
    );
    drop_schema(pg);
}

/// The change events recorded so far, oldest first, as (id, kind).
fn change_events(app: &TestApp) -> Vec<(String, String)> {
    use uit_portal::db::schema::change_events as ce;
    ce::table
        .order((ce::occurred_at.asc(), ce::id.asc()))
        .select((ce::id, ce::kind))
        .load(&mut db(app))
        .unwrap()
}

/// The change events a subscription was given a notification for.
fn notified_events(app: &TestApp, subscription_id: &str) -> Vec<String> {
    use uit_portal::db::schema::notifications as n;
    n::table
        .filter(n::subscription_id.eq(subscription_id))
        .order(n::change_event_id.asc())
        .select(n::change_event_id)
        .load::<Option<String>>(&mut db(app))
        .unwrap()
        .into_iter()
        .flatten()
        .collect()
}

#[test]
fn subscribers_hear_only_of_changes_after_they_became_active() {
    // No pump: the fan-out runs when the test says, so every event below is still pending when
    // the subscriptions appear (the old fan-out took every pending event).
    let app = TestApp::spawn_with(|c| c.notification_workers = 0);
    let admin = app.admin_token();
    let (wid, _) = window_of(&app, &admin, "CHF", Duration::days(10), Duration::days(20));
    let before_user = change_events(&app).len();
    assert!(before_user >= 2, "release created, window scheduled");

    let user = app.user_in_new_org(&admin, "supplier", "member");
    let user_sub = subscribe(&app, &user.token, json!({ "topics": ["releases", "uit_windows"] }));
    // An address asks, a change happens while it is pending, then it confirms.
    let email = unique_email("late");
    // No worker sends the notifications the fan-out below queues.
    app.allow_unsent_mail_to(&user.email);
    app.allow_unsent_mail_to(&email);
    subscribe_anonymously(&app, &email, json!({ "topics": ["uit_windows"] })).expect(202);
    let token = app.smtp.wait_for(&email).token("uitn_");
    app.patch(
        &format!("/api/v1/uit-windows/{wid}"),
        Some(&admin),
        &json!({ "closes_at": at(Duration::days(21)) }),
    )
    .expect(200);
    std::thread::sleep(StdDuration::from_millis(5));
    let confirm = app.post("/api/v1/subscriptions/confirm", None, &json!({ "token": token }));
    confirm.expect(200);
    let anon_sub = confirm.json();
    std::thread::sleep(StdDuration::from_millis(5));
    app.patch(
        &format!("/api/v1/uit-windows/{wid}"),
        Some(&admin),
        &json!({ "closes_at": at(Duration::days(22)) }),
    )
    .expect(200);

    let events = change_events(&app);
    assert_eq!(events.len(), before_user + 2);
    let (while_pending, after_both) = (&events[before_user].0, &events[before_user + 1].0);
    uit_portal::notifications::fanout::run(&mut db(&app)).unwrap();

    assert_eq!(
        notified_events(&app, user_sub["id"].as_str().unwrap()),
        [while_pending.clone(), after_both.clone()],
        "the user hears of what happened after subscribing, not of the release and window before"
    );
    assert_eq!(
        notified_events(&app, anon_sub["id"].as_str().unwrap()),
        std::slice::from_ref(after_both),
        "the address hears of nothing from before its confirmation"
    );
}

/// The codes an email must not show a person.
const INTERNAL_CODES: [&str; 12] = [
    "window.extended",
    "release.stage_changed",
    "closes_at",
    "opens_at",
    "effective_at",
    "decision_note",
    "uit_windows",
    "deployment_phase",
    "content_agreed",
    "sec_release",
    "daily_digest",
    "{{",
];

#[test]
fn emails_tell_of_changes_in_sentences_that_name_what_and_who() {
    use chrono::Datelike;
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let operator = app.get("/api/v1/me", Some(&admin)).json()["organisation"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let (wid, name) = window_of(&app, &admin, "CHF", Duration::days(10), Duration::days(20));
    let release_id = app.get(&format!("/api/v1/uit-windows/{wid}"), Some(&admin)).json()["release_id"]
        .as_str()
        .unwrap()
        .to_string();
    let day = |days: i64| (Utc::now() + Duration::days(days)).date_naive();
    let old_close = day(20).and_hms_opt(21, 43, 0).unwrap();
    let new_close = day(24).and_hms_opt(17, 0, 0).unwrap();
    let instant = |t: chrono::NaiveDateTime| format!("{}Z", t.format("%Y-%m-%dT%H:%M:%S"));
    app.patch(
        &format!("/api/v1/uit-windows/{wid}"),
        Some(&admin),
        &json!({ "closes_at": instant(old_close) }),
    )
    .expect(200);
    crate::releases::advance_to(&app, &admin, &release_id, "approved");
    fanned_out(&app);

    // Subscribed from here on: an extension and a stage move.
    let user = app.user_in_new_org(&admin, "supplier", "member");
    subscribe(&app, &user.token, json!({ "topics": ["releases", "uit_windows"] }));
    app.patch(
        &format!("/api/v1/uit-windows/{wid}"),
        Some(&admin),
        &json!({ "closes_at": instant(new_close) }),
    )
    .expect(200);
    let starts = day(30).and_hms_opt(9, 0, 0).unwrap();
    let note = "Exit criteria met; no open severity 1 defects.";
    app.post(
        &format!("/api/v1/releases/{release_id}/stage"),
        Some(&admin),
        &json!({ "stage": "deployment_phase_1", "decision_note": note, "effective_at": instant(starts) }),
    )
    .expect(200);
    wait_until(15, "two emails", || notifications_to(&app, &user.email).len() == 2);
    delivered(&app);
    let mails = notifications_to(&app, &user.email);
    assert_eq!(mails.len(), 2);
    for mail in &mails {
        let subject = mail.header("Subject").unwrap();
        let text = mail.decoded();
        for code in INTERNAL_CODES {
            assert!(!subject.contains(code), "{code} in the subject {subject}");
            assert!(!text.contains(code), "{code} in the email: {text}");
        }
        assert!(text.contains(&format!("Changed by: {operator}")), "names who: {text}");
        assert!(
            text.contains(&format!("Release: Release {name}")),
            "names the release: {text}"
        );
    }
    let find = |part: &str| {
        mails
            .iter()
            .find(|m| m.header("Subject").unwrap().contains(part))
            .unwrap_or_else(|| panic!("no email with {part}"))
            .decoded()
    };

    let extended = find("extended by 4 days");
    let sentence = format!(
        "{name} now closes {} instead of {}: extended by 4 days.",
        new_close.format("%a %-d %b %Y %H:%M UTC"),
        if old_close.year() == new_close.year() {
            old_close.format("%a %-d %b %H:%M UTC").to_string()
        } else {
            old_close.format("%a %-d %b %Y %H:%M UTC").to_string()
        }
    );
    assert!(extended.contains(&sentence), "{sentence} in {extended}");
    assert!(extended.contains(&format!("UIT window: {name}")));

    let moved = find("moves to deployment phase 1");
    assert!(
        moved.contains(&format!(
            "moves from approved to deployment phase 1 on {}",
            starts.format("%a %-d %b %Y %H:%M UTC")
        )),
        "says when it takes effect: {moved}"
    );
    assert!(moved.contains("until then it stays in approved"), "{moved}");
    assert!(
        moved.contains(&format!("The decision note: \"{note}\"")),
        "quotes the note: {moved}"
    );
}

#[test]
fn asking_again_while_pending_updates_the_request_and_one_confirmation_confirms_the_latest() {
    let app = TestApp::spawn();
    let email = unique_email("second-thoughts");
    let first = subscribe_anonymously(&app, &email, json!({ "topics": ["roadmaps"], "mode": "daily_digest" }));
    first.expect(202);
    let token = app.smtp.wait_for(&email).token("uitn_");
    let second = subscribe_anonymously(
        &app,
        &email,
        json!({ "topics": ["releases", "uit_windows"], "filters": { "device_types": ["CHF"] } }),
    );
    second.expect(202);
    assert_eq!(second.body, first.body, "the same answer whatever the state");
    std::thread::sleep(StdDuration::from_millis(500));
    assert_eq!(to(&app.smtp, &email).len(), 1, "still one confirmation email an hour");

    let confirmed = app.post("/api/v1/subscriptions/confirm", None, &json!({ "token": token }));
    confirmed.expect(200);
    let sub = confirmed.json();
    assert_eq!(
        sub["topics"],
        json!(["releases", "uit_windows"]),
        "the latest choice: {sub}"
    );
    assert_eq!(sub["mode"], "immediate");
    assert_eq!(sub["filters"]["device_types"], json!(["CHF"]));
    use uit_portal::db::schema::subscriptions as s;
    let rows: i64 = s::table
        .filter(s::email.eq(&email))
        .count()
        .get_result(&mut db(&app))
        .unwrap();
    assert_eq!(rows, 1, "one request, updated, not a second one");
}
