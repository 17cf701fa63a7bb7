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

#[test]
fn a_password_change_ends_api_and_calendar_tokens_too() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let user = app.user_in_new_org(&admin, "supplier", "member");
    let api_token = app.post(
        "/api/v1/me/api-tokens",
        Some(&user.token),
        &json!({ "name": "harness" }),
    );
    api_token.expect(201);
    let api_token = api_token.json()["token"].as_str().unwrap().to_string();
    let feed = app.post("/api/v1/me/calendar-token", Some(&user.token), &json!({}));
    feed.expect(201);
    let feed = feed.json()["token"].as_str().unwrap().to_string();

    // `new_password` is the one name for a new password, as in reset confirmation.
    app.patch(
        "/api/v1/me",
        Some(&api_token),
        &json!({ "new_password": "a changed password", "current_password": "a long enough password" }),
    )
    .expect(200);
    app.get("/api/v1/me", Some(&api_token))
        .expect_code(401, "invalid_token");
    app.get(&format!("/api/v1/calendar.ics?token={feed}"), None).expect(404);
    app.login(&user.email, "a changed password");
}

#[test]
fn new_password_is_the_name_and_password_a_deprecated_alias() {
    let app = TestApp::spawn();
    let token = app.admin_token();
    let short = app.patch(
        "/api/v1/me",
        Some(&token),
        &json!({ "new_password": "short", "current_password": ADMIN_PASSWORD }),
    );
    let body = short.expect_code(422, "validation_failed");
    assert!(body.to_string().contains("new_password"), "{body}");
    // Both names at once: which one was meant is unclear.
    app.patch(
        "/api/v1/me",
        Some(&token),
        &json!({ "new_password": "one long password", "password": "another long password",
                 "current_password": ADMIN_PASSWORD }),
    )
    .expect_code(400, "malformed_body");
    // The spec documents the one name and mentions the alias.
    let spec = app.get("/openapi.json", None).json();
    for schema in ["MePatch", "AcceptInvitation", "PasswordResetConfirm"] {
        let props = &spec["components"]["schemas"][schema]["properties"];
        assert!(props["new_password"].is_object(), "{schema}: {props}");
        assert!(props["password"].is_null(), "{schema}: {props}");
    }
}

#[test]
fn current_password_checks_are_rate_limited_per_user() {
    let app = TestApp::spawn_with(|c| c.password_check_rate_per_user_per_hour = 3);
    let token = app.admin_token();
    for _ in 0..3 {
        app.patch(
            "/api/v1/me",
            Some(&token),
            &json!({ "new_password": "a guessed long password", "current_password": "guess" }),
        )
        .expect_code(422, "validation_failed");
    }
    // The budget is spent: even the right password waits now.
    let limited = app.patch(
        "/api/v1/me",
        Some(&token),
        &json!({ "new_password": "a guessed long password", "current_password": ADMIN_PASSWORD }),
    );
    limited.expect_code(429, "rate_limited");
    assert!(limited.header("retry-after").is_some());
    // Renaming needs no password and is not limited; login has its own bucket.
    app.patch("/api/v1/me", Some(&token), &json!({ "name": "Still me" }))
        .expect(200);
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD);
}
