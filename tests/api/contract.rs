//! What contract fuzzing (.ci/fuzz.sh) found, pinned as tests: 405 with `Allow` for a served
//! path asked with another method, JSON bodies that must be objects, and the spec's
//! constraints matching what the server enforces.

use serde_json::json;

use crate::helpers::{TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};

#[test]
fn unsupported_methods_on_served_paths_are_405_with_allow() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    for (method, path, allow) in [
        ("PUT", "/api/v1/me", "GET, HEAD, PATCH"),
        ("TRACE", "/healthz", "GET, HEAD"),
        ("DELETE", "/api/v1/organisations", "GET, HEAD, POST"),
        ("HEAD", "/api/v1/auth/login", "POST"),
        (
            "POST",
            "/api/v1/organisations/some-id/members/other-id",
            "GET, HEAD, PATCH, DELETE",
        ),
    ] {
        let resp = app.send(method, path, Some(&admin), &[], None);
        if method == "HEAD" {
            // The same answer without its body.
            assert_eq!((resp.status, resp.body.as_str()), (405, ""), "{method} {path}");
        } else {
            resp.expect_code(405, "method_not_allowed");
        }
        assert_eq!(resp.header("allow").as_deref(), Some(allow), "{method} {path}");
    }
    // A path the API does not serve stays 404, whatever the method.
    app.send("PUT", "/api/v1/nothing-here", Some(&admin), &[], None)
        .expect_code(404, "not_found");
    // A served method whose resource is missing stays 404 too.
    app.get("/api/v1/organisations/no-such-id", Some(&admin))
        .expect_code(404, "not_found");
}

#[test]
fn head_answers_like_get_without_a_body() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    for (path, token) in [("/healthz", None), ("/api/v1/me", Some(admin.as_str()))] {
        let get = app.send("GET", path, token, &[], None);
        get.expect(200);
        let head = app.send("HEAD", path, token, &[], None);
        head.expect(200);
        assert!(head.body.is_empty(), "HEAD {path} sent a body: {}", head.body);
        assert_eq!(head.header("content-type"), get.header("content-type"), "HEAD {path}");
        assert_eq!(head.header("etag"), get.header("etag"), "HEAD {path}");
    }
    // The same rules as GET: credentials first.
    let denied = app.send("HEAD", "/api/v1/me", None, &[], None);
    assert_eq!(denied.status, 401);
    assert!(denied.body.is_empty());
}

#[test]
fn json_bodies_must_be_objects() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let me = app.get("/api/v1/me", Some(&admin)).json();
    let org_id = me["organisation"]["id"].as_str().unwrap().to_string();
    // serde would read a struct from an array of its fields; the API does not.
    let login = json!([ADMIN_EMAIL, ADMIN_PASSWORD]);
    app.post("/api/v1/auth/login", None, &login)
        .expect_code(400, "malformed_body");
    app.patch(
        &format!("/api/v1/organisations/{org_id}"),
        Some(&admin),
        &json!([null, null]),
    )
    .expect_code(400, "malformed_body");
    app.post("/api/v1/me/api-tokens", Some(&admin), &json!("harness"))
        .expect_code(400, "malformed_body");
    // Objects still work.
    app.post(
        "/api/v1/auth/login",
        None,
        &json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }),
    )
    .expect(200);
}

#[test]
fn text_limits_count_what_the_spec_counts() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    // maxLength 100 counts every character sent, surrounding spaces included.
    let padded = format!(" {} ", "x".repeat(99));
    let body = app
        .post("/api/v1/me/api-tokens", Some(&admin), &json!({ "name": padded }))
        .expect_code(422, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "name");
    let exact = "x".repeat(100);
    let created = app.post("/api/v1/me/api-tokens", Some(&admin), &json!({ "name": exact }));
    created.expect(201);
    // Blank is still refused although minLength 1 allows it.
    app.post("/api/v1/me/api-tokens", Some(&admin), &json!({ "name": "   " }))
        .expect_code(422, "validation_failed");
}

#[test]
fn spec_states_the_limits_the_server_enforces() {
    let spec = serde_json::to_value(uit_portal::openapi::spec()).unwrap();
    let schemas = &spec["components"]["schemas"];
    // Lists reference their item schema instead of repeating it.
    assert_eq!(
        schemas["Page_ApiToken"]["properties"]["items"]["items"]["$ref"],
        "#/components/schemas/ApiToken"
    );
    let limit = spec["paths"]["/api/v1/organisations"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap()
        .clone();
    assert_eq!(limit["schema"]["minimum"], 1);
    assert_eq!(limit["schema"]["maximum"], 500);
    assert_eq!(
        schemas["PasswordResetConfirm"]["properties"]["new_password"]["minLength"],
        12
    );
    assert_eq!(schemas["NewOrganisation"]["properties"]["name"]["maxLength"], 200);
    // Optional headers are strings, never null.
    let if_match = spec["paths"]["/api/v1/me"]["patch"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "If-Match")
        .unwrap()
        .clone();
    assert_eq!(if_match["schema"]["type"], "string");
}
