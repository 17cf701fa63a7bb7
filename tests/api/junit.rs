//! JUnit uploads: reports as harnesses write them (pytest names, one suite per device set,
//! multipart forms), errors that name the testcase, re-uploads that keep what the report does
//! not say, and hostile reports refused fast.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::fixtures::{world, World, SCENARIOS};
use crate::helpers::{Resp, TestApp};

fn junit(app: &TestApp, w: &World, token: &str, xml: &str, content_type: &str) -> Resp {
    app.send(
        "POST",
        &format!(
            "/api/v1/results/junit?uit_window_id={}&device_set_id={}&visibility=industry",
            w.window, w.sets[1]
        ),
        Some(token),
        &[],
        Some((content_type, xml.as_bytes().to_vec())),
    )
}

#[test]
fn junit_reports_become_results_and_hostile_xml_is_a_clear_400() {
    let app = TestApp::spawn();
    let w = world(&app);
    let report = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites><testsuite name="nightly" timestamp="2026-11-20T22:00:00">
  <testcase name="install_and_commission" time="31.2"/>
  <testcase name="prepayment_top_up"><failure message="credit not applied">PPMID shows &lt;0&gt;</failure></testcase>
  <testcase name="comms_hub_replacement"><skipped/></testcase>
  <testcase name="change_of_mode"><error message="timeout"/></testcase>
</testsuite></testsuites>"#;
    let uploaded = junit(&app, &w, &w.b.token, report, "application/xml");
    uploaded.expect(200);
    assert_eq!(uploaded.json()["created"], 4);
    let results = app
        .get(
            &format!("/api/v1/results?device_set_id={}&org_id={}", w.sets[1], w.b.org_id),
            Some(&w.outsider.token),
        )
        .json();
    let mut outcomes: Vec<(String, String)> = results["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["scenario"].as_str().unwrap().to_string(),
                r["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    outcomes.sort();
    assert_eq!(
        outcomes,
        [
            ("change_of_mode".into(), "fail".into()),
            ("comms_hub_replacement".into(), "not_run".into()),
            ("install_and_commission".into(), "pass".into()),
            ("prepayment_top_up".into(), "fail".into())
        ]
    );
    let failing = results["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["scenario"] == "prepayment_top_up")
        .unwrap();
    assert_eq!(failing["notes"], "credit not applied\nPPMID shows <0>");
    assert_eq!(failing["executed_at"], "2026-11-20T22:00:00Z");
    assert_eq!(junit(&app, &w, &w.b.token, report, "text/xml").json()["unchanged"], 4);

    let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">]><testsuite><testcase name="install_and_commission"><failure>&lol2;</failure></testcase></testsuite>"#;
    let body = junit(&app, &w, &w.b.token, laughs, "application/xml").expect_code(400, "invalid_junit");
    assert!(body["detail"].as_str().unwrap().contains("DOCTYPE"));
    junit(&app, &w, &w.b.token, "<testsuite><testcase name=", "application/xml").expect_code(400, "invalid_junit");
    junit(&app, &w, &w.b.token, report, "application/json").expect_code(415, "unsupported_media_type");
    let unknown = r#"<testsuite><testcase name="not_a_scenario"/></testsuite>"#;
    assert_eq!(
        junit(&app, &w, &w.b.token, unknown, "application/xml").expect_code(422, "validation_failed")["errors"][0]
            ["field"],
        "testcase \"not_a_scenario\" (line 1)"
    );
    let path = format!("/api/v1/results/junit?device_set_id={}", w.sets[1]);
    app.send(
        "POST",
        &path,
        Some(&w.b.token),
        &[],
        Some(("application/xml", report.as_bytes().to_vec())),
    )
    .expect_code(400, "invalid_query");
}

fn upload(app: &TestApp, token: &str, query: &str, content_type: &str, body: Vec<u8>) -> Resp {
    app.send(
        "POST",
        &format!("/api/v1/results/junit?{query}"),
        Some(token),
        &[],
        Some((content_type, body)),
    )
}

/// The caller's results of `org` on `set`, by scenario.
fn results_on(app: &TestApp, token: &str, org: &str, set: &str) -> Vec<Value> {
    let mut items = app
        .get(
            &format!("/api/v1/results?device_set_id={set}&org_id={org}"),
            Some(token),
        )
        .json()["items"]
        .as_array()
        .unwrap()
        .clone();
    items.sort_by_key(|r| r["scenario"].as_str().unwrap().to_string());
    items
}

/// A pytest run over two device sets: one suite has a set's name, the other names its set by
/// a property; parametrised runs of one scenario become one result.
fn pytest_report(w: &World) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<testsuites>
  <testsuite name="set 5000" errors="0" failures="1" skipped="0" tests="3" timestamp="2026-11-20T21:00:00">
    <testcase classname="tests.test_uit" name="test_install_and_commission" time="1.2"/>
    <testcase classname="tests.test_uit" name="test_change_of_mode[credit-to-prepay]" time="0.5"/>
    <testcase classname="tests.test_uit" name="test_change_of_mode[prepay-to-credit]" time="0.7">
      <failure message="AssertionError: mode stuck">tests/test_uit.py:42: AssertionError</failure>
    </testcase>
  </testsuite>
  <testsuite name="pytest" tests="1" timestamp="2026-11-20T22:00:00">
    <properties><property name="device_set_id" value="{set1}"/></properties>
    <testcase classname="tests.test_uit" name="test_prepayment_top_up" time="3.0"/>
  </testsuite>
</testsuites>"#,
        set1 = w.sets[1]
    )
}

/// A form as `curl -F file=@report.xml` sends it.
fn form(xml: &str) -> (String, Vec<u8>) {
    let boundary = "------------------------d74496d66958873e";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"report.xml\"\r\nContent-Type: application/xml\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(xml.as_bytes());
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[test]
fn pytest_reports_with_a_suite_per_device_set_upload_in_one_request_also_as_a_form() {
    let app = TestApp::spawn();
    let w = world(&app);
    let report = pytest_report(&w);
    let (content_type, body) = form(&report);
    let query = format!("uit_window_id={}&visibility=participants", w.window);
    let uploaded = upload(&app, &w.a.token, &query, &content_type, body);
    uploaded.expect(200);
    assert_eq!(uploaded.json()["created"], 3, "{}", uploaded.body);

    let on_set0 = results_on(&app, &w.a.token, &w.a.org_id, &w.sets[0]);
    let scenarios: Vec<(&str, &str)> = on_set0
        .iter()
        .map(|r| (r["scenario"].as_str().unwrap(), r["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        scenarios,
        [("change_of_mode", "fail"), ("install_and_commission", "pass")]
    );
    assert_eq!(
        on_set0[0]["notes"],
        "[credit-to-prepay] pass\n[prepay-to-credit] fail: AssertionError: mode stuck\ntests/test_uit.py:42: AssertionError"
    );
    assert_eq!(on_set0[0]["executed_at"], "2026-11-20T21:00:00Z");
    let on_set1 = results_on(&app, &w.a.token, &w.a.org_id, &w.sets[1]);
    assert_eq!(on_set1.len(), 1);
    assert_eq!(
        (
            &on_set1[0]["scenario"],
            &on_set1[0]["outcome"],
            &on_set1[0]["visibility"]
        ),
        (&json!("prepayment_top_up"), &json!("pass"), &json!("participants"))
    );

    // The same report as plain XML changes nothing; a form's random boundary is no change.
    let again = upload(&app, &w.a.token, &query, "application/xml", report.clone().into_bytes());
    assert_eq!(again.json()["unchanged"], 3, "{}", again.body);
    // A form without a file part says what it wants.
    let bad_form = upload(
        &app,
        &w.a.token,
        &query,
        "multipart/form-data; boundary=b",
        b"--b\r\nContent-Disposition: form-data; name=\"report\"\r\n\r\nx\r\n--b--\r\n".to_vec(),
    );
    let problem = bad_form.expect_code(400, "invalid_junit");
    assert!(problem["detail"].as_str().unwrap().contains("file"), "{problem}");
}

#[test]
fn junit_errors_name_the_testcase_and_list_the_windows_scenarios() {
    let app = TestApp::spawn();
    let w = world(&app);
    let report = r#"<testsuites>
  <testsuite name="set 300">
    <testcase name="test_install_and_commission"/>
    <testcase name="test_meter_reboot[warm]"/>
  </testsuite>
  <testsuite name="bench 7">
    <testcase name="test_prepayment_top_up"/>
  </testsuite>
</testsuites>"#;
    let query = format!("uit_window_id={}", w.window);
    let refused = upload(&app, &w.a.token, &query, "application/xml", report.as_bytes().to_vec());
    let problem = refused.expect_code(422, "validation_failed");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "testcase \"test_meter_reboot[warm]\" in testsuite \"set 300\" (line 4)",
            "testsuite \"bench 7\" (line 6)"
        ],
        "{problem}"
    );
    let message = problem["errors"][0]["message"].as_str().unwrap();
    for code in SCENARIOS {
        assert!(message.contains(code), "{message}");
    }
    assert!(problem["errors"][1]["message"]
        .as_str()
        .unwrap()
        .contains("device_set_id"));
    assert_eq!(problem["context"]["valid_scenarios"], json!(SCENARIOS));
    assert_eq!(
        problem["context"]["report_errors"][0]["testcase"],
        "test_meter_reboot[warm]"
    );
    assert_eq!(problem["context"]["report_errors"][0]["testsuite"], "set 300");
    assert_eq!(problem["context"]["report_errors"][0]["line"], 4);
    assert_eq!(
        results_on(&app, &w.a.token, &w.a.org_id, &w.sets[1]).len(),
        0,
        "nothing was written"
    );

    // A broken report says where it broke.
    let broken = "<testsuite name=\"nightly\">\n  <testcase name=\"test_install_and_commission\">\n    <failure>&nbsp;</failure>\n  </testcase>\n</testsuite>";
    let problem = upload(&app, &w.a.token, &query, "application/xml", broken.as_bytes().to_vec())
        .expect_code(400, "invalid_junit");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("testcase \"test_install_and_commission\" in testsuite \"nightly\" (line 3)"),
        "{detail}"
    );
}

#[test]
fn a_junit_re_upload_keeps_notes_and_visibility_it_does_not_set() {
    let app = TestApp::spawn();
    let w = world(&app);
    let report = r#"<testsuite name="nightly"><testcase name="install_and_commission"/><testcase name="change_of_mode"><failure message="stuck"/></testcase></testsuite>"#;
    let query = format!("uit_window_id={}&device_set_id={}", w.window, w.sets[2]);
    upload(
        &app,
        &w.a.token,
        &format!("{query}&visibility=industry"),
        "application/xml",
        report.as_bytes().to_vec(),
    )
    .expect(200);
    let created = results_on(&app, &w.a.token, &w.a.org_id, &w.sets[2]);
    let passing = created[1]["id"].as_str().unwrap().to_string();
    app.patch(
        &format!("/api/v1/results/{passing}"),
        Some(&w.a.token),
        &json!({ "notes": "PPMID paired on second attempt" }),
    )
    .expect(200);

    // Re-upload without visibility: the failure now passes, nothing else is said.
    let fixed = r#"<testsuite name="nightly"><testcase name="install_and_commission"/><testcase name="change_of_mode"/></testsuite>"#;
    let again = upload(&app, &w.a.token, &query, "application/xml", fixed.as_bytes().to_vec());
    again.expect(200);
    assert_eq!(
        (again.json()["updated"].as_i64(), again.json()["unchanged"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(again.json()["items"][1]["changed"], json!(["outcome"]));
    let now = results_on(&app, &w.b.token, &w.a.org_id, &w.sets[2]);
    assert_eq!(now.len(), 2, "still industry: another organisation reads both");
    assert_eq!(now[1]["notes"], "PPMID paired on second attempt");
    assert_eq!(now[1]["visibility"], "industry");
    assert_eq!(now[0]["outcome"], "pass");
    assert_eq!(now[0]["visibility"], "industry");
}

#[test]
fn a_hostile_report_is_refused_without_quadratic_work() {
    let app = TestApp::spawn();
    let w = world(&app);
    let query = format!("uit_window_id={}&device_set_id={}", w.window, w.sets[0]);
    // 100,000 attributes on one element (1.1 MB): quadratic to check, once 22 s on a worker.
    let attributes: String = (0..100_000).map(|i| format!(" a{i}=\"x\"")).collect();
    let hostile = format!("<testsuite><testcase name=\"install_and_commission\"{attributes}/></testsuite>");
    assert!(hostile.len() > 1_000_000);
    let started = Instant::now();
    let refused = upload(
        &app,
        &w.a.token,
        &query,
        "application/xml",
        hostile.clone().into_bytes(),
    );
    let took = started.elapsed();
    let problem = refused.expect_code(400, "invalid_junit");
    assert!(problem["detail"].as_str().unwrap().contains("attributes"), "{problem}");
    // The quadratic check this guards against took 22 s; a debug build on a busy two-core
    // machine takes up to a second, so the bound leaves room for that and nothing more.
    assert!(took < Duration::from_secs(3), "refusing took {took:?}");
    // As a form too, and the server answers others meanwhile.
    let (content_type, body) = form(&hostile);
    let started = Instant::now();
    upload(&app, &w.a.token, &query, &content_type, body).expect_code(400, "invalid_junit");
    app.get("/healthz", None).expect(200);
    assert!(started.elapsed() < Duration::from_secs(3));
    // Deep, wide and many-element reports hit their bounds with a clear 400 as well.
    let deep = format!("{}{}", "<testsuite>".repeat(40), "</testsuite>".repeat(40));
    let wide = format!("<testsuite>{}</testsuite>", "<property/>".repeat(60_000));
    for (report, says) in [(deep, "deeper"), (wide, "elements")] {
        let problem =
            upload(&app, &w.a.token, &query, "application/xml", report.into_bytes()).expect_code(400, "invalid_junit");
        assert!(problem["detail"].as_str().unwrap().contains(says), "{problem}");
    }
}
