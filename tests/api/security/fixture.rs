//! The world the security suite acts in, and how it turns an operation of the spec into a
//! concrete request: ids of real resources, and a body the server accepts.

use serde_json::json;

use super::{fill, Op, Org};
use crate::fixtures::{firmware, product, publish, world, World, SCENARIOS};
use crate::helpers::{Resp, TestApp, TestUser, ADMIN_EMAIL};

/// `fixtures::world` (organisations in every role, device sets, an open window) plus what these
/// tests need: more viewers and admins, and one resource of each kind, some private.
pub struct Fx {
    pub w: World,
    pub operator_viewer: TestUser,
    pub a_admin: TestUser,
    /// Removed by the own-organisation admin test.
    pub a_spare: TestUser,
    pub maker_viewer: TestUser,
    pub other_maker: TestUser,
    pub reviewer_member: TestUser,
    pub reviewer_spare: TestUser,
    pub reviewer_viewer: TestUser,
    /// A's API token: (id, secret).
    pub a_token: (String, String),
    /// A pending invitation of A's organisation and an API token of A's viewer: (invitation
    /// id, token id), for A's admin to revoke.
    pub a_credentials: (String, String),
    /// The same in the reviewer's organisation (the token is the reviewer member's).
    pub reviewer_credentials: (String, String),
    pub claim: String,
    /// Offers of B's claim to A (for A to accept and to decline) and of A's claim to B (for A
    /// to withdraw).
    pub offers: (String, String, String),
    /// A's entry in the waiting list of a set B holds.
    pub queue_entry: String,
    pub mask: String,
    pub a_set: String,
    pub new_hub_fw: String,
    /// The Comms Hub (w.maker's), its deployed firmware and a manufacturing decision of it.
    pub hub: String,
    pub hub_fw: String,
    pub decision: String,
    pub contact: String,
    pub private_result: String,
    pub industry_result: String,
    /// A's comments on its private and its industry result, and the reviewer's on the latter.
    pub private_comment: String,
    pub industry_comment: String,
    pub reviewer_comment: String,
    pub private_item: String,
    pub industry_item: String,
    /// A's own subscription.
    pub subscription: String,
    /// A dead notification, for the operator's retry.
    pub dead_notification: String,
    /// A review pack of the window.
    pub pack: String,
    /// A UIT issue A raised in the window, for the manufacturer to resolve.
    pub uit_issue: String,
    /// A DPL import of the operator's, finished.
    pub import: String,
    /// A release in `deployment_phase_1` that no organisation takes part in yet.
    pub deploying: String,
}

/// An `unplanned_maintenance` release in `deployment_phase_1` (in effect at once): its id.
fn deploying_release(app: &TestApp, admin: &str) -> String {
    let release = app.post(
        "/api/v1/releases",
        Some(admin),
        &json!({ "name": format!("R-{}", short()), "kind": "unplanned_maintenance" }),
    );
    release.expect(201);
    let release = release.id();
    crate::releases::walk_now(app, admin, &release, "deployment_phase_1");
    release
}

/// B claims `sets[2]` and offers it to A twice; A offers `a_claim` to B; B claims `b_set` and
/// A queues for it: the offers and A's queue entry.
fn claim_lifecycle(app: &TestApp, w: &World, a_claim: &str, b_set: &str) -> ((String, String, String), String) {
    let claims = format!("/api/v1/uit-windows/{}/claims", w.window);
    let b_claim = app.post(&claims, Some(&w.b.token), &json!({ "device_set_id": w.sets[2] }));
    b_claim.expect(201);
    let offer = |claim: &str, from: &TestUser, to: &TestUser| {
        let resp = app.post(
            &format!("/api/v1/claims/{claim}/offers"),
            Some(&from.token),
            &json!({ "to_org_id": to.org_id }),
        );
        resp.expect(201);
        resp.id()
    };
    let offers = (
        offer(&b_claim.id(), &w.b, &w.a),
        offer(&b_claim.id(), &w.b, &w.a),
        offer(a_claim, &w.a, &w.b),
    );
    app.post(&claims, Some(&w.b.token), &json!({ "device_set_id": b_set }))
        .expect(201);
    let entry = app.post(
        &claims,
        Some(&w.a.token),
        &json!({ "device_set_id": b_set, "queue": true }),
    );
    entry.expect(202);
    (offers, entry.id())
}

/// A subscription of the signed-in user of `token`; its id.
pub fn subscribe(app: &TestApp, token: &str) -> String {
    let resp = app.post("/api/v1/subscriptions", Some(token), &json!({ "topics": ["releases"] }));
    resp.expect(201);
    resp.id()
}

/// A notification that gave up, written straight to the outbox: making one through SMTP
/// failures is the notification tests' business. Its recipient is refused by the test SMTP
/// server, so a retry dies again.
fn dead_notification(app: &TestApp) -> String {
    use diesel::prelude::*;
    use uit_portal::db::schema::{notifications as n, subscriptions as s};
    let email = format!("reject-{}@example.org", short());
    app.allow_unsent_mail_to(&email);
    let resp = app.post(
        "/api/v1/subscriptions",
        None,
        &json!({ "email": email, "topics": ["releases"] }),
    );
    resp.expect(202);
    let mut conn = app.config.db_target().unwrap().connect().unwrap();
    let subscription: String = s::table
        .filter(s::email.eq(&email))
        .select(s::id)
        .first(&mut conn)
        .unwrap();
    let id = uuid::Uuid::now_v7().to_string();
    let now = chrono::Utc::now().naive_utc();
    diesel::insert_into(n::table)
        .values((
            n::id.eq(&id),
            n::kind.eq("event"),
            n::subscription_id.eq(&subscription),
            n::recipient.eq(&email),
            n::status.eq("dead"),
            n::attempts.eq(5),
            n::next_attempt_at.eq(now),
            n::last_error.eq("550 5.1.1 mailbox unavailable"),
            n::created_at.eq(now),
            n::updated_at.eq(now),
        ))
        .execute(&mut conn)
        .unwrap();
    id
}

/// A DPL whose one row names no product of the catalogue: an import that finishes at once.
const DPL: &str = "comms_hub_model,comms_hub_firmware,device1_type,device1_model,device1_firmware,installed_count\n\
                   No hub,1.0,ESME,No meter,1.0,5\n";

/// A finished DPL import of the operator's (finished, so that no job writes while the tests
/// compare the audit log before and after): its id.
fn dpl_import(app: &TestApp, admin: &str) -> String {
    let resp = app.send(
        "POST",
        "/api/v1/estate/imports?as_of=2026-10-01",
        Some(admin),
        &[],
        Some(("text/csv", DPL.as_bytes().to_vec())),
    );
    resp.expect(202);
    let id = resp.id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while app.get(&format!("/api/v1/estate/imports/{id}"), Some(admin)).json()["status"] != "done" {
        assert!(
            std::time::Instant::now() < deadline,
            "the fixture's DPL import did not finish"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    id
}

pub fn short() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

pub fn spawn() -> TestApp {
    // Dozens of users sign in from one address in a few seconds.
    TestApp::spawn_with(|c| {
        c.login_rate_per_account_per_minute = 10_000;
        c.login_rate_per_address_per_minute = 10_000;
    })
}

impl Fx {
    pub fn new(app: &TestApp) -> Fx {
        let w = world(app);
        let admin = w.admin.clone();
        let operator_org = app.get("/api/v1/me", Some(&admin)).json()["organisation"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let operator_viewer = app.invite_user(&admin, &operator_org, "viewer");
        let a_admin = app.invite_user(&admin, &w.a.org_id, "admin");
        let a_spare = app.invite_user(&admin, &w.a.org_id, "member");
        let maker_viewer = app.invite_user(&admin, &w.maker.org_id, "viewer");
        let other_maker = app.user_in_new_org(&admin, "manufacturer", "admin");
        let reviewer_member = app.invite_user(&admin, &w.reviewer.org_id, "member");
        let reviewer_spare = app.invite_user(&admin, &w.reviewer.org_id, "member");
        let reviewer_viewer = app.invite_user(&admin, &w.reviewer.org_id, "viewer");

        let token = app.post("/api/v1/me/api-tokens", Some(&w.a.token), &json!({ "name": "harness" }));
        token.expect(201);
        let a_token = (token.id(), token.json()["token"].as_str().unwrap().to_string());

        let credentials = |org_id: &str, member: &TestUser| {
            let invitation = app.post(
                &format!("/api/v1/organisations/{org_id}/invitations"),
                Some(&admin),
                &json!({ "email": format!("pending-{}@example.org", short()), "role": "member" }),
            );
            invitation.expect(201);
            let token = app.post("/api/v1/me/api-tokens", Some(&member.token), &json!({ "name": "ci" }));
            token.expect(201);
            (invitation.id(), token.id())
        };
        let a_credentials = credentials(&w.a.org_id, &w.a_viewer);
        let reviewer_credentials = credentials(&w.reviewer.org_id, &reviewer_member);

        let claim = app.post(
            &format!("/api/v1/uit-windows/{}/claims", w.window),
            Some(&w.a.token),
            &json!({ "device_set_id": w.sets[0] }),
        );
        claim.expect(201);
        let mask = app.post(
            "/api/v1/defect-masks",
            Some(&w.a.token),
            &json!({ "code": format!("DM-{}", 100_000 + rand_digits()), "title": "Display freezes",
                     "severity": "minor", "device_model_id": w.esme_model }),
        );
        mask.expect(201);
        // A Comms Hub of the operator's making, so that device sets with new memberships exist.
        let hub = product(app, &admin, &w.maker.org_id, "CHF");
        let hub_fw = firmware(app, &admin, &hub, "1.0", "deployed");
        let new_hub_fw = firmware(app, &admin, &hub, "1.1", "in_test");
        let decision = app.post(
            &format!("/api/v1/device-models/{hub}/manufacturing"),
            Some(&admin),
            &json!({ "firmware_id": hub_fw, "from_date": "2026-01-01" }),
        );
        decision.expect(201);
        let a_set = app.post(
            "/api/v1/device-sets",
            Some(&w.a.token),
            &json!({ "name": "A's set", "firmware_ids": [hub_fw, w.esme_fw], "prevalence": 10 }),
        );
        a_set.expect(201);
        let (offers, queue_entry) = claim_lifecycle(app, &w, &claim.id(), &a_set.id());
        let contact = app.post(
            "/api/v1/library-contacts",
            Some(&w.maker.token),
            &json!({ "manufacturer_org_id": w.maker.org_id, "contact_name": "Firmware desk",
                     "email": "firmware@maker.example", "verified_on": "2026-01-05" }),
        );
        contact.expect(201);
        let private_result = publish(app, &w.a.token, &w.window, &w.sets[0], SCENARIOS[0], "fail", "private");
        private_result.expect(201);
        let industry_result = publish(app, &w.a.token, &w.window, &w.sets[0], SCENARIOS[1], "pass", "industry");
        industry_result.expect(201);
        let comment = |result: &Resp, token: &str| {
            let resp = app.post(
                &format!("/api/v1/results/{}/comments", result.id()),
                Some(token),
                &json!({ "body": "Seen on our meters too." }),
            );
            resp.expect(201);
            resp.id()
        };
        let private_comment = comment(&private_result, &w.a.token);
        let industry_comment = comment(&industry_result, &w.a.token);
        let reviewer_comment = comment(&industry_result, &w.reviewer.token);
        let item = |visibility: &str| {
            let resp = app.post(
                "/api/v1/roadmap-items",
                Some(&w.maker.token),
                &json!({ "device_model_id": w.esme_model, "planned_version": "1.2", "category": "defect_fix",
                         "summary": "Fixes the tariff switch", "visibility": visibility }),
            );
            resp.expect(201);
            resp.id()
        };
        let (private_item, industry_item) = (item("private"), item("industry"));
        let subscription = subscribe(app, &w.a.token);
        let dead_notification = dead_notification(app);
        let pack = app.post(
            &format!("/api/v1/uit-windows/{}/review-packs", w.window),
            Some(&admin),
            &json!({}),
        );
        pack.expect(201);
        let pack = pack.id();
        let uit_issue = app.post(
            "/api/v1/uit-issues",
            Some(&w.a.token),
            &json!({ "uit_window_id": w.window, "title": "Top-up lost", "severity": "blocking",
                     "resolving_org_id": w.maker.org_id }),
        );
        uit_issue.expect(201);
        let import = dpl_import(app, &admin);
        let deploying = deploying_release(app, &admin);
        Fx {
            deploying,
            import,
            pack,
            uit_issue: uit_issue.id(),
            subscription,
            dead_notification,
            operator_viewer,
            a_admin,
            a_spare,
            maker_viewer,
            other_maker,
            reviewer_member,
            reviewer_spare,
            reviewer_viewer,
            a_token,
            a_credentials,
            reviewer_credentials,
            claim: claim.id(),
            offers,
            queue_entry,
            mask: mask.id(),
            a_set: a_set.id(),
            new_hub_fw,
            decision: decision.id(),
            hub,
            hub_fw,
            contact: contact.id(),
            private_result: private_result.id(),
            industry_result: industry_result.id(),
            private_comment,
            industry_comment,
            reviewer_comment,
            private_item,
            industry_item,
            w,
        }
    }

    /// The ids for the parameters of `path`, the owner's token and the token of a peer: another
    /// organisation of a kind that could act on such a resource of its own. `shared` picks
    /// results and roadmap items every organisation sees instead of private ones.
    pub fn target(&self, path: &str, shared: bool) -> Target {
        let w = &self.w;
        let (result, item) = if shared {
            (&self.industry_result, &self.industry_item)
        } else {
            (&self.private_result, &self.private_item)
        };
        let one = |id: &str, owner: &TestUser, peer: &TestUser| Target {
            ids: vec![id.to_string()],
            peer_ids: vec![id.to_string()],
            owner: owner.token.clone(),
            peer: peer.token.clone(),
        };
        let operator = TestUser {
            id: String::new(),
            org_id: String::new(),
            email: ADMIN_EMAIL.into(),
            token: w.admin.clone(),
        };
        let resource = path.trim_start_matches("/api/v1/").split('/').next().unwrap();
        match resource {
            "results" if path.contains("{comment_id}") => {
                let comment = if shared {
                    &self.industry_comment
                } else {
                    &self.private_comment
                };
                Target {
                    ids: vec![result.clone(), comment.clone()],
                    peer_ids: vec![result.clone(), comment.clone()],
                    owner: w.a.token.clone(),
                    peer: w.b.token.clone(),
                }
            }
            "claims" => one(&self.claim, &w.a, &w.b),
            // A is party to each offer it acts on; the outsider to none.
            "claim-offers" => {
                let offer = if path.ends_with("/accept") {
                    &self.offers.0
                } else if path.ends_with("/decline") {
                    &self.offers.1
                } else {
                    &self.offers.2
                };
                one(offer, &w.a, &w.outsider)
            }
            // The holder B does not see A's entry either.
            "claim-queue" => one(&self.queue_entry, &w.a, &w.b),
            "defect-masks" => one(&self.mask, &w.a, &w.b),
            "device-models" if path.ends_with("/manufacturing") => one(&self.hub, &w.maker, &self.other_maker),
            "device-models" => one(&w.esme_model, &w.maker, &self.other_maker),
            "manufacturing-decisions" => one(&self.decision, &w.maker, &self.other_maker),
            "device-sets" => one(&self.a_set, &w.a, &w.b),
            "firmware" => one(&w.esme_fw, &w.maker, &self.other_maker),
            "library-contacts" => one(&self.contact, &w.maker, &self.other_maker),
            "me" => one(&self.a_token.0, &w.a, &w.b),
            // The outsider takes no part in the deploying release (w.b joined w.release's window).
            "releases" if path.ends_with("/nominations") || path.ends_with("/assessments") => {
                one(&self.deploying, &operator, &w.outsider)
            }
            "releases" => one(&w.release, &operator, &w.b),
            "results" => one(result, &w.a, &w.b),
            "roadmap-items" => one(item, &w.maker, &self.other_maker),
            "uit-windows" => one(&w.window, &operator, &w.outsider),
            // The resolving manufacturer's moves are made by w.maker (see WRITES); the outsider
            // joined no window and neither raised nor resolves the issue.
            "uit-issues" => one(&self.uit_issue, &w.a, &w.outsider),
            "subscriptions" => one(&self.subscription, &w.a, &w.b),
            "notifications" => one(&self.dead_notification, &operator, &w.b),
            "estate" => one(&self.import, &operator, &w.b),
            // Packs are the operator's; the peer is a reviewer, whose verdicts they await.
            "review-packs" => one(&self.pack, &operator, &w.reviewer),
            // The peer, an admin of another organisation, asks about A's member under its own
            // organisation's path (under A's path it would be 403, see FOREIGN).
            "organisations" if path.contains("{user_id}") => Target {
                ids: vec![w.a.org_id.clone(), w.a.id.clone()],
                peer_ids: vec![w.outsider.org_id.clone(), w.a.id.clone()],
                owner: self.a_admin.token.clone(),
                peer: w.outsider.token.clone(),
            },
            // The same for A's invitations and members' API tokens.
            "organisations" if path.contains("{invitation_id}") || path.contains("{token_id}") => {
                let id = if path.contains("{invitation_id}") {
                    &self.a_credentials.0
                } else {
                    &self.a_credentials.1
                };
                Target {
                    ids: vec![w.a.org_id.clone(), id.clone()],
                    peer_ids: vec![w.outsider.org_id.clone(), id.clone()],
                    owner: self.a_admin.token.clone(),
                    peer: w.outsider.token.clone(),
                }
            }
            "organisations" => one(&w.a.org_id, &self.a_admin, &w.outsider),
            _ => panic!("no fixture for {path}: extend Fx::target in tests/api/security.rs"),
        }
    }

    /// The ids with which the reviewer acts on a resource of its own (its comment on the
    /// industry result), for the write routes open to every reader.
    pub fn reviewer_ids(&self, path: &str) -> Vec<String> {
        let mut ids = vec![self.industry_result.clone()];
        if path.contains("{comment_id}") {
            ids.push(self.reviewer_comment.clone());
        }
        ids
    }

    /// A request body for `op` that the server accepts from a user entitled to it (`None`: the
    /// operation takes no body). Names are fresh on every call.
    pub fn body(&self, op: &str) -> Option<(&'static str, Vec<u8>)> {
        let w = &self.w;
        let now = chrono::Utc::now();
        let value = match op {
            "POST /api/v1/auth/logout" => json!({ "refresh_token": "not one of yours" }),
            "POST /api/v1/defect-masks" => json!({ "code": format!("DM-{}", 100_000 + rand_digits()),
                "title": "Tariff switch missed", "severity": "major", "device_model_id": w.esme_model }),
            "PATCH /api/v1/defect-masks/{id}" => json!({ "title": "Display freezes after top-up" }),
            "POST /api/v1/device-models" => json!({ "manufacturer_org_id": w.maker.org_id, "device_type": "ESME",
                "name": format!("ESME {}", short()), "hardware_version": "HW2" }),
            "PATCH /api/v1/device-models/{id}" => json!({ "hardware_version": "HW1b" }),
            "POST /api/v1/device-models/{id}/firmware" => json!({ "version": format!("9.{}", rand_digits()) }),
            "POST /api/v1/device-models/{id}/manufacturing" => json!({ "firmware_id": self.hub_fw,
                "from_date": (chrono::NaiveDate::from_ymd_opt(2030, 1, 1).unwrap()
                    + chrono::Duration::days(i64::from(rand_digits() % 36_500))).to_string() }),
            "POST /api/v1/device-sets" => json!({ "name": "new set", "firmware_ids": [self.new_hub_fw, w.esme_fw] }),
            "PATCH /api/v1/device-sets/{id}" => json!({ "prevalence": 42 }),
            "PATCH /api/v1/firmware/{id}" => json!({ "notes": "Fixes the tariff switch." }),
            "POST /api/v1/library-contacts" => json!({ "manufacturer_org_id": w.maker.org_id,
                "contact_name": "Out of hours", "email": "oncall@maker.example", "verified_on": "2026-02-01" }),
            "PATCH /api/v1/library-contacts/{id}" => json!({ "notes": "Ask for the N-1 image too." }),
            "PATCH /api/v1/me" => json!({ "name": "Renamed" }),
            "POST /api/v1/me/api-tokens" => json!({ "name": "mine" }),
            "POST /api/v1/organisations" => json!({ "name": "New Supplier", "slug": format!("new-{}", short()),
                "kind": "supplier" }),
            "PATCH /api/v1/organisations/{id}" => json!({ "name": format!("Supplier {}", short()) }),
            "POST /api/v1/organisations/{id}/invitations" => json!({
                "email": format!("invitee-{}@example.org", short()), "role": "member" }),
            "PATCH /api/v1/organisations/{id}/members/{user_id}" => json!({ "role": "viewer" }),
            "POST /api/v1/releases" => json!({ "name": format!("R-{}", short()), "kind": "sec_release" }),
            "PATCH /api/v1/releases/{id}" => json!({ "notes": "Content agreed at the board." }),
            "POST /api/v1/releases/{id}/nominations" => json!({ "device_set_ids": [w.sets[0]], "hub_count": 40 }),
            "POST /api/v1/releases/{id}/assessments" => json!({ "phase": "deployment_phase_1", "outcome": "hold",
                "minutes": "Two hubs dropped their meters." }),
            "POST /api/v1/releases/{id}/stage" => json!({ "stage": "pit", "decision_note": "PIT starts" }),
            "POST /api/v1/results" => json!({ "uit_window_id": w.window, "device_set_id": w.sets[1],
                "scenario": SCENARIOS[0], "outcome": "pass", "visibility": "industry" }),
            "POST /api/v1/results/batch" => json!({ "items": [{ "uit_window_id": w.window,
                "device_set_id": w.sets[2], "scenario": SCENARIOS[0], "outcome": "blocked" }] }),
            "POST /api/v1/estate/imports" => return Some(("text/csv", DPL.as_bytes().to_vec())),
            "POST /api/v1/results/junit" => {
                let xml = format!(r#"<testsuite><testcase name="{}"/></testsuite>"#, SCENARIOS[1]);
                return Some(("application/xml", xml.into_bytes()));
            }
            "PATCH /api/v1/results/{id}" => json!({ "notes": "Amended after a rerun." }),
            "POST /api/v1/results/{id}/comments" => json!({ "body": "Reproduced on our rig." }),
            "POST /api/v1/roadmap-items" => json!({ "device_model_id": w.esme_model, "planned_version": "2.0",
                "category": "enhancement", "summary": "Faster top-ups" }),
            "PATCH /api/v1/roadmap-items/{id}" => json!({ "summary": "Fixes the tariff switch for good" }),
            "POST /api/v1/scenarios" => {
                json!({ "code": format!("scenario_{}", short()), "title": "Change of tenancy" })
            }
            "POST /api/v1/uit-issues" => json!({ "uit_window_id": w.window, "title": "Display blank",
                "severity": "minor", "resolving_org_id": w.maker.org_id }),
            "PATCH /api/v1/uit-issues/{id}" => json!({ "title": "Top-up lost after a hub swap" }),
            "POST /api/v1/uit-issues/{id}/transitions" => json!({ "to": "triaged" }),
            "POST /api/v1/uit-issues/{id}/defect-mask" => json!({ "code": format!("DM-{}", 100_000 + rand_digits()),
                "title": "Top-up lost", "severity": "major", "device_model_id": w.esme_model }),
            "POST /api/v1/uit-windows" => json!({ "release_id": w.release, "name": format!("UIT-{}", short()),
                "opens_at": (now + chrono::Duration::days(20)).to_rfc3339(),
                "closes_at": (now + chrono::Duration::days(25)).to_rfc3339() }),
            "PATCH /api/v1/subscriptions/{id}" => json!({ "mode": "daily_digest" }),
            "PATCH /api/v1/uit-windows/{id}" => json!({ "closes_at": (now + chrono::Duration::days(11)).to_rfc3339() }),
            "POST /api/v1/uit-windows/{id}/claims" => json!({ "device_set_id": w.sets[1] }),
            "POST /api/v1/claims/{id}/offers" => json!({ "to_org_id": w.b.org_id }),
            "POST /api/v1/uit-windows/{id}/participants" => json!({}),
            "POST /api/v1/uit-windows/{id}/review-packs" => json!({ "title": "security fixture" }),
            "POST /api/v1/uit-windows/{id}/scope" => json!({ "strategy": "explicit", "device_set_ids": [w.sets[0]] }),
            "POST /api/v1/review-packs/{id}/reviews" => json!({ "verdict": "approve" }),
            _ => return None,
        };
        Some(("application/json", value.to_string().into_bytes()))
    }

    /// The query string `op` needs, if any.
    pub fn query(&self, op: &str) -> String {
        match op {
            "POST /api/v1/results/junit" => format!(
                "?uit_window_id={}&device_set_id={}&visibility=industry",
                self.w.window, self.w.sets[2]
            ),
            "GET /api/v1/review-packs/{id}/diff" => format!("?against={}", self.pack),
            "POST /api/v1/estate/imports" => "?as_of=2026-11-01".into(),
            _ => String::new(),
        }
    }

    pub fn user(&self, org: Org) -> (&str, &TestUser) {
        match org {
            Org::Operator => (&self.w.admin, &self.operator_viewer),
            Org::Supplier => (&self.w.a.token, &self.w.a_viewer),
            Org::Manufacturer => (&self.w.maker.token, &self.maker_viewer),
        }
    }
}

/// A resource an operation acts on, as its owner and as a peer from another organisation
/// address it.
pub struct Target {
    pub ids: Vec<String>,
    pub peer_ids: Vec<String>,
    pub owner: String,
    pub peer: String,
}

/// Digits that make a fresh code or version.
pub fn rand_digits() -> u32 {
    uuid::Uuid::new_v4().as_u128() as u32 % 900_000
}

/// One request as `op` would be sent: method, path (ids filled in, query added) and body.
pub struct Call {
    pub method: String,
    pub path: String,
    pub body: Option<(&'static str, Vec<u8>)>,
}

impl Call {
    pub fn new(fx: &Fx, op: &Op, ids: &[String]) -> Call {
        let key = op.key();
        Call {
            method: op.method.clone(),
            path: format!("{}{}", fill(&op.path, ids), fx.query(&key)),
            body: fx.body(&key),
        }
    }

    pub fn send(&self, app: &TestApp, token: &str) -> Resp {
        app.send(&self.method, &self.path, Some(token), &[], self.body.clone())
    }
}
