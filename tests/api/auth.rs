use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::helpers::{TestApp, ADMIN_EMAIL, ADMIN_PASSWORD, JWT_SECRET};

#[test]
fn login_gives_a_token_pair_that_works() {
    let app = TestApp::spawn();
    let pair = app.login_pair(ADMIN_EMAIL, ADMIN_PASSWORD);
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    assert!(pair["refresh_token"].as_str().unwrap().starts_with("uitr_"));
    let me = app.get("/api/v1/me", pair["access_token"].as_str());
    me.expect(200);
    assert_eq!(me.json()["user"]["email"], ADMIN_EMAIL);
    assert_eq!(me.json()["organisation"]["kind"], "operator");
    assert_eq!(me.json()["role"], "admin");
}

#[test]
fn unknown_email_and_wrong_password_get_the_same_answer() {
    let app = TestApp::spawn();
    let wrong_password = app.post(
        "/api/v1/auth/login",
        None,
        &json!({ "email": ADMIN_EMAIL, "password": "not the password" }),
    );
    let unknown = app.post(
        "/api/v1/auth/login",
        None,
        &json!({ "email": "nobody@example.org", "password": "not the password" }),
    );
    wrong_password.expect_code(401, "invalid_credentials");
    assert_eq!(wrong_password.status, unknown.status);
    assert_eq!(wrong_password.body, unknown.body);
    // Email matching ignores case and surrounding space.
    let upper = app.post(
        "/api/v1/auth/login",
        None,
        &json!({ "email": format!(" {} ", ADMIN_EMAIL.to_uppercase()), "password": ADMIN_PASSWORD }),
    );
    upper.expect(200);
}

#[test]
fn logins_are_rate_limited_per_account_and_per_address() {
    let app = TestApp::spawn_with(|c| {
        c.login_rate_per_account_per_minute = 3;
        c.login_rate_per_address_per_minute = 6;
    });
    for _ in 0..3 {
        app.post(
            "/api/v1/auth/login",
            None,
            &json!({ "email": ADMIN_EMAIL, "password": "wrong wrong wrong" }),
        )
        .expect(401);
    }
    let limited = app.post(
        "/api/v1/auth/login",
        None,
        &json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }),
    );
    limited.expect_code(429, "rate_limited");
    let retry: u64 = limited.header("retry-after").expect("Retry-After").parse().unwrap();
    // A sliding window of a minute: the attempts of this minute still weigh on the next one.
    assert!((1..=120).contains(&retry), "{retry}");
    // Other accounts from the same address still have budget, until the address runs out.
    let mut statuses = Vec::new();
    for i in 0..4 {
        statuses.push(
            app.post(
                "/api/v1/auth/login",
                None,
                &json!({ "email": format!("x{i}@example.org"), "password": "wrong wrong wrong" }),
            )
            .status,
        );
    }
    assert_eq!(statuses[0], 401);
    assert_eq!(*statuses.last().unwrap(), 429, "{statuses:?}");
}

fn claims(sub: &str, org: &str, exp_offset: i64, iss: &str, aud: &str) -> serde_json::Value {
    let now = chrono::Utc::now().timestamp();
    json!({ "sub": sub, "org": org, "tv": 0, "iat": now, "exp": now + exp_offset, "iss": iss, "aud": aud })
}

#[test]
fn forged_expired_and_foreign_tokens_are_rejected() {
    let app = TestApp::spawn();
    let token = app.admin_token();
    let me = app.get("/api/v1/me", Some(&token)).json();
    let (sub, org) = (
        me["user"]["id"].as_str().unwrap(),
        me["organisation"]["id"].as_str().unwrap(),
    );
    let key = EncodingKey::from_secret(JWT_SECRET.as_bytes());
    let sign = |c: &serde_json::Value| encode(&Header::new(Algorithm::HS256), c, &key).unwrap();

    // The honest token, re-signed by us, works: the failures below are about what changed.
    app.get(
        "/api/v1/me",
        Some(&sign(&claims(sub, org, 600, "uit-portal", "uit-portal-api"))),
    )
    .expect(200);

    let expired = sign(&claims(sub, org, -120, "uit-portal", "uit-portal-api"));
    let wrong_aud = sign(&claims(sub, org, 600, "uit-portal", "someone-else"));
    let wrong_iss = sign(&claims(sub, org, 600, "evil", "uit-portal-api"));
    let other_key = encode(
        &Header::new(Algorithm::HS256),
        &claims(sub, org, 600, "uit-portal", "uit-portal-api"),
        &EncodingKey::from_secret(b"another-secret-another-secret-another-secret"),
    )
    .unwrap();
    let hs512 = encode(
        &Header::new(Algorithm::HS512),
        &claims(sub, org, 600, "uit-portal", "uit-portal-api"),
        &key,
    )
    .unwrap();
    let mut tampered = token.clone();
    let dot = tampered.rfind('.').unwrap();
    tampered.replace_range(
        dot + 1..dot + 3,
        if &token[dot + 1..dot + 3] == "AA" { "BB" } else { "AA" },
    );
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let none = format!(
        "{}.{}.",
        b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(claims(sub, org, 600, "uit-portal", "uit-portal-api").to_string())
    );
    let mut no_exp = claims(sub, org, 600, "uit-portal", "uit-portal-api");
    no_exp.as_object_mut().unwrap().remove("exp");
    let no_exp = sign(&no_exp);
    for (name, bad) in [
        ("expired", expired),
        ("wrong audience", wrong_aud),
        ("wrong issuer", wrong_iss),
        ("other key", other_key),
        ("HS512", hs512),
        ("tampered", tampered),
        ("alg none", none),
        ("no exp", no_exp),
        ("garbage", "abc.def.ghi".to_string()),
        ("unknown api token", "uitp_doesnotexist".to_string()),
    ] {
        let resp = app.get("/api/v1/me", Some(&bad));
        assert_eq!(resp.status, 401, "{name} token was accepted: {}", resp.body);
        resp.expect_code(401, "invalid_token");
    }
    app.get("/api/v1/me", None).expect_code(401, "invalid_token");
    app.send(
        "GET",
        "/api/v1/me",
        None,
        &[("authorization", &format!("Basic {token}"))],
        None,
    )
    .expect(401);
}

#[test]
fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = TestApp::spawn();
    let first = app.login_pair(ADMIN_EMAIL, ADMIN_PASSWORD);
    let r1 = first["refresh_token"].as_str().unwrap();
    let second = app.post("/api/v1/auth/refresh", None, &json!({ "refresh_token": r1 }));
    second.expect(200);
    let r2 = second.json()["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(r1, r2);
    app.get("/api/v1/me", second.json()["access_token"].as_str())
        .expect(200);

    // A second, unrelated login is a different family and survives.
    let other = app.login_pair(ADMIN_EMAIL, ADMIN_PASSWORD);

    // r1 is spent: presenting it again is reuse, which revokes r2 as well.
    app.post("/api/v1/auth/refresh", None, &json!({ "refresh_token": r1 }))
        .expect_code(401, "refresh_token_reused");
    app.post("/api/v1/auth/refresh", None, &json!({ "refresh_token": r2 }))
        .expect_code(401, "invalid_refresh_token");
    app.post(
        "/api/v1/auth/refresh",
        None,
        &json!({ "refresh_token": other["refresh_token"] }),
    )
    .expect(200);
    app.post(
        "/api/v1/auth/refresh",
        None,
        &json!({ "refresh_token": "uitr_nonsense" }),
    )
    .expect_code(401, "invalid_refresh_token");
}

#[test]
fn logout_revokes_the_family() {
    let app = TestApp::spawn();
    let pair = app.login_pair(ADMIN_EMAIL, ADMIN_PASSWORD);
    let access = pair["access_token"].as_str().unwrap();
    app.post(
        "/api/v1/auth/logout",
        None,
        &json!({ "refresh_token": pair["refresh_token"] }),
    )
    .expect(401);
    app.post(
        "/api/v1/auth/logout",
        Some(access),
        &json!({ "refresh_token": pair["refresh_token"] }),
    )
    .expect(204);
    app.post(
        "/api/v1/auth/refresh",
        None,
        &json!({ "refresh_token": pair["refresh_token"] }),
    )
    .expect(401);
}

#[test]
fn password_reset_emails_a_single_use_token_and_ends_sessions() {
    let app = TestApp::spawn();
    let old = app.login_pair(ADMIN_EMAIL, ADMIN_PASSWORD);

    // Unknown addresses get the same 202 and no email.
    let unknown = app.post(
        "/api/v1/auth/password-reset",
        None,
        &json!({ "email": "ghost@example.org" }),
    );
    unknown.expect(202);
    let known = app.post("/api/v1/auth/password-reset", None, &json!({ "email": ADMIN_EMAIL }));
    known.expect(202);
    assert_eq!(unknown.body, known.body);

    let email = app.smtp.wait_for(ADMIN_EMAIL);
    assert_eq!(
        email.header("Subject").as_deref(),
        Some("Reset your UIT Portal password")
    );
    let message_id = email.header("Message-ID").expect("Message-ID");
    assert!(
        message_id.starts_with('<') && message_id.ends_with("@portal.example.org>"),
        "{message_id}"
    );
    assert!(email
        .header("Content-Type")
        .unwrap()
        .starts_with("multipart/alternative"));
    assert!(email.data.contains("Content-Type: text/plain"));
    assert!(email.data.contains("Content-Type: text/html"));
    assert!(email.from.contains("no-reply"));
    let token = email.token("uitx_");
    assert!(email
        .decoded()
        .contains(&format!("https://portal.example.org/reset-password?token={token}")));
    assert!(app
        .smtp
        .received()
        .iter()
        .all(|m| !m.to.iter().any(|t| t.contains("ghost"))));

    app.post(
        "/api/v1/auth/password-reset/confirm",
        None,
        &json!({ "token": token, "new_password": "short" }),
    )
    .expect_code(422, "validation_failed");
    app.post(
        "/api/v1/auth/password-reset/confirm",
        None,
        &json!({ "token": token, "new_password": "a brand new password" }),
    )
    .expect(204);
    app.post(
        "/api/v1/auth/password-reset/confirm",
        None,
        &json!({ "token": token, "new_password": "another new password" }),
    )
    .expect_code(400, "invalid_token");

    app.get("/api/v1/me", old["access_token"].as_str()).expect(401);
    app.post(
        "/api/v1/auth/refresh",
        None,
        &json!({ "refresh_token": old["refresh_token"] }),
    )
    .expect(401);
    app.post(
        "/api/v1/auth/login",
        None,
        &json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }),
    )
    .expect(401);
    app.login(ADMIN_EMAIL, "a brand new password");
}

#[test]
fn undeliverable_mail_is_classified_permanent_and_not_retried() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let org = app.create_org(&admin, "supplier");
    app.allow_unsent_mail_to("reject-me@example.org");
    app.post(
        &format!("/api/v1/organisations/{org}/invitations"),
        Some(&admin),
        &json!({ "email": "reject-me@example.org", "role": "member" }),
    )
    .expect(201);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let metrics = app.get("/metrics", Some(&admin)).body;
        // The depth is read before the counters are rendered, so wait for both to settle.
        if metrics.contains("mail_deliveries_total{outcome=\"dead\"} 1") && metrics.contains("mail_outbox_depth 0") {
            assert!(
                metrics.contains("mail_deliveries_total{outcome=\"retry\"} 0"),
                "{metrics}"
            );
            assert!(
                metrics.contains("mail_deliveries_total{outcome=\"sent\"} 0"),
                "{metrics}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "rejected mail never marked dead: {metrics}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The reset emails sent to `to` so far, waiting (up to 10 s) until there are `n`.
fn reset_emails(app: &TestApp, to: &str, n: usize) -> Vec<crate::smtp::Received> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let found: Vec<_> = app
            .smtp
            .received()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(to)))
            .filter(|m| m.header("Subject").is_some_and(|s| s.contains("Reset")))
            .collect();
        if found.len() >= n {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {n} emails to {to}",
            found.len()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_password_reset_ends_every_credential_and_voids_the_other_reset_tokens() {
    let app = TestApp::spawn();
    let admin = app.admin_token();
    let user = app.user_in_new_org(&admin, "supplier", "member");
    let pair = app.login_pair(&user.email, "a long enough password");
    let api_token = app.post(
        "/api/v1/me/api-tokens",
        Some(&user.token),
        &json!({ "name": "harness" }),
    );
    api_token.expect(201);
    let api_token = api_token.json()["token"].as_str().unwrap().to_string();
    let feed = app.post("/api/v1/me/calendar-token", Some(&user.token), &json!({}));
    feed.expect(201);
    let feed = feed.json()["token"].as_str().unwrap().to_string();
    app.get("/api/v1/me", Some(&api_token)).expect(200);
    app.get(&format!("/api/v1/calendar.ics?token={feed}"), None).expect(200);

    // Two reset links are out; one is used.
    for _ in 0..2 {
        app.post("/api/v1/auth/password-reset", None, &json!({ "email": user.email }))
            .expect(202);
    }
    let emails = reset_emails(&app, &user.email, 2);
    let text = emails[0].decoded();
    assert!(
        text.contains("API tokens") && text.contains("calendar feed"),
        "the email says what a reset ends: {text}"
    );
    let (first, second) = (emails[0].token("uitx_"), emails[1].token("uitx_"));
    assert_ne!(first, second);
    app.post(
        "/api/v1/auth/password-reset/confirm",
        None,
        &json!({ "token": second, "new_password": "a brand new password" }),
    )
    .expect(204);

    app.get("/api/v1/me", Some(&api_token))
        .expect_code(401, "invalid_token");
    app.get(&format!("/api/v1/calendar.ics?token={feed}"), None).expect(404);
    app.get("/api/v1/me", Some(&user.token)).expect(401);
    app.post(
        "/api/v1/auth/refresh",
        None,
        &json!({ "refresh_token": pair["refresh_token"] }),
    )
    .expect(401);
    app.post(
        "/api/v1/auth/password-reset/confirm",
        None,
        &json!({ "token": first, "new_password": "the attacker's password" }),
    )
    .expect_code(400, "invalid_token");
    let fresh = app.login(&user.email, "a brand new password");
    let tokens = app.get("/api/v1/me/api-tokens", Some(&fresh));
    tokens.expect(200);
    assert_eq!(
        tokens.json()["items"],
        json!([]),
        "revoked tokens are gone from the list"
    );
}

#[test]
fn flooding_password_resets_does_not_lock_the_account_out_of_login() {
    let app = TestApp::spawn_with(|c| {
        c.login_rate_per_account_per_minute = 3;
        c.login_rate_per_address_per_minute = 3;
        c.password_reset_rate_per_account_per_hour = 4;
    });
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(
            app.post("/api/v1/auth/password-reset", None, &json!({ "email": ADMIN_EMAIL }))
                .status,
        );
    }
    assert_eq!(
        statuses,
        [202, 202, 202, 202, 429, 429],
        "resets have a budget of their own"
    );
    let limited = app.post("/api/v1/auth/password-reset", None, &json!({ "email": ADMIN_EMAIL }));
    let body = limited.expect_code(429, "rate_limited");
    assert!(limited.header("retry-after").is_some(), "{body}");
    // The victim still signs in: the login bucket was not touched.
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD);
    // Another account from the same address still asks for a reset (per-account bucket).
    app.post(
        "/api/v1/auth/password-reset",
        None,
        &json!({ "email": "other@example.org" }),
    )
    .expect(202);
}

#[test]
fn password_reset_requests_are_limited_per_address_too() {
    let app = TestApp::spawn_with(|c| c.password_reset_rate_per_address_per_hour = 3);
    for i in 0..3 {
        app.post(
            "/api/v1/auth/password-reset",
            None,
            &json!({ "email": format!("someone{i}@example.org") }),
        )
        .expect(202);
    }
    app.post(
        "/api/v1/auth/password-reset",
        None,
        &json!({ "email": "x@example.org" }),
    )
    .expect_code(429, "rate_limited");
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD);
}

/// The median of `samples`, in microseconds.
fn median(mut samples: Vec<u128>) -> u128 {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

#[test]
#[ignore = "a timing comparison: flaky beside the parallel suite on a 2-core machine; run alone \
            with `cargo test --test api -- --ignored a_reset_request_takes_as_long`"]
fn a_reset_request_takes_as_long_whether_or_not_the_account_exists() {
    let app = TestApp::spawn_with(|c| {
        c.password_reset_rate_per_account_per_hour = 10_000;
        c.password_reset_rate_per_address_per_hour = 10_000;
    });
    let ask = |email: &str| {
        // Past the previous request's background work, which would slow whichever came next.
        std::thread::sleep(std::time::Duration::from_millis(10));
        let started = std::time::Instant::now();
        app.post("/api/v1/auth/password-reset", None, &json!({ "email": email }))
            .expect(202);
        started.elapsed().as_micros()
    };
    // Warm up both paths, then interleave so that load affects both series alike.
    ask(ADMIN_EMAIL);
    ask("ghost@example.org");
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for _ in 0..100 {
        known.push(ask(ADMIN_EMAIL));
        unknown.push(ask("ghost@example.org"));
    }
    // The fastest of each series: load from the tests running beside this one only ever adds
    // time, so the minimum is the work the request itself does (the median moved by 20% from run
    // to run on a busy machine).
    let (known_min, unknown_min) = (*known.iter().min().unwrap(), *unknown.iter().min().unwrap());
    let (known, unknown) = (median(known), median(unknown));
    eprintln!(
        "password reset: {known} µs (fastest {known_min}) for an account, {unknown} µs (fastest {unknown_min}) for none"
    );
    // Before, the existing account cost a token, an email and an audit row more inline: 20-40%
    // slower here. Now both answer after the same rate-limit write.
    assert!(
        known_min <= unknown_min + unknown_min * 15 / 100 + 50,
        "an existing account answers slower: fastest {known_min} µs vs {unknown_min} µs"
    );
}

#[test]
fn login_budgets_hold_across_two_instances_on_one_database() {
    let rates = |c: &mut uit_portal::config::Config| {
        c.login_rate_per_account_per_minute = 4;
        c.login_rate_per_address_per_minute = 1000;
    };
    let one = TestApp::spawn_with(rates);
    let shared = one
        .config
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", one.config.data_dir.join("portal.db").display()));
    let two = TestApp::spawn_with(|c| {
        rates(c);
        c.database_url = Some(shared.clone());
    });
    let mut statuses = Vec::new();
    for i in 0..8 {
        let app = if i % 2 == 0 { &one } else { &two };
        statuses.push(
            app.post(
                "/api/v1/auth/login",
                None,
                &json!({ "email": ADMIN_EMAIL, "password": "wrong wrong wrong" }),
            )
            .status,
        );
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 401, 429, 429, 429, 429],
        "two instances share one budget of 4"
    );
}

#[test]
fn anonymous_subscriptions_are_capped_per_mailbox_and_per_address() {
    let app = TestApp::spawn_with(|c| {
        c.subscription_rate_per_mailbox_per_hour = 2;
        c.subscription_rate_per_address_per_hour = 4;
    });
    let subscribe = |email: &str| {
        app.post(
            "/api/v1/subscriptions",
            None,
            &json!({ "email": email, "topics": ["releases"] }),
        )
    };
    subscribe("victim@example.org").expect(202);
    subscribe("VICTIM@example.org").expect(202);
    subscribe("victim@example.org").expect_code(429, "rate_limited");
    subscribe("second@example.org").expect(202);
    subscribe("third@example.org").expect(202);
    // Four confirmations from this address this hour: the next mailbox waits too.
    subscribe("fourth@example.org").expect_code(429, "rate_limited");
    // Neither bucket is the login one.
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD);
}
