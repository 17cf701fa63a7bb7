use serde_json::json;

use crate::helpers::{TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};

#[test]
fn api_tokens_are_shown_once_stored_hashed_and_revocable_at_once() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let user = app.user_in_new_org(&admin, "supplier", "member");
    let created = app.post(
        "/api/v1/me/api-tokens",
        Some(&user.token),
        &json!({ "name": "nightly harness" }),
    );
    created.expect(201);
    let body = created.json();
    let secret = body["token"].as_str().unwrap();
    assert!(secret.starts_with("uitp_"));
    assert!(secret.len() >= 5 + 22, "at least 128 bits of base64url");
    assert!(body["expires_at"].is_string());
    assert!(body["last_used_at"].is_null());

    let me = app.get("/api/v1/me", Some(secret));
    me.expect(200);
    assert_eq!(me.json()["user"]["email"], user.email.as_str());

    let listed = app.get("/api/v1/me/api-tokens", Some(&user.token)).json();
    let item = &listed["items"][0];
    assert_eq!(item["id"], body["id"]);
    assert!(item.get("token").is_none(), "the secret is never listed");
    assert!(item["last_used_at"].is_string(), "last_used_at is recorded");

    let db_file = app.config.data_dir.join("portal.db");
    if db_file.exists() {
        let raw = std::fs::read(&db_file).unwrap();
        let wal = std::fs::read(app.config.data_dir.join("portal.db-wal")).unwrap_or_default();
        let needle = secret.as_bytes();
        assert!(
            !raw.windows(needle.len()).any(|w| w == needle) && !wal.windows(needle.len()).any(|w| w == needle),
            "secret stored in clear"
        );
    }

    app.delete(
        &format!("/api/v1/me/api-tokens/{}", body["id"].as_str().unwrap()),
        Some(&user.token),
    )
    .expect(204);
    app.get("/api/v1/me", Some(secret)).expect_code(401, "invalid_token");
    app.delete(
        &format!("/api/v1/me/api-tokens/{}", body["id"].as_str().unwrap()),
        Some(&user.token),
    )
    .expect(404);

    app.post(
        "/api/v1/me/api-tokens",
        Some(&user.token),
        &json!({ "name": "old", "expires_at": "2001-01-01T00:00:00Z" }),
    )
    .expect_code(422, "validation_failed");
}

#[test]
fn profile_updates_and_password_changes() {
    let app = TestApp::spawn();
    let pair = app.login_pair(ADMIN_EMAIL, ADMIN_PASSWORD);
    let token = pair["access_token"].as_str().unwrap();
    let me = app.get("/api/v1/me", Some(token));
    let etag = me.header("etag").unwrap();
    let renamed = app.send(
        "PATCH",
        "/api/v1/me",
        Some(token),
        &[("if-match", &etag)],
        Some(("application/json", br#"{"name":"Grace"}"#.to_vec())),
    );
    renamed.expect(200);
    assert_eq!(renamed.json()["user"]["name"], "Grace");
    app.send(
        "PATCH",
        "/api/v1/me",
        Some(token),
        &[("if-match", &etag)],
        Some(("application/json", br#"{"name":"Stale"}"#.to_vec())),
    )
    .expect_code(412, "precondition_failed");

    app.patch("/api/v1/me", Some(token), &json!({ "password": "a new long password" }))
        .expect_code(422, "validation_failed");
    app.patch(
        "/api/v1/me",
        Some(token),
        &json!({ "password": "a new long password", "current_password": "wrong" }),
    )
    .expect_code(422, "validation_failed");
    app.patch(
        "/api/v1/me",
        Some(token),
        &json!({ "password": "a new long password", "current_password": ADMIN_PASSWORD }),
    )
    .expect(200);
    app.get("/api/v1/me", Some(token)).expect(401);
    app.post(
        "/api/v1/auth/refresh",
        None,
        &json!({ "refresh_token": pair["refresh_token"] }),
    )
    .expect(401);
    app.login(ADMIN_EMAIL, "a new long password");
}
