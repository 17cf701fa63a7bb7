//! Releases: creation, lists, updates, the stage track with its notice rule, and the change
//! events subscribers will be told about.

use chrono::{Duration, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::helpers::{Resp, TestApp};

/// An RFC 3339 instant `offset` from now, to the second.
pub fn at(offset: Duration) -> String {
    (Utc::now() + offset).to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn unique(prefix: &str) -> String {
    format!("{prefix} {}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// Creates a release of `kind` as `token`; returns it.
pub fn release(app: &TestApp, token: &str, kind: &str) -> Value {
    let resp = app.post(
        "/api/v1/releases",
        Some(token),
        &json!({ "name": unique("Release"), "kind": kind }),
    );
    resp.expect(201);
    resp.json()
}

pub fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// Asks to move a release to `stage`.
pub fn move_to(app: &TestApp, token: &str, release: &str, stage: &str, effective_at: Option<&str>) -> Resp {
    let mut body = json!({ "stage": stage, "decision_note": format!("Agreed to move to {stage}") });
    if let Some(t) = effective_at {
        body["effective_at"] = json!(t);
    }
    app.post(&format!("/api/v1/releases/{release}/stage"), Some(token), &body)
}

const TRACK: [&str; 10] = [
    "content_agreed",
    "pit",
    "sit",
    "uit",
    "production_proving",
    "approved",
    "deployment_phase_1",
    "deployment_phase_2",
    "mass_deployment",
    "complete",
];

/// Moves a fresh release along the track up to `stage` (deployment phases and completion 8
/// days out: they are decided now and take effect then).
/// Leaving UIT cites a review pack: the first time one is needed, a window of the release
/// (without exit criteria) is scheduled and its evidence frozen.
pub fn advance_to(app: &TestApp, token: &str, release: &str, stage: &str) {
    let later = at(Duration::days(8));
    let mut pack: Option<String> = None;
    for next in TRACK.iter().skip(1) {
        let deployment = next.starts_with("deployment") || *next == "mass_deployment" || *next == "complete";
        let mut body = json!({ "stage": next, "decision_note": format!("Agreed to move to {next}") });
        if deployment {
            body["effective_at"] = json!(later);
        }
        if matches!(*next, "production_proving" | "approved") {
            let pack = pack.get_or_insert_with(|| freeze_pack(app, token, release));
            body["review_pack_id"] = json!(pack);
        }
        leave_phase(app, token, release, next);
        app.post(&format!("/api/v1/releases/{release}/stage"), Some(token), &body)
            .expect(200);
        if *next == stage {
            return;
        }
    }
}

/// Before a move to `next` that leaves a deployment phase, the `proceed` the phase gate wants.
pub fn leave_phase(app: &TestApp, token: &str, release: &str, next: &str) {
    match next {
        "deployment_phase_2" => proceed(app, token, release, "deployment_phase_1"),
        "mass_deployment" => proceed(app, token, release, "deployment_phase_2"),
        _ => {}
    }
}

/// Records the operator's `proceed` assessment of `phase`, which the next move leaves.
pub fn proceed(app: &TestApp, token: &str, release: &str, phase: &str) {
    app.post(
        &format!("/api/v1/releases/{release}/assessments"),
        Some(token),
        &json!({ "phase": phase, "outcome": "proceed", "minutes": "No critical issues; proceed." }),
    )
    .expect(201);
}

/// Walks `release` (`unplanned_maintenance`: no notice) up to `last` at once, citing a review
/// pack of a window of it (opening tomorrow, without exit criteria); returns the window's id.
pub fn walk_now(app: &TestApp, token: &str, release: &str, last: &str) -> String {
    let (window, pack) = window_and_pack(app, token, release);
    for stage in TRACK.iter().skip(1) {
        let body = json!({ "stage": stage, "decision_note": "Agreed", "review_pack_id": pack });
        app.post(&format!("/api/v1/releases/{release}/stage"), Some(token), &body)
            .expect(200);
        if *stage == last {
            break;
        }
    }
    window
}

/// Schedules a window of `release` (from tomorrow, for four days) and freezes a review pack
/// of it; returns the pack's id.
pub fn freeze_pack(app: &TestApp, token: &str, release: &str) -> String {
    window_and_pack(app, token, release).1
}

/// Schedules a window of `release` (from tomorrow, for four days) and freezes a review pack
/// of it: `(window, pack)`.
pub fn window_and_pack(app: &TestApp, token: &str, release: &str) -> (String, String) {
    let window = app.post(
        "/api/v1/uit-windows",
        Some(token),
        &json!({ "release_id": release, "opens_at": at(Duration::days(1)), "closes_at": at(Duration::days(5)) }),
    );
    window.expect(201);
    let window = window.id();
    let pack = app.post(
        &format!("/api/v1/uit-windows/{window}/review-packs"),
        Some(token),
        &json!({}),
    );
    pack.expect(201);
    (window, pack.id())
}

/// The change events about `entity_id`, oldest first (as the operator admin reads them).
pub fn events(app: &TestApp, admin: &str, entity_id: &str) -> Vec<Value> {
    let resp = app.get(
        &format!("/api/v1/change-events?entity_id={entity_id}&limit=500"),
        Some(admin),
    );
    resp.expect(200);
    resp.json()["items"].as_array().unwrap().clone()
}

pub fn events_of_kind(app: &TestApp, admin: &str, entity_id: &str, kind: &str) -> Vec<Value> {
    events(app, admin, entity_id)
        .into_iter()
        .filter(|e| e["kind"] == kind)
        .collect()
}

/// A firmware version of a new product of `device_type` made by a new manufacturer:
/// `(firmware_id, device_model_id, manufacturer_org_id)`.
pub fn firmware(app: &TestApp, admin: &str, device_type: &str) -> (String, String, String) {
    let maker = app.create_org(admin, "manufacturer");
    let model = app.post(
        "/api/v1/device-models",
        Some(admin),
        &json!({
            "manufacturer_org_id": maker,
            "device_type": device_type,
            "name": unique(device_type),
            "hardware_version": "HW1",
        }),
    );
    model.expect(201);
    let model = id(&model.json());
    let fw = app.post(
        &format!("/api/v1/device-models/{model}/firmware"),
        Some(admin),
        &json!({ "version": "1.0.0" }),
    );
    fw.expect(201);
    (id(&fw.json()), model, maker)
}

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn operators_create_releases_that_start_at_content_agreed() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let (hub_fw, hub_model, hub_maker) = firmware(&app, &admin, "CHF");
    let (meter_fw, meter_model, meter_maker) = firmware(&app, &admin, "ESME");

    let created = app.send(
        "POST",
        "/api/v1/releases",
        Some(&admin),
        &[("x-request-id", "release-create-1")],
        Some((
            "application/json",
            json!({
                "name": "CHF 4.2 SEC release",
                "kind": "sec_release",
                "target_date": "2027-06-30",
                "firmware_ids": [meter_fw, hub_fw, meter_fw],
                "notes": "Security and HAN fixes",
            })
            .to_string()
            .into_bytes(),
        )),
    );
    created.expect(201);
    let release = created.json();
    let rid = id(&release);
    assert_eq!(created.header("location").unwrap(), format!("/api/v1/releases/{rid}"));
    assert_eq!(release["name"], "CHF 4.2 SEC release");
    assert_eq!(release["kind"], "sec_release");
    assert_eq!(release["stage"], "content_agreed");
    assert_eq!(release["target_date"], "2027-06-30");
    assert_eq!(release["notes"], "Security and HAN fixes");
    assert_eq!(
        release["firmware_ids"],
        json!(sorted(vec![hub_fw.clone(), meter_fw.clone()]))
    );
    assert!(release["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(release["updated_at"].is_string());

    let got = app.get(&format!("/api/v1/releases/{rid}"), Some(&admin));
    got.expect(200);
    assert_eq!(got.header("etag").as_deref(), Some("\"1\""));
    assert_eq!(got.json(), release);

    // The first stage is in the history, from nothing.
    let history = app.get(&format!("/api/v1/releases/{rid}/stages"), Some(&admin)).json();
    let items = history["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert!(items[0]["from_stage"].is_null());
    assert_eq!(items[0]["to_stage"], "content_agreed");
    assert!(history["next_cursor"].is_null());

    // Subscribers are told, scoped to the release's products.
    let created_events = events_of_kind(&app, &admin, &rid, "release.created");
    assert_eq!(created_events.len(), 1);
    let event = &created_events[0];
    assert_eq!(event["topic"], "releases");
    assert_eq!(event["entity_type"], "release");
    assert_eq!(event["device_types"], json!(["CHF", "ESME"]));
    assert_eq!(event["device_model_ids"], json!(sorted(vec![hub_model, meter_model])));
    assert_eq!(
        event["manufacturer_org_ids"],
        json!(sorted(vec![hub_maker, meter_maker]))
    );
    assert!(event["summary"].as_str().unwrap().contains("CHF 4.2 SEC release"));

    // And the audit log has it, with the request id.
    let audit = app
        .get(&format!("/api/v1/audit-events?entity_id={rid}"), Some(&admin))
        .json();
    let audit = audit["items"].as_array().unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["action"], "release.create");
    assert_eq!(audit[0]["request_id"], "release-create-1");
    assert_eq!(audit[0]["after"]["stage"], "content_agreed");

    // A name is taken once.
    let dup = app.post(
        "/api/v1/releases",
        Some(&admin),
        &json!({ "name": "CHF 4.2 SEC release", "kind": "planned_maintenance" }),
    );
    assert_eq!(
        dup.expect_code(409, "release_name_taken")["context"]["existing_id"],
        rid.as_str()
    );

    // Every firmware id must exist; every bad field is reported at once.
    let bad = app.post(
        "/api/v1/releases",
        Some(&admin),
        &json!({ "name": " ", "kind": "sec_release", "firmware_ids": [hub_fw, "no-such-firmware"] }),
    );
    let problem = bad.expect_code(422, "validation_failed");
    assert_eq!(fields(&problem), ["name", "firmware_ids[1]"]);

    // RFC 3339 years have four digits; chrono would take more, the databases would not.
    let far = app.post(
        "/api/v1/releases",
        Some(&admin),
        &json!({ "name": "Far future", "kind": "sec_release", "target_date": "+12345-01-01" }),
    );
    assert_eq!(fields(&far.expect_code(422, "validation_failed")), ["target_date"]);

    // Shapes the schema rules out are 400.
    for body in [
        json!({ "name": "X", "kind": "hotfix" }),
        json!({ "name": "X", "kind": "sec_release", "target_date": "30/06/2027" }),
        json!({ "name": "X", "kind": "sec_release", "stage": "uit" }),
        json!({ "kind": "sec_release" }),
    ] {
        app.post("/api/v1/releases", Some(&admin), &body)
            .expect_code(400, "malformed_body");
    }
}

#[test]
fn release_lists_filter_by_kind_and_stage_and_paginate() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let mut sec: Vec<String> = (0..3).map(|_| id(&release(&app, &admin, "sec_release"))).collect();
    let planned: Vec<String> = (0..2)
        .map(|_| id(&release(&app, &admin, "planned_maintenance")))
        .collect();
    sec.sort();
    move_to(&app, &admin, &planned[1], "pit", None).expect(200);

    let reviewer = app.user_in_new_org(&admin, "reviewer", "viewer");
    let all = app.get("/api/v1/releases", Some(&reviewer.token));
    all.expect(200);
    assert_eq!(all.json()["items"].as_array().unwrap().len(), 5);

    let first = app.get("/api/v1/releases?kind=sec_release&limit=2", Some(&admin));
    first.expect(200);
    assert_eq!(first.ids(), sec[..2]);
    let link = first.header("link").expect("a Link to the next page");
    assert!(
        link.contains("kind=sec_release") && link.contains("rel=\"next\""),
        "{link}"
    );
    let cursor = first.json()["next_cursor"].as_str().unwrap().to_string();
    let second = app.get(
        &format!("/api/v1/releases?kind=sec_release&limit=2&cursor={cursor}"),
        Some(&admin),
    );
    assert_eq!(second.ids(), sec[2..]);
    assert!(second.json()["next_cursor"].is_null());
    assert!(second.header("link").is_none());

    let in_pit = app.get("/api/v1/releases?stage=pit", Some(&admin));
    assert_eq!(in_pit.ids(), [planned[1].clone()]);
    let planned_agreed = app.get(
        "/api/v1/releases?kind=planned_maintenance&stage=content_agreed",
        Some(&admin),
    );
    assert_eq!(planned_agreed.ids(), [planned[0].clone()]);

    for bad in [
        "/api/v1/releases?kind=hotfix",
        "/api/v1/releases?stage=done",
        "/api/v1/releases?owner=me",
        "/api/v1/releases?limit=0",
    ] {
        app.get(bad, Some(&admin)).expect_code(400, "invalid_query");
    }
    app.get("/api/v1/releases?cursor=not-base64!", Some(&admin))
        .expect_code(400, "invalid_cursor");
    app.get("/api/v1/releases", None).expect_code(401, "invalid_token");
}

#[test]
fn patching_a_release_honours_if_match_and_announces_date_changes() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let (fw, _, _) = firmware(&app, &admin, "GSME");
    let created = app.post(
        "/api/v1/releases",
        Some(&admin),
        &json!({ "name": "GSME maintenance", "kind": "planned_maintenance", "target_date": "2027-03-01" }),
    );
    created.expect(201);
    let rid = id(&created.json());
    let path = format!("/api/v1/releases/{rid}");
    let other = id(&release(&app, &admin, "sec_release"));

    let stale = app.send(
        "PATCH",
        &path,
        Some(&admin),
        &[("if-match", "\"7\"")],
        Some(("application/json", br#"{"notes":"x"}"#.to_vec())),
    );
    stale.expect_code(412, "precondition_failed");

    let moved = app.send(
        "PATCH",
        &path,
        Some(&admin),
        &[("if-match", "\"1\"")],
        Some((
            "application/json",
            json!({ "target_date": "2027-04-15", "notes": "Slipped a month", "firmware_ids": [fw] })
                .to_string()
                .into_bytes(),
        )),
    );
    moved.expect(200);
    assert_eq!(moved.header("etag").as_deref(), Some("\"2\""));
    let body = moved.json();
    assert_eq!(body["target_date"], "2027-04-15");
    assert_eq!(body["notes"], "Slipped a month");
    assert_eq!(body["firmware_ids"], json!([fw]));
    assert_eq!(body["stage"], "content_agreed");

    // Notes alone announce nothing; clearing the date does.
    app.patch(&path, Some(&admin), &json!({ "notes": "Still April" }))
        .expect(200);
    app.patch(&path, Some(&admin), &json!({ "target_date": null }))
        .expect(200);
    assert!(app.get(&path, Some(&admin)).json()["target_date"].is_null());
    let changes = events_of_kind(&app, &admin, &rid, "release.date_changed");
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(
        changes[0]["summary"],
        "Release GSME maintenance target date moved from 2027-03-01 to 2027-04-15"
    );
    assert_eq!(
        changes[0]["details"],
        json!({ "field": "target_date", "from": "2027-03-01", "to": "2027-04-15" })
    );
    assert_eq!(changes[0]["device_types"], json!(["GSME"]));
    assert_eq!(
        changes[1]["details"],
        json!({ "field": "target_date", "from": "2027-04-15", "to": null })
    );

    // Audit rows keep before and after.
    let audit = app
        .get(&format!("/api/v1/audit-events?entity_id={rid}"), Some(&admin))
        .json();
    let newest_first = audit["items"].as_array().unwrap();
    assert_eq!(newest_first[0]["action"], "release.update");
    assert_eq!(newest_first[0]["before"]["target_date"], "2027-04-15");
    assert!(newest_first[0]["after"]["target_date"].is_null());

    // Names stay unique; fields are validated.
    let taken = app.get(&format!("/api/v1/releases/{other}"), Some(&admin)).json()["name"].clone();
    let dup = app.patch(&path, Some(&admin), &json!({ "name": taken }));
    assert_eq!(
        dup.expect_code(409, "release_name_taken")["context"]["existing_id"],
        other.as_str()
    );
    let bad = app.patch(&path, Some(&admin), &json!({ "name": "", "firmware_ids": ["nope"] }));
    assert_eq!(
        fields(&bad.expect_code(422, "validation_failed")),
        ["name", "firmware_ids[0]"]
    );
    app.patch(&path, Some(&admin), &json!({ "stage": "pit" }))
        .expect_code(400, "malformed_body");
}

#[test]
fn only_operator_members_manage_releases_windows_and_scenarios() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let rel = id(&release(&app, &admin, "sec_release"));
    let operator_org = app.get("/api/v1/me", Some(&admin)).json()["organisation"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let window = app.post(
        "/api/v1/uit-windows",
        Some(&admin),
        &json!({ "release_id": rel, "name": "UIT-AUTH", "opens_at": at(Duration::days(1)), "closes_at": at(Duration::days(5)) }),
    );
    window.expect(201);
    let wid = id(&window.json());

    let outsiders = [
        app.user_in_new_org(&admin, "supplier", "member"),
        app.user_in_new_org(&admin, "manufacturer", "admin"),
        app.user_in_new_org(&admin, "reviewer", "admin"),
        app.user_in_new_org(&admin, "service_provider", "admin"),
        app.invite_user(&admin, &operator_org, "viewer"),
    ];
    for who in &outsiders {
        let t = Some(who.token.as_str());
        app.post("/api/v1/releases", t, &json!({ "name": "Mine", "kind": "sec_release" }))
            .expect_code(403, "forbidden");
        app.patch(&format!("/api/v1/releases/{rel}"), t, &json!({ "notes": "mine" }))
            .expect_code(403, "forbidden");
        move_to(&app, &who.token, &rel, "pit", None).expect_code(403, "forbidden");
        app.post(
            "/api/v1/uit-windows",
            t,
            &json!({ "release_id": rel, "name": "UIT-MINE", "opens_at": at(Duration::days(1)), "closes_at": at(Duration::days(2)) }),
        )
        .expect_code(403, "forbidden");
        app.patch(
            &format!("/api/v1/uit-windows/{wid}"),
            t,
            &json!({ "status": "cancelled" }),
        )
        .expect_code(403, "forbidden");
        app.post("/api/v1/scenarios", t, &json!({ "code": "mine", "title": "Mine" }))
            .expect_code(403, "forbidden");
        // Everyone reads.
        app.get("/api/v1/releases", t).expect(200);
        app.get(&format!("/api/v1/releases/{rel}"), t).expect(200);
        app.get(&format!("/api/v1/releases/{rel}/stages"), t).expect(200);
        app.get("/api/v1/uit-windows", t).expect(200);
        app.get(&format!("/api/v1/uit-windows/{wid}"), t).expect(200);
        app.get("/api/v1/scenarios", t).expect(200);
    }
    // Nothing changed.
    let now = app.get(&format!("/api/v1/releases/{rel}"), Some(&admin));
    assert_eq!(now.header("etag").as_deref(), Some("\"1\""));
    assert_eq!(now.json()["stage"], "content_agreed");

    // An operator member (not only admins) may.
    let member = app.invite_user(&admin, &operator_org, "member");
    release(&app, &member.token, "unplanned_maintenance");
    move_to(&app, &member.token, &rel, "pit", None).expect(200);
}

#[test]
fn unknown_ids_are_404_with_one_body() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let missing = "01900000-0000-7000-8000-000000000000";
    let responses = [
        app.get(&format!("/api/v1/releases/{missing}"), Some(&admin)),
        app.patch(
            &format!("/api/v1/releases/{missing}"),
            Some(&admin),
            &json!({ "notes": "x" }),
        ),
        move_to(&app, &admin, missing, "pit", None),
        app.get(&format!("/api/v1/releases/{missing}/stages"), Some(&admin)),
        app.get("/api/v1/releases/not-even-an-id", Some(&admin)),
        app.get(&format!("/api/v1/uit-windows/{missing}"), Some(&admin)),
        app.patch(
            &format!("/api/v1/uit-windows/{missing}"),
            Some(&admin),
            &json!({ "status": "cancelled" }),
        ),
        app.post(
            &format!("/api/v1/uit-windows/{missing}/participants"),
            Some(&admin),
            &json!({}),
        ),
        app.get(&format!("/api/v1/uit-windows/{missing}/participants"), Some(&admin)),
    ];
    let first = responses[0].expect_code(404, "not_found");
    for resp in &responses {
        assert_eq!(resp.expect_code(404, "not_found"), first);
    }
}

#[test]
fn illegal_stage_moves_name_the_allowed_stages() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let rid = id(&release(&app, &admin, "sec_release"));

    let skip = move_to(&app, &admin, &rid, "sit", None);
    let problem = skip.expect_code(422, "illegal_stage_move");
    assert_eq!(
        problem["detail"],
        "Release is in content_agreed; it can move to pit or withdrawn."
    );
    assert_eq!(
        problem["context"],
        json!({ "current": "content_agreed", "allowed": ["pit", "withdrawn"] })
    );
    move_to(&app, &admin, &rid, "content_agreed", None).expect_code(422, "illegal_stage_move");
    move_to(&app, &admin, &rid, "complete", None).expect_code(422, "illegal_stage_move");

    move_to(&app, &admin, &rid, "pit", None).expect(200);
    let moved = move_to(&app, &admin, &rid, "sit", None);
    moved.expect(200);
    assert_eq!(moved.header("etag").as_deref(), Some("\"3\""));
    assert_eq!(moved.json()["stage"], "sit");

    for wrong in [
        "pit",
        "content_agreed",
        "production_proving",
        "deployment_phase_1",
        "complete",
        "sit",
    ] {
        let problem = move_to(&app, &admin, &rid, wrong, None).expect_code(422, "illegal_stage_move");
        assert_eq!(problem["detail"], "Release is in sit; it can move to uit or withdrawn.");
        assert_eq!(problem["context"]["allowed"], json!(["uit", "withdrawn"]));
    }

    // Withdrawn from the middle of the track is the end of it.
    let withdrawn = move_to(&app, &admin, &rid, "withdrawn", None);
    withdrawn.expect(200);
    assert_eq!(withdrawn.json()["stage"], "withdrawn");
    for wrong in ["uit", "withdrawn", "content_agreed", "complete"] {
        let problem = move_to(&app, &admin, &rid, wrong, None).expect_code(422, "illegal_stage_move");
        assert_eq!(
            problem["detail"],
            "Release is in withdrawn; it cannot move any further."
        );
        assert_eq!(problem["context"], json!({ "current": "withdrawn", "allowed": [] }));
    }
    let history = app.get(&format!("/api/v1/releases/{rid}/stages"), Some(&admin)).json();
    let to: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["to_stage"].as_str().unwrap())
        .collect();
    assert_eq!(to, ["content_agreed", "pit", "sit", "withdrawn"]);

    // Malformed moves.
    app.post(
        &format!("/api/v1/releases/{rid}/stage"),
        Some(&admin),
        &json!({ "stage": "finished", "decision_note": "x" }),
    )
    .expect_code(400, "malformed_body");
    let fresh = id(&release(&app, &admin, "sec_release"));
    let blank = app.post(
        &format!("/api/v1/releases/{fresh}/stage"),
        Some(&admin),
        &json!({ "stage": "pit", "decision_note": "  " }),
    );
    assert_eq!(fields(&blank.expect_code(422, "validation_failed")), ["decision_note"]);
    let far = app.post(
        &format!("/api/v1/releases/{fresh}/stage"),
        Some(&admin),
        &json!({ "stage": "pit", "decision_note": "go", "effective_at": "-0001-01-01T00:00:00Z" }),
    );
    assert_eq!(fields(&far.expect_code(422, "validation_failed")), ["effective_at"]);
    let stale = app.send(
        "POST",
        &format!("/api/v1/releases/{fresh}/stage"),
        Some(&admin),
        &[("if-match", "\"9\"")],
        Some(("application/json", br#"{"stage":"pit","decision_note":"go"}"#.to_vec())),
    );
    stale.expect_code(412, "precondition_failed");
}

#[test]
fn a_release_walks_the_whole_track_to_complete() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let me = app.get("/api/v1/me", Some(&admin)).json();
    let (fw, _, _) = firmware(&app, &admin, "CHF");
    let created = app.post(
        "/api/v1/releases",
        Some(&admin),
        &json!({ "name": "CHF 5.0", "kind": "sec_release", "firmware_ids": [fw] }),
    );
    created.expect(201);
    let rid = id(&created.json());
    let start = at(Duration::days(10));
    let pack = freeze_pack(&app, &admin, &rid);
    for stage in TRACK.iter().skip(1) {
        let later = stage.starts_with("deployment") || *stage == "mass_deployment" || *stage == "complete";
        let mut body = json!({ "stage": stage, "decision_note": format!("Agreed to move to {stage}") });
        if later {
            body["effective_at"] = json!(start);
        }
        if matches!(*stage, "production_proving" | "approved") {
            body["review_pack_id"] = json!(pack);
        }
        leave_phase(&app, &admin, &rid, stage);
        let moved = app.post(&format!("/api/v1/releases/{rid}/stage"), Some(&admin), &body);
        moved.expect(200);
        // Deployment starts in 10 days: until then the release stays approved.
        let in_effect = if later { "approved" } else { *stage };
        assert_eq!(moved.json()["stage"], in_effect);
    }
    let body = app.get(&format!("/api/v1/releases/{rid}"), Some(&admin));
    assert_eq!(body.json()["stage"], "approved");
    let pending: Vec<Value> = body.json()["pending_moves"].as_array().unwrap().clone();
    let stages: Vec<&str> = pending.iter().map(|m| m["stage"].as_str().unwrap()).collect();
    assert_eq!(stages, &TRACK[6..]);
    assert!(pending.iter().all(|m| m["effective_at"] == start.as_str()));
    assert_eq!(body.header("etag").as_deref(), Some("\"10\""));
    let problem = move_to(&app, &admin, &rid, "withdrawn", None).expect_code(422, "illegal_stage_move");
    assert_eq!(problem["detail"], "Release is in complete; it cannot move any further.");

    // The history, oldest first, page by page.
    let mut history = Vec::new();
    let mut path = format!("/api/v1/releases/{rid}/stages?limit=3");
    loop {
        let page = app.get(&path, Some(&admin));
        page.expect(200);
        let page = page.json();
        history.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/releases/{rid}/stages?limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(history.len(), 10);
    for (i, step) in history.iter().enumerate() {
        assert_eq!(step["to_stage"], TRACK[i]);
        if i == 0 {
            assert!(step["from_stage"].is_null());
        } else {
            assert_eq!(step["from_stage"], TRACK[i - 1]);
            assert_eq!(step["decision_note"], format!("Agreed to move to {}", TRACK[i]));
        }
        assert_eq!(step["actor_user_id"], me["user"]["id"]);
        assert_eq!(step["actor_org_id"], me["organisation"]["id"]);
        assert!(step["decided_at"].is_string());
        assert_eq!(step["status"], if i < 6 { "effective" } else { "scheduled" });
    }
    assert_eq!(history[6]["effective_at"], start.as_str());
    assert_eq!(
        history[4]["review_pack_id"],
        pack.as_str(),
        "leaving UIT cites the pack"
    );
    assert!(history[3]["review_pack_id"].is_null());
    assert_eq!(history[3]["effective_at"], history[3]["decided_at"]);

    let moves = events_of_kind(&app, &admin, &rid, "release.stage_changed");
    assert_eq!(moves.len(), 9);
    assert_eq!(moves[2]["summary"], "Release CHF 5.0 moved from sit to uit");
    assert_eq!(moves[2]["details"]["from"], "sit");
    assert_eq!(moves[2]["details"]["to"], "uit");
    assert_eq!(moves[2]["details"]["decision_note"], "Agreed to move to uit");
    assert!(moves[2]["details"]["effective_at"].is_string());
    assert_eq!(moves[5]["details"]["effective_at"], start.as_str());
    assert_eq!(moves[0]["device_types"], json!(["CHF"]));

    let audit = app.get(&format!("/api/v1/audit-events?entity_id={rid}&limit=100"), Some(&admin));
    let actions: Vec<Value> = audit.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].clone())
        .collect();
    assert_eq!(actions.iter().filter(|a| *a == "release.stage").count(), 9);
}

#[test]
fn deployment_needs_seven_days_notice_unless_the_release_is_unplanned() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    for kind in ["planned_maintenance", "sec_release"] {
        let rid = id(&release(&app, &admin, kind));
        advance_to(&app, &admin, &rid, "approved");
        let soon = at(Duration::days(2));
        let problem =
            move_to(&app, &admin, &rid, "deployment_phase_1", Some(&soon)).expect_code(422, "insufficient_notice");
        assert!(problem["detail"].as_str().unwrap().contains("7 days"), "{problem}");
        move_to(&app, &admin, &rid, "deployment_phase_1", None).expect_code(422, "insufficient_notice");
        assert_eq!(
            app.get(&format!("/api/v1/releases/{rid}"), Some(&admin)).json()["stage"],
            "approved"
        );
        let later = at(Duration::days(8));
        let moved = move_to(&app, &admin, &rid, "deployment_phase_1", Some(&later));
        moved.expect(200);
        // Each phase needs its own notice.
        move_to(&app, &admin, &rid, "deployment_phase_2", Some(&at(Duration::hours(36))))
            .expect_code(422, "insufficient_notice");
        proceed(&app, &admin, &rid, "deployment_phase_1");
        move_to(&app, &admin, &rid, "deployment_phase_2", Some(&at(Duration::days(9)))).expect(200);
        move_to(&app, &admin, &rid, "mass_deployment", Some(&soon)).expect_code(422, "insufficient_notice");
        // Withdrawal needs no notice.
        move_to(&app, &admin, &rid, "withdrawn", None).expect(200);
        let history = app.get(&format!("/api/v1/releases/{rid}/stages"), Some(&admin)).json();
        let phase1 = history["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["to_stage"] == "deployment_phase_1")
            .unwrap()
            .clone();
        assert_eq!(phase1["effective_at"], later.as_str());
    }

    let urgent = id(&release(&app, &admin, "unplanned_maintenance"));
    advance_to(&app, &admin, &urgent, "approved");
    move_to(
        &app,
        &admin,
        &urgent,
        "deployment_phase_1",
        Some(&at(Duration::days(1))),
    )
    .expect(200);
    // No notice, but no phase before the one it follows either.
    move_to(&app, &admin, &urgent, "deployment_phase_2", None).expect_code(422, "stage_move_out_of_order");
    proceed(&app, &admin, &urgent, "deployment_phase_1");
    move_to(
        &app,
        &admin,
        &urgent,
        "deployment_phase_2",
        Some(&at(Duration::days(1) + Duration::minutes(1))),
    )
    .expect(200);
}

#[test]
fn deployment_phases_take_effect_in_order_when_they_start() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let rid = id(&release(&app, &admin, "sec_release"));
    advance_to(&app, &admin, &rid, "approved");
    let phase1_at = at(Duration::days(30));
    let moved = move_to(&app, &admin, &rid, "deployment_phase_1", Some(&phase1_at));
    moved.expect(200);
    let body = moved.json();
    assert_eq!(body["stage"], "approved", "phase 1 starts in 30 days, not now");
    assert_eq!(body["pending_moves"].as_array().unwrap().len(), 1);
    assert_eq!(body["pending_moves"][0]["stage"], "deployment_phase_1");
    assert_eq!(body["pending_moves"][0]["effective_at"], phase1_at.as_str());

    // Phase 2 may not start before phase 1 does.
    for early in [at(Duration::days(7) + Duration::hours(1)), at(Duration::days(29))] {
        let problem =
            move_to(&app, &admin, &rid, "deployment_phase_2", Some(&early)).expect_code(422, "stage_move_out_of_order");
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.contains("deployment_phase_1") && detail.contains("before"),
            "{detail}"
        );
        assert_eq!(problem["context"]["previous_effective_at"], phase1_at.as_str());
        assert_eq!(problem["context"]["previous_stage"], "deployment_phase_1");
    }
    let phase2_at = at(Duration::days(44));
    proceed(&app, &admin, &rid, "deployment_phase_1");
    let moved = move_to(&app, &admin, &rid, "deployment_phase_2", Some(&phase2_at));
    moved.expect(200);
    assert_eq!(moved.json()["stage"], "approved");
    let pending: Vec<Value> = moved.json()["pending_moves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["stage"].clone())
        .collect();
    assert_eq!(pending, [json!("deployment_phase_1"), json!("deployment_phase_2")]);

    // Every read agrees: the release is approved until phase 1 starts.
    assert_eq!(
        app.get(&format!("/api/v1/releases/{rid}"), Some(&admin)).json()["stage"],
        "approved"
    );
    let listed = |stage: &str| {
        app.get(&format!("/api/v1/releases?stage={stage}&limit=500"), Some(&admin))
            .json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == rid.as_str())
    };
    assert!(listed("approved"));
    assert!(!listed("deployment_phase_1") && !listed("deployment_phase_2"));

    // The history says when each move takes effect.
    let history = app.get(&format!("/api/v1/releases/{rid}/stages"), Some(&admin)).json();
    let items = history["items"].as_array().unwrap();
    let entry = |stage: &str| items.iter().find(|h| h["to_stage"] == stage).unwrap().clone();
    assert_eq!(entry("approved")["status"], "effective");
    assert_eq!(entry("deployment_phase_1")["effective_at"], phase1_at.as_str());
    assert_eq!(entry("deployment_phase_1")["status"], "scheduled");
    assert_eq!(entry("deployment_phase_2")["effective_at"], phase2_at.as_str());
    let events = events_of_kind(&app, &admin, &rid, "release.stage_changed");
    let last = events.last().unwrap();
    assert!(
        last["summary"]
            .as_str()
            .unwrap()
            .contains("moves from deployment_phase_1 to deployment_phase_2 on"),
        "{last}"
    );

    // A withdrawal now supersedes what has not started.
    let withdrawn = move_to(&app, &admin, &rid, "withdrawn", None);
    withdrawn.expect(200);
    assert_eq!(withdrawn.json()["stage"], "withdrawn");
    assert!(withdrawn.json()["pending_moves"].as_array().unwrap().is_empty());
    let history = app.get(&format!("/api/v1/releases/{rid}/stages"), Some(&admin)).json();
    for h in history["items"].as_array().unwrap() {
        if h["to_stage"].as_str().unwrap().starts_with("deployment") {
            assert_eq!(h["status"], "superseded", "{h}");
        }
    }

    // When the start comes, the move takes effect without anyone touching the release.
    let urgent = id(&release(&app, &admin, "unplanned_maintenance"));
    advance_to(&app, &admin, &urgent, "approved");
    let soon = at(Duration::seconds(2));
    let moved = move_to(&app, &admin, &urgent, "deployment_phase_1", Some(&soon));
    moved.expect(200);
    assert_eq!(moved.json()["stage"], "approved");
    std::thread::sleep(std::time::Duration::from_millis(3200));
    let now = app.get(&format!("/api/v1/releases/{urgent}"), Some(&admin)).json();
    assert_eq!(now["stage"], "deployment_phase_1");
    assert!(now["pending_moves"].as_array().unwrap().is_empty());
    let listed = app
        .get("/api/v1/releases?stage=deployment_phase_1", Some(&admin))
        .json();
    assert!(listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["id"] == urgent.as_str()));
}

#[test]
fn release_creation_honours_idempotency_keys() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let body = json!({ "name": "Once only", "kind": "sec_release" });
    let send = |body: &Value| {
        app.send(
            "POST",
            "/api/v1/releases",
            Some(&admin),
            &[("idempotency-key", "release-once")],
            Some(("application/json", body.to_string().into_bytes())),
        )
    };
    let first = send(&body);
    first.expect(201);
    let again = send(&body);
    again.expect(201);
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(again.json(), first.json());
    send(&json!({ "name": "Once only", "kind": "planned_maintenance" })).expect_code(422, "idempotency_key_reused");
    let list = app.get("/api/v1/releases", Some(&admin)).json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(events(&app, &admin, &id(&first.json())).len(), 1);
}

#[test]
fn bad_bodies_on_release_routes_are_400_or_415() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let rid = id(&release(&app, &admin, "sec_release"));
    let routes = [
        ("POST", "/api/v1/releases".to_string()),
        ("PATCH", format!("/api/v1/releases/{rid}")),
        ("POST", format!("/api/v1/releases/{rid}/stage")),
    ];
    for (method, path) in &routes {
        for (what, body) in [
            ("malformed", b"{\"name\": ".to_vec()),
            ("not an object", b"[1,2,3]".to_vec()),
            (
                "wrong types",
                br#"{"name": 1, "kind": 2, "stage": 3, "firmware_ids": "x"}"#.to_vec(),
            ),
            ("unknown field", br#"{"surprise": true}"#.to_vec()),
            ("empty", Vec::new()),
        ] {
            let resp = app.send(method, path, Some(&admin), &[], Some(("application/json", body)));
            assert_eq!(resp.status, 400, "{method} {path} ({what}): {}", resp.body);
            resp.expect(400);
        }
        let resp = app.send(
            method,
            path,
            Some(&admin),
            &[],
            Some(("text/plain", br#"{"name":"x"}"#.to_vec())),
        );
        assert_eq!(resp.status, 415, "{method} {path}: {}", resp.body);
        resp.expect_code(415, "unsupported_media_type");
    }
    // Nothing changed.
    let got = app.get(&format!("/api/v1/releases/{rid}"), Some(&admin));
    assert_eq!(got.header("etag").as_deref(), Some("\"1\""));
    assert_eq!(
        app.get("/api/v1/releases", Some(&admin)).json()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
