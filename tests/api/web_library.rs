//! The reference pages (releases, firmware, defect masks, roadmap, library contacts, calendar)
//! and the subscriptions page: each shows what the API shows the same person, and the
//! subscription forms change what the API then reads.

use chrono::{Duration, Utc};
use serde_json::{json, Value};

use crate::fixtures::{firmware, product};
use crate::helpers::TestApp;
use crate::releases::{at, id, move_to, release};
use crate::roadmaps::{item, MISSING};
use crate::web::{hidden, Browser};

fn location(resp: &crate::helpers::Resp) -> String {
    resp.header("location").unwrap_or_default()
}

#[test]
fn private_roadmap_items_appear_only_for_their_owner_on_the_roadmap_and_calendar() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let maker = app.user_in_new_org(&admin, "manufacturer", "admin");
    let other = app.user_in_new_org(&admin, "supplier", "member");
    let model = product(&app, &maker.token, &maker.org_id, "ESME");
    let soon = (Utc::now().date_naive() + Duration::days(30)).to_string();
    let secret = item(
        &app,
        &maker.token,
        &model,
        json!({ "summary": "Secret private plan ZX1", "visibility": "private", "status": "committed", "planned_date": soon }),
    );
    let public = item(
        &app,
        &maker.token,
        &model,
        json!({ "summary": "Public plan QY2 <b>bold</b>", "visibility": "industry", "status": "committed", "planned_date": soon }),
    );
    let (secret, public) = (id(&secret), id(&public));

    // Signed out: sign in first, then back here.
    let mut anon = Browser::new(&app);
    let first = anon.get("/roadmap");
    assert_eq!(first.status, 303);
    assert_eq!(location(&first), "/sign-in?next=%2Froadmap");

    let mut theirs = Browser::signed_in(&app, &other.email);
    let page = theirs.get("/roadmap");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Public plan QY2 &#60;b&#62;bold&#60;/b&#62;"),
        "{}",
        page.body
    );
    assert!(page.body.contains(&format!("id=\"item-{public}\"")));
    assert!(!page.body.contains("Secret private plan ZX1"), "{}", page.body);
    assert!(!page.body.contains(&secret));
    let hop = theirs.get(&format!("/roadmap/{public}"));
    assert_eq!(hop.status, 303);
    assert_eq!(location(&hop), format!("/roadmap#item-{public}"));
    assert_eq!(theirs.get(&format!("/roadmap/{secret}")).status, 404);
    assert_eq!(theirs.get(&format!("/roadmap/{MISSING}")).status, 404);
    let calendar = theirs.get("/calendar");
    assert_eq!(calendar.status, 200);
    assert!(
        calendar.body.contains(&format!("/roadmap/{public}")),
        "{}",
        calendar.body
    );
    assert!(
        !calendar.body.contains(&format!("/roadmap/{secret}")),
        "{}",
        calendar.body
    );

    let mut owner = Browser::signed_in(&app, &maker.email);
    let page = owner.get("/roadmap");
    assert!(page.body.contains("Secret private plan ZX1"), "{}", page.body);
    assert!(page.body.contains(&format!("id=\"item-{secret}\"")));
    let hop = owner.get(&format!("/roadmap/{secret}"));
    assert_eq!(hop.status, 303);
    assert_eq!(location(&hop), format!("/roadmap#item-{secret}"));
    let calendar = owner.get("/calendar");
    assert!(
        calendar.body.contains(&format!("/roadmap/{secret}")),
        "{}",
        calendar.body
    );

    // Viewers read as their organisation does: the owner's viewer sees the private item,
    // the other organisation's viewer does not.
    for (org, sees) in [(&maker.org_id, true), (&other.org_id, false)] {
        let viewer = app.invite_user(&admin, org, "viewer");
        let mut browser = Browser::signed_in(&app, &viewer.email);
        let page = browser.get("/roadmap");
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(page.body.contains("Secret private plan ZX1"), sees, "{}", page.body);
        let calendar = browser.get("/calendar");
        assert_eq!(
            calendar.body.contains(&format!("/roadmap/{secret}")),
            sees,
            "{}",
            calendar.body
        );
        assert_eq!(
            browser.get(&format!("/roadmap/{secret}")).status,
            if sees { 303 } else { 404 }
        );
    }

    // The API agrees with both pages.
    let seen = |token: &str| app.get("/api/v1/roadmap-items", Some(token)).ids();
    assert!(!seen(&other.token).contains(&secret) && seen(&maker.token).contains(&secret));
}

#[test]
fn release_firmware_mask_and_contact_pages_show_the_api_s_facts_with_names_escaped() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let maker = app.user_in_new_org(&admin, "manufacturer", "admin");
    let other = app.user_in_new_org(&admin, "supplier", "viewer");
    let model = product(&app, &maker.token, &maker.org_id, "GSME");
    let fw = firmware(&app, &maker.token, &model, "7.2.1", "deployed");
    let retires = (Utc::now().date_naive() + Duration::days(40)).to_string();
    app.patch(
        &format!("/api/v1/firmware/{fw}"),
        Some(&maker.token),
        &json!({ "retirement_date": retires, "notes": "<script>alert('fw')</script>" }),
    )
    .expect(200);

    // A release with a window and a decided move.
    let rel = release(&app, &admin, "sec_release");
    let rel_id = id(&rel);
    move_to(&app, &admin, &rel_id, "pit", None).expect(200);
    let window = app.post(
        "/api/v1/uit-windows",
        Some(&admin),
        &json!({ "release_id": rel_id, "name": "UIT-WEB-LIB", "opens_at": at(Duration::days(3)), "closes_at": at(Duration::days(20)) }),
    );
    window.expect(201);
    let window_id = id(&window.json());

    // A defect mask with a hostile title (masks are industry-visible: any member reads them).
    let mask = app.post(
        "/api/v1/defect-masks",
        Some(&admin),
        &json!({ "code": "DM-0777", "title": "<img src=x onerror=alert(3)> join fails", "severity": "major",
                 "device_model_id": model, "affected_firmware_ids": [fw], "symptom": "Leaves the HAN", "workaround": "Re-pair" }),
    );
    mask.expect(201);
    let mask_id = id(&mask.json());

    // Two contacts: one confirmed lately, one stale.
    let contact = |verified: i64, name: &str| -> Value {
        let resp = app.post(
            "/api/v1/library-contacts",
            Some(&maker.token),
            &json!({ "manufacturer_org_id": maker.org_id, "contact_name": name, "email": "desk@maker.example",
                     "notes": "", "verified_on": (Utc::now().date_naive() - Duration::days(verified)).to_string() }),
        );
        resp.expect(201);
        resp.json()
    };
    let fresh = id(&contact(10, "Fresh desk"));
    let stale = id(&contact(400, "Stale desk"));

    let mut b = Browser::signed_in(&app, &other.email);
    let page = b.get(&format!("/releases/{rel_id}"));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(rel["name"].as_str().unwrap()));
    assert!(
        page.body.contains(&format!("href=\"/windows/{window_id}\"")),
        "{}",
        page.body
    );
    assert!(page.body.contains("UIT-WEB-LIB"));
    assert!(page.body.contains("Agreed to move to pit"), "{}", page.body);
    assert_eq!(b.get(&format!("/releases/{MISSING}")).status, 404);

    let page = b.get(&format!("/firmware/{fw}"));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("7.2.1") && page.body.contains("deployed"));
    assert!(page.body.contains("GSME"));
    assert!(!page.body.contains("<script>alert('fw')"), "{}", page.body);
    assert!(page.body.contains("DM-0777"), "the mask naming it: {}", page.body);
    assert!(!page.body.contains(&maker.org_id), "names, not ids");
    assert_eq!(b.get(&format!("/firmware/{MISSING}")).status, 404);

    let list = b.get("/defect-masks");
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains("1 defect mask."), "{}", list.body);
    assert!(list.body.contains("DM-0777"));
    assert!(!list.body.contains("<img src=x"), "{}", list.body);
    assert!(list.body.contains("&#60;img src=x onerror=alert(3)&#62; join fails"));
    let filtered = b.get("/defect-masks?status=fixed");
    assert!(filtered.body.contains("0 defect masks match"), "{}", filtered.body);
    let detail = b.get(&format!("/defect-masks/{mask_id}"));
    assert_eq!(detail.status, 200);
    assert!(detail.body.contains("Re-pair") && detail.body.contains("7.2.1"));
    assert_eq!(b.get(&format!("/defect-masks/{MISSING}")).status, 404);

    let contacts = b.get("/library-contacts");
    assert_eq!(contacts.status, 200, "{}", contacts.body);
    assert!(contacts.body.contains("2 contacts, 1 stale."), "{}", contacts.body);
    assert!(contacts.body.contains("stale: last confirmed"), "{}", contacts.body);
    assert!(contacts.body.contains(&format!("id=\"contact-{stale}\"")));
    let hop = b.get(&format!("/library-contacts/{fresh}"));
    assert_eq!(hop.status, 303);
    assert_eq!(location(&hop), format!("/library-contacts#contact-{fresh}"));
    assert_eq!(b.get(&format!("/library-contacts/{MISSING}")).status, 404);

    let calendar = b.get("/calendar");
    assert!(calendar.body.contains(&format!("/firmware/{fw}")), "{}", calendar.body);
    assert!(calendar.body.contains(&format!("/windows/{window_id}")));
}

fn subscriptions_of(app: &TestApp, token: &str) -> Vec<Value> {
    app.get("/api/v1/subscriptions", Some(token)).json()["items"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn subscriptions_are_made_changed_and_ended_through_the_forms_as_through_the_api() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let me = app.user_in_new_org(&admin, "supplier", "viewer");
    let someone = app.user_in_new_org(&admin, "supplier", "member");
    let theirs = app.post(
        "/api/v1/subscriptions",
        Some(&someone.token),
        &json!({ "topics": ["roadmaps"], "mode": "immediate" }),
    );
    theirs.expect(201);
    let theirs = id(&theirs.json());

    let mut b = Browser::signed_in(&app, &me.email);
    let page = b.get("/subscriptions");
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = hidden(&page.body, "csrf");

    // No topic: the domain's refusal next to the field, the form re-filled, nothing made.
    let refused = b.post(
        "/subscriptions",
        &[("csrf", &csrf), ("device_types", "ESME"), ("mode", "daily_digest")],
    );
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("Topics: must name at least one topic."),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("name=\"device_types\" value=\"ESME\" checked"));
    assert!(subscriptions_of(&app, &me.token).is_empty());

    // A forged form (no token, a wrong token) is 403 and makes nothing.
    for fields in [
        vec![("topics", "releases"), ("mode", "immediate")],
        vec![("csrf", "forged"), ("topics", "releases"), ("mode", "immediate")],
    ] {
        assert_eq!(b.post("/subscriptions", &fields).status, 403);
    }
    assert!(subscriptions_of(&app, &me.token).is_empty());

    let made = b.post(
        "/subscriptions",
        &[
            ("csrf", &csrf),
            ("topics", "releases"),
            ("topics", "defect_masks"),
            ("device_types", "ESME"),
            ("mode", "immediate"),
        ],
    );
    assert_eq!(made.status, 303, "{}", made.body);
    assert_eq!(location(&made), "/subscriptions");
    let mine = subscriptions_of(&app, &me.token);
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["topics"], json!(["releases", "defect_masks"]));
    assert_eq!(mine[0]["filters"]["device_types"], json!(["ESME"]));
    assert_eq!(mine[0]["mode"], "immediate");
    let sub = mine[0]["id"].as_str().unwrap().to_string();
    let page = b.get("/subscriptions");
    assert!(page.body.contains("My subscriptions (1)"), "{}", page.body);

    let changed = b.post(
        &format!("/subscriptions/{sub}"),
        &[("csrf", &csrf), ("topics", "releases"), ("mode", "daily_digest")],
    );
    assert_eq!(changed.status, 303, "{}", changed.body);
    let mine = subscriptions_of(&app, &me.token);
    assert_eq!(mine[0]["topics"], json!(["releases"]));
    assert_eq!(mine[0]["mode"], "daily_digest");
    assert_eq!(mine[0]["filters"]["device_types"], json!([]));

    // A change without a topic is refused on that subscription's form, unchanged.
    let refused = b.post(
        &format!("/subscriptions/{sub}"),
        &[("csrf", &csrf), ("mode", "immediate")],
    );
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("Topics: must name at least one topic."));
    assert_eq!(subscriptions_of(&app, &me.token)[0]["mode"], "daily_digest");

    // Someone else's subscription: 404 for change and delete, and it stays as it was.
    let before = app.get(&format!("/api/v1/subscriptions/{theirs}"), Some(&someone.token));
    before.expect(200);
    let not_mine = b.post(
        &format!("/subscriptions/{theirs}"),
        &[("csrf", &csrf), ("topics", "releases"), ("mode", "daily_digest")],
    );
    assert_eq!(not_mine.status, 404, "{}", not_mine.body);
    assert_eq!(
        b.post(
            &format!("/subscriptions/{theirs}"),
            &[("csrf", &csrf), ("mode", "daily_digest")]
        )
        .status,
        404
    );
    assert_eq!(
        b.post(&format!("/subscriptions/{theirs}/delete"), &[("csrf", &csrf)])
            .status,
        404
    );
    let after = app.get(&format!("/api/v1/subscriptions/{theirs}"), Some(&someone.token));
    after.expect(200);
    assert_eq!(before.json(), after.json());

    // Ending without the token is 403; with it, the API lists nothing.
    assert_eq!(b.post(&format!("/subscriptions/{sub}/delete"), &[]).status, 403);
    assert_eq!(subscriptions_of(&app, &me.token).len(), 1);
    let ended = b.post(&format!("/subscriptions/{sub}/delete"), &[("csrf", &csrf)]);
    assert_eq!(ended.status, 303, "{}", ended.body);
    assert!(subscriptions_of(&app, &me.token).is_empty());

    // Recorded as the API records them.
    let audit = app.get(&format!("/api/v1/audit-events?entity_id={sub}"), Some(&admin));
    audit.expect(200);
    let actions: Vec<String> = audit.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default().to_string())
        .collect();
    for action in ["subscription.create", "subscription.update", "subscription.delete"] {
        assert!(actions.iter().any(|a| a == action), "{action} in {actions:?}");
    }
}

#[test]
fn the_calendar_page_makes_a_feed_link_only_from_its_own_form() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let me = app.user_in_new_org(&admin, "supplier", "viewer");
    let mut b = Browser::signed_in(&app, &me.email);
    let page = b.get("/calendar");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Create my calendar feed link"));
    assert_eq!(b.post("/calendar", &[]).status, 403);
    let csrf = hidden(&page.body, "csrf");
    let made = b.post("/calendar", &[("csrf", &csrf)]);
    assert_eq!(made.status, 200, "{}", made.body);
    let start = made.body.find("/api/v1/calendar.ics?token=").expect("the feed link");
    let end = start + made.body[start..].find('"').unwrap();
    let path = &made.body[start..end];
    let feed = app.get(path, None);
    feed.expect(200);
    assert!(feed.body.starts_with("BEGIN:VCALENDAR"));
    // A second link ends the first.
    let again = b.post("/calendar", &[("csrf", &csrf)]);
    assert_eq!(again.status, 200);
    assert_eq!(app.get(path, None).status, 404);
}
