//! Coverage and the matrix: scope, states, worst outcomes, known issues and CSV.

use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::results::{publish, world, SCENARIOS};

#[test]
fn known_issues_are_failures_explained_by_a_live_defect_mask() {
    let app = TestApp::spawn();
    let w = world(&app);
    let mask = app.post(
        "/api/v1/defect-masks",
        Some(&w.b.token),
        &json!({ "code": "DM-7", "title": "t", "severity": "minor", "device_model_id": w.esme_model }),
    );
    let mask_id = mask.json()["id"].as_str().unwrap().to_string();
    let explained = json!({ "uit_window_id": w.window, "device_set_id": w.sets[0], "scenario": SCENARIOS[0], "outcome": "fail",
                            "visibility": "industry", "defect_mask_ids": [mask_id] });
    app.post("/api/v1/results", Some(&w.a.token), &explained).expect(201);
    publish(
        &app,
        &w.b.token,
        &w.window,
        &w.sets[0],
        SCENARIOS[0],
        "pass",
        "industry",
    )
    .expect(201);
    publish(
        &app,
        &w.outsider.token,
        &w.window,
        &w.sets[0],
        SCENARIOS[0],
        "blocked",
        "industry",
    )
    .expect(201);
    let cell = |app: &TestApp| -> Value {
        let m = app
            .get(
                &format!("/api/v1/uit-windows/{}/matrix", w.window),
                Some(&w.reviewer.token),
            )
            .json();
        m["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["device_set_id"] == w.sets[0].as_str())
            .unwrap()["cells"][SCENARIOS[0]]
            .clone()
    };
    let c = cell(&app);
    assert_eq!(c["worst"], "known_issue");
    assert_eq!(c["counts"], json!({ "known_issue": 1, "pass": 1, "blocked": 1 }));
    app.patch(
        &format!("/api/v1/defect-masks/{mask_id}"),
        Some(&w.b.token),
        &json!({ "status": "withdrawn" }),
    )
    .expect(200);
    let c = cell(&app);
    assert_eq!(c["worst"], "fail", "a withdrawn mask explains nothing");
    assert_eq!(c["counts"], json!({ "fail": 1, "pass": 1, "blocked": 1 }));
    let m = app
        .get(
            &format!("/api/v1/uit-windows/{}/matrix", w.window),
            Some(&w.reviewer.token),
        )
        .json();
    assert_eq!(
        m["outcome_order"],
        json!([
            "fail",
            "known_issue",
            "blocked",
            "pass_with_observations",
            "pass",
            "not_run"
        ])
    );
    assert_eq!(m["totals"]["fail"], 1);
    assert_eq!(m["scenarios"], json!(SCENARIOS));
    assert_eq!(
        m["rows"].as_array().unwrap().len(),
        3,
        "every set of the release's firmware is in scope"
    );
    assert_eq!(m["rows"][0]["prevalence"], 20000, "most prevalent first");
}

#[test]
fn coverage_states_totals_and_gaps_by_prevalence() {
    let app = TestApp::spawn();
    let w = world(&app);
    // sets[2] (20000): complete; sets[0] (5000): claimed; sets[1] (300): unclaimed.
    for scenario in SCENARIOS {
        publish(&app, &w.a.token, &w.window, &w.sets[2], scenario, "pass", "industry").expect(201);
    }
    app.post(
        &format!("/api/v1/uit-windows/{}/claims", w.window),
        Some(&w.b.token),
        &json!({ "device_set_id": w.sets[0] }),
    )
    .expect(201);
    let coverage = app.get(
        &format!("/api/v1/uit-windows/{}/coverage", w.window),
        Some(&w.outsider.token),
    );
    coverage.expect(200);
    let c = coverage.json();
    let states: Vec<(&str, &str)> = c["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["device_set_id"].as_str().unwrap(), i["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            (w.sets[2].as_str(), "complete"),
            (w.sets[0].as_str(), "claimed"),
            (w.sets[1].as_str(), "unclaimed")
        ]
    );
    assert_eq!(c["items"][1]["lead_org_id"], w.b.org_id.as_str());
    assert_eq!(c["totals"]["device_sets"], 3);
    assert_eq!(c["totals"]["prevalence"], 25300);
    assert_eq!(
        c["totals"]["by_state"]["complete"],
        json!({ "device_sets": 1, "prevalence": 20000 })
    );
    assert_eq!(c["totals"]["complete_share"], 0.7905);
    // Only claims count as claimed: sets[2] has results but no lead (5000 / 25300).
    assert_eq!(c["totals"]["claimed_share"], 0.1976);

    // A not_run result makes a set in progress, not complete.
    publish(
        &app,
        &w.b.token,
        &w.window,
        &w.sets[0],
        SCENARIOS[0],
        "not_run",
        "industry",
    )
    .expect(201);
    let gaps = app
        .get(
            &format!("/api/v1/uit-windows/{}/coverage?state=unclaimed", w.window),
            Some(&w.outsider.token),
        )
        .json();
    assert_eq!(gaps["items"].as_array().unwrap().len(), 1);
    assert_eq!(gaps["items"][0]["device_set_id"], w.sets[1].as_str());
    assert_eq!(gaps["totals"]["device_sets"], 3, "totals cover the whole window");
    let progress = app
        .get(
            &format!("/api/v1/uit-windows/{}/coverage?state=in_progress", w.window),
            Some(&w.outsider.token),
        )
        .json();
    assert_eq!(progress["items"][0]["device_set_id"], w.sets[0].as_str());
    app.get(
        &format!("/api/v1/uit-windows/{}/coverage?state=done", w.window),
        Some(&w.outsider.token),
    )
    .expect_code(400, "invalid_query");
    app.get(
        "/api/v1/uit-windows/01900000-0000-7000-8000-000000000000/coverage",
        Some(&w.outsider.token),
    )
    .expect_code(404, "not_found");
}

#[test]
fn the_matrix_as_csv() {
    let app = TestApp::spawn();
    let w = world(&app);
    publish(
        &app,
        &w.a.token,
        &w.window,
        &w.sets[1],
        SCENARIOS[1],
        "pass_with_observations",
        "industry",
    )
    .expect(201);
    let csv = app.send(
        "GET",
        &format!("/api/v1/uit-windows/{}/matrix", w.window),
        Some(&w.b.token),
        &[("accept", "text/csv")],
        None,
    );
    csv.expect(200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(lines[0], "device_set_id,device_set_name,prevalence,lead_org,scenario,worst,fail,known_issue,blocked,pass_with_observations,pass,not_run,known_issue_masks,CHF,ESME,GSME,GPF,PPMID,HCALCS,IHD,CAD");
    assert_eq!(lines.len(), 1 + 3 * 4, "one line per set and scenario");
    let line = lines
        .iter()
        .find(|l| l.starts_with(&w.sets[1]) && l.contains(SCENARIOS[1]))
        .unwrap();
    assert!(
        line.contains(",prepayment_top_up,pass_with_observations,0,0,0,1,0,0,,"),
        "{line}"
    );
    let json = app.get(&format!("/api/v1/uit-windows/{}/matrix", w.window), Some(&w.b.token));
    assert!(json.header("content-type").unwrap().starts_with("application/json"));
}
