//! Device models and firmware: ownership, lifecycle, version order and retirement events.

use serde_json::{json, Value};

use crate::fixtures::{firmware, product};
use crate::helpers::{at_once, TestApp, TestUser};

fn status_of(app: &TestApp, token: &str, firmware: &str) -> Value {
    app.get(&format!("/api/v1/firmware/{firmware}"), Some(token)).json()["status"].clone()
}

fn set_status(app: &TestApp, token: &str, firmware: &str, status: &str) -> crate::helpers::Resp {
    app.patch(
        &format!("/api/v1/firmware/{firmware}"),
        Some(token),
        &json!({ "status": status }),
    )
}

struct Industry {
    admin: String,
    maker: TestUser,
    other_maker: TestUser,
}

fn industry(app: &TestApp) -> Industry {
    let admin = app.admin_token();
    let maker = app.user_in_new_org(&admin, "manufacturer", "member");
    let other_maker = app.user_in_new_org(&admin, "manufacturer", "admin");
    Industry {
        admin,
        maker,
        other_maker,
    }
}

#[test]
fn device_models_are_managed_by_their_owner_and_the_operator() {
    let app = TestApp::spawn();
    let Industry {
        admin,
        maker,
        other_maker,
    } = industry(&app);
    let supplier = app.user_in_new_org(&admin, "supplier", "admin");
    let reviewer = app.user_in_new_org(&admin, "reviewer", "admin");
    let maker_viewer = app.invite_user(&admin, &maker.org_id, "viewer");
    let csp = app.user_in_new_org(&admin, "service_provider", "member");

    let body = |org: &str, t: &str, name: &str| json!({ "manufacturer_org_id": org, "device_type": t, "name": name, "hardware_version": "v2", "cpl_listed": true });
    let created = app.post(
        "/api/v1/device-models",
        Some(&maker.token),
        &body(&maker.org_id, "ESME", "Meter One"),
    );
    created.expect(201);
    let model = created.json();
    assert_eq!(model["device_type"], "ESME");
    assert_eq!(model["cpl_listed"], true);
    let id = model["id"].as_str().unwrap();

    for (who, token, org) in [
        ("another manufacturer", &other_maker.token, &maker.org_id),
        ("a supplier", &supplier.token, &supplier.org_id),
        ("a reviewer", &reviewer.token, &reviewer.org_id),
        ("a viewer", &maker_viewer.token, &maker.org_id),
    ] {
        let resp = app.post(
            "/api/v1/device-models",
            Some(token),
            &body(org, "GSME", &format!("by {who}")),
        );
        assert_eq!(resp.status, 403, "{who}: {}", resp.body);
        resp.expect_code(403, "forbidden");
    }
    app.post(
        "/api/v1/device-models",
        Some(&csp.token),
        &body(&csp.org_id, "CHF", "Hub North"),
    )
    .expect(201);
    app.post(
        "/api/v1/device-models",
        Some(&csp.token),
        &body(&csp.org_id, "ESME", "Not a hub"),
    )
    .expect(403);
    app.post(
        "/api/v1/device-models",
        Some(&admin),
        &body(&other_maker.org_id, "IHD", "Display"),
    )
    .expect(201);
    app.post(
        "/api/v1/device-models",
        Some(&admin),
        &body(&supplier.org_id, "IHD", "Display"),
    )
    .expect_code(422, "validation_failed");
    let dup = app.post(
        "/api/v1/device-models",
        Some(&admin),
        &body(&maker.org_id, "ESME", "Meter One"),
    );
    assert_eq!(
        dup.expect_code(409, "device_model_exists")["context"]["existing_id"],
        id
    );
    app.post(
        "/api/v1/device-models",
        Some(&admin),
        &body(&maker.org_id, "TOASTER", "x"),
    )
    .expect(400);

    let esme = app
        .get("/api/v1/device-models?device_type=ESME", Some(&reviewer.token))
        .json();
    assert_eq!(esme["items"].as_array().unwrap().len(), 1);
    let theirs = app.get(
        &format!("/api/v1/device-models?manufacturer_org_id={}", other_maker.org_id),
        Some(&supplier.token),
    );
    assert_eq!(theirs.json()["items"][0]["device_type"], "IHD");

    let path = format!("/api/v1/device-models/{id}");
    let etag = app.get(&path, Some(&supplier.token)).header("etag").unwrap();
    app.patch(&path, Some(&other_maker.token), &json!({ "cpl_listed": false }))
        .expect_code(403, "forbidden");
    app.patch(&path, Some(&maker.token), &json!({ "device_type": "GSME" }))
        .expect(400);
    let updated = app.send(
        "PATCH",
        &path,
        Some(&maker.token),
        &[("if-match", &etag)],
        Some(("application/json", br#"{"cpl_listed":false}"#.to_vec())),
    );
    updated.expect(200);
    assert_eq!(updated.json()["cpl_listed"], false);
    app.send(
        "PATCH",
        &path,
        Some(&maker.token),
        &[("if-match", &etag)],
        Some(("application/json", br#"{"name":"x"}"#.to_vec())),
    )
    .expect_code(412, "precondition_failed");
    let missing = app.get(
        "/api/v1/device-models/01900000-0000-7000-8000-000000000000",
        Some(&maker.token),
    );
    missing.expect_code(404, "not_found");
}

#[test]
fn concurrent_deploys_of_one_products_versions_leave_one_deployed_and_the_rest_previous() {
    let app = TestApp::spawn_with(|c| c.database_pool_size = 8);
    let Industry { maker, .. } = industry(&app);
    let model = product(&app, &maker.token, &maker.org_id, "ESME");
    let path = format!("/api/v1/device-models/{model}/firmware");
    let answers = at_once(8, |i| {
        app.post(
            &path,
            Some(&maker.token),
            &json!({ "version": format!("2.{i}"), "status": "deployed" }),
        )
    });
    let mut statuses: Vec<Value> = answers
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 201, "{body}");
            status_of(&app, &maker.token, body["id"].as_str().unwrap())
        })
        .collect();
    statuses.sort_by_key(|s| s.to_string());
    let mut expected = vec![json!("previous"); 7];
    expected.insert(0, json!("deployed"));
    assert_eq!(statuses, expected);
}

#[test]
fn the_firmware_lifecycle_is_enforced_and_deploying_n_plus_one_makes_n_previous() {
    let app = TestApp::spawn();
    let Industry { maker, other_maker, .. } = industry(&app);
    let model = product(&app, &maker.token, &maker.org_id, "ESME");
    let v1 = firmware(&app, &maker.token, &model, "1.0", "planned");

    let illegal = set_status(&app, &maker.token, &v1, "approved");
    let body = illegal.expect_code(422, "illegal_status_move");
    assert!(
        body["detail"].as_str().unwrap().contains("in_test or withdrawn"),
        "{body}"
    );
    assert_eq!(body["context"]["allowed"], json!(["in_test", "withdrawn"]));
    set_status(&app, &other_maker.token, &v1, "in_test").expect_code(403, "forbidden");

    for step in ["in_test", "approved", "deployed"] {
        set_status(&app, &maker.token, &v1, step).expect(200);
    }
    set_status(&app, &maker.token, &v1, "in_test").expect_code(422, "illegal_status_move");

    let v2 = firmware(&app, &maker.token, &model, "1.1", "approved");
    set_status(&app, &maker.token, &v2, "deployed").expect(200);
    assert_eq!(
        status_of(&app, &maker.token, &v1),
        "previous",
        "N became N-1 in the same transaction"
    );
    assert_eq!(status_of(&app, &maker.token, &v2), "deployed");
    let v3 = firmware(&app, &maker.token, &model, "1.2", "deployed");
    assert_eq!(status_of(&app, &maker.token, &v2), "previous");
    assert_eq!(status_of(&app, &maker.token, &v3), "deployed");
    let deployed = app
        .get(
            &format!("/api/v1/device-models/{model}/firmware?status=deployed"),
            Some(&maker.token),
        )
        .json();
    assert_eq!(deployed["items"].as_array().unwrap().len(), 1);

    set_status(&app, &maker.token, &v1, "retired").expect(200);
    let final_move = set_status(&app, &maker.token, &v1, "withdrawn");
    assert!(final_move.expect_code(422, "illegal_status_move")["detail"]
        .as_str()
        .unwrap()
        .contains("final"));
    let v4 = firmware(&app, &maker.token, &model, "2.0", "in_test");
    set_status(&app, &maker.token, &v4, "withdrawn").expect(200);
    set_status(&app, &maker.token, &v4, "in_test").expect(422);
}

#[test]
fn versions_order_naturally_for_successors_and_single_hop_upgrades() {
    let app = TestApp::spawn();
    let Industry { admin, maker, .. } = industry(&app);
    let model = product(&app, &maker.token, &maker.org_id, "GSME");
    let other_model = product(&app, &admin, &maker.org_id, "PPMID");
    let v19 = firmware(&app, &maker.token, &model, "1.9", "deployed");
    let v110 = firmware(&app, &maker.token, &model, "1.10", "approved");
    let elsewhere = firmware(&app, &maker.token, &other_model, "9.9", "planned");

    app.patch(
        &format!("/api/v1/firmware/{v19}"),
        Some(&maker.token),
        &json!({ "successor_id": v110 }),
    )
    .expect(200);
    let back = app.patch(
        &format!("/api/v1/firmware/{v110}"),
        Some(&maker.token),
        &json!({ "successor_id": v19 }),
    );
    assert!(back.expect_code(422, "validation_failed")["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("not later"));
    app.patch(
        &format!("/api/v1/firmware/{v19}"),
        Some(&maker.token),
        &json!({ "successor_id": elsewhere }),
    )
    .expect_code(422, "validation_failed");
    let upgraded = app.patch(
        &format!("/api/v1/firmware/{v110}"),
        Some(&maker.token),
        &json!({ "upgrade_from": [v19] }),
    );
    upgraded.expect(200);
    assert_eq!(upgraded.json()["upgrade_from"], json!([v19]));
    app.patch(
        &format!("/api/v1/firmware/{v19}"),
        Some(&maker.token),
        &json!({ "upgrade_from": [v110] }),
    )
    .expect_code(422, "validation_failed");
    let dup = app.post(
        &format!("/api/v1/device-models/{model}/firmware"),
        Some(&maker.token),
        &json!({ "version": "1.10" }),
    );
    assert_eq!(dup.expect_code(409, "firmware_exists")["context"]["existing_id"], v110);
    app.post(
        &format!("/api/v1/device-models/{model}/firmware"),
        Some(&maker.token),
        &json!({ "version": "beta" }),
    )
    .expect_code(422, "validation_failed");
    app.post(
        "/api/v1/device-models/01900000-0000-7000-8000-000000000000/firmware",
        Some(&maker.token),
        &json!({ "version": "1" }),
    )
    .expect(404);
    let cleared = app.patch(
        &format!("/api/v1/firmware/{v19}"),
        Some(&maker.token),
        &json!({ "successor_id": null }),
    );
    assert!(cleared.json()["successor_id"].is_null());
}

#[test]
fn retirement_dates_and_retirements_are_change_events_with_from_and_to() {
    let app = TestApp::spawn();
    let Industry { admin, maker, .. } = industry(&app);
    let model = product(&app, &maker.token, &maker.org_id, "ESME");
    let old = firmware(&app, &maker.token, &model, "4.1", "deployed");
    let new = firmware(&app, &maker.token, &model, "4.2", "approved");
    let path = format!("/api/v1/firmware/{old}");
    app.patch(
        &path,
        Some(&maker.token),
        &json!({ "retirement_date": "2027-06-30", "successor_id": new }),
    )
    .expect(200);
    app.patch(&path, Some(&maker.token), &json!({ "retirement_date": "2027-09-30" }))
        .expect(200);
    app.patch(&path, Some(&maker.token), &json!({ "notes": "no event for notes" }))
        .expect(200);
    set_status(&app, &maker.token, &new, "deployed").expect(200);
    set_status(&app, &maker.token, &old, "retired").expect(200);

    let events = app.get(&format!("/api/v1/change-events?entity_id={old}"), Some(&admin));
    events.expect(200);
    let items = events.json()["items"].as_array().unwrap().clone();
    let kinds: Vec<&str> = items.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "firmware.retirement_scheduled",
            "firmware.retirement_moved",
            "firmware.superseded",
            "firmware.retired"
        ]
    );
    assert!(items.iter().all(|e| e["topic"] == "retirements"));
    let moved = &items[1];
    assert_eq!(moved["details"]["from"], "2027-06-30");
    assert_eq!(moved["details"]["to"], "2027-09-30");
    assert_eq!(moved["details"]["successor_version"], "4.2");
    let summary = moved["summary"].as_str().unwrap();
    assert!(
        summary.contains("now retires on 2027-09-30, was 2027-06-30") && summary.contains("successor is 4.2"),
        "{summary}"
    );
    assert_eq!(moved["device_types"], json!(["ESME"]));
    assert_eq!(moved["device_model_ids"], json!([model]));
    assert_eq!(moved["manufacturer_org_ids"], json!([maker.org_id]));
    app.get("/api/v1/change-events", Some(&maker.token))
        .expect_code(403, "forbidden");
}

#[test]
fn catalogue_json_routes_reject_bad_input_with_problems() {
    let app = TestApp::spawn_with(|c| c.body_limit_bytes = 4096);
    let Industry { maker, .. } = industry(&app);
    let model = product(&app, &maker.token, &maker.org_id, "IHD");
    let fw = firmware(&app, &maker.token, &model, "1.0", "planned");
    for (method, path) in [
        ("POST", "/api/v1/device-models".to_string()),
        ("PATCH", format!("/api/v1/device-models/{model}")),
        ("POST", format!("/api/v1/device-models/{model}/firmware")),
        ("PATCH", format!("/api/v1/firmware/{fw}")),
        ("POST", "/api/v1/device-sets".to_string()),
    ] {
        let t = Some(maker.token.as_str());
        app.send(method, &path, t, &[], Some(("application/json", b"{not json".to_vec())))
            .expect_code(400, "malformed_body");
        app.send(
            method,
            &path,
            t,
            &[],
            Some(("application/json", br#"{"unexpected": 1}"#.to_vec())),
        )
        .expect(400);
        app.send(method, &path, t, &[], Some(("text/plain", b"{}".to_vec())))
            .expect_code(415, "unsupported_media_type");
        let huge = json!({ "name": "x".repeat(8000) }).to_string().into_bytes();
        app.send(method, &path, t, &[], Some(("application/json", huge)))
            .expect_code(413, "payload_too_large");
    }
    for path in [
        "/api/v1/device-models",
        &format!("/api/v1/device-models/{model}/firmware"),
        "/api/v1/device-sets",
    ] {
        app.get(&format!("{path}?bogus=1"), Some(&maker.token))
            .expect_code(400, "invalid_query");
    }
}

/// N and N-1 are live; a third live version is fragmentation, reported estate-wide. The
/// upgrade path to N is one hop by rule, several only by exception, none when no approved
/// upgrade leads there.
#[test]
fn live_versions_upgrade_paths_and_the_fragmentation_report() {
    let app = TestApp::spawn();
    let Industry {
        admin,
        maker,
        other_maker,
    } = industry(&app);
    let model = product(&app, &maker.token, &maker.org_id, "ESME");
    let tidy = product(&app, &maker.token, &maker.org_id, "ESME");
    let create = |model: &str, version: &str, status: &str, from: Vec<&String>| {
        app.post(
            &format!("/api/v1/device-models/{model}/firmware"),
            Some(&maker.token),
            &json!({ "version": version, "status": status, "upgrade_from": from }),
        )
        .expect(201)
        .id()
    };
    let orphan = create(&model, "0.9", "planned", vec![]);
    let v1 = create(&model, "1.0", "deployed", vec![]);
    let v2 = create(&model, "1.1", "deployed", vec![&v1]);
    let v3 = create(&model, "1.2", "deployed", vec![&v2]);
    create(&tidy, "3.0", "deployed", vec![]);

    let live = app
        .get(
            &format!("/api/v1/device-models/{model}/live-versions"),
            Some(&other_maker.token),
        )
        .expect(200)
        .json();
    let versions: Vec<&str> = live["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["1.2", "1.1", "1.0"], "{live}");
    assert_eq!(live["fragmented"], true);
    let live = app
        .get(
            &format!("/api/v1/device-models/{tidy}/live-versions"),
            Some(&maker.token),
        )
        .json();
    assert_eq!(live["fragmented"], false);
    app.get("/api/v1/device-models/nope/live-versions", Some(&maker.token))
        .expect(404);

    let path = |id: &str| {
        app.get(&format!("/api/v1/firmware/{id}/upgrade-path"), Some(&other_maker.token))
            .expect(200)
            .json()
    };
    let one = path(&v2);
    assert_eq!(
        (one["reachable"].clone(), one["exception"].clone()),
        (json!(true), json!(false)),
        "{one}"
    );
    assert_eq!(
        one["hops"],
        json!([{ "from_id": v2, "from_version": "1.1", "to_id": v3, "to_version": "1.2" }])
    );
    let two = path(&v1);
    assert_eq!(
        (two["reachable"].clone(), two["exception"].clone()),
        (json!(true), json!(true)),
        "{two}"
    );
    assert_eq!(two["hops"].as_array().unwrap().len(), 2);
    let none = path(&orphan);
    assert_eq!(
        (none["reachable"].clone(), none["hops"].clone()),
        (json!(false), json!([])),
        "{none}"
    );
    assert_eq!(none["target_version"], "1.2");
    let at_n = path(&v3);
    assert_eq!(
        (at_n["reachable"].clone(), at_n["hops"].clone()),
        (json!(true), json!([]))
    );
    app.get("/api/v1/firmware/nope/upgrade-path", Some(&maker.token))
        .expect(404);

    let report = app
        .get("/api/v1/catalogue/fragmentation", Some(&other_maker.token))
        .expect(200)
        .json();
    let products = report["products"].as_array().unwrap();
    assert!(
        products
            .iter()
            .any(|p| p["device_model_id"] == model.as_str() && p["live_versions"].as_array().unwrap().len() == 3),
        "{report}"
    );
    assert!(
        !products.iter().any(|p| p["device_model_id"] == tidy.as_str()),
        "{report}"
    );
    set_status(&app, &maker.token, &v1, "retired").expect(200);
    let report = app.get("/api/v1/catalogue/fragmentation", Some(&maker.token)).json();
    assert!(
        !report["products"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["device_model_id"] == model.as_str()),
        "retired is not live: {report}"
    );
    app.get("/api/v1/catalogue/fragmentation", None).expect(401);

    // The catalogue is industry-visible: another organisation's viewer and a reviewer read the
    // same answers as the owner.
    let viewer = app.user_in_new_org(&admin, "supplier", "viewer");
    let reviewer = app.user_in_new_org(&admin, "reviewer", "member");
    for reader in [&viewer.token, &reviewer.token] {
        for path in [
            format!("/api/v1/device-models/{model}/live-versions"),
            format!("/api/v1/firmware/{v2}/upgrade-path"),
            "/api/v1/catalogue/fragmentation".to_string(),
        ] {
            let theirs = app.get(&path, Some(reader)).expect(200).json();
            assert_eq!(theirs, app.get(&path, Some(&maker.token)).json(), "{path}");
        }
    }
}

/// Deploying N+1 makes N `previous` (announced) and gives the old N-1 a retirement date
/// `retirement_notice_days` ahead with N+1 as successor, announced with its upgrade path; the
/// retirement clock retires a version on its date, once.
#[test]
fn deploying_n_plus_one_schedules_n_minus_one_and_the_clock_retires_it() {
    use chrono::{Duration, Utc};
    let app = TestApp::spawn_with(|c| {
        c.window_clock_interval_seconds = 1;
        c.retirement_notice_days = 30;
    });
    let Industry { admin, maker, .. } = industry(&app);
    let model = product(&app, &maker.token, &maker.org_id, "ESME");
    let create = |version: &str, from: Vec<&String>| {
        app.post(
            &format!("/api/v1/device-models/{model}/firmware"),
            Some(&maker.token),
            &json!({ "version": version, "status": "deployed", "upgrade_from": from }),
        )
        .expect(201)
        .id()
    };
    let events_of = |id: &str| -> Vec<Value> {
        app.get(&format!("/api/v1/change-events?entity_id={id}"), Some(&admin))
            .json()["items"]
            .as_array()
            .unwrap()
            .clone()
    };
    let v1 = create("1.0", vec![]);
    let v2 = create("1.1", vec![&v1]);
    let v1_row = app.get(&format!("/api/v1/firmware/{v1}"), Some(&maker.token)).json();
    assert_eq!(v1_row["status"], "previous");
    assert_eq!(
        v1_row["retirement_date"],
        Value::Null,
        "N-1 is not scheduled while it is the only previous"
    );
    let v3 = create("1.2", vec![&v2]);

    let retire_on = Utc::now().date_naive() + Duration::days(30);
    let v1_row = app.get(&format!("/api/v1/firmware/{v1}"), Some(&maker.token)).json();
    assert_eq!(v1_row["retirement_date"], retire_on.to_string(), "{v1_row}");
    assert_eq!(v1_row["successor_id"], v3.as_str());
    assert_eq!(status_of(&app, &maker.token, &v2), "previous");
    // The reminder clock (also ticking) may add `firmware.retiring_soon`: not counted here.
    let kinds = |items: &[Value]| {
        items
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_string())
            .filter(|k| k != "firmware.retiring_soon")
            .collect::<Vec<_>>()
    };
    let events = events_of(&v1);
    assert_eq!(kinds(&events), ["firmware.superseded", "firmware.retirement_scheduled"]);
    let scheduled = events
        .iter()
        .find(|e| e["kind"] == "firmware.retirement_scheduled")
        .unwrap();
    let summary = scheduled["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!("will retire on {retire_on}"))
            && summary.contains("successor is 1.2")
            && summary.contains("by exception in 2 hops (1.0 -> 1.1 -> 1.2)"),
        "{summary}"
    );
    assert_eq!(scheduled["details"]["upgrade_hops"].as_array().unwrap().len(), 2);
    let superseded = &events_of(&v2)[0];
    assert_eq!(superseded["kind"], "firmware.superseded");
    assert!(
        superseded["summary"]
            .as_str()
            .unwrap()
            .contains("single OTA hop to 1.2"),
        "{superseded}"
    );

    // The sweep on the retirement date retires it once.
    let sweep = |day| app.with_db(|conn| uit_portal::catalogue::retirement::sweep(conn, day).unwrap());
    assert_eq!(sweep(retire_on - Duration::days(1)), 0);
    assert_eq!(sweep(retire_on), 1);
    assert_eq!(sweep(retire_on), 0);
    assert_eq!(status_of(&app, &maker.token, &v1), "retired");
    assert_eq!(kinds(&events_of(&v1)).last().unwrap(), "firmware.retired");

    // The running clock does it by itself.
    let yesterday = Utc::now().date_naive() - Duration::days(1);
    app.patch(
        &format!("/api/v1/firmware/{v2}"),
        Some(&maker.token),
        &json!({ "retirement_date": yesterday }),
    )
    .expect(200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(8);
    while status_of(&app, &maker.token, &v2) != "retired" {
        assert!(std::time::Instant::now() < deadline, "the clock did not retire {v2}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(status_of(&app, &maker.token, &v3), "deployed");
}
