//! The calendar feed: feed tokens, RFC 5545 framing (CRLF, 75-octet folding), what each user
//! sees, and stable UIDs with growing SEQUENCE numbers.

use std::collections::HashMap;

use chrono::Duration;
use serde_json::json;

use crate::fixtures::{firmware, product};
use crate::helpers::{Resp, TestApp, TestUser};
use crate::releases::{at, id, release};
use crate::roadmaps::{item, join, open_window};

/// Creates (or rotates) `token`'s feed token; returns `(token, url)`.
fn feed_token(app: &TestApp, token: &str) -> (String, String) {
    let resp = app.post("/api/v1/me/calendar-token", Some(token), &json!({}));
    resp.expect(201);
    let body = resp.json();
    (
        body["token"].as_str().unwrap().to_string(),
        body["url"].as_str().unwrap().to_string(),
    )
}

fn feed(app: &TestApp, feed_token: &str) -> Resp {
    app.get(&format!("/api/v1/calendar.ics?token={feed_token}"), None)
}

/// Checks the framing and returns the unfolded events, each as its property lines.
fn events_of(resp: &Resp) -> Vec<Vec<String>> {
    resp.expect(200);
    assert_eq!(
        resp.header("content-type").as_deref(),
        Some("text/calendar; charset=utf-8")
    );
    let body = &resp.body;
    assert!(body.ends_with("\r\n"), "the last line ends with CRLF");
    for line in body.split_terminator("\r\n") {
        assert!(
            !line.contains('\n') && !line.contains('\r'),
            "a bare line break: {line:?}"
        );
        assert!(line.len() <= 75, "{} octets: {line:?}", line.len());
    }
    let unfolded = body.replace("\r\n ", "");
    let lines: Vec<&str> = unfolded.split_terminator("\r\n").collect();
    assert_eq!(lines.first(), Some(&"BEGIN:VCALENDAR"));
    assert_eq!(lines.last(), Some(&"END:VCALENDAR"));
    for required in [
        "VERSION:2.0",
        "PRODID:-//UIT Portal//Calendar feed//EN",
        "X-WR-CALNAME:UIT Portal",
    ] {
        assert!(lines.contains(&required), "{required} missing");
    }
    let mut events = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in lines {
        match line {
            "BEGIN:VEVENT" => current = Some(Vec::new()),
            "END:VEVENT" => events.push(current.take().expect("END without BEGIN")),
            _ => {
                if let Some(event) = current.as_mut() {
                    event.push(line.to_string());
                }
            }
        }
    }
    events
}

/// The value of `name` (with any parameters) in `event`.
fn prop<'a>(event: &'a [String], name: &str) -> Option<&'a str> {
    event.iter().find_map(|l| {
        let (head, value) = l.split_once(':')?;
        (head == name || head.starts_with(&format!("{name};"))).then_some(value)
    })
}

fn by_uid(events: &[Vec<String>]) -> HashMap<String, Vec<String>> {
    let mut map = HashMap::new();
    for e in events {
        let uid = prop(e, "UID").expect("every event has a UID").to_string();
        assert!(map.insert(uid.clone(), e.clone()).is_none(), "{uid} twice");
    }
    map
}

struct Scene {
    admin: String,
    maker: TestUser,
    supplier: TestUser,
    window: String,
    retiring: String,
    committed: String,
    private: String,
    proposed: String,
}

fn scene(app: &TestApp) -> Scene {
    let admin = app.admin_token();
    let maker = app.user_in_new_org(&admin, "manufacturer", "member");
    let supplier = app.user_in_new_org(&admin, "supplier", "member");
    let rel = id(&release(app, &admin, "sec_release"));
    // A long name makes a SUMMARY line that must be folded.
    let name = format!(
        "UIT-{}-Comms-Hub-4.3-with-prepayment-and-change-of-mode-scenarios",
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    );
    let window = app.post(
        "/api/v1/uit-windows",
        Some(&admin),
        &json!({ "release_id": rel, "name": name, "opens_at": at(Duration::days(3)), "closes_at": at(Duration::days(10)) }),
    );
    window.expect(201);
    let window = id(&window.json());
    let model = product(app, &maker.token, &maker.org_id, "ESME");
    let retiring = firmware(app, &maker.token, &model, "1.0", "deployed");
    app.patch(
        &format!("/api/v1/firmware/{retiring}"),
        Some(&maker.token),
        &json!({ "retirement_date": "2030-06-30" }),
    )
    .expect(200);
    let committed = id(&item(
        app,
        &maker.token,
        &model,
        json!({
            "status": "committed", "planned_date": "2030-03-01",
            "summary": "Zählerstand fix; tariff switch, DM-0042 — and a long line\nwith a second line",
        }),
    ));
    let private = id(&item(
        app,
        &maker.token,
        &model,
        json!({ "status": "committed", "planned_date": "2030-04-01", "visibility": "private" }),
    ));
    let proposed = id(&item(
        app,
        &maker.token,
        &model,
        json!({ "planned_date": "2030-05-01" }),
    ));
    Scene {
        admin,
        maker,
        supplier,
        window,
        retiring,
        committed,
        private,
        proposed,
    }
}

#[test]
fn the_feed_is_rfc5545_with_stable_uids_and_only_what_the_user_may_see() {
    let app = TestApp::spawn();
    let s = scene(&app);
    let (token, url) = feed_token(&app, &s.supplier.token);
    assert!(token.starts_with("uitc_"), "{token}");
    assert_eq!(
        url,
        format!("https://portal.example.org/api/v1/calendar.ics?token={token}")
    );

    let resp = feed(&app, &token);
    let events = events_of(&resp);
    // For CI: .ci/check-calendar.py parses this file with Python's icalendar package.
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/calendar-sample.ics");
    std::fs::create_dir_all(sample.parent().unwrap()).unwrap();
    std::fs::write(&sample, &resp.body).unwrap();
    assert!(
        resp.body.lines().any(|l| l.len() == 75),
        "some line was long enough to fold"
    );

    let events = by_uid(&events);
    let window = &events[&format!("window-{}@uit-portal", s.window)];
    assert_eq!(prop(window, "SEQUENCE"), Some("0"));
    assert_eq!(prop(window, "STATUS"), Some("CONFIRMED"));
    assert!(prop(window, "SUMMARY").unwrap().starts_with("UIT window UIT-"));
    assert!(prop(window, "DTSTART").unwrap().ends_with('Z'));
    assert!(prop(window, "DTSTAMP").unwrap().ends_with('Z'));

    let retirement = &events[&format!("retirement-{}@uit-portal", s.retiring)];
    assert!(window.iter().any(|l| l.starts_with("DTEND:")));
    assert_eq!(prop(retirement, "DTSTART"), Some("20300630"));
    assert!(retirement.iter().any(|l| l == "DTSTART;VALUE=DATE:20300630"));
    assert_eq!(prop(retirement, "DTEND"), Some("20300701"), "an all-day event");
    assert!(prop(retirement, "SUMMARY").unwrap().contains("firmware 1.0 retires"));

    let roadmap = &events[&format!("roadmap-{}@uit-portal", s.committed)];
    assert_eq!(prop(roadmap, "DTSTART"), Some("20300301"));
    // TEXT is escaped: commas, semicolons and line breaks.
    assert_eq!(
        prop(roadmap, "DESCRIPTION"),
        Some("Zählerstand fix\\; tariff switch\\, DM-0042 — and a long line\\nwith a second line")
    );
    assert!(
        !events.contains_key(&format!("roadmap-{}@uit-portal", s.private)),
        "a private item is not in another organisation's feed"
    );
    assert!(
        !events.contains_key(&format!("roadmap-{}@uit-portal", s.proposed)),
        "only committed roadmap dates"
    );

    // The owner's feed and the operator's hold the private item too.
    for token in [&s.maker.token, &s.admin] {
        let (t, _) = feed_token(&app, token);
        let theirs = by_uid(&events_of(&feed(&app, &t)));
        assert!(theirs.contains_key(&format!("roadmap-{}@uit-portal", s.private)));
        assert!(theirs.contains_key(&format!("window-{}@uit-portal", s.window)));
    }
}

#[test]
fn participants_roadmap_dates_reach_the_feeds_of_open_window_participants() {
    let app = TestApp::spawn();
    let s = scene(&app);
    let model = product(&app, &s.maker.token, &s.maker.org_id, "GSME");
    let for_participants = id(&item(
        &app,
        &s.maker.token,
        &model,
        json!({ "status": "committed", "planned_date": "2030-02-01", "visibility": "participants" }),
    ));
    let uid = format!("roadmap-{for_participants}@uit-portal");
    let (token, _) = feed_token(&app, &s.supplier.token);
    assert!(!by_uid(&events_of(&feed(&app, &token))).contains_key(&uid));
    let open = open_window(&app, &s.admin);
    join(&app, &s.supplier.token, &open);
    assert!(by_uid(&events_of(&feed(&app, &token))).contains_key(&uid));
}

#[test]
fn missing_wrong_and_rotated_feed_tokens_are_404() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let user = app.user_in_new_org(&admin, "reviewer", "viewer");
    app.post("/api/v1/me/calendar-token", None, &json!({}))
        .expect_code(401, "invalid_token");

    let (first, _) = feed_token(&app, &user.token);
    feed(&app, &first).expect(200);
    let missing = app.get("/api/v1/calendar.ics", None);
    missing.expect_code(404, "not_found");
    let wrong = feed(&app, "uitc_not-a-real-token");
    wrong.expect_code(404, "not_found");
    assert_eq!(wrong.body, missing.body);
    // A bearer token is no feed token.
    app.get("/api/v1/calendar.ics", Some(&user.token))
        .expect_code(404, "not_found");
    app.get(&format!("/api/v1/calendar.ics?token={first}&extra=1"), None)
        .expect_code(400, "invalid_query");

    let (second, _) = feed_token(&app, &user.token);
    assert_ne!(first, second);
    let rotated = feed(&app, &first);
    rotated.expect_code(404, "not_found");
    assert_eq!(rotated.body, missing.body);
    feed(&app, &second).expect(200);

    let audit = app
        .get(&format!("/api/v1/audit-events?entity_id={}", user.id), Some(&admin))
        .json();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .filter(|a| a.starts_with("calendar_token."))
        .collect();
    assert_eq!(
        actions,
        ["calendar_token.rotate", "calendar_token.create"],
        "newest first"
    );
    let text = serde_json::to_string(&audit).unwrap();
    assert!(
        !text.contains(&first) && !text.contains(&second),
        "no secret in the audit log"
    );
}

#[test]
fn a_rescheduled_window_keeps_its_uid_and_its_sequence_grows() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let rel = id(&release(&app, &admin, "sec_release"));
    let created = app.post(
        "/api/v1/uit-windows",
        Some(&admin),
        &json!({ "release_id": rel, "name": "UIT-MOVING", "opens_at": "2030-03-01T10:00:00Z", "closes_at": "2030-03-21T10:00:00Z" }),
    );
    created.expect(201);
    let wid = id(&created.json());
    let uid = format!("window-{wid}@uit-portal");
    let (token, _) = feed_token(&app, &admin);
    let event = |app: &TestApp| -> Vec<String> { by_uid(&events_of(&feed(app, &token)))[&uid].clone() };

    let before = event(&app);
    assert_eq!(prop(&before, "SEQUENCE"), Some("0"));
    assert_eq!(prop(&before, "DTSTART"), Some("20300301T100000Z"));
    assert_eq!(prop(&before, "DTEND"), Some("20300321T100000Z"));

    app.patch(
        &format!("/api/v1/uit-windows/{wid}"),
        Some(&admin),
        &json!({ "opens_at": "2030-03-08T10:00:00Z", "closes_at": "2030-03-28T10:00:00Z" }),
    )
    .expect(200);
    let moved = event(&app);
    assert_eq!(prop(&moved, "SEQUENCE"), Some("1"));
    assert_eq!(prop(&moved, "DTSTART"), Some("20300308T100000Z"));
    assert_eq!(prop(&moved, "DTEND"), Some("20300328T100000Z"));
    assert!(prop(&moved, "DTSTAMP").unwrap() >= prop(&before, "DTSTAMP").unwrap());

    app.patch(
        &format!("/api/v1/uit-windows/{wid}"),
        Some(&admin),
        &json!({ "status": "cancelled", "cancel_reason": "Release slipped" }),
    )
    .expect(200);
    let cancelled = event(&app);
    assert_eq!(prop(&cancelled, "SEQUENCE"), Some("2"));
    assert_eq!(prop(&cancelled, "STATUS"), Some("CANCELLED"));
    assert!(prop(&cancelled, "DESCRIPTION")
        .unwrap()
        .contains("Cancelled: Release slipped"));
}

#[test]
fn the_feed_leaves_out_what_ended_long_ago() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let maker = app.create_org(&admin, "manufacturer");
    let model = product(&app, &admin, &maker, "IHD");
    let old = firmware(&app, &admin, &model, "0.9", "deployed");
    app.patch(
        &format!("/api/v1/firmware/{old}"),
        Some(&admin),
        &json!({ "retirement_date": (chrono::Utc::now().date_naive() - Duration::days(200)).to_string() }),
    )
    .expect(200);
    let recent = firmware(&app, &admin, &model, "1.0", "deployed");
    app.patch(
        &format!("/api/v1/firmware/{recent}"),
        Some(&admin),
        &json!({ "retirement_date": (chrono::Utc::now().date_naive() - Duration::days(20)).to_string() }),
    )
    .expect(200);
    let (token, _) = feed_token(&app, &admin);
    let events = by_uid(&events_of(&feed(&app, &token)));
    assert!(!events.contains_key(&format!("retirement-{old}@uit-portal")));
    assert!(events.contains_key(&format!("retirement-{recent}@uit-portal")));
}
