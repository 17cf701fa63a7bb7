//! Results as a notification topic: new failures and new known issues of shared results reach
//! exactly the results' readers, once per write, narrowed by window, in digests too.

use diesel::prelude::*;
use serde_json::{json, Value};

use crate::fixtures::{open_window, publish, world, World, SCENARIOS};
use crate::helpers::TestApp;
use crate::notifications::{db, delivered, fanned_out};
use crate::smtp::Received;

const PUBLIC: &str = "https://portal.example.org";

fn item(w: &World, set: usize, scenario: usize, outcome: &str, visibility: &str) -> Value {
    json!({ "uit_window_id": w.window, "device_set_id": w.sets[set], "scenario": SCENARIOS[scenario],
            "outcome": outcome, "visibility": visibility, "executed_at": "2026-11-20T10:00:00Z" })
}

/// Notifications (not account emails) `email` received.
fn heard(app: &TestApp, email: &str) -> Vec<Received> {
    app.smtp
        .received()
        .into_iter()
        .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(email)))
        .filter(|m| m.header("List-Unsubscribe").is_some())
        .collect()
}

fn subscribe(app: &TestApp, token: &str, body: Value) -> String {
    let resp = app.post("/api/v1/subscriptions", Some(token), &body);
    resp.expect(201);
    resp.id()
}

/// The `results` change events recorded so far, oldest first (operator's view).
fn result_events(app: &TestApp, w: &World) -> Vec<Value> {
    let resp = app.get("/api/v1/change-events?topic=results", Some(&w.admin));
    resp.expect(200);
    resp.json()["items"].as_array().unwrap().clone()
}

#[test]
fn new_shared_failures_reach_exactly_their_readers_once_per_write() {
    let app = TestApp::spawn();
    let w = world(&app);
    let elsewhere = open_window(&app, &w.admin, &w.release);
    let mask = app.post(
        "/api/v1/defect-masks",
        Some(&w.a.token),
        &json!({ "code": "DM-0777", "title": "ESME leaves the HAN after a hub swap", "severity": "major",
                 "device_model_id": w.esme_model, "affected_firmware_ids": [w.esme_fw] }),
    );
    mask.expect(201);
    let mask = mask.id();

    // Subscribers: a participant; an outsider narrowed to this window; a reviewer by daily
    // digest; the manufacturer narrowed to another window. An address without an account is
    // refused the topic: results are read with a token only.
    subscribe(&app, &w.b.token, json!({ "topics": ["results"] }));
    // A viewer reads its organisation's results and the shared ones: it hears of them too.
    subscribe(&app, &w.a_viewer.token, json!({ "topics": ["results"] }));
    subscribe(
        &app,
        &w.outsider.token,
        json!({ "topics": ["results"], "filters": { "uit_window_ids": [w.window] } }),
    );
    let digest = subscribe(
        &app,
        &w.reviewer.token,
        json!({ "topics": ["results"], "mode": "daily_digest" }),
    );
    subscribe(
        &app,
        &w.maker.token,
        json!({ "topics": ["results"], "filters": { "uit_window_ids": [elsewhere] } }),
    );
    let refused = app.post(
        "/api/v1/subscriptions",
        None,
        &json!({ "email": "someone@example.org", "topics": ["uit_windows", "results"] }),
    );
    let body = refused.expect_code(422, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "topics[1]", "{body}");
    app.post(
        "/api/v1/subscriptions",
        Some(&w.b.token),
        &json!({ "topics": ["results"], "filters": { "uit_window_ids": ["no-such-window"] } }),
    )
    .expect_code(422, "validation_failed");

    // One batch: a private failure (a working note: no news), a known issue and a failure
    // shared with participants, a pass and a failure shared with the industry.
    let mut known = item(&w, 0, 1, "fail", "participants");
    known["defect_mask_ids"] = json!([mask]);
    let batch = app.post(
        "/api/v1/results/batch",
        Some(&w.a.token),
        &json!({ "items": [
            item(&w, 0, 0, "fail", "private"),
            known,
            item(&w, 1, 0, "pass", "industry"),
            item(&w, 1, 1, "fail", "industry"),
            item(&w, 2, 2, "fail", "participants"),
        ] }),
    );
    batch.expect(200);
    let ids = batch.ids();
    delivered(&app);

    let events = result_events(&app, &w);
    assert_eq!(events.len(), 2, "one per visibility the write touched: {events:#?}");
    let by = |visibility: &str| {
        events
            .iter()
            .find(|e| e["details"]["visibility"] == visibility)
            .unwrap_or_else(|| panic!("no {visibility} event"))
            .clone()
    };
    let (shared, public) = (by("participants"), by("industry"));
    assert_eq!(
        (
            shared["details"]["failures"].as_u64(),
            shared["details"]["known_issues"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(
        (
            public["details"]["failures"].as_u64(),
            public["details"]["known_issues"].as_u64()
        ),
        (Some(1), Some(0))
    );
    assert_eq!(shared["uit_window_ids"], json!([w.window]));
    let known_item = shared["details"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["result_id"] == ids[1].as_str())
        .unwrap()
        .clone();
    assert_eq!(known_item["masks"], json!(["DM-0777"]));
    assert!(
        !events.iter().any(|e| e.to_string().contains(&ids[0])),
        "the private failure is in no event"
    );

    // The participant hears of both; the outsider and the reviewer of the industry failure
    // only; the manufacturer (another window) of nothing; the digest waits for its day.
    let b = heard(&app, &w.b.email);
    assert_eq!(
        b.len(),
        2,
        "{:?}",
        b.iter().map(|m| m.header("Subject")).collect::<Vec<_>>()
    );
    let texts: Vec<String> = b.iter().map(|m| m.decoded()).collect();
    let known_text = texts.iter().find(|t| t.contains("DM-0777")).expect("the shared email");
    assert!(
        known_text.contains("set 5000 (prepayment top up): failed, a known issue (DM-0777)"),
        "{known_text}"
    );
    assert!(
        known_text.contains("shared with the window's participants"),
        "{known_text}"
    );
    assert!(
        known_text.contains(&format!("{PUBLIC}/windows/{}", w.window)),
        "{known_text}"
    );
    let outsider = heard(&app, &w.outsider.email);
    assert_eq!(outsider.len(), 1);
    let text = outsider[0].decoded();
    assert!(
        text.contains("set 300 (install and commission)") || text.contains("set 300 (prepayment top up)"),
        "{text}"
    );
    for hidden in ["set 5000", "set 20000", "DM-0777"] {
        assert!(!text.contains(hidden), "the outsider was told of {hidden}: {text}");
    }
    assert_eq!(
        heard(&app, &w.a_viewer.email).len(),
        2,
        "the publisher's viewer hears of both"
    );
    assert!(heard(&app, &w.maker.email).is_empty(), "another window's subscriber");

    // The home page's recent changes follow the same rule: the shared news (the only one with
    // a known issue) for the participant and the publisher's viewer, not for the outsider.
    let shared_news = "1 new failure and 1 new known issue";
    for (user, sees) in [
        (&w.b, true),
        (&w.a_viewer, true),
        (&w.outsider, false),
        (&w.reviewer, false),
    ] {
        let mut browser = crate::web::Browser::signed_in(&app, &user.email);
        let home = browser.get("/");
        assert_eq!(home.body.contains(shared_news), sees, "{}: {}", user.email, home.body);
        assert!(
            home.body.contains("1 new failure from"),
            "the industry news for {}",
            user.email
        );
        // (The mask's code itself is industry news of the defect-mask topic.)
        assert_eq!(
            home.body.contains("set 5000"),
            sees,
            "the shared cell for {}",
            user.email
        );
    }
    assert!(
        heard(&app, &w.reviewer.email).is_empty(),
        "a digest subscriber gets no email at once"
    );
    {
        use uit_portal::db::schema::notifications as n;
        let waiting: i64 = n::table
            .filter(n::subscription_id.eq(&digest))
            .filter(n::kind.eq("digest_item"))
            .count()
            .get_result(&mut db(&app))
            .unwrap();
        assert_eq!(waiting, 1, "the industry failure waits for the reviewer's digest");
    }

    // Amending what readers know already is no news; sharing the private failure is.
    let mut again = item(&w, 1, 1, "fail", "industry");
    again["notes"] = json!("Seen again on a second rig.");
    app.post("/api/v1/results/batch", Some(&w.a.token), &json!({ "items": [again] }))
        .expect(200);
    app.patch(
        &format!("/api/v1/results/{}", ids[0]),
        Some(&w.a.token),
        &json!({ "visibility": "industry" }),
    )
    .expect(200);
    // A single publication of another organisation, private: no news either.
    publish(&app, &w.b.token, &w.window, &w.sets[2], SCENARIOS[3], "fail", "private").expect(201);
    fanned_out(&app);
    let events = result_events(&app, &w);
    assert_eq!(events.len(), 3, "only the newly shared failure: {events:#?}");
    let last = &events[2]["details"];
    assert_eq!(last["visibility"], "industry");
    assert_eq!(last["items"][0]["result_id"], ids[0].as_str());
    delivered(&app);
    assert_eq!(heard(&app, &w.b.email).len(), 3);
    assert_eq!(heard(&app, &w.outsider.email).len(), 2);
}
