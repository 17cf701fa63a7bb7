//! Results: visibility in every read path, lead flags, amendments with revisions, batches and
//! JUnit uploads.

use serde_json::{json, Value};

use crate::fixtures::{claim, publish, world, World, SCENARIOS};
use crate::helpers::{at_once, TestApp};

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
        published.push(resp.id());
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
        assert_eq!(listed.ids().iter().collect::<Vec<_>>(), expected, "list for {who}");
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
    claim(&app, &w, &w.a.token, &w.sets[0]).expect(201);
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

/// A window of `release` that closed three days ago.
fn closed_window(app: &TestApp, admin: &str, release: &str) -> String {
    let now = chrono::Utc::now();
    let resp = app.post(
        "/api/v1/uit-windows",
        Some(admin),
        &json!({
            "release_id": release,
            "name": format!("UIT-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
            "opens_at": (now - chrono::Duration::days(20)).to_rfc3339(),
            "closes_at": (now - chrono::Duration::days(3)).to_rfc3339(),
        }),
    );
    resp.expect(201);
    assert_eq!(resp.json()["status"], "closed");
    resp.id()
}

#[test]
fn a_closed_window_cannot_be_joined_through_a_result() {
    let app = TestApp::spawn();
    let w = world(&app);
    let closed = closed_window(&app, &w.admin, &w.release);
    let participants = format!("/api/v1/uit-windows/{closed}/participants");
    app.post(&participants, Some(&w.outsider.token), &json!({}))
        .expect_code(422, "window_not_open_for_joining");

    let item = json!({ "uit_window_id": closed, "device_set_id": w.sets[0], "scenario": SCENARIOS[0],
                       "outcome": "pass", "visibility": "participants" });
    let single = app.post("/api/v1/results", Some(&w.outsider.token), &item);
    let problem = single.expect_code(422, "window_not_open_for_joining");
    assert_eq!(problem["context"]["uit_window_id"], closed.as_str());
    app.post(
        "/api/v1/results/batch",
        Some(&w.outsider.token),
        &json!({ "items": [item] }),
    )
    .expect_code(422, "window_not_open_for_joining");
    app.send(
        "POST",
        &format!(
            "/api/v1/results/junit?uit_window_id={closed}&device_set_id={}",
            w.sets[0]
        ),
        Some(&w.outsider.token),
        &[],
        Some((
            "application/xml",
            br#"<testsuite><testcase name="install_and_commission"/></testsuite>"#.to_vec(),
        )),
    )
    .expect_code(422, "window_not_open_for_joining");

    let listed = app.get(&participants, Some(&w.outsider.token)).json();
    assert_eq!(listed["items"].as_array().unwrap().len(), 0, "nobody joined: {listed}");
    assert_eq!(
        app.get(&format!("/api/v1/results?uit_window_id={closed}"), Some(&w.admin))
            .json()["items"],
        json!([]),
        "nothing was written"
    );

    // Publishing in a window the organisation already takes part in still works after it closes.
    let open = app.post(
        "/api/v1/results",
        Some(&w.a.token),
        &json!({ "uit_window_id": w.window, "device_set_id": w.sets[0], "scenario": SCENARIOS[0], "outcome": "pass" }),
    );
    open.expect(201);
    let now = chrono::Utc::now();
    app.patch(
        &format!("/api/v1/uit-windows/{}", w.window),
        Some(&w.admin),
        &json!({ "opens_at": (now - chrono::Duration::days(20)).to_rfc3339(),
                 "closes_at": (now - chrono::Duration::days(1)).to_rfc3339() }),
    )
    .expect(200);
    publish(&app, &w.a.token, &w.window, &w.sets[0], SCENARIOS[1], "fail", "private").expect(201);
    publish(
        &app,
        &w.outsider.token,
        &w.window,
        &w.sets[0],
        SCENARIOS[1],
        "fail",
        "private",
    )
    .expect_code(422, "window_not_open_for_joining");
}

#[test]
fn a_batch_amendment_keeps_the_fields_it_leaves_out_and_the_revision_says_what_changed() {
    let app = TestApp::spawn();
    let w = world(&app);
    let item = json!({ "uit_window_id": w.window, "device_set_id": w.sets[0], "scenario": SCENARIOS[0],
                       "outcome": "pass", "visibility": "industry", "notes": "paired at 2nd attempt",
                       "external_ref": "RUN-17", "executed_at": "2026-11-20T10:00:00Z" });
    let fresh =
        json!({ "uit_window_id": w.window, "device_set_id": w.sets[1], "scenario": SCENARIOS[0], "outcome": "pass" });
    let first = app.post(
        "/api/v1/results/batch",
        Some(&w.a.token),
        &json!({ "items": [item, fresh] }),
    );
    first.expect(200);
    let id = first.json()["items"][0]["id"].as_str().unwrap().to_string();
    let fresh_id = first.json()["items"][1]["id"].as_str().unwrap().to_string();
    let created = app.get(&format!("/api/v1/results/{fresh_id}"), Some(&w.a.token)).json();
    assert_eq!(
        (&created["visibility"], &created["notes"], &created["executed_at"]),
        (&json!("private"), &json!(""), &Value::Null),
        "defaults on create"
    );

    // Re-sent with a new outcome only: visibility, notes, reference and time stay.
    let resent =
        json!({ "uit_window_id": w.window, "device_set_id": w.sets[0], "scenario": SCENARIOS[0], "outcome": "fail" });
    let second = app.post("/api/v1/results/batch", Some(&w.a.token), &json!({ "items": [resent] }));
    second.expect(200);
    assert_eq!(second.json()["updated"], 1);
    assert_eq!(second.json()["items"][0]["changed"], json!(["outcome"]));
    let now = app.get(&format!("/api/v1/results/{id}"), Some(&w.b.token));
    now.expect(200);
    let now = now.json();
    assert_eq!(now["outcome"], "fail");
    assert_eq!(now["visibility"], "industry");
    assert_eq!(now["notes"], "paired at 2nd attempt");
    assert_eq!(now["external_ref"], "RUN-17");
    assert_eq!(now["executed_at"], "2026-11-20T10:00:00Z");

    // null clears a nullable field; the revisions say what each amendment changed.
    let cleared = json!({ "uit_window_id": w.window, "device_set_id": w.sets[0], "scenario": SCENARIOS[0], "outcome": "fail",
                          "external_ref": null, "notes": "" });
    let third = app.post(
        "/api/v1/results/batch",
        Some(&w.a.token),
        &json!({ "items": [cleared] }),
    );
    assert_eq!(third.json()["items"][0]["changed"], json!(["notes", "external_ref"]));
    let revisions = app
        .get(&format!("/api/v1/results/{id}/revisions"), Some(&w.a.token))
        .json();
    let changed: Vec<&Value> = revisions["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["changed"])
        .collect();
    assert_eq!(changed, [&json!(["outcome"]), &json!(["notes", "external_ref"])]);
    assert_eq!(revisions["items"][0]["result"]["outcome"], "pass");

    // A PATCH amends the same way.
    let patched = app.patch(
        &format!("/api/v1/results/{id}"),
        Some(&w.a.token),
        &json!({ "notes": "x" }),
    );
    patched.expect(200);
    assert_eq!(patched.json()["visibility"], "industry");
    // notes may be left out, but not sent as null.
    let null_notes = json!({ "uit_window_id": w.window, "device_set_id": w.sets[0], "scenario": SCENARIOS[0], "outcome": "fail", "notes": null });
    app.post(
        "/api/v1/results/batch",
        Some(&w.a.token),
        &json!({ "items": [null_notes] }),
    )
    .expect_code(400, "malformed_body");
}

#[test]
fn a_batch_item_that_does_not_parse_is_named_by_its_path() {
    let app = TestApp::spawn();
    let w = world(&app);
    let mut items: Vec<Value> = (0..218)
        .map(|i| {
            json!({ "uit_window_id": w.window, "device_set_id": w.sets[i % 3], "scenario": SCENARIOS[i % 4], "outcome": "pass" })
        })
        .collect();
    items[217]["outcome"] = json!("passed");
    let refused = app.post("/api/v1/results/batch", Some(&w.a.token), &json!({ "items": items }));
    let problem = refused.expect_code(400, "malformed_body");
    assert_eq!(problem["errors"][0]["field"], "items[217].outcome", "{problem}");
    assert!(problem["errors"][0]["message"].as_str().unwrap().contains("passed"));
    assert!(problem["detail"].as_str().unwrap().contains("items[217].outcome"));

    items[217]["outcome"] = json!("pass");
    items[3]["executed_at"] = json!("yesterday");
    let problem = app
        .post("/api/v1/results/batch", Some(&w.a.token), &json!({ "items": items }))
        .expect_code(400, "malformed_body");
    assert_eq!(problem["errors"][0]["field"], "items[3].executed_at", "{problem}");

    // JSON that does not even parse says where it broke, too.
    items[3]["executed_at"] = json!("2026-12-01T10:00:00Z");
    items[217]["outcome"] = json!("PLACEHOLDER");
    let text = json!({ "items": items }).to_string().replace("\"PLACEHOLDER\"", "pass");
    let problem = app
        .send(
            "POST",
            "/api/v1/results/batch",
            Some(&w.a.token),
            &[],
            Some(("application/json", text.into_bytes())),
        )
        .expect_code(400, "malformed_body");
    assert_eq!(problem["errors"][0]["field"], "items[217].outcome", "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("line 1 column"),
        "{problem}"
    );
    let listed = app.get(&format!("/api/v1/results?uit_window_id={}", w.window), Some(&w.a.token));
    assert_eq!(
        listed.json()["items"].as_array().unwrap().len(),
        0,
        "nothing was written"
    );
}

#[test]
fn concurrent_amendments_of_one_result_are_each_kept_or_412_never_a_bare_409() {
    let app = TestApp::spawn_with(|c| c.database_pool_size = 8);
    let w = world(&app);
    claim(&app, &w, &w.a.token, &w.sets[0]).expect(201);
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
    let path = format!("/api/v1/results/{}", first.id());
    let answers = at_once(16, |i| {
        app.patch(&path, Some(&w.a.token), &json!({ "notes": format!("take {i}") }))
    });
    // A loser of the race read the row before the winner moved it on: the same 412 as a stale
    // If-Match, not the unique key's bare 409.
    for (status, body) in answers.iter().filter(|(s, _)| *s != 200) {
        assert_eq!((*status, &body["code"]), (412, &json!("precondition_failed")), "{body}");
    }
    let kept = answers.iter().filter(|(s, _)| *s == 200).count();
    assert!(kept >= 1);
    let revisions = app.get(&format!("{path}/revisions"), Some(&w.a.token));
    revisions.expect(200);
    assert_eq!(
        revisions.json()["items"].as_array().unwrap().len(),
        kept,
        "one revision per amendment kept"
    );
}
