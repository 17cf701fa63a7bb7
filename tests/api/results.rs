//! Results: visibility in every read path, lead flags, amendments with revisions, batches and
//! JUnit uploads. Also the shared fixture of the claims, matrix and defect-mask tests.

use serde_json::{json, Value};

use crate::catalogue::{firmware, product};
use crate::helpers::{Resp, TestApp, TestUser};

pub const SCENARIOS: [&str; 4] = [
    "install_and_commission",
    "prepayment_top_up",
    "comms_hub_replacement",
    "change_of_mode",
];

/// A UIT window in progress: a release with a new hub firmware, sets containing it, an open
/// window, and organisations in every role.
pub struct World {
    pub admin: String,
    pub maker: TestUser,
    pub a: TestUser,
    pub b: TestUser,
    pub outsider: TestUser,
    pub reviewer: TestUser,
    pub a_viewer: TestUser,
    pub esme_model: String,
    pub esme_fw: String,
    pub sets: Vec<String>,
    pub release: String,
    pub window: String,
}

pub fn world(app: &TestApp) -> World {
    let admin = app.admin_token();
    let maker = app.user_in_new_org(&admin, "manufacturer", "member");
    let a = app.user_in_new_org(&admin, "supplier", "member");
    let b = app.user_in_new_org(&admin, "supplier", "member");
    let outsider = app.user_in_new_org(&admin, "supplier", "admin");
    let reviewer = app.user_in_new_org(&admin, "reviewer", "admin");
    let a_viewer = app.invite_user(&admin, &a.org_id, "viewer");
    let hub = product(app, &admin, &maker.org_id, "CHF");
    let esme_model = product(app, &maker.token, &maker.org_id, "ESME");
    let gsme = product(app, &maker.token, &maker.org_id, "GSME");
    let hub_new = firmware(app, &admin, &hub, "3.0", "in_test");
    let esme_fw = firmware(app, &maker.token, &esme_model, "1.0", "deployed");
    let gsme_fw = firmware(app, &maker.token, &gsme, "2.0", "deployed");
    let mut sets = Vec::new();
    for (members, prevalence) in [
        (vec![hub_new.clone(), esme_fw.clone()], 5000),
        (vec![hub_new.clone(), gsme_fw.clone()], 300),
        (vec![hub_new.clone(), esme_fw.clone(), gsme_fw.clone()], 20000),
    ] {
        let resp = app.post(
            "/api/v1/device-sets",
            Some(&admin),
            &json!({ "name": format!("set {prevalence}"), "firmware_ids": members, "prevalence": prevalence }),
        );
        resp.expect(201);
        sets.push(resp.json()["id"].as_str().unwrap().to_string());
    }
    let release = app.post("/api/v1/releases", Some(&admin), &json!({ "name": format!("R-{}", uuid::Uuid::new_v4().simple()), "kind": "sec_release", "firmware_ids": [hub_new] }));
    release.expect(201);
    let release = release.json()["id"].as_str().unwrap().to_string();
    let window = open_window(app, &admin, &release);
    for user in [&a, &b] {
        app.post(
            &format!("/api/v1/uit-windows/{window}/participants"),
            Some(&user.token),
            &json!({}),
        )
        .expect(201);
    }
    World {
        admin,
        maker,
        a,
        b,
        outsider,
        reviewer,
        a_viewer,
        esme_model,
        esme_fw,
        sets,
        release,
        window,
    }
}

/// An open window of `release` (opened an hour ago, closing in ten days).
pub fn open_window(app: &TestApp, admin: &str, release: &str) -> String {
    let now = chrono::Utc::now();
    let resp = app.post(
        "/api/v1/uit-windows",
        Some(admin),
        &json!({
            "release_id": release,
            "name": format!("UIT-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
            "opens_at": (now - chrono::Duration::hours(1)).to_rfc3339(),
            "closes_at": (now + chrono::Duration::days(10)).to_rfc3339(),
        }),
    );
    resp.expect(201);
    resp.json()["id"].as_str().unwrap().to_string()
}

pub fn publish(
    app: &TestApp,
    token: &str,
    window: &str,
    set: &str,
    scenario: &str,
    outcome: &str,
    visibility: &str,
) -> Resp {
    app.post(
        "/api/v1/results",
        Some(token),
        &json!({ "uit_window_id": window, "device_set_id": set, "scenario": scenario, "outcome": outcome,
                 "visibility": visibility, "executed_at": "2026-11-20T10:00:00Z" }),
    )
}

fn ids(resp: &Resp) -> Vec<String> {
    resp.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn visibility_decides_who_sees_a_result_in_every_read_path() {
    let app = TestApp::spawn();
    let w = world(&app);
    let mut published = Vec::new();
    for (scenario, visibility) in [
        (SCENARIOS[0], "private"),
        (SCENARIOS[1], "participants"),
        (SCENARIOS[2], "industry"),
    ] {
        let resp = publish(&app, &w.a.token, &w.window, &w.sets[0], scenario, "fail", visibility);
        resp.expect(201);
        published.push(resp.json()["id"].as_str().unwrap().to_string());
    }
    let (private, participants, industry) = (&published[0], &published[1], &published[2]);
    // (who, token, sees private, sees participants, sees industry)
    let cases = [
        ("own org", w.a.token.clone(), true, true, true),
        ("own org viewer", w.a_viewer.token.clone(), true, true, true),
        ("participant org", w.b.token.clone(), false, true, true),
        ("non-participant org", w.outsider.token.clone(), false, false, true),
        ("reviewer", w.reviewer.token.clone(), false, false, true),
        ("operator", w.admin.clone(), false, true, true),
    ];
    for (who, token, p, s, i) in cases {
        let expected: Vec<&String> = [(p, private), (s, participants), (i, industry)]
            .iter()
            .filter(|(v, _)| *v)
            .map(|(_, id)| *id)
            .collect();
        let listed = app.get(&format!("/api/v1/results?uit_window_id={}", w.window), Some(&token));
        listed.expect(200);
        assert_eq!(ids(&listed).iter().collect::<Vec<_>>(), expected, "list for {who}");
        for (visible, id) in [(p, private), (s, participants), (i, industry)] {
            let got = app.get(&format!("/api/v1/results/{id}"), Some(&token));
            assert_eq!(got.status, if visible { 200 } else { 404 }, "get {id} for {who}");
            let revisions = app.get(&format!("/api/v1/results/{id}/revisions"), Some(&token));
            assert_eq!(revisions.status, if visible { 200 } else { 404 }, "revisions for {who}");
        }
        let matrix = app
            .get(&format!("/api/v1/uit-windows/{}/matrix", w.window), Some(&token))
            .json();
        let row = matrix["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["device_set_id"] == w.sets[0].as_str())
            .unwrap();
        for (visible, scenario) in [(p, SCENARIOS[0]), (s, SCENARIOS[1]), (i, SCENARIOS[2])] {
            let cell = &row["cells"][scenario];
            assert_eq!(
                cell["worst"],
                if visible { json!("fail") } else { Value::Null },
                "matrix {scenario} for {who}"
            );
        }
        let coverage = app
            .get(&format!("/api/v1/uit-windows/{}/coverage", w.window), Some(&token))
            .json();
        let item = coverage["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["device_set_id"] == w.sets[0].as_str())
            .unwrap();
        let seen: i64 = item["scenarios"]
            .as_object()
            .unwrap()
            .values()
            .map(|c| c["results"].as_i64().unwrap())
            .sum();
        assert_eq!(seen, expected.len() as i64, "coverage for {who}");
        let csv = app.send(
            "GET",
            &format!("/api/v1/uit-windows/{}/matrix", w.window),
            Some(&token),
            &[("accept", "text/csv")],
            None,
        );
        let fails = csv
            .body
            .lines()
            .filter(|l| l.contains(&w.sets[0]) && l.split(',').nth(5) == Some("fail"))
            .count();
        assert_eq!(fails, expected.len(), "CSV for {who}: {}", csv.body);
    }
    // The private result's existence does not leak: same 404 as a missing id.
    let hidden = app.get(&format!("/api/v1/results/{private}"), Some(&w.b.token));
    let missing = app.get("/api/v1/results/01900000-0000-7000-8000-000000000000", Some(&w.b.token));
    assert_eq!(hidden.body, missing.body);
}

#[test]
fn one_current_result_per_key_lead_from_the_claim_and_amendments_keep_revisions() {
    let app = TestApp::spawn();
    let w = world(&app);
    app.post(
        &format!("/api/v1/uit-windows/{}/claims", w.window),
        Some(&w.a.token),
        &json!({ "device_set_id": w.sets[0] }),
    )
    .expect(201);
    let first = publish(
        &app,
        &w.a.token,
        &w.window,
        &w.sets[0],
        SCENARIOS[0],
        "pass",
        "industry",
    );
    first.expect(201);
    let result = first.json();
    assert_eq!(result["lead"], true);
    assert_eq!(result["revision"], 1);
    let other = publish(
        &app,
        &w.b.token,
        &w.window,
        &w.sets[0],
        SCENARIOS[0],
        "fail",
        "industry",
    );
    assert_eq!(other.json()["lead"], false);
    let again = publish(
        &app,
        &w.a.token,
        &w.window,
        &w.sets[0],
        SCENARIOS[0],
        "fail",
        "industry",
    );
    assert_eq!(
        again.expect_code(409, "result_exists")["context"]["existing_id"],
        result["id"]
    );
    let bad = publish(
        &app,
        &w.a.token,
        &w.window,
        &w.sets[0],
        "not_a_scenario",
        "pass",
        "industry",
    );
    assert_eq!(
        bad.expect_code(422, "validation_failed")["errors"][0]["field"],
        "scenario"
    );
    publish(
        &app,
        &w.reviewer.token,
        &w.window,
        &w.sets[0],
        SCENARIOS[1],
        "pass",
        "industry",
    )
    .expect_code(403, "forbidden");
    publish(
        &app,
        &w.a_viewer.token,
        &w.window,
        &w.sets[0],
        SCENARIOS[1],
        "pass",
        "industry",
    )
    .expect_code(403, "forbidden");

    let path = format!("/api/v1/results/{}", result["id"].as_str().unwrap());
    let etag = app.get(&path, Some(&w.a.token)).header("etag").unwrap();
    app.patch(&path, Some(&w.b.token), &json!({ "outcome": "fail" }))
        .expect_code(403, "forbidden");
    let amended = app.send(
        "PATCH",
        &path,
        Some(&w.a.token),
        &[("if-match", &etag)],
        Some((
            "application/json",
            br#"{"outcome":"pass_with_observations","notes":"slow join"}"#.to_vec(),
        )),
    );
    amended.expect(200);
    assert_eq!(amended.json()["revision"], 2);
    app.send(
        "PATCH",
        &path,
        Some(&w.a.token),
        &[("if-match", &etag)],
        Some(("application/json", br#"{"notes":"x"}"#.to_vec())),
    )
    .expect_code(412, "precondition_failed");
    let revisions = app.get(&format!("{path}/revisions"), Some(&w.b.token)).json();
    assert_eq!(revisions["items"].as_array().unwrap().len(), 1);
    assert_eq!(revisions["items"][0]["revision"], 1);
    assert_eq!(revisions["items"][0]["result"]["outcome"], "pass");

    // Releasing the claim clears the lead flag.
    let claims = app
        .get(&format!("/api/v1/uit-windows/{}/claims", w.window), Some(&w.a.token))
        .json();
    app.delete(
        &format!("/api/v1/claims/{}", claims["items"][0]["id"].as_str().unwrap()),
        Some(&w.a.token),
    )
    .expect(204);
    assert_eq!(app.get(&path, Some(&w.a.token)).json()["lead"], false);
}

fn batch_items(w: &World, outcome: &str) -> Vec<Value> {
    let mut items = Vec::new();
    for set in &w.sets {
        for scenario in SCENARIOS {
            items.push(
                json!({ "uit_window_id": w.window, "device_set_id": set, "scenario": scenario, "outcome": outcome,
                               "visibility": "participants", "executed_at": "2026-11-20T10:00:00Z" }),
            );
        }
    }
    items
}

fn count_results(app: &TestApp, w: &World) -> usize {
    app.get(
        &format!(
            "/api/v1/results?uit_window_id={}&org_id={}&limit=500",
            w.window, w.a.org_id
        ),
        Some(&w.a.token),
    )
    .json()["items"]
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn batches_are_all_or_nothing_upserts_and_replays_change_nothing() {
    let app = TestApp::spawn();
    let w = world(&app);
    let mut items = batch_items(&w, "pass");
    items[5]["scenario"] = json!("bogus");
    items[7]["device_set_id"] = json!("01900000-0000-7000-8000-000000000000");
    let rejected = app.post("/api/v1/results/batch", Some(&w.a.token), &json!({ "items": items }));
    let body = rejected.expect_code(422, "validation_failed");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["items[5].scenario", "items[7].device_set_id"]);
    assert_eq!(count_results(&app, &w), 0, "nothing of the rejected batch was written");

    let items = batch_items(&w, "pass");
    let first = app.post("/api/v1/results/batch", Some(&w.a.token), &json!({ "items": items }));
    first.expect(200);
    assert_eq!(
        (first.json()["created"].as_i64(), first.json()["unchanged"].as_i64()),
        (Some(12), Some(0))
    );
    let again = app.post("/api/v1/results/batch", Some(&w.a.token), &json!({ "items": items }));
    assert_eq!(
        (
            again.json()["created"].as_i64(),
            again.json()["updated"].as_i64(),
            again.json()["unchanged"].as_i64()
        ),
        (Some(0), Some(0), Some(12))
    );
    let a_result = first.json()["items"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        app.get(&format!("/api/v1/results/{a_result}"), Some(&w.a.token)).json()["revision"],
        1,
        "an identical re-submission is no amendment"
    );

    let mut changed = batch_items(&w, "pass");
    changed[0]["outcome"] = json!("fail");
    let update = app.post("/api/v1/results/batch", Some(&w.a.token), &json!({ "items": changed }));
    assert_eq!(
        (update.json()["updated"].as_i64(), update.json()["unchanged"].as_i64()),
        (Some(1), Some(11))
    );
    assert_eq!(count_results(&app, &w), 12);

    let body = json!({ "items": batch_items(&w, "blocked") }).to_string().into_bytes();
    let key = [("idempotency-key", "nightly-run-17")];
    let original = app.send(
        "POST",
        "/api/v1/results/batch",
        Some(&w.a.token),
        &key,
        Some(("application/json", body.clone())),
    );
    original.expect(200);
    let replay = app.send(
        "POST",
        "/api/v1/results/batch",
        Some(&w.a.token),
        &key,
        Some(("application/json", body)),
    );
    assert_eq!(
        replay.json(),
        original.json(),
        "the replay returns the original response"
    );
    assert_eq!(replay.header("idempotent-replayed").as_deref(), Some("true"));

    let too_many: Vec<Value> = (0..1001).map(|_| batch_items(&w, "pass")[0].clone()).collect();
    app.post("/api/v1/results/batch", Some(&w.a.token), &json!({ "items": too_many }))
        .expect_code(422, "validation_failed");
    app.post("/api/v1/results/batch", Some(&w.a.token), &json!({ "items": [] }))
        .expect_code(422, "validation_failed");
    app.post(
        "/api/v1/results/batch",
        Some(&w.reviewer.token),
        &json!({ "items": batch_items(&w, "pass") }),
    )
    .expect_code(403, "forbidden");
}

fn junit(app: &TestApp, w: &World, token: &str, xml: &str, content_type: &str) -> Resp {
    app.send(
        "POST",
        &format!(
            "/api/v1/results/junit?uit_window_id={}&device_set_id={}&visibility=industry",
            w.window, w.sets[1]
        ),
        Some(token),
        &[],
        Some((content_type, xml.as_bytes().to_vec())),
    )
}

#[test]
fn junit_reports_become_results_and_hostile_xml_is_a_clear_400() {
    let app = TestApp::spawn();
    let w = world(&app);
    let report = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites><testsuite name="nightly" timestamp="2026-11-20T22:00:00">
  <testcase name="install_and_commission" time="31.2"/>
  <testcase name="prepayment_top_up"><failure message="credit not applied">PPMID shows &lt;0&gt;</failure></testcase>
  <testcase name="comms_hub_replacement"><skipped/></testcase>
  <testcase name="change_of_mode"><error message="timeout"/></testcase>
</testsuite></testsuites>"#;
    let uploaded = junit(&app, &w, &w.b.token, report, "application/xml");
    uploaded.expect(200);
    assert_eq!(uploaded.json()["created"], 4);
    let results = app
        .get(
            &format!("/api/v1/results?device_set_id={}&org_id={}", w.sets[1], w.b.org_id),
            Some(&w.outsider.token),
        )
        .json();
    let mut outcomes: Vec<(String, String)> = results["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["scenario"].as_str().unwrap().to_string(),
                r["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    outcomes.sort();
    assert_eq!(
        outcomes,
        [
            ("change_of_mode".into(), "fail".into()),
            ("comms_hub_replacement".into(), "not_run".into()),
            ("install_and_commission".into(), "pass".into()),
            ("prepayment_top_up".into(), "fail".into())
        ]
    );
    let failing = results["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["scenario"] == "prepayment_top_up")
        .unwrap();
    assert_eq!(failing["notes"], "credit not applied\nPPMID shows <0>");
    assert_eq!(failing["executed_at"], "2026-11-20T22:00:00Z");
    assert_eq!(junit(&app, &w, &w.b.token, report, "text/xml").json()["unchanged"], 4);

    let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">]><testsuite><testcase name="install_and_commission"><failure>&lol2;</failure></testcase></testsuite>"#;
    let body = junit(&app, &w, &w.b.token, laughs, "application/xml").expect_code(400, "invalid_junit");
    assert!(body["detail"].as_str().unwrap().contains("DOCTYPE"));
    junit(&app, &w, &w.b.token, "<testsuite><testcase name=", "application/xml").expect_code(400, "invalid_junit");
    junit(&app, &w, &w.b.token, report, "application/json").expect_code(415, "unsupported_media_type");
    let unknown = r#"<testsuite><testcase name="not_a_scenario"/></testsuite>"#;
    assert_eq!(
        junit(&app, &w, &w.b.token, unknown, "application/xml").expect_code(422, "validation_failed")["errors"][0]
            ["field"],
        "items[0].scenario"
    );
    let path = format!("/api/v1/results/junit?uit_window_id={}", w.window);
    app.send(
        "POST",
        &path,
        Some(&w.b.token),
        &[],
        Some(("application/xml", report.as_bytes().to_vec())),
    )
    .expect_code(400, "invalid_query");
}
