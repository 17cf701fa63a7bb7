//! The pages for people (src/web/): security headers, cookies, CSRF, escaping, GET never
//! changing anything, and sessions ending with the password.

use serde_json::json;

use crate::helpers::{Resp, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};

/// A browser in miniature: keeps the cookies the server sets and sends them back.
/// Redirects are not followed, so their cookies and targets can be checked.
pub(crate) struct Browser<'a> {
    app: &'a TestApp,
    agent: ureq::Agent,
    cookies: Vec<(String, String)>,
}

impl<'a> Browser<'a> {
    pub(crate) fn new(app: &'a TestApp) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(std::time::Duration::from_secs(30)))
            .build()
            .into();
        Self {
            app,
            agent,
            cookies: Vec::new(),
        }
    }

    pub(crate) fn send(&self, method: &str, path: &str, body: Option<String>) -> Resp {
        let builder = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{}", self.app.base, path))
            .header("accept", "text/html")
            .header("cookie", self.cookie_header());
        let result = match body {
            Some(body) => self.agent.run(
                builder
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body.into_bytes())
                    .unwrap(),
            ),
            None => self.agent.run(builder.body(()).unwrap()),
        };
        let mut resp = result.unwrap_or_else(|e| panic!("{method} {path} failed: {e}"));
        Resp {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.body_mut().read_to_string().unwrap_or_default(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, resp: &Resp) {
        for value in set_cookies(resp) {
            let pair = value.split(';').next().unwrap_or_default();
            let (name, val) = pair.split_once('=').unwrap();
            self.cookies.retain(|(k, _)| k != name);
            let deleted = value.contains("Max-Age=0");
            if !deleted {
                self.cookies.push((name.to_string(), val.to_string()));
            }
        }
    }

    pub(crate) fn get(&mut self, path: &str) -> Resp {
        let resp = self.send("GET", path, None);
        self.keep(&resp);
        resp
    }

    pub(crate) fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let body = serde_urlencoded::to_string(fields).unwrap();
        let resp = self.send("POST", path, Some(body));
        self.keep(&resp);
        resp
    }

    pub(crate) fn has_cookie(&self, suffix: &str) -> bool {
        self.cookies.iter().any(|(k, _)| k.ends_with(suffix))
    }

    /// A browser signed in as the user with `email`, through a session row written straight
    /// to the database as the sign-in form writes it (src/web/session.rs `start`: the secret's
    /// hash, the user's token version, seven days): no form, rate limit or argon2 verification.
    /// For the tests of pages; the tests of signing in use [`Browser::sign_in`].
    pub(crate) fn signed_in(app: &'a TestApp, email: &str) -> Self {
        use diesel::prelude::*;
        use uit_portal::auth::tokens::{hash_secret, new_secret};
        use uit_portal::db::schema::{users, web_sessions as ws};
        let secret = new_secret("uits_");
        app.with_db(|conn| {
            let (user_id, token_version): (String, i64) = users::table
                .filter(users::email.eq(email))
                .select((users::id, users::token_version))
                .first(conn)
                .unwrap_or_else(|e| panic!("no user {email}: {e}"));
            let now = uit_portal::db::now();
            diesel::insert_into(ws::table)
                .values((
                    ws::id.eq(uit_portal::db::new_id()),
                    ws::token_hash.eq(hash_secret(&secret)),
                    ws::user_id.eq(user_id),
                    ws::token_version.eq(token_version),
                    ws::created_at.eq(now),
                    ws::last_seen_at.eq(now),
                    ws::expires_at.eq(now + chrono::Duration::days(7)),
                ))
                .execute(conn)
                .expect("start a session");
        });
        // As session::session_cookie names it: `__Host-` needs https.
        let name = if app.config.public_url.starts_with("https://") {
            "__Host-uit_session"
        } else {
            "uit_session"
        };
        let mut browser = Self::new(app);
        browser.cookies.push((name.to_string(), secret));
        browser
    }

    pub(crate) fn sign_in(&mut self, email: &str, password: &str) -> Resp {
        let page = self.get("/sign-in");
        assert_eq!(page.status, 200, "{}", page.body);
        let csrf = hidden(&page.body, "csrf");
        self.post("/sign-in", &[("csrf", &csrf), ("email", email), ("password", password)])
    }
}

pub(crate) fn set_cookies(resp: &Resp) -> Vec<String> {
    resp.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_string)
        .collect()
}

/// The value of the hidden field `name` in a page.
pub(crate) fn hidden(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in: {body}"))
        + marker.len();
    body[start..start + body[start..].find('"').unwrap()].to_string()
}

#[track_caller]
pub(crate) fn assert_html_headers(resp: &Resp) {
    let ct = resp.header("content-type").unwrap_or_default();
    assert!(ct.starts_with("text/html"), "not HTML: {ct}");
    let csp = resp.header("content-security-policy").expect("a CSP");
    for part in [
        "default-src 'self'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(part), "CSP lacks {part}: {csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(resp.header("x-content-type-options").as_deref(), Some("nosniff"));
    assert!(resp.header("referrer-policy").is_some());
}

#[track_caller]
pub(crate) fn assert_token_page(resp: &Resp) {
    assert_html_headers(resp);
    assert_eq!(resp.header("referrer-policy").as_deref(), Some("no-referrer"));
    assert_eq!(resp.header("cache-control").as_deref(), Some("no-store"));
}

pub(crate) fn unique_email(tag: &str) -> String {
    format!("{tag}-{}@example.org", uuid::Uuid::new_v4().simple())
}

#[test]
fn pages_carry_the_security_headers_and_an_unknown_page_is_html_only_for_browsers() {
    let app = TestApp::spawn();
    let home = app.send("GET", "/", None, &[("accept", "text/html")], None);
    assert_eq!(home.status, 200);
    assert_html_headers(&home);
    assert!(home.body.contains("Sign in"));
    assert!(!home.body.contains("<script"), "no script on pages");

    // The stylesheet: content-hashed name, cached for a year.
    let start = home.body.find("/assets/style.").unwrap();
    let css = &home.body[start..start + home.body[start..].find('"').unwrap()];
    let sheet = app.get(css, None);
    assert_eq!(sheet.status, 200);
    assert!(sheet.header("content-type").unwrap().starts_with("text/css"));
    assert_eq!(
        sheet.header("cache-control").as_deref(),
        Some("public, max-age=31536000, immutable")
    );

    // A browser asking for a page that does not exist gets a page; programs keep problem+json.
    let browser = app.send(
        "GET",
        "/no-such-page",
        None,
        &[("accept", "text/html,application/xhtml+xml,*/*;q=0.8")],
        None,
    );
    assert_eq!(browser.status, 404);
    assert_html_headers(&browser);
    assert!(browser.body.contains("Page not found"));
    app.get("/no-such-page", None).expect_code(404, "not_found");
    app.send("GET", "/api/v1/no-such-thing", None, &[("accept", "text/html")], None)
        .expect_code(404, "not_found");

    // The OpenAPI document lists no page.
    let spec = app.get("/openapi.json", None).json();
    for page in [
        "/",
        "/sign-in",
        "/sign-out",
        "/confirm-subscription",
        "/reset-password",
        "/accept-invitation",
    ] {
        assert!(spec["paths"].get(page).is_none(), "{page} is in the spec");
    }
}

#[test]
fn session_cookies_are_httponly_lax_and_secure_with_the_host_prefix_over_https() {
    // The test server's public_url is https.
    let app = TestApp::spawn();
    let mut b = Browser::new(&app);
    let page = b.get("/sign-in");
    assert_token_page(&page);
    let pre = set_cookies(&page).join("\n");
    assert!(pre.starts_with("__Host-uit_pre="), "{pre}");
    let signed = b.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD);
    assert_eq!(signed.status, 303, "{}", signed.body);
    assert_eq!(signed.header("location").as_deref(), Some("/"));
    let cookie = set_cookies(&signed)
        .into_iter()
        .find(|c| c.starts_with("__Host-uit_session="))
        .expect("a session cookie");
    for flag in ["Path=/", "HttpOnly", "SameSite=Lax", "Secure"] {
        assert!(cookie.split("; ").any(|f| f == flag), "{flag} missing: {cookie}");
    }
    assert!(!cookie.contains("Domain="), "{cookie}");
    let home = b.get("/");
    assert!(home.body.contains("Signed in as"), "{}", home.body);
    assert_token_page(&home);

    // Over plain http: no Secure (the browser would drop the cookie), so no __Host- prefix.
    let http = TestApp::spawn_with(|c| c.public_url = "http://127.0.0.1:8080".into());
    let mut b = Browser::new(&http);
    let signed = b.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD);
    assert_eq!(signed.status, 303);
    let cookie = set_cookies(&signed)
        .into_iter()
        .find(|c| c.starts_with("uit_session="))
        .expect("a session cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && !cookie.contains("Secure"));
}

#[test]
fn sign_in_fails_alike_for_an_unknown_email_and_a_wrong_password() {
    let app = TestApp::spawn();
    let mut b = Browser::new(&app);
    let wrong_password = b.sign_in(ADMIN_EMAIL, "not the password at all");
    let unknown = b.sign_in("nobody@example.org", "not the password at all");
    assert_eq!(wrong_password.status, 401);
    assert_eq!(unknown.status, 401);
    assert_html_headers(&unknown);
    let strip = |r: &Resp, email: &str| r.body.replace(email, "EMAIL");
    assert_eq!(
        strip(&wrong_password, ADMIN_EMAIL),
        strip(&unknown, "nobody@example.org"),
        "the two failures must read the same"
    );
    assert!(unknown.body.contains("The email or password is incorrect."));
    assert!(!b.has_cookie("uit_session"));
}

#[test]
fn a_post_without_a_valid_csrf_token_is_403_and_changes_nothing() {
    let app = TestApp::spawn();
    let admin = app.admin_token();

    // Sign-in: no token, a wrong token, a token without its pre-session cookie.
    let mut b = Browser::new(&app);
    let page = b.get("/sign-in");
    let csrf = hidden(&page.body, "csrf");
    let creds = [("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)];
    let refused = b.post("/sign-in", &creds);
    assert_eq!(refused.status, 403);
    assert_html_headers(&refused);
    assert_eq!(
        b.post("/sign-in", &[creds[0], creds[1], ("csrf", &"0".repeat(64))])
            .status,
        403
    );
    let mut stranger = Browser::new(&app);
    assert_eq!(
        stranger.post("/sign-in", &[creds[0], creds[1], ("csrf", &csrf)]).status,
        403
    );
    assert!(!b.has_cookie("uit_session") && !stranger.has_cookie("uit_session"));

    // Confirming a subscription without the token stays pending.
    let email = unique_email("csrf");
    app.post(
        "/api/v1/subscriptions",
        None,
        &json!({ "email": email, "topics": ["releases"] }),
    )
    .expect(202);
    let token = app.smtp.wait_for(&email).token("uitn_");
    let page = b.get(&format!("/confirm-subscription?token={token}"));
    assert_eq!(page.status, 200);
    assert_eq!(b.post("/confirm-subscription", &[("token", &token)]).status, 403);
    let again = b.get(&format!("/confirm-subscription?token={token}"));
    assert!(
        again.body.contains("Confirm subscription"),
        "still pending: {}",
        again.body
    );

    // Password reset without the token: the old password still works.
    app.post("/api/v1/auth/password-reset", None, &json!({ "email": ADMIN_EMAIL }))
        .expect(202);
    let reset = app.smtp.wait_for(ADMIN_EMAIL).token("uitx_");
    b.get(&format!("/reset-password?token={reset}"));
    assert_eq!(
        b.post(
            "/reset-password",
            &[("token", &reset), ("new_password", "an entirely new password")]
        )
        .status,
        403
    );
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD);

    // Sign-out needs the session's token: a pre-session token does not do.
    let mut signed = Browser::new(&app);
    assert_eq!(signed.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).status, 303);
    assert_eq!(signed.post("/sign-out", &[("csrf", &csrf)]).status, 403);
    assert_eq!(signed.get("/sign-out").status, 303, "a GET does not sign out");
    assert!(signed.get("/").body.contains("Signed in as"));
    let home = signed.get("/");
    let session_csrf = hidden(&home.body, "csrf");
    assert_eq!(signed.post("/sign-out", &[("csrf", &session_csrf)]).status, 303);
    assert!(!signed.get("/").body.contains("Signed in as"));
    let _ = admin;
}

#[test]
fn hostile_names_render_as_text() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let org = app.post(
        "/api/v1/organisations",
        Some(&admin),
        &json!({ "name": "<script>alert(1)</script> & Co", "slug": "hostile-co", "kind": "supplier" }),
    );
    org.expect(201);
    let org_id = org.id();
    let email = unique_email("hostile");
    app.post(
        &format!("/api/v1/organisations/{org_id}/invitations"),
        Some(&admin),
        &json!({ "email": email, "role": "member" }),
    )
    .expect(201);
    let token = app.smtp.wait_for(&email).token("uiti_");
    let mut b = Browser::new(&app);
    let page = b.get(&format!("/accept-invitation?token={token}"));
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("<script>alert"), "{}", page.body);
    assert!(
        page.body.contains("&#60;script&#62;alert(1)&#60;/script&#62; &#38; Co"),
        "{}",
        page.body
    );
    let csrf = hidden(&page.body, "csrf");
    let accepted = b.post(
        "/accept-invitation",
        &[
            ("csrf", &csrf),
            ("token", &token),
            ("name", "<img src=x onerror=alert(2)>"),
            ("password", "a long enough password"),
        ],
    );
    assert_eq!(accepted.status, 303, "{}", accepted.body);
    let home = b.get("/");
    assert!(home.body.contains("Signed in as"), "{}", home.body);
    assert!(!home.body.contains("<script>alert") && !home.body.contains("<img src=x"));
    assert!(
        home.body.contains("&#60;img src=x onerror=alert(2)&#62;"),
        "{}",
        home.body
    );
}

#[test]
fn opening_a_landing_page_changes_nothing_and_its_button_does() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let mut b = Browser::new(&app);

    // Confirmation: any number of GETs leave it pending; the POST confirms.
    let email = unique_email("scanner");
    app.post(
        "/api/v1/subscriptions",
        None,
        &json!({ "email": email, "topics": ["releases", "uit_windows"], "mode": "daily_digest" }),
    )
    .expect(202);
    let token = app.smtp.wait_for(&email).token("uitn_");
    for _ in 0..2 {
        let page = app.get(&format!("/confirm-subscription?token={token}"), None);
        assert_eq!(page.status, 200);
        assert_token_page(&page);
        assert!(page.body.contains("Confirm subscription"));
        assert!(
            page.body.contains("Releases") && page.body.contains("one email a day"),
            "{}",
            page.body
        );
    }
    let page = b.get(&format!("/confirm-subscription?token={token}"));
    let csrf = hidden(&page.body, "csrf");
    assert!(
        !page.body.contains("action=\"/confirm-subscription?"),
        "the token leaves the URL"
    );
    let done = b.post("/confirm-subscription", &[("csrf", &csrf), ("token", &token)]);
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Confirmed"));
    let dead = app.get("/confirm-subscription?token=uitn_nonsense", None);
    assert_eq!(dead.status, 404);
    assert!(dead.body.contains("href=\"/subscribe\""), "{}", dead.body);

    // Invitation: GETs leave it usable.
    let email = unique_email("invitee");
    app.post(
        &format!("/api/v1/organisations/{}/invitations", operator_org(&app, &admin)),
        Some(&admin),
        &json!({ "email": email, "role": "viewer" }),
    )
    .expect(201);
    let token = app.smtp.wait_for(&email).token("uiti_");
    for _ in 0..2 {
        let page = app.get(&format!("/accept-invitation?token={token}"), None);
        assert_eq!(page.status, 200);
        assert_token_page(&page);
        assert!(page.body.contains("viewer"));
    }
    let page = b.get(&format!("/accept-invitation?token={token}"));
    let csrf = hidden(&page.body, "csrf");
    let short = b.post(
        "/accept-invitation",
        &[
            ("csrf", &csrf),
            ("token", &token),
            ("name", "Vi Ewer"),
            ("password", "short"),
        ],
    );
    assert_eq!(short.status, 422);
    assert!(
        short.body.contains("The password must be at least 12 characters."),
        "{}",
        short.body
    );
    let ok = b.post(
        "/accept-invitation",
        &[
            ("csrf", &csrf),
            ("token", &token),
            ("name", "Vi Ewer"),
            ("password", "a long enough password"),
        ],
    );
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert!(b.get("/").body.contains("Vi Ewer"));

    // Reset: GETs leave the token usable; the POST sets the password and ends the session.
    let mut other = Browser::new(&app);
    app.post("/api/v1/auth/password-reset", None, &json!({ "email": email }))
        .expect(202);
    let reset = nth_mail(&app, &email, 1).token("uitx_");
    for _ in 0..2 {
        let page = app.get(&format!("/reset-password?token={reset}"), None);
        assert_eq!(page.status, 200);
        assert_token_page(&page);
    }
    let page = other.get(&format!("/reset-password?token={reset}"));
    let csrf = hidden(&page.body, "csrf");
    let refused = other.post(
        "/reset-password",
        &[("csrf", &csrf), ("token", &reset), ("new_password", "too short")],
    );
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("The password must be at least 12 characters."));
    let changed = other.post(
        "/reset-password",
        &[
            ("csrf", &csrf),
            ("token", &reset),
            ("new_password", "a brand new passphrase"),
        ],
    );
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert!(changed.body.contains("Every session you had has ended"));
    assert!(!b.get("/").body.contains("Signed in as"), "the reset ended the session");
    assert_eq!(other.sign_in(&email, "a brand new passphrase").status, 303);
}

/// The `n`th (from 0) email to `to`, waiting up to 10 s for it.
pub(crate) fn nth_mail(app: &TestApp, to: &str, n: usize) -> crate::smtp::Received {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mut mails: Vec<_> = app
            .smtp
            .received()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(to)))
            .collect();
        if mails.len() > n {
            return mails.swap_remove(n);
        }
        assert!(std::time::Instant::now() < deadline, "no email {n} to {to} within 10 s");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn operator_org(app: &TestApp, admin: &str) -> String {
    app.get("/api/v1/me", Some(admin)).json()["organisation"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_password_change_ends_the_web_session() {
    let app = TestApp::spawn();
    let mut b = Browser::new(&app);
    assert_eq!(b.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).status, 303);
    assert!(b.get("/").body.contains("Signed in as"));
    let admin = app.admin_token();
    let me = app.get("/api/v1/me", Some(&admin));
    let etag = me.header("etag").unwrap();
    // The new password's field is `password` today and `new_password` after a rename in
    // flight on another branch; the test holds for either (an unknown field is 400).
    let change = |field: &str| {
        let mut body = json!({ "current_password": ADMIN_PASSWORD });
        body[field] = json!("another good password");
        app.send(
            "PATCH",
            "/api/v1/me",
            Some(&admin),
            &[("if-match", &etag)],
            Some(("application/json", body.to_string().into_bytes())),
        )
    };
    let changed = match change("new_password") {
        r if r.status == 400 => change("password"),
        r => r,
    };
    changed.expect(200);
    let home = b.get("/");
    assert_eq!(home.status, 200);
    assert!(!home.body.contains("Signed in as"), "{}", home.body);
    assert!(home.body.contains("href=\"/sign-in\""));
}

#[test]
fn the_home_page_lists_the_windows_the_api_lists() {
    use crate::releases::{at, id, release};
    use chrono::Duration;
    let app = TestApp::spawn();
    let admin = app.admin_token();
    for (name, from, to) in [
        ("UIT-OPEN-<b>", Duration::days(-1), Duration::days(5)),
        ("UIT-SOON", Duration::days(3), Duration::days(9)),
        ("UIT-PAST", Duration::days(-9), Duration::days(-3)),
    ] {
        let rel = id(&release(&app, &admin, "sec_release"));
        app.post(
            "/api/v1/uit-windows",
            Some(&admin),
            &json!({ "release_id": rel, "name": name, "opens_at": at(from), "closes_at": at(to) }),
        )
        .expect(201);
    }
    let mut b = Browser::new(&app);
    assert!(!b.get("/").body.contains("UIT-SOON"), "signed out: no windows");
    let viewer = app.user_in_new_org(&admin, "reviewer", "viewer");
    assert_eq!(b.sign_in(&viewer.email, "a long enough password").status, 303);
    let home = b.get("/").body;
    assert!(
        home.contains("Open UIT windows (1)") && home.contains("UIT-OPEN-&#60;b&#62;"),
        "{home}"
    );
    assert!(
        home.contains("Upcoming UIT windows (1)") && home.contains("UIT-SOON"),
        "{home}"
    );
    // The window lists (the recent changes below them may tell of any window).
    let lists = &home[..home.find("Recent changes").unwrap_or(home.len())];
    assert!(!lists.contains("UIT-PAST"), "{home}");
    assert!(home.contains("UTC"), "times say their zone: {home}");
}

#[test]
fn the_unsubscribe_page_wears_the_layout_and_one_click_still_works() {
    let app = TestApp::spawn();
    let user = app.user_in_new_org(&app.admin_token(), "supplier", "member");
    let sub = app.post(
        "/api/v1/subscriptions",
        Some(&user.token),
        &json!({ "topics": ["releases"] }),
    );
    sub.expect(201);
    let url = sub.json()["unsubscribe_url"].as_str().unwrap().to_string();
    let path = &url[url.find("/api/v1/unsubscribe").unwrap()..];
    let page = app.get(path, None);
    assert_eq!(page.status, 200);
    assert_token_page(&page);
    assert!(
        page.body.contains("/assets/style.") && page.body.contains("UIT Portal"),
        "{}",
        page.body
    );
    assert!(page.body.contains("List-Unsubscribe") && page.body.contains("Unsubscribe</button>"));
    // RFC 8058: the mail client's POST, no CSRF token, no cookie.
    let done = app.send(
        "POST",
        path,
        None,
        &[],
        Some((
            "application/x-www-form-urlencoded",
            b"List-Unsubscribe=One-Click".to_vec(),
        )),
    );
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("no more"));
    assert!(app.get(path, None).body.contains("This subscription has ended"));
}
