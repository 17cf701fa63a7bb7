//! Coverage and the matrix: scope, states, worst outcomes, known issues and CSV.

use serde_json::{json, Value};

use crate::fixtures::{publish, world, SCENARIOS};
use crate::helpers::TestApp;

#[test]
fn known_issues_are_failures_explained_by_a_live_defect_mask() {
    let app = TestApp::spawn();
    let w = world(&app);
    let mask = app.post(
        "/api/v1/defect-masks",
        Some(&w.b.token),
        &json!({ "code": "DM-7", "title": "t", "severity": "minor", "device_model_id": w.esme_model }),
    );
    let mask_id = mask.id();
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

fn matrix_cell(app: &TestApp, token: &str, window: &str, set: &str, scenario: &str) -> Value {
    let m = app
        .get(&format!("/api/v1/uit-windows/{window}/matrix"), Some(token))
        .json();
    m["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["device_set_id"] == set)
        .unwrap()["cells"][scenario]
        .clone()
}

#[test]
fn only_a_mask_of_the_sets_products_makes_a_failure_a_known_issue() {
    let app = TestApp::spawn();
    let w = world(&app);
    let mask = |code: &str, body: Value| -> String {
        let mut body = body;
        body["code"] = json!(code);
        body["title"] = json!("t");
        body["severity"] = json!("minor");
        let r = app.post("/api/v1/defect-masks", Some(&w.maker.token), &body);
        r.expect(201);
        r.id()
    };
    // sets[0] is the new hub + ESME 1.0: no gas meter in it.
    let gas_model = crate::fixtures::product(&app, &w.maker.token, &w.maker.org_id, "GSME");
    let foreign = mask("DM-GAS", json!({ "device_model_id": gas_model }));
    let older_esme = crate::fixtures::firmware(&app, &w.maker.token, &w.esme_model, "0.9", "previous");
    let other_version = mask(
        "DM-OLD",
        json!({ "device_model_id": w.esme_model, "affected_firmware_ids": [older_esme] }),
    );
    let applies = mask(
        "DM-ESME",
        json!({ "device_model_id": w.esme_model, "affected_firmware_ids": [w.esme_fw] }),
    );
    let fail = |token: &str, scenario: &str, masks: Vec<&String>| {
        let r = app.post(
            "/api/v1/results",
            Some(token),
            &json!({ "uit_window_id": w.window, "device_set_id": w.sets[0], "scenario": scenario,
                     "outcome": "fail", "visibility": "industry", "defect_mask_ids": masks }),
        );
        r.expect(201);
        r.json()
    };
    // Masks of another product, or of versions the set does not hold, explain nothing.
    let unexplained = fail(&w.a.token, SCENARIOS[0], vec![&foreign, &other_version]);
    assert_eq!(unexplained["known_issue"], false, "{unexplained}");
    assert_eq!(unexplained["known_issue_masks"], json!([]));
    let c = matrix_cell(&app, &w.reviewer.token, &w.window, &w.sets[0], SCENARIOS[0]);
    assert_eq!(c["worst"], "fail", "{c}");
    assert_eq!(c["counts"], json!({ "fail": 1 }));

    // A mask of the set's ESME firmware does; the response and the matrix say which.
    let explained = fail(&w.b.token, SCENARIOS[1], vec![&foreign, &applies]);
    assert_eq!(explained["known_issue"], true, "{explained}");
    assert_eq!(
        explained["known_issue_masks"],
        json!([{ "id": applies, "code": "DM-ESME" }])
    );
    let read = app
        .get(
            &format!("/api/v1/results/{}", explained["id"].as_str().unwrap()),
            Some(&w.reviewer.token),
        )
        .json();
    assert_eq!(read["known_issue_masks"], explained["known_issue_masks"]);
    let c = matrix_cell(&app, &w.reviewer.token, &w.window, &w.sets[0], SCENARIOS[1]);
    assert_eq!(c["worst"], "known_issue");
    assert_eq!(c["known_issue_masks"], json!(["DM-ESME"]));

    // A mask naming no versions covers its whole product.
    let whole_product = mask("DM-ANY", json!({ "device_model_id": w.esme_model }));
    let any = fail(&w.outsider.token, SCENARIOS[2], vec![&whole_product]);
    assert_eq!(any["known_issue_masks"][0]["code"], "DM-ANY");

    let csv = app.send(
        "GET",
        &format!("/api/v1/uit-windows/{}/matrix", w.window),
        Some(&w.reviewer.token),
        &[("accept", "text/csv")],
        None,
    );
    let mut reader = csv::Reader::from_reader(csv.body.as_bytes());
    let header = reader.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    let line = |scenario: &str| {
        rows.iter()
            .find(|r| r[col("device_set_id")] == w.sets[0] && r[col("scenario")] == *scenario)
            .unwrap()
            .clone()
    };
    assert_eq!(&line(SCENARIOS[0])[col("known_issue_masks")], "");
    assert_eq!(&line(SCENARIOS[0])[col("worst")], "fail");
    assert_eq!(&line(SCENARIOS[1])[col("known_issue_masks")], "DM-ESME");
    assert_eq!(&line(SCENARIOS[1])[col("known_issue")], "1");
}

#[test]
fn mask_codes_and_names_of_a_private_known_issue_stay_with_its_organisation() {
    let app = TestApp::spawn();
    let w = world(&app);
    let mask = app.post(
        "/api/v1/defect-masks",
        Some(&w.maker.token),
        &json!({ "code": "DM-PRIV", "title": "t", "severity": "minor",
                 "device_model_id": w.esme_model, "affected_firmware_ids": [w.esme_fw] }),
    );
    mask.expect(201);
    let private = app.post(
        "/api/v1/results",
        Some(&w.a.token),
        &json!({ "uit_window_id": w.window, "device_set_id": w.sets[0], "scenario": SCENARIOS[3],
                 "outcome": "fail", "visibility": "private", "notes": "private triage note",
                 "defect_mask_ids": [mask.json()["id"]] }),
    );
    private.expect(201);
    let csv_cell = |token: &str| {
        let csv = app.send(
            "GET",
            &format!("/api/v1/uit-windows/{}/matrix", w.window),
            Some(token),
            &[("accept", "text/csv")],
            None,
        );
        csv.expect(200);
        csv.body
    };
    // Supplier A's viewer reads its own organisation's known issue, with the mask behind it.
    let own = matrix_cell(&app, &w.a_viewer.token, &w.window, &w.sets[0], SCENARIOS[3]);
    assert_eq!(own["known_issue_masks"], json!(["DM-PRIV"]), "{own}");
    assert!(csv_cell(&w.a_viewer.token).contains("DM-PRIV"));
    // Another participant and a reviewer see no trace of it: no count, no mask code, no result
    // in the embedded read.
    for reader in [&w.b.token, &w.reviewer.token] {
        let m = app
            .get(&format!("/api/v1/uit-windows/{}/matrix", w.window), Some(reader))
            .body;
        assert!(!m.contains("DM-PRIV") && !m.contains("known_issue\":1"), "{m}");
        assert!(!csv_cell(reader).contains("DM-PRIV"));
        let listed = app.get(
            &format!("/api/v1/results?uit_window_id={}&embed=device_set", w.window),
            Some(reader),
        );
        listed.expect(200);
        assert!(!listed.body.contains("private triage note"), "{}", listed.body);
        assert!(!listed.body.contains("DM-PRIV"), "{}", listed.body);
    }
}

#[test]
fn rows_say_what_each_device_set_is() {
    let app = TestApp::spawn();
    let w = world(&app);
    let coverage = app
        .get(
            &format!("/api/v1/uit-windows/{}/coverage", w.window),
            Some(&w.reviewer.token),
        )
        .json();
    let item = coverage["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["device_set_id"] == w.sets[2].as_str())
        .unwrap()
        .clone();
    let composition = &item["composition"];
    assert_eq!(composition["comms_hub"]["device_type"], "CHF");
    assert_eq!(composition["comms_hub"]["firmware_version"], "3.0");
    let devices: Vec<(&str, &str)> = composition["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["device_type"].as_str().unwrap(),
                d["firmware_version"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(devices, [("ESME", "1.0"), ("GSME", "2.0")]);
    let maker = composition["devices"][0]["manufacturer_name"].as_str().unwrap();
    assert!(maker.starts_with("Org manufacturer-"), "{composition}");
    assert!(composition["devices"][0]["model_name"]
        .as_str()
        .unwrap()
        .starts_with("ESME model"));
    assert_eq!(coverage["scenario_titles"].as_object().unwrap().len(), 4);
    assert!(coverage["uit_window_name"].as_str().unwrap().starts_with("UIT-"));

    let matrix = app
        .get(
            &format!("/api/v1/uit-windows/{}/matrix", w.window),
            Some(&w.reviewer.token),
        )
        .json();
    let row = matrix["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["device_set_id"] == w.sets[2].as_str())
        .unwrap()
        .clone();
    assert_eq!(&row["composition"], composition);

    let csv = app.send(
        "GET",
        &format!("/api/v1/uit-windows/{}/matrix", w.window),
        Some(&w.reviewer.token),
        &[("accept", "text/csv")],
        None,
    );
    let mut reader = csv::Reader::from_reader(csv.body.as_bytes());
    let header = reader.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let record = reader
        .records()
        .map(|r| r.unwrap())
        .find(|r| r[col("device_set_id")] == w.sets[2])
        .unwrap();
    assert!(record[col("CHF")].ends_with(" 3.0"), "{record:?}");
    assert!(record[col("ESME")].starts_with(maker) && record[col("ESME")].ends_with(" 1.0"));
    assert!(record[col("GSME")].ends_with(" 2.0"));
    assert_eq!(&record[col("IHD")], "");
}

#[test]
fn prevalence_is_bounded_and_totals_cannot_overflow() {
    let app = TestApp::spawn();
    let w = world(&app);
    let hub = crate::fixtures::product(&app, &w.admin, &w.maker.org_id, "CHF");
    let hub_fw = crate::fixtures::firmware(&app, &w.admin, &hub, "9.0", "in_test");
    let too_many = app.post(
        "/api/v1/device-sets",
        Some(&w.admin),
        &json!({ "name": "huge", "firmware_ids": [hub_fw, w.esme_fw], "prevalence": 100_000_001 }),
    );
    let problem = too_many.expect_code(422, "validation_failed");
    assert_eq!(problem["errors"][0]["field"], "prevalence", "{problem}");
    app.post(
        "/api/v1/device-sets",
        Some(&w.admin),
        &json!({ "name": "huge", "firmware_ids": [hub_fw, w.esme_fw], "prevalence": i64::MAX }),
    )
    .expect_code(422, "validation_failed");
    app.patch(
        &format!("/api/v1/device-sets/{}", w.sets[0]),
        Some(&w.admin),
        &json!({ "prevalence": i64::MAX }),
    )
    .expect_code(422, "validation_failed");
    for set in &w.sets {
        app.patch(
            &format!("/api/v1/device-sets/{set}"),
            Some(&w.admin),
            &json!({ "prevalence": 100_000_000 }),
        )
        .expect(200);
    }
    let totals = app
        .get(
            &format!("/api/v1/uit-windows/{}/coverage", w.window),
            Some(&w.reviewer.token),
        )
        .json()["totals"]
        .clone();
    assert_eq!(totals["prevalence"], 300_000_000i64);
    assert_eq!(totals["by_state"]["unclaimed"]["prevalence"], 300_000_000i64);
}

#[test]
fn accept_decides_the_representation_or_is_refused_with_406() {
    let app = TestApp::spawn();
    let w = world(&app);
    let matrix = format!("/api/v1/uit-windows/{}/matrix", w.window);
    let coverage = format!("/api/v1/uit-windows/{}/coverage", w.window);
    let get = |path: &str, accept: Option<&str>| {
        let headers: Vec<(&str, &str)> = accept.map(|a| vec![("accept", a)]).unwrap_or_default();
        app.send("GET", path, Some(&w.b.token), &headers, None)
    };
    // No CSV here: 406 as problem+json, not JSON with 200.
    for path in [coverage.as_str(), "/api/v1/uit-windows", "/api/v1/device-sets"] {
        let refused = get(path, Some("text/csv"));
        let body = refused.expect_code(406, "not_acceptable");
        assert!(refused
            .header("content-type")
            .unwrap()
            .starts_with("application/problem+json"));
        assert_eq!(body["context"]["available"], json!(["application/json"]), "{path}");
    }
    get(&matrix, Some("application/json;q=0, text/html")).expect_code(406, "not_acceptable");
    // The matrix has CSV.
    let csv = get(&matrix, Some("text/csv"));
    csv.expect(200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let csv = get(&matrix, Some("application/json;q=0.5, text/csv"));
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    // JSON for the usual clients.
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8";
    for accept in [
        None,
        Some("*/*"),
        Some("application/json"),
        Some("application/problem+json"),
        Some("application/*"),
        Some(browser),
    ] {
        for path in [matrix.as_str(), coverage.as_str()] {
            let r = get(path, accept);
            r.expect(200);
            assert!(
                r.header("content-type").unwrap().starts_with("application/json"),
                "{path} with {accept:?}"
            );
        }
    }
}

#[derive(diesel::QueryableByName, Debug, PartialEq)]
struct Counted {
    #[diesel(sql_type = diesel::sql_types::Text)]
    k: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// `sql`'s rows as (key, n), sorted.
fn counted(app: &TestApp, sql: &str) -> Vec<(String, i64)> {
    use diesel::RunQueryDsl;
    let mut conn = crate::notifications::db(app);
    let mut rows: Vec<(String, i64)> = diesel::sql_query(sql)
        .load::<Counted>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|c| (c.k, c.n))
        .collect();
    rows.sort();
    rows
}

#[test]
fn the_per_cell_aggregates_follow_every_kind_of_write_and_the_grid_reads_them_per_reader() {
    let app = TestApp::spawn();
    let w = world(&app);
    // Creations at every visibility, by two suppliers.
    for (user, set, scenario, outcome, visibility) in [
        (&w.a, 0, 0, "fail", "private"),
        (&w.a, 0, 1, "pass", "participants"),
        (&w.a, 1, 0, "pass", "industry"),
        (&w.b, 0, 0, "pass", "industry"),
        (&w.b, 2, 3, "blocked", "participants"),
    ] {
        publish(
            &app,
            &user.token,
            &w.window,
            &w.sets[set],
            SCENARIOS[scenario],
            outcome,
            visibility,
        )
        .expect(201);
    }
    // Amendments: an outcome and a visibility by PATCH, both in a batch, and an unchanged item.
    let private = app.get(
        &format!("/api/v1/results?uit_window_id={}&visibility=private", w.window),
        Some(&w.a.token),
    );
    let private_id = private.json()["items"][0]["id"].as_str().unwrap().to_string();
    app.patch(
        &format!("/api/v1/results/{private_id}"),
        Some(&w.a.token),
        &json!({ "visibility": "participants" }),
    )
    .expect(200);
    app.patch(
        &format!("/api/v1/results/{private_id}"),
        Some(&w.a.token),
        &json!({ "outcome": "pass" }),
    )
    .expect(200);
    let item = |set: usize, scenario: usize, outcome: &str, visibility: &str| {
        json!({ "uit_window_id": w.window, "device_set_id": w.sets[set], "scenario": SCENARIOS[scenario],
                "outcome": outcome, "visibility": visibility })
    };
    app.post(
        "/api/v1/results/batch",
        Some(&w.b.token),
        &json!({ "items": [
            item(0, 0, "fail", "private"),
            item(2, 3, "blocked", "participants"),
            item(1, 1, "pass_with_observations", "participants"),
        ] }),
    )
    .expect(200);

    // The kept cells are the recount, column by column (a cell whose counts went back to zero
    // may stay as a row of zeros).
    let recount = uit_portal::matrix::cells::recount_sql();
    for visibility in ["industry", "participants"] {
        for outcome in uit_portal::matrix::cells::OUTCOMES {
            let col = format!("{visibility}_{outcome}");
            let key = "window_id || '/' || device_set_id || '/' || scenario_code AS k";
            assert_eq!(
                counted(
                    &app,
                    &format!("SELECT {key}, {col} AS n FROM result_cells WHERE {col} <> 0")
                ),
                counted(
                    &app,
                    &format!("SELECT {key}, CAST({col} AS BIGINT) AS n FROM ({recount}) r WHERE {col} <> 0")
                ),
                "{col}"
            );
        }
    }
    assert_eq!(
        counted(
            &app,
            "SELECT window_id || '/' || org_id || '/' || visibility AS k, n FROM result_publishers WHERE n <> 0"
        ),
        counted(
            &app,
            "SELECT window_id || '/' || org_id || '/' || visibility AS k, COUNT(*) AS n FROM results
             GROUP BY window_id, org_id, visibility"
        )
    );

    // Each reader's cell (set 0, scenario 0): A's result, a private failure made a
    // participants' pass; B's, an industry pass made a private failure.
    let cell = |token: &str| matrix_cell(&app, token, &w.window, &w.sets[0], SCENARIOS[0]);
    assert_eq!(
        cell(&w.b.token)["counts"],
        json!({ "fail": 1, "pass": 1 }),
        "B's own private failure counts for B"
    );
    assert_eq!(
        cell(&w.a.token)["counts"],
        json!({ "pass": 1 }),
        "B's private failure is not A's to see"
    );
    assert_eq!(cell(&w.admin)["counts"], json!({ "pass": 1 }), "nor the operator's");
    assert!(
        cell(&w.reviewer.token)["counts"]
            .as_object()
            .is_none_or(|c| c.is_empty()),
        "industry only: nothing left"
    );
    // Set 1, scenario 0: A's industry pass; B's participants pass with observations is in
    // set 1, scenario 1. Set 2, scenario 3: B's blocked, unchanged by the batch.
    assert_eq!(
        matrix_cell(&app, &w.reviewer.token, &w.window, &w.sets[1], SCENARIOS[0])["counts"],
        json!({ "pass": 1 })
    );
    assert_eq!(
        matrix_cell(&app, &w.a.token, &w.window, &w.sets[2], SCENARIOS[3])["counts"],
        json!({ "blocked": 1 })
    );
}
