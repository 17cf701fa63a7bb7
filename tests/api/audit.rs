use serde_json::json;

use crate::helpers::TestApp;

#[test]
fn mutations_are_audited_with_actor_before_after_and_request_id() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let created = app.send(
        "POST",
        "/api/v1/organisations",
        Some(&admin),
        &[("x-request-id", "audit-trace-1")],
        Some((
            "application/json",
            br#"{"name":"Audited","slug":"audited","kind":"manufacturer"}"#.to_vec(),
        )),
    );
    created.expect(201);
    let id = created.id();
    app.patch(
        &format!("/api/v1/organisations/{id}"),
        Some(&admin),
        &json!({ "name": "Audited Ltd" }),
    )
    .expect(200);

    let events = app.get(
        &format!("/api/v1/audit-events?entity_type=organisation&entity_id={id}"),
        Some(&admin),
    );
    events.expect(200);
    let items = events.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["action"], "organisation.update", "newest first");
    assert_eq!(items[0]["before"]["name"], "Audited");
    assert_eq!(items[0]["after"]["name"], "Audited Ltd");
    assert_eq!(items[1]["action"], "organisation.create");
    assert_eq!(items[1]["request_id"], "audit-trace-1");
    assert!(items[1]["before"].is_null());
    let me = app.get("/api/v1/me", Some(&admin)).json();
    assert_eq!(items[1]["actor_user_id"], me["user"]["id"]);
    assert_eq!(items[1]["actor_org_id"], me["organisation"]["id"]);

    let since = app
        .get("/api/v1/audit-events?since=2999-01-01T00:00:00Z", Some(&admin))
        .json();
    assert!(since["items"].as_array().unwrap().is_empty());
    app.get("/api/v1/audit-events?since=yesterday", Some(&admin))
        .expect_code(400, "invalid_query");
}

#[test]
fn org_admins_read_their_own_audit_trail_only() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let a = app.user_in_new_org(&admin, "supplier", "admin");
    let b = app.user_in_new_org(&admin, "manufacturer", "admin");
    let a_member = app.invite_user_by_email(&a.token, &a.org_id, "member");
    app.post("/api/v1/me/api-tokens", Some(&b.token), &json!({ "name": "b" }))
        .expect(201);

    let mine = app.get("/api/v1/audit-events?limit=500", Some(&a.token));
    mine.expect(200);
    let items = mine.json()["items"].as_array().unwrap().clone();
    assert!(!items.is_empty());
    assert!(
        items.iter().all(|e| e["org_id"] == a.org_id.as_str()),
        "only org A's events"
    );
    assert!(items.iter().any(|e| e["action"] == "invitation.accept"));
    let filtered = app
        .get(
            &format!("/api/v1/audit-events?actor_org_id={}", b.org_id),
            Some(&a.token),
        )
        .json();
    assert!(filtered["items"].as_array().unwrap().is_empty());

    app.get("/api/v1/audit-events", Some(&a_member.token))
        .expect_code(403, "forbidden");
    let all = app
        .get(&format!("/api/v1/audit-events?actor_org_id={}", b.org_id), Some(&admin))
        .json();
    assert!(all["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "api_token.create"));
}

#[test]
fn sessions_are_audited_logins_logouts_and_reuse_revocations() {
    let app = TestApp::spawn();
    let pair = app.login_pair(crate::helpers::ADMIN_EMAIL, crate::helpers::ADMIN_PASSWORD);
    let admin = pair["access_token"].as_str().unwrap();
    let spent = pair["refresh_token"].as_str().unwrap();
    app.post("/api/v1/auth/refresh", None, &json!({ "refresh_token": spent }))
        .expect(200);
    app.post("/api/v1/auth/refresh", None, &json!({ "refresh_token": spent }))
        .expect(401);
    let other = app.login_pair(crate::helpers::ADMIN_EMAIL, crate::helpers::ADMIN_PASSWORD);
    app.post(
        "/api/v1/auth/logout",
        Some(admin),
        &json!({ "refresh_token": other["refresh_token"] }),
    )
    .expect(204);
    let events = app.get("/api/v1/audit-events?entity_type=session", Some(admin)).json();
    let actions: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "session.logout",
            "session.login",
            "session.revoked_on_reuse",
            "session.login"
        ]
    );
}

/// The audit rows about `entity_id` that `token` reads.
fn audit_rows(app: &TestApp, token: &str, entity_id: &str) -> Vec<serde_json::Value> {
    let resp = app.get(
        &format!("/api/v1/audit-events?entity_id={entity_id}&limit=500"),
        Some(token),
    );
    resp.expect(200);
    resp.json()["items"].as_array().unwrap().clone()
}

#[test]
fn audit_rows_show_only_what_the_audited_entitys_own_visibility_admits() {
    let app = TestApp::spawn();
    let w = crate::fixtures::world(&app);
    let secret = "Mode change bricks the hub: do not ship 3.0";
    let private = app.post(
        "/api/v1/results",
        Some(&w.a.token),
        &json!({ "uit_window_id": w.window, "device_set_id": w.sets[0], "scenario": "change_of_mode",
                 "outcome": "fail", "notes": secret, "visibility": "private",
                 "executed_at": "2026-11-20T10:00:00Z" }),
    );
    private.expect(201);
    let private_id = private.id();
    let shared = crate::fixtures::publish(
        &app,
        &w.a.token,
        &w.window,
        &w.sets[1],
        "install_and_commission",
        "pass",
        "industry",
    );
    shared.expect(201);
    let shared_id = shared.id();
    let batch = app.post(
        "/api/v1/results/batch",
        Some(&w.a.token),
        &json!({ "items": [
            { "uit_window_id": w.window, "device_set_id": w.sets[2], "scenario": "prepayment_top_up",
              "outcome": "fail", "notes": secret, "visibility": "private" },
            { "uit_window_id": w.window, "device_set_id": w.sets[2], "scenario": "install_and_commission",
              "outcome": "pass", "visibility": "industry" },
        ] }),
    );
    batch.expect(200);
    let batch_ids = batch.ids();

    // The other tenant's side: the operator admin reads every row, but not the private result.
    let all = app.get("/api/v1/audit-events?limit=500", Some(&w.admin));
    all.expect(200);
    assert!(!all.body.contains(secret), "private notes leak through the audit log");
    let rows = audit_rows(&app, &w.admin, &private_id);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0]["action"], "result.create",
        "the change itself is still on record"
    );
    assert!(rows[0]["after"].is_null() && rows[0]["before"].is_null(), "{}", rows[0]);
    assert_eq!(rows[0]["redacted"], true);
    let rows = audit_rows(&app, &w.admin, &shared_id);
    assert_eq!(rows[0]["after"]["outcome"], "pass", "an industry result is everyone's");
    assert_eq!(rows[0]["redacted"], false);
    let batches: Vec<serde_json::Value> = all.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "result.batch")
        .cloned()
        .collect();
    assert_eq!(batches.len(), 1);
    assert_eq!(
        batches[0]["after"]["created"],
        json!([batch_ids[1]]),
        "only the readable id"
    );
    assert_eq!(batches[0]["redacted"], true);

    // Amended to participants: the operator reads the new state, never the private one before.
    app.patch(
        &format!("/api/v1/results/{private_id}"),
        Some(&w.a.token),
        &json!({ "visibility": "participants", "notes": "Fixed in 3.0.1" }),
    )
    .expect(200);
    let rows = audit_rows(&app, &w.admin, &private_id);
    assert_eq!(rows[0]["action"], "result.amend");
    assert!(rows[0]["before"].is_null(), "{}", rows[0]);
    assert_eq!(rows[0]["after"]["notes"], "Fixed in 3.0.1");
    assert!(rows[1]["after"].is_null(), "the private creation stays hidden");

    // The supplier's own admin reads all of it.
    let a_admin = app.invite_user(&w.admin, &w.a.org_id, "admin");
    let own = app.get("/api/v1/audit-events?limit=500", Some(&a_admin.token));
    own.expect(200);
    assert!(own.body.contains(secret));
    let rows = audit_rows(&app, &a_admin.token, &private_id);
    assert_eq!(rows[0]["before"]["visibility"], "private");
    assert_eq!(rows[1]["after"]["notes"], secret);
    assert!(rows.iter().all(|r| r["redacted"] == false));

    // An API token is its user's, and theirs who administer the user's organisation (who may
    // list and revoke it): never another organisation's admin. No secret is ever stored.
    let token = app.post(
        "/api/v1/me/api-tokens",
        Some(&w.outsider.token),
        &json!({ "name": "harness" }),
    );
    token.expect(201);
    let token = token.json();
    let rows = audit_rows(&app, &a_admin.token, token["id"].as_str().unwrap());
    assert!(
        rows.is_empty() || (rows[0]["after"].is_null() && rows[0]["redacted"] == true),
        "{rows:?}"
    );
    for reader in [&w.outsider.token, &w.admin] {
        let rows = audit_rows(&app, reader, token["id"].as_str().unwrap());
        assert_eq!(rows[0]["after"]["token_prefix"], token["token_prefix"]);
        assert!(
            !rows[0].to_string().contains(token["token"].as_str().unwrap()),
            "no secret"
        );
    }
    // Subscriptions are their user's own, even to admins.
    let sub = app.post(
        "/api/v1/subscriptions",
        Some(&w.a_viewer.token),
        &json!({ "topics": ["releases"] }),
    );
    sub.expect(201);
    let sub_id = sub.id();
    for reader in [&w.admin, &a_admin.token] {
        let rows = audit_rows(&app, reader, &sub_id);
        assert_eq!(rows.len(), 1);
        assert!(rows[0]["after"].is_null(), "someone else's subscription: {}", rows[0]);
    }
    let address = "anonymous-reader@example.org";
    app.post(
        "/api/v1/subscriptions",
        None,
        &json!({ "email": address, "topics": ["releases"] }),
    )
    .expect(202);
    let requests = app.get(
        "/api/v1/audit-events?entity_type=subscription&limit=500",
        Some(&w.admin),
    );
    requests.expect(200);
    assert!(!requests.body.contains(address), "{}", requests.body);
}
