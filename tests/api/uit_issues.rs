//! UIT issues: raising, reading, editing, the status track, defect masks, visibility from the
//! other side, notifications and the resolving admins' email.

use serde_json::{json, Value};

use crate::fixtures::{open_window, publish, world, World, SCENARIOS};
use crate::helpers::{at_once, Resp, TestApp, TestUser};
use crate::notifications::{db, delivered, wait_until};

const MISSING: &str = "01900000-0000-7000-8000-000000000000";
const PUBLIC: &str = "https://portal.example.org";

fn raise(app: &TestApp, w: &World, token: &str, extra: Value) -> Resp {
    let mut body = json!({
        "uit_window_id": w.window,
        "title": "Prepayment top-up lost after a hub swap",
        "description": "The PPMID shows the credit; the meter never applies it.",
        "severity": "blocking",
        "device_set_ids": [w.sets[0]],
        "resolving_org_id": w.maker.org_id,
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    app.post("/api/v1/uit-issues", Some(token), &body)
}

fn move_to(app: &TestApp, issue: &str, token: &str, to: &str, comment: &str) -> Resp {
    app.post(
        &format!("/api/v1/uit-issues/{issue}/transitions"),
        Some(token),
        &json!({ "to": to, "comment": comment }),
    )
}

fn listed(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    app.get(&format!("/api/v1/uit-issues{query}"), Some(token))
        .expect(200)
        .ids()
}

pub fn fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn raise_list_read_and_edit_an_issue() {
    let app = TestApp::spawn();
    let w = world(&app);
    let result = publish(
        &app,
        &w.a.token,
        &w.window,
        &w.sets[0],
        SCENARIOS[0],
        "fail",
        "participants",
    );
    result.expect(201);
    let created = raise(
        &app,
        &w,
        &w.a.token,
        json!({ "result_ids": [result.id(), result.id()], "device_set_ids": [w.sets[0], w.sets[1], w.sets[0]] }),
    );
    created.expect(201);
    let issue = created.json();
    let issue_id = created.id();
    assert_eq!(
        created.header("location").as_deref(),
        Some(format!("/api/v1/uit-issues/{issue_id}").as_str())
    );
    assert_eq!(issue["status"], "open");
    assert_eq!(issue["severity"], "blocking");
    assert_eq!(issue["raised_by_org_id"], w.a.org_id.as_str());
    assert_eq!(issue["raised_by_user_id"], w.a.id.as_str());
    assert_eq!(issue["resolving_org_id"], w.maker.org_id.as_str());
    assert_eq!(issue["result_ids"], json!([result.id()]));
    let mut sets = vec![w.sets[0].clone(), w.sets[1].clone()];
    sets.sort();
    assert_eq!(issue["device_set_ids"], json!(sets));
    assert_eq!(issue["defect_mask_id"], Value::Null);

    // Idempotency-Key: a replay returns the original; another body with the key is 422.
    let body = json!({ "uit_window_id": w.window, "title": "Display blank", "severity": "minor",
                       "resolving_org_id": w.maker.org_id });
    let send = |body: &Value| {
        app.send(
            "POST",
            "/api/v1/uit-issues",
            Some(&w.b.token),
            &[("idempotency-key", "raise-1")],
            Some(("application/json", body.to_string().into_bytes())),
        )
    };
    let first = send(&body);
    first.expect(201);
    let replay = send(&body);
    replay.expect(201);
    assert_eq!(replay.id(), first.id());
    let mut other = body.clone();
    other["title"] = json!("Display dark");
    send(&other).expect_code(422, "idempotency_key_reused");
    let minor = first.id();

    // Readers: participants, the operator, the resolving organisation.
    for token in [&w.a.token, &w.b.token, &w.admin, &w.maker.token, &w.a_viewer.token] {
        let got = app.get(&format!("/api/v1/uit-issues/{issue_id}"), Some(token));
        got.expect(200);
        assert_eq!(got.header("etag").as_deref(), Some("\"1\""));
    }
    let window_filter = format!("?uit_window_id={}", w.window);
    assert_eq!(
        listed(&app, &w.b.token, &window_filter),
        vec![issue_id.clone(), minor.clone()]
    );
    assert_eq!(
        listed(&app, &w.maker.token, "?severity=blocking"),
        vec![issue_id.clone()]
    );
    assert_eq!(
        listed(&app, &w.admin, "?severity=minor&status=open"),
        vec![minor.clone()]
    );
    assert_eq!(
        listed(&app, &w.a.token, &format!("?resolving_org_id={}", w.a.org_id)),
        Vec::<String>::new()
    );
    assert!(listed(&app, &w.a.token, "?status=triaged").is_empty());
    let page = app.get("/api/v1/uit-issues?limit=1", Some(&w.a.token));
    page.expect(200);
    assert!(page.json()["next_cursor"].is_string() && page.header("link").is_some());
    app.get("/api/v1/uit-issues?status=closed", Some(&w.a.token))
        .expect(400);
    app.get("/api/v1/uit-issues?colour=red", Some(&w.a.token)).expect(400);

    // Edits: the raiser (with If-Match) or the operator; others 403.
    let path = format!("/api/v1/uit-issues/{issue_id}");
    let edited = app.send(
        "PATCH",
        &path,
        Some(&w.a.token),
        &[("if-match", "\"1\"")],
        Some((
            "application/json",
            json!({ "title": "Top-up lost after a hub swap", "severity": "major" })
                .to_string()
                .into_bytes(),
        )),
    );
    edited.expect(200);
    assert_eq!(edited.header("etag").as_deref(), Some("\"2\""));
    assert_eq!(edited.json()["title"], "Top-up lost after a hub swap");
    assert_eq!(edited.json()["severity"], "major");
    let stale = app.send(
        "PATCH",
        &path,
        Some(&w.a.token),
        &[("if-match", "\"1\"")],
        Some(("application/json", json!({ "title": "Stale" }).to_string().into_bytes())),
    );
    stale.expect_code(412, "precondition_failed");
    for token in [&w.b.token, &w.maker.token] {
        app.patch(&path, Some(token), &json!({ "title": "Not yours" }))
            .expect_code(403, "forbidden");
    }
    app.patch(&path, Some(&w.a_viewer.token), &json!({ "title": "Viewer" }))
        .expect_code(403, "forbidden");
    app.patch(&path, Some(&w.admin), &json!({ "description": "Seen on three sets." }))
        .expect(200);
    app.patch(&path, Some(&w.a.token), &json!({ "status": "resolved" }))
        .expect(400);
    let now = app.get(&path, Some(&w.a.token)).json();
    assert_eq!(now["version"], 3);
    assert_eq!(now["description"], "Seen on three sets.");
}

#[test]
fn bad_input_names_the_field_and_writes_nothing() {
    let app = TestApp::spawn();
    let w = world(&app);
    let admin = w.admin.clone();
    let other_window = open_window(&app, &admin, &w.release);
    let b_private = publish(&app, &w.b.token, &w.window, &w.sets[0], SCENARIOS[0], "fail", "private");
    b_private.expect(201);
    let a_elsewhere = publish(
        &app,
        &w.a.token,
        &other_window,
        &w.sets[0],
        SCENARIOS[0],
        "fail",
        "industry",
    );
    a_elsewhere.expect(201);
    let a_here = publish(&app, &w.a.token, &w.window, &w.sets[1], SCENARIOS[0], "fail", "private");
    a_here.expect(201);

    let body = raise(
        &app,
        &w,
        &w.a.token,
        json!({ "title": "  ", "description": "x".repeat(10_001) }),
    )
    .expect_code(422, "validation_failed");
    assert_eq!(fields(&body), ["title", "description"]);

    let body = raise(
        &app,
        &w,
        &w.a.token,
        json!({ "device_set_ids": [w.sets[0], MISSING],
                "result_ids": [a_here.id(), b_private.id(), MISSING, a_elsewhere.id()] }),
    )
    .expect_code(422, "validation_failed");
    assert_eq!(
        fields(&body),
        ["device_set_ids[1]", "result_ids[1]", "result_ids[2]", "result_ids[3]"]
    );
    // Another organisation's private result reads exactly like a missing one.
    let messages: Vec<&str> = body["errors"].as_array().unwrap()[1..]
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(messages.iter().all(|m| *m == messages[0]), "{messages:?}");
    assert!(!body.to_string().contains(&b_private.id()));

    let supplier =
        raise(&app, &w, &w.a.token, json!({ "resolving_org_id": w.b.org_id })).expect_code(422, "validation_failed");
    assert_eq!(fields(&supplier), ["resolving_org_id"]);
    let reviewer = raise(&app, &w, &w.a.token, json!({ "resolving_org_id": w.reviewer.org_id }))
        .expect_code(422, "validation_failed");
    assert_eq!(fields(&reviewer), ["resolving_org_id"]);
    let nobody =
        raise(&app, &w, &w.a.token, json!({ "resolving_org_id": MISSING })).expect_code(422, "validation_failed");
    assert_eq!(fields(&nobody), ["resolving_org_id"]);
    let window = raise(&app, &w, &w.a.token, json!({ "uit_window_id": MISSING })).expect_code(422, "validation_failed");
    assert_eq!(fields(&window), ["uit_window_id"]);

    raise(&app, &w, &w.a.token, json!({ "severity": "critical" })).expect(400);
    raise(&app, &w, &w.a.token, json!({ "colour": "red" })).expect(400);
    let no_title = app.post(
        "/api/v1/uit-issues",
        Some(&w.a.token),
        &json!({ "uit_window_id": w.window, "severity": "minor", "resolving_org_id": w.maker.org_id }),
    );
    no_title.expect(400);

    // Who raises: participants and the operator; not outsiders, reviewers or viewers.
    raise(&app, &w, &w.outsider.token, json!({})).expect_code(403, "forbidden");
    raise(&app, &w, &w.reviewer.token, json!({})).expect_code(403, "forbidden");
    raise(&app, &w, &w.a_viewer.token, json!({})).expect_code(403, "forbidden");
    assert!(listed(&app, &admin, "").is_empty(), "a refused request wrote an issue");

    raise(&app, &w, &admin, json!({ "resolving_org_id": w.maker.org_id })).expect(201);
    // The operator may also be the resolving party.
    let operator_org = app.get("/api/v1/me", Some(&admin)).json()["organisation"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let own = raise(
        &app,
        &w,
        &w.a.token,
        json!({ "resolving_org_id": operator_org, "result_ids": [a_here.id()] }),
    );
    own.expect(201);
    assert_eq!(own.json()["result_ids"], json!([a_here.id()]));
    // A's private result is cited, but only A reads its id.
    let seen_by_b = app.get(&format!("/api/v1/uit-issues/{}", own.id()), Some(&w.b.token));
    assert_eq!(seen_by_b.json()["result_ids"], json!([]));
}

/// Tries every status `allowed` does not name and expects 422 `illegal_transition` naming
/// `from` and `to`.
#[track_caller]
fn only(app: &TestApp, issue: &str, token: &str, from: &str, allowed: &[&str]) {
    for to in ["open", "triaged", "resolved", "confirmed", "wont_fix"] {
        if allowed.contains(&to) {
            continue;
        }
        let body = move_to(app, issue, token, to, "because").expect_code(422, "illegal_transition");
        assert_eq!(body["context"]["from"], from, "{body}");
        assert_eq!(body["context"]["to"], to, "{body}");
        assert_eq!(body["context"]["allowed"], json!(allowed), "{body}");
    }
}

#[test]
fn the_status_track_moves_by_the_right_party_and_nothing_else() {
    let app = TestApp::spawn();
    let w = world(&app);
    let admin = w.admin.clone();
    let issue = raise(&app, &w, &w.a.token, json!({})).expect(201).id();
    let path = format!("/api/v1/uit-issues/{issue}");
    let status = || app.get(&path, Some(&w.a.token)).json()["status"].clone();

    // open: the resolver triages; the raiser and other participants may not.
    only(&app, &issue, &admin, "open", &["triaged"]);
    move_to(&app, &issue, &w.a.token, "triaged", "").expect_code(403, "forbidden");
    move_to(&app, &issue, &w.b.token, "triaged", "").expect_code(403, "forbidden");
    move_to(&app, &issue, &w.outsider.token, "triaged", "").expect_code(404, "not_found");
    move_to(&app, &issue, &w.reviewer.token, "triaged", "").expect_code(403, "forbidden");
    let stale = app.send(
        "POST",
        &format!("{path}/transitions"),
        Some(&w.maker.token),
        &[("if-match", "\"7\"")],
        Some(("application/json", json!({ "to": "triaged" }).to_string().into_bytes())),
    );
    stale.expect_code(412, "precondition_failed");
    let triaged = move_to(&app, &issue, &w.maker.token, "triaged", "Reproduced on the bench.");
    triaged.expect(200);
    assert_eq!(triaged.header("etag").as_deref(), Some("\"2\""));
    assert_eq!(triaged.json()["status"], "triaged");

    // triaged: resolved or won't fix (with a reason), by the resolver.
    only(&app, &issue, &admin, "triaged", &["resolved", "wont_fix"]);
    let body = move_to(&app, &issue, &w.maker.token, "wont_fix", " ").expect_code(422, "validation_failed");
    assert_eq!(fields(&body), ["comment"]);
    move_to(&app, &issue, &w.a.token, "wont_fix", "no").expect_code(403, "forbidden");
    move_to(&app, &issue, &w.maker.token, "wont_fix", "Works as specified.").expect(200);

    // wont_fix: the raiser reopens with a reason; the resolver may not.
    only(&app, &issue, &admin, "wont_fix", &["open"]);
    move_to(&app, &issue, &w.maker.token, "open", "again").expect_code(403, "forbidden");
    let body = move_to(&app, &issue, &w.a.token, "open", "").expect_code(422, "validation_failed");
    assert_eq!(fields(&body), ["comment"]);
    move_to(&app, &issue, &w.a.token, "open", "It breaks prepayment customers.").expect(200);

    // The operator may take the resolver's steps.
    move_to(&app, &issue, &admin, "triaged", "").expect(200);
    move_to(&app, &issue, &w.maker.token, "resolved", "Fixed in 3.0.1.").expect(200);

    // resolved: the raiser confirms or reopens with a reason.
    only(&app, &issue, &admin, "resolved", &["open", "confirmed"]);
    move_to(&app, &issue, &w.maker.token, "confirmed", "").expect_code(403, "forbidden");
    move_to(&app, &issue, &w.b.token, "confirmed", "").expect_code(403, "forbidden");
    let body = move_to(&app, &issue, &w.a.token, "open", "").expect_code(422, "validation_failed");
    assert_eq!(fields(&body), ["comment"]);
    move_to(&app, &issue, &w.a.token, "open", "Still fails on set 2.").expect(200);
    move_to(&app, &issue, &w.maker.token, "triaged", "").expect(200);
    move_to(&app, &issue, &w.maker.token, "resolved", "Fixed in 3.0.2.").expect(200);
    let confirmed = move_to(&app, &issue, &w.a.token, "confirmed", "Passes now.");
    confirmed.expect(200);
    assert_eq!(confirmed.json()["status"], "confirmed");
    only(&app, &issue, &admin, "confirmed", &[]);
    assert_eq!(status(), "confirmed");

    // The history: raised, then every move with who and why.
    let history = app.get(&format!("{path}/history"), Some(&w.b.token));
    history.expect(200);
    let steps: Vec<(Value, Value, Value, Value)> = history.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["from_status"].clone(),
                s["to_status"].clone(),
                s["actor_org_id"].clone(),
                s["comment"].clone(),
            )
        })
        .collect();
    let maker = json!(w.maker.org_id);
    let a = json!(w.a.org_id);
    assert_eq!(steps.len(), 10, "{steps:?}");
    assert_eq!(steps[0], (Value::Null, json!("open"), a.clone(), json!("")));
    assert_eq!(
        steps[1],
        (
            json!("open"),
            json!("triaged"),
            maker.clone(),
            json!("Reproduced on the bench.")
        )
    );
    assert_eq!(
        steps[2],
        (
            json!("triaged"),
            json!("wont_fix"),
            maker.clone(),
            json!("Works as specified.")
        )
    );
    assert_eq!(
        steps[3],
        (
            json!("wont_fix"),
            json!("open"),
            a.clone(),
            json!("It breaks prepayment customers.")
        )
    );
    assert_eq!(
        steps[9],
        (json!("resolved"), json!("confirmed"), a.clone(), json!("Passes now."))
    );
    app.get(&format!("{path}/history"), Some(&w.outsider.token))
        .expect_code(404, "not_found");

    // Audit rows: one per write.
    let audit = app.get(
        &format!("/api/v1/audit-events?entity_type=uit_issue&entity_id={issue}&limit=50"),
        Some(&admin),
    );
    audit.expect(200);
    let actions: Vec<String> = audit.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(actions.len(), 10);
    assert_eq!(actions.last().unwrap(), "uit_issue.create");
    assert!(actions[..9].iter().all(|a| a == "uit_issue.transition"), "{actions:?}");
}

#[test]
fn concurrent_conversions_of_one_issue_make_one_mask_and_name_it_to_the_others() {
    let app = TestApp::spawn_with(|c| c.database_pool_size = 8);
    let w = world(&app);
    let issue = raise(&app, &w, &w.a.token, json!({})).expect(201).id();
    let path = format!("/api/v1/uit-issues/{issue}/defect-mask");
    let answers = at_once(12, |i| {
        let body = json!({ "code": format!("DM-75{i:02}"), "title": "Lost top-up", "severity": "major",
                           "device_model_id": w.esme_model });
        app.post(&path, Some(&w.maker.token), &body)
    });
    let statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
    let winners: Vec<&Value> = answers.iter().filter(|(s, _)| *s == 201).map(|(_, b)| b).collect();
    assert_eq!(winners.len(), 1, "{statuses:?}");
    for (status, problem) in answers.iter().filter(|(s, _)| *s != 201) {
        assert_eq!(
            (*status, &problem["code"]),
            (409, &json!("uit_issue_already_converted")),
            "{problem}"
        );
        assert_eq!(problem["context"]["defect_mask_id"], winners[0]["id"], "{problem}");
    }
    let linked = app.get(&format!("/api/v1/uit-issues/{issue}"), Some(&w.a.token));
    assert_eq!(linked.json()["defect_mask_id"], winners[0]["id"]);
}

#[test]
fn an_understood_issue_becomes_a_linked_defect_mask() {
    let app = TestApp::spawn();
    let w = world(&app);
    let issue = raise(&app, &w, &w.a.token, json!({})).expect(201).id();
    let path = format!("/api/v1/uit-issues/{issue}/defect-mask");
    let mask = |code: &str| {
        json!({ "code": code, "title": "Top-up lost after a hub swap", "severity": "major",
                "device_model_id": w.esme_model, "symptom": "Credit not applied.",
                "workaround": "Re-send the top-up." })
    };
    // The raiser is not the resolving party; an outsider does not see the issue.
    app.post(&path, Some(&w.a.token), &mask("DM-7001"))
        .expect_code(403, "forbidden");
    app.post(&path, Some(&w.outsider.token), &mask("DM-7001"))
        .expect_code(404, "not_found");
    let bad = app.post(&path, Some(&w.maker.token), &mask("no spaces allowed"));
    assert_eq!(fields(&bad.expect_code(422, "validation_failed")), ["code"]);
    let bad = app.post(
        &path,
        Some(&w.maker.token),
        &json!({ "code": "DM-7001", "title": "x", "severity": "major", "device_model_id": MISSING }),
    );
    assert_eq!(fields(&bad.expect_code(422, "validation_failed")), ["device_model_id"]);
    assert_eq!(
        app.get(&format!("/api/v1/uit-issues/{issue}"), Some(&w.a.token)).json()["defect_mask_id"],
        Value::Null
    );

    let created = app.post(&path, Some(&w.maker.token), &mask("DM-7001"));
    created.expect(201);
    let mask_id = created.id();
    assert_eq!(created.json()["code"], "DM-7001");
    assert_eq!(created.json()["owner_org_id"], w.maker.org_id.as_str());
    // The mask is an ordinary, industry-visible mask.
    let read = app.get(&format!("/api/v1/defect-masks/{mask_id}"), Some(&w.reviewer.token));
    read.expect(200);
    assert_eq!(read.json()["title"], "Top-up lost after a hub swap");
    let linked = app.get(&format!("/api/v1/uit-issues/{issue}"), Some(&w.a.token));
    assert_eq!(linked.json()["defect_mask_id"], mask_id.as_str());
    assert_eq!(linked.json()["version"], 2);

    let again = app
        .post(&path, Some(&w.admin), &mask("DM-7002"))
        .expect_code(409, "uit_issue_already_converted");
    assert_eq!(again["context"]["defect_mask_id"], mask_id.as_str());
    let masks = app.get("/api/v1/defect-masks", Some(&w.admin)).json();
    assert_eq!(masks["items"].as_array().unwrap().len(), 1, "nothing half-written");
}

fn subscribe(app: &TestApp, token: &str) {
    app.post(
        "/api/v1/subscriptions",
        Some(token),
        &json!({ "topics": ["uit_issues"] }),
    )
    .expect(201);
}

/// Waits for an assignment email to `email`: the first whose subject names a UIT issue.
fn assignment_to(app: &TestApp, email: &str) -> crate::smtp::Received {
    let mut found = None;
    wait_until(10, "an assignment email", || {
        found = assignments_to(app, email).into_iter().next();
        found.is_some()
    });
    found.unwrap()
}

/// Assignment emails to `email` so far.
fn assignments_to(app: &TestApp, email: &str) -> Vec<crate::smtp::Received> {
    mails_to(app, email)
        .into_iter()
        .filter(|m| m.header("Subject").is_some_and(|s| s.contains("UIT issue")))
        .collect()
}

/// Emails to `email` so far.
fn mails_to(app: &TestApp, email: &str) -> Vec<crate::smtp::Received> {
    app.smtp
        .received()
        .into_iter()
        .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(email)))
        .collect()
}

#[test]
fn outsiders_neither_see_nor_hear_of_an_issue() {
    let app = TestApp::spawn();
    let w = world(&app);
    for user in [&w.b, &w.outsider, &w.reviewer, &w.maker] {
        subscribe(&app, &user.token);
    }
    let anonymous = format!("anon-{}@example.org", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    app.post(
        "/api/v1/subscriptions",
        None,
        &json!({ "email": anonymous, "topics": ["uit_issues"] }),
    )
    // An address without an account may not follow UIT issues at all (it could read none).
    .expect_code(422, "validation_failed");

    let result = publish(
        &app,
        &w.a.token,
        &w.window,
        &w.sets[0],
        SCENARIOS[0],
        "fail",
        "participants",
    );
    result.expect(201);
    let issue = raise(&app, &w, &w.a.token, json!({ "result_ids": [result.id()] }))
        .expect(201)
        .id();
    move_to(&app, &issue, &w.maker.token, "triaged", "On it.").expect(200);

    // Reads: 404 exactly as for a missing id; absent from lists.
    for outsider in [&w.outsider, &w.reviewer] {
        let hidden = app.get(&format!("/api/v1/uit-issues/{issue}"), Some(&outsider.token));
        let missing = app.get(&format!("/api/v1/uit-issues/{MISSING}"), Some(&outsider.token));
        hidden.expect_code(404, "not_found");
        assert_eq!(hidden.body, missing.body);
        assert!(listed(&app, &outsider.token, "").is_empty());
        assert!(listed(&app, &outsider.token, &format!("?uit_window_id={}", w.window)).is_empty());
        app.get(&format!("/api/v1/uit-issues/{issue}/history"), Some(&outsider.token))
            .expect_code(404, "not_found");
    }
    app.patch(
        &format!("/api/v1/uit-issues/{issue}"),
        Some(&w.outsider.token),
        &json!({ "title": "Mine now" }),
    )
    .expect_code(404, "not_found");
    // The outsider's admin reads no audit row of it.
    let audit = app.get("/api/v1/audit-events?entity_type=uit_issue", Some(&w.outsider.token));
    audit.expect(200);
    assert!(audit.json()["items"].as_array().unwrap().is_empty());

    // Notifications: the participant and the resolver hear of both changes; nobody else.
    delivered(&app);
    let heard = |email: &str| -> Vec<crate::smtp::Received> {
        mails_to(&app, email)
            .into_iter()
            .filter(|m| m.header("List-Unsubscribe").is_some())
            .collect()
    };
    let b_mails = heard(&w.b.email);
    assert_eq!(b_mails.len(), 2, "raised and triaged");
    let text = b_mails[0].decoded();
    assert!(text.contains("Prepayment top-up lost after a hub swap"), "{text}");
    assert!(text.contains(&format!("{PUBLIC}/uit-issues/{issue}")), "{text}");
    assert_eq!(heard(&w.maker.email).len(), 2);
    for email in [&w.outsider.email, &w.reviewer.email, &anonymous] {
        assert!(heard(email).is_empty(), "{email} heard of an issue it may not read");
    }
    for m in app.smtp.received() {
        if m.to
            .iter()
            .any(|t| [&w.outsider.email, &w.reviewer.email, &anonymous].contains(&t))
        {
            assert!(
                !m.decoded().contains("hub swap"),
                "an outsider was told: {}",
                m.decoded()
            );
        }
    }
}

#[test]
fn the_resolving_admins_are_emailed_on_assignment_and_a_new_party_takes_over() {
    let app = TestApp::spawn();
    let w = world(&app);
    let admin = w.admin.clone();
    let maker_admin = app.invite_user(&admin, &w.maker.org_id, "admin");
    let csp: TestUser = app.user_in_new_org(&admin, "service_provider", "admin");
    let csp_member = app.invite_user(&admin, &csp.org_id, "member");

    let issue = raise(&app, &w, &w.a.token, json!({})).expect(201).id();
    let mail = assignment_to(&app, &maker_admin.email);
    let text = mail.decoded();
    assert!(
        mail.header("Subject")
            .unwrap_or_default()
            .contains("blocking UIT issue"),
        "{text}"
    );
    assert!(text.contains("Prepayment top-up lost after a hub swap"), "{text}");
    assert!(text.contains(&format!("{PUBLIC}/uit-issues/{issue}")), "{text}");
    assert!(
        assignments_to(&app, &w.maker.email).is_empty(),
        "members are not emailed"
    );

    move_to(&app, &issue, &w.maker.token, "triaged", "").expect(200);
    // Only a manufacturer, service provider or the operator resolves; not other suppliers.
    let path = format!("/api/v1/uit-issues/{issue}");
    let body = app
        .patch(&path, Some(&w.a.token), &json!({ "resolving_org_id": w.b.org_id }))
        .expect_code(422, "validation_failed");
    assert_eq!(fields(&body), ["resolving_org_id"]);
    app.patch(&path, Some(&w.b.token), &json!({ "resolving_org_id": csp.org_id }))
        .expect_code(403, "forbidden");
    // The resolving party passes it on: it is open again, for the new party to triage.
    let passed = app.patch(&path, Some(&w.maker.token), &json!({ "resolving_org_id": csp.org_id }));
    passed.expect(200);
    assert_eq!(passed.json()["status"], "open");
    assert_eq!(passed.json()["resolving_org_id"], csp.org_id.as_str());
    let mail = assignment_to(&app, &csp.email);
    assert!(mail.decoded().contains(&format!("{PUBLIC}/uit-issues/{issue}")));
    // The old resolver, not a participant, no longer sees it; the new one moves it.
    app.get(&path, Some(&w.maker.token)).expect_code(404, "not_found");
    move_to(&app, &issue, &csp_member.token, "triaged", "").expect(200);
    let history = app.get(&format!("{path}/history"), Some(&w.a.token)).json();
    let step = &history["items"][2];
    assert_eq!(step["from_status"], "triaged");
    assert_eq!(step["to_status"], "open");
    assert_eq!(step["resolving_org_id"], csp.org_id.as_str());
    // The raiser's audit row of the hand-over is redacted for the maker's admin now.
    wait_until(5, "one assignment email to the maker's admin", || {
        assignments_to(&app, &maker_admin.email).len() == 1
    });
    let rows = app.get("/api/v1/audit-events?entity_type=uit_issue", Some(&maker_admin.token));
    rows.expect(200);
    let items = rows.json()["items"].as_array().unwrap().clone();
    assert!(!items.is_empty());
    assert!(
        items.iter().all(|e| e["redacted"] == true && e["after"].is_null()),
        "{items:?}"
    );
}

#[test]
fn open_blocking_counts_what_the_reader_may_see() {
    use uit_portal::auth::{AuthContext, OrgKind, Role};
    let app = TestApp::spawn();
    let w = world(&app);
    let blocking = raise(&app, &w, &w.a.token, json!({ "title": "Blocks" }))
        .expect(201)
        .id();
    let done = raise(&app, &w, &w.a.token, json!({ "title": "Fixed" }))
        .expect(201)
        .id();
    raise(&app, &w, &w.a.token, json!({ "title": "Minor", "severity": "minor" })).expect(201);
    move_to(&app, &done, &w.maker.token, "triaged", "").expect(200);
    move_to(&app, &done, &w.maker.token, "resolved", "").expect(200);
    move_to(&app, &blocking, &w.maker.token, "triaged", "").expect(200);
    let ctx = |user: &TestUser, kind: OrgKind| AuthContext {
        user_id: user.id.clone().into(),
        org_id: user.org_id.clone().into(),
        org_kind: kind,
        role: Role::Member,
        email: user.email.clone(),
        api_token_id: None,
        request_id: None,
    };
    let mut conn = db(&app);
    let open = |c: &AuthContext, conn: &mut uit_portal::db::DbConn| {
        uit_portal::uit_issues::model::open_blocking(conn, c, &w.window.clone().into()).unwrap()
    };
    assert_eq!(
        open(&ctx(&w.b, OrgKind::Supplier), &mut conn),
        vec![(blocking.clone(), "Blocks".to_string())]
    );
    assert!(open(&ctx(&w.outsider, OrgKind::Supplier), &mut conn).is_empty());
    assert!(open(&ctx(&w.reviewer, OrgKind::Reviewer), &mut conn).is_empty());
}
