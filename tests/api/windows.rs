//! UIT windows: scheduling rules, status from the clock, changes announced to subscribers,
//! participants, scenarios and the clock's own events.

use std::time::{Duration as StdDuration, Instant};

use chrono::Duration;
use serde_json::{json, Value};

use crate::helpers::{at_once, Resp, TestApp};
use crate::releases::{advance_to, at, events, events_of_kind, firmware, id, move_to, release};

const SEEDED: [&str; 4] = [
    "install_and_commission",
    "prepayment_top_up",
    "comms_hub_replacement",
    "change_of_mode",
];

fn schedule(app: &TestApp, token: &str, release_id: &str, name: &str, opens_at: &str, closes_at: &str) -> Resp {
    app.post(
        "/api/v1/uit-windows",
        Some(token),
        &json!({ "release_id": release_id, "name": name, "opens_at": opens_at, "closes_at": closes_at }),
    )
}

/// A window `from`..`to` from now for a new `sec_release`.
fn window(app: &TestApp, admin: &str, name: &str, from: Duration, to: Duration) -> Value {
    let rel = id(&release(app, admin, "sec_release"));
    let resp = schedule(app, admin, &rel, name, &at(from), &at(to));
    resp.expect(201);
    resp.json()
}

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect()
}

fn join(app: &TestApp, token: &str, window: &str, body: Value) -> Resp {
    app.post(
        &format!("/api/v1/uit-windows/{window}/participants"),
        Some(token),
        &body,
    )
}

#[test]
fn operators_schedule_windows_with_the_seeded_or_named_scenarios() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let (fw, model, maker) = firmware(&app, &admin, "CHF");
    let created = app.post(
        "/api/v1/releases",
        Some(&admin),
        &json!({ "name": "CHF 4.3", "kind": "sec_release", "firmware_ids": [fw] }),
    );
    created.expect(201);
    let rel = id(&created.json());

    let resp = schedule(
        &app,
        &admin,
        &rel,
        "UIT-2030-03",
        "2030-03-01T10:00:00Z",
        "2030-03-21T10:00:00+00:00",
    );
    resp.expect(201);
    let w = resp.json();
    let wid = id(&w);
    assert_eq!(resp.header("location").unwrap(), format!("/api/v1/uit-windows/{wid}"));
    assert_eq!(w["release_id"], rel.as_str());
    assert_eq!(w["name"], "UIT-2030-03");
    assert_eq!(w["opens_at"], "2030-03-01T10:00:00Z");
    assert_eq!(w["closes_at"], "2030-03-21T10:00:00Z");
    assert_eq!(w["status"], "scheduled");
    assert_eq!(w["scenarios"], json!(SEEDED));
    assert!(w["cancelled_at"].is_null());
    assert!(w["cancel_reason"].is_null());
    assert_eq!(w["participant_count"], 0);
    assert!(w["created_at"].is_string() && w["updated_at"].is_string());

    let got = app.get(&format!("/api/v1/uit-windows/{wid}"), Some(&admin));
    got.expect(200);
    assert_eq!(got.header("etag").as_deref(), Some("\"1\""));
    assert_eq!(got.json(), w);

    let scheduled = events_of_kind(&app, &admin, &wid, "window.scheduled");
    assert_eq!(scheduled.len(), 1);
    assert_eq!(scheduled[0]["topic"], "uit_windows");
    assert_eq!(scheduled[0]["entity_type"], "uit_window");
    assert_eq!(scheduled[0]["device_types"], json!(["CHF"]));
    assert_eq!(scheduled[0]["device_model_ids"], json!([model]));
    assert_eq!(scheduled[0]["manufacturer_org_ids"], json!([maker]));
    assert_eq!(
        scheduled[0]["summary"],
        "UIT-2030-03 scheduled for release CHF 4.3: opens 2030-03-01 10:00 UTC, closes 2030-03-21 10:00 UTC"
    );
    let audit = app
        .get(&format!("/api/v1/audit-events?entity_id={wid}"), Some(&admin))
        .json();
    assert_eq!(audit["items"][0]["action"], "uit_window.create");

    // Named scenarios keep their order.
    let named = app.post(
        "/api/v1/uit-windows",
        Some(&admin),
        &json!({
            "release_id": rel, "name": "UIT-2030-04",
            "opens_at": "2030-04-01T10:00:00Z", "closes_at": "2030-04-10T10:00:00Z",
            "scenarios": ["change_of_mode", "install_and_commission"],
        }),
    );
    named.expect(201);
    assert_eq!(
        named.json()["scenarios"],
        json!(["change_of_mode", "install_and_commission"])
    );

    // One name per window.
    let dup = schedule(
        &app,
        &admin,
        &rel,
        "UIT-2030-03",
        &at(Duration::days(1)),
        &at(Duration::days(2)),
    );
    assert_eq!(
        dup.expect_code(409, "window_name_taken")["context"]["existing_id"],
        wid.as_str()
    );

    // Every bad field at once.
    let bad = app.post(
        "/api/v1/uit-windows",
        Some(&admin),
        &json!({
            "release_id": "no-such-release", "name": "",
            "opens_at": "2030-05-02T00:00:00Z", "closes_at": "2030-05-01T00:00:00Z",
            "scenarios": ["install_and_commission", "juggling"],
        }),
    );
    assert_eq!(
        fields(&bad.expect_code(422, "validation_failed")),
        ["name", "closes_at", "scenarios[1]", "release_id"]
    );
    let ancient = schedule(
        &app,
        &admin,
        &rel,
        "UIT-ANCIENT",
        "-0001-03-01T10:00:00Z",
        "2030-03-21T10:00:00Z",
    );
    assert_eq!(fields(&ancient.expect_code(422, "validation_failed")), ["opens_at"]);
    let far = app.patch(
        &format!("/api/v1/uit-windows/{wid}"),
        Some(&admin),
        &json!({ "closes_at": "+20000-01-01T00:00:00Z" }),
    );
    assert_eq!(fields(&far.expect_code(422, "validation_failed")), ["closes_at"]);
    let equal = schedule(
        &app,
        &admin,
        &rel,
        "UIT-EQ",
        "2030-05-01T00:00:00Z",
        "2030-05-01T00:00:00Z",
    );
    assert_eq!(fields(&equal.expect_code(422, "validation_failed")), ["closes_at"]);
    let none = app.post(
        "/api/v1/uit-windows",
        Some(&admin),
        &json!({ "release_id": rel, "name": "UIT-NONE", "opens_at": at(Duration::days(1)), "closes_at": at(Duration::days(2)), "scenarios": [] }),
    );
    assert_eq!(fields(&none.expect_code(422, "validation_failed")), ["scenarios"]);
    for body in [
        json!({ "release_id": rel, "name": "X", "opens_at": "tomorrow", "closes_at": at(Duration::days(2)) }),
        json!({ "release_id": rel, "name": "X", "opens_at": at(Duration::days(1)) }),
        json!({ "release_id": rel, "name": "X", "opens_at": at(Duration::days(1)), "closes_at": at(Duration::days(2)), "status": "open" }),
    ] {
        app.post("/api/v1/uit-windows", Some(&admin), &body)
            .expect_code(400, "malformed_body");
    }

    // Finished releases get no windows.
    for end in ["withdrawn", "complete"] {
        let r = id(&release(&app, &admin, "unplanned_maintenance"));
        if end == "withdrawn" {
            move_to(&app, &admin, &r, "withdrawn", None).expect(200);
        } else {
            advance_to(&app, &admin, &r, "complete");
        }
        let problem = schedule(
            &app,
            &admin,
            &r,
            &format!("UIT-{end}"),
            &at(Duration::days(1)),
            &at(Duration::days(2)),
        )
        .expect_code(422, "release_finished");
        assert_eq!(problem["context"]["stage"], end);
    }
}

#[test]
fn window_creation_honours_idempotency_keys() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let rel = id(&release(&app, &admin, "sec_release"));
    let body = json!({ "release_id": rel, "name": "UIT-ONCE", "opens_at": at(Duration::days(3)), "closes_at": at(Duration::days(9)) });
    let send = |body: &Value| {
        app.send(
            "POST",
            "/api/v1/uit-windows",
            Some(&admin),
            &[("idempotency-key", "window-once")],
            Some(("application/json", body.to_string().into_bytes())),
        )
    };
    let first = send(&body);
    first.expect(201);
    let again = send(&body);
    again.expect(201);
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(again.json(), first.json());
    let mut other = body.clone();
    other["name"] = json!("UIT-TWICE");
    send(&other).expect_code(422, "idempotency_key_reused");
    assert_eq!(app.get("/api/v1/uit-windows", Some(&admin)).expect(200).ids().len(), 1);
}

#[test]
fn planned_maintenance_windows_last_at_most_28_days() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let planned = id(&release(&app, &admin, "planned_maintenance"));
    let problem = schedule(
        &app,
        &admin,
        &planned,
        "UIT-PM-LONG",
        "2030-01-01T00:00:00Z",
        "2030-01-29T00:00:01Z",
    )
    .expect_code(422, "window_too_long");
    assert!(problem["detail"].as_str().unwrap().contains("28 days"), "{problem}");
    assert_eq!(problem["context"]["max_days"], 28);
    let ok = schedule(
        &app,
        &admin,
        &planned,
        "UIT-PM",
        "2030-01-01T00:00:00Z",
        "2030-01-29T00:00:00Z",
    );
    ok.expect(201);
    let wid = id(&ok.json());

    // The cap holds for changes too, either end.
    let path = format!("/api/v1/uit-windows/{wid}");
    app.patch(&path, Some(&admin), &json!({ "closes_at": "2030-02-05T00:00:00Z" }))
        .expect_code(422, "window_too_long");
    app.patch(&path, Some(&admin), &json!({ "opens_at": "2029-12-31T00:00:00Z" }))
        .expect_code(422, "window_too_long");
    app.patch(
        &path,
        Some(&admin),
        &json!({ "opens_at": "2030-01-08T00:00:00Z", "closes_at": "2030-02-05T00:00:00Z" }),
    )
    .expect(200);

    // No cap for the other kinds.
    for kind in ["sec_release", "unplanned_maintenance"] {
        let r = id(&release(&app, &admin, kind));
        schedule(
            &app,
            &admin,
            &r,
            &format!("UIT-{kind}"),
            "2030-01-01T00:00:00Z",
            "2030-03-15T00:00:00Z",
        )
        .expect(201);
    }
}

#[test]
fn status_follows_the_clock_and_lists_filter_by_it() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let rel = id(&release(&app, &admin, "sec_release"));
    let mk = |name: &str, from: Duration, to: Duration| {
        let resp = schedule(&app, &admin, &rel, name, &at(from), &at(to));
        resp.expect(201);
        resp.json()
    };
    let scheduled = mk("UIT-LATER", Duration::days(2), Duration::days(9));
    let open = mk("UIT-NOW", Duration::hours(-2), Duration::days(5));
    let closed = mk("UIT-BEFORE", Duration::days(-20), Duration::days(-3));
    let cancelled = mk("UIT-OFF", Duration::days(3), Duration::days(6));
    assert_eq!(scheduled["status"], "scheduled");
    assert_eq!(open["status"], "open");
    assert_eq!(closed["status"], "closed");
    let cancel = app.patch(
        &format!("/api/v1/uit-windows/{}", id(&cancelled)),
        Some(&admin),
        &json!({ "status": "cancelled", "cancel_reason": "Firmware not ready" }),
    );
    cancel.expect(200);
    assert_eq!(cancel.json()["status"], "cancelled");
    assert_eq!(
        app.get(&format!("/api/v1/uit-windows/{}", id(&open)), Some(&admin))
            .json()["status"],
        "open"
    );

    let other_release = id(&release(&app, &admin, "planned_maintenance"));
    let elsewhere = schedule(
        &app,
        &admin,
        &other_release,
        "UIT-ELSEWHERE",
        &at(Duration::hours(-1)),
        &at(Duration::days(1)),
    );
    elsewhere.expect(201);

    let supplier = app.user_in_new_org(&admin, "supplier", "viewer");
    let t = Some(supplier.token.as_str());
    for (status, expected) in [
        ("scheduled", vec![id(&scheduled)]),
        ("open", vec![id(&open)]),
        ("closed", vec![id(&closed)]),
        ("cancelled", vec![id(&cancelled)]),
    ] {
        let listed = app.get(&format!("/api/v1/uit-windows?release_id={rel}&status={status}"), t);
        assert_eq!(listed.expect(200).ids(), expected, "status={status}");
        assert!(listed.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["status"] == status));
    }
    let open_anywhere = app.get("/api/v1/uit-windows?status=open", t).expect(200).ids();
    assert_eq!(open_anywhere.len(), 2);
    assert!(open_anywhere.contains(&id(&elsewhere.json())));
    assert_eq!(
        app.get(&format!("/api/v1/uit-windows?release_id={other_release}"), t)
            .expect(200)
            .ids(),
        [id(&elsewhere.json())]
    );

    // Pages of two, following the Link.
    let mut seen = Vec::new();
    let mut path = "/api/v1/uit-windows?limit=2".to_string();
    loop {
        let page = app.get(&path, t);
        seen.extend(page.expect(200).ids());
        match page.header("link") {
            Some(link) => path = link.trim_start_matches('<').split('>').next().unwrap().to_string(),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);
    assert_eq!(seen.len(), 5);

    for bad in [
        "/api/v1/uit-windows?status=running",
        "/api/v1/uit-windows?state=open",
        "/api/v1/uit-windows?limit=501",
        "/api/v1/scenarios?code=x",
    ] {
        app.get(bad, t).expect_code(400, "invalid_query");
    }
}

#[test]
fn reschedules_extensions_and_cancellations_are_announced_with_from_and_to() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let (fw, _, _) = firmware(&app, &admin, "ESME");
    let created = app.post(
        "/api/v1/releases",
        Some(&admin),
        &json!({ "name": "ESME 2.1", "kind": "planned_maintenance", "firmware_ids": [fw] }),
    );
    created.expect(201);
    let rel = id(&created.json());
    let resp = schedule(
        &app,
        &admin,
        &rel,
        "UIT-2030-03",
        "2030-03-01T10:00:00Z",
        "2030-03-21T10:00:00Z",
    );
    resp.expect(201);
    let wid = id(&resp.json());
    let path = format!("/api/v1/uit-windows/{wid}");

    let extended = app.send(
        "PATCH",
        &path,
        Some(&admin),
        &[("if-match", "\"1\"")],
        Some(("application/json", br#"{"closes_at": "2030-03-28T10:00:00Z"}"#.to_vec())),
    );
    extended.expect(200);
    assert_eq!(extended.header("etag").as_deref(), Some("\"2\""));
    assert_eq!(extended.json()["closes_at"], "2030-03-28T10:00:00Z");

    let stale = app.send(
        "PATCH",
        &path,
        Some(&admin),
        &[("if-match", "\"1\"")],
        Some(("application/json", br#"{"closes_at": "2030-03-29T10:00:00Z"}"#.to_vec())),
    );
    stale.expect_code(412, "precondition_failed");

    app.patch(&path, Some(&admin), &json!({ "opens_at": "2030-03-04T10:00:00Z" }))
        .expect(200);
    app.patch(&path, Some(&admin), &json!({ "closes_at": "2030-03-25T10:00:00Z" }))
        .expect(200);
    // The same times again change nothing and announce nothing.
    let same = app.patch(&path, Some(&admin), &json!({ "closes_at": "2030-03-25T10:00:00Z" }));
    same.expect(200);
    assert_eq!(same.header("etag").as_deref(), Some("\"4\""));
    // Times are checked as on creation.
    let inverted = app.patch(&path, Some(&admin), &json!({ "opens_at": "2030-03-26T10:00:00Z" }));
    assert_eq!(fields(&inverted.expect_code(422, "validation_failed")), ["opens_at"]);
    app.patch(&path, Some(&admin), &json!({ "cancel_reason": "why not" }))
        .expect_code(422, "validation_failed");
    app.patch(
        &path,
        Some(&admin),
        &json!({ "status": "cancelled", "closes_at": "2030-03-30T10:00:00Z" }),
    )
    .expect_code(422, "validation_failed");
    app.patch(&path, Some(&admin), &json!({ "status": "open" }))
        .expect_code(400, "malformed_body");

    let cancelled = app.patch(
        &path,
        Some(&admin),
        &json!({ "status": "cancelled", "cancel_reason": "Release withdrawn for rework" }),
    );
    cancelled.expect(200);
    let body = cancelled.json();
    assert_eq!(body["status"], "cancelled");
    assert_eq!(body["cancel_reason"], "Release withdrawn for rework");
    assert!(body["cancelled_at"].is_string());

    let changes: Vec<Value> = events(&app, &admin, &wid)
        .into_iter()
        .filter(|e| e["kind"] != "window.scheduled")
        .collect();
    let kinds: Vec<&str> = changes.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "window.extended",
            "window.rescheduled",
            "window.shortened",
            "window.cancelled"
        ]
    );
    assert_eq!(
        changes[0]["summary"],
        "UIT-2030-03 now closes 2030-03-28 10:00 UTC, was 2030-03-21 10:00 UTC"
    );
    assert_eq!(
        changes[0]["details"],
        json!({ "field": "closes_at", "from": "2030-03-21T10:00:00Z", "to": "2030-03-28T10:00:00Z" })
    );
    assert_eq!(
        changes[1]["summary"],
        "UIT-2030-03 now opens 2030-03-04 10:00 UTC, was 2030-03-01 10:00 UTC"
    );
    assert_eq!(
        changes[1]["details"],
        json!({ "field": "opens_at", "from": "2030-03-01T10:00:00Z", "to": "2030-03-04T10:00:00Z" })
    );
    assert_eq!(
        changes[2]["details"],
        json!({ "field": "closes_at", "from": "2030-03-28T10:00:00Z", "to": "2030-03-25T10:00:00Z" })
    );
    assert_eq!(changes[3]["details"]["field"], "status");
    assert_eq!(changes[3]["details"]["from"], "scheduled");
    assert_eq!(changes[3]["details"]["to"], "cancelled");
    assert_eq!(
        changes[3]["summary"],
        "UIT-2030-03 cancelled: Release withdrawn for rework"
    );
    assert!(changes
        .iter()
        .all(|e| e["topic"] == "uit_windows" && e["device_types"] == json!(["ESME"])));

    let audit = app
        .get(&format!("/api/v1/audit-events?entity_id={wid}"), Some(&admin))
        .json();
    let latest = &audit["items"][0];
    assert_eq!(latest["action"], "uit_window.cancel");
    assert_eq!(latest["before"]["status"], "scheduled");
    assert_eq!(latest["after"]["status"], "cancelled");

    // A cancelled window stays as it is and takes no one.
    for change in [
        json!({ "closes_at": "2030-04-01T10:00:00Z" }),
        json!({ "opens_at": "2030-03-02T10:00:00Z" }),
        json!({ "status": "cancelled" }),
        json!({}),
    ] {
        app.patch(&path, Some(&admin), &change)
            .expect_code(422, "window_cancelled");
    }
    let supplier = app.user_in_new_org(&admin, "supplier", "member");
    join(&app, &supplier.token, &wid, json!({})).expect_code(422, "window_not_open_for_joining");
    assert_eq!(events(&app, &admin, &wid).len(), 5);
}

#[test]
fn organisations_join_open_and_scheduled_windows_once() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let open = id(&window(
        &app,
        &admin,
        "UIT-OPEN",
        Duration::hours(-1),
        Duration::days(7),
    ));
    let later = id(&window(&app, &admin, "UIT-LATER", Duration::days(1), Duration::days(7)));
    let closed = id(&window(
        &app,
        &admin,
        "UIT-CLOSED",
        Duration::days(-9),
        Duration::days(-1),
    ));

    let supplier = app.user_in_new_org(&admin, "supplier", "member");
    let first = join(&app, &supplier.token, &open, json!({}));
    first.expect(201);
    let joined = first.json();
    assert_eq!(joined["org_id"], supplier.org_id.as_str());
    assert_eq!(joined["uit_window_id"], open.as_str());
    assert!(
        joined.get("window_id").is_none(),
        "one name for the window's id: {joined}"
    );
    assert!(joined["org_name"].as_str().unwrap().starts_with("Org supplier-"));
    let again = join(&app, &supplier.token, &open, json!({ "org_id": supplier.org_id }));
    again.expect(200);
    assert_eq!(again.json(), joined);

    let maker = app.user_in_new_org(&admin, "manufacturer", "admin");
    join(&app, &maker.token, &open, json!({})).expect(201);
    join(&app, &maker.token, &later, json!({})).expect(201);
    join(&app, &maker.token, &closed, json!({})).expect_code(422, "window_not_open_for_joining");

    // Reviewers do not take part; viewers only read; only the operator enrols others.
    let reviewer = app.user_in_new_org(&admin, "reviewer", "admin");
    join(&app, &reviewer.token, &open, json!({})).expect_code(403, "forbidden");
    let viewer = app.invite_user(&admin, &supplier.org_id, "viewer");
    join(&app, &viewer.token, &open, json!({})).expect_code(403, "forbidden");
    let third = app.create_org(&admin, "other");
    join(&app, &supplier.token, &open, json!({ "org_id": third })).expect_code(403, "forbidden");
    let enrolled = join(&app, &admin, &open, json!({ "org_id": third }));
    enrolled.expect(201);
    assert_eq!(enrolled.json()["org_id"], third.as_str());
    let bad = join(&app, &admin, &open, json!({ "org_id": reviewer.org_id }));
    assert_eq!(fields(&bad.expect_code(422, "validation_failed")), ["org_id"]);
    let nobody = join(&app, &admin, &open, json!({ "org_id": "no-such-org" }));
    assert_eq!(fields(&nobody.expect_code(422, "validation_failed")), ["org_id"]);
    join(&app, &admin, &open, json!({ "org_name": "x" })).expect_code(400, "malformed_body");

    let window = app.get(&format!("/api/v1/uit-windows/{open}"), Some(&reviewer.token));
    assert_eq!(window.json()["participant_count"], 3);
    let listed = app.get("/api/v1/uit-windows?status=open", Some(&admin)).json();
    assert_eq!(listed["items"][0]["participant_count"], 3);

    let page1 = app.get(
        &format!("/api/v1/uit-windows/{open}/participants?limit=2"),
        Some(&reviewer.token),
    );
    page1.expect(200);
    let page1 = page1.json();
    let cursor = page1["next_cursor"].as_str().unwrap();
    let page2 = app
        .get(
            &format!("/api/v1/uit-windows/{open}/participants?limit=2&cursor={cursor}"),
            Some(&reviewer.token),
        )
        .json();
    let mut orgs: Vec<String> = page1["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(page2["items"].as_array().unwrap())
        .map(|p| {
            assert!(p["org_name"].is_string() && p["joined_at"].is_string());
            p["org_id"].as_str().unwrap().to_string()
        })
        .collect();
    let listed_order = orgs.clone();
    orgs.sort();
    assert_eq!(listed_order, orgs);
    let mut expected = vec![supplier.org_id.clone(), maker.org_id.clone(), third.clone()];
    expected.sort();
    assert_eq!(orgs, expected);
    assert!(page2["next_cursor"].is_null());

    // Joins are audited under the joining organisation.
    let audit = app
        .get(
            &format!("/api/v1/audit-events?entity_id={open}&actor_org_id={}", supplier.org_id),
            Some(&admin),
        )
        .json();
    let actions: Vec<&Value> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["action"])
        .collect();
    assert_eq!(actions, [&json!("uit_window.join")]);
}

#[test]
fn scenarios_are_seeded_and_operators_add_more() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let supplier = app.user_in_new_org(&admin, "supplier", "member");
    let listed = app.get("/api/v1/scenarios", Some(&supplier.token));
    listed.expect(200);
    let mut codes: Vec<String> = listed.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["code"].as_str().unwrap().to_string())
        .collect();
    let mut seeded: Vec<String> = SEEDED.iter().map(|s| s.to_string()).collect();
    seeded.sort();
    assert_eq!(codes, seeded);

    let created = app.post(
        "/api/v1/scenarios",
        Some(&admin),
        &json!({ "code": "smart_credit_alert", "title": "Smart credit alert", "description": "Low credit warning reaches the IHD." }),
    );
    created.expect(201);
    assert_eq!(created.json()["code"], "smart_credit_alert");
    assert_eq!(created.json()["title"], "Smart credit alert");
    app.post(
        "/api/v1/scenarios",
        Some(&admin),
        &json!({ "code": "smart_credit_alert", "title": "Again" }),
    )
    .expect_code(409, "scenario_code_taken");
    for bad in ["Bad-Code", "x", "has space", &"a".repeat(65)] {
        let problem = app
            .post("/api/v1/scenarios", Some(&admin), &json!({ "code": bad, "title": "T" }))
            .expect_code(422, "validation_failed");
        assert_eq!(fields(&problem), ["code"]);
    }
    app.post(
        "/api/v1/scenarios",
        Some(&admin),
        &json!({ "code": "no_title", "title": "" }),
    )
    .expect_code(422, "validation_failed");

    let page = app.get("/api/v1/scenarios?limit=3", Some(&supplier.token));
    page.expect(200);
    let cursor = page.json()["next_cursor"].as_str().unwrap().to_string();
    let rest = app.get(
        &format!("/api/v1/scenarios?limit=3&cursor={cursor}"),
        Some(&supplier.token),
    );
    codes = page.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest.json()["items"].as_array().unwrap())
        .map(|s| s["code"].as_str().unwrap().to_string())
        .collect();
    seeded.push("smart_credit_alert".into());
    seeded.sort();
    assert_eq!(codes, seeded);

    let rel = id(&release(&app, &admin, "sec_release"));
    let w = app.post(
        "/api/v1/uit-windows",
        Some(&admin),
        &json!({ "release_id": rel, "name": "UIT-CUSTOM", "opens_at": at(Duration::days(1)), "closes_at": at(Duration::days(8)), "scenarios": ["smart_credit_alert", "prepayment_top_up", "smart_credit_alert"] }),
    );
    w.expect(201);
    assert_eq!(
        w.json()["scenarios"],
        json!(["smart_credit_alert", "prepayment_top_up"])
    );
}

/// Polls the change events of `entity_id` until `done` holds or ~`secs` seconds pass.
fn wait_for_events(
    app: &TestApp,
    admin: &str,
    entity_id: &str,
    secs: u64,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + StdDuration::from_secs(secs);
    loop {
        let seen = events(app, admin, entity_id);
        if done(&seen) || Instant::now() > deadline {
            return seen;
        }
        std::thread::sleep(StdDuration::from_millis(200));
    }
}

fn count(events: &[Value], kind: &str) -> usize {
    events.iter().filter(|e| e["kind"] == kind).count()
}

#[test]
fn the_clock_announces_opening_closing_soon_and_closing_once() {
    let app = TestApp::spawn_with(|c| c.window_clock_interval_seconds = 1);
    let admin = app.admin_token();
    let (fw, _, _) = firmware(&app, &admin, "PPMID");
    let created = app.post(
        "/api/v1/releases",
        Some(&admin),
        &json!({ "name": "PPMID 3.0", "kind": "sec_release", "firmware_ids": [fw] }),
    );
    created.expect(201);
    let rel = id(&created.json());
    let mk = |name: &str, from: Duration, to: Duration| {
        let resp = schedule(&app, &admin, &rel, name, &at(from), &at(to));
        resp.expect(201);
        id(&resp.json())
    };
    let closing = mk("UIT-CLOSING", Duration::hours(-3), Duration::hours(48));
    let fresh = mk("UIT-FRESH", Duration::hours(-1), Duration::days(20));
    let ended = mk("UIT-ENDED", Duration::days(-5), Duration::days(-1));
    let future = mk("UIT-FUTURE", Duration::days(2), Duration::days(9));
    // Opens in a few seconds, but is cancelled first: the clock never announces it.
    let called_off_at = Instant::now();
    let called_off = mk("UIT-CALLED-OFF", Duration::seconds(4), Duration::hours(20));
    app.patch(
        &format!("/api/v1/uit-windows/{called_off}"),
        Some(&admin),
        &json!({ "status": "cancelled" }),
    )
    .expect(200);

    let seen = wait_for_events(&app, &admin, &closing, 6, |e| {
        count(e, "window.opened") >= 1 && count(e, "window.closing_soon") >= 1
    });
    assert_eq!(count(&seen, "window.opened"), 1, "{seen:?}");
    assert_eq!(count(&seen, "window.closing_soon"), 1, "{seen:?}");
    let opened = seen.iter().find(|e| e["kind"] == "window.opened").unwrap();
    assert_eq!(opened["topic"], "uit_windows");
    assert_eq!(opened["device_types"], json!(["PPMID"]));
    assert!(opened["actor_org_id"].is_null());
    assert!(opened["summary"]
        .as_str()
        .unwrap()
        .starts_with("UIT-CLOSING is open until"));
    let soon = seen.iter().find(|e| e["kind"] == "window.closing_soon").unwrap();
    assert!(soon["summary"].as_str().unwrap().starts_with("UIT-CLOSING closes soon"));

    let ended_events = wait_for_events(&app, &admin, &ended, 5, |e| count(e, "window.closed") >= 1);
    assert_eq!(count(&ended_events, "window.closed"), 1, "{ended_events:?}");
    assert_eq!(count(&ended_events, "window.opened"), 0, "{ended_events:?}");

    // A few more ticks record nothing twice.
    std::thread::sleep(StdDuration::from_millis(2500));
    let seen = events(&app, &admin, &closing);
    assert_eq!(count(&seen, "window.opened"), 1);
    assert_eq!(count(&seen, "window.closing_soon"), 1);
    let fresh_events = events(&app, &admin, &fresh);
    assert_eq!(count(&fresh_events, "window.opened"), 1, "{fresh_events:?}");
    assert_eq!(count(&fresh_events, "window.closing_soon"), 0, "{fresh_events:?}");
    assert_eq!(events(&app, &admin, &future).len(), 1, "only window.scheduled");
    assert_eq!(count(&events(&app, &admin, &ended), "window.closed"), 1);

    // A new closing time is a new moment to announce.
    app.patch(
        &format!("/api/v1/uit-windows/{closing}"),
        Some(&admin),
        &json!({ "closes_at": at(Duration::hours(30)) }),
    )
    .expect(200);
    let seen = wait_for_events(&app, &admin, &closing, 5, |e| count(e, "window.closing_soon") >= 2);
    assert_eq!(count(&seen, "window.closing_soon"), 2, "{seen:?}");
    assert_eq!(count(&seen, "window.opened"), 1, "{seen:?}");

    // Well after the cancelled window would have opened, it has no clock events.
    let quiet_until = called_off_at + StdDuration::from_secs(7);
    if let Some(rest) = quiet_until.checked_duration_since(Instant::now()) {
        std::thread::sleep(rest);
    }
    let off = events(&app, &admin, &called_off);
    let kinds: Vec<&str> = off.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["window.scheduled", "window.cancelled"]);
}

#[test]
fn bad_bodies_on_window_routes_are_400_or_415() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let wid = id(&window(
        &app,
        &admin,
        "UIT-ROBUST",
        Duration::days(1),
        Duration::days(3),
    ));
    let routes = [
        ("POST", "/api/v1/uit-windows".to_string()),
        ("PATCH", format!("/api/v1/uit-windows/{wid}")),
        ("POST", format!("/api/v1/uit-windows/{wid}/participants")),
        ("POST", "/api/v1/scenarios".to_string()),
    ];
    for (method, path) in &routes {
        for (what, body) in [
            ("malformed", b"{\"name\": ".to_vec()),
            ("not an object", b"[1,2,3]".to_vec()),
            (
                "wrong types",
                br#"{"release_id": 1, "opens_at": 2, "closes_at": false, "org_id": 3, "code": [], "status": 4}"#
                    .to_vec(),
            ),
            ("unknown field", br#"{"surprise": true}"#.to_vec()),
            ("empty", Vec::new()),
        ] {
            let resp = app.send(method, path, Some(&admin), &[], Some(("application/json", body)));
            assert_eq!(resp.status, 400, "{method} {path} ({what}): {}", resp.body);
            resp.expect(400);
        }
        let resp = app.send(method, path, Some(&admin), &[], Some(("text/plain", b"{}".to_vec())));
        assert_eq!(resp.status, 415, "{method} {path}: {}", resp.body);
        resp.expect_code(415, "unsupported_media_type");
    }
    for path in [
        "/api/v1/uit-windows".to_string(),
        format!("/api/v1/uit-windows/{wid}/participants"),
        "/api/v1/scenarios".into(),
    ] {
        app.get(&format!("{path}?unexpected=1"), Some(&admin))
            .expect_code(400, "invalid_query");
        app.get(&format!("{path}?cursor=not-base64!"), Some(&admin))
            .expect_code(400, "invalid_cursor");
    }
    let got = app.get(&format!("/api/v1/uit-windows/{wid}"), Some(&admin));
    assert_eq!(got.header("etag").as_deref(), Some("\"1\""));
    assert_eq!(got.json()["participant_count"], 0);
}

#[test]
fn a_window_without_a_name_is_named_after_its_release_and_opening_month() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let (fw, _, _) = firmware(&app, &admin, "CHF");
    let created = app.post(
        "/api/v1/releases",
        Some(&admin),
        &json!({ "name": "SEC Release Feb 2027", "kind": "sec_release", "firmware_ids": [fw] }),
    );
    created.expect(201);
    let rel = id(&created.json());
    let unnamed = |opens_at: &str, closes_at: &str| {
        app.post(
            "/api/v1/uit-windows",
            Some(&admin),
            &json!({ "release_id": rel, "opens_at": opens_at, "closes_at": closes_at }),
        )
    };
    let first = unnamed("2030-03-02T09:00:00Z", "2030-03-30T17:00:00Z");
    first.expect(201);
    assert_eq!(first.json()["name"], "SEC Release Feb 2027 UIT — March 2030");
    // Names stay unique: a second window opening that month is numbered.
    let second = unnamed("2030-03-20T09:00:00Z", "2030-04-10T17:00:00Z");
    second.expect(201);
    assert_eq!(second.json()["name"], "SEC Release Feb 2027 UIT — March 2030 (2)");
    let later = unnamed("2030-05-01T09:00:00Z", "2030-05-20T17:00:00Z");
    assert_eq!(later.json()["name"], "SEC Release Feb 2027 UIT — May 2030");
    // A name given explicitly is still checked.
    let taken = schedule(
        &app,
        &admin,
        &rel,
        "SEC Release Feb 2027 UIT — May 2030",
        "2030-06-01T09:00:00Z",
        "2030-06-20T17:00:00Z",
    );
    taken.expect_code(409, "window_name_taken");
}

#[test]
fn concurrent_windows_without_a_name_each_get_their_own_default_name() {
    let app = TestApp::spawn_with(|c| c.database_pool_size = 8);
    let admin = app.admin_token();
    let (fw, _, _) = firmware(&app, &admin, "CHF");
    let created = app.post(
        "/api/v1/releases",
        Some(&admin),
        &json!({ "name": "SEC Release Jun 2027", "kind": "sec_release", "firmware_ids": [fw] }),
    );
    created.expect(201);
    let rel = id(&created.json());
    let body = json!({ "release_id": rel, "opens_at": "2030-07-02T09:00:00Z", "closes_at": "2030-07-30T17:00:00Z" });
    let answers = at_once(12, |_| app.post("/api/v1/uit-windows", Some(&admin), &body));
    // The client named none of them: no request may be refused a name it did not choose.
    for (status, body) in &answers {
        assert_eq!(*status, 201, "{body}");
    }
    let mut names: Vec<&str> = answers.iter().map(|(_, b)| b["name"].as_str().unwrap()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 12, "{names:?}");
}
