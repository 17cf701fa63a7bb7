use crate::helpers::TestApp;

#[test]
fn health_and_readiness_answer_without_credentials() {
    let app = TestApp::spawn();
    let health = app.get("/healthz", None);
    health.expect(200);
    assert_eq!(health.json()["status"], "ok");
    let ready = app.get("/readyz", None);
    ready.expect(200);
    assert_eq!(ready.json()["status"], "ready");
    assert!(ready.header("x-request-id").is_some_and(|id| id.len() >= 32));
}

#[test]
fn request_ids_are_echoed_when_sane_and_replaced_when_not() {
    let app = TestApp::spawn();
    let resp = app.send("GET", "/healthz", None, &[("x-request-id", "harness-run-42")], None);
    assert_eq!(resp.header("x-request-id").as_deref(), Some("harness-run-42"));
    let evil = "x".repeat(200);
    let resp = app.send("GET", "/healthz", None, &[("x-request-id", &evil)], None);
    assert_ne!(resp.header("x-request-id").as_deref(), Some(evil.as_str()));
}

#[test]
fn served_spec_equals_the_committed_document() {
    let app = TestApp::spawn();
    let served = app.get("/openapi.json", None);
    served.expect(200);
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .expect("openapi/openapi.json is committed"),
    )
    .unwrap();
    let generated = serde_json::to_value(uit_portal::openapi::spec()).unwrap();
    assert!(
        generated == committed,
        "openapi/openapi.json is stale: run `cargo run -- openapi > openapi/openapi.json`"
    );
    assert_eq!(served.json(), committed);
    assert!(committed["openapi"].as_str().unwrap().starts_with("3.1"));
    // Every reference resolves (a type used only as a query parameter must still be registered).
    let text = committed.to_string();
    for reference in text.split("\"$ref\":\"").skip(1) {
        let pointer = reference.split('"').next().unwrap();
        let pointer = pointer.strip_prefix('#').expect("local references only");
        assert!(committed.pointer(pointer).is_some(), "unresolved $ref #{pointer}");
    }
    // Enums are documented with the strings the API takes, not Rust variant names.
    let schemas = &committed["components"]["schemas"];
    assert_eq!(schemas["OrgKind"]["enum"][3], "service_provider");
    assert_eq!(schemas["DeviceType"]["enum"][0], "ESME");
}

#[test]
fn every_operation_documents_errors_security_and_an_operation_id() {
    let spec = serde_json::to_value(uit_portal::openapi::spec()).unwrap();
    let public = [
        "/healthz",
        "/readyz",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/password-reset",
        "/api/v1/auth/password-reset/confirm",
        "/api/v1/invitations/accept",
        "/api/v1/calendar.ics",
        "/api/v1/subscriptions/confirm",
        "/api/v1/unsubscribe",
    ];
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let name = format!("{method} {path}");
            assert!(op["operationId"].is_string(), "{name} has no operationId");
            assert!(op["summary"].is_string(), "{name} has no summary");
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{name} has no tag"
            );
            assert!(op["security"].is_array(), "{name} declares no security");
            let responses = op["responses"].as_object().unwrap();
            if !public.contains(&path.as_str()) {
                assert!(responses.contains_key("401"), "{name} does not document 401");
            }
            // Any JSON body may hold text the service cannot store (a NUL): 422 invalid_character.
            if op["requestBody"]["content"].get("application/json").is_some() {
                assert!(
                    responses.contains_key("422"),
                    "{name} takes JSON but does not document 422"
                );
            }
            if path != "/healthz" {
                assert!(
                    responses.keys().any(|k| k.starts_with('4') || k.starts_with('5')),
                    "{name} documents no error"
                );
            }
        }
    }
}

#[test]
fn docs_are_served_from_the_binary() {
    let app = TestApp::spawn();
    let page = app.get("/docs/", None);
    page.expect(200);
    assert!(page.body.contains("swagger"), "not the Swagger UI page");
    assert!(!page.body.contains("cdn."), "docs must not load from a CDN");
    let redirect = app.get("/docs", None);
    assert!(redirect.status == 200 || redirect.status == 308, "{}", redirect.status);
}

#[test]
fn metrics_are_for_the_operator_and_count_requests() {
    let app = TestApp::spawn();
    app.get("/metrics", None).expect_code(401, "invalid_token");
    let admin = app.admin_token();
    let supplier = app.user_in_new_org_by_email(&admin, "supplier", "admin");
    app.get("/metrics", Some(&supplier.token)).expect_code(403, "forbidden");
    app.get("/healthz", None).expect(200);
    let metrics = app.get("/metrics", Some(&admin));
    metrics.expect(200);
    assert!(metrics.header("content-type").unwrap().starts_with("text/plain"));
    assert!(
        metrics
            .body
            .contains("http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"),
        "{}",
        metrics.body
    );
    assert!(metrics.body.contains("http_request_duration_seconds_bucket"));
    assert!(metrics.body.contains("mail_outbox_depth"));
    assert!(metrics.body.contains("notification_outbox_depth 0"));
    assert!(
        metrics.body.contains("mail_deliveries_total{outcome=\"sent\"} 1"),
        "the invitation was delivered: {}",
        metrics.body
    );
}
