//! What many tests start from: catalogue builders, a UIT window in progress ([`World`]) and
//! the shortcuts to claim and publish in it. Users come from [`TestApp::seed_user`] and
//! [`TestApp::user_in_new_org`] (helpers.rs), inserted directly.

use serde_json::json;

use crate::helpers::{Resp, TestApp, TestUser};

/// Creates a device model owned by `org`; returns its id.
pub fn product(app: &TestApp, token: &str, org: &str, device_type: &str) -> String {
    let name = format!(
        "{device_type} model {}",
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    );
    let resp = app.post(
        "/api/v1/device-models",
        Some(token),
        &json!({ "manufacturer_org_id": org, "device_type": device_type, "name": name, "hardware_version": "HW1" }),
    );
    resp.expect(201);
    resp.id()
}

/// Adds a firmware version to a product; returns its id.
pub fn firmware(app: &TestApp, token: &str, model: &str, version: &str, status: &str) -> String {
    let resp = app.post(
        &format!("/api/v1/device-models/{model}/firmware"),
        Some(token),
        &json!({ "version": version, "status": status }),
    );
    resp.expect(201);
    resp.id()
}

pub const SCENARIOS: [&str; 4] = [
    "install_and_commission",
    "prepayment_top_up",
    "comms_hub_replacement",
    "change_of_mode",
];

/// A UIT window in progress: a release with a new hub firmware, sets containing it, an open
/// window, and organisations in every role.
pub struct World {
    pub admin: String,
    pub maker: TestUser,
    pub a: TestUser,
    pub b: TestUser,
    pub outsider: TestUser,
    pub reviewer: TestUser,
    pub a_viewer: TestUser,
    pub esme_model: String,
    pub esme_fw: String,
    pub sets: Vec<String>,
    pub release: String,
    pub window: String,
}

pub fn world(app: &TestApp) -> World {
    let admin = app.admin_token();
    let maker = app.user_in_new_org(&admin, "manufacturer", "member");
    let a = app.user_in_new_org(&admin, "supplier", "member");
    let b = app.user_in_new_org(&admin, "supplier", "member");
    let outsider = app.user_in_new_org(&admin, "supplier", "admin");
    let reviewer = app.user_in_new_org(&admin, "reviewer", "admin");
    let a_viewer = app.invite_user(&admin, &a.org_id, "viewer");
    let hub = product(app, &admin, &maker.org_id, "CHF");
    let esme_model = product(app, &maker.token, &maker.org_id, "ESME");
    let gsme = product(app, &maker.token, &maker.org_id, "GSME");
    let hub_new = firmware(app, &admin, &hub, "3.0", "in_test");
    let esme_fw = firmware(app, &maker.token, &esme_model, "1.0", "deployed");
    let gsme_fw = firmware(app, &maker.token, &gsme, "2.0", "deployed");
    let mut sets = Vec::new();
    for (members, prevalence) in [
        (vec![hub_new.clone(), esme_fw.clone()], 5000),
        (vec![hub_new.clone(), gsme_fw.clone()], 300),
        (vec![hub_new.clone(), esme_fw.clone(), gsme_fw.clone()], 20000),
    ] {
        let resp = app.post(
            "/api/v1/device-sets",
            Some(&admin),
            &json!({ "name": format!("set {prevalence}"), "firmware_ids": members, "prevalence": prevalence }),
        );
        resp.expect(201);
        sets.push(resp.id());
    }
    let release = app.post("/api/v1/releases", Some(&admin), &json!({ "name": format!("R-{}", uuid::Uuid::new_v4().simple()), "kind": "sec_release", "firmware_ids": [hub_new] }));
    release.expect(201);
    let release = release.id();
    let window = open_window(app, &admin, &release);
    for user in [&a, &b] {
        app.post(
            &format!("/api/v1/uit-windows/{window}/participants"),
            Some(&user.token),
            &json!({}),
        )
        .expect(201);
    }
    World {
        admin,
        maker,
        a,
        b,
        outsider,
        reviewer,
        a_viewer,
        esme_model,
        esme_fw,
        sets,
        release,
        window,
    }
}

/// An open window of `release` (opened an hour ago, closing in ten days).
pub fn open_window(app: &TestApp, admin: &str, release: &str) -> String {
    let now = chrono::Utc::now();
    let resp = app.post(
        "/api/v1/uit-windows",
        Some(admin),
        &json!({
            "release_id": release,
            "name": format!("UIT-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
            "opens_at": (now - chrono::Duration::hours(1)).to_rfc3339(),
            "closes_at": (now + chrono::Duration::days(10)).to_rfc3339(),
        }),
    );
    resp.expect(201);
    resp.id()
}

/// `token`'s organisation claims `set` in the world's window.
pub fn claim(app: &TestApp, w: &World, token: &str, set: &str) -> Resp {
    app.post(
        &format!("/api/v1/uit-windows/{}/claims", w.window),
        Some(token),
        &json!({ "device_set_id": set }),
    )
}

pub fn publish(
    app: &TestApp,
    token: &str,
    window: &str,
    set: &str,
    scenario: &str,
    outcome: &str,
    visibility: &str,
) -> Resp {
    app.post(
        "/api/v1/results",
        Some(token),
        &json!({ "uit_window_id": window, "device_set_id": set, "scenario": scenario, "outcome": outcome,
                 "visibility": visibility, "executed_at": "2026-11-20T10:00:00Z" }),
    )
}
