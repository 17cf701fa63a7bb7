//! Firmware-library contacts: ownership, validation, staleness and the stale reminder.

use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, Utc};
use serde_json::{json, Value};

use crate::fixtures::product;
use crate::helpers::{at_once, Resp, TestApp};
use crate::releases::{events, id};

/// The date `days` ago (UTC), as `YYYY-MM-DD`.
fn days_ago(days: i64) -> String {
    (Utc::now().date_naive() - Duration::days(days)).to_string()
}

fn add(app: &TestApp, token: &str, manufacturer: &str, fields: Value) -> Resp {
    let mut body = json!({
        "manufacturer_org_id": manufacturer,
        "contact_name": "Firmware library desk",
        "email": "firmware@meterwise.example",
        "phone": "+44 20 7946 0000",
        "url": "https://meterwise.example/firmware",
        "notes": "Ask for the N-1 image too.",
        "verified_on": days_ago(10),
    });
    for (k, v) in fields.as_object().unwrap() {
        body[k] = v.clone();
    }
    app.post("/api/v1/library-contacts", Some(token), &body)
}

fn contact(app: &TestApp, token: &str, manufacturer: &str, fields: Value) -> Value {
    let resp = add(app, token, manufacturer, fields);
    resp.expect(201);
    resp.json()
}

fn fields(problem: &Value) -> Vec<String> {
    let mut f: Vec<String> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect();
    f.sort();
    f
}

/// A 200 page's ids, sorted.
fn ids(resp: &Resp) -> Vec<String> {
    let mut ids = resp.expect(200).ids();
    ids.sort();
    ids
}

#[test]
fn manufacturers_and_the_operator_manage_their_contacts_and_everyone_reads_them() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let maker = app.user_in_new_org(&admin, "manufacturer", "member");
    let other_maker = app.user_in_new_org(&admin, "manufacturer", "admin");
    let supplier = app.user_in_new_org(&admin, "supplier", "admin");
    let reviewer = app.user_in_new_org(&admin, "reviewer", "admin");
    let viewer = app.invite_user(&admin, &maker.org_id, "viewer");
    let model = product(&app, &maker.token, &maker.org_id, "ESME");

    let created = add(&app, &maker.token, &maker.org_id, json!({ "device_model_id": model }));
    created.expect(201);
    let c = created.json();
    let cid = id(&c);
    assert_eq!(
        created.header("location").unwrap(),
        format!("/api/v1/library-contacts/{cid}")
    );
    assert_eq!(c["manufacturer_org_id"], maker.org_id.as_str());
    assert_eq!(c["device_model_id"], model.as_str());
    assert_eq!(c["email"], "firmware@meterwise.example");
    assert_eq!(c["phone"], "+44 20 7946 0000");
    assert_eq!(c["url"], "https://meterwise.example/firmware");
    assert_eq!(c["verified_on"], days_ago(10));
    assert_eq!(c["stale"], false);

    for (who, token) in [
        ("a supplier", &supplier.token),
        ("another manufacturer", &other_maker.token),
        ("a reviewer", &reviewer.token),
        ("a viewer of the manufacturer", &viewer.token),
    ] {
        let resp = add(&app, token, &maker.org_id, json!({}));
        assert_eq!(resp.status, 403, "{who}: {}", resp.body);
        resp.expect_code(403, "forbidden");
        let path = format!("/api/v1/library-contacts/{cid}");
        let resp = app.patch(&path, Some(token), &json!({ "contact_name": "Hijacked" }));
        assert_eq!(resp.status, 403, "{who} PATCH: {}", resp.body);
        let resp = app.delete(&path, Some(token));
        assert_eq!(resp.status, 403, "{who} DELETE: {}", resp.body);
        // Reading is for everyone.
        let got = app.get(&path, Some(token));
        got.expect(200);
        assert_eq!(got.json(), c);
        assert!(ids(&app.get("/api/v1/library-contacts", Some(token))).contains(&cid));
    }
    let csp = app.user_in_new_org(&admin, "service_provider", "member");
    contact(&app, &csp.token, &csp.org_id, json!({}));
    let by_operator = contact(&app, &admin, &maker.org_id, json!({ "contact_name": "Support line" }));
    assert_eq!(by_operator["manufacturer_org_id"], maker.org_id.as_str());

    let path = format!("/api/v1/library-contacts/{cid}");
    let etag = app.get(&path, Some(&maker.token)).header("etag").unwrap();
    let changed = app.send(
        "PATCH",
        &path,
        Some(&maker.token),
        &[("if-match", &etag)],
        Some((
            "application/json",
            json!({ "phone": null, "url": null, "device_model_id": null, "email": "support@meterwise.example" })
                .to_string()
                .into_bytes(),
        )),
    );
    changed.expect(200);
    let changed_body = changed.json();
    assert!(changed_body["phone"].is_null() && changed_body["url"].is_null());
    assert!(changed_body["device_model_id"].is_null());
    assert_eq!(changed_body["email"], "support@meterwise.example");
    assert_eq!(changed.header("etag").as_deref(), Some("\"2\""));
    app.send(
        "PATCH",
        &path,
        Some(&maker.token),
        &[("if-match", &etag)],
        Some(("application/json", br#"{"notes":"late"}"#.to_vec())),
    )
    .expect_code(412, "precondition_failed");
    app.send("DELETE", &path, Some(&maker.token), &[("if-match", &etag)], None)
        .expect_code(412, "precondition_failed");
    app.delete(&path, Some(&maker.token)).expect(204);
    app.get(&path, Some(&maker.token)).expect_code(404, "not_found");
    app.delete(&path, Some(&maker.token)).expect_code(404, "not_found");

    let audit = app
        .get(&format!("/api/v1/audit-events?entity_id={cid}"), Some(&admin))
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
            "library_contact.delete",
            "library_contact.update",
            "library_contact.create"
        ],
        "newest first"
    );

    // Idempotency-Key replays.
    let send = |name: &str| {
        let body = json!({
            "manufacturer_org_id": maker.org_id, "contact_name": name,
            "email": "a@meterwise.example", "verified_on": days_ago(1),
        });
        app.send(
            "POST",
            "/api/v1/library-contacts",
            Some(&maker.token),
            &[("idempotency-key", "contact-once")],
            Some(("application/json", body.to_string().into_bytes())),
        )
    };
    let first = send("Desk");
    first.expect(201);
    let again = send("Desk");
    assert_eq!(again.json(), first.json());
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    send("Other desk").expect_code(422, "idempotency_key_reused");
}

#[test]
fn concurrent_requests_with_one_idempotency_key_make_one_contact() {
    let app = TestApp::spawn_with(|c| c.database_pool_size = 8);
    let admin = app.admin_token();
    let maker = app.user_in_new_org(&admin, "manufacturer", "member");
    let body = json!({
        "manufacturer_org_id": maker.org_id, "contact_name": "Desk",
        "email": "a@meterwise.example", "verified_on": days_ago(1),
    });
    let send = || {
        app.send(
            "POST",
            "/api/v1/library-contacts",
            Some(&maker.token),
            &[("idempotency-key", "contact-race")],
            Some(("application/json", body.to_string().into_bytes())),
        )
    };
    let answers = at_once(16, |_| send());
    // Each is the one contact (made or replayed) or a 409 `retry`, never the bare `conflict`.
    let made = send();
    made.expect(201);
    for (status, body) in &answers {
        match status {
            201 => assert_eq!(body["id"], made.json()["id"], "{body}"),
            _ => assert_eq!((*status, &body["code"]), (409, &json!("retry")), "{body}"),
        }
    }
    let path = format!("/api/v1/library-contacts?manufacturer_org_id={}", maker.org_id);
    assert_eq!(ids(&app.get(&path, Some(&maker.token))).len(), 1);
}

#[test]
fn contact_fields_are_validated() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let maker = app.user_in_new_org(&admin, "manufacturer", "admin");
    let other_maker = app.user_in_new_org(&admin, "manufacturer", "admin");
    let supplier_org = app.create_org(&admin, "supplier");
    let theirs = product(&app, &other_maker.token, &other_maker.org_id, "GSME");

    let bad = add(
        &app,
        &maker.token,
        &maker.org_id,
        json!({
            "email": "not-an-email",
            "phone": "call reception",
            "url": "ftp://meterwise.example/firmware",
            "verified_on": (Utc::now().date_naive() + Duration::days(2)).to_string(),
            "contact_name": " ",
            "device_model_id": theirs,
        }),
    );
    assert_eq!(
        fields(&bad.expect_code(422, "validation_failed")),
        [
            "contact_name",
            "device_model_id",
            "email",
            "phone",
            "url",
            "verified_on"
        ]
    );
    for (field, value) in [
        ("phone", json!("1234")),
        ("phone", json!("+44 (0) 20 7946 0000 0000 0000 00")),
        ("url", json!("javascript:alert(1)")),
        ("url", json!("https://")),
        ("email", json!("a@b")),
        ("device_model_id", json!("no-such-model")),
    ] {
        let resp = add(&app, &maker.token, &maker.org_id, json!({ field: value }));
        assert_eq!(
            fields(&resp.expect_code(422, "validation_failed")),
            [field],
            "{field}={value}"
        );
    }
    let not_a_maker = add(&app, &admin, &supplier_org, json!({}));
    assert_eq!(
        fields(&not_a_maker.expect_code(422, "validation_failed")),
        ["manufacturer_org_id"]
    );
    let nobody = add(&app, &admin, "no-such-org", json!({}));
    assert_eq!(
        fields(&nobody.expect_code(422, "validation_failed")),
        ["manufacturer_org_id"]
    );
    add(&app, &maker.token, &maker.org_id, json!({ "verified_on": "yesterday" })).expect(400);
    // Today is fine; phone and url are optional.
    let plain = app.post(
        "/api/v1/library-contacts",
        Some(&maker.token),
        &json!({
            "manufacturer_org_id": maker.org_id, "contact_name": "Desk",
            "email": "desk@maker.example", "verified_on": days_ago(0),
        }),
    );
    plain.expect(201);
    let plain = plain.json();
    assert!(plain["phone"].is_null() && plain["url"].is_null() && plain["device_model_id"].is_null());
    assert_eq!(plain["notes"], "");
    let path = format!("/api/v1/library-contacts/{}", id(&plain));
    let resp = app.patch(&path, Some(&maker.token), &json!({ "device_model_id": theirs }));
    assert_eq!(fields(&resp.expect_code(422, "validation_failed")), ["device_model_id"]);
    let resp = app.patch(
        &path,
        Some(&maker.token),
        &json!({ "verified_on": (Utc::now().date_naive() + Duration::days(1)).to_string() }),
    );
    assert_eq!(fields(&resp.expect_code(422, "validation_failed")), ["verified_on"]);
    app.patch(
        &path,
        Some(&maker.token),
        &json!({ "manufacturer_org_id": other_maker.org_id }),
    )
    .expect(400);
}

#[test]
fn stale_lists_entries_not_verified_for_365_days() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let maker = app.user_in_new_org(&admin, "manufacturer", "admin");
    let other_maker = app.user_in_new_org(&admin, "manufacturer", "admin");
    let model = product(&app, &maker.token, &maker.org_id, "PPMID");
    let old = id(&contact(
        &app,
        &maker.token,
        &maker.org_id,
        json!({ "verified_on": days_ago(400) }),
    ));
    let edge = id(&contact(
        &app,
        &maker.token,
        &maker.org_id,
        json!({ "verified_on": days_ago(365) }),
    ));
    let fresh = id(&contact(
        &app,
        &maker.token,
        &maker.org_id,
        json!({ "verified_on": days_ago(30), "device_model_id": model }),
    ));
    let theirs = id(&contact(
        &app,
        &other_maker.token,
        &other_maker.org_id,
        json!({ "verified_on": days_ago(366) }),
    ));
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let list = |q: &str| ids(&app.get(&format!("/api/v1/library-contacts?{q}"), Some(&admin)));
    assert_eq!(list("stale=true"), sorted(vec![old.clone(), theirs.clone()]));
    assert_eq!(list("stale=false"), sorted(vec![edge.clone(), fresh.clone()]));
    assert_eq!(
        list(&format!("stale=true&manufacturer_org_id={}", maker.org_id)),
        vec![old.clone()]
    );
    assert_eq!(list(&format!("device_model_id={model}")), vec![fresh.clone()]);
    let got = app
        .get(&format!("/api/v1/library-contacts/{old}"), Some(&maker.token))
        .json();
    assert_eq!(got["stale"], true);
    let got = app
        .get(&format!("/api/v1/library-contacts/{edge}"), Some(&maker.token))
        .json();
    assert_eq!(got["stale"], false);
    app.get("/api/v1/library-contacts?stale=maybe", Some(&admin))
        .expect_code(400, "invalid_query");
    app.get("/api/v1/library-contacts?verified=1", Some(&admin))
        .expect_code(400, "invalid_query");
    let page = app.get("/api/v1/library-contacts?limit=3", Some(&admin));
    assert_eq!(page.json()["items"].as_array().unwrap().len(), 3);
    assert!(page.header("link").unwrap().contains("rel=\"next\""));
}

fn stale_reminders(app: &TestApp, admin: &str, contact: &str) -> Vec<Value> {
    events(app, admin, contact)
        .into_iter()
        .filter(|e| e["kind"] == "library_contact.stale")
        .collect()
}

/// Polls until `contact` has `n` stale reminders or ~`secs` seconds pass.
fn wait_for_reminders(app: &TestApp, admin: &str, contact: &str, n: usize, secs: u64) -> Vec<Value> {
    let deadline = Instant::now() + StdDuration::from_secs(secs);
    loop {
        let seen = stale_reminders(app, admin, contact);
        if seen.len() >= n || Instant::now() > deadline {
            return seen;
        }
        std::thread::sleep(StdDuration::from_millis(200));
    }
}

#[test]
fn a_contact_that_turns_stale_is_reminded_once_per_verification() {
    let app = TestApp::spawn_with(|c| c.window_clock_interval_seconds = 1);
    let admin = app.admin_token();
    let maker = app.user_in_new_org(&admin, "manufacturer", "admin");
    let model = product(&app, &maker.token, &maker.org_id, "HCALCS");
    let stale = contact(
        &app,
        &maker.token,
        &maker.org_id,
        json!({ "verified_on": days_ago(400), "device_model_id": model }),
    );
    let sid = id(&stale);
    let fresh = id(&contact(&app, &maker.token, &maker.org_id, json!({})));

    let seen = wait_for_reminders(&app, &admin, &sid, 1, 6);
    assert_eq!(seen.len(), 1, "{seen:?}");
    let e = &seen[0];
    assert_eq!(e["topic"], "roadmaps");
    assert_eq!(e["entity_type"], "library_contact");
    assert_eq!(e["manufacturer_org_ids"], json!([maker.org_id]));
    assert_eq!(e["device_model_ids"], json!([model]));
    assert_eq!(e["device_types"], json!(["HCALCS"]));
    assert_eq!(e["details"]["contact_id"], sid.as_str());
    assert_eq!(e["details"]["manufacturer_org_id"], maker.org_id.as_str());
    assert_eq!(e["details"]["device_model_id"], model.as_str());
    assert_eq!(e["details"]["verified_on"], days_ago(400));
    assert!(e["summary"].as_str().unwrap().contains("last verified on"));

    // More ticks record nothing twice; a fresh contact gets nothing.
    std::thread::sleep(StdDuration::from_millis(2500));
    assert_eq!(stale_reminders(&app, &admin, &sid).len(), 1);
    assert!(stale_reminders(&app, &admin, &fresh).is_empty());

    // Re-verified, it is quiet; when its (new) verification goes stale, it is reminded again.
    let path = format!("/api/v1/library-contacts/{sid}");
    app.patch(&path, Some(&maker.token), &json!({ "verified_on": days_ago(0) }))
        .expect(200);
    std::thread::sleep(StdDuration::from_millis(1500));
    assert_eq!(stale_reminders(&app, &admin, &sid).len(), 1);
    app.patch(&path, Some(&maker.token), &json!({ "verified_on": days_ago(370) }))
        .expect(200);
    let seen = wait_for_reminders(&app, &admin, &sid, 2, 6);
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1]["details"]["verified_on"], days_ago(370));
}

#[test]
fn bad_bodies_on_contact_routes_are_400_or_415() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let maker = app.user_in_new_org(&admin, "manufacturer", "admin");
    let cid = id(&contact(&app, &maker.token, &maker.org_id, json!({})));
    for (method, path) in [
        ("POST", "/api/v1/library-contacts".to_string()),
        ("PATCH", format!("/api/v1/library-contacts/{cid}")),
    ] {
        for (what, body) in [
            ("malformed", b"{\"email\": ".to_vec()),
            ("not an object", b"[1,2,3]".to_vec()),
            (
                "wrong types",
                br#"{"manufacturer_org_id": 1, "email": 2, "verified_on": true, "phone": []}"#.to_vec(),
            ),
            ("unknown field", br#"{"stale": true}"#.to_vec()),
            ("empty", Vec::new()),
        ] {
            let resp = app.send(method, &path, Some(&maker.token), &[], Some(("application/json", body)));
            assert_eq!(resp.status, 400, "{method} {path} ({what}): {}", resp.body);
            resp.expect(400);
        }
        app.send(
            method,
            &path,
            Some(&maker.token),
            &[],
            Some(("text/plain", b"{}".to_vec())),
        )
        .expect_code(415, "unsupported_media_type");
    }
    app.get("/api/v1/library-contacts?cursor=not-base64!", Some(&maker.token))
        .expect_code(400, "invalid_cursor");
    let got = app.get(&format!("/api/v1/library-contacts/{cid}"), Some(&maker.token));
    assert_eq!(got.header("etag").as_deref(), Some("\"1\""));
}
