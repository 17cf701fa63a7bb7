//! Roadmap items: who may change them, who may see them (private, participants, industry),
//! history, soft delete, the change events and the cross-product view.

use chrono::Duration;
use serde_json::{json, Value};

use crate::fixtures::product;
use crate::helpers::{Resp, TestApp, TestUser};
use crate::releases::{at, events, events_of_kind, id, release};

pub const MISSING: &str = "01900000-0000-7000-8000-000000000000";

/// Adds a roadmap item for `model` as `token`: `fields` override the defaults.
pub fn add_item(app: &TestApp, token: &str, model: &str, fields: Value) -> Resp {
    let mut body = json!({
        "device_model_id": model,
        "planned_version": "1.11",
        "planned_date": "2027-03-01",
        "category": "defect_fix",
        "summary": "Fixes the tariff switch defect",
        "status": "proposed",
        "visibility": "industry",
    });
    for (k, v) in fields.as_object().unwrap() {
        body[k] = v.clone();
    }
    app.post("/api/v1/roadmap-items", Some(token), &body)
}

/// Adds a roadmap item and returns it; panics unless 201.
pub fn item(app: &TestApp, token: &str, model: &str, fields: Value) -> Value {
    let resp = add_item(app, token, model, fields);
    resp.expect(201);
    resp.json()
}

/// A UIT window open now (for a new release), as the operator admin; returns its id.
pub fn open_window(app: &TestApp, admin: &str) -> String {
    window(app, admin, Duration::hours(-1), Duration::days(7))
}

/// A UIT window from `from` to `to` after now, as the operator admin; returns its id.
pub fn window(app: &TestApp, admin: &str, from: Duration, to: Duration) -> String {
    let rel = id(&release(app, admin, "sec_release"));
    let name = format!("UIT-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let resp = app.post(
        "/api/v1/uit-windows",
        Some(admin),
        &json!({ "release_id": rel, "name": name, "opens_at": at(from), "closes_at": at(to) }),
    );
    resp.expect(201);
    id(&resp.json())
}

pub fn join(app: &TestApp, token: &str, window: &str) {
    let resp = app.post(
        &format!("/api/v1/uit-windows/{window}/participants"),
        Some(token),
        &json!({}),
    );
    assert!(resp.status == 201 || resp.status == 200, "{}", resp.body);
}

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect()
}

fn with_if_match(app: &TestApp, method: &str, path: &str, token: &str, etag: &str, body: Option<Value>) -> Resp {
    app.send(
        method,
        path,
        Some(token),
        &[("if-match", etag)],
        body.map(|b| ("application/json", b.to_string().into_bytes())),
    )
}

/// Every item id in the roadmap view for `token`.
fn view_ids(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let resp = app.get(&format!("/api/v1/roadmap{query}"), Some(token));
    resp.expect(200);
    resp.json()
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["items"].as_array().unwrap().clone())
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

struct Cast {
    admin: String,
    maker: TestUser,
    other_maker: TestUser,
    supplier: TestUser,
    reviewer: TestUser,
}

fn cast(app: &TestApp) -> Cast {
    let admin = app.admin_token();
    Cast {
        maker: app.user_in_new_org(&admin, "manufacturer", "member"),
        other_maker: app.user_in_new_org(&admin, "manufacturer", "admin"),
        supplier: app.user_in_new_org(&admin, "supplier", "admin"),
        reviewer: app.user_in_new_org(&admin, "reviewer", "admin"),
        admin,
    }
}

#[test]
fn owners_and_the_operator_manage_roadmap_items_and_others_are_refused() {
    let app = TestApp::spawn();
    let Cast {
        admin,
        maker,
        other_maker,
        supplier,
        reviewer,
    } = cast(&app);
    let viewer = app.invite_user(&admin, &maker.org_id, "viewer");
    let model = product(&app, &maker.token, &maker.org_id, "ESME");

    let created = add_item(&app, &maker.token, &model, json!({}));
    created.expect(201);
    let it = created.json();
    let iid = id(&it);
    assert_eq!(
        created.header("location").unwrap(),
        format!("/api/v1/roadmap-items/{iid}")
    );
    assert_eq!(it["device_model_id"], model.as_str());
    assert_eq!(it["device_type"], "ESME");
    assert_eq!(it["owner_org_id"], maker.org_id.as_str());
    assert_eq!(it["planned_version"], "1.11");
    assert_eq!(it["planned_date"], "2027-03-01");
    assert_eq!(it["category"], "defect_fix");
    assert_eq!(it["status"], "proposed");
    assert_eq!(it["visibility"], "industry");

    for (who, token) in [
        ("a supplier", &supplier.token),
        ("another manufacturer", &other_maker.token),
        ("a reviewer", &reviewer.token),
        ("a viewer of the owner", &viewer.token),
    ] {
        let resp = add_item(&app, token, &model, json!({}));
        assert_eq!(resp.status, 403, "{who}: {}", resp.body);
        resp.expect_code(403, "forbidden");
        let path = format!("/api/v1/roadmap-items/{iid}");
        let resp = app.patch(&path, Some(token), &json!({ "summary": "mine now" }));
        assert_eq!(resp.status, 403, "{who} PATCH: {}", resp.body);
        let resp = app.delete(&path, Some(token));
        assert_eq!(resp.status, 403, "{who} DELETE: {}", resp.body);
    }
    // A service provider owns Comms Hubs only, and cannot plan another's products either.
    let csp = app.user_in_new_org(&admin, "service_provider", "member");
    let hub = product(&app, &csp.token, &csp.org_id, "CHF");
    item(&app, &csp.token, &hub, json!({}));
    add_item(&app, &csp.token, &model, json!({})).expect_code(403, "forbidden");

    // The operator plans any product; the owner stays the manufacturer.
    let by_operator = item(&app, &admin, &model, json!({ "planned_version": "2.0" }));
    assert_eq!(by_operator["owner_org_id"], maker.org_id.as_str());
    let patched = app.patch(
        &format!("/api/v1/roadmap-items/{}", id(&by_operator)),
        Some(&admin),
        &json!({ "summary": "Rescoped by the operator" }),
    );
    patched.expect(200);
    assert_eq!(patched.header("etag").as_deref(), Some("\"2\""));

    // Defaults: proposed and private.
    let minimal = app.post(
        "/api/v1/roadmap-items",
        Some(&maker.token),
        &json!({ "device_model_id": model, "planned_version": "3.0", "category": "security", "summary": "Key rotation" }),
    );
    minimal.expect(201);
    let minimal = minimal.json();
    assert_eq!(minimal["status"], "proposed");
    assert_eq!(minimal["visibility"], "private");
    assert!(minimal["planned_date"].is_null());

    // Semantic errors are 422, shape errors 400.
    let bad = add_item(
        &app,
        &maker.token,
        MISSING,
        json!({ "summary": " ", "planned_version": "" }),
    );
    let mut got = fields(&bad.expect_code(422, "validation_failed"));
    got.sort();
    assert_eq!(got, ["planned_version", "summary"]);
    let bad = add_item(&app, &maker.token, MISSING, json!({}));
    assert_eq!(fields(&bad.expect_code(422, "validation_failed")), ["device_model_id"]);
    add_item(&app, &maker.token, &model, json!({ "category": "wishlist" })).expect(400);
    add_item(&app, &maker.token, &model, json!({ "visibility": "everyone" })).expect(400);
    add_item(&app, &maker.token, &model, json!({ "planned_date": "1 March" })).expect(400);

    // Idempotency-Key: a replay returns the first response; another body is 422.
    let body =
        json!({ "device_model_id": model, "planned_version": "4.0", "category": "enhancement", "summary": "Once" });
    let send = |b: &Value| {
        app.send(
            "POST",
            "/api/v1/roadmap-items",
            Some(&maker.token),
            &[("idempotency-key", "roadmap-once")],
            Some(("application/json", b.to_string().into_bytes())),
        )
    };
    let first = send(&body);
    first.expect(201);
    let again = send(&body);
    again.expect(201);
    assert_eq!(again.json(), first.json());
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    let mut other = body.clone();
    other["summary"] = json!("Twice");
    send(&other).expect_code(422, "idempotency_key_reused");

    let audit = app
        .get(&format!("/api/v1/audit-events?entity_id={iid}"), Some(&admin))
        .json();
    assert_eq!(audit["items"][0]["action"], "roadmap_item.create");
    assert_eq!(audit["items"][0]["entity_type"], "roadmap_item");
}

#[test]
fn private_items_are_invisible_to_other_organisations_everywhere() {
    let app = TestApp::spawn();
    let Cast {
        admin,
        maker,
        other_maker,
        supplier,
        reviewer,
    } = cast(&app);
    let model = product(&app, &maker.token, &maker.org_id, "GSME");
    let private = item(
        &app,
        &maker.token,
        &model,
        json!({ "visibility": "private", "status": "committed", "planned_date": "2027-04-01" }),
    );
    let pid = id(&private);
    let shared = id(&item(
        &app,
        &maker.token,
        &model,
        json!({ "planned_date": "2027-04-02" }),
    ));
    // Even a participant of an open window does not see a private item.
    let open = open_window(&app, &admin);
    join(&app, &supplier.token, &open);

    let missing = app.get(&format!("/api/v1/roadmap-items/{MISSING}"), Some(&supplier.token));
    missing.expect_code(404, "not_found");
    for (who, token) in [
        ("a supplier", &supplier.token),
        ("another manufacturer", &other_maker.token),
        ("a reviewer", &reviewer.token),
    ] {
        let got = app.get(&format!("/api/v1/roadmap-items/{pid}"), Some(token));
        assert_eq!(got.status, 404, "{who}");
        assert_eq!(got.body, missing.body, "{who}: the same body as a missing id");
        let history = app.get(&format!("/api/v1/roadmap-items/{pid}/history"), Some(token));
        assert_eq!(history.body, missing.body, "{who}: history");
        let listed = app
            .get("/api/v1/roadmap-items?limit=500", Some(token))
            .expect(200)
            .ids();
        assert!(!listed.contains(&pid) && listed.contains(&shared), "{who}: {listed:?}");
        let view = view_ids(&app, token, "?from=2027-01-01&to=2027-12-31");
        assert!(!view.contains(&pid) && view.contains(&shared), "{who}: {view:?}");
        // Changing what you cannot see is the same 404.
        let patch = app.patch(
            &format!("/api/v1/roadmap-items/{pid}"),
            Some(token),
            &json!({ "summary": "x" }),
        );
        assert_eq!(patch.body, missing.body, "{who}: PATCH");
        let delete = app.delete(&format!("/api/v1/roadmap-items/{pid}"), Some(token));
        assert_eq!(delete.body, missing.body, "{who}: DELETE");
    }
    for (who, token) in [("the owner", &maker.token), ("the operator", &admin)] {
        app.get(&format!("/api/v1/roadmap-items/{pid}"), Some(token))
            .expect(200);
        app.get(&format!("/api/v1/roadmap-items/{pid}/history"), Some(token))
            .expect(200);
        let listed = app
            .get("/api/v1/roadmap-items?limit=500", Some(token))
            .expect(200)
            .ids();
        assert!(listed.contains(&pid), "{who}");
        assert!(view_ids(&app, token, "").contains(&pid), "{who}");
    }
}

#[test]
fn participants_items_are_visible_only_to_participants_of_an_open_window() {
    let app = TestApp::spawn();
    let Cast {
        admin,
        maker,
        other_maker,
        supplier,
        reviewer,
    } = cast(&app);
    let model = product(&app, &maker.token, &maker.org_id, "PPMID");
    let pid = id(&item(
        &app,
        &maker.token,
        &model,
        json!({ "visibility": "participants" }),
    ));
    let path = format!("/api/v1/roadmap-items/{pid}");
    let visible = |token: &str| {
        let got = app.get(&path, Some(token));
        let listed = app.get("/api/v1/roadmap-items", Some(token)).expect(200).ids();
        assert_eq!(got.status == 200, listed.contains(&pid), "get and list agree");
        got.status == 200
    };
    assert!(visible(&maker.token), "the owner");
    assert!(visible(&admin), "the operator");
    assert!(!visible(&supplier.token), "not yet a participant");
    assert!(!visible(&reviewer.token));

    // Joining a window that has not opened, or one that closed, is not enough.
    let later = window(&app, &admin, Duration::days(2), Duration::days(9));
    join(&app, &supplier.token, &later);
    assert!(!visible(&supplier.token), "a scheduled window");
    let open = open_window(&app, &admin);
    join(&app, &supplier.token, &open);
    assert!(visible(&supplier.token), "a participant of an open window");
    app.get(&format!("{path}/history"), Some(&supplier.token)).expect(200);
    assert!(view_ids(&app, &supplier.token, "").contains(&pid));
    assert!(!visible(&other_maker.token), "another manufacturer that did not join");

    // Cancelling the open window ends the participation that mattered.
    app.patch(
        &format!("/api/v1/uit-windows/{open}"),
        Some(&admin),
        &json!({ "status": "cancelled" }),
    )
    .expect(200);
    assert!(!visible(&supplier.token), "the only open window was cancelled");
}

#[test]
fn every_change_is_kept_in_the_history_and_announced_with_from_and_to() {
    let app = TestApp::spawn();
    let Cast { admin, maker, .. } = cast(&app);
    let model = product(&app, &maker.token, &maker.org_id, "ESME");
    let model_name = app.get(&format!("/api/v1/device-models/{model}"), Some(&admin)).json()["name"]
        .as_str()
        .unwrap()
        .to_string();
    let created = item(&app, &maker.token, &model, json!({}));
    let iid = id(&created);
    let path = format!("/api/v1/roadmap-items/{iid}");

    let published = events_of_kind(&app, &admin, &iid, "roadmap.published");
    assert_eq!(published.len(), 1, "a shared item is published when created");
    let e = &published[0];
    assert_eq!(e["topic"], "roadmaps");
    assert_eq!(e["entity_type"], "roadmap_item");
    assert_eq!(e["device_types"], json!(["ESME"]));
    assert_eq!(e["device_model_ids"], json!([model]));
    assert_eq!(e["manufacturer_org_ids"], json!([maker.org_id]));
    assert_eq!(e["details"]["visibility"], "industry");
    assert_eq!(e["details"]["owner_org_id"], maker.org_id.as_str());
    assert_eq!(e["details"]["planned_version"], "1.11");

    let etag = app.get(&path, Some(&maker.token)).header("etag").unwrap();
    assert_eq!(etag, "\"1\"");
    let moved = with_if_match(
        &app,
        "PATCH",
        &path,
        &maker.token,
        &etag,
        Some(json!({ "planned_date": "2027-05-01", "status": "committed" })),
    );
    moved.expect(200);
    assert_eq!(moved.header("etag").as_deref(), Some("\"2\""));
    assert_eq!(moved.json()["planned_date"], "2027-05-01");
    with_if_match(
        &app,
        "PATCH",
        &path,
        &maker.token,
        &etag,
        Some(json!({ "summary": "stale" })),
    )
    .expect_code(412, "precondition_failed");
    // A PATCH that changes nothing keeps the version and records nothing.
    let same = app.patch(&path, Some(&maker.token), &json!({ "status": "committed" }));
    assert_eq!(same.header("etag").as_deref(), Some("\"2\""));

    let date_moved = events_of_kind(&app, &admin, &iid, "roadmap.date_moved");
    assert_eq!(date_moved.len(), 1);
    assert_eq!(
        date_moved[0]["summary"],
        format!("{model_name} firmware 1.11 now planned for 2027-05-01, was 2027-03-01")
    );
    let d = &date_moved[0]["details"];
    assert_eq!(
        (d["from"].as_str(), d["to"].as_str()),
        (Some("2027-03-01"), Some("2027-05-01"))
    );
    assert_eq!(d["visibility"], "industry");
    assert_eq!(d["owner_org_id"], maker.org_id.as_str());
    assert_eq!(d["planned_version"], "1.11");
    let status = events_of_kind(&app, &admin, &iid, "roadmap.status_changed");
    assert_eq!(status.len(), 1);
    assert_eq!(
        (
            status[0]["details"]["from"].as_str(),
            status[0]["details"]["to"].as_str()
        ),
        (Some("proposed"), Some("committed"))
    );
    assert_eq!(status[0]["manufacturer_org_ids"], json!([maker.org_id]));

    // A private item is published when it is shared, not before.
    let quiet = id(&item(
        &app,
        &maker.token,
        &model,
        json!({ "visibility": "private", "planned_version": "1.12" }),
    ));
    assert!(events_of_kind(&app, &admin, &quiet, "roadmap.published").is_empty());
    app.patch(
        &format!("/api/v1/roadmap-items/{quiet}"),
        Some(&maker.token),
        &json!({ "visibility": "participants" }),
    )
    .expect(200);
    app.patch(
        &format!("/api/v1/roadmap-items/{quiet}"),
        Some(&maker.token),
        &json!({ "visibility": "industry" }),
    )
    .expect(200);
    let shared = events_of_kind(&app, &admin, &quiet, "roadmap.published");
    assert_eq!(
        shared.len(),
        1,
        "private -> participants only; participants -> industry is no publish"
    );
    assert_eq!(shared[0]["details"]["from"], "private");
    assert_eq!(shared[0]["details"]["to"], "participants");

    // Clearing the date is a move too.
    app.patch(&path, Some(&maker.token), &json!({ "planned_date": null }))
        .expect(200);
    let cleared = events_of_kind(&app, &admin, &iid, "roadmap.date_moved");
    assert_eq!(cleared.len(), 2);
    assert!(cleared[1]["details"]["to"].is_null());

    let history = app.get(&format!("{path}/history"), Some(&maker.token));
    history.expect(200);
    let entries = history.json()["items"].as_array().unwrap().clone();
    let changes: Vec<(&str, i64)> = entries
        .iter()
        .map(|e| (e["change"].as_str().unwrap(), e["version"].as_i64().unwrap()))
        .collect();
    assert_eq!(changes, [("created", 1), ("updated", 2), ("updated", 3)]);
    assert_eq!(entries[0]["snapshot"]["planned_date"], "2027-03-01");
    assert_eq!(entries[0]["snapshot"]["status"], "proposed");
    assert_eq!(entries[1]["snapshot"]["planned_date"], "2027-05-01");
    assert_eq!(entries[1]["snapshot"]["status"], "committed");
    assert!(entries[2]["snapshot"]["planned_date"].is_null());
    assert_eq!(entries[1]["changed_by_org_id"], maker.org_id.as_str());
    assert_eq!(entries[1]["changed_by_user_id"], maker.id.as_str());
    let page = app.get(&format!("{path}/history?limit=2"), Some(&maker.token));
    assert_eq!(page.json()["items"].as_array().unwrap().len(), 2);
    assert!(page.header("link").unwrap().contains("rel=\"next\""));

    let audit = app
        .get(&format!("/api/v1/audit-events?entity_id={iid}"), Some(&admin))
        .json();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"roadmap_item.create") && actions.contains(&"roadmap_item.update"));
    assert_eq!(
        events(&app, &admin, &iid).len(),
        4,
        "published, date_moved x2, status_changed"
    );
}

#[test]
fn deleted_items_are_gone_from_every_read_but_keep_their_history_row() {
    let app = TestApp::spawn();
    let Cast { admin, maker, .. } = cast(&app);
    let model = product(&app, &maker.token, &maker.org_id, "IHD");
    let iid = id(&item(&app, &maker.token, &model, json!({ "status": "committed" })));
    let path = format!("/api/v1/roadmap-items/{iid}");

    with_if_match(&app, "DELETE", &path, &maker.token, "\"7\"", None).expect_code(412, "precondition_failed");
    with_if_match(&app, "DELETE", &path, &maker.token, "\"1\"", None).expect(204);
    for token in [&maker.token, &admin] {
        app.get(&path, Some(token)).expect_code(404, "not_found");
        app.get(&format!("{path}/history"), Some(token))
            .expect_code(404, "not_found");
        app.patch(&path, Some(token), &json!({ "summary": "back" }))
            .expect_code(404, "not_found");
        app.delete(&path, Some(token)).expect_code(404, "not_found");
        assert!(!app
            .get("/api/v1/roadmap-items", Some(token))
            .expect(200)
            .ids()
            .contains(&iid));
        assert!(!view_ids(&app, token, "").contains(&iid));
    }
    let audit = app
        .get(&format!("/api/v1/audit-events?entity_id={iid}"), Some(&admin))
        .json();
    assert!(audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["action"] == "roadmap_item.delete"));
}

#[test]
fn lists_filter_and_the_roadmap_view_groups_items_per_product_by_date() {
    let app = TestApp::spawn();
    let Cast {
        admin,
        maker,
        other_maker,
        supplier,
        ..
    } = cast(&app);
    let meter = product(&app, &maker.token, &maker.org_id, "ESME");
    let display = product(&app, &maker.token, &maker.org_id, "IHD");
    let theirs = product(&app, &other_maker.token, &other_maker.org_id, "GSME");
    let late = id(&item(
        &app,
        &maker.token,
        &meter,
        json!({ "planned_date": "2027-09-01" }),
    ));
    let early = id(&item(
        &app,
        &maker.token,
        &meter,
        json!({ "planned_date": "2027-02-01", "status": "committed" }),
    ));
    let undated = id(&item(&app, &maker.token, &meter, json!({ "planned_date": null })));
    let shown = id(&item(
        &app,
        &maker.token,
        &display,
        json!({ "planned_date": "2027-06-15" }),
    ));
    let other = id(&item(
        &app,
        &other_maker.token,
        &theirs,
        json!({ "planned_date": "2027-06-01" }),
    ));
    let outside = id(&item(
        &app,
        &other_maker.token,
        &theirs,
        json!({ "planned_date": "2029-01-01" }),
    ));

    let list = |query: &str| {
        let mut got = app
            .get(&format!("/api/v1/roadmap-items?{query}"), Some(&supplier.token))
            .expect(200)
            .ids();
        got.sort();
        got
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        list(&format!("device_model_id={meter}")),
        sorted(vec![late.clone(), early.clone(), undated.clone()])
    );
    assert_eq!(
        list(&format!("manufacturer_org_id={}", other_maker.org_id)),
        sorted(vec![other.clone(), outside.clone()])
    );
    assert_eq!(
        list("from=2027-03-01&to=2027-12-31"),
        sorted(vec![late.clone(), shown.clone(), other.clone()])
    );
    assert_eq!(list("status=committed"), vec![early.clone()]);
    let page = app.get("/api/v1/roadmap-items?limit=2", Some(&supplier.token));
    assert_eq!(page.json()["items"].as_array().unwrap().len(), 2);
    assert!(page.header("link").is_some());

    app.get(
        "/api/v1/roadmap-items?from=2027-05-01&to=2027-04-01",
        Some(&supplier.token),
    )
    .expect_code(422, "validation_failed");
    app.get("/api/v1/roadmap-items?from=soon", Some(&supplier.token))
        .expect_code(400, "invalid_query");
    app.get("/api/v1/roadmap-items?colour=red", Some(&supplier.token))
        .expect_code(400, "invalid_query");
    app.get("/api/v1/roadmap?to=2027-01-01&from=2028-01-01", Some(&admin))
        .expect_code(422, "validation_failed");
    app.get("/api/v1/roadmap?device_model_id=x", Some(&admin))
        .expect_code(400, "invalid_query");

    let view = app.get("/api/v1/roadmap?from=2027-01-01&to=2027-12-31", Some(&supplier.token));
    view.expect(200);
    let products = view.json();
    let products = products.as_array().unwrap();
    assert_eq!(products.len(), 3, "{products:?}");
    let meter_group = products
        .iter()
        .find(|p| p["device_model_id"] == meter.as_str())
        .unwrap();
    assert_eq!(meter_group["device_type"], "ESME");
    assert_eq!(meter_group["manufacturer_org_id"], maker.org_id.as_str());
    assert!(meter_group["device_model_name"]
        .as_str()
        .unwrap()
        .starts_with("ESME model"));
    let in_order: Vec<&str> = meter_group["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(in_order, [early.as_str(), late.as_str()], "by date; undated left out");
    let names: Vec<&str> = products
        .iter()
        .map(|p| p["device_model_name"].as_str().unwrap())
        .collect();
    let mut by_name = names.clone();
    by_name.sort();
    assert_eq!(names, by_name, "products by name");
    assert!(!view_ids(&app, &supplier.token, "?from=2027-01-01&to=2027-12-31").contains(&outside));
    assert!(view_ids(&app, &supplier.token, "?from=2028-06-01").contains(&outside));
}

#[test]
fn bad_bodies_on_roadmap_routes_are_400_or_415() {
    let app = TestApp::spawn();
    let Cast { maker, .. } = cast(&app);
    let model = product(&app, &maker.token, &maker.org_id, "CAD");
    let iid = id(&item(&app, &maker.token, &model, json!({})));
    for (method, path) in [
        ("POST", "/api/v1/roadmap-items".to_string()),
        ("PATCH", format!("/api/v1/roadmap-items/{iid}")),
    ] {
        for (what, body) in [
            ("malformed", b"{\"summary\": ".to_vec()),
            ("not an object", b"[1,2,3]".to_vec()),
            (
                "wrong types",
                br#"{"device_model_id": 1, "planned_version": 2, "planned_date": false, "summary": []}"#.to_vec(),
            ),
            ("unknown field", br#"{"owner_org_id": "me"}"#.to_vec()),
            ("empty", Vec::new()),
        ] {
            let resp = app.send(method, &path, Some(&maker.token), &[], Some(("application/json", body)));
            assert_eq!(resp.status, 400, "{method} {path} ({what}): {}", resp.body);
            resp.expect(400);
        }
        let resp = app.send(
            method,
            &path,
            Some(&maker.token),
            &[],
            Some(("text/plain", b"{}".to_vec())),
        );
        resp.expect_code(415, "unsupported_media_type");
    }
    app.get(
        &format!("/api/v1/roadmap-items/{iid}/history?cursor=not-base64!"),
        Some(&maker.token),
    )
    .expect_code(400, "invalid_cursor");
    let got = app.get(&format!("/api/v1/roadmap-items/{iid}"), Some(&maker.token));
    assert_eq!(got.header("etag").as_deref(), Some("\"1\""));
}

#[test]
fn history_shows_each_snapshot_only_to_those_its_own_visibility_admitted() {
    let app = TestApp::spawn();
    let Cast {
        admin, maker, supplier, ..
    } = cast(&app);
    let model = product(&app, &maker.token, &maker.org_id, "ESME");
    let secret = "Drops the tariff switch fix; only if the regulator agrees";
    let draft = item(
        &app,
        &maker.token,
        &model,
        json!({ "visibility": "private", "summary": secret }),
    );
    let iid = id(&draft);
    let path = format!("/api/v1/roadmap-items/{iid}");
    app.patch(
        &path,
        Some(&maker.token),
        &json!({ "summary": format!("{secret} (v2)") }),
    )
    .expect(200);
    // Shared only with the participants first, then with the industry.
    app.patch(
        &path,
        Some(&maker.token),
        &json!({ "visibility": "participants", "summary": "Fixes the tariff switch defect" }),
    )
    .expect(200);
    app.patch(&path, Some(&maker.token), &json!({ "visibility": "industry" }))
        .expect(200);

    let history = |token: &str, query: &str| -> (Vec<Value>, String) {
        let resp = app.get(&format!("{path}/history{query}"), Some(token));
        resp.expect(200);
        (resp.json()["items"].as_array().unwrap().clone(), resp.body.clone())
    };
    let (all, _) = history(&maker.token, "");
    assert_eq!(all.len(), 4, "the owner sees every entry");
    let (operator, _) = history(&admin, "");
    assert_eq!(operator.len(), 4, "so does the operator");

    // Someone outside any window: only the industry-era entry.
    let (outside, body) = history(&supplier.token, "");
    assert!(!body.contains(secret), "the private era leaks: {body}");
    assert_eq!(outside.len(), 1);
    assert_eq!(outside[0]["version"], 4);
    assert_eq!(outside[0]["snapshot"]["visibility"], "industry");
    // Pages skip what is hidden rather than coming back short or empty.
    let (first, _) = history(&supplier.token, "?limit=1");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["version"], 4);

    // A participant of an open window also sees the participants-era entry.
    let open = open_window(&app, &admin);
    join(&app, &supplier.token, &open);
    let (joined, body) = history(&supplier.token, "");
    assert!(!body.contains(secret));
    let versions: Vec<i64> = joined.iter().map(|h| h["version"].as_i64().unwrap()).collect();
    assert_eq!(versions, [3, 4]);
}
