//! Bad input never gets a 500 or a partial write: every route group answers malformed JSON,
//! wrong content types, oversized bodies and unknown parameters with the right problem.

use serde_json::json;

use crate::helpers::{TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};

/// Every route that takes a JSON body, with the token it needs.
fn json_routes(app: &TestApp, admin: &str) -> Vec<(&'static str, String, Option<String>)> {
    let me = app.get("/api/v1/me", Some(admin)).json();
    let org = me["organisation"]["id"].as_str().unwrap().to_string();
    let user = me["user"]["id"].as_str().unwrap().to_string();
    let t = Some(admin.to_string());
    vec![
        ("POST", "/api/v1/auth/login".into(), None),
        ("POST", "/api/v1/auth/refresh".into(), None),
        ("POST", "/api/v1/auth/logout".into(), t.clone()),
        ("POST", "/api/v1/auth/password-reset".into(), None),
        ("POST", "/api/v1/auth/password-reset/confirm".into(), None),
        ("PATCH", "/api/v1/me".into(), t.clone()),
        ("POST", "/api/v1/me/api-tokens".into(), t.clone()),
        ("POST", "/api/v1/organisations".into(), t.clone()),
        ("PATCH", format!("/api/v1/organisations/{org}"), t.clone()),
        (
            "PATCH",
            format!("/api/v1/organisations/{org}/members/{user}"),
            t.clone(),
        ),
        ("POST", format!("/api/v1/organisations/{org}/invitations"), t.clone()),
        ("POST", "/api/v1/invitations/accept".into(), None),
    ]
}

#[test]
fn malformed_mistyped_and_unknown_fields_are_400_for_every_json_route() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    for (method, path, token) in json_routes(&app, &admin) {
        let t = token.as_deref();
        for (what, body) in [
            ("malformed", b"{\"email\": ".to_vec()),
            ("not an object", b"[1,2,3]".to_vec()),
            (
                "wrong types",
                br#"{"email": 1, "name": 2, "role": 3, "token": [], "refresh_token": {}, "slug": false}"#.to_vec(),
            ),
            ("unknown field", br#"{"surprise": true}"#.to_vec()),
            ("empty", Vec::new()),
        ] {
            let resp = app.send(method, &path, t, &[], Some(("application/json", body)));
            assert_eq!(
                resp.status, 400,
                "{method} {path} ({what}) -> {} {}",
                resp.status, resp.body
            );
            resp.expect(400);
        }
    }
}

#[test]
fn wrong_content_type_is_415_and_oversized_bodies_413_for_every_json_route() {
    let app = TestApp::spawn_with(|c| c.body_limit_bytes = 4096);
    let admin = app.admin_token();
    let huge = json!({ "name": "x".repeat(10_000) }).to_string().into_bytes();
    for (method, path, token) in json_routes(&app, &admin) {
        let t = token.as_deref();
        let resp = app.send(
            method,
            &path,
            t,
            &[],
            Some(("text/plain", br#"{"email":"a@b.c"}"#.to_vec())),
        );
        assert_eq!(resp.status, 415, "{method} {path}: {}", resp.body);
        resp.expect_code(415, "unsupported_media_type");
        let resp = app.send(method, &path, t, &[], Some(("application/json", huge.clone())));
        assert_eq!(resp.status, 413, "{method} {path}: {}", resp.body);
        resp.expect_code(413, "payload_too_large");
    }
    // Nothing was written by any of it.
    let orgs = app.get("/api/v1/organisations", Some(&admin)).json();
    assert_eq!(orgs["items"].as_array().unwrap().len(), 1);
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD);
}

#[test]
fn unknown_query_parameters_are_400_for_every_list() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let org = app.get("/api/v1/me", Some(&admin)).json()["organisation"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for path in [
        "/api/v1/organisations".to_string(),
        format!("/api/v1/organisations/{org}/members"),
        "/api/v1/me/api-tokens".into(),
        "/api/v1/audit-events".into(),
    ] {
        app.get(&path, Some(&admin)).expect(200);
        app.get(&format!("{path}?unexpected=1"), Some(&admin))
            .expect_code(400, "invalid_query");
        app.get(&format!("{path}?limit=abc"), Some(&admin))
            .expect_code(400, "invalid_query");
        app.get(&format!("{path}?limit=100000"), Some(&admin))
            .expect_code(400, "invalid_query");
        app.get(&format!("{path}?cursor=not-base64!"), Some(&admin))
            .expect_code(400, "invalid_cursor");
    }
}

#[test]
fn unknown_routes_and_methods_are_problems_too() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let missing = app.get("/api/v1/nothing-here", Some(&admin));
    missing.expect_code(404, "not_found");
    let wrong_method = app.send(
        "PUT",
        "/api/v1/organisations",
        Some(&admin),
        &[],
        Some(("application/json", b"{}".to_vec())),
    );
    assert!(
        wrong_method.status == 404 || wrong_method.status == 405,
        "{}",
        wrong_method.status
    );
    wrong_method.expect(wrong_method.status);
    let no_auth_first = app.send(
        "POST",
        "/api/v1/organisations",
        None,
        &[],
        Some(("application/json", b"{\"broken".to_vec())),
    );
    assert!(no_auth_first.status == 401 || no_auth_first.status == 400);
    no_auth_first.expect(no_auth_first.status);
}

#[test]
fn every_non_public_route_needs_credentials() {
    let app = TestApp::spawn();
    let spec = serde_json::to_value(uit_portal::openapi::spec()).unwrap();
    let id = "01900000-0000-7000-8000-000000000000";
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let public = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.as_object().is_some_and(|o| o.is_empty())));
            if public {
                continue;
            }
            let concrete = path.replace("{id}", id).replace("{user_id}", id);
            let body = matches!(method.as_str(), "post" | "patch").then(|| ("application/json", b"{}".to_vec()));
            let resp = app.send(&method.to_uppercase(), &concrete, None, &[], body);
            assert_eq!(
                resp.status, 401,
                "{method} {path} answered {} without credentials",
                resp.status
            );
        }
    }
}

#[test]
fn nul_characters_are_refused_at_the_edge_not_by_the_database() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    // PostgreSQL refuses U+0000 in text; it must never get that far.
    app.patch("/api/v1/me", Some(&admin), &json!({ "name": "a\u{0}b" }))
        .expect_code(422, "invalid_character");
    app.post(
        "/api/v1/organisations",
        Some(&admin),
        &json!({ "name": "x", "slug": "nul-org", "kind": "other", "\u{0}": 1 }),
    )
    .expect_code(422, "invalid_character");
    app.get("/api/v1/organisations?kind=%00", Some(&admin))
        .expect_code(422, "invalid_character");
    app.get("/api/v1/audit-events?entity_id=a%00b", Some(&admin))
        .expect_code(422, "invalid_character");
    app.get("/api/v1/organisations/%00", Some(&admin))
        .expect_code(422, "invalid_character");
    app.get("/api/v1/me?unknown=%00", Some(&admin))
        .expect_code(422, "invalid_character");
    app.get("/api/v1/me", Some(&admin)).expect(200);
}

#[test]
fn dates_the_database_cannot_store_are_422_not_500() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let far = app.get("/api/v1/audit-events?since=%2B275000-01-01T00:00:00Z", Some(&admin));
    assert!(
        far.status == 400 || far.status == 422 || far.status == 200,
        "{} {}",
        far.status,
        far.body
    );
    far.expect(far.status);
    let token = app.post(
        "/api/v1/me/api-tokens",
        Some(&admin),
        &json!({ "name": "x", "expires_at": "+275000-01-01T00:00:00Z" }),
    );
    assert!(
        token.status == 400 || token.status == 422,
        "{} {}",
        token.status,
        token.body
    );
    token.expect(token.status);
}

#[test]
fn json_objects_with_a_key_twice_are_400_naming_the_key_for_every_json_route() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    for (method, path, token) in json_routes(&app, &admin) {
        let body = br#"{"name": "first", "name": "second"}"#.to_vec();
        let resp = app.send(method, &path, token.as_deref(), &[], Some(("application/json", body)));
        let problem = resp.expect_code(400, "duplicate_key");
        assert_eq!(problem["context"]["key"], "name", "{method} {path}: {problem}");
        assert!(problem["detail"].as_str().unwrap().contains("name"), "{problem}");
    }
    // Nested keys are named with their path; nothing was written.
    let before = app.get("/api/v1/me", Some(&admin)).json();
    let resp = app.send(
        "PATCH",
        "/api/v1/me",
        Some(&admin),
        &[],
        Some(("application/json", br#"{"name": "Once", "name": "Twice"}"#.to_vec())),
    );
    resp.expect_code(400, "duplicate_key");
    assert_eq!(app.get("/api/v1/me", Some(&admin)).json(), before);
    let resp = app.send(
        "POST",
        "/api/v1/results/batch",
        Some(&admin),
        &[],
        Some((
            "application/json",
            br#"{"items": [{"outcome": "pass"}, {"outcome": "pass", "outcome": "fail"}]}"#.to_vec(),
        )),
    );
    assert_eq!(
        resp.expect_code(400, "duplicate_key")["context"]["key"],
        "items[1].outcome"
    );
}

#[test]
fn responses_carry_nosniff_the_docs_a_csp_and_api_json_no_store() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let me = app.get("/api/v1/me", Some(&admin));
    me.expect(200);
    assert_eq!(me.header("x-content-type-options").as_deref(), Some("nosniff"));
    assert_eq!(me.header("cache-control").as_deref(), Some("no-store"));
    let login = app.post(
        "/api/v1/auth/login",
        None,
        &json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }),
    );
    assert_eq!(login.header("cache-control").as_deref(), Some("no-store"), "tokens");
    let problem = app.get("/api/v1/me", None);
    assert_eq!(problem.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(problem.header("x-content-type-options").as_deref(), Some("nosniff"));
    for path in ["/healthz", "/openapi.json", "/no/such/route", "/docs/"] {
        let resp = app.get(path, None);
        assert_eq!(
            resp.header("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{path}"
        );
    }
    // The Swagger UI: a policy that forbids framing and loads only what the binary serves.
    let docs = app.get("/docs/", None);
    docs.expect(200);
    let csp = docs.header("content-security-policy").expect("a CSP on /docs/");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    // Everything the page loads is served from here, so 'self' covers it, and none of it is inline.
    assert!(
        !docs.body.contains("<script>") && !docs.body.contains("http"),
        "{}",
        docs.body
    );
    for asset in ["swagger-ui-bundle.js", "swagger-initializer.js", "swagger-ui.css"] {
        let resp = app.get(&format!("/docs/{asset}"), None);
        resp.expect(200);
        assert!(resp.header("content-security-policy").is_some(), "{asset}");
    }
    assert!(app
        .get("/docs/swagger-initializer.js", None)
        .body
        .contains("/openapi.json"));
}

#[cfg(unix)]
#[test]
fn the_data_directory_database_and_emails_are_private_to_the_server() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let app = TestApp::spawn_with(|c| {
        // A directory the server creates itself (the test's temporary one is 0700 already).
        c.data_dir = c.data_dir.join("portal-data");
        c.mail_transport = "file".into();
    });
    let data = app.config.data_dir.clone();
    assert_eq!(mode(&data), 0o700, "data directory");
    if app.config.database_url.is_none() {
        let db = data.join("portal.db");
        assert_eq!(mode(&db), 0o600, "portal.db");
        for suffix in ["-wal", "-shm"] {
            let file = data.join(format!("portal.db{suffix}"));
            if file.exists() {
                assert_eq!(mode(&file), 0o600, "portal.db{suffix}");
            }
        }
    }
    let mail = data.join("mail");
    assert_eq!(mode(&mail), 0o700, "mail directory");
    // An email with a live token.
    app.post("/api/v1/auth/password-reset", None, &json!({ "email": ADMIN_EMAIL }))
        .expect(202);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let eml = loop {
        let found = std::fs::read_dir(&mail)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "eml"));
        if let Some(path) = found {
            break path;
        }
        assert!(std::time::Instant::now() < deadline, "no .eml written");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(mode(&eml), 0o600, "{}", eml.display());
    assert!(std::fs::read_to_string(&eml).unwrap().contains("uitx_"));
}

/// A stored value that is none of its type's values (written behind the service's back) fails
/// the read with a logged 500, never a guessed default: a release whose stage is corrupt, a
/// defect mask whose severity is, an audit row whose JSON is.
#[test]
fn corrupt_stored_values_are_500_never_a_silent_default() {
    use diesel::RunQueryDsl;
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let name = format!("R-{}", uuid::Uuid::new_v4().simple());
    let release = app
        .post(
            "/api/v1/releases",
            Some(&admin),
            &json!({ "name": name, "kind": "sec_release" }),
        )
        .expect(201)
        .id();
    let path = format!("/api/v1/releases/{release}");
    app.get(&path, Some(&admin)).expect(200);
    let corrupt = |sql: String| {
        app.with_db(|conn| diesel::sql_query(sql).execute(conn).expect("corrupt a row"));
    };
    corrupt(format!(
        "UPDATE releases SET stage = 'half_done' WHERE id = '{release}'"
    ));
    app.get(&path, Some(&admin)).expect_code(500, "internal_error");
    app.get("/api/v1/releases", Some(&admin))
        .expect_code(500, "internal_error");
    corrupt(format!(
        "UPDATE releases SET stage = 'content_agreed' WHERE id = '{release}'"
    ));
    app.get(&path, Some(&admin)).expect(200);

    corrupt("UPDATE audit_events SET after_json = '{not json'".to_string());
    app.get("/api/v1/audit-events", Some(&admin))
        .expect_code(500, "internal_error");
}
