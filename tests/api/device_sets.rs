//! Device sets: membership rules, identity, filters and permissions.

use serde_json::json;

use crate::fixtures::{firmware, product};
use crate::helpers::{at_once, TestApp};

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
    let results = at_once(12, |_| app.post("/api/v1/device-sets", Some(&e.admin), &body));
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
    let ids = |path: &str| app.get(path, t).expect(200).ids();
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

#[test]
fn a_set_says_what_it_is_and_results_embed_it_on_request() {
    let app = TestApp::spawn();
    let e = estate(&app);
    let supplier = app.user_in_new_org(&e.admin, "supplier", "member");
    let created = app.post(
        "/api/v1/device-sets",
        Some(&supplier.token),
        &json!({ "name": "Hub + meter + IHD", "firmware_ids": [e.ihd_fw, e.esme_fw, e.hub_fw], "prevalence": 1200 }),
    );
    created.expect(201);
    let set = created.json();
    let composition = &set["composition"];
    assert_eq!(composition["comms_hub"]["firmware_id"], e.hub_fw.as_str());
    assert_eq!(composition["comms_hub"]["firmware_version"], "2.3");
    assert_eq!(composition["comms_hub"]["device_model_id"], e.hub.as_str());
    assert_eq!(composition["comms_hub"]["manufacturer_org_id"], e.maker.org_id.as_str());
    let devices: Vec<(&str, &str, &str)> = composition["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["device_type"].as_str().unwrap(),
                d["firmware_version"].as_str().unwrap(),
                d["device_model_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(devices[0], ("ESME", "1.0", e.esme.as_str()));
    assert_eq!((devices[1].0, devices[1].1), ("IHD", "7"));
    let maker = composition["devices"][0]["manufacturer_name"].as_str().unwrap();
    assert!(maker.starts_with("Org manufacturer-"));
    let summary = composition["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("CHF: ") && summary.contains(" + ESME: ") && summary.contains(" 1.0"),
        "{summary}"
    );
    assert!(set["created_by_org_name"]
        .as_str()
        .unwrap()
        .starts_with("Org supplier-"));

    let id = set["id"].as_str().unwrap();
    let got = app
        .get(&format!("/api/v1/device-sets/{id}"), Some(&supplier.token))
        .json();
    assert_eq!(got["composition"], set["composition"]);
    let listed = app
        .get(
            &format!("/api/v1/device-sets?firmware_id={}", e.ihd_fw),
            Some(&supplier.token),
        )
        .json();
    assert_eq!(listed["items"][0]["composition"], set["composition"]);

    // A result names its organisation, set and scenario, and embeds the set on request.
    let release = app.post(
        "/api/v1/releases",
        Some(&e.admin),
        &json!({ "name": "R-compose", "kind": "sec_release", "firmware_ids": [e.hub_fw2] }),
    );
    release.expect(201);
    let window = crate::fixtures::open_window(&app, &e.admin, &release.id());
    let published = crate::fixtures::publish(
        &app,
        &supplier.token,
        &window,
        id,
        "install_and_commission",
        "pass",
        "industry",
    );
    published.expect(201);
    let result = published.json();
    assert_eq!(result["device_set_name"], "Hub + meter + IHD");
    assert_eq!(result["org_name"], set["created_by_org_name"]);
    assert!(!result["scenario_title"].as_str().unwrap().is_empty());
    assert!(result.get("device_set").is_none());
    let path = format!("/api/v1/results/{}?embed=device_set", result["id"].as_str().unwrap());
    let embedded = app.get(&path, Some(&e.maker.token)).json();
    assert_eq!(embedded["device_set"]["composition"], set["composition"]);
    let list = app
        .get(
            &format!("/api/v1/results?uit_window_id={window}&embed=device_set"),
            Some(&e.maker.token),
        )
        .json();
    assert_eq!(list["items"][0]["device_set"]["composition"], set["composition"]);
    assert_eq!(list["items"][0]["device_set"]["name"], "Hub + meter + IHD");
}
