//! Window scopes (issue 13, parts 2 and 3): the prevalence sample of the latest DPL covers every
//! live version, respects `top_n` and states its share; an explicit list; coverage and the
//! matrix follow the scope; a change after opening is announced; everyone reads the scope; the
//! suggestions follow claims and only the results the reader may see.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::fixtures::{claim, firmware, open_window, product, publish, world};
use crate::helpers::{Resp, TestApp};

const HEADER: &str = "comms_hub_model,comms_hub_firmware,device1_type,device1_model,device1_firmware,installed_count";

/// An estate: a hub (1.0 previous, 2.0 deployed, 3.0 in test) and a meter (1.0 previous, 2.0
/// deployed), the four live combinations registered and imported in two DPLs (the latest
/// counts 1000, 500, 200 and 50), and two sets of hub 3.0 in the window's implied scope.
struct Estate {
    admin: String,
    /// Hub 2 + meter 2, hub 2 + meter 1, hub 1 + meter 2, hub 1 + meter 1.
    dpl: [String; 4],
    /// Hub 3 with meter 2, with meter 1: the implied scope.
    implied: [String; 2],
    release: String,
}

fn set(app: &TestApp, admin: &str, name: &str, firmware_ids: &[&str]) -> String {
    let resp = app.post(
        "/api/v1/device-sets",
        Some(admin),
        &json!({ "name": name, "firmware_ids": firmware_ids, "prevalence": 1 }),
    );
    resp.expect(201);
    resp.id()
}

fn import(app: &TestApp, admin: &str, as_of: &str, body: String) {
    let resp = app.send(
        "POST",
        &format!("/api/v1/estate/imports?as_of={as_of}"),
        Some(admin),
        &[],
        Some(("text/csv", body.into_bytes())),
    );
    resp.expect(202);
    let id = resp.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body = app.get(&format!("/api/v1/estate/imports/{id}"), Some(admin)).json();
        if body["status"] == "done" {
            assert_eq!(body["rows_rejected"], 0, "{body}");
            return;
        }
        assert!(body["status"] != "failed" && Instant::now() < deadline, "{body}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn model_name(app: &TestApp, admin: &str, id: &str) -> String {
    let resp = app.get(&format!("/api/v1/device-models/{id}"), Some(admin));
    resp.expect(200);
    resp.json()["name"].as_str().unwrap().to_string()
}

fn estate(app: &TestApp, with_dpl: bool) -> Estate {
    let admin = app.admin_token();
    let maker = app.user_in_new_org(&admin, "manufacturer", "member");
    let hub = product(app, &admin, &maker.org_id, "CHF");
    let meter = product(app, &admin, &maker.org_id, "ESME");
    let h1 = firmware(app, &admin, &hub, "1.0", "previous");
    let h2 = firmware(app, &admin, &hub, "2.0", "deployed");
    let h3 = firmware(app, &admin, &hub, "3.0", "in_test");
    let m1 = firmware(app, &admin, &meter, "1.0", "previous");
    let m2 = firmware(app, &admin, &meter, "2.0", "deployed");
    let dpl = [[&h2, &m2], [&h2, &m1], [&h1, &m2], [&h1, &m1]]
        .map(|[h, m]| set(app, &admin, &format!("dpl {h} {m}"), &[h, m]));
    let implied = [&m2, &m1].map(|m| set(app, &admin, &format!("new hub with {m}"), &[&h3, m]));
    if with_dpl {
        let (h, m) = (model_name(app, &admin, &hub), model_name(app, &admin, &meter));
        let rows = |counts: [i64; 4]| {
            let lines: Vec<String> = [("2.0", "2.0"), ("2.0", "1.0"), ("1.0", "2.0"), ("1.0", "1.0")]
                .iter()
                .zip(counts)
                .map(|((hv, mv), n)| format!("{h},{hv},ESME,{m},{mv},{n}"))
                .collect();
            format!("{HEADER}\n{}\n", lines.join("\n"))
        };
        // An older DPL in which hub 1 + meter 1 was the most installed: the latest one counts.
        import(app, &admin, "2026-10-01", rows([10, 10, 10, 100_000]));
        import(app, &admin, "2026-11-01", rows([1000, 500, 200, 50]));
    }
    let release = app.post(
        "/api/v1/releases",
        Some(&admin),
        &json!({ "name": format!("R-{}", uuid::Uuid::new_v4().simple()), "kind": "sec_release", "firmware_ids": [h3] }),
    );
    release.expect(201);
    Estate {
        admin,
        dpl,
        implied,
        release: release.id(),
    }
}

fn post_scope(app: &TestApp, token: &str, window: &str, body: Value) -> Resp {
    app.post(&format!("/api/v1/uit-windows/{window}/scope"), Some(token), &body)
}

fn scope(app: &TestApp, token: &str, window: &str) -> Value {
    let resp = app.get(&format!("/api/v1/uit-windows/{window}/scope"), Some(token));
    resp.expect(200);
    resp.json()
}

fn set_ids(scope: &Value) -> Vec<String> {
    scope["sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["device_set_id"].as_str().unwrap().to_string())
        .collect()
}

fn reasons(scope: &Value) -> Vec<String> {
    scope["sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["reason"].as_str().unwrap().to_string())
        .collect()
}

/// A window of the estate's release opening in a week (scheduled, not open).
fn scheduled_window(app: &TestApp, e: &Estate) -> String {
    let now = chrono::Utc::now();
    let resp = app.post(
        "/api/v1/uit-windows",
        Some(&e.admin),
        &json!({
            "release_id": e.release,
            "opens_at": (now + chrono::Duration::days(7)).to_rfc3339(),
            "closes_at": (now + chrono::Duration::days(14)).to_rfc3339(),
        }),
    );
    resp.expect(201);
    resp.id()
}

#[test]
fn the_sample_covers_every_live_version_respects_top_n_and_states_its_share() {
    let app = TestApp::spawn();
    let e = estate(&app, true);
    let window = open_window(&app, &e.admin, &e.release);
    let [h2m2, h2m1, h1m2, h1m1] = e.dpl.clone();

    // Top 1 is hub 2 + meter 2 (the latest DPL's counts, not the older one's); hub 1 and meter
    // 1 come in one set, hub 1 + meter 1, the fewest sets that cover them.
    let resp = post_scope(
        &app,
        &e.admin,
        &window,
        json!({ "strategy": "prevalence", "top_n": 1, "cover_every_live_version": true }),
    );
    resp.expect(200);
    let body = resp.json();
    assert_eq!(set_ids(&body), vec![h2m2.clone(), h1m1.clone()]);
    assert_eq!(reasons(&body)[0], "top 1 by prevalence");
    let added = &reasons(&body)[1];
    assert!(
        added.starts_with("adds CHF 1.0 of ") && added.contains("ESME 1.0 of "),
        "{added}"
    );
    assert_eq!(
        (body["covered_installed"].as_i64(), body["total_installed"].as_i64()),
        (Some(1050), Some(1750))
    );
    assert!((body["covered_share"].as_f64().unwrap() - 1050.0 / 1750.0).abs() < 1e-9);
    assert_eq!(body["explicit"], true);
    assert_eq!(body["strategy"], "prevalence");
    assert_eq!(body["dpl_as_of"], "2026-11-01");
    assert_eq!(body["sampled_from_dpl_as_of"], "2026-11-01");
    assert_eq!(body["uncovered_live_versions"], json!([]));
    assert_eq!(body["sets"][0]["installed_count"], 1000);

    // Top 2; then hub 1 alone is missing: of the two sets adding it, the more installed.
    let body = post_scope(&app, &e.admin, &window, json!({ "strategy": "prevalence", "top_n": 2 })).json();
    assert_eq!(set_ids(&body), vec![h2m2.clone(), h2m1.clone(), h1m2.clone()]);
    assert_eq!(body["cover_every_live_version"], true, "the default");

    // Without the cover: the top N only, and the live versions they miss are named.
    let body = post_scope(
        &app,
        &e.admin,
        &window,
        json!({ "strategy": "prevalence", "top_n": 1, "cover_every_live_version": false }),
    )
    .json();
    assert_eq!(set_ids(&body), vec![h2m2.clone()]);
    assert_eq!(body["uncovered_live_versions"].as_array().unwrap().len(), 2, "{body}");
    let read = scope(&app, &e.admin, &window);
    assert_eq!(set_ids(&read), vec![h2m2.clone()]);
    assert_eq!(read["top_n"], 1);
    assert!(read.get("uncovered_live_versions").is_none());
    assert!(read["set_at"].is_string() && read["set_by_org_id"].is_string());

    // More than the DPL holds: all of it.
    let body = post_scope(
        &app,
        &e.admin,
        &window,
        json!({ "strategy": "prevalence", "top_n": 1000 }),
    )
    .json();
    assert_eq!(set_ids(&body), vec![h2m2, h2m1, h1m2, h1m1]);
    assert_eq!(body["covered_share"], 1.0);
}

#[test]
fn an_explicit_list_is_the_scope_of_coverage_and_the_matrix() {
    let app = TestApp::spawn();
    let e = estate(&app, true);
    let window = open_window(&app, &e.admin, &e.release);
    let before = scope(&app, &e.admin, &window);
    assert_eq!(before["explicit"], false);
    assert_eq!(before["strategy"], Value::Null);
    let mut implied = set_ids(&before);
    implied.sort();
    let mut expected = e.implied.to_vec();
    expected.sort();
    assert_eq!(implied, expected);
    assert!(reasons(&before)
        .iter()
        .all(|r| r == "holds firmware of the window's release"));
    assert_eq!(before["covered_share"], 0.0, "the implied sets are in no DPL");

    let listed = vec![e.dpl[2].clone(), e.implied[0].clone()];
    let resp = post_scope(
        &app,
        &e.admin,
        &window,
        json!({ "strategy": "explicit", "device_set_ids": listed }),
    );
    resp.expect(200);
    let body = resp.json();
    assert_eq!(set_ids(&body), listed, "in the order listed");
    assert!(reasons(&body).iter().all(|r| r == "listed by the operator"));
    assert!((body["covered_share"].as_f64().unwrap() - 200.0 / 1750.0).abs() < 1e-9);

    let rows = |path: &str, key: &str| -> Vec<String> {
        let resp = app.get(&format!("/api/v1/uit-windows/{window}/{path}"), Some(&e.admin));
        resp.expect(200);
        let mut ids: Vec<String> = resp.json()[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["device_set_id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    let mut want = listed.clone();
    want.sort();
    assert_eq!(rows("coverage", "items"), want);
    assert_eq!(rows("matrix", "rows"), want);
    // A claimed set outside the scope joins it, as before.
    let admin = e.admin.clone();
    let supplier = app.user_in_new_org(&admin, "supplier", "member");
    app.post(
        &format!("/api/v1/uit-windows/{window}/participants"),
        Some(&supplier.token),
        &json!({}),
    )
    .expect(201);
    app.post(
        &format!("/api/v1/uit-windows/{window}/claims"),
        Some(&supplier.token),
        &json!({ "device_set_id": e.dpl[0] }),
    )
    .expect(201);
    want.push(e.dpl[0].clone());
    want.sort();
    assert_eq!(rows("coverage", "items"), want);
}

fn scope_events(app: &TestApp, token: &str, window: &str) -> Vec<Value> {
    let resp = app.get(&format!("/api/v1/change-events?entity_id={window}"), Some(token));
    resp.expect(200);
    resp.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "window.scope_changed")
        .cloned()
        .collect()
}

#[test]
fn a_change_after_opening_is_announced_with_what_changed_and_none_before() {
    let app = TestApp::spawn();
    let e = estate(&app, true);
    let scheduled = scheduled_window(&app, &e);
    post_scope(
        &app,
        &e.admin,
        &scheduled,
        json!({ "strategy": "prevalence", "top_n": 1 }),
    )
    .expect(200);
    assert!(
        scope_events(&app, &e.admin, &scheduled).is_empty(),
        "a scheduled window's scope is preparation"
    );

    let window = open_window(&app, &e.admin, &e.release);
    let participant = app.user_in_new_org(&e.admin, "supplier", "member");
    app.post(
        &format!("/api/v1/uit-windows/{window}/participants"),
        Some(&participant.token),
        &json!({}),
    )
    .expect(201);
    post_scope(
        &app,
        &e.admin,
        &window,
        json!({ "strategy": "explicit", "device_set_ids": [e.dpl[0], e.implied[0]] }),
    )
    .expect(200);
    let events = scope_events(&app, &e.admin, &window);
    assert_eq!(events.len(), 1, "{events:?}");
    let details = &events[0]["details"];
    assert_eq!(details["added"], json!([e.dpl[0]]));
    assert_eq!(details["removed"], json!([e.implied[1]]));
    assert_eq!(details["share_before"], 0.0);
    assert!((details["share_after"].as_f64().unwrap() - 1000.0 / 1750.0).abs() < 1e-9);
    // In the window, for the `uit_window_ids` filter of its participants' subscriptions.
    assert_eq!(events[0]["uit_window_ids"], json!([window]));
    assert_eq!(events[0]["topic"], "uit_windows");
    // The same sets again change nothing, so tell nothing.
    post_scope(
        &app,
        &e.admin,
        &window,
        json!({ "strategy": "explicit", "device_set_ids": [e.implied[0], e.dpl[0]] }),
    )
    .expect(200);
    assert_eq!(scope_events(&app, &e.admin, &window).len(), 1);
    let audit = app.get(&format!("/api/v1/audit-events?entity_id={window}"), Some(&e.admin));
    audit.expect(200);
    let actions: Vec<&str> = audit.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["action"].as_str())
        .filter(|a| *a == "uit_window.scope")
        .map(|_| "scope")
        .collect();
    assert_eq!(actions.len(), 2);
}

#[test]
fn bad_scopes_are_refused_naming_the_field_and_only_the_operator_sets_one() {
    let app = TestApp::spawn();
    let e = estate(&app, false);
    let window = open_window(&app, &e.admin, &e.release);
    let fields = |resp: Resp| -> Vec<String> {
        resp.expect_code(422, "validation_failed")["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap().to_string())
            .collect()
    };
    let post = |body: Value| post_scope(&app, &e.admin, &window, body);
    let missing = "01900000-0000-7000-8000-000000000000";
    assert_eq!(
        fields(post(
            json!({ "strategy": "explicit", "device_set_ids": [e.dpl[0], missing] })
        )),
        ["device_set_ids[1]"]
    );
    assert_eq!(
        fields(post(
            json!({ "strategy": "explicit", "device_set_ids": [e.dpl[0], e.dpl[0]] })
        )),
        ["device_set_ids[1]"]
    );
    assert_eq!(
        fields(post(json!({ "strategy": "explicit", "device_set_ids": [] }))),
        ["device_set_ids"]
    );
    assert_eq!(
        fields(post(
            json!({ "strategy": "explicit", "device_set_ids": [e.dpl[0]], "top_n": 3 })
        )),
        ["top_n"]
    );
    assert_eq!(fields(post(json!({ "strategy": "prevalence", "top_n": 0 }))), ["top_n"]);
    assert_eq!(
        fields(post(json!({ "strategy": "prevalence", "top_n": 1001 }))),
        ["top_n"]
    );
    assert_eq!(fields(post(json!({ "strategy": "prevalence" }))), ["top_n"]);
    post(json!({ "strategy": "sampled", "top_n": 3 })).expect_code(400, "malformed_body");
    post(json!({ "strategy": "prevalence", "top_n": 3 })).expect_code(422, "no_dpl");
    // Nothing was written.
    assert_eq!(scope(&app, &e.admin, &window)["explicit"], false);
    let w = world(&app);
    let body = json!({ "strategy": "explicit", "device_set_ids": [w.sets[0]] });
    for token in [&w.a.token, &w.a_viewer.token, &w.reviewer.token, &w.maker.token] {
        post_scope(&app, token, &w.window, body.clone()).expect_code(403, "forbidden");
    }
    post_scope(&app, &w.admin, missing, body).expect_code(404, "not_found");
    for limit in ["0", "101", "x"] {
        let resp = app.get(
            &format!("/api/v1/uit-windows/{}/suggestions?limit={limit}", w.window),
            Some(&w.admin),
        );
        assert!(resp.status == 400 || resp.status == 422, "{}", resp.body);
    }
    app.get(&format!("/api/v1/uit-windows/{missing}/suggestions"), Some(&w.admin))
        .expect_code(404, "not_found");
    app.get(&format!("/api/v1/uit-windows/{missing}/scope"), Some(&w.admin))
        .expect_code(404, "not_found");
}

fn suggestions(app: &TestApp, token: &str, window: &str) -> Value {
    let resp = app.get(&format!("/api/v1/uit-windows/{window}/suggestions"), Some(token));
    resp.expect(200);
    resp.json()
}

fn ranked(s: &Value) -> Vec<String> {
    s["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["device_set_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn suggestions_follow_claims_and_everyone_reads_the_scope() {
    let app = TestApp::spawn();
    let w = world(&app);
    // The world's sets: [hub+esme 5000, hub+gsme 300, hub+esme+gsme 20000].
    let first = suggestions(&app, &w.a.token, &w.window);
    assert_eq!(
        ranked(&first),
        vec![w.sets[2].clone(), w.sets[0].clone(), w.sets[1].clone()]
    );
    assert_eq!(first["items"][0]["new_versions"].as_array().unwrap().len(), 3);
    assert_eq!(first["items"][0]["new_pairs"].as_array().unwrap().len(), 2);
    assert_eq!(
        first["items"][1]["new_versions"],
        json!([]),
        "all covered by the first pick"
    );
    assert!(first["items"][1]["reason"]
        .as_str()
        .unwrap()
        .contains("adds no version"));
    assert_eq!(first["candidates"], 3);
    assert_eq!(first["explicit_scope"], false);

    claim(&app, &w, &w.b.token, &w.sets[2]).expect(201);
    let after = suggestions(&app, &w.a.token, &w.window);
    assert_eq!(
        ranked(&after),
        vec![w.sets[0].clone(), w.sets[1].clone()],
        "the claimed set left"
    );
    // The hub, the meter and the gas meter and both pairs are the claimed set's now.
    assert_eq!(after["items"][0]["new_versions"], json!([]));
    assert!(after["items"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("adds no version"));
    assert_eq!(after["candidates"], 2);
    let limited = app.get(
        &format!("/api/v1/uit-windows/{}/suggestions?limit=1", w.window),
        Some(&w.a.token),
    );
    assert_eq!(ranked(&limited.json()), vec![w.sets[0].clone()]);

    // Everyone reads the scope alike: another supplier, a viewer, a reviewer, an outsider.
    post_scope(
        &app,
        &w.admin,
        &w.window,
        json!({ "strategy": "explicit", "device_set_ids": [w.sets[0], w.sets[1]] }),
    )
    .expect(200);
    let seen = scope(&app, &w.admin, &w.window);
    for token in [
        &w.a.token,
        &w.b.token,
        &w.a_viewer.token,
        &w.reviewer.token,
        &w.outsider.token,
    ] {
        assert_eq!(scope(&app, token, &w.window), seen);
        let s = suggestions(&app, token, &w.window);
        assert_eq!(s["explicit_scope"], true);
        assert_eq!(ranked(&s), vec![w.sets[0].clone(), w.sets[1].clone()]);
    }
}

#[test]
fn a_private_result_changes_its_publishers_suggestions_only() {
    let app = TestApp::spawn();
    let w = world(&app);
    let before_a = suggestions(&app, &w.a.token, &w.window);
    let before_b = suggestions(&app, &w.b.token, &w.window);
    assert_eq!(before_a, before_b);
    publish(
        &app,
        &w.b.token,
        &w.window,
        &w.sets[2],
        "install_and_commission",
        "pass",
        "private",
    )
    .expect(201);
    assert_eq!(
        suggestions(&app, &w.a.token, &w.window),
        before_a,
        "A cannot learn of B's private result"
    );
    for token in [&w.a_viewer.token, &w.reviewer.token, &w.outsider.token] {
        assert_eq!(suggestions(&app, token, &w.window), before_a);
    }
    let b = suggestions(&app, &w.b.token, &w.window);
    assert_ne!(b, before_b);
    // B's tested set covers everything: nothing it suggests adds a version.
    assert!(
        b["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["new_versions"] == json!([])),
        "{b}"
    );
}
