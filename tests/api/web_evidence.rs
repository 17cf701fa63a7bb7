//! The evidence pages (src/web/evidence.rs): a window's readiness and review packs, a pack's
//! page with its verdicts, the reviewers' verdict form, the operator's freeze form and the
//! downloads, seen from each side.

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::fixtures::{publish, world, SCENARIOS};
use crate::helpers::{TestApp, ADMIN_EMAIL};
use crate::web::{assert_html_headers, hidden, Browser};

#[test]
fn reviewers_read_readiness_and_packs_and_record_verdicts_in_the_browser() {
    let app = TestApp::spawn();
    let w = world(&app);
    app.patch(
        &format!("/api/v1/uit-windows/{}", w.window),
        Some(&w.admin),
        &json!({ "exit_criteria": { "min_publishing_suppliers": 2, "max_unexplained_failures": 0 } }),
    )
    .expect(200);
    publish(
        &app,
        &w.a.token,
        &w.window,
        &w.sets[2],
        SCENARIOS[0],
        "pass",
        "industry",
    )
    .expect(201);
    let secret = format!("participants-only-{}", uuid::Uuid::new_v4().simple());
    app.post(
        "/api/v1/results",
        Some(&w.b.token),
        &json!({ "uit_window_id": w.window, "device_set_id": w.sets[0], "scenario": SCENARIOS[0],
                 "outcome": "fail", "visibility": "participants", "notes": secret }),
    )
    .expect(201);
    let readiness = format!("/windows/{}/readiness", w.window);

    // The window page links to it; a participant sees both suppliers and the failure.
    let mut a = Browser::signed_in(&app, &w.a.email);
    assert!(a.get(&format!("/windows/{}", w.window)).body.contains(&readiness));
    let page = a.get(&readiness);
    assert_eq!(page.status, 200);
    assert_html_headers(&page);
    assert!(page.body.contains("Not every exit criterion is met"), "{}", page.body);
    assert!(
        page.body.contains("failure(s) no defect mask explains"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("Freeze a review pack"), "only the operator freezes");

    // A reviewer is no participant: one supplier, no failure.
    let mut reviewer = Browser::signed_in(&app, &w.reviewer.email);
    let page = reviewer.get(&readiness);
    assert!(
        page.body.contains("At least 2 suppliers published shared results"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("failure(s) no defect mask explains"),
        "{}",
        page.body
    );

    // The operator freezes a pack from the page; the form needs its CSRF token.
    let mut operator = Browser::signed_in(&app, ADMIN_EMAIL);
    let page = operator.get(&readiness);
    let csrf = hidden(&page.body, "csrf");
    let freeze = format!("/windows/{}/review-packs", w.window);
    assert_eq!(
        operator.post(&freeze, &[("csrf", "forged"), ("title", "x")]).status,
        403
    );
    let made = operator.post(&freeze, &[("csrf", &csrf), ("title", "Exit review <1>")]);
    assert_eq!(made.status, 303, "{}", made.body);
    let pack_page = made.header("location").unwrap();
    assert!(pack_page.starts_with("/review-packs/"));
    let pack_id = pack_page.trim_start_matches("/review-packs/").to_string();

    // A supplier may not freeze through a forged-free form either.
    let page = a.get(&readiness);
    let a_csrf = hidden(&page.body, "csrf");
    assert_eq!(a.post(&freeze, &[("csrf", &a_csrf)]).status, 403);

    // The pack page: escaped title, the hash of the very bytes the download gives.
    let page = reviewer.get(&pack_page);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Exit review &#60;1&#62;"), "{}", page.body);
    assert!(!page.body.contains(&secret), "a pack holds industry evidence only");
    let download = reviewer.get(&format!("{pack_page}/pack.json"));
    assert_eq!(download.status, 200);
    let sha = hex::encode(Sha256::digest(download.body.as_bytes()));
    assert!(page.body.contains(&sha), "the page shows the download's SHA-256");
    assert!(!download.body.contains(&secret));
    let csv = reviewer.get(&format!("{pack_page}/results.csv"));
    assert!(csv.body.starts_with("result_id,"), "{}", csv.body);
    assert!(page.body.contains("This is the window's first pack."));

    // Reviewers record a verdict; a concern needs its comment; suppliers get no form.
    let csrf = hidden(&page.body, "csrf");
    let verdicts = format!("{pack_page}/reviews");
    let bare = reviewer.post(&verdicts, &[("csrf", &csrf), ("verdict", "concerns"), ("comment", "")]);
    assert_eq!(bare.status, 422, "{}", bare.body);
    assert!(bare.body.contains("say what the concerns are about"), "{}", bare.body);
    let done = reviewer.post(
        &verdicts,
        &[
            ("csrf", &csrf),
            ("verdict", "concerns"),
            ("comment", "GSME prepayment untested"),
        ],
    );
    assert_eq!(done.status, 303, "{}", done.body);
    let page = reviewer.get(&pack_page);
    assert!(page.body.contains("GSME prepayment untested"), "{}", page.body);
    let supplier_view = a.get(&pack_page);
    assert!(!supplier_view.body.contains("Record the verdict"));
    assert!(
        supplier_view.body.contains("GSME prepayment untested"),
        "verdicts are as public as the pack"
    );
    assert_eq!(
        a.post(&verdicts, &[("csrf", &a_csrf), ("verdict", "approve")]).status,
        403
    );

    // A second pack names what changed since the first.
    publish(
        &app,
        &w.b.token,
        &w.window,
        &w.sets[1],
        SCENARIOS[1],
        "pass",
        "industry",
    )
    .expect(201);
    let second = app.post(
        &freeze.replace("/windows", "/api/v1/uit-windows"),
        Some(&w.admin),
        &json!({}),
    );
    second.expect(201);
    let page = reviewer.get(&format!("/review-packs/{}", second.id()));
    assert!(page.body.contains(&format!("/review-packs/{pack_id}")), "{}", page.body);
    assert!(page.body.contains("1 result(s) added"), "{}", page.body);

    // A viewer (of the reviewer organisation, and of a supplier) reads the pages and the
    // downloads but gets no form, and the domain refuses its POSTs with the page's own token.
    let reviewer_viewer = app.invite_user(&w.admin, &w.reviewer.org_id, "viewer");
    for viewer in [&reviewer_viewer, &w.a_viewer] {
        let mut v = Browser::signed_in(&app, &viewer.email);
        let page = v.get(&pack_page);
        assert_eq!(page.status, 200);
        assert!(page.body.contains("GSME prepayment untested"));
        assert!(
            !page.body.contains("Record the verdict"),
            "a viewer got the verdict form"
        );
        assert!(!page.body.contains(&secret));
        let download = v.get(&format!("{pack_page}/pack.json"));
        assert_eq!(hex::encode(Sha256::digest(download.body.as_bytes())), sha);
        let csrf = hidden(&page.body, "csrf");
        assert_eq!(
            v.post(&verdicts, &[("csrf", &csrf), ("verdict", "approve")]).status,
            403
        );
        let ready = v.get(&readiness);
        assert!(!ready.body.contains("Freeze a review pack"));
        assert_eq!(v.post(&freeze, &[("csrf", &csrf)]).status, 403);
    }
    // The supplier's viewer reads its organisation's participants-level evidence; the
    // reviewer's viewer does not.
    assert!(Browser::signed_in(&app, &w.a_viewer.email)
        .get(&readiness)
        .body
        .contains("failure(s) no defect mask explains"));
    assert!(!Browser::signed_in(&app, &reviewer_viewer.email)
        .get(&readiness)
        .body
        .contains("failure(s) no defect mask explains"));

    // Signed out: to the sign-in page; a missing pack: the 404 page.
    let mut anonymous = Browser::new(&app);
    assert_eq!(anonymous.get(&pack_page).status, 303);
    assert_eq!(
        reviewer
            .get("/review-packs/01900000-0000-7000-8000-000000000000")
            .status,
        404
    );
}
