//! Review packs (frozen, hashed, diffable evidence), verdicts on them, and the stage gate
//! that cites them.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::fixtures::{publish, world, World, SCENARIOS};
use crate::helpers::{Resp, TestApp};
use crate::releases::move_to;

fn freeze(app: &TestApp, w: &World) -> Value {
    let r = app.post(
        &format!("/api/v1/uit-windows/{}/review-packs", w.window),
        Some(&w.admin),
        &json!({ "title": "exit review" }),
    );
    r.expect(201);
    r.json()
}

fn download(app: &TestApp, token: &str, pack: &Value) -> Resp {
    let r = app.get(
        &format!("/api/v1/review-packs/{}", pack["id"].as_str().unwrap()),
        Some(token),
    );
    r.expect(200);
    r
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

fn diff(app: &TestApp, w: &World, to: &Value, from: &Value) -> Value {
    let r = app.get(
        &format!("/api/v1/review-packs/{}/diff?against={}", id(to), id(from)),
        Some(&w.reviewer.token),
    );
    r.expect(200);
    r.json()
}

#[test]
fn a_pack_freezes_industry_evidence_under_a_hash_anyone_can_check() {
    let app = TestApp::spawn();
    let w = world(&app);
    app.patch(
        &format!("/api/v1/uit-windows/{}", w.window),
        Some(&w.admin),
        &json!({ "exit_criteria": { "max_unexplained_failures": 0 } }),
    )
    .expect(200);
    let shared = publish(
        &app,
        &w.a.token,
        &w.window,
        &w.sets[2],
        SCENARIOS[0],
        "pass",
        "industry",
    );
    shared.expect(201);
    let shared = id(&shared.json());
    let participants = id(&publish(
        &app,
        &w.b.token,
        &w.window,
        &w.sets[0],
        SCENARIOS[0],
        "fail",
        "participants",
    )
    .json());
    let private = id(&publish(&app, &w.a.token, &w.window, &w.sets[1], SCENARIOS[0], "fail", "private").json());

    let first = freeze(&app, &w);
    assert_eq!(first["readiness_met"], true, "only industry results count: {first}");
    assert_eq!(first["summary"]["results"], 1);
    assert_eq!(first["title"], "exit review");
    let sha = first["sha256"].as_str().unwrap().to_string();

    // Any organisation reads it, reviewers and outsiders included; the hash checks out.
    let got = download(&app, &w.reviewer.token, &first);
    assert_eq!(got.header("etag").unwrap(), format!("\"{sha}\""));
    assert_eq!(hex::encode(Sha256::digest(got.body.as_bytes())), sha);
    assert!(got.body.starts_with("{\"coverage\":"), "keys sorted");
    assert!(
        !got.body.contains("\n") && !got.body.contains("\": "),
        "no insignificant whitespace"
    );
    let doc = got.json();
    assert_eq!(doc["format"], "uit-portal.review-pack/1");
    assert_eq!(doc["uit_window"]["id"], w.window.as_str());
    let ids: Vec<&str> = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [shared.as_str()]);
    for hidden in [&participants, &private] {
        assert!(
            !got.body.contains(hidden.as_str()),
            "a pack holds industry results only"
        );
    }
    assert_eq!(doc["readiness"]["met"], true);
    assert_eq!(download(&app, &w.outsider.token, &first).body, got.body);
    assert_eq!(
        download(&app, &w.a_viewer.token, &first).body,
        got.body,
        "a viewer reads packs too"
    );

    let again = app.send(
        "GET",
        &format!("/api/v1/review-packs/{}", id(&first)),
        Some(&w.a.token),
        &[("If-None-Match", &format!("\"{sha}\""))],
        None,
    );
    again.expect(304);
    let csv = app.send(
        "GET",
        &format!("/api/v1/review-packs/{}", id(&first)),
        Some(&w.a.token),
        &[("Accept", "text/csv")],
        None,
    );
    csv.expect(200);
    let lines: Vec<&str> = csv.body.lines().collect();
    assert!(
        lines[0].starts_with("result_id,device_set_id,device_set_name,scenario"),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len(), 2);
    assert!(lines[1].starts_with(&shared));

    // Amending the result changes the live evidence, never the pack.
    app.patch(
        &format!("/api/v1/results/{shared}"),
        Some(&w.a.token),
        &json!({ "outcome": "fail" }),
    )
    .expect(200);
    let after = download(&app, &w.reviewer.token, &first);
    assert_eq!(after.body, got.body);
    assert_eq!(hex::encode(Sha256::digest(after.body.as_bytes())), sha);

    let second = freeze(&app, &w);
    assert_eq!(second["readiness_met"], false);
    assert_ne!(second["sha256"], first["sha256"]);
    let d = diff(&app, &w, &second, &first);
    assert_eq!(
        d["cells_changed"],
        json!([{ "device_set_id": w.sets[2], "scenario": SCENARIOS[0], "from": "pass", "to": "fail" }])
    );
    assert_eq!(
        d["results_amended"],
        json!([{ "result_id": shared, "from_revision": 1, "to_revision": 2 }])
    );
    assert_eq!(d["results_added"], json!([]));
    assert_eq!(
        d["criteria_flipped"],
        json!([{ "criterion": "max_unexplained_failures", "from_met": true, "to_met": false }])
    );
    assert_eq!(d["readiness_met"], json!({ "from": true, "to": false }));

    // A result added, then one narrowed out of industry: added, then withdrawn.
    let added = id(&publish(
        &app,
        &w.b.token,
        &w.window,
        &w.sets[1],
        SCENARIOS[1],
        "pass",
        "industry",
    )
    .json());
    let third = freeze(&app, &w);
    let d = diff(&app, &w, &third, &second);
    assert_eq!(d["results_added"], json!([added]));
    assert_eq!(
        d["cells_changed"],
        json!([{ "device_set_id": w.sets[1], "scenario": SCENARIOS[1], "from": null, "to": "pass" }])
    );
    app.patch(
        &format!("/api/v1/results/{added}"),
        Some(&w.b.token),
        &json!({ "visibility": "participants" }),
    )
    .expect(200);
    let fourth = freeze(&app, &w);
    let d = diff(&app, &w, &fourth, &third);
    assert_eq!(d["results_withdrawn"], json!([added]));
    assert_eq!(d["totals"]["cells_changed"], 1);

    let list = app.get(
        &format!("/api/v1/uit-windows/{}/review-packs", w.window),
        Some(&w.outsider.token),
    );
    list.expect(200);
    let listed: Vec<String> = list.json()["items"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(listed, [id(&first), id(&second), id(&third), id(&fourth)]);

    // Only the operator freezes; a missing window or pack is 404; packs of two windows do not compare.
    app.post(
        &format!("/api/v1/uit-windows/{}/review-packs", w.window),
        Some(&w.a.token),
        &json!({}),
    )
    .expect(403);
    app.post(
        "/api/v1/uit-windows/01900000-0000-7000-8000-000000000000/review-packs",
        Some(&w.admin),
        &json!({}),
    )
    .expect(404);
    app.get(
        "/api/v1/review-packs/01900000-0000-7000-8000-000000000000",
        Some(&w.a.token),
    )
    .expect(404);
    let other_window = crate::fixtures::open_window(&app, &w.admin, &w.release);
    let other = app.post(
        &format!("/api/v1/uit-windows/{other_window}/review-packs"),
        Some(&w.admin),
        &json!({}),
    );
    other.expect(201);
    app.get(
        &format!("/api/v1/review-packs/{}/diff?against={}", id(&other.json()), id(&first)),
        Some(&w.a.token),
    )
    .expect_code(422, "packs_of_different_windows");
}

#[test]
fn reviewers_and_the_operator_record_verdicts_with_history() {
    let app = TestApp::spawn();
    let w = world(&app);
    let pack = freeze(&app, &w);
    let path = format!("/api/v1/review-packs/{}/reviews", id(&pack));

    let approve = app.post(&path, Some(&w.reviewer.token), &json!({ "verdict": "approve" }));
    approve.expect(201);
    assert_eq!(approve.json()["current"], true);
    let bare = app.post(&path, Some(&w.reviewer.token), &json!({ "verdict": "concerns" }));
    bare.expect(422);
    assert_eq!(bare.json()["errors"][0]["field"], "comment");
    app.post(
        &path,
        Some(&w.reviewer.token),
        &json!({ "verdict": "concerns", "comment": "Prepayment is untested on GSME." }),
    )
    .expect(201);
    app.post(&path, Some(&w.admin), &json!({ "verdict": "approve", "comment": "" }))
        .expect(201);
    app.post(&path, Some(&w.a.token), &json!({ "verdict": "approve" }))
        .expect(403);
    let reviewer_viewer = app.invite_user(&w.admin, &w.reviewer.org_id, "viewer");
    app.post(&path, Some(&reviewer_viewer.token), &json!({ "verdict": "approve" }))
        .expect(403);
    app.post(&path, Some(&w.reviewer.token), &json!({ "verdict": "maybe" }))
        .expect_code(400, "malformed_body");

    let all = app.get(&path, Some(&w.outsider.token));
    all.expect(200);
    let verdicts: Vec<(String, bool)> = all.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["verdict"].as_str().unwrap().to_string(),
                r["current"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            ("approve".to_string(), false),
            ("concerns".to_string(), true),
            ("approve".to_string(), true)
        ]
    );
    let listed = app
        .get(
            &format!("/api/v1/uit-windows/{}/review-packs", w.window),
            Some(&w.a.token),
        )
        .json();
    assert_eq!(
        listed["items"][0]["reviews"].as_array().unwrap().len(),
        2,
        "current verdicts only"
    );
}

#[test]
fn leaving_uit_cites_a_pack_whose_criteria_are_met_or_overridden() {
    let app = TestApp::spawn();
    let w = world(&app);
    app.post(
        "/api/v1/subscriptions",
        Some(&w.reviewer.token),
        &json!({ "topics": ["releases"] }),
    )
    .expect(201);
    for stage in ["pit", "sit", "uit"] {
        move_to(&app, &w.admin, &w.release, stage, None).expect(200);
    }
    let stage = format!("/api/v1/releases/{}/stage", w.release);
    let body = |extra: Value| {
        let mut b = json!({ "stage": "production_proving", "decision_note": "UIT exit" });
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    app.post(&stage, Some(&w.admin), &body(json!({})))
        .expect_code(422, "review_pack_required");

    app.patch(
        &format!("/api/v1/uit-windows/{}", w.window),
        Some(&w.admin),
        &json!({ "exit_criteria": { "max_unexplained_failures": 0, "min_publishing_suppliers": 1 } }),
    )
    .expect(200);
    let failed = publish(
        &app,
        &w.a.token,
        &w.window,
        &w.sets[2],
        SCENARIOS[0],
        "fail",
        "industry",
    );
    failed.expect(201);
    let failed = id(&failed.json());
    let pack = freeze(&app, &w);
    app.post(
        &format!("/api/v1/review-packs/{}/reviews", id(&pack)),
        Some(&w.reviewer.token),
        &json!({ "verdict": "concerns", "comment": "One failure unexplained." }),
    )
    .expect(201);

    let refused = app
        .post(&stage, Some(&w.admin), &body(json!({ "review_pack_id": id(&pack) })))
        .expect_code(422, "exit_criteria_unmet");
    assert_eq!(refused["context"]["unmet"], json!(["max_unexplained_failures"]));
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("At most 0 shared failures"),
        "{refused}"
    );
    app.post(&stage, Some(&w.admin), &body(json!({ "override_reason": "no pack" })))
        .expect(422);
    let foreign = app.post(
        &stage,
        Some(&w.admin),
        &body(json!({ "review_pack_id": "01900000-0000-7000-8000-000000000000" })),
    );
    foreign.expect(422);
    assert_eq!(foreign.json()["errors"][0]["field"], "review_pack_id");
    let release = app
        .get(&format!("/api/v1/releases/{}", w.release), Some(&w.admin))
        .json();
    assert_eq!(release["stage"], "uit", "nothing moved");

    let moved = app.post(
        &stage,
        Some(&w.admin),
        &body(json!({ "review_pack_id": id(&pack), "override_reason": "The failure is a test rig fault (RIG-7)." })),
    );
    moved.expect(200);
    let history = app
        .get(
            &format!("/api/v1/releases/{}/stages", w.release),
            Some(&w.outsider.token),
        )
        .json();
    let last = history["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["to_stage"], "production_proving");
    assert_eq!(last["review_pack_id"], pack["id"]);
    assert_eq!(last["review_pack_sha256"], pack["sha256"]);
    assert_eq!(last["override_reason"], "The failure is a test rig fault (RIG-7).");
    assert_eq!(last["reviews"][0]["verdict"], "concerns");
    assert_eq!(last["reviews"][0]["comment"], "One failure unexplained.");

    // Approval with a pack that meets the criteria: an override is refused as meaningless.
    app.patch(
        &format!("/api/v1/results/{failed}"),
        Some(&w.a.token),
        &json!({ "outcome": "pass" }),
    )
    .expect(200);
    let good = freeze(&app, &w);
    assert_eq!(good["readiness_met"], true);
    let approve = |extra: Value| {
        let mut b = body(extra);
        b["stage"] = json!("approved");
        b
    };
    let pointless = app.post(
        &stage,
        Some(&w.admin),
        &approve(json!({ "review_pack_id": id(&good), "override_reason": "just because" })),
    );
    pointless.expect(422);
    assert_eq!(pointless.json()["errors"][0]["field"], "override_reason");
    app.post(&stage, Some(&w.admin), &approve(json!({ "review_pack_id": id(&good) })))
        .expect(200);

    // Subscribers to releases read the evidence in the email.
    crate::notifications::delivered(&app);
    let mails: Vec<String> = app
        .smtp
        .received()
        .into_iter()
        .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(&w.reviewer.email)))
        .map(|m| m.decoded())
        .filter(|m| m.contains("review pack"))
        .collect();
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert!(
        mails.iter().any(|m| m.contains("overrode the unmet criteria")),
        "{mails:?}"
    );
    assert!(mails.iter().all(|m| m.contains("\"exit review\"")), "{mails:?}");
}
