//! Exit criteria on a window and its readiness: measured from shared evidence only, as each
//! caller may see it.

use serde_json::{json, Value};

use crate::fixtures::{publish, world, World, SCENARIOS};
use crate::helpers::{TestApp, TestUser};

fn readiness(app: &TestApp, w: &World, user: &str) -> Value {
    let r = app.get(&format!("/api/v1/uit-windows/{}/readiness", w.window), Some(user));
    r.expect(200);
    r.json()
}

fn criterion<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["criterion"] == name)
        .unwrap_or_else(|| panic!("no criterion {name} in {r}"))
}

fn set_criteria(app: &TestApp, w: &World, criteria: Value) -> Value {
    let r = app.patch(
        &format!("/api/v1/uit-windows/{}", w.window),
        Some(&w.admin),
        &json!({ "exit_criteria": criteria }),
    );
    r.expect(200);
    r.json()
}

fn publish_all(app: &TestApp, user: &TestUser, w: &World, set: &str, outcome: &str, visibility: &str) {
    for scenario in SCENARIOS {
        publish(app, &user.token, &w.window, set, scenario, outcome, visibility).expect(201);
    }
}

#[test]
fn readiness_follows_the_shared_evidence_each_caller_may_see() {
    let app = TestApp::spawn();
    let w = world(&app);
    // Prevalence: sets[2] 20000, sets[0] 5000, sets[1] 300 (25300 in all).
    let window = set_criteria(
        &app,
        &w,
        json!({ "min_weighted_share": 0.8, "top_sets": { "top_n": 1, "scenarios": [SCENARIOS[0]] },
                "max_unexplained_failures": 0, "min_publishing_suppliers": 2 }),
    );
    assert_eq!(window["exit_criteria"]["min_weighted_share"], 0.8);

    let r = readiness(&app, &w, &w.reviewer.token);
    assert_eq!(r["met"], false);
    assert_eq!(
        r["unmet"],
        json!(["min_weighted_share", "top_sets", "min_publishing_suppliers"])
    );
    assert_eq!(criterion(&r, "max_unexplained_failures")["met"], true);
    let top = criterion(&r, "top_sets");
    assert_eq!(
        top["findings"][0]["device_set_id"],
        w.sets[2].as_str(),
        "the most prevalent set"
    );
    assert_eq!(top["findings"][0]["scenario"], SCENARIOS[0]);

    // A's industry passes on the most prevalent set: 20000 / 25300 = 0.7905 of the base.
    publish_all(&app, &w.a, &w, &w.sets[2], "pass", "industry");
    // B's participants-level passes on sets[0]: the operator and participants count them, a
    // reviewer (not a participant) cannot see them.
    publish_all(&app, &w.b, &w, &w.sets[0], "pass", "participants");
    // A private failure counts for nobody, its owner included.
    publish(&app, &w.a.token, &w.window, &w.sets[1], SCENARIOS[0], "fail", "private").expect(201);

    let r = readiness(&app, &w, &w.reviewer.token);
    let share = criterion(&r, "min_weighted_share");
    assert_eq!(share["measured"], 0.7905);
    assert_eq!(share["met"], false);
    assert_eq!(share["findings"][0]["kind"], "scenario_share");
    let untested: Vec<&str> = share["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "untested" && f["scenario"] == SCENARIOS[0])
        .map(|f| f["device_set_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        untested,
        [w.sets[0].as_str(), w.sets[1].as_str()],
        "most prevalent first"
    );
    assert_eq!(criterion(&r, "top_sets")["met"], true);
    assert_eq!(criterion(&r, "min_publishing_suppliers")["measured"], 1.0);
    assert_eq!(r["evidence"]["results"], 4);

    let r = readiness(&app, &w, &w.admin);
    assert_eq!(criterion(&r, "min_weighted_share")["measured"], 0.9881);
    let suppliers = criterion(&r, "min_publishing_suppliers");
    assert_eq!(suppliers["met"], true);
    assert_eq!(suppliers["findings"].as_array().unwrap().len(), 2);
    assert_eq!(r["met"], true, "{r}");
    assert_eq!(r["evidence"]["results"], 8, "the private result is not evidence");

    // A participant's viewer reads what its organisation reads.
    for user in [&w.a.token, &w.b.token, &w.a_viewer.token] {
        let r = readiness(&app, &w, user);
        assert_eq!(r["met"], true, "participants see the same shared evidence: {r}");
        assert_eq!(criterion(&r, "max_unexplained_failures")["measured"], 0.0);
    }
    // An outsider supplier sees the industry results only.
    let r = readiness(&app, &w, &w.outsider.token);
    assert_eq!(r["unmet"], json!(["min_weighted_share", "min_publishing_suppliers"]));

    // A shared failure with no mask: unmet, naming the cell.
    publish(
        &app,
        &w.b.token,
        &w.window,
        &w.sets[1],
        SCENARIOS[1],
        "fail",
        "participants",
    )
    .expect(201);
    let r = readiness(&app, &w, &w.admin);
    assert_eq!(r["unmet"], json!(["max_unexplained_failures"]));
    let failures = criterion(&r, "max_unexplained_failures");
    assert_eq!(failures["measured"], 1.0);
    assert_eq!(failures["findings"][0]["device_set_id"], w.sets[1].as_str());
    assert_eq!(failures["findings"][0]["scenario"], SCENARIOS[1]);
    assert_eq!(failures["findings"][0]["value"], 1.0);
    assert_eq!(
        readiness(&app, &w, &w.reviewer.token)["unmet"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn exit_criteria_are_validated_versioned_and_announced() {
    let app = TestApp::spawn();
    let w = world(&app);
    let path = format!("/api/v1/uit-windows/{}", w.window);

    // No criteria: met, nothing listed.
    let r = readiness(&app, &w, &w.a.token);
    assert_eq!(r["met"], true);
    assert_eq!(r["criteria"], json!([]));
    assert_eq!(r["exit_criteria"], Value::Null);

    let bad = app.patch(
        &path,
        Some(&w.admin),
        &json!({ "exit_criteria": { "min_weighted_share": 1.5, "top_sets": { "top_n": 0, "scenarios": [SCENARIOS[1], "nope"] } } }),
    );
    bad.expect(422);
    let problem = bad.json();
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "exit_criteria.min_weighted_share",
            "exit_criteria.top_sets.top_n",
            "exit_criteria.top_sets.scenarios[1]"
        ]
    );
    let unknown = app.patch(&path, Some(&w.admin), &json!({ "exit_criteria": { "min_share": 0.5 } }));
    assert!(matches!(unknown.status, 400 | 422), "{}", unknown.body);
    assert!(unknown.body.contains("min_share"), "{}", unknown.body);
    app.patch(
        &path,
        Some(&w.a.token),
        &json!({ "exit_criteria": { "max_unexplained_failures": 0 } }),
    )
    .expect(403);
    let window = app.get(&path, Some(&w.a.token)).json();
    assert_eq!(window["exit_criteria"], Value::Null, "nothing changed");

    let before = app.get(&path, Some(&w.admin));
    let etag = before.header("etag").unwrap();
    let set = app.patch(
        &path,
        Some(&w.admin),
        &json!({ "exit_criteria": { "max_unexplained_failures": 2 } }),
    );
    set.expect(200);
    assert_ne!(set.header("etag").unwrap(), etag, "a new version");
    assert_eq!(set.json()["exit_criteria"], json!({ "max_unexplained_failures": 2 }));
    // The same again changes nothing.
    let again = app.patch(
        &path,
        Some(&w.admin),
        &json!({ "exit_criteria": { "max_unexplained_failures": 2 } }),
    );
    assert_eq!(again.header("etag"), set.header("etag"));

    let events = app
        .get(&format!("/api/v1/change-events?entity_id={}", w.window), Some(&w.admin))
        .json();
    let kinds: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "window.exit_criteria_changed").count(),
        1,
        "{kinds:?}"
    );

    let cleared = app.patch(&path, Some(&w.admin), &json!({ "exit_criteria": null }));
    cleared.expect(200);
    assert_eq!(cleared.json()["exit_criteria"], Value::Null);
    assert_eq!(readiness(&app, &w, &w.a.token)["criteria"], json!([]));

    // On creation too, checked against the window's own scenarios.
    let now = chrono::Utc::now();
    let body = |scenario: &str| {
        json!({ "release_id": w.release, "opens_at": (now + chrono::Duration::days(1)).to_rfc3339(),
                "closes_at": (now + chrono::Duration::days(5)).to_rfc3339(), "scenarios": [SCENARIOS[0]],
                "exit_criteria": { "top_sets": { "top_n": 3, "scenarios": [scenario] } } })
    };
    let refused = app.post("/api/v1/uit-windows", Some(&w.admin), &body(SCENARIOS[1]));
    refused.expect(422);
    assert_eq!(
        refused.json()["errors"][0]["field"],
        "exit_criteria.top_sets.scenarios[0]"
    );
    let created = app.post("/api/v1/uit-windows", Some(&w.admin), &body(SCENARIOS[0]));
    created.expect(201);
    assert_eq!(created.json()["exit_criteria"]["top_sets"]["top_n"], 3);

    app.get(
        "/api/v1/uit-windows/01900000-0000-7000-8000-000000000000/readiness",
        Some(&w.a.token),
    )
    .expect(404);
}

#[test]
fn an_unresolved_blocking_uit_issue_holds_readiness_and_is_frozen_in_packs() {
    let app = TestApp::spawn();
    let w = world(&app);
    set_criteria(&app, &w, json!({ "no_open_blocking_issues": true }));
    let raised = app.post(
        "/api/v1/uit-issues",
        Some(&w.a.token),
        &json!({ "uit_window_id": w.window, "title": "Top-up lost after CoS", "severity": "blocking",
                 "resolving_org_id": w.maker.org_id, "device_set_ids": [w.sets[0]] }),
    );
    raised.expect(201);
    let issue = raised.id();
    let r = readiness(&app, &w, &w.b.token);
    assert_eq!(r["unmet"], json!(["no_open_blocking_issues"]));
    let finding = &criterion(&r, "no_open_blocking_issues")["findings"][0];
    assert_eq!(finding["uit_issue_id"], issue.as_str());
    assert_eq!(finding["title"], "Top-up lost after CoS");
    // Who may not see the issue measures nothing against it.
    assert_eq!(readiness(&app, &w, &w.outsider.token)["met"], true);

    let pack = app.post(
        &format!("/api/v1/uit-windows/{}/review-packs", w.window),
        Some(&w.admin),
        &json!({}),
    );
    pack.expect(201);
    let pack = pack.json();
    assert_eq!(pack["readiness_met"], false);
    assert_eq!(pack["summary"]["open_uit_issues"], 1);
    let doc = app
        .get(
            &format!("/api/v1/review-packs/{}", pack["id"].as_str().unwrap()),
            Some(&w.reviewer.token),
        )
        .json();
    assert_eq!(doc["uit_issues"][0]["title"], "Top-up lost after CoS");
    assert_eq!(doc["uit_issues"][0]["severity"], "blocking");
    assert!(
        doc["uit_issues"][0].get("description").is_none(),
        "the description stays with participants"
    );

    for to in ["triaged", "resolved"] {
        app.post(
            &format!("/api/v1/uit-issues/{issue}/transitions"),
            Some(&w.maker.token),
            &json!({ "to": to, "comment": "fixed in 1.3" }),
        )
        .expect(200);
    }
    assert_eq!(
        readiness(&app, &w, &w.b.token)["met"],
        true,
        "a resolved issue no longer blocks"
    );
}
