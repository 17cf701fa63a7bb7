//! The estate: DPL imports (rows rejected whole with their line numbers, sets found or
//! registered by membership, prevalence history, idempotency by content) and who may do what.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::fixtures::firmware;
use crate::helpers::{Resp, TestApp, TestUser};

/// A catalogue with names the DPL rows use: a Comms Hub, an ESME and an IHD product of one
/// manufacturer (names unique to the test), and a set of the hub and the meter registered by
/// a supplier beforehand.
struct Estate {
    admin: String,
    supplier: TestUser,
    hub: String,
    meter: String,
    display: String,
    hub_fw: String,
    meter_fw: String,
    display_fw: String,
    /// Hub 3.0 + meter 1.0, registered with prevalence 7.
    set: String,
}

fn model(app: &TestApp, admin: &str, org: &str, device_type: &str, name: &str) -> String {
    let resp = app.post(
        "/api/v1/device-models",
        Some(admin),
        &json!({ "manufacturer_org_id": org, "device_type": device_type, "name": name, "hardware_version": "HW1" }),
    );
    resp.expect(201);
    resp.id()
}

fn estate(app: &TestApp) -> Estate {
    let admin = app.admin_token();
    let maker = app.user_in_new_org(&admin, "manufacturer", "member");
    let supplier = app.user_in_new_org(&admin, "supplier", "member");
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let (hub, meter, display) = (format!("Hub {tag}"), format!("Meter {tag}"), format!("Display {tag}"));
    let hub_model = model(app, &admin, &maker.org_id, "CHF", &hub);
    let meter_model = model(app, &admin, &maker.org_id, "ESME", &meter);
    let display_model = model(app, &admin, &maker.org_id, "IHD", &display);
    let hub_fw = firmware(app, &admin, &hub_model, "3.0", "deployed");
    firmware(app, &admin, &hub_model, "3.1", "approved");
    let meter_fw = firmware(app, &admin, &meter_model, "1.0", "deployed");
    let display_fw = firmware(app, &admin, &display_model, "6.1", "deployed");
    let set = app.post(
        "/api/v1/device-sets",
        Some(&supplier.token),
        &json!({ "name": "Registered by hand", "firmware_ids": [hub_fw, meter_fw], "prevalence": 7 }),
    );
    set.expect(201);
    Estate {
        set: set.id(),
        admin,
        supplier,
        hub,
        meter,
        display,
        hub_fw,
        meter_fw,
        display_fw,
    }
}

const HEADER: &str = "comms_hub_model,comms_hub_firmware,device1_type,device1_model,device1_firmware,\
                      device2_type,device2_model,device2_firmware,installed_count";

fn upload(app: &TestApp, token: Option<&str>, as_of: &str, content_type: &str, body: &str) -> Resp {
    app.send(
        "POST",
        &format!("/api/v1/estate/imports?as_of={as_of}"),
        token,
        &[],
        Some((content_type, body.as_bytes().to_vec())),
    )
}

/// The import once its job has finished (done or failed).
fn finished(app: &TestApp, token: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let resp = app.get(&format!("/api/v1/estate/imports/{id}"), Some(token));
        resp.expect(200);
        let body = resp.json();
        if body["status"] == "done" || body["status"] == "failed" {
            return body;
        }
        assert!(Instant::now() < deadline, "the import did not finish: {body}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Uploads `body` as the operator and waits for the import to finish.
fn import(app: &TestApp, e: &Estate, as_of: &str, body: &str) -> Value {
    let resp = upload(app, Some(&e.admin), as_of, "text/csv", body);
    resp.expect(202);
    let id = resp.id();
    assert_eq!(resp.header("location"), Some(format!("/api/v1/estate/imports/{id}")));
    assert_eq!(resp.json()["status"], "queued");
    finished(app, &e.admin, &id)
}

fn set_json(app: &TestApp, token: &str, id: &str) -> Value {
    let resp = app.get(&format!("/api/v1/device-sets/{id}"), Some(token));
    resp.expect(200);
    resp.json()
}

fn history(app: &TestApp, token: &str, id: &str) -> Value {
    let resp = app.get(&format!("/api/v1/device-sets/{id}/prevalence"), Some(token));
    resp.expect(200);
    resp.json()
}

/// The sets holding `firmware`: their ids.
fn sets_with(app: &TestApp, token: &str, firmware: &str) -> Vec<String> {
    let resp = app.get(&format!("/api/v1/device-sets?firmware_id={firmware}"), Some(token));
    resp.expect(200);
    resp.ids()
}

#[test]
fn bad_rows_are_rejected_whole_with_their_lines_and_the_good_ones_counted() {
    let app = TestApp::spawn();
    let e = estate(&app);
    let (h, m, d) = (&e.hub, &e.meter, &e.display);
    let body = format!(
        "{HEADER}\n\
         {h},3.0,ESME,{m},1.0,,,,100\n\
         {h},3.0,ESME,{m},1.0,IHD,{d},6.1,40\n\
         {h},9.9,ESME,{m},1.0,,,,5\n\
         {h},3.0,ESME,Nope,1.0,,,,5\n\
         {h},3.0,ESME,{m},1.0,,,,abc\n\
         {h},3.0,ESME,{m},1.0,,,,-2\n\
         {h},3.0,ESME,{m},1.0\n\
         {h},3.0,ESME,{m},1.0,,,,23\n\
         {h},3.0,IHD,{d},6.1,ESME,{m},1.0,10\n\
         {h},3.0,CHF,{h},3.1,,,,1\n\
         {h},3.0,ESME,{m},1.0,IHD,{d},9.9,1000\n"
    );
    let done = import(&app, &e, "2026-11-01", &body);
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(
        (&done["rows_read"], &done["rows_imported"], &done["rows_rejected"]),
        (&json!(11), &json!(4), &json!(7)),
        "{done}"
    );
    assert_eq!(done["progress"], 1.0);
    let rejections = done["rejections"].as_array().unwrap();
    let lines: Vec<i64> = rejections.iter().map(|r| r["line"].as_i64().unwrap()).collect();
    assert_eq!(lines, vec![4, 5, 6, 7, 8, 11, 12]);
    let reasons: Vec<&str> = rejections.iter().map(|r| r["reason"].as_str().unwrap()).collect();
    for (reason, names) in reasons.iter().zip([
        "comms_hub_firmware: CHF model",
        "device1_model: no ESME model is named \"Nope\"",
        "installed_count: \"abc\"",
        "installed_count: \"-2\"",
        "the row has 5 fields; the header has 9",
        "device1_type: CHF",
        "device2_firmware: IHD model",
    ]) {
        assert!(reason.starts_with(names), "{reason:?} should start with {names:?}");
    }

    // Lines 2 and 9 are the registered set: 123 as of the DPL date. Lines 3 and 10 are one
    // membership (in another order): a set registered by the import, 50.
    let set = set_json(&app, &e.supplier.token, &e.set);
    assert_eq!(set["prevalence"], 123);
    let h = history(&app, &e.supplier.token, &e.set);
    assert_eq!(
        h["history"],
        json!([{ "as_of": "2026-11-01", "installed_count": 123, "import_id": done["id"] }])
    );
    let with_display = sets_with(&app, &e.admin, &e.display_fw);
    assert_eq!(with_display.len(), 1, "one set holds the display: {with_display:?}");
    let new = set_json(&app, &e.admin, &with_display[0]);
    assert_eq!(new["prevalence"], 50);
    assert_eq!(new["comms_hub_firmware_id"], e.hub_fw.as_str());
    let mut members = vec![e.hub_fw.clone(), e.meter_fw.clone(), e.display_fw.clone()];
    members.sort();
    assert_eq!(new["firmware_ids"], json!(members));
    assert_eq!(
        new["name"],
        format!("{} 3.0 + {} 1.0 + {} 6.1", e.hub, e.meter, e.display)
    );
    // Nothing of the rejected rows was written: no set holds hub 3.1, meter and no display.
    assert_eq!(sets_with(&app, &e.admin, &e.hub_fw).len(), 2);
}

#[test]
fn the_same_file_again_is_the_same_import_and_changes_nothing() {
    let app = TestApp::spawn();
    let e = estate(&app);
    let body = format!("{HEADER}\n{},3.0,ESME,{},1.0,,,,100\n", e.hub, e.meter);
    let first = import(&app, &e, "2026-11-01", &body);
    let etag = app
        .get(&format!("/api/v1/device-sets/{}", e.set), Some(&e.admin))
        .header("etag");
    let before = history(&app, &e.admin, &e.set);

    let again = upload(&app, Some(&e.admin), "2026-11-01", "text/csv", &body);
    again.expect(200);
    assert_eq!(again.id(), first["id"].as_str().unwrap());
    assert_eq!(again.json()["status"], "done");
    assert_eq!(again.header("location"), None);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        app.get(&format!("/api/v1/device-sets/{}", e.set), Some(&e.admin))
            .header("etag"),
        etag
    );
    assert_eq!(history(&app, &e.admin, &e.set), before);
    let list = app.get("/api/v1/estate/imports", Some(&e.admin));
    list.expect(200);
    assert_eq!(list.ids(), vec![first["id"].as_str().unwrap().to_string()]);
    assert!(list.json()["items"][0].get("rejections").is_none());
}

#[test]
fn each_dpl_date_adds_history_and_prevalence_follows_the_latest_date() {
    let app = TestApp::spawn();
    let e = estate(&app);
    let row = |count: i64| format!("{HEADER}\n{},3.0,ESME,{},1.0,,,,{count}\n", e.hub, e.meter);
    let november = import(&app, &e, "2026-11-01", &row(100));
    let december = import(&app, &e, "2026-12-01", &row(300));
    // The same bytes as of another date are another import.
    let again = import(&app, &e, "2027-01-01", &row(300));
    assert_ne!(again["id"], december["id"]);
    assert_eq!(set_json(&app, &e.admin, &e.set)["prevalence"], 300);
    // An older DPL fills in history without moving today's prevalence.
    let october = import(&app, &e, "2026-10-01", &row(5));
    let h = history(&app, &e.supplier.token, &e.set);
    assert_eq!(h["prevalence"], 300);
    let points: Vec<(Value, Value, Value)> = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["as_of"].clone(), p["installed_count"].clone(), p["import_id"].clone()))
        .collect();
    assert_eq!(
        points,
        vec![
            (json!("2027-01-01"), json!(300), again["id"].clone()),
            (json!("2026-12-01"), json!(300), december["id"].clone()),
            (json!("2026-11-01"), json!(100), november["id"].clone()),
            (json!("2026-10-01"), json!(5), october["id"].clone()),
        ]
    );
}

#[test]
fn json_lines_import_like_csv_and_name_fields_by_path() {
    let app = TestApp::spawn();
    let e = estate(&app);
    let row = |meter: &str, count: &str| {
        format!(
            "{{\"comms_hub_model\":\"{}\",\"comms_hub_firmware\":\"3.0\",\"devices\":[{{\"type\":\"ESME\",\"model\":\"{meter}\",\"firmware\":\"1.0\"}}],\"installed_count\":{count}}}\n",
            e.hub
        )
    };
    let body = format!(
        "{}\n{}{}not json\n",
        row(&e.meter, "40"),
        row("Nope", "1"),
        row(&e.meter, "2")
    );
    let resp = upload(&app, Some(&e.admin), "2026-11-01", "application/x-ndjson", &body);
    resp.expect(202);
    let done = finished(&app, &e.admin, &resp.id());
    assert_eq!(done["format"], "jsonl");
    assert_eq!(
        (&done["rows_imported"], &done["rows_rejected"]),
        (&json!(2), &json!(2)),
        "{done}"
    );
    let rejections = done["rejections"].as_array().unwrap();
    assert_eq!(rejections[0]["line"], 3);
    assert!(rejections[0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("devices[0].model: no ESME model"));
    assert_eq!(rejections[1]["line"], 5);
    assert_eq!(set_json(&app, &e.admin, &e.set)["prevalence"], 42);
}

#[test]
fn only_the_operator_imports_and_reads_imports() {
    let app = TestApp::spawn();
    let e = estate(&app);
    let body = format!("{HEADER}\n{},3.0,ESME,{},1.0,,,,100\n", e.hub, e.meter);
    let done = import(&app, &e, "2026-11-01", &body);
    let id = done["id"].as_str().unwrap();
    let operator_org = app.get("/api/v1/me", Some(&e.admin)).json()["organisation"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let operator_viewer = app.invite_user(&e.admin, &operator_org, "viewer");

    for token in [&e.supplier.token, &operator_viewer.token] {
        upload(&app, Some(token), "2026-12-01", "text/csv", &body).expect_code(403, "forbidden");
    }
    upload(&app, None, "2026-12-01", "text/csv", &body).expect_code(401, "invalid_token");
    app.get("/api/v1/estate/imports", Some(&e.supplier.token))
        .expect_code(403, "forbidden");
    app.get("/api/v1/estate/imports", None)
        .expect_code(401, "invalid_token");
    // Another organisation's view of an import id is that of a missing one.
    let foreign = app.get(&format!("/api/v1/estate/imports/{id}"), Some(&e.supplier.token));
    let missing = app.get(
        "/api/v1/estate/imports/01900000-0000-7000-8000-000000000000",
        Some(&e.supplier.token),
    );
    foreign.expect_code(404, "not_found");
    assert_eq!(foreign.body, missing.body);
    // The operator's viewer reads them.
    app.get(&format!("/api/v1/estate/imports/{id}"), Some(&operator_viewer.token))
        .expect(200);
    // Nothing was imported by the refused uploads.
    assert_eq!(
        app.get("/api/v1/estate/imports", Some(&e.admin)).ids(),
        vec![id.to_string()]
    );
}

#[test]
fn whoever_reads_a_set_reads_its_prevalence() {
    let app = TestApp::spawn();
    let e = estate(&app);
    let body = format!("{HEADER}\n{},3.0,ESME,{},1.0,,,,100\n", e.hub, e.meter);
    import(&app, &e, "2026-11-01", &body);
    // Device sets are shared by the industry: another supplier and a reviewer read the set the
    // first supplier registered, and so its history.
    let other = app.user_in_new_org(&e.admin, "supplier", "viewer");
    let reviewer = app.user_in_new_org(&e.admin, "reviewer", "member");
    for token in [&other.token, &reviewer.token] {
        set_json(&app, token, &e.set);
        let h = history(&app, token, &e.set);
        assert_eq!(h["device_set_id"], e.set.as_str());
        assert_eq!(h["history"][0]["installed_count"], 100);
    }
    app.get(
        "/api/v1/device-sets/01900000-0000-7000-8000-000000000000/prevalence",
        Some(&other.token),
    )
    .expect_code(404, "not_found");
    app.get(&format!("/api/v1/device-sets/{}/prevalence", e.set), None)
        .expect_code(401, "invalid_token");
}

#[test]
fn uploads_that_cannot_be_read_are_refused_with_a_problem_and_write_nothing() {
    let app = TestApp::spawn_with(|c| c.estate_import_limit_bytes = 4096);
    let e = estate(&app);
    let body = format!("{HEADER}\n{},3.0,ESME,{},1.0,,,,100\n", e.hub, e.meter);
    let t = Some(e.admin.as_str());
    upload(&app, t, "2026-11-01", "application/json", &body).expect_code(415, "unsupported_media_type");
    app.send(
        "POST",
        "/api/v1/estate/imports",
        t,
        &[],
        Some(("text/csv", body.clone().into_bytes())),
    )
    .expect_code(400, "invalid_query");
    upload(&app, t, "2026-13-01", "text/csv", &body).expect_code(400, "invalid_query");
    upload(&app, t, "yesterday", "text/csv", &body).expect_code(400, "invalid_query");
    let bad_header = upload(&app, t, "2026-11-01", "text/csv", "comms_hub_model,colour\nx,y\n");
    let problem = bad_header.expect_code(422, "invalid_dpl");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("unknown column \"colour\""),
        "{problem}"
    );
    upload(&app, t, "2026-11-01", "text/csv", "").expect_code(422, "invalid_dpl");
    let big = format!(
        "{body}{}",
        format!("{},3.0,ESME,{},1.0,,,,1\n", e.hub, e.meter).repeat(200)
    );
    upload(&app, t, "2026-11-01", "text/csv", &big).expect_code(413, "payload_too_large");
    assert!(app.get("/api/v1/estate/imports", t).ids().is_empty());
    // No upload was left behind in the data directory.
    let dir = app.config.data_dir.join("estate-imports");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(set_json(&app, &e.admin, &e.set)["prevalence"], 7);
}

#[test]
fn a_model_name_two_manufacturers_share_needs_the_manufacturer_column() {
    let app = TestApp::spawn();
    let e = estate(&app);
    // Another manufacturer's meter with the same name and version.
    let other = app.user_in_new_org(&e.admin, "manufacturer", "member");
    let twin = model(&app, &e.admin, &other.org_id, "ESME", &e.meter);
    let twin_fw = firmware(&app, &e.admin, &twin, "1.0", "deployed");
    let other_org = app
        .get(&format!("/api/v1/organisations/{}", other.org_id), Some(&e.admin))
        .json();
    let header = "comms_hub_model,comms_hub_firmware,device1_type,device1_manufacturer,device1_model,\
                  device1_firmware,installed_count";
    let body = format!(
        "{header}\n{h},3.0,ESME,,{m},1.0,5\n{h},3.0,esme,{slug},{m},1.0,6\n{h},3.0,ESME,Nobody,{m},1.0,7\n",
        h = e.hub,
        m = e.meter,
        slug = other_org["slug"].as_str().unwrap()
    );
    let done = import(&app, &e, "2026-11-01", &body);
    assert_eq!(
        (&done["rows_imported"], &done["rows_rejected"]),
        (&json!(1), &json!(2)),
        "{done}"
    );
    let rejections = done["rejections"].as_array().unwrap();
    assert_eq!(rejections[0]["line"], 2);
    let reason = rejections[0]["reason"].as_str().unwrap();
    assert!(reason.starts_with("device1_model: 2 ESME models named"), "{reason}");
    assert!(reason.contains("device1_manufacturer"), "{reason}");
    assert_eq!(rejections[1]["line"], 4);
    assert!(rejections[1]["reason"]
        .as_str()
        .unwrap()
        .starts_with("device1_manufacturer: no ESME model"));
    // The row naming the other manufacturer (by slug, type in lower case) is its meter's set.
    let sets = sets_with(&app, &e.admin, &twin_fw);
    assert_eq!(sets.len(), 1);
    assert_eq!(set_json(&app, &e.admin, &sets[0])["prevalence"], 6);
    assert_eq!(set_json(&app, &e.admin, &e.set)["prevalence"], 7);
}

#[test]
fn a_job_whose_worker_died_is_taken_over_and_run_from_the_start() {
    use uit_portal::estate::model::{self, ImportFormat, ImportRow, ImportStatus};
    let app = TestApp::spawn();
    let e = estate(&app);
    let operator_org = app.get("/api/v1/me", Some(&e.admin)).json()["organisation"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A job left running by a worker that stopped beating ten minutes ago, its file in place.
    let body = format!("{HEADER}\n{},3.0,ESME,{},1.0,,,,100\n", e.hub, e.meter);
    let id = uuid::Uuid::now_v7().to_string();
    let dir = app.config.data_dir.join("estate-imports");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{id}.dpl")), &body).unwrap();
    let mut row = ImportRow::queued(
        id.clone(),
        "0".repeat(64),
        ImportFormat::Csv,
        chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
        body.len() as i64,
        (None, operator_org.into()),
    );
    row.status = ImportStatus::Running;
    row.heartbeat_at = Some(uit_portal::db::now() - chrono::Duration::minutes(10));
    app.with_db(|conn| assert!(model::insert(conn, &row).unwrap()));
    // The idle worker finds it at its next poll.
    let done = finished(&app, &e.admin, &id);
    assert_eq!(
        (&done["status"], &done["rows_imported"]),
        (&json!("done"), &json!(1)),
        "{done}"
    );
    assert_eq!(set_json(&app, &e.admin, &e.set)["prevalence"], 100);
    assert!(
        !dir.join(format!("{id}.dpl")).exists(),
        "the file is removed once its job ends"
    );
}
