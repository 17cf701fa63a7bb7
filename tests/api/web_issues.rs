//! The UIT issue pages and result comments in the browser (src/web/issues.rs,
//! src/web/comments.rs): who sees an issue and its evidence, the moves each party's buttons
//! make, a stale page, comments on a cell's results, and the other side of each.

use serde_json::json;

use crate::fixtures::{publish, world, SCENARIOS};
use crate::helpers::TestApp;
use crate::web::{assert_html_headers, hidden, Browser};

const MISSING: &str = "01900000-0000-7000-8000-000000000000";

/// The issue's current version, as the page's hidden field carries it.
fn hidden_version(app: &TestApp, w: &crate::fixtures::World, issue: &str) -> String {
    app.get(&format!("/api/v1/uit-issues/{issue}"), Some(&w.a.token)).json()["version"].to_string()
}

#[test]
fn issues_are_read_and_moved_on_their_pages_by_their_parties_only() {
    let app = TestApp::spawn();
    let w = world(&app);
    let secret = format!(
        "seen-only-by-participants-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let result = publish(
        &app,
        &w.a.token,
        &w.window,
        &w.sets[0],
        SCENARIOS[0],
        "fail",
        "participants",
    );
    let result = result.expect(201).id();
    let issue = app.post(
        "/api/v1/uit-issues",
        Some(&w.a.token),
        &json!({ "uit_window_id": w.window, "title": "Top-up <lost> after a hub swap", "description": secret,
                 "severity": "blocking", "device_set_ids": [w.sets[0]], "result_ids": [result],
                 "resolving_org_id": w.maker.org_id }),
    );
    let issue = issue.expect(201).id();
    let page = format!("/uit-issues/{issue}");
    let list = format!("/windows/{}/issues", w.window);

    // A participant: the window links to the list, the list to the issue, the issue to the
    // cell of the result behind it; the title is text, not markup.
    let mut b = Browser::signed_in(&app, &w.b.email);
    assert!(b.get(&format!("/windows/{}", w.window)).body.contains(&list));
    let listed = b.get(&list);
    assert_eq!(listed.status, 200);
    assert_html_headers(&listed);
    assert!(listed.body.contains(&page), "{}", listed.body);
    assert!(listed.body.contains("1 of them blocking"), "{}", listed.body);
    assert!(
        listed.body.contains("Top-up &#60;lost&#62; after a hub swap"),
        "{}",
        listed.body
    );
    let shown = b.get(&page);
    assert_eq!(shown.status, 200);
    assert!(shown.body.contains(&secret));
    assert!(
        shown.body.contains(&format!(
            "/windows/{}/cell?device_set={}&#38;scenario={}",
            w.window, w.sets[0], SCENARIOS[0]
        )),
        "{}",
        shown.body
    );
    assert!(
        !shown.body.contains("Move it on"),
        "a bystander has no moves: {}",
        shown.body
    );

    // The outsider and the reviewer: the page is the 404 of a missing issue; the list is empty.
    for user in [&w.outsider, &w.reviewer] {
        let mut other = Browser::signed_in(&app, &user.email);
        let hidden_page = other.get(&page);
        assert_eq!(hidden_page.status, 404);
        assert_eq!(hidden_page.body, other.get(&format!("/uit-issues/{MISSING}")).body);
        let empty = other.get(&list);
        assert_eq!(empty.status, 200);
        assert!(
            !empty.body.contains(&issue) && !empty.body.contains("hub swap"),
            "{}",
            empty.body
        );
    }

    // Viewers of the resolver and of the raiser read the issue but get no buttons, and a move
    // posted with their own page's token is refused.
    for org in [&w.maker.org_id, &w.a.org_id] {
        let viewer = app.invite_user(&w.admin, org, "viewer");
        let mut v = Browser::signed_in(&app, &viewer.email);
        let shown = v.get(&page);
        assert_eq!(shown.status, 200);
        assert!(shown.body.contains(&secret), "{}", shown.body);
        assert!(
            !shown.body.contains("Move it on"),
            "a viewer has no moves: {}",
            shown.body
        );
        let csrf = hidden(&shown.body, "csrf");
        let refused = v.post(
            &format!("{page}/transitions"),
            &[
                ("csrf", &csrf),
                ("to", "triaged"),
                ("version", &hidden_version(&app, &w, &issue)),
            ],
        );
        assert_eq!(refused.status, 403, "{}", refused.body);
    }
    assert_eq!(
        app.get(&format!("/api/v1/uit-issues/{issue}"), Some(&w.a.token)).json()["status"],
        "open",
        "no viewer moved it"
    );

    // The resolver triages it; won't-fix needs a reason, and says so on the page.
    let mut maker = Browser::signed_in(&app, &w.maker.email);
    let shown = maker.get(&page);
    assert!(shown.body.contains("Mark as triaged"), "{}", shown.body);
    let csrf = hidden(&shown.body, "csrf");
    let version = hidden(&shown.body, "version");
    assert_eq!(
        maker
            .post(
                &format!("{page}/transitions"),
                &[("csrf", "forged"), ("to", "triaged"), ("version", &version)]
            )
            .status,
        403
    );
    let moved = maker.post(
        &format!("{page}/transitions"),
        &[
            ("csrf", &csrf),
            ("to", "triaged"),
            ("version", &version),
            ("comment", "Reproduced."),
        ],
    );
    assert_eq!(moved.status, 303, "{}", moved.body);
    let shown = maker.get(&page);
    assert!(
        shown.body.contains("open to triaged") && shown.body.contains("Reproduced."),
        "{}",
        shown.body
    );
    let version = hidden(&shown.body, "version");
    let refused = maker.post(
        &format!("{page}/transitions"),
        &[
            ("csrf", &csrf),
            ("to", "wont_fix"),
            ("version", &version),
            ("comment", " "),
        ],
    );
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("must give the reason"), "{}", refused.body);

    // A page from before the triage is stale: its move is not applied.
    let stale = maker.post(
        &format!("{page}/transitions"),
        &[("csrf", &csrf), ("to", "resolved"), ("version", "1")],
    );
    assert_eq!(stale.status, 409, "{}", stale.body);
    assert!(stale.body.contains("Someone changed this issue"), "{}", stale.body);
    // A participant's forged move is refused whatever the page showed.
    let b_csrf = hidden(&b.get(&page).body, "csrf");
    let forged = b.post(
        &format!("{page}/transitions"),
        &[("csrf", &b_csrf), ("to", "resolved"), ("version", &version)],
    );
    assert_eq!(forged.status, 403);
    let api = app.get(&format!("/api/v1/uit-issues/{issue}"), Some(&w.a.token)).json();
    assert_eq!(api["status"], "triaged", "nothing else moved it");

    // The readiness page links to the window's issues.
    let mut a = Browser::signed_in(&app, &w.a.email);
    let readiness = a.get(&format!("/windows/{}/readiness", w.window));
    assert!(readiness.body.contains(&list), "{}", readiness.body);
}

#[test]
fn comments_on_a_cells_results_are_read_and_written_by_the_results_readers() {
    let app = TestApp::spawn();
    let w = world(&app);
    let shared = publish(
        &app,
        &w.a.token,
        &w.window,
        &w.sets[1],
        SCENARIOS[1],
        "fail",
        "participants",
    )
    .expect(201)
    .id();
    let public = publish(
        &app,
        &w.b.token,
        &w.window,
        &w.sets[1],
        SCENARIOS[1],
        "pass",
        "industry",
    )
    .expect(201)
    .id();
    let cell = format!(
        "/windows/{}/cell?device_set={}&scenario={}",
        w.window, w.sets[1], SCENARIOS[1]
    );

    // A participant comments on the shared failure; the form returns to its thread.
    let mut b = Browser::signed_in(&app, &w.b.email);
    let page = b.get(&cell);
    assert_eq!(page.status, 200);
    let csrf = hidden(&page.body, "csrf");
    let note = "Same on our rig <b>after</b> the reboot.";
    assert_eq!(
        b.post(
            &format!("/results/{shared}/comments"),
            &[("csrf", "forged"), ("body", note)]
        )
        .status,
        403
    );
    let posted = b.post(
        &format!("/results/{shared}/comments"),
        &[("csrf", &csrf), ("body", note)],
    );
    assert_eq!(posted.status, 303, "{}", posted.body);
    let back = posted.header("location").unwrap_or_default();
    assert!(back.ends_with(&format!("#r-{shared}")), "{back}");
    let page = b.get(&cell);
    assert!(
        page.body
            .contains("Same on our rig &#60;b&#62;after&#60;/b&#62; the reboot."),
        "{}",
        page.body
    );
    let api = app
        .get(&format!("/api/v1/results/{shared}/comments"), Some(&w.a.token))
        .json();
    assert_eq!(api["items"][0]["body"], note, "the API's own comment");

    // The reviewer reads only the industry result: no thread of the shared one, and posting
    // on it is the 404 of a missing result.
    let mut reviewer = Browser::signed_in(&app, &w.reviewer.email);
    let page = reviewer.get(&cell);
    assert!(!page.body.contains("Same on our rig"), "{}", page.body);
    assert!(!page.body.contains(&shared));
    let csrf = hidden(&page.body, "csrf");
    assert_eq!(
        reviewer
            .post(
                &format!("/results/{shared}/comments"),
                &[("csrf", &csrf), ("body", "Hello")]
            )
            .status,
        404
    );
    assert_eq!(
        reviewer
            .post(
                &format!("/results/{public}/comments"),
                &[("csrf", &csrf), ("body", "Approved here.")]
            )
            .status,
        303
    );
    // A viewer reads the thread but gets no form, and a forged post is refused.
    let mut viewer = Browser::signed_in(&app, &w.a_viewer.email);
    let page = viewer.get(&cell);
    assert!(
        page.body.contains("Same on our rig") && page.body.contains("Approved here."),
        "{}",
        page.body
    );
    assert!(!page.body.contains("Post the comment"));
    let csrf = hidden(&page.body, "csrf");
    assert_eq!(
        viewer
            .post(
                &format!("/results/{shared}/comments"),
                &[("csrf", &csrf), ("body", "x")]
            )
            .status,
        403
    );
    let count = app
        .get(&format!("/api/v1/results/{shared}/comments"), Some(&w.a.token))
        .json()["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(count, 1, "nothing else was written");
}
