//! Claims: one lead per set per window, decided by the database under contention.

use serde_json::json;

use crate::fixtures::{open_window, world};
use crate::helpers::{at_once, TestApp};

#[test]
fn a_hundred_concurrent_claims_give_one_201_and_ninety_nine_409s() {
    let app = TestApp::spawn_with(|c| c.database_pool_size = 8);
    let w = world(&app);
    let contenders = [&w.a, &w.b, &w.outsider];
    let path = format!("/api/v1/uit-windows/{}/claims", w.window);
    let body = json!({ "device_set_id": w.sets[2], "note": "we lead" });
    let results = at_once(100, |i| app.post(&path, Some(&contenders[i % 3].token), &body));
    let winners: Vec<_> = results.iter().filter(|(s, _)| *s == 201).collect();
    assert_eq!(
        winners.len(),
        1,
        "{:?}",
        results.iter().map(|(s, _)| s).collect::<Vec<_>>()
    );
    let holder = &winners[0].1["org_id"];
    for (status, body) in results.iter().filter(|(s, _)| *s != 201) {
        if *status == 200 {
            // The winner's own organisation asking again gets its claim back.
            assert_eq!(&body["org_id"], holder, "{body}");
            assert_eq!(body["id"], winners[0].1["id"]);
            continue;
        }
        assert_eq!(*status, 409, "{body}");
        assert_eq!(body["code"], "claim_conflict");
        assert_eq!(&body["context"]["holder"]["org_id"], holder, "the 409 names the holder");
    }
    let claims = app.get(&path, Some(&w.reviewer.token)).json();
    assert_eq!(claims["items"].as_array().unwrap().len(), 1);
}

#[test]
fn claims_join_the_window_and_are_released_by_their_holder_or_the_operator() {
    let app = TestApp::spawn();
    let w = world(&app);
    let path = format!("/api/v1/uit-windows/{}/claims", w.window);
    let claim = app.post(&path, Some(&w.outsider.token), &json!({ "device_set_id": w.sets[0] }));
    claim.expect(201);
    let participants = app
        .get(
            &format!("/api/v1/uit-windows/{}/participants", w.window),
            Some(&w.a.token),
        )
        .json();
    assert!(
        participants["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["org_id"] == w.outsider.org_id.as_str()),
        "claiming joined the window"
    );

    app.post(&path, Some(&w.reviewer.token), &json!({ "device_set_id": w.sets[1] }))
        .expect_code(403, "forbidden");
    app.post(&path, Some(&w.a_viewer.token), &json!({ "device_set_id": w.sets[1] }))
        .expect_code(403, "forbidden");
    app.post(
        &path,
        Some(&w.a.token),
        &json!({ "device_set_id": "01900000-0000-7000-8000-000000000000" }),
    )
    .expect_code(422, "validation_failed");
    app.post(
        "/api/v1/uit-windows/01900000-0000-7000-8000-000000000000/claims",
        Some(&w.a.token),
        &json!({ "device_set_id": w.sets[1] }),
    )
    .expect_code(404, "not_found");

    let claim_path = format!("/api/v1/claims/{}", claim.id());
    app.delete(&claim_path, Some(&w.a.token)).expect_code(403, "forbidden");
    app.delete(&claim_path, Some(&w.outsider.token)).expect(204);
    app.delete(&claim_path, Some(&w.outsider.token))
        .expect_code(404, "not_found");
    let again = app.post(&path, Some(&w.a.token), &json!({ "device_set_id": w.sets[0] }));
    again.expect(201);
    app.delete(&format!("/api/v1/claims/{}", again.id()), Some(&w.admin))
        .expect(204);

    // Closed and cancelled windows refuse claims.
    let cancelled = open_window(&app, &w.admin, &w.release);
    app.patch(
        &format!("/api/v1/uit-windows/{cancelled}"),
        Some(&w.admin),
        &json!({ "status": "cancelled", "cancel_reason": "test" }),
    )
    .expect(200);
    app.post(
        &format!("/api/v1/uit-windows/{cancelled}/claims"),
        Some(&w.a.token),
        &json!({ "device_set_id": w.sets[0] }),
    )
    .expect_code(422, "window_not_open_for_claims");
    let now = chrono::Utc::now();
    let closed = app.post(
        "/api/v1/uit-windows",
        Some(&w.admin),
        &json!({ "release_id": w.release, "name": "UIT-closed", "opens_at": (now - chrono::Duration::days(9)).to_rfc3339(),
                 "closes_at": (now - chrono::Duration::days(2)).to_rfc3339() }),
    );
    closed.expect(201);
    app.post(
        &format!("/api/v1/uit-windows/{}/claims", closed.id()),
        Some(&w.a.token),
        &json!({ "device_set_id": w.sets[0] }),
    )
    .expect_code(422, "window_not_open_for_claims");
}

#[test]
fn a_claim_made_or_released_moves_the_etag_of_the_lead_results() {
    let app = TestApp::spawn();
    let w = world(&app);
    let published = crate::fixtures::publish(
        &app,
        &w.a.token,
        &w.window,
        &w.sets[0],
        crate::fixtures::SCENARIOS[0],
        "pass",
        "industry",
    );
    published.expect(201);
    let result = format!("/api/v1/results/{}", published.id());
    let before = app.get(&result, Some(&w.a.token));
    assert_eq!(before.json()["lead"], false);
    let stale = before.header("etag").unwrap();

    let claim = app.post(
        &format!("/api/v1/uit-windows/{}/claims", w.window),
        Some(&w.a.token),
        &json!({ "device_set_id": w.sets[0] }),
    );
    claim.expect(201);
    let led = app.get(&result, Some(&w.a.token));
    assert_eq!(led.json()["lead"], true);
    let current = led.header("etag").unwrap();
    assert_ne!(current, stale, "the representation changed, so must the ETag");
    let amend = |etag: &str| {
        app.send(
            "PATCH",
            &result,
            Some(&w.a.token),
            &[("if-match", etag)],
            Some((
                "application/json",
                json!({ "notes": "amended" }).to_string().into_bytes(),
            )),
        )
    };
    amend(&stale).expect_code(412, "precondition_failed");

    // Releasing the claim moves it again.
    let released = format!("/api/v1/claims/{}", claim.id());
    app.delete(&released, Some(&w.a.token)).expect(204);
    let unled = app.get(&result, Some(&w.a.token));
    assert_eq!(unled.json()["lead"], false);
    assert_ne!(unled.header("etag").unwrap(), current);
    amend(&current).expect_code(412, "precondition_failed");
    amend(&unled.header("etag").unwrap()).expect(200);
}

#[test]
fn a_claim_has_its_own_address_and_claiming_again_returns_it() {
    let app = TestApp::spawn();
    let w = world(&app);
    let path = format!("/api/v1/uit-windows/{}/claims", w.window);
    let first = app.post(
        &path,
        Some(&w.a.token),
        &json!({ "device_set_id": w.sets[0], "note": "ours" }),
    );
    first.expect(201);
    let claim = first.json();
    let location = first.header("location").unwrap();
    assert_eq!(location, format!("/api/v1/claims/{}", claim["id"].as_str().unwrap()));
    assert_eq!(claim["device_set_name"], "set 5000");
    assert!(
        claim["uit_window_name"].as_str().unwrap().starts_with("UIT-"),
        "{claim}"
    );
    assert!(
        claim.get("device_set").is_none(),
        "the composition is embedded on request only"
    );

    // Everyone signed in reads it where Location points, like the window's list.
    let read = app.get(&location, Some(&w.reviewer.token));
    read.expect(200);
    assert_eq!(read.json(), claim);
    app.get(
        "/api/v1/claims/01900000-0000-7000-8000-000000000000",
        Some(&w.reviewer.token),
    )
    .expect_code(404, "not_found");
    app.get(&location, None).expect(401);

    // Asking again for what you hold: 200 with the same claim, nothing new.
    let again = app.post(
        &path,
        Some(&w.a.token),
        &json!({ "device_set_id": w.sets[0], "note": "again" }),
    );
    again.expect(200);
    assert_eq!(again.json(), claim);
    assert_eq!(again.header("location").unwrap(), location);
    let list = app.get(&path, Some(&w.b.token)).json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // Another organisation still meets the holder.
    let conflict = app.post(&path, Some(&w.b.token), &json!({ "device_set_id": w.sets[0] }));
    assert_eq!(
        conflict.expect_code(409, "claim_conflict")["context"]["holder"]["id"],
        claim["id"]
    );

    // The device set on request: name, prevalence and composition.
    let embedded = app
        .get(&format!("{location}?embed=device_set"), Some(&w.b.token))
        .json();
    let set = &embedded["device_set"];
    assert_eq!(set["id"], w.sets[0].as_str());
    assert_eq!(set["prevalence"], 5000);
    assert_eq!(set["composition"]["comms_hub"]["device_type"], "CHF");
    assert_eq!(set["composition"]["comms_hub"]["firmware_version"], "3.0");
    assert_eq!(set["composition"]["devices"][0]["device_type"], "ESME");
    assert_eq!(set["composition"]["devices"][0]["firmware_version"], "1.0");
    let listed = app.get(&format!("{path}?embed=device_set"), Some(&w.b.token)).json();
    assert_eq!(&listed["items"][0]["device_set"], set);
    app.get(&format!("{path}?embed=everything"), Some(&w.b.token))
        .expect_code(400, "invalid_query");
}
