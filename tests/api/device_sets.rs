//! Device sets: membership rules, identity, filters and permissions.

use serde_json::json;

use crate::catalogue::{firmware, product};
use crate::helpers::TestApp;

/// A manufacturer with a Comms Hub, an ESME and an IHD product, each with firmware.
struct Estate {
    admin: String,
    maker: crate::helpers::TestUser,
    hub: String,
    hub_fw: String,
    hub_fw2: String,
    esme: String,
    esme_fw: String,
    ihd_fw: String,
}

fn estate(app: &TestApp) -> Estate {
    let admin = app.admin_token();
    let maker = app.user_in_new_org(&admin, "manufacturer", "member");
    let hub = product(app, &admin, &maker.org_id, "CHF");
    let esme = product(app, &maker.token, &maker.org_id, "ESME");
    let ihd = product(app, &maker.token, &maker.org_id, "IHD");
    Estate {
        hub_fw: firmware(app, &admin, &hub, "2.3", "deployed"),
        hub_fw2: firmware(app, &admin, &hub, "2.4", "approved"),
        esme_fw: firmware(app, &maker.token, &esme, "1.0", "deployed"),
        ihd_fw: firmware(app, &maker.token, &ihd, "7", "deployed"),
        admin,
        maker,
        hub,
        esme,
    }
}

#[test]
fn a_set_is_one_comms_hub_plus_devices_and_its_membership_is_its_identity() {
    let app = TestApp::spawn();
    let e = estate(&app);
    let supplier = app.user_in_new_org(&e.admin, "supplier", "member");
    let t = Some(supplier.token.as_str());
    let created = app.post(
        "/api/v1/device-sets",
        t,
        &json!({ "name": "Hub + meter", "firmware_ids": [e.esme_fw, e.hub_fw], "prevalence": 1200 }),
    );
    created.expect(201);
    let set = created.json();
    assert_eq!(set["comms_hub_firmware_id"], e.hub_fw.as_str());
    let mut members = vec![e.esme_fw.clone(), e.hub_fw.clone()];
    members.sort();
    assert_eq!(set["firmware_ids"], json!(members));

    let same = app.post(
        "/api/v1/device-sets",
        t,
        &json!({ "name": "Same again", "firmware_ids": [e.hub_fw, e.esme_fw] }),
    );
    assert_eq!(
        same.expect_code(409, "device_set_exists")["context"]["existing_id"],
        set["id"]
    );

    for (why, ids) in [
        ("no hub", json!([e.esme_fw, e.ihd_fw])),
        ("two hubs", json!([e.hub_fw, e.hub_fw2, e.esme_fw])),
        ("hub alone", json!([e.hub_fw])),
        ("only hubs", json!([e.hub_fw, e.hub_fw2])),
        (
            "unknown firmware",
            json!([e.hub_fw, "01900000-0000-7000-8000-000000000000"]),
        ),
        ("repeated", json!([e.hub_fw, e.esme_fw, e.esme_fw])),
    ] {
        let resp = app.post("/api/v1/device-sets", t, &json!({ "name": why, "firmware_ids": ids }));
        assert_eq!(resp.status, 422, "{why}: {}", resp.body);
        resp.expect_code(422, "validation_failed");
    }
    app.post(
        "/api/v1/device-sets",
        t,
        &json!({ "name": "neg", "firmware_ids": [e.hub_fw, e.ihd_fw], "prevalence": -1 }),
    )
    .expect_code(422, "validation_failed");
    let three = app.post(
        "/api/v1/device-sets",
        t,
        &json!({ "name": "Hub + meter + IHD", "firmware_ids": [e.hub_fw, e.esme_fw, e.ihd_fw] }),
    );
    three.expect(201);
}

#[test]
fn concurrent_registrations_of_one_membership_create_one_set() {
    let app = TestApp::spawn();
    let e = estate(&app);
    let body = json!({ "name": "race", "firmware_ids": [e.hub_fw, e.esme_fw, e.ihd_fw] });
    let results: Vec<(u16, serde_json::Value)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..12)
            .map(|_| {
                s.spawn(|| {
                    let r = app.post("/api/v1/device-sets", Some(&e.admin), &body);
                    (r.status, r.json())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners: Vec<_> = results.iter().filter(|(s, _)| *s == 201).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    let id = &winners[0].1["id"];
    for (status, body) in results.iter().filter(|(s, _)| *s != 201) {
        assert_eq!(*status, 409, "{body}");
        assert_eq!(&body["context"]["existing_id"], id);
    }
}

#[test]
fn lists_filter_by_firmware_product_and_prevalence() {
    let app = TestApp::spawn();
    let e = estate(&app);
    let t = Some(e.admin.as_str());
    let a = app
        .post(
            "/api/v1/device-sets",
            t,
            &json!({ "name": "a", "firmware_ids": [e.hub_fw, e.esme_fw], "prevalence": 10 }),
        )
        .json();
    let b = app
        .post(
            "/api/v1/device-sets",
            t,
            &json!({ "name": "b", "firmware_ids": [e.hub_fw, e.ihd_fw], "prevalence": 500 }),
        )
        .json();
    let c = app
        .post(
            "/api/v1/device-sets",
            t,
            &json!({ "name": "c", "firmware_ids": [e.hub_fw2, e.esme_fw, e.ihd_fw], "prevalence": 50 }),
        )
        .json();
    let ids = |path: &str| -> Vec<String> {
        let resp = app.get(path, t);
        resp.expect(200);
        resp.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    };
    let id = |v: &serde_json::Value| v["id"].as_str().unwrap().to_string();
    assert_eq!(
        ids(&format!("/api/v1/device-sets?firmware_id={}", e.esme_fw)),
        [id(&a), id(&c)]
    );
    assert_eq!(
        ids(&format!("/api/v1/device-sets?firmware_id={}", e.hub_fw)),
        [id(&a), id(&b)]
    );
    assert_eq!(
        ids(&format!("/api/v1/device-sets?device_model_id={}", e.hub)),
        [id(&a), id(&b), id(&c)]
    );
    assert_eq!(
        ids(&format!(
            "/api/v1/device-sets?device_model_id={}&min_prevalence=20",
            e.esme
        )),
        [id(&c)]
    );
    assert_eq!(ids("/api/v1/device-sets?min_prevalence=100"), [id(&b)]);
    let first = app.get("/api/v1/device-sets?limit=2", t);
    assert_eq!(first.json()["items"].as_array().unwrap().len(), 2);
    let next = first.json()["next_cursor"].as_str().unwrap().to_string();
    assert_eq!(ids(&format!("/api/v1/device-sets?limit=2&cursor={next}")), [id(&c)]);
    app.get("/api/v1/device-sets?min_prevalence=lots", t)
        .expect_code(400, "invalid_query");
}

#[test]
fn prevalence_is_updated_by_the_registering_org_or_the_operator_and_reviewers_only_read() {
    let app = TestApp::spawn();
    let e = estate(&app);
    let supplier = app.user_in_new_org(&e.admin, "supplier", "member");
    let rival = app.user_in_new_org(&e.admin, "supplier", "admin");
    let reviewer = app.user_in_new_org(&e.admin, "reviewer", "admin");
    let viewer = app.invite_user(&e.admin, &supplier.org_id, "viewer");
    let body = json!({ "name": "s", "firmware_ids": [e.hub_fw, e.esme_fw] });
    app.post("/api/v1/device-sets", Some(&reviewer.token), &body)
        .expect_code(403, "forbidden");
    app.post("/api/v1/device-sets", Some(&viewer.token), &body)
        .expect_code(403, "forbidden");
    let set = app.post("/api/v1/device-sets", Some(&supplier.token), &body).json();
    let path = format!("/api/v1/device-sets/{}", set["id"].as_str().unwrap());

    app.patch(&path, Some(&rival.token), &json!({ "prevalence": 1 }))
        .expect_code(403, "forbidden");
    app.patch(&path, Some(&reviewer.token), &json!({ "prevalence": 1 }))
        .expect_code(403, "forbidden");
    app.patch(&path, Some(&supplier.token), &json!({ "firmware_ids": [] }))
        .expect(400);
    let etag = app.get(&path, Some(&reviewer.token)).header("etag").unwrap();
    let updated = app.send(
        "PATCH",
        &path,
        Some(&supplier.token),
        &[("if-match", &etag)],
        Some(("application/json", br#"{"prevalence":4321}"#.to_vec())),
    );
    updated.expect(200);
    assert_eq!(updated.json()["prevalence"], 4321);
    app.send(
        "PATCH",
        &path,
        Some(&e.admin),
        &[("if-match", &etag)],
        Some(("application/json", br#"{"prevalence":1}"#.to_vec())),
    )
    .expect_code(412, "precondition_failed");
    app.patch(&path, Some(&e.admin), &json!({ "prevalence": 99 }))
        .expect(200);
    let _ = &e.maker;
}
