//! Issue 13 part 5: firmware status moves, a release's firmware list and a defect mask's
//! fields other than its status are change events, each saying what changed.

use serde_json::{json, Value};

use crate::fixtures::{firmware, product, world};
use crate::helpers::TestApp;
use crate::releases::events;

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["kind"].as_str().unwrap()).collect()
}

#[test]
fn every_firmware_status_move_is_an_event_with_from_and_to() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let maker = app.user_in_new_org(&admin, "manufacturer", "member");
    let model = product(&app, &maker.token, &maker.org_id, "ESME");
    let fw = firmware(&app, &maker.token, &model, "2.0", "planned");
    let dropped = firmware(&app, &maker.token, &model, "2.1", "planned");
    for status in ["in_test", "approved", "deployed"] {
        app.patch(
            &format!("/api/v1/firmware/{fw}"),
            Some(&maker.token),
            &json!({ "status": status }),
        )
        .expect(200);
    }
    app.patch(
        &format!("/api/v1/firmware/{dropped}"),
        Some(&maker.token),
        &json!({ "status": "withdrawn" }),
    )
    .expect(200);
    // A change of notes alone is no event.
    app.patch(
        &format!("/api/v1/firmware/{fw}"),
        Some(&maker.token),
        &json!({ "notes": "n" }),
    )
    .expect(200);

    let moves: Vec<Value> = events(&app, &admin, &fw)
        .into_iter()
        .filter(|e| e["kind"] != "firmware.retiring_soon")
        .collect();
    assert_eq!(kinds(&moves), ["firmware.status_changed"; 3]);
    let steps: Vec<(&str, &str)> = moves
        .iter()
        .map(|e| {
            (
                e["details"]["from"].as_str().unwrap(),
                e["details"]["to"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("planned", "in_test"),
            ("in_test", "approved"),
            ("approved", "deployed")
        ]
    );
    let last = &moves[2];
    assert_eq!(last["topic"], "retirements");
    assert_eq!(last["details"]["field"], "status");
    assert_eq!(last["device_model_ids"], json!([model]));
    assert!(
        last["summary"]
            .as_str()
            .unwrap()
            .ends_with("firmware 2.0 is now deployed, was approved"),
        "{last}"
    );
    let withdrawn = events(&app, &admin, &dropped);
    assert_eq!(kinds(&withdrawn), ["firmware.status_changed"]);
    assert!(withdrawn[0]["summary"]
        .as_str()
        .unwrap()
        .ends_with("is now withdrawn, was planned"));
}

#[test]
fn a_release_firmware_list_change_names_what_it_adds_and_drops_to_both_products() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let maker = app.user_in_new_org(&admin, "manufacturer", "member");
    let hub = product(&app, &admin, &maker.org_id, "CHF");
    let esme = product(&app, &maker.token, &maker.org_id, "ESME");
    let hub_fw = firmware(&app, &admin, &hub, "4.2", "in_test");
    let esme_fw = firmware(&app, &maker.token, &esme, "1.7", "in_test");
    let created = app.post(
        "/api/v1/releases",
        Some(&admin),
        &json!({ "name": "R-firmware-list", "kind": "sec_release", "firmware_ids": [hub_fw] }),
    );
    created.expect(201);
    let rid = created.id();
    let path = format!("/api/v1/releases/{rid}");
    app.patch(&path, Some(&admin), &json!({ "firmware_ids": [esme_fw] }))
        .expect(200);
    // The same list again changes nothing and says nothing.
    app.patch(&path, Some(&admin), &json!({ "firmware_ids": [esme_fw] }))
        .expect(200);

    let changes: Vec<Value> = events(&app, &admin, &rid)
        .into_iter()
        .filter(|e| e["kind"] == "release.firmware_changed")
        .collect();
    assert_eq!(changes.len(), 1, "{changes:?}");
    let change = &changes[0];
    assert_eq!(change["topic"], "releases");
    let added = &change["details"]["added"];
    let removed = &change["details"]["removed"];
    assert_eq!(added.as_array().unwrap().len(), 1);
    assert_eq!(added[0]["id"], esme_fw.as_str());
    assert!(added[0]["label"].as_str().unwrap().ends_with("(ESME) 1.7"), "{added}");
    assert_eq!(removed[0]["id"], hub_fw.as_str());
    let summary = change["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("Release R-firmware-list firmware changed: adds ")
            && summary.contains("(ESME) 1.7; drops ")
            && summary.ends_with("(CHF) 4.2"),
        "{summary}"
    );
    // Subscribers of the product that left are told as well as those of the one that came.
    let mut models = change["device_model_ids"].as_array().unwrap().clone();
    models.sort_by_key(|m| m.as_str().unwrap().to_string());
    let mut want = vec![json!(hub), json!(esme)];
    want.sort_by_key(|m| m.as_str().unwrap().to_string());
    assert_eq!(models, want);
}

#[test]
fn a_defect_mask_change_of_other_fields_names_each_field() {
    let app = TestApp::spawn();
    let w = world(&app);
    let fixed_in = firmware(&app, &w.maker.token, &w.esme_model, "1.1", "in_test");
    let created = app.post(
        "/api/v1/defect-masks",
        Some(&w.a.token),
        &json!({ "code": "DM-0077", "title": "Join fails", "severity": "major", "device_model_id": w.esme_model,
                 "affected_firmware_ids": [w.esme_fw], "symptom": "ESME leaves the HAN", "workaround": "re-pair" }),
    );
    created.expect(201);
    let id = created.id();
    let path = format!("/api/v1/defect-masks/{id}");
    app.patch(
        &path,
        Some(&w.a.token),
        &json!({ "severity": "critical", "workaround": "power-cycle the hub", "fixed_in_firmware_id": fixed_in }),
    )
    .expect(200);
    // Status alone keeps its own event; nothing else is told twice.
    app.patch(&path, Some(&w.a.token), &json!({ "status": "fixed" }))
        .expect(200);

    let all = events(&app, &w.admin, &id);
    assert_eq!(
        kinds(&all),
        [
            "defect_mask.published",
            "defect_mask.updated",
            "defect_mask.status_changed"
        ]
    );
    let updated = &all[1];
    assert_eq!(updated["topic"], "defect_masks");
    assert_eq!(
        updated["details"]["fields"],
        json!(["severity", "workaround", "fixed_in_firmware_id"])
    );
    let changes = updated["details"]["changes"].as_array().unwrap();
    assert_eq!(
        changes[0],
        json!({ "field": "severity", "from": "major", "to": "critical" })
    );
    assert_eq!(changes[1]["to"], "power-cycle the hub");
    assert_eq!(changes[2]["to"]["id"], fixed_in.as_str());
    let summary = updated["summary"].as_str().unwrap();
    assert!(
        summary.starts_with(
            "Defect mask DM-0077 changed: severity now critical, was major; workaround updated; fixed in "
        ) && summary.ends_with("(ESME) 1.1"),
        "{summary}"
    );
    assert_eq!(updated["device_model_ids"], json!([w.esme_model]));
}
