//! The matrix's and coverage's ETags: an unchanged window answers `If-None-Match` with 304,
//! every input of the grid moves the tag, and a body built for one reader is never another's.

use serde_json::json;

use crate::fixtures::{claim, publish, world, World, SCENARIOS};
use crate::helpers::{Resp, TestApp};

fn get(app: &TestApp, path: &str, token: &str, accept: &str, tag: Option<&str>) -> Resp {
    let mut headers = vec![("accept", accept)];
    if let Some(tag) = tag {
        headers.push(("if-none-match", tag));
    }
    app.send("GET", path, Some(token), &headers, None)
}

fn tag_of(resp: &Resp) -> String {
    resp.header("etag").expect("an ETag")
}

/// Asserts that `path` answers 304 to `tag`, with the tag and no body.
fn unchanged(app: &TestApp, path: &str, token: &str, tag: &str) {
    let again = get(app, path, token, "application/json", Some(tag));
    again.expect(304);
    assert_eq!(tag_of(&again), tag);
    assert!(again.body.is_empty());
}

/// A write that must move the grid's tag.
type Change<'a> = Box<dyn Fn() + 'a>;

fn matrix_path(w: &World) -> String {
    format!("/api/v1/uit-windows/{}/matrix", w.window)
}

#[test]
fn an_unchanged_window_answers_304_and_each_input_of_the_grid_moves_the_tag() {
    let app = TestApp::spawn();
    let w = world(&app);
    let path = matrix_path(&w);
    let first = get(&app, &path, &w.a.token, "application/json", None);
    first.expect(200);
    assert_eq!(first.header("cache-control").as_deref(), Some("private, no-cache"));
    assert_eq!(first.header("vary").as_deref(), Some("Accept"));
    let mut tag = tag_of(&first);
    unchanged(&app, &path, &w.a.token, &tag);
    // The same body again, from memory, under the same tag.
    let cached = get(&app, &path, &w.a.token, "application/json", None);
    assert_eq!(
        (tag_of(&cached), cached.body.clone()),
        (tag.clone(), first.body.clone())
    );
    // The CSV is another representation, with a tag of its own.
    let csv = get(&app, &path, &w.a.token, "text/csv", None);
    csv.expect(200);
    assert_ne!(tag_of(&csv), tag);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    get(&app, &path, &w.a.token, "text/csv", Some(&tag_of(&csv))).expect(304);

    let mask_body = json!({ "code": "DM-9", "title": "t", "severity": "minor", "device_model_id": w.esme_model });
    let changes: Vec<(&str, Change)> = vec![
        (
            "a result",
            Box::new(|| {
                publish(
                    &app,
                    &w.b.token,
                    &w.window,
                    &w.sets[0],
                    SCENARIOS[0],
                    "fail",
                    "industry",
                )
                .expect(201);
            }),
        ),
        (
            "a claim",
            Box::new(|| {
                claim(&app, &w, &w.b.token, &w.sets[1]).expect(201);
            }),
        ),
        (
            "an organisation's name",
            Box::new(|| {
                app.patch(
                    &format!("/api/v1/organisations/{}", w.b.org_id),
                    Some(&w.admin),
                    &json!({ "name": "Renamed Supplier" }),
                )
                .expect(200);
            }),
        ),
        (
            "a device set's prevalence",
            Box::new(|| {
                app.patch(
                    &format!("/api/v1/device-sets/{}", w.sets[1]),
                    Some(&w.admin),
                    &json!({ "prevalence": 99999 }),
                )
                .expect(200);
            }),
        ),
        (
            "a defect mask",
            Box::new(|| {
                app.post("/api/v1/defect-masks", Some(&w.b.token), &mask_body)
                    .expect(201);
            }),
        ),
        (
            "the release's firmware",
            Box::new(|| {
                app.patch(
                    &format!("/api/v1/releases/{}", w.release),
                    Some(&w.admin),
                    &json!({ "firmware_ids": [w.esme_fw] }),
                )
                .expect(200);
            }),
        ),
        (
            // The frame keeps its sets' members when rebuilt; their products are read afresh.
            "a device model's name",
            Box::new(|| {
                app.patch(
                    &format!("/api/v1/device-models/{}", w.esme_model),
                    Some(&w.maker.token),
                    &json!({ "name": "Renamed Meter" }),
                )
                .expect(200);
            }),
        ),
        (
            "a participant",
            Box::new(|| {
                app.post(
                    &format!("/api/v1/uit-windows/{}/participants", w.window),
                    Some(&w.outsider.token),
                    &json!({}),
                )
                .expect(201);
            }),
        ),
    ];
    for (what, change) in changes {
        change();
        let after = get(&app, &path, &w.a.token, "application/json", Some(&tag));
        assert_eq!(after.status, 200, "{what} must move the tag");
        let new_tag = tag_of(&after);
        assert_ne!(new_tag, tag, "{what}");
        unchanged(&app, &path, &w.a.token, &new_tag);
        tag = new_tag;
    }
    let m = get(&app, &path, &w.a.token, "application/json", None).json();
    let row = |set: &str| {
        m["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["device_set_id"] == set)
            .cloned()
    };
    assert_eq!(row(&w.sets[1]).unwrap()["lead_org_name"], "Renamed Supplier");
    assert_eq!(row(&w.sets[1]).unwrap()["prevalence"], 99999);
    assert_eq!(row(&w.sets[0]).unwrap()["cells"][SCENARIOS[0]]["worst"], "fail");
    let summary = row(&w.sets[0]).unwrap()["composition"]["summary"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(summary.contains("Renamed Meter"), "{summary}");
}

#[test]
fn a_grid_built_for_one_reader_is_never_served_to_another() {
    let app = TestApp::spawn();
    let w = world(&app);
    let path = matrix_path(&w);
    // a's private working note: only a sees it.
    publish(&app, &w.a.token, &w.window, &w.sets[2], SCENARIOS[1], "fail", "private").expect(201);
    let worst = |resp: &Resp| {
        resp.json()["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["device_set_id"] == w.sets[2].as_str())
            .unwrap()["cells"][SCENARIOS[1]]["worst"]
            .clone()
    };
    let mine = get(&app, &path, &w.a.token, "application/json", None);
    assert_eq!(worst(&mine), "fail");
    let a_tag = tag_of(&mine);
    for (who, token) in [
        ("b", &w.b.token),
        ("an outsider", &w.outsider.token),
        ("a reviewer", &w.reviewer.token),
    ] {
        // Another reader sending a's tag gets its own view, not a 304.
        let theirs = get(&app, &path, token, "application/json", Some(&a_tag));
        assert_eq!(theirs.status, 200, "{who}");
        assert_ne!(tag_of(&theirs), a_tag, "{who}");
        assert!(worst(&theirs).is_null(), "{who} must not see a's private result");
        let coverage = get(
            &app,
            &format!("/api/v1/uit-windows/{}/coverage", w.window),
            token,
            "application/json",
            None,
        );
        let item = coverage.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["device_set_id"] == w.sets[2].as_str())
            .cloned()
            .unwrap();
        assert_eq!(item["scenarios"][SCENARIOS[1]]["results"], 0, "{who}");
    }
    // a's own viewer shares a's organisation, so a's view.
    let viewer = get(&app, &path, &w.a_viewer.token, "application/json", Some(&a_tag));
    viewer.expect(304);
}

#[test]
fn coverage_is_tagged_per_filter_and_an_unknown_window_is_404() {
    let app = TestApp::spawn();
    let w = world(&app);
    let path = format!("/api/v1/uit-windows/{}/coverage", w.window);
    let all = get(&app, &path, &w.b.token, "application/json", None);
    all.expect(200);
    let gaps = get(
        &app,
        &format!("{path}?state=unclaimed"),
        &w.b.token,
        "application/json",
        None,
    );
    gaps.expect(200);
    assert_ne!(tag_of(&all), tag_of(&gaps));
    assert_eq!(gaps.json()["items"].as_array().unwrap().len(), 3);
    get(
        &app,
        &format!("{path}?state=unclaimed"),
        &w.b.token,
        "application/json",
        Some(&tag_of(&gaps)),
    )
    .expect(304);
    claim(&app, &w, &w.b.token, &w.sets[0]).expect(201);
    let after = get(
        &app,
        &format!("{path}?state=unclaimed"),
        &w.b.token,
        "application/json",
        Some(&tag_of(&gaps)),
    );
    after.expect(200);
    assert_eq!(after.json()["items"].as_array().unwrap().len(), 2);
    for p in [
        "/api/v1/uit-windows/no-such-window/coverage",
        "/api/v1/uit-windows/no-such-window/matrix",
    ] {
        get(&app, p, &w.b.token, "application/json", Some("*")).expect(404);
    }
}
