//! Sign-in and sign-out, and what the signed-out pages share (home.rs, confirm_subscription.rs,
//! reset_password.rs, invitations.rs, rest.rs): CSRF-checked forms, the 429 page, the link
//! token, field messages and starting a session. Each page calls the domain function its API
//! twin calls; a GET never changes anything; every POST checks its CSRF token first and
//! answers 403 without one.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::member::{forbidden, safe_next};
use super::session;
use super::{message, redirect, render, Chrome, Exposure};
use crate::audit::{self, Actor, Change};
use crate::db::{OrgId, UserId};
use crate::http::{request_id, ApiError};
use crate::AppState;

pub(super) type Page = Result<HttpResponse, ApiError>;

/// A form body; `None` when it does not parse (answered like a missing CSRF token: nothing
/// that does not come from our own form is acted on).
fn form<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    serde_urlencoded::from_bytes(body).ok()
}

/// A signed-out form's fields, when its CSRF token (bound to the pre-session cookie) is valid;
/// `None`, to be answered with 403, for a body that does not parse or a missing or wrong token.
pub(crate) fn checked_form<T: DeserializeOwned>(state: &AppState, req: &HttpRequest, body: &[u8]) -> Option<T> {
    let csrf = form::<CsrfForm>(body)?.csrf;
    if !session::csrf_ok(state, req, None, csrf.as_deref()) {
        return None;
    }
    form(body)
}

pub(crate) fn too_many(e: &ApiError) -> HttpResponse {
    let mut res = message(
        StatusCode::TOO_MANY_REQUESTS,
        Exposure::Private,
        "Too many attempts",
        &["There were too many attempts from here in the last minute. Wait a minute and try again."],
        None,
    );
    if let Some(after) = e.retry_after {
        if let Ok(v) = header::HeaderValue::from_str(&after.to_string()) {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    res
}

/// The first message for `field` of a 422, as a person reads it next to the field.
pub(super) fn field_error(e: &ApiError, field: &str, label: &str) -> Option<String> {
    e.errors
        .iter()
        .find(|f| f.field == field)
        .map(|f| format!("{label} {}.", f.message))
}

/// 303 to the home page.
pub fn home_redirect() -> HttpResponse {
    redirect("/").finish()
}

/// "Fri 19 Dec 2026, 17:00 UTC".
pub fn human_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%a %-d %b %Y, %H:%M UTC").to_string()
}

// ---- sign in and out ---------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "sign_in.html")]
pub struct SignInPage {
    pub chrome: Chrome,
    pub csrf: String,
    /// Where to go after signing in (a path on this site).
    pub next: String,
    pub email: String,
    pub error: Option<String>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn sign_in_page(state: web::Data<AppState>, req: HttpRequest, query: web::Query<NextQuery>) -> Page {
    let next = safe_next(query.next.as_deref());
    if session::current(&state, &req).await?.is_some() {
        return Ok(redirect(&next).finish());
    }
    let guard = session::guard(&state, &req, None);
    let page = SignInPage {
        chrome: Chrome::new("Sign in", None),
        csrf: guard.csrf.clone(),
        next,
        email: String::new(),
        error: None,
    };
    Ok(render(StatusCode::OK, Exposure::Private, &page, |b| guard.apply(b)))
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

pub async fn sign_in(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Page {
    let Some(f) = checked_form::<SignInForm>(&state, &req, &body) else {
        return Ok(forbidden());
    };
    // The API's login check: rate limits, argon2, one answer for every failure.
    let user = match crate::auth::handlers::authenticate(&state, &req, &f.email, f.password).await {
        Ok(user) => user,
        Err(e) if e.status == StatusCode::TOO_MANY_REQUESTS => return Ok(too_many(&e)),
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {
            let guard = session::guard(&state, &req, None);
            let page = SignInPage {
                chrome: Chrome::new("Sign in", None),
                csrf: guard.csrf.clone(),
                next: safe_next(f.next.as_deref()),
                email: f.email,
                error: Some(e.detail),
            };
            return Ok(render(StatusCode::UNAUTHORIZED, Exposure::Private, &page, |b| {
                guard.apply(b)
            }));
        }
        Err(e) => return Err(e),
    };
    let previous = session::cookie_value(&req, session::session_cookie(&state));
    let rid = request_id(&req);
    let next = safe_next(f.next.as_deref());
    let (user_id, org_id) = (user.id.clone(), user.org_id.clone());
    let secret = state
        .db
        .write(move |conn| {
            let (id, secret) = session::start(conn, &user_id, previous.as_deref())?;
            record(conn, &user_id, &org_id, rid, "session.login", &id)?;
            Ok(secret)
        })
        .await?;
    tracing::info!(user_id = %user.id, "web sign-in");
    Ok(signed_in(&state, &secret, &next))
}

/// The redirect after a sign-in: the session cookie set, the pre-session cookie spent.
pub(super) fn signed_in(state: &AppState, secret: &str, to: &str) -> HttpResponse {
    redirect(to)
        .append_header((
            header::SET_COOKIE,
            session::cookie(state, session::session_cookie(state), secret, None),
        ))
        .append_header((
            header::SET_COOKIE,
            session::cookie(state, session::pre_cookie(state), "", Some(0)),
        ))
        .finish()
}

/// Audits `action` on session `session_id` of `user_id`.
pub(super) fn record(
    conn: &mut crate::db::DbConn,
    user_id: &UserId,
    org_id: &OrgId,
    rid: Option<String>,
    action: &str,
    session_id: &str,
) -> Result<(), ApiError> {
    let actor = Actor {
        user_id: Some(user_id.clone()),
        org_id: Some(org_id.clone()),
        request_id: rid,
    };
    audit::record(conn, &actor, Change::new(action, "session", session_id).org(org_id))
}

/// The `?token=` of an email's link.
#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

impl TokenQuery {
    /// The token, when there is one of a plausible length.
    pub(super) fn token(self) -> Option<String> {
        self.token.filter(|t| !t.is_empty() && t.len() <= 200)
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: Option<String>,
}

pub async fn sign_out(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Page {
    let current = session::current(&state, &req).await?;
    let token = form::<CsrfForm>(&body).and_then(|f| f.csrf);
    let Some(s) = current else {
        // Nothing to end; say so by going to sign in.
        return Ok(redirect("/sign-in").finish());
    };
    if !session::csrf_ok(&state, &req, Some(&s), token.as_deref()) {
        return Ok(forbidden());
    }
    let rid = request_id(&req);
    state
        .db
        .write(move |conn| {
            session::end(conn, &s.id)?;
            record(conn, &s.user_id, &s.org_id, rid, "session.logout", &s.id)
        })
        .await?;
    Ok(redirect("/")
        .append_header((
            header::SET_COOKIE,
            session::cookie(&state, session::session_cookie(&state), "", Some(0)),
        ))
        .finish())
}
