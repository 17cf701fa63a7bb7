//! Manufacturing decisions: which firmware a Comms Hub model is manufactured with from which
//! date, who may decide it, and the notice subscribers get.

use chrono::{Duration, NaiveDate, Utc};
use serde_json::{json, Value};

use crate::fixtures::{firmware, product};
use crate::helpers::{Resp, TestApp};
use crate::notifications::{delivered, wait_until};
use crate::releases::events_of_kind;

fn path(model: &str) -> String {
    format!("/api/v1/device-models/{model}/manufacturing")
}

fn decide(app: &TestApp, token: &str, model: &str, firmware_id: &str, from: NaiveDate, note: &str) -> Resp {
    app.post(
        &path(model),
        Some(token),
        &json!({ "firmware_id": firmware_id, "from_date": from.to_string(), "note": note }),
    )
}

fn invalid_field(resp: &Resp) -> String {
    let body = resp.expect_code(422, "validation_failed");
    body["errors"][0]["field"].as_str().unwrap().to_string()
}

#[test]
fn owners_and_the_operator_decide_what_comms_hubs_are_made_with() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let today = Utc::now().date_naive();
    let csp = app.user_in_new_org(&admin, "service_provider", "member");
    let hub = product(&app, &csp.token, &csp.org_id, "CHF");
    let v20 = firmware(&app, &csp.token, &hub, "2.0", "deployed");
    let v21 = firmware(&app, &csp.token, &hub, "2.1", "approved");
    let pulled = firmware(&app, &csp.token, &hub, "2.2", "withdrawn");

    // The owner records what is made today, the operator what follows.
    let past = decide(&app, &csp.token, &hub, &v20, today - Duration::days(30), "");
    past.expect(201);
    let location = past.header("location").unwrap();
    assert_eq!(location, format!("/api/v1/manufacturing-decisions/{}", past.id()));
    assert_eq!(past.json()["current"], true);
    assert_eq!(past.json()["decided_by_org_id"], csp.org_id);
    let read = app.get(&location, Some(&csp.token));
    read.expect(200);
    assert_eq!(read.json()["firmware_version"], "2.0");
    let next = today + Duration::days(60);
    let body = json!({ "firmware_id": v21, "from_date": next.to_string(), "note": "Proven in deployment." });
    let send = || {
        app.send(
            "POST",
            &path(&hub),
            Some(&admin),
            &[("Idempotency-Key", "mfg-1")],
            Some(("application/json", body.to_string().into_bytes())),
        )
    };
    let future = send();
    future.expect(201);
    assert_eq!(future.json()["current"], false);
    assert_eq!(send().id(), future.id(), "a replayed key answers the first decision");

    // Not the owner's: another manufacturer and the owner's viewer are refused.
    let other = app.user_in_new_org(&admin, "manufacturer", "member");
    let viewer = app.invite_user(&admin, &csp.org_id, "viewer");
    for token in [&other.token, &viewer.token] {
        decide(&app, token, &hub, &v21, today + Duration::days(90), "").expect_code(403, "forbidden");
    }
    // Only Comms Hubs, only this model's live versions, one decision a day.
    let esme = product(&app, &admin, &other.org_id, "ESME");
    let esme_fw = firmware(&app, &admin, &esme, "1.0", "deployed");
    assert_eq!(invalid_field(&decide(&app, &admin, &esme, &esme_fw, next, "")), "id");
    let other_hub = product(&app, &admin, &csp.org_id, "CHF");
    let foreign_fw = firmware(&app, &admin, &other_hub, "2.1", "approved");
    for fw in [&foreign_fw, &pulled] {
        assert_eq!(
            invalid_field(&decide(&app, &admin, &hub, fw, today + Duration::days(90), "")),
            "firmware_id"
        );
    }
    let again = decide(&app, &csp.token, &hub, &v20, next, "");
    let problem = again.expect_code(409, "manufacturing_decision_exists");
    assert_eq!(problem["context"]["existing_id"], future.id());

    // Every organisation reads them, newest date first, the one in force marked.
    let supplier = app.user_in_new_org(&admin, "supplier", "viewer");
    let list = app.get(&path(&hub), Some(&supplier.token));
    list.expect(200);
    assert_eq!(list.ids(), vec![future.id(), past.id()]);
    let items: Vec<(Value, Value)> = list.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["firmware_version"].clone(), d["current"].clone()))
        .collect();
    assert_eq!(items, vec![(json!("2.1"), json!(false)), (json!("2.0"), json!(true))]);
    let first = app.get(&format!("{}?limit=1", path(&hub)), Some(&supplier.token));
    assert_eq!(first.ids(), vec![future.id()]);
    let cursor = first.json()["next_cursor"].as_str().unwrap().to_string();
    let rest = app.get(
        &format!("{}?limit=1&cursor={cursor}", path(&hub)),
        Some(&supplier.token),
    );
    assert_eq!(rest.ids(), vec![past.id()]);
    assert_eq!(rest.json()["next_cursor"], Value::Null);
    let none = app.get(&path(&esme), Some(&supplier.token));
    assert!(none.json()["items"].as_array().unwrap().is_empty());
}

#[test]
fn a_decision_is_a_change_event_and_subscribers_of_the_model_hear_of_it() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let hubs = app.user_in_new_org(&admin, "supplier", "member");
    let meters = app.user_in_new_org(&admin, "supplier", "member");
    for (user, device_type) in [(&hubs, "CHF"), (&meters, "ESME")] {
        app.post(
            "/api/v1/subscriptions",
            Some(&user.token),
            &json!({ "topics": ["retirements"], "filters": { "device_types": [device_type] } }),
        )
        .expect(201);
    }
    let maker = app.create_org(&admin, "manufacturer");
    let hub = product(&app, &admin, &maker, "CHF");
    let v20 = firmware(&app, &admin, &hub, "2.0", "deployed");
    let v21 = firmware(&app, &admin, &hub, "2.1", "approved");
    let from = NaiveDate::from_ymd_opt(2027, 2, 1).unwrap();
    decide(&app, &admin, &hub, &v20, from - Duration::days(365), "").expect(201);
    decide(&app, &admin, &hub, &v21, from, "After UIT-2027-01.").expect(201);

    let events = events_of_kind(&app, &admin, &v21, "firmware.manufacturing");
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event["topic"], "retirements");
    assert_eq!(event["entity_type"], "firmware");
    assert_eq!(event["device_model_ids"], json!([hub]));
    assert_eq!(event["device_types"], json!(["CHF"]));
    let summary = event["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("Comms Hubs of CHF model")
            && summary.ends_with("are manufactured with firmware 2.1 from 2027-02-01"),
        "{summary}"
    );
    assert_eq!(event["details"]["previous_version"], "2.0");

    let notices = |email: &str| {
        app.smtp
            .received()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(email)) && m.header("List-Unsubscribe").is_some())
            .filter(|m| {
                m.header("Subject")
                    .is_some_and(|s| s.contains("manufactured with firmware"))
            })
            .collect::<Vec<_>>()
    };
    wait_until(15, "the Comms Hub subscriber's notice", || {
        notices(&hubs.email).len() == 2
    });
    delivered(&app);
    let mail = notices(&hubs.email);
    let notice = mail
        .iter()
        .find(|m| m.header("Subject").unwrap().contains("firmware 2.1"))
        .expect("the notice of 2.1");
    assert!(
        notice.header("Subject").unwrap().contains("from Mon 1 Feb 2027"),
        "{:?}",
        notice.header("Subject")
    );
    let text = notice.decoded();
    assert!(text.contains("following firmware 2.0 (manufactured from"), "{text}");
    assert!(text.contains("After UIT-2027-01."), "{text}");
    assert!(notices(&meters.email).is_empty(), "the ESME subscriber hears nothing");
}
