//! The UIT window pages (src/web/windows.rs): what each organisation sees in the window page,
//! the cell page and the CSV; who gets a claim button; forged and refused claim forms; hostile
//! names; filters, sorting and paging of the heatmap.

use serde_json::{json, Value};

use crate::fixtures::{firmware, product, world, World, SCENARIOS};
use crate::helpers::{Resp, TestApp, TestUser};
use crate::web::{hidden, Browser};

fn result_with_notes(
    app: &TestApp,
    user: &TestUser,
    w: &World,
    set: &str,
    outcome: &str,
    visibility: &str,
    notes: &str,
) {
    app.post(
        "/api/v1/results",
        Some(&user.token),
        &json!({ "uit_window_id": w.window, "device_set_id": set, "scenario": SCENARIOS[0],
                 "outcome": outcome, "visibility": visibility, "notes": notes,
                 "executed_at": "2026-11-20T10:00:00Z" }),
    )
    .expect(201);
}

fn cell_path(w: &World, set: &str, scenario: &str) -> String {
    format!("/windows/{}/cell?device_set={set}&scenario={scenario}", w.window)
}

/// The device-set names of the heatmap's rows, in order.
fn row_names(body: &str) -> Vec<String> {
    let Some(start) = body.find("<table class=\"heatmap\">") else {
        return Vec::new();
    };
    let table = &body[start..start + body[start..].find("</table>").unwrap()];
    table
        .split("<th scope=\"row\">")
        .skip(1)
        .map(|s| s[..s.find('<').unwrap()].to_string())
        .collect()
}

fn claims_on(app: &TestApp, w: &World, set: &str) -> Vec<Value> {
    let resp = app.get(
        &format!("/api/v1/uit-windows/{}/claims?device_set_id={set}", w.window),
        Some(&w.admin),
    );
    resp.expect(200);
    resp.json()["items"].as_array().unwrap().clone()
}

#[test]
fn a_private_note_is_seen_by_its_organisation_only_on_every_window_page() {
    let app = TestApp::spawn();
    let w = world(&app);
    let secret = format!("private-note-{}", uuid::Uuid::new_v4().simple());
    result_with_notes(&app, &w.a, &w, &w.sets[0], "fail", "private", &secret);
    result_with_notes(&app, &w.b, &w, &w.sets[0], "pass", "industry", "shared with everyone");
    let cell = cell_path(&w, &w.sets[0], SCENARIOS[0]);
    let window = format!("/windows/{}", w.window);
    let csv = format!("/windows/{}/matrix.csv", w.window);

    let b_viewer = app.invite_user(&w.admin, &w.b.org_id, "viewer");
    for other in [&w.b, &w.reviewer, &b_viewer] {
        let mut b = Browser::signed_in(&app, &other.email);
        let page = b.get(&window);
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(!page.body.contains(&secret));
        // The private failure does not count either: the cell shows the shared pass alone.
        assert!(!page.body.contains("o-fail"), "{}", page.body);
        assert!(
            page.body.contains("<span class=\"w\">PASS</span><span class=\"n\">1<"),
            "{}",
            page.body
        );
        let c = b.get(&cell);
        assert_eq!(c.status, 200, "{}", c.body);
        assert!(c.body.contains("shared with everyone"), "{}", c.body);
        assert!(!c.body.contains(&secret), "{}", c.body);
        assert!(c.body.contains("1 result you may see"), "{}", c.body);
        let file = b.get(&csv);
        assert_eq!(file.status, 200);
        assert!(!file.body.contains(&secret));
        // The page's CSV is the API's CSV for the same person.
        let api = app.send(
            "GET",
            &format!("/api/v1/uit-windows/{}/matrix", w.window),
            Some(&other.token),
            &[("accept", "text/csv")],
            None,
        );
        assert_eq!(file.body, api.body);
        assert!(file.header("content-type").unwrap().starts_with("text/csv"));
        assert!(file
            .header("content-disposition")
            .unwrap()
            .starts_with("attachment; filename="));
    }

    let mut owner = Browser::signed_in(&app, &w.a.email);
    let page = owner.get(&window);
    assert!(
        page.body.contains("<span class=\"w\">FAIL</span><span class=\"n\">2<"),
        "{}",
        page.body
    );
    let c = owner.get(&cell);
    assert!(c.body.contains(&secret), "the owner reads its own note: {}", c.body);
    // So does the owner's viewer, on the cell page and in the CSV.
    let mut own_viewer = Browser::signed_in(&app, &w.a_viewer.email);
    let vc = own_viewer.get(&cell);
    assert!(
        vc.body.contains(&secret),
        "the owner's viewer reads its note: {}",
        vc.body
    );
    assert!(own_viewer.get(&csv).status == 200);
    assert!(c.body.contains("2 results you may see"), "{}", c.body);
    // The CSV counts the owner's private failure.
    let file = owner.get(&csv);
    let line = file
        .body
        .lines()
        .find(|l| l.starts_with(&w.sets[0]) && l.contains(SCENARIOS[0]))
        .unwrap()
        .to_string();
    assert!(line.contains(",fail,1,0,0,0,1,0,"), "{line}");
}

#[test]
fn only_suppliers_get_claim_buttons_and_refused_forms_change_nothing() {
    let app = TestApp::spawn();
    let w = world(&app);
    let window = format!("/windows/{}", w.window);
    let claim = format!("/windows/{}/claim", w.window);
    let set = w.sets[2].clone();

    let mut reviewer = Browser::signed_in(&app, &w.reviewer.email);
    let page = reviewer.get(&window);
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("Lead this set"), "{}", page.body);

    let mut viewer = Browser::signed_in(&app, &w.a_viewer.email);
    let page = viewer.get(&window);
    assert!(!page.body.contains("Lead this set"), "{}", page.body);
    let csrf = hidden(&page.body, "csrf");
    // A valid token, but a viewer may not claim: the domain refuses, as the API does.
    let refused = viewer.post(&claim, &[("csrf", &csrf), ("device_set_id", &set)]);
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(claims_on(&app, &w, &set).is_empty());

    let mut supplier = Browser::signed_in(&app, &w.b.email);
    let page = supplier.get(&window);
    assert!(page.body.contains("Lead this set"), "{}", page.body);
    let csrf = hidden(&page.body, "csrf");
    for forged in [
        vec![("device_set_id", set.as_str())],
        vec![("csrf", "forged"), ("device_set_id", set.as_str())],
    ] {
        let resp = supplier.post(&claim, &forged);
        assert_eq!(resp.status, 403, "{}", resp.body);
        assert!(resp.body.contains("Nothing was changed"), "{}", resp.body);
    }
    let forged_release = supplier.post(&format!("/windows/{}/release", w.window), &[("device_set_id", &set)]);
    assert_eq!(forged_release.status, 403);
    assert!(claims_on(&app, &w, &set).is_empty(), "a forged form changed nothing");

    let back = format!("{window}?sort=name");
    let made = supplier.post(&claim, &[("csrf", &csrf), ("device_set_id", &set), ("back", &back)]);
    assert_eq!(made.status, 303, "{}", made.body);
    assert_eq!(made.header("location").as_deref(), Some(back.as_str()));
    let claims = claims_on(&app, &w, &set);
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0]["org_id"], json!(w.b.org_id));
    let org_name = claims[0]["org_name"].as_str().unwrap().to_string();
    let page = supplier.get(&window);
    assert!(page.body.contains(&format!("Led by {org_name}")), "{}", page.body);
    assert!(page.body.contains(">Release<span"), "{}", page.body);
    // The lead shows when it lapses without a result (the window's claim_ttl_days), to its
    // organisation only.
    let expires: chrono::DateTime<chrono::Utc> = claims[0]["expires_at"].as_str().unwrap().parse().unwrap();
    let lapses = format!(
        "until {} unless a result is published",
        expires.format("%a %-d %b %Y, %H:%M UTC")
    );
    assert!(page.body.contains(&lapses), "{}", page.body);

    // Another supplier sees the lead but may not release it, nor take the set.
    let mut other = Browser::signed_in(&app, &w.outsider.email);
    let page = other.get(&window);
    assert!(page.body.contains(&format!("Led by {org_name}")));
    assert!(!page.body.contains("unless a result is published"), "{}", page.body);
    // Nor another organisation's viewer.
    let viewed = viewer.get(&window);
    assert!(viewed.body.contains(&format!("Led by {org_name}")));
    assert!(!viewed.body.contains("unless a result is published"), "{}", viewed.body);
    assert!(!page.body.contains(">Release<span"), "{}", page.body);
    let csrf_other = hidden(&page.body, "csrf");
    let taken = other.post(&claim, &[("csrf", &csrf_other), ("device_set_id", &set)]);
    assert_eq!(taken.status, 409, "{}", taken.body);
    assert!(taken.body.contains("already leads"), "{}", taken.body);
    let not_theirs = other.post(
        &format!("/windows/{}/release", w.window),
        &[("csrf", &csrf_other), ("device_set_id", &set)],
    );
    assert_eq!(not_theirs.status, 403, "{}", not_theirs.body);
    assert_eq!(claims_on(&app, &w, &set).len(), 1);

    let released = supplier.post(
        &format!("/windows/{}/release", w.window),
        &[("csrf", &csrf), ("device_set_id", &set)],
    );
    assert_eq!(released.status, 303, "{}", released.body);
    assert!(claims_on(&app, &w, &set).is_empty());
    // Both steps are audited, as through the API.
    let audit = app.get("/api/v1/audit-events?entity_type=claim", Some(&w.admin));
    audit.expect(200);
    let actions: Vec<String> = audit.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str().map(String::from))
        .collect();
    assert!(
        actions.iter().any(|a| a == "claim.create") && actions.iter().any(|a| a == "claim.release"),
        "{actions:?}"
    );
}

#[test]
fn a_hostile_device_set_name_renders_as_text() {
    let app = TestApp::spawn();
    let w = world(&app);
    app.patch(
        &format!("/api/v1/device-sets/{}", w.sets[0]),
        Some(&w.admin),
        &json!({ "name": "<script>alert(1)</script> & set" }),
    )
    .expect(200);
    let mut b = Browser::signed_in(&app, &w.b.email);
    for path in [
        format!("/windows/{}", w.window),
        cell_path(&w, &w.sets[0], SCENARIOS[1]),
        format!("/windows/{}?state=unclaimed", w.window),
    ] {
        let page = b.get(&path);
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert!(!page.body.contains("<script>alert"), "{path}: {}", page.body);
        assert!(
            page.body
                .contains("&#60;script&#62;alert(1)&#60;/script&#62; &#38; set"),
            "{path}: {}",
            page.body
        );
    }
}

#[test]
fn the_heatmap_filters_sorts_and_pages_at_fifty() {
    let app = TestApp::spawn();
    let w = world(&app);
    let window = format!("/windows/{}", w.window);
    let mut b = Browser::signed_in(&app, &w.b.email);
    let names = |b: &mut Browser, q: &str| row_names(&b.get(&format!("{window}{q}")).body);

    assert_eq!(
        names(&mut b, ""),
        ["set 20000", "set 5000", "set 300"],
        "most prevalent first"
    );
    assert_eq!(names(&mut b, "?sort=name"), ["set 20000", "set 300", "set 5000"]);
    assert_eq!(names(&mut b, "?device_type=GSME"), ["set 20000", "set 300"]);
    assert_eq!(
        names(&mut b, "?device_type=nonsense"),
        ["set 20000", "set 5000", "set 300"],
        "unknown means any"
    );

    app.post(
        &format!("/api/v1/uit-windows/{}/claims", w.window),
        Some(&w.a.token),
        &json!({ "device_set_id": w.sets[0] }),
    )
    .expect(201);
    crate::fixtures::publish(
        &app,
        &w.a.token,
        &w.window,
        &w.sets[1],
        SCENARIOS[2],
        "fail",
        "industry",
    )
    .expect(201);
    assert_eq!(names(&mut b, "?state=claimed"), ["set 5000"]);
    assert_eq!(names(&mut b, "?state=in_progress"), ["set 300"]);
    assert_eq!(names(&mut b, "?state=unclaimed"), ["set 20000"]);
    assert_eq!(names(&mut b, "?outcome=fail"), ["set 300"]);
    assert_eq!(names(&mut b, "?outcome=pass"), Vec::<String>::new());
    let page = b.get(&format!("{window}?state=unclaimed&sort=name"));
    assert!(
        page.body.contains("1 device set matches these filters"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("<option value=\"unclaimed\" selected>"),
        "the form keeps the filter"
    );

    // 55 more sets of the release's hub: two pages.
    let hub = product(&app, &w.admin, &w.maker.org_id, "CHF");
    let hub_fw = firmware(&app, &w.admin, &hub, "9.9", "in_test");
    for i in 0..55 {
        let esme = firmware(&app, &w.maker.token, &w.esme_model, &format!("5.{i}"), "deployed");
        let resp = app.post(
            "/api/v1/device-sets",
            Some(&w.admin),
            &json!({ "name": format!("bulk {i:02}"), "firmware_ids": [hub_fw, esme], "prevalence": 100 + i }),
        );
        resp.expect(201);
        // Claimed, so in the window's scope whatever the release holds.
        app.post(
            &format!("/api/v1/uit-windows/{}/claims", w.window),
            Some(&w.outsider.token),
            &json!({ "device_set_id": resp.json()["id"] }),
        )
        .expect(201);
    }
    let first: Resp = b.get(&window);
    assert!(first.body.contains("58 device sets, showing 1-50"), "{}", first.body);
    assert_eq!(row_names(&first.body).len(), 50);
    assert!(first.body.contains("aria-current=\"page\">1<"), "{}", first.body);
    assert!(
        first.body.contains(&format!("href=\"{window}?page=2\">2<")),
        "{}",
        first.body
    );
    let second = b.get(&format!("{window}?page=2"));
    assert!(second.body.contains("showing 51-58"), "{}", second.body);
    let rows = row_names(&second.body);
    assert_eq!(rows.len(), 8);
    assert_eq!(rows.last().map(String::as_str), Some("bulk 00"), "least prevalent last");
    // Filters travel with the pages.
    let by_name = b.get(&format!("{window}?sort=name&page=2"));
    assert!(
        by_name.body.contains(&format!("href=\"{window}?sort=name\">1<")),
        "{}",
        by_name.body
    );
    assert_eq!(row_names(&by_name.body).last().map(String::as_str), Some("set 5000"));
    // A page past the end shows the last one.
    assert!(b.get(&format!("{window}?page=99")).body.contains("showing 51-58"));
}

#[test]
fn the_window_list_names_each_window_with_its_release_and_deadline() {
    let app = TestApp::spawn();
    let w = world(&app);
    let mut b = Browser::signed_in(&app, &w.reviewer.email);
    let page = b.get("/windows");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("1 UIT window,"), "{}", page.body);
    assert!(
        page.body.contains(&format!("href=\"/windows/{}\"", w.window)),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("open, closes in 10 days") || page.body.contains("open, closes in 9 days"),
        "{}",
        page.body
    );
    assert!(page.body.contains("UTC"));
    let window = b.get(&format!("/windows/{}", w.window));
    assert!(window.body.contains("Printed from UIT Portal on"), "{}", window.body);
    assert!(
        window.body.contains("Unclaimed, most prevalent first (3)"),
        "{}",
        window.body
    );
    let signed_out = Browser::new(&app).get(&format!("/windows/{}", w.window));
    assert_eq!(signed_out.status, 303);
    let missing = b.get("/windows/no-such-window");
    assert_eq!(missing.status, 404);
}
