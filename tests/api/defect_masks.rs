//! Defect masks: who publishes and edits them, their rules, status events and adoptions.

use serde_json::json;

use crate::fixtures::{firmware, world};
use crate::helpers::TestApp;

#[test]
fn masks_are_published_by_participants_edited_by_their_owner_and_adopted_by_anyone_who_tests() {
    let app = TestApp::spawn();
    let w = world(&app);
    let other_fw = firmware(
        &app,
        &w.admin,
        &crate::fixtures::product(&app, &w.admin, &w.maker.org_id, "IHD"),
        "9",
        "deployed",
    );
    let body = |code: &str| {
        json!({ "code": code, "title": "Join fails after hub swap", "severity": "major", "device_model_id": w.esme_model,
                "affected_firmware_ids": [w.esme_fw], "symptom": "ESME leaves the HAN", "workaround": "re-pair" })
    };
    let created = app.post("/api/v1/defect-masks", Some(&w.a.token), &body("dm-0042"));
    created.expect(201);
    let mask = created.json();
    assert_eq!(mask["code"], "DM-0042");
    assert_eq!(mask["status"], "open");
    assert_eq!(mask["owner_org_id"], w.a.org_id.as_str());
    assert_eq!(mask["affected_firmware_ids"], json!([w.esme_fw]));
    let dup = app.post("/api/v1/defect-masks", Some(&w.b.token), &body("DM-0042"));
    assert_eq!(
        dup.expect_code(409, "defect_mask_code_taken")["context"]["existing_id"],
        mask["id"]
    );
    app.post("/api/v1/defect-masks", Some(&w.reviewer.token), &body("DM-1"))
        .expect_code(403, "forbidden");
    app.post("/api/v1/defect-masks", Some(&w.a_viewer.token), &body("DM-2"))
        .expect_code(403, "forbidden");
    let mut wrong = body("DM-3");
    wrong["affected_firmware_ids"] = json!([other_fw]);
    app.post("/api/v1/defect-masks", Some(&w.a.token), &wrong)
        .expect_code(422, "validation_failed");
    app.post("/api/v1/defect-masks", Some(&w.a.token), &body("bad code!"))
        .expect_code(422, "validation_failed");

    let path = format!("/api/v1/defect-masks/{}", mask["id"].as_str().unwrap());
    app.patch(&path, Some(&w.b.token), &json!({ "status": "fixed" }))
        .expect_code(403, "forbidden");
    app.patch(&path, Some(&w.a.token), &json!({ "status": "mitigated" }))
        .expect(200);
    app.patch(&path, Some(&w.admin), &json!({ "status": "fixed" }))
        .expect(200);
    let events = app
        .get(
            &format!("/api/v1/change-events?entity_id={}", mask["id"].as_str().unwrap()),
            Some(&w.admin),
        )
        .json();
    let kinds: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "defect_mask.published",
            "defect_mask.status_changed",
            "defect_mask.status_changed"
        ]
    );
    assert_eq!(events["items"][2]["details"]["from"], "mitigated");
    assert_eq!(events["items"][2]["details"]["to"], "fixed");
    assert!(events["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["topic"] == "defect_masks"));

    let adopt = format!("{path}/adoptions");
    app.post(&adopt, Some(&w.b.token), &json!({})).expect(201);
    app.post(&adopt, Some(&w.b.token), &json!({})).expect(200);
    app.post(&adopt, Some(&w.outsider.token), &json!({})).expect(201);
    app.post(&adopt, Some(&w.reviewer.token), &json!({}))
        .expect_code(403, "forbidden");
    let adoptions = app.get(&adopt, Some(&w.reviewer.token)).json();
    assert_eq!(adoptions["items"].as_array().unwrap().len(), 2);
    assert_eq!(app.get(&path, Some(&w.reviewer.token)).json()["adoption_count"], 2);

    let by_fw = app
        .get(
            &format!("/api/v1/defect-masks?firmware_id={}", w.esme_fw),
            Some(&w.reviewer.token),
        )
        .json();
    assert_eq!(by_fw["items"].as_array().unwrap().len(), 1);
    let open = app
        .get("/api/v1/defect-masks?status=open", Some(&w.reviewer.token))
        .json();
    assert!(open["items"].as_array().unwrap().is_empty());
}
