use serde_json::json;

use crate::helpers::TestApp;

#[test]
fn operator_admins_create_organisations_others_may_not() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let created = app.post(
        "/api/v1/organisations",
        Some(&admin),
        &json!({ "name": "Northern Energy", "slug": "northern-energy", "kind": "supplier" }),
    );
    created.expect(201);
    let org = created.json();
    assert_eq!(
        created.header("location").unwrap(),
        format!("/api/v1/organisations/{}", org["id"].as_str().unwrap())
    );
    assert_eq!(org["kind"], "supplier");

    let dup = app.post(
        "/api/v1/organisations",
        Some(&admin),
        &json!({ "name": "Again", "slug": "northern-energy", "kind": "supplier" }),
    );
    let body = dup.expect_code(409, "slug_taken");
    assert_eq!(body["context"]["existing_id"], org["id"]);

    let bad = app.post(
        "/api/v1/organisations",
        Some(&admin),
        &json!({ "name": " ", "slug": "Bad Slug", "kind": "supplier" }),
    );
    let body = bad.expect_code(422, "validation_failed");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "slug"]);
    app.post(
        "/api/v1/organisations",
        Some(&admin),
        &json!({ "name": "X", "slug": "x-x", "kind": "alien" }),
    )
    .expect_code(400, "malformed_body");

    let supplier_admin = app.invite_user(&admin, org["id"].as_str().unwrap(), "admin");
    app.post(
        "/api/v1/organisations",
        Some(&supplier_admin.token),
        &json!({ "name": "Mine", "slug": "mine", "kind": "supplier" }),
    )
    .expect_code(403, "forbidden");
    let operator_viewer = app.invite_user(&admin, &operator_org(&app, &admin), "viewer");
    app.post(
        "/api/v1/organisations",
        Some(&operator_viewer.token),
        &json!({ "name": "Mine", "slug": "mine", "kind": "supplier" }),
    )
    .expect_code(403, "forbidden");
}

fn operator_org(app: &TestApp, token: &str) -> String {
    app.get("/api/v1/me", Some(token)).json()["organisation"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn lists_filter_paginate_and_link_to_the_next_page() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let mut suppliers: Vec<String> = (0..5).map(|_| app.create_org(&admin, "supplier")).collect();
    app.create_org(&admin, "manufacturer");
    suppliers.sort();

    let mut seen = Vec::new();
    let mut path = "/api/v1/organisations?kind=supplier&limit=2".to_string();
    loop {
        let page = app.get(&path, Some(&admin));
        page.expect(200);
        let body = page.json();
        for item in body["items"].as_array().unwrap() {
            assert_eq!(item["kind"], "supplier");
            seen.push(item["id"].as_str().unwrap().to_string());
        }
        match body["next_cursor"].as_str() {
            Some(_) => {
                let link = page.header("link").expect("Link header on a non-final page");
                assert!(link.ends_with("; rel=\"next\""), "{link}");
                assert!(link.contains("kind=supplier") && link.contains("limit=2"), "{link}");
                path = link.trim_start_matches('<').split('>').next().unwrap().to_string();
            }
            None => {
                assert!(page.header("link").is_none());
                break;
            }
        }
    }
    assert_eq!(seen, suppliers);

    app.get("/api/v1/organisations?limit=501", Some(&admin))
        .expect_code(400, "invalid_query");
    app.get("/api/v1/organisations?limit=0", Some(&admin))
        .expect_code(400, "invalid_query");
    app.get("/api/v1/organisations?cursor=%%%", Some(&admin)).expect(400);
    app.get("/api/v1/organisations?colour=blue", Some(&admin))
        .expect_code(400, "invalid_query");
    app.get("/api/v1/organisations?kind=alien", Some(&admin))
        .expect_code(400, "invalid_query");
}

#[test]
fn updates_honour_if_match_and_keep_an_etag() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let id = app.create_org(&admin, "manufacturer");
    let got = app.get(&format!("/api/v1/organisations/{id}"), Some(&admin));
    got.expect(200);
    let etag = got.header("etag").expect("ETag");
    let path = format!("/api/v1/organisations/{id}");
    let ok = app.send(
        "PATCH",
        &path,
        Some(&admin),
        &[("if-match", &etag)],
        Some(("application/json", br#"{"name":"Renamed Ltd"}"#.to_vec())),
    );
    ok.expect(200);
    assert_eq!(ok.json()["name"], "Renamed Ltd");
    let new_etag = ok.header("etag").unwrap();
    assert_ne!(new_etag, etag);
    let stale = app.send(
        "PATCH",
        &path,
        Some(&admin),
        &[("if-match", &etag)],
        Some(("application/json", br#"{"name":"Lost update"}"#.to_vec())),
    );
    stale.expect_code(412, "precondition_failed");
    assert_eq!(app.get(&path, Some(&admin)).json()["name"], "Renamed Ltd");
    app.patch(&path, Some(&admin), &json!({ "kind": "supplier" }))
        .expect_code(400, "malformed_body");
}

#[test]
fn idempotency_keys_replay_creations_and_refuse_other_bodies() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let body = br#"{"name":"Idem Energy","slug":"idem-energy","kind":"supplier"}"#.to_vec();
    let key = [("idempotency-key", "create-idem-energy-1")];
    let first = app.send(
        "POST",
        "/api/v1/organisations",
        Some(&admin),
        &key,
        Some(("application/json", body.clone())),
    );
    first.expect(201);
    let replay = app.send(
        "POST",
        "/api/v1/organisations",
        Some(&admin),
        &key,
        Some(("application/json", body.clone())),
    );
    replay.expect(201);
    assert_eq!(replay.json(), first.json());
    assert_eq!(replay.header("location"), first.header("location"));
    assert_eq!(replay.header("idempotent-replayed").as_deref(), Some("true"));
    let listed = app.get("/api/v1/organisations?kind=supplier", Some(&admin)).json();
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        1,
        "the replay created nothing"
    );

    let other = br#"{"name":"Other","slug":"other-energy","kind":"supplier"}"#.to_vec();
    app.send(
        "POST",
        "/api/v1/organisations",
        Some(&admin),
        &key,
        Some(("application/json", other)),
    )
    .expect_code(422, "idempotency_key_reused");
    // A failed creation does not burn its key.
    let dup = br#"{"name":"Dup","slug":"idem-energy","kind":"supplier"}"#.to_vec();
    let k2 = [("idempotency-key", "second-key")];
    app.send(
        "POST",
        "/api/v1/organisations",
        Some(&admin),
        &k2,
        Some(("application/json", dup)),
    )
    .expect(409);
    let fixed = br#"{"name":"Dup","slug":"idem-energy-2","kind":"supplier"}"#.to_vec();
    app.send(
        "POST",
        "/api/v1/organisations",
        Some(&admin),
        &k2,
        Some(("application/json", fixed.clone())),
    )
    .expect(201);
    let again = app.send(
        "POST",
        "/api/v1/organisations",
        Some(&admin),
        &k2,
        Some(("application/json", fixed)),
    );
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    let bad_key = [("idempotency-key", "")];
    app.send(
        "POST",
        "/api/v1/organisations",
        Some(&admin),
        &bad_key,
        Some(("application/json", body)),
    )
    .expect(400);
}

#[test]
fn accepting_an_invitation_is_idempotent_with_a_key() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let org = app.create_org(&admin, "other");
    let email = "retrying.harness@example.org";
    app.post(
        &format!("/api/v1/organisations/{org}/invitations"),
        Some(&admin),
        &json!({ "email": email, "role": "member" }),
    )
    .expect(201);
    let token = app.smtp.wait_for(email).token("uiti_");
    let body = json!({ "token": token, "name": "Retry", "password": "twelve chars!" })
        .to_string()
        .into_bytes();
    let key = [("idempotency-key", "accept-1")];
    let first = app.send(
        "POST",
        "/api/v1/invitations/accept",
        None,
        &key,
        Some(("application/json", body.clone())),
    );
    first.expect(201);
    let replay = app.send(
        "POST",
        "/api/v1/invitations/accept",
        None,
        &key,
        Some(("application/json", body)),
    );
    replay.expect(201);
    assert_eq!(replay.json(), first.json());
    assert_eq!(replay.header("idempotent-replayed").as_deref(), Some("true"));
}

#[test]
fn invitations_create_accounts_once() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let org = app.create_org(&admin, "manufacturer");
    let org_admin = app.invite_user(&admin, &org, "admin");
    let email = "new.member@example.org";
    app.post(
        &format!("/api/v1/organisations/{org}/invitations"),
        Some(&org_admin.token),
        &json!({ "email": email, "role": "member" }),
    )
    .expect(201);
    let mail = app.smtp.wait_for(email);
    assert!(mail.header("Subject").unwrap().contains("invited to join"));
    let token = mail.token("uiti_");
    let accept = json!({ "token": token, "name": "New Member", "password": "twelve chars!" });
    let created = app.post("/api/v1/invitations/accept", None, &accept);
    created.expect(201);
    assert_eq!(created.json()["role"], "member");
    assert_eq!(created.json()["org_id"], org.as_str());
    app.post("/api/v1/invitations/accept", None, &accept)
        .expect_code(400, "invalid_token");
    app.get(created.header("location").as_deref().unwrap(), Some(&org_admin.token))
        .expect(200);
    app.login(email, "twelve chars!");
    app.post(
        &format!("/api/v1/organisations/{org}/invitations"),
        Some(&org_admin.token),
        &json!({ "email": email, "role": "member" }),
    )
    .expect_code(409, "user_exists");
    app.post(
        &format!("/api/v1/organisations/{org}/invitations"),
        Some(&org_admin.token),
        &json!({ "email": "not-an-email", "role": "member" }),
    )
    .expect_code(422, "validation_failed");
}

#[test]
fn members_are_managed_by_their_admins_and_the_last_admin_stays() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let org = app.create_org(&admin, "supplier");
    let boss = app.invite_user(&admin, &org, "admin");
    let member = app.invite_user(&boss.token, &org, "member");
    let viewer = app.invite_user(&boss.token, &org, "viewer");

    let members = app.get(&format!("/api/v1/organisations/{org}/members"), Some(&viewer.token));
    members.expect(200);
    assert_eq!(members.json()["items"].as_array().unwrap().len(), 3);

    let boss_path = format!("/api/v1/organisations/{org}/members/{}", boss.id);
    let boss_view = app.get(&boss_path, Some(&viewer.token));
    boss_view.expect(200);
    assert_eq!(boss_view.json()["role"], "admin");
    let boss_etag = boss_view.header("etag").expect("ETag on a member");
    app.patch(&boss_path, Some(&boss.token), &json!({ "role": "member" }))
        .expect_code(409, "last_admin");
    app.delete(&boss_path, Some(&boss.token)).expect_code(409, "last_admin");

    let member_path = format!("/api/v1/organisations/{org}/members/{}", member.id);
    app.patch(&member_path, Some(&member.token), &json!({ "role": "admin" }))
        .expect_code(403, "forbidden");
    app.patch(&member_path, Some(&viewer.token), &json!({ "role": "admin" }))
        .expect_code(403, "forbidden");
    app.delete(&member_path, Some(&viewer.token))
        .expect_code(403, "forbidden");
    app.post(
        &format!("/api/v1/organisations/{org}/invitations"),
        Some(&viewer.token),
        &json!({ "email": "v@example.org", "role": "viewer" }),
    )
    .expect_code(403, "forbidden");

    let member_etag = app.get(&member_path, Some(&boss.token)).header("etag").unwrap();
    let promoted = app.send(
        "PATCH",
        &member_path,
        Some(&boss.token),
        &[("if-match", &member_etag)],
        Some(("application/json", br#"{"role":"admin"}"#.to_vec())),
    );
    promoted.expect(200);
    assert_eq!(promoted.json()["role"], "admin");
    let stale = app.send(
        "PATCH",
        &member_path,
        Some(&boss.token),
        &[("if-match", &member_etag)],
        Some(("application/json", br#"{"role":"viewer"}"#.to_vec())),
    );
    stale.expect_code(412, "precondition_failed");
    app.send(
        "DELETE",
        &boss_path,
        Some(&boss.token),
        &[("if-match", "\"999\"")],
        None,
    )
    .expect(412);
    assert_ne!(boss_etag, "\"999\"");
    // The promoted member's existing token carries the new role at once.
    app.patch(&boss_path, Some(&member.token), &json!({ "role": "member" }))
        .expect(200);
    app.delete(
        &format!("/api/v1/organisations/{org}/members/{}", viewer.id),
        Some(&member.token),
    )
    .expect(204);
    app.get("/api/v1/me", Some(&viewer.token)).expect(401);
}

#[test]
fn other_tenants_ids_look_exactly_like_missing_ones() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let a = app.user_in_new_org(&admin, "supplier", "admin");
    let b = app.user_in_new_org(&admin, "supplier", "admin");
    let missing = "01900000-0000-7000-8000-000000000000";

    let foreign = app.patch(
        &format!("/api/v1/organisations/{}/members/{}", a.org_id, b.id),
        Some(&a.token),
        &json!({ "role": "viewer" }),
    );
    let absent = app.patch(
        &format!("/api/v1/organisations/{}/members/{missing}", a.org_id),
        Some(&a.token),
        &json!({ "role": "viewer" }),
    );
    foreign.expect_code(404, "not_found");
    assert_eq!(foreign.body, absent.body);
    let foreign = app.delete(
        &format!("/api/v1/organisations/{}/members/{}", a.org_id, b.id),
        Some(&a.token),
    );
    let absent = app.delete(
        &format!("/api/v1/organisations/{}/members/{missing}", a.org_id),
        Some(&a.token),
    );
    foreign.expect(404);
    assert_eq!(foreign.body, absent.body);

    let b_token = app
        .post(
            "/api/v1/me/api-tokens",
            Some(&b.token),
            &json!({ "name": "b's harness" }),
        )
        .json();
    let foreign = app.delete(
        &format!("/api/v1/me/api-tokens/{}", b_token["id"].as_str().unwrap()),
        Some(&a.token),
    );
    let absent = app.delete(&format!("/api/v1/me/api-tokens/{missing}"), Some(&a.token));
    foreign.expect(404);
    assert_eq!(foreign.body, absent.body);
    app.get("/api/v1/me", b_token["token"].as_str()).expect(200);

    let missing_org = app.get(&format!("/api/v1/organisations/{missing}"), Some(&a.token));
    missing_org.expect(404);
    assert_eq!(missing_org.body, absent.body);
    // Organisations are a public directory, but their member lists are not.
    app.get(&format!("/api/v1/organisations/{}", b.org_id), Some(&a.token))
        .expect(200);
    app.get(&format!("/api/v1/organisations/{}/members", b.org_id), Some(&a.token))
        .expect_code(403, "forbidden");
    app.post(
        &format!("/api/v1/organisations/{}/invitations", b.org_id),
        Some(&a.token),
        &json!({ "email": "x@example.org", "role": "admin" }),
    )
    .expect_code(403, "forbidden");
}

#[test]
fn reviewers_and_viewers_cannot_write_industry_data() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let reviewer = app.user_in_new_org(&admin, "reviewer", "admin");
    let operator = app.get("/api/v1/me", Some(&admin)).json()["organisation"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let operator_viewer = app.invite_user(&admin, &operator, "viewer");
    let target = app.create_org(&admin, "supplier");
    for (who, token) in [
        ("reviewer admin", &reviewer.token),
        ("operator viewer", &operator_viewer.token),
    ] {
        let writes = [
            app.post(
                "/api/v1/organisations",
                Some(token),
                &json!({ "name": "R", "slug": "r-org", "kind": "reviewer" }),
            ),
            app.patch(
                &format!("/api/v1/organisations/{target}"),
                Some(token),
                &json!({ "name": "Hijacked" }),
            ),
            app.post(
                &format!("/api/v1/organisations/{target}/invitations"),
                Some(token),
                &json!({ "email": "r@example.org", "role": "admin" }),
            ),
        ];
        for resp in writes {
            assert_eq!(resp.status, 403, "{who}: {}", resp.body);
            resp.expect_code(403, "forbidden");
        }
    }
    let name = app.get(&format!("/api/v1/organisations/{target}"), Some(&admin)).json()["name"].clone();
    assert!(name.as_str().unwrap().starts_with("Org"), "unchanged: {name}");
}

#[test]
fn admins_list_and_revoke_pending_invitations() {
    let app = TestApp::spawn();
    let operator = app.admin_token();
    let org = app.create_org(&operator, "supplier");
    let org_admin = app.invite_user(&operator, &org, "admin");
    let member = app.invite_user_by_email(&org_admin.token, &org, "member");
    let invite = |email: &str| {
        let resp = app.post(
            &format!("/api/v1/organisations/{org}/invitations"),
            Some(&org_admin.token),
            &json!({ "email": email, "role": "member" }),
        );
        resp.expect(201);
        resp.id()
    };
    let kept = invite("kept@example.org");
    let withdrawn = invite("withdrawn@example.org");
    let list = app.get(
        &format!("/api/v1/organisations/{org}/invitations"),
        Some(&org_admin.token),
    );
    list.expect(200);
    let items = list.json()["items"].as_array().unwrap().clone();
    // Accepted invitations (the members') are no longer pending.
    assert_eq!(list.ids(), [kept.as_str(), withdrawn.as_str()], "{items:?}");
    assert!(items.iter().all(|i| i.get("token").is_none() && i["email"].is_string()));

    // Members, viewers and other organisations' admins may not.
    app.get(&format!("/api/v1/organisations/{org}/invitations"), Some(&member.token))
        .expect(403);
    let outsider = app.user_in_new_org(&operator, "supplier", "admin");
    app.get(
        &format!("/api/v1/organisations/{org}/invitations"),
        Some(&outsider.token),
    )
    .expect(403);
    app.delete(
        &format!("/api/v1/organisations/{org}/invitations/{withdrawn}"),
        Some(&member.token),
    )
    .expect(403);
    app.delete(
        &format!("/api/v1/organisations/{}/invitations/{withdrawn}", outsider.org_id),
        Some(&outsider.token),
    )
    .expect_code(404, "not_found");

    app.delete(
        &format!("/api/v1/organisations/{org}/invitations/{withdrawn}"),
        Some(&org_admin.token),
    )
    .expect(204);
    app.delete(
        &format!("/api/v1/organisations/{org}/invitations/{withdrawn}"),
        Some(&org_admin.token),
    )
    .expect_code(404, "not_found");
    let token = app.smtp.wait_for("withdrawn@example.org").token("uiti_");
    app.post(
        "/api/v1/invitations/accept",
        None,
        &json!({ "token": token, "name": "Too Late", "new_password": "a long enough password" }),
    )
    .expect_code(400, "invalid_token");
    // The operator admin sees (and could revoke) what is left.
    let list = app.get(&format!("/api/v1/organisations/{org}/invitations"), Some(&operator));
    list.expect(200);
    assert_eq!(list.json()["items"].as_array().unwrap().len(), 1);
    assert_eq!(list.json()["items"][0]["id"], kept.as_str());
    let audit = app.get(
        &format!("/api/v1/audit-events?entity_type=invitation&entity_id={withdrawn}"),
        Some(&operator),
    );
    assert_eq!(audit.json()["items"][0]["action"], "invitation.revoke");
    // The kept one still works, with the documented field name.
    let token = app.smtp.wait_for("kept@example.org").token("uiti_");
    app.post(
        "/api/v1/invitations/accept",
        None,
        &json!({ "token": token, "name": "Kept", "new_password": "a long enough password" }),
    )
    .expect(201);
    let list = app.get(
        &format!("/api/v1/organisations/{org}/invitations"),
        Some(&org_admin.token),
    );
    assert_eq!(list.json()["items"], json!([]));
}

#[test]
fn admins_list_and_revoke_their_members_api_tokens_without_seeing_secrets() {
    let app = TestApp::spawn();
    let operator = app.admin_token();
    let org = app.create_org(&operator, "supplier");
    let org_admin = app.invite_user(&operator, &org, "admin");
    let member = app.invite_user(&org_admin.token, &org, "member");
    let create = |user: &str, name: &str| {
        let resp = app.post("/api/v1/me/api-tokens", Some(user), &json!({ "name": name }));
        resp.expect(201);
        let body = resp.json();
        (
            body["id"].as_str().unwrap().to_string(),
            body["token"].as_str().unwrap().to_string(),
        )
    };
    let (leaked_id, leaked) = create(&member.token, "leaked harness");
    let (kept_id, kept) = create(&member.token, "nightly");
    let (own_id, _) = create(&org_admin.token, "admin's");
    let outsider = app.user_in_new_org(&operator, "supplier", "admin");
    let (foreign_id, foreign) = create(&outsider.token, "someone else's");

    let list = app.get(
        &format!("/api/v1/organisations/{org}/api-tokens"),
        Some(&org_admin.token),
    );
    list.expect(200);
    for secret in [&leaked, &kept] {
        assert!(!list.body.contains(secret.as_str()), "a secret in the list");
    }
    let items = list.json()["items"].as_array().unwrap().clone();
    assert_eq!(list.ids(), [leaked_id.as_str(), kept_id.as_str(), own_id.as_str()]);
    assert_eq!(items[0]["user_id"], member.id.as_str());
    assert_eq!(items[0]["user_email"], member.email.as_str());
    assert_eq!(items[0]["name"], "leaked harness");
    assert!(items
        .iter()
        .all(|i| i.get("token").is_none() && i.get("token_hash").is_none()));
    let mine = app.get(
        &format!("/api/v1/organisations/{org}/api-tokens?user_id={}", member.id),
        Some(&org_admin.token),
    );
    assert_eq!(mine.json()["items"].as_array().unwrap().len(), 2);

    // A member may not see or revoke the others' tokens; another org's admin neither.
    app.get(&format!("/api/v1/organisations/{org}/api-tokens"), Some(&member.token))
        .expect(403);
    app.get(
        &format!("/api/v1/organisations/{org}/api-tokens"),
        Some(&outsider.token),
    )
    .expect(403);
    app.delete(
        &format!("/api/v1/organisations/{org}/api-tokens/{foreign_id}"),
        Some(&org_admin.token),
    )
    .expect_code(404, "not_found");
    app.get("/api/v1/me", Some(&foreign)).expect(200);

    app.get("/api/v1/me", Some(&leaked)).expect(200);
    app.delete(
        &format!("/api/v1/organisations/{org}/api-tokens/{leaked_id}"),
        Some(&org_admin.token),
    )
    .expect(204);
    app.get("/api/v1/me", Some(&leaked)).expect_code(401, "invalid_token");
    app.get("/api/v1/me", Some(&kept)).expect(200);
    app.delete(
        &format!("/api/v1/organisations/{org}/api-tokens/{leaked_id}"),
        Some(&org_admin.token),
    )
    .expect_code(404, "not_found");
    // The operator admin may too.
    app.delete(
        &format!("/api/v1/organisations/{org}/api-tokens/{kept_id}"),
        Some(&operator),
    )
    .expect(204);
    app.get("/api/v1/me", Some(&kept)).expect(401);
    let left = app.get("/api/v1/me/api-tokens", Some(&member.token));
    assert_eq!(left.json()["items"], json!([]));
}
