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
    let id = created.json()["id"].as_str().unwrap().to_string();
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
    let a_member = app.invite_user(&a.token, &a.org_id, "member");
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
