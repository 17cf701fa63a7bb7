//! Co-operative deployment: nominations for a phase, the operator's assessments, the phase
//! gate (no next phase without a `proceed`), who reads them and who is told.

use chrono::Duration;
use serde_json::{json, Value};

use crate::fixtures::{firmware, product};
use crate::helpers::{at_once, Resp, TestApp, TestUser};
use crate::notifications::{delivered, wait_until};
use crate::releases::{advance_to, at, events_of_kind, id, move_to, release, walk_now};
use crate::web::Browser;

/// A release taking part in co-operative deployment, and who is who around it.
struct Deploy {
    admin: String,
    release: String,
    window: String,
    /// A supplier that joined the release's UIT window, and its viewer.
    a: TestUser,
    a_viewer: TestUser,
    /// A supplier that took no part in the release.
    c: TestUser,
    reviewer: TestUser,
    maker: TestUser,
    sets: Vec<String>,
}

/// An `unplanned_maintenance` release (its deployment phases start at once) at `approved`,
/// with a UIT window that supplier A joined, and two device sets.
fn deploy(app: &TestApp) -> Deploy {
    let admin = app.admin_token();
    let a = app.user_in_new_org(&admin, "supplier", "member");
    let a_viewer = app.invite_user(&admin, &a.org_id, "viewer");
    let c = app.user_in_new_org(&admin, "supplier", "member");
    let reviewer = app.user_in_new_org(&admin, "reviewer", "member");
    let maker = app.user_in_new_org(&admin, "manufacturer", "member");
    let release = id(&release(app, &admin, "unplanned_maintenance"));
    let window = walk_now(app, &admin, &release, "approved");
    app.post(
        &format!("/api/v1/uit-windows/{window}/participants"),
        Some(&a.token),
        &json!({}),
    )
    .expect(201);
    let hub = product(app, &admin, &maker.org_id, "CHF");
    let meter = product(app, &admin, &maker.org_id, "ESME");
    let hub_fw = firmware(app, &admin, &hub, "4.2", "approved");
    let sets = ["1.0", "1.1"]
        .iter()
        .map(|v| {
            let meter_fw = firmware(app, &admin, &meter, v, "deployed");
            let set = app.post(
                "/api/v1/device-sets",
                Some(&admin),
                &json!({ "name": format!("hub 4.2 + meter {v}"), "firmware_ids": [hub_fw, meter_fw] }),
            );
            set.expect(201);
            set.id()
        })
        .collect();
    Deploy {
        admin,
        release,
        window,
        a,
        a_viewer,
        c,
        reviewer,
        maker,
        sets,
    }
}

fn nominate(app: &TestApp, d: &Deploy, token: &str, body: Value) -> Resp {
    app.post(
        &format!("/api/v1/releases/{}/nominations", d.release),
        Some(token),
        &body,
    )
}

fn assess(app: &TestApp, d: &Deploy, phase: &str, outcome: &str, issues: Value) -> Resp {
    app.post(
        &format!("/api/v1/releases/{}/assessments", d.release),
        Some(&d.admin),
        &json!({ "phase": phase, "outcome": outcome, "issues": issues, "minutes": format!("Meeting: {outcome}.") }),
    )
}

fn fields(resp: &Resp) -> Vec<String> {
    crate::uit_issues::fields(&resp.expect_code(422, "validation_failed"))
}

#[test]
fn concurrent_nominations_of_one_organisation_give_one_201_and_409s_naming_it() {
    let app = TestApp::spawn_with(|c| c.database_pool_size = 8);
    let d = deploy(&app);
    let body = json!({ "device_set_ids": [d.sets[0]], "hub_count": 25 });
    let answers = at_once(16, |_| nominate(&app, &d, &d.a.token, body.clone()));
    let statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
    let winners: Vec<&Value> = answers.iter().filter(|(s, _)| *s == 201).map(|(_, b)| b).collect();
    assert_eq!(winners.len(), 1, "{statuses:?}");
    for (status, problem) in answers.iter().filter(|(s, _)| *s != 201) {
        assert_eq!(
            (*status, &problem["code"]),
            (409, &json!("nomination_exists")),
            "{problem}"
        );
        // The release's lock serialises the requests, so each loser's own check names the winner.
        assert_eq!(problem["context"]["existing_id"], winners[0]["id"], "{problem}");
    }
}

#[test]
fn a_phase_moves_on_only_after_its_latest_assessment_says_proceed() {
    let app = TestApp::spawn();
    let d = deploy(&app);
    let meter = product(&app, &d.admin, &d.maker.org_id, "ESME");
    let mask = app.post(
        "/api/v1/defect-masks",
        Some(&d.a.token),
        &json!({ "code": "DM-7001", "title": "Hub drops the meter", "severity": "major", "device_model_id": meter }),
    );
    mask.expect(201);
    let mask = mask.id();
    let issue = app.post(
        "/api/v1/uit-issues",
        Some(&d.a.token),
        &json!({ "uit_window_id": d.window, "title": "Top-up lost", "severity": "blocking",
                 "resolving_org_id": d.maker.org_id }),
    );
    issue.expect(201);
    let issue = issue.id();

    // Approved: phase 1 is not running, so it is not assessed yet.
    assess(&app, &d, "deployment_phase_1", "proceed", json!([])).expect_code(422, "phase_not_open");
    move_to(&app, &d.admin, &d.release, "deployment_phase_1", None).expect(200);

    let next = || move_to(&app, &d.admin, &d.release, "deployment_phase_2", None);
    let refused = next().expect_code(422, "phase_not_assessed");
    let detail = refused["detail"].as_str().unwrap();
    assert!(
        detail.contains("deployment_phase_1") && detail.contains("proceed") && detail.contains("no assessment"),
        "{detail}"
    );
    assert_eq!(refused["context"]["latest_outcome"], Value::Null);

    // Who may assess, and what it may cite.
    let by_supplier = app.post(
        &format!("/api/v1/releases/{}/assessments", d.release),
        Some(&d.a.token),
        &json!({ "phase": "deployment_phase_1", "outcome": "proceed", "minutes": "We agree." }),
    );
    by_supplier.expect_code(403, "forbidden");
    let unknown = assess(&app, &d, "deployment_phase_1", "proceed", json!([mask, "no-such-id"]));
    assert_eq!(fields(&unknown), ["issues[1]"]);
    let no_minutes = app.post(
        &format!("/api/v1/releases/{}/assessments", d.release),
        Some(&d.admin),
        &json!({ "phase": "deployment_phase_1", "outcome": "proceed", "minutes": " " }),
    );
    assert_eq!(fields(&no_minutes), ["minutes"]);
    assess(&app, &d, "deployment_phase_2", "proceed", json!([])).expect_code(422, "phase_not_open");

    // A hold, then a roll-back, keep the release in phase 1.
    let hold = assess(&app, &d, "deployment_phase_1", "hold", json!([issue, mask, issue]));
    hold.expect(201);
    assert_eq!(
        hold.json()["issues"],
        json!([{ "kind": "uit_issue", "id": issue }, { "kind": "defect_mask", "id": mask }])
    );
    let refused = next().expect_code(422, "phase_not_assessed");
    assert_eq!(refused["context"]["latest_outcome"], "hold");
    assert_eq!(refused["context"]["latest_assessment_id"], hold.id());
    assess(&app, &d, "deployment_phase_1", "roll_back", json!([issue])).expect(201);
    let refused = next().expect_code(422, "phase_not_assessed");
    assert!(refused["detail"].as_str().unwrap().contains("roll_back"));
    let stage = app.get(&format!("/api/v1/releases/{}", d.release), Some(&d.admin));
    assert_eq!(stage.json()["stage"], "deployment_phase_1");

    // A proceed opens phase 2; phase 2 needs its own proceed before mass deployment.
    assess(&app, &d, "deployment_phase_1", "proceed", json!([])).expect(201);
    let moved = next();
    moved.expect(200);
    assert_eq!(moved.json()["stage"], "deployment_phase_2");
    assess(&app, &d, "deployment_phase_1", "proceed", json!([])).expect_code(422, "phase_not_open");
    let mass = || move_to(&app, &d.admin, &d.release, "mass_deployment", None);
    let refused = mass().expect_code(422, "phase_not_assessed");
    assert!(refused["detail"].as_str().unwrap().contains("deployment_phase_2"));
    assess(&app, &d, "deployment_phase_2", "proceed", json!([])).expect(201);
    mass().expect(200);
    // Mass deployment to complete has no assessment.
    move_to(&app, &d.admin, &d.release, "complete", None).expect(200);

    let list = app.get(
        &format!("/api/v1/releases/{}/assessments?phase=deployment_phase_1", d.release),
        Some(&d.a.token),
    );
    list.expect(200);
    let outcomes: Vec<Value> = list.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].clone())
        .collect();
    assert_eq!(outcomes, [json!("hold"), json!("roll_back"), json!("proceed")]);
}

#[test]
fn phases_planned_ahead_are_gated_too_and_withdrawal_is_never_held() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let r = id(&release(&app, &admin, "sec_release"));
    advance_to(&app, &admin, &r, "deployment_phase_1");
    // Phase 1 starts in 8 days; phase 2, decided ahead, still needs phase 1's proceed.
    let later = at(Duration::days(9));
    move_to(&app, &admin, &r, "deployment_phase_2", Some(&later)).expect_code(422, "phase_not_assessed");
    let assess = |phase: &str, outcome: &str| {
        app.post(
            &format!("/api/v1/releases/{r}/assessments"),
            Some(&admin),
            &json!({ "phase": phase, "outcome": outcome, "minutes": "Planned." }),
        )
    };
    assess("deployment_phase_2", "proceed").expect_code(422, "phase_not_open");
    assess("deployment_phase_1", "proceed").expect(201);
    let moved = move_to(&app, &admin, &r, "deployment_phase_2", Some(&later));
    moved.expect(200);
    assert_eq!(moved.json()["stage"], "approved", "nothing has started yet");
    assess("deployment_phase_2", "hold").expect(201);
    move_to(&app, &admin, &r, "mass_deployment", Some(&at(Duration::days(10)))).expect_code(422, "phase_not_assessed");
    move_to(&app, &admin, &r, "withdrawn", None).expect(200);
}

#[test]
fn nominations_name_the_culprit_and_are_one_per_organisation_per_phase() {
    let app = TestApp::spawn();
    let d = deploy(&app);
    let (s0, s1) = (d.sets[0].clone(), d.sets[1].clone());

    let bad = nominate(
        &app,
        &d,
        &d.a.token,
        json!({ "device_set_ids": [s0, "missing-set", s1], "hub_count": 0 }),
    );
    assert_eq!(fields(&bad), ["device_set_ids[1]", "hub_count"]);
    let empty = nominate(&app, &d, &d.a.token, json!({ "device_set_ids": [], "hub_count": 5 }));
    assert_eq!(fields(&empty), ["device_set_ids"]);
    nominate(
        &app,
        &d,
        &d.a.token,
        json!({ "phase": "mass_deployment", "device_set_ids": [s0], "hub_count": 5 }),
    )
    .expect(400);
    for token in [&d.a_viewer.token, &d.reviewer.token] {
        nominate(&app, &d, token, json!({ "device_set_ids": [s0], "hub_count": 5 })).expect_code(403, "forbidden");
    }
    let missing = app.post(
        "/api/v1/releases/01900000-0000-7000-8000-000000000000/nominations",
        Some(&d.a.token),
        &json!({ "device_set_ids": [s0], "hub_count": 5 }),
    );
    missing.expect_code(404, "not_found");

    let first = nominate(
        &app,
        &d,
        &d.a.token,
        json!({ "device_set_ids": [s0, s1, s0], "hub_count": 250, "note": " North only. " }),
    );
    first.expect(201);
    let n = first.json();
    assert_eq!(n["phase"], "deployment_phase_1");
    assert_eq!(n["org_id"], d.a.org_id);
    assert_eq!(n["device_set_ids"], json!([s0, s1]));
    assert_eq!(
        (n["hub_count"].clone(), n["note"].clone()),
        (json!(250), json!("North only."))
    );
    let again = nominate(&app, &d, &d.a.token, json!({ "device_set_ids": [s1], "hub_count": 10 }));
    let problem = again.expect_code(409, "nomination_exists");
    assert_eq!(problem["context"]["existing_id"], first.id());
    let phase_2 = nominate(
        &app,
        &d,
        &d.a.token,
        json!({ "phase": "deployment_phase_2", "device_set_ids": [s1], "hub_count": 5000 }),
    );
    phase_2.expect(201);

    // Phase 1 runs: phase 1 still takes nominations; once phase 2 runs, phase 1 no longer does.
    move_to(&app, &d.admin, &d.release, "deployment_phase_1", None).expect(200);
    nominate(&app, &d, &d.c.token, json!({ "device_set_ids": [s0], "hub_count": 3 })).expect(201);
    assess(&app, &d, "deployment_phase_1", "proceed", json!([])).expect(201);
    move_to(&app, &d.admin, &d.release, "deployment_phase_2", None).expect(200);
    let late = nominate(
        &app,
        &d,
        &d.maker.token,
        json!({ "device_set_ids": [s0], "hub_count": 3 }),
    );
    let problem = late.expect_code(422, "phase_not_open");
    assert!(
        problem["detail"].as_str().unwrap().contains("deployment_phase_2"),
        "{problem}"
    );

    // Before approval nothing is nominated.
    let early = id(&release(&app, &d.admin, "sec_release"));
    let refused = app.post(
        &format!("/api/v1/releases/{early}/nominations"),
        Some(&d.a.token),
        &json!({ "device_set_ids": [s0], "hub_count": 5 }),
    );
    refused.expect_code(422, "phase_not_open");

    let list = app.get(&format!("/api/v1/releases/{}/nominations", d.release), Some(&d.a.token));
    list.expect(200);
    assert_eq!(list.ids().len(), 3);
    let phase_2_only = app.get(
        &format!("/api/v1/releases/{}/nominations?phase=deployment_phase_2", d.release),
        Some(&d.a.token),
    );
    assert_eq!(phase_2_only.ids(), vec![phase_2.id()]);
}

#[test]
fn the_releases_participants_reviewers_and_the_operator_read_them_and_others_get_404() {
    let app = TestApp::spawn();
    let d = deploy(&app);
    let b = app.user_in_new_org(&d.admin, "supplier", "member");
    let c_viewer = app.invite_user(&d.admin, &d.c.org_id, "viewer");
    nominate(
        &app,
        &d,
        &d.a.token,
        json!({ "device_set_ids": [d.sets[0]], "hub_count": 20 }),
    )
    .expect(201);
    move_to(&app, &d.admin, &d.release, "deployment_phase_1", None).expect(200);
    assess(&app, &d, "deployment_phase_1", "hold", json!([])).expect(201);
    let missing = "01900000-0000-7000-8000-000000000000";

    for list in ["nominations", "assessments"] {
        let path = |release: &str| format!("/api/v1/releases/{release}/{list}");
        for (who, token) in [
            ("the operator", &d.admin),
            ("a participant", &d.a.token),
            ("a participant's viewer", &d.a_viewer.token),
            ("a reviewer", &d.reviewer.token),
        ] {
            let resp = app.get(&path(&d.release), Some(token));
            assert_eq!(resp.status, 200, "{list} as {who}: {}", resp.body);
            assert_eq!(resp.ids().len(), 1, "{list} as {who}");
        }
        for token in [&d.c.token, &c_viewer.token, &b.token] {
            let hidden = app.get(&path(&d.release), Some(token));
            let absent = app.get(&path(missing), Some(token));
            assert_eq!(hidden.status, 404, "{list}: {}", hidden.body);
            assert_eq!(
                hidden.body.replace(&d.release, "{id}"),
                absent.body.replace(missing, "{id}")
            );
        }
    }
    // The release itself stays industry-visible.
    app.get(&format!("/api/v1/releases/{}", d.release), Some(&d.c.token))
        .expect(200);
    // Nominating makes an organisation a participant: B reads the record from then on.
    nominate(
        &app,
        &d,
        &b.token,
        json!({ "device_set_ids": [d.sets[1]], "hub_count": 7 }),
    )
    .expect(201);
    let read = app.get(&format!("/api/v1/releases/{}/nominations", d.release), Some(&b.token));
    assert_eq!(read.ids().len(), 2);

    // The release's page, which the emails link, shows the record to the same people.
    let page = |email: &str| Browser::signed_in(&app, email).get(&format!("/releases/{}", d.release));
    for email in [&d.a_viewer.email, &d.reviewer.email] {
        let shown = page(email);
        assert_eq!(shown.status, 200, "{}", shown.body);
        assert!(shown.body.contains("Co-operative deployment"), "{}", shown.body);
        assert!(shown.body.contains("Meeting: hold."), "{}", shown.body);
    }
    let outside = page(&d.c.email);
    assert_eq!(outside.status, 200, "{}", outside.body);
    assert!(!outside.body.contains("Co-operative deployment") && !outside.body.contains("Meeting: hold."));
}

#[test]
fn participants_reviewers_and_the_operator_are_told_and_nobody_else() {
    let app = TestApp::spawn();
    let d = deploy(&app);
    for user in [&d.a, &d.c, &d.reviewer] {
        app.post(
            "/api/v1/subscriptions",
            Some(&user.token),
            &json!({ "topics": ["releases"], "mode": "immediate" }),
        )
        .expect(201);
    }
    nominate(
        &app,
        &d,
        &d.a.token,
        json!({ "device_set_ids": [d.sets[0]], "hub_count": 250, "note": "North only." }),
    )
    .expect(201);
    move_to(&app, &d.admin, &d.release, "deployment_phase_1", None).expect(200);
    assess(&app, &d, "deployment_phase_1", "hold", json!([])).expect(201);

    let nominated = events_of_kind(&app, &d.admin, &d.release, "deployment.nominated");
    assert_eq!(nominated.len(), 1, "{nominated:?}");
    assert_eq!(nominated[0]["topic"], "releases");
    assert_eq!(nominated[0]["entity_type"], "release_deployment");
    assert_eq!(nominated[0]["actor_org_id"], d.a.org_id);
    assert_eq!(nominated[0]["details"]["participant_org_ids"], json!([d.a.org_id]));
    let assessed = events_of_kind(&app, &d.admin, &d.release, "deployment.assessed");
    assert_eq!(assessed.len(), 1, "{assessed:?}");
    assert_eq!(assessed[0]["details"]["outcome"], "hold");

    let told = |email: &str, what: &str| {
        app.smtp
            .received()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(email)))
            .filter(|m| m.header("Subject").is_some_and(|s| s.contains(what)))
            .collect::<Vec<_>>()
    };
    wait_until(15, "the participant's and the reviewer's notices", || {
        [&d.a.email, &d.reviewer.email]
            .iter()
            .all(|e| told(e, "nominated 250 Comms Hubs").len() == 1 && told(e, "assessed, hold").len() == 1)
    });
    delivered(&app);
    let mail = &told(&d.a.email, "nominated")[0];
    assert!(
        mail.header("Subject")
            .unwrap()
            .contains("nominated 250 Comms Hubs for deployment phase 1"),
        "{:?}",
        mail.header("Subject")
    );
    assert!(mail.decoded().contains("North only."));
    assert!(told(&d.a.email, "assessed")[0].decoded().contains("Meeting: hold."));
    assert!(
        told(&d.c.email, "nominated").is_empty(),
        "a non-participant hears nothing"
    );
    assert!(
        told(&d.c.email, "assessed").is_empty(),
        "a non-participant hears nothing"
    );
    // The release's stage moves stay industry news.
    wait_until(15, "the stage move's notice to the non-participant", || {
        !told(&d.c.email, "deployment phase 1").is_empty()
    });
}
