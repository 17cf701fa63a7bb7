//! Comments on results: whoever may read a result may comment on it (reviewers included,
//! viewers only read); a comment is visible to exactly those who may read the result now, and
//! a result the caller may not read is the same 404 as a missing one.

use serde_json::{json, Value};

use crate::fixtures::{publish, world, SCENARIOS};
use crate::helpers::{Resp, TestApp};

const MISSING: &str = "01900000-0000-7000-8000-000000000000";

fn comment(app: &TestApp, token: &str, result: &str, body: &str) -> Resp {
    app.post(
        &format!("/api/v1/results/{result}/comments"),
        Some(token),
        &json!({ "body": body }),
    )
}

fn comments(app: &TestApp, token: &str, result: &str) -> Resp {
    app.get(&format!("/api/v1/results/{result}/comments"), Some(token))
}

/// The bodies listed to `token`, oldest first (null for a deleted comment).
fn bodies(app: &TestApp, token: &str, result: &str) -> Vec<Value> {
    let resp = comments(app, token, result);
    resp.expect(200);
    resp.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].clone())
        .collect()
}

fn result_id(app: &TestApp, token: &str, w: &crate::fixtures::World, scenario: &str, visibility: &str) -> String {
    let resp = publish(app, token, &w.window, &w.sets[0], scenario, "fail", visibility);
    resp.expect(201);
    resp.id()
}

/// A 404 that says no more than a missing result's.
#[track_caller]
fn expect_hidden(app: &TestApp, token: &str, result: &str) {
    let listed = comments(app, token, result);
    listed.expect_code(404, "not_found");
    assert_eq!(listed.body, comments(app, token, MISSING).body);
    let posted = comment(app, token, result, "Can I see this?");
    posted.expect_code(404, "not_found");
    assert_eq!(posted.body, comment(app, token, MISSING, "Can I see this?").body);
}

#[test]
fn comments_are_posted_and_listed_oldest_first_with_their_author() {
    let app = TestApp::spawn();
    let w = world(&app);
    let result = result_id(&app, &w.a.token, &w, SCENARIOS[0], "industry");

    let first = comment(&app, &w.a.token, &result, "  Fails after the hub reboots.\n");
    first.expect(201);
    let c = first.json();
    assert_eq!(c["body"], "Fails after the hub reboots.", "stored trimmed");
    assert_eq!(c["result_id"], result.as_str());
    assert_eq!(c["author_user_id"], w.a.id.as_str());
    assert_eq!(c["author_name"], "Test User");
    assert_eq!(c["org_id"], w.a.org_id.as_str());
    assert!(c["org_name"].as_str().unwrap().starts_with("Org supplier-"), "{c}");
    assert_eq!(c["deleted"], false);
    assert!(c["created_at"].as_str().unwrap().ends_with('Z'));
    comment(&app, &w.b.token, &result, "Same on ours.").expect(201);
    comment(&app, &w.reviewer.token, &result, "Is DM-0042 meant to cover it?").expect(201);

    // Everyone who reads the result reads its thread, in order, viewers too.
    for token in [
        &w.a.token,
        &w.a_viewer.token,
        &w.b.token,
        &w.outsider.token,
        &w.reviewer.token,
        &w.admin,
    ] {
        assert_eq!(
            bodies(&app, token, &result),
            vec![
                json!("Fails after the hub reboots."),
                json!("Same on ours."),
                json!("Is DM-0042 meant to cover it?")
            ]
        );
    }

    // Cursor pages.
    let page = app.get(&format!("/api/v1/results/{result}/comments?limit=2"), Some(&w.b.token));
    page.expect(200);
    let cursor = page.json()["next_cursor"].as_str().unwrap().to_string();
    assert!(page.header("link").unwrap().contains("rel=\"next\""));
    let rest = app.get(
        &format!("/api/v1/results/{result}/comments?limit=2&cursor={cursor}"),
        Some(&w.b.token),
    );
    rest.expect(200);
    assert_eq!(rest.json()["items"][0]["body"], "Is DM-0042 meant to cover it?");
    assert_eq!(rest.json()["next_cursor"], Value::Null);
    app.get(
        &format!("/api/v1/results/{result}/comments?limit=501"),
        Some(&w.b.token),
    )
    .expect_code(400, "invalid_query");
    app.get(&format!("/api/v1/results/{result}/comments?sort=new"), Some(&w.b.token))
        .expect_code(400, "invalid_query");

    // The write is audited.
    let audit = app.get(
        &format!(
            "/api/v1/audit-events?entity_type=result_comment&entity_id={}",
            c["id"].as_str().unwrap()
        ),
        Some(&w.admin),
    );
    audit.expect(200);
    let event = &audit.json()["items"][0];
    assert_eq!(event["action"], "result_comment.create");
    assert_eq!(event["after"]["body"], "Fails after the hub reboots.");
}

#[test]
fn idempotency_key_replays_a_comment_once() {
    let app = TestApp::spawn();
    let w = world(&app);
    let result = result_id(&app, &w.a.token, &w, SCENARIOS[0], "industry");
    let send = |body: &str| {
        app.send(
            "POST",
            &format!("/api/v1/results/{result}/comments"),
            Some(&w.b.token),
            &[("idempotency-key", "comment-1")],
            Some(("application/json", json!({ "body": body }).to_string().into_bytes())),
        )
    };
    let first = send("Reproduced.");
    first.expect(201);
    let again = send("Reproduced.");
    again.expect(201);
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(again.id(), first.id());
    send("Something else.").expect_code(422, "idempotency_key_reused");
    assert_eq!(bodies(&app, &w.b.token, &result), vec![json!("Reproduced.")]);
}

#[test]
fn a_private_results_comments_are_its_organisations_alone() {
    let app = TestApp::spawn();
    let w = world(&app);
    let private = result_id(&app, &w.a.token, &w, SCENARIOS[0], "private");
    comment(&app, &w.a.token, &private, "Our own working note.").expect(201);
    assert_eq!(
        bodies(&app, &w.a_viewer.token, &private),
        vec![json!("Our own working note.")]
    );
    // Another organisation (a participant of the window), a non-participant, a reviewer and
    // the operator: 404 like a missing id on GET and POST, and nothing was posted.
    for token in [&w.b.token, &w.outsider.token, &w.reviewer.token, &w.admin] {
        expect_hidden(&app, token, &private);
    }
    assert_eq!(bodies(&app, &w.a.token, &private).len(), 1);
    // The audit row of the comment shows its text only to whom may read the result.
    let audit = |token: &str| {
        let resp = app.get("/api/v1/audit-events?entity_type=result_comment", Some(token));
        resp.expect(200);
        resp.json()["items"][0].clone()
    };
    let seen_by_operator = audit(&w.admin);
    assert_eq!(seen_by_operator["action"], "result_comment.create");
    assert_eq!(seen_by_operator["redacted"], true);
    assert_eq!(seen_by_operator["after"], Value::Null);
}

#[test]
fn a_participants_result_is_discussed_by_the_windows_participants_only() {
    let app = TestApp::spawn();
    let w = world(&app);
    let shared = result_id(&app, &w.a.token, &w, SCENARIOS[1], "participants");
    // B joined the window: it reads and comments; so does the operator.
    comment(&app, &w.b.token, &shared, "We see the same on set 5000.").expect(201);
    comment(&app, &w.admin, &shared, "Logged for triage.").expect(201);
    let thread = vec![json!("We see the same on set 5000."), json!("Logged for triage.")];
    assert_eq!(bodies(&app, &w.a.token, &shared), thread);
    assert_eq!(bodies(&app, &w.b.token, &shared), thread);
    // The outsider and the reviewer did not join: the result and its comments are hidden.
    expect_hidden(&app, &w.outsider.token, &shared);
    expect_hidden(&app, &w.reviewer.token, &shared);
    // Joining the window makes the result, and so its thread, visible.
    app.post(
        &format!("/api/v1/uit-windows/{}/participants", w.window),
        Some(&w.outsider.token),
        &json!({}),
    )
    .expect(201);
    assert_eq!(bodies(&app, &w.outsider.token, &shared), thread);
}

#[test]
fn reviewers_comment_on_industry_results_and_viewers_only_read() {
    let app = TestApp::spawn();
    let w = world(&app);
    let industry = result_id(&app, &w.a.token, &w, SCENARIOS[2], "industry");
    let reviewed = comment(
        &app,
        &w.reviewer.token,
        &industry,
        "SECAS: please attach the HAN trace.",
    );
    reviewed.expect(201);
    assert_eq!(reviewed.json()["org_id"], w.reviewer.org_id.as_str());
    // A viewer of the publishing organisation, and a reviewer's viewer, may read but not post.
    let reviewer_viewer = app.invite_user(&w.admin, &w.reviewer.org_id, "viewer");
    for viewer in [&w.a_viewer, &reviewer_viewer] {
        assert_eq!(bodies(&app, &viewer.token, &industry).len(), 1);
        comment(&app, &viewer.token, &industry, "A viewer's remark.").expect_code(403, "forbidden");
    }
    assert_eq!(bodies(&app, &w.a.token, &industry).len(), 1);
}

#[test]
fn bad_comments_are_refused_naming_the_field() {
    let app = TestApp::spawn();
    let w = world(&app);
    let result = result_id(&app, &w.a.token, &w, SCENARIOS[0], "industry");
    for body in ["", "   \n\t "] {
        let resp = comment(&app, &w.b.token, &result, body);
        let problem = resp.expect_code(422, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], "body");
        assert_eq!(problem["errors"][0]["message"], "must not be empty");
    }
    let long = comment(&app, &w.b.token, &result, &"é".repeat(4001));
    let problem = long.expect_code(422, "validation_failed");
    assert_eq!(problem["errors"][0]["field"], "body");
    assert_eq!(problem["errors"][0]["message"], "must be at most 4000 characters");
    comment(&app, &w.b.token, &result, &"é".repeat(4000)).expect(201);
    let path = format!("/api/v1/results/{result}/comments");
    app.post(
        &path,
        Some(&w.b.token),
        &json!({ "body": "Hi", "visibility": "private" }),
    )
    .expect_code(400, "malformed_body");
    app.post(&path, Some(&w.b.token), &json!({}))
        .expect_code(400, "malformed_body");
    app.post(&path, Some(&w.b.token), &json!({ "body": 42 }))
        .expect_code(400, "malformed_body");
    app.post(&path, Some(&w.b.token), &json!({ "body": "a\u{0}b" }))
        .expect_code(422, "invalid_character");
    // Only the one good comment exists.
    assert_eq!(bodies(&app, &w.a.token, &result).len(), 1);
}

#[test]
fn the_author_or_their_admin_deletes_a_comment_which_stays_listed_without_its_body() {
    let app = TestApp::spawn();
    let w = world(&app);
    let result = result_id(&app, &w.a.token, &w, SCENARIOS[0], "industry");
    let a_admin = app.invite_user(&w.admin, &w.a.org_id, "admin");
    let a_other = app.invite_user(&w.admin, &w.a.org_id, "member");
    let first = comment(&app, &w.a.token, &result, "First thought.").id();
    let second = comment(&app, &w.a.token, &result, "Second thought.").id();
    let reviewers = comment(&app, &w.reviewer.token, &result, "Reviewer's note.").id();
    let path = |id: &str| format!("/api/v1/results/{result}/comments/{id}");

    // Not the author: another member of the same organisation, another organisation's admin
    // (the reviewer, the outsider), the operator admin; a viewer of the author's organisation.
    for token in [
        &a_other.token,
        &w.reviewer.token,
        &w.outsider.token,
        &w.admin,
        &w.a_viewer.token,
    ] {
        app.delete(&path(&first), Some(token)).expect_code(403, "forbidden");
    }
    // A comment of another result, or none, is 404.
    let other_result = result_id(&app, &w.b.token, &w, SCENARIOS[1], "industry");
    app.delete(
        &format!("/api/v1/results/{other_result}/comments/{first}"),
        Some(&w.a.token),
    )
    .expect_code(404, "not_found");
    app.delete(&path(MISSING), Some(&w.a.token))
        .expect_code(404, "not_found");

    // The author, an admin of the author's organisation, and the reviewer its own.
    app.delete(&path(&first), Some(&w.a.token)).expect(204);
    app.delete(&path(&second), Some(&a_admin.token)).expect(204);
    app.delete(&path(&reviewers), Some(&w.reviewer.token)).expect(204);
    // Again: nothing changes.
    app.delete(&path(&first), Some(&w.a.token)).expect(204);

    let listed = comments(&app, &w.b.token, &result);
    listed.expect(200);
    let items = listed.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 3);
    for item in &items {
        assert_eq!(item["deleted"], true);
        assert_eq!(item["body"], Value::Null);
        assert!(item["deleted_at"].is_string());
    }
    // One audit row per deletion, keeping what the comment said.
    let audit = app.get(
        &format!("/api/v1/audit-events?entity_type=result_comment&entity_id={first}"),
        Some(&w.admin),
    );
    audit.expect(200);
    let events = audit.json()["items"].as_array().unwrap().clone();
    let actions: Vec<&str> = events.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "result_comment.delete").count(),
        1,
        "{actions:?}"
    );
    let deletion = events.iter().find(|e| e["action"] == "result_comment.delete").unwrap();
    assert_eq!(deletion["before"]["body"], "First thought.");
    assert_eq!(deletion["after"]["deleted"], true);
}

#[test]
fn comments_follow_the_results_current_visibility_and_outlive_amendments() {
    let app = TestApp::spawn();
    let w = world(&app);
    let result = result_id(&app, &w.a.token, &w, SCENARIOS[0], "industry");
    comment(&app, &w.a.token, &result, "Our note.").expect(201);
    comment(&app, &w.reviewer.token, &result, "Reviewer's question.").expect(201);
    comment(&app, &w.b.token, &result, "B's answer.").expect(201);
    let thread = vec![json!("Our note."), json!("Reviewer's question."), json!("B's answer.")];

    // Amending the result keeps its comments.
    app.patch(
        &format!("/api/v1/results/{result}"),
        Some(&w.a.token),
        &json!({ "outcome": "pass", "notes": "Passed on re-run." }),
    )
    .expect(200);
    assert_eq!(bodies(&app, &w.reviewer.token, &result), thread);

    // Narrowed to participants: the reviewer (not a participant) loses the thread, its own
    // comment included; B keeps it.
    app.patch(
        &format!("/api/v1/results/{result}"),
        Some(&w.a.token),
        &json!({ "visibility": "participants" }),
    )
    .expect(200);
    expect_hidden(&app, &w.reviewer.token, &result);
    assert_eq!(bodies(&app, &w.b.token, &result), thread);

    // Narrowed to private: only A.
    app.patch(
        &format!("/api/v1/results/{result}"),
        Some(&w.a.token),
        &json!({ "visibility": "private" }),
    )
    .expect(200);
    for token in [&w.b.token, &w.reviewer.token, &w.outsider.token, &w.admin] {
        expect_hidden(&app, token, &result);
    }
    assert_eq!(bodies(&app, &w.a.token, &result), thread);

    // Shared again: everyone's thread is back, unchanged.
    app.patch(
        &format!("/api/v1/results/{result}"),
        Some(&w.a.token),
        &json!({ "visibility": "industry" }),
    )
    .expect(200);
    assert_eq!(bodies(&app, &w.reviewer.token, &result), thread);
}
