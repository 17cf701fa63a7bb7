//! The claim lifecycle: lapses by the clock (with a reminder), hand-over offers and the
//! waiting list of a held set.

use chrono::Duration;
use diesel::prelude::*;
use serde_json::{json, Value};
use uit_portal::db::schema::{claims, uit_windows};

use crate::fixtures::{claim, publish, world, World, SCENARIOS};
use crate::helpers::{at_once, TestApp};

/// A server whose clocks stay still: the tests sweep by hand.
fn app() -> TestApp {
    TestApp::spawn_with(|c| c.window_clock_interval_seconds = 0)
}

fn sweep(app: &TestApp) -> usize {
    let url = app.config.public_url.clone();
    app.with_db(|conn| uit_portal::claims::lapse::sweep(conn, uit_portal::db::now(), &url).unwrap())
}

/// Moves the world's window's opening and the claim `id`'s `claimed_at` `days` into the past.
fn age(app: &TestApp, w: &World, id: &str, days: i64) {
    let then = uit_portal::db::now() - Duration::days(days);
    app.with_db(|conn| {
        diesel::update(uit_windows::table.find(&w.window))
            .set(uit_windows::opens_at.eq(then - Duration::days(1)))
            .execute(conn)
            .unwrap();
        diesel::update(claims::table.find(id))
            .set(claims::claimed_at.eq(then))
            .execute(conn)
            .unwrap();
    });
}

fn queue(app: &TestApp, w: &World, token: &str, set: &str) -> crate::helpers::Resp {
    app.post(
        &format!("/api/v1/uit-windows/{}/claims", w.window),
        Some(token),
        &json!({ "device_set_id": set, "queue": true }),
    )
}

fn items(app: &TestApp, path: &str, token: &str) -> Vec<Value> {
    let resp = app.get(path, Some(token));
    resp.expect(200);
    resp.json()["items"].as_array().unwrap().clone()
}

fn holder(app: &TestApp, w: &World, set: &str) -> Option<Value> {
    let path = format!("/api/v1/uit-windows/{}/claims?device_set_id={set}", w.window);
    items(app, &path, &w.admin).pop()
}

/// The email to `to`, as a reader sees it.
fn email(app: &TestApp, to: &str) -> String {
    app.smtp.wait_for(to).decoded()
}

#[test]
fn concurrent_queue_joins_of_one_organisation_all_answer_its_one_entry() {
    let app = TestApp::spawn_with(|c| {
        c.window_clock_interval_seconds = 0;
        c.database_pool_size = 8;
    });
    let w = world(&app);
    let set = &w.sets[0];
    claim(&app, &w, &w.a.token, set).expect(201);
    let answers = at_once(16, |_| queue(&app, &w, &w.b.token, set));
    let first = &answers[0].1["id"];
    for (status, body) in &answers {
        assert_eq!((*status, &body["id"]), (202, first), "{body}");
    }
    assert_eq!(items(&app, "/api/v1/claim-queue", &w.b.token).len(), 1);
}

#[test]
fn a_claim_lapses_by_the_clock_and_the_next_in_line_gets_it() {
    let app = app();
    let w = world(&app);
    let set = &w.sets[0];
    let held = claim(&app, &w, &w.a.token, set);
    held.expect(201);
    let claim_id = held.id();
    assert!(
        held.json()["expires_at"].is_string(),
        "the window's claims lapse: {}",
        held.json()
    );

    let first = queue(&app, &w, &w.b.token, set);
    first.expect(202);
    assert_eq!(first.json()["position"], 1);
    let second = queue(&app, &w, &w.outsider.token, set);
    second.expect(202);
    assert_eq!(second.json()["position"], 2);
    // Entries: the queuing organisation's own, all for the operator, none for the holder.
    assert_eq!(items(&app, "/api/v1/claim-queue", &w.b.token).len(), 1);
    assert!(items(&app, "/api/v1/claim-queue", &w.a.token).is_empty());
    for other in [&w.a_viewer.token, &w.reviewer.token] {
        assert!(items(&app, "/api/v1/claim-queue", other).is_empty());
    }
    let path = format!("/api/v1/claim-queue?window_id={}", w.window);
    assert_eq!(items(&app, &path, &w.admin).len(), 2);

    assert_eq!(sweep(&app), 0, "nothing is due yet");
    age(&app, &w, &claim_id, 22);
    assert_eq!(sweep(&app), 1, "the claim lapses once");
    assert_eq!(sweep(&app), 0, "and only once");

    let now = holder(&app, &w, set).expect("the next in line holds the set");
    assert_eq!(now["org_id"], w.b.org_id.as_str());
    assert_ne!(now["id"], claim_id.as_str());
    assert!(email(&app, &w.b.email).contains("The claim before lapsed"));
    let left = items(&app, "/api/v1/claim-queue", &w.outsider.token);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["position"], 1, "the outsider moved up");
    assert!(items(&app, "/api/v1/claim-queue", &w.b.token).is_empty());

    let events = items(&app, "/api/v1/change-events?entity_type=claim", &w.admin);
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["claim.lapsed", "claim.granted"]);
    assert_eq!(events[0]["entity_id"], claim_id.as_str());
    assert_eq!(events[0]["uit_window_ids"], json!([w.window]));
    let audit = items(&app, &format!("/api/v1/audit-events?entity_id={claim_id}"), &w.admin);
    assert!(audit.iter().any(|a| a["action"] == "claim.lapse"), "{audit:?}");
}

#[test]
fn the_holder_is_reminded_once_two_days_before_and_a_result_keeps_the_claim() {
    let app = app();
    let w = world(&app);
    let reminded = claim(&app, &w, &w.a.token, &w.sets[0]);
    reminded.expect(201);
    age(&app, &w, &reminded.id(), 20);
    let expires = holder(&app, &w, &w.sets[0]).unwrap()["expires_at"].clone();
    assert_eq!(sweep(&app), 1, "the reminder, a day before the deadline");
    assert_eq!(sweep(&app), 0, "once");
    assert!(email(&app, &w.a.email).contains("The claim lapses on"));
    assert!(
        !app.smtp.received().iter().any(|m| m.to.contains(&w.a_viewer.email)),
        "viewers are not reminded"
    );
    assert!(holder(&app, &w, &w.sets[0]).is_some(), "a reminder is not a lapse");

    // A result of the holder moves the deadline: the overdue claim stays.
    let kept = claim(&app, &w, &w.a.token, &w.sets[1]);
    kept.expect(201);
    age(&app, &w, &kept.id(), 30);
    let before = holder(&app, &w, &w.sets[1]).unwrap()["expires_at"].clone();
    publish(
        &app,
        &w.a.token,
        &w.window,
        &w.sets[1],
        SCENARIOS[0],
        "pass",
        "participants",
    )
    .expect(201);
    let after = holder(&app, &w, &w.sets[1]).unwrap()["expires_at"].clone();
    assert!(
        after.as_str().unwrap() > before.as_str().unwrap(),
        "{before} -> {after}"
    );
    // Another organisation's result does not keep a claim: the first claim lapses as due.
    publish(
        &app,
        &w.b.token,
        &w.window,
        &w.sets[0],
        SCENARIOS[0],
        "pass",
        "participants",
    )
    .expect(201);
    age(&app, &w, &reminded.id(), 30);
    assert_eq!(sweep(&app), 1, "the first claim lapses, the second stays");
    assert!(holder(&app, &w, &w.sets[0]).is_none());
    assert!(holder(&app, &w, &w.sets[1]).is_some());
    assert_ne!(expires, Value::Null);
}

#[test]
fn an_accepted_offer_moves_the_claim_and_a_third_organisation_sees_nothing() {
    let app = app();
    let w = world(&app);
    let held = claim(&app, &w, &w.a.token, &w.sets[1]);
    held.expect(201);
    let offers = format!("/api/v1/claims/{}/offers", held.id());
    // Only participants that may claim receive offers; only the holder offers.
    let refused = app.post(&offers, Some(&w.a.token), &json!({ "to_org_id": w.outsider.org_id }));
    assert_eq!(
        refused.expect_code(422, "validation_failed")["errors"][0]["field"],
        "to_org_id"
    );
    app.post(&offers, Some(&w.b.token), &json!({ "to_org_id": w.b.org_id }))
        .expect_code(403, "forbidden");
    let offer = app.post(&offers, Some(&w.a.token), &json!({ "to_org_id": w.b.org_id }));
    offer.expect(201);
    assert_eq!(offer.json()["status"], "pending");
    let offer_id = offer.id();

    // A third organisation neither sees nor answers it; a reviewer does not see it either
    // (and may answer no offer at all: 403, as for every write).
    assert!(items(&app, "/api/v1/claim-offers", &w.outsider.token).is_empty());
    for action in ["accept", "decline"] {
        app.post(
            &format!("/api/v1/claim-offers/{offer_id}/{action}"),
            Some(&w.outsider.token),
            &json!({}),
        )
        .expect_code(404, "not_found");
    }
    assert!(items(&app, "/api/v1/claim-offers", &w.reviewer.token).is_empty());
    app.post(
        &format!("/api/v1/claim-offers/{offer_id}/accept"),
        Some(&w.reviewer.token),
        &json!({}),
    )
    .expect_code(403, "forbidden");
    // The holder's viewer reads its organisation's offer and cannot withdraw it.
    assert_eq!(items(&app, "/api/v1/claim-offers", &w.a_viewer.token).len(), 1);
    app.delete(&format!("/api/v1/claim-offers/{offer_id}"), Some(&w.a_viewer.token))
        .expect_code(403, "forbidden");
    app.delete(&format!("/api/v1/claim-offers/{offer_id}"), Some(&w.outsider.token))
        .expect_code(404, "not_found");
    for token in [&w.a.token, &w.b.token, &w.admin] {
        assert_eq!(items(&app, "/api/v1/claim-offers", token).len(), 1);
    }
    // The holder cannot accept its own offer; the receiver can, once.
    let accept = format!("/api/v1/claim-offers/{offer_id}/accept");
    app.post(&accept, Some(&w.a.token), &json!({}))
        .expect_code(403, "forbidden");
    let moved = app.post(&accept, Some(&w.b.token), &json!({}));
    moved.expect(200);
    assert_eq!(moved.json()["org_id"], w.b.org_id.as_str());
    assert_eq!(moved.json()["id"], held.id().as_str(), "the same claim changed hands");
    assert_eq!(holder(&app, &w, &w.sets[1]).unwrap()["org_id"], w.b.org_id.as_str());
    app.post(&accept, Some(&w.b.token), &json!({}))
        .expect_code(409, "claim_offer_closed");
    let events = items(&app, "/api/v1/change-events?entity_type=claim", &w.admin);
    assert_eq!(events[0]["kind"], "claim.handed_over");

    // An offer of a claim released since is stale.
    let other = claim(&app, &w, &w.a.token, &w.sets[2]);
    other.expect(201);
    let offer = app.post(
        &format!("/api/v1/claims/{}/offers", other.id()),
        Some(&w.a.token),
        &json!({ "to_org_id": w.b.org_id }),
    );
    offer.expect(201);
    app.delete(&format!("/api/v1/claims/{}", other.id()), Some(&w.a.token))
        .expect(204);
    app.post(
        &format!("/api/v1/claim-offers/{}/accept", offer.id()),
        Some(&w.b.token),
        &json!({}),
    )
    .expect_code(409, "claim_offer_stale");
    // The holder withdraws; the receiver declines.
    app.delete(&format!("/api/v1/claim-offers/{}", offer.id()), Some(&w.a.token))
        .expect(204);
    let again = app.post(
        &format!("/api/v1/claims/{}/offers", held.id()),
        Some(&w.b.token),
        &json!({ "to_org_id": w.a.org_id }),
    );
    again.expect(201);
    let declined = app.post(
        &format!("/api/v1/claim-offers/{}/decline", again.id()),
        Some(&w.a.token),
        &json!({}),
    );
    declined.expect(200);
    assert_eq!(declined.json()["status"], "declined");
}

#[test]
fn queueing_answers_202_with_positions_and_reclaiming_stays_idempotent() {
    let app = app();
    let w = world(&app);
    let set = &w.sets[2];
    let held = claim(&app, &w, &w.a.token, set);
    held.expect(201);
    let again = claim(&app, &w, &w.a.token, set);
    again.expect(200);
    assert_eq!(again.id(), held.id());
    let own = queue(&app, &w, &w.a.token, set);
    own.expect(200);
    assert_eq!(own.id(), held.id(), "queueing for your own set answers your claim");

    claim(&app, &w, &w.b.token, set).expect_code(409, "claim_conflict");
    let entry = queue(&app, &w, &w.b.token, set);
    entry.expect(202);
    assert_eq!(entry.json()["position"], 1);
    let twice = queue(&app, &w, &w.b.token, set);
    twice.expect(202);
    assert_eq!(twice.id(), entry.id(), "one entry per organisation");
    let leave = format!("/api/v1/claim-queue/{}", entry.id());
    app.delete(&leave, Some(&w.outsider.token))
        .expect_code(404, "not_found");
    app.delete(&leave, Some(&w.a.token)).expect_code(404, "not_found");
    app.delete(&leave, Some(&w.b.token)).expect(204);
    assert!(items(&app, "/api/v1/claim-queue", &w.b.token).is_empty());

    // A release hands the set to the next in line at once, with an email.
    queue(&app, &w, &w.b.token, set).expect(202);
    app.delete(&format!("/api/v1/claims/{}", held.id()), Some(&w.a.token))
        .expect(204);
    assert_eq!(holder(&app, &w, set).unwrap()["org_id"], w.b.org_id.as_str());
    assert!(email(&app, &w.b.email).contains("The claim before was released"));
}

#[test]
fn a_window_sets_its_claim_ttl_and_null_stops_lapses() {
    let app = app();
    let w = world(&app);
    let window = format!("/api/v1/uit-windows/{}", w.window);
    let got = app.get(&window, Some(&w.admin));
    assert_eq!(got.json()["claim_ttl_days"], 21, "the setting's default");
    let now = chrono::Utc::now();
    let bad = app.post(
        "/api/v1/uit-windows",
        Some(&w.admin),
        &json!({ "release_id": w.release, "opens_at": (now + Duration::days(20)).to_rfc3339(),
                 "closes_at": (now + Duration::days(25)).to_rfc3339(), "claim_ttl_days": 2 }),
    );
    assert_eq!(
        bad.expect_code(422, "validation_failed")["errors"][0]["field"],
        "claim_ttl_days"
    );

    let held = claim(&app, &w, &w.a.token, &w.sets[0]);
    held.expect(201);
    let etag = got.header("etag").unwrap();
    let body = json!({ "claim_ttl_days": null }).to_string().into_bytes();
    let patched = app.send(
        "PATCH",
        &window,
        Some(&w.admin),
        &[("if-match", &etag)],
        Some(("application/json", body)),
    );
    patched.expect(200);
    assert_eq!(patched.json()["claim_ttl_days"], Value::Null);
    assert_eq!(holder(&app, &w, &w.sets[0]).unwrap()["expires_at"], Value::Null);
    age(&app, &w, &held.id(), 60);
    assert_eq!(sweep(&app), 0, "claims of this window no longer lapse");
    assert!(holder(&app, &w, &w.sets[0]).is_some());
}
