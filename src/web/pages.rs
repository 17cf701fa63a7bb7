//! The page handlers: home, sign-in and sign-out, and the pages the account emails link to.
//! Each calls the domain function its API twin calls; a GET never changes anything; every
//! POST checks its CSRF token first and answers 403 without one.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::member::{forbidden, safe_next};
use super::session::{self, FormGuard, WebSession};
use super::{message, redirect, render, Chrome, Exposure, Nav};
use crate::audit::{self, Actor, Change};
use crate::auth::tokens::hash_secret;
use crate::db::now;
use crate::http::ErrorCode;
use crate::http::{request_id, ApiError};
use crate::notifications::model::{describe_topics, SubscriptionRow};
use crate::notifications::{Mode, SubscriptionStatus};
use crate::windows::model::UitWindow;
use crate::windows::WindowStatus;
use crate::AppState;

type Page = Result<HttpResponse, ApiError>;

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
fn field_error(e: &ApiError, field: &str, label: &str) -> Option<String> {
    e.errors
        .iter()
        .find(|f| f.field == field)
        .map(|f| format!("{label} {}.", f.message))
}

fn nav(session: &WebSession, guard: &FormGuard) -> Nav {
    Nav {
        name: session.name.clone(),
        org_name: session.org_name.clone(),
        csrf: guard.csrf.clone(),
    }
}

/// 303 to the home page.
pub fn home_redirect() -> HttpResponse {
    redirect("/").finish()
}

// ---- home -------------------------------------------------------------------------------------

/// A window as the home page lists it.
pub struct WindowLine {
    pub id: String,
    pub name: String,
    pub status: &'static str,
    pub opens: String,
    pub closes: String,
    /// "in 4 days", beside the date that is next: opening for an upcoming window, else closing.
    pub next_in: String,
    pub scenarios: String,
    pub participants: i64,
}

impl From<&UitWindow> for WindowLine {
    fn from(w: &UitWindow) -> Self {
        let next = match w.status {
            WindowStatus::Scheduled => w.opens_at,
            _ => w.closes_at,
        };
        Self {
            id: w.id.clone(),
            name: w.name.clone(),
            status: match w.status {
                WindowStatus::Open => "open",
                WindowStatus::Scheduled => "upcoming",
                WindowStatus::Closed => "closed",
                WindowStatus::Cancelled => "cancelled",
            },
            opens: human_time(w.opens_at),
            closes: human_time(w.closes_at),
            next_in: super::rest::relative(next, chrono::Utc::now()),
            scenarios: w.scenarios.join(", "),
            participants: w.participant_count,
        }
    }
}

/// "Fri 19 Dec 2026, 17:00 UTC".
pub fn human_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%a %-d %b %Y, %H:%M UTC").to_string()
}

#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    pub chrome: Chrome,
    pub signed_in: Option<Signed>,
}

pub struct Signed {
    pub name: String,
    pub org_name: String,
    pub role: &'static str,
    pub open: Vec<WindowLine>,
    pub upcoming: Vec<WindowLine>,
    pub extras: super::rest::HomeExtras,
    pub csrf: String,
}

pub async fn home(state: web::Data<AppState>, req: HttpRequest) -> Page {
    let current = session::current(&state, &req).await?;
    let Some(s) = current else {
        let page = HomePage {
            chrome: Chrome::new("Welcome", None),
            signed_in: None,
        };
        return Ok(render(StatusCode::OK, Exposure::Plain, &page, |_| {}));
    };
    // The API's list (`GET /uit-windows`): the same query, so the same windows.
    let me = s.clone();
    let (open, upcoming, extras) = state
        .db
        .run(move |conn| {
            let now = now();
            let mut lists = Vec::new();
            for status in [WindowStatus::Open, WindowStatus::Scheduled] {
                let rows = crate::windows::model::list(conn, None, Some(status), now, None, 50)?;
                lists.push(crate::windows::model::assemble(conn, rows, now)?);
            }
            let upcoming = lists.pop().unwrap_or_default();
            let open = lists.pop().unwrap_or_default();
            let extras = super::rest::home_extras(conn, &me, now)?;
            Ok((open, upcoming, extras))
        })
        .await?;
    let guard = session::guard(&state, &req, Some(&s));
    let mut open: Vec<&UitWindow> = open.iter().collect();
    open.sort_by_key(|w| w.closes_at);
    let mut upcoming: Vec<&UitWindow> = upcoming.iter().collect();
    upcoming.sort_by_key(|w| w.opens_at);
    let page = HomePage {
        chrome: Chrome::new("Home", Some(nav(&s, &guard))),
        signed_in: Some(Signed {
            name: s.name.clone(),
            org_name: s.org_name.clone(),
            role: s.role.as_str(),
            open: open.into_iter().map(WindowLine::from).collect(),
            upcoming: upcoming.into_iter().map(WindowLine::from).collect(),
            extras,
            csrf: guard.csrf.clone(),
        }),
    };
    Ok(render(StatusCode::OK, Exposure::Private, &page, |_| {}))
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
fn signed_in(state: &AppState, secret: &str, to: &str) -> HttpResponse {
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

fn record(
    conn: &mut crate::db::DbConn,
    user_id: &str,
    org_id: &str,
    rid: Option<String>,
    action: &str,
    session_id: &str,
) -> Result<(), ApiError> {
    let actor = Actor {
        user_id: Some(user_id.to_string()),
        org_id: Some(org_id.to_string()),
        request_id: rid,
    };
    audit::record(
        conn,
        &actor,
        Change {
            action,
            entity_type: "session",
            entity_id: session_id,
            org_id: Some(org_id),
            before: None,
            after: None,
        },
    )
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

// ---- /confirm-subscription ---------------------------------------------------------------------

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

fn subscribe_again(status: StatusCode, title: &str, what: &str) -> HttpResponse {
    message(
        status,
        Exposure::Private,
        title,
        &[
            what,
            "Confirmation links work once, for 48 hours. You can ask for a new one.",
        ],
        Some(("/subscribe", "Subscribe again")),
    )
}

/// A subscription in words.
pub struct Described {
    pub topics: String,
    pub filters: String,
    pub mode: &'static str,
    pub email: String,
}

fn described(row: &SubscriptionRow) -> Described {
    Described {
        topics: describe_topics(&row.topics()),
        filters: row.filters().describe(),
        mode: match row.mode() {
            Mode::Immediate => "one email for each change, as it happens",
            Mode::DailyDigest => "one email a day, gathering the day's changes",
        },
        email: row.email.clone().unwrap_or_default(),
    }
}

#[derive(Template)]
#[template(path = "confirm_subscription.html")]
pub struct ConfirmPage {
    pub chrome: Chrome,
    pub what: Described,
    pub token: String,
    pub csrf: String,
    pub done: bool,
}

pub async fn confirm_subscription_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<TokenQuery>,
) -> Page {
    let Some(token) = query.into_inner().token.filter(|t| !t.is_empty() && t.len() <= 200) else {
        return Ok(subscribe_again(
            StatusCode::NOT_FOUND,
            "This link does not work",
            "The link has no token.",
        ));
    };
    let hash = hash_secret(token.trim());
    let row = state
        .db
        .run(move |conn| crate::notifications::subscriptions::confirmable(conn, &hash))
        .await?;
    let Some(row) = row else {
        return Ok(subscribe_again(
            StatusCode::NOT_FOUND,
            "This link does not work",
            "This confirmation link is unknown, has expired, or its subscription has ended.",
        ));
    };
    let guard = session::guard(&state, &req, None);
    let done = row.status() == SubscriptionStatus::Active;
    let page = ConfirmPage {
        chrome: Chrome::new(
            if done {
                "Subscription confirmed"
            } else {
                "Confirm your subscription"
            },
            None,
        ),
        what: described(&row),
        token,
        csrf: guard.csrf.clone(),
        done,
    };
    Ok(render(StatusCode::OK, Exposure::Private, &page, |b| guard.apply(b)))
}

#[derive(Deserialize)]
struct TokenForm {
    #[serde(default)]
    token: String,
}

pub async fn confirm_subscription(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Page {
    let Some(f) = checked_form::<TokenForm>(&state, &req, &body) else {
        return Ok(forbidden());
    };
    let hash = hash_secret(f.token.trim());
    let public_url = state.config.public_url.clone();
    let actor = Actor {
        user_id: None,
        org_id: None,
        request_id: request_id(&req),
    };
    // The API's confirmation (`POST /subscriptions/confirm`).
    let confirmed = state
        .db
        .write(move |conn| {
            let view = crate::notifications::subscriptions::confirm(conn, &hash, &public_url, &actor)?;
            let row = crate::notifications::model::find(conn, &view.id)?.ok_or_else(ApiError::not_found)?;
            Ok(row)
        })
        .await;
    let row = match confirmed {
        Ok(row) => row,
        Err(e) if e.status == StatusCode::NOT_FOUND => {
            return Ok(subscribe_again(
                StatusCode::NOT_FOUND,
                "This link does not work",
                "This confirmation link is unknown, has expired, or its subscription has ended.",
            ))
        }
        Err(e) => return Err(e),
    };
    let page = ConfirmPage {
        chrome: Chrome::new("Subscription confirmed", None),
        what: described(&row),
        token: String::new(),
        csrf: String::new(),
        done: true,
    };
    Ok(render(StatusCode::OK, Exposure::Private, &page, |_| {}))
}

// ---- /reset-password ---------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "reset_password.html")]
pub struct ResetPage {
    pub chrome: Chrome,
    pub token: String,
    pub csrf: String,
    pub error: Option<String>,
}

fn reset_dead_end() -> HttpResponse {
    message(
        StatusCode::NOT_FOUND,
        Exposure::Private,
        "This link does not work",
        &[
            "This password reset link is unknown, has expired or was used already. Reset links work once, for 60 minutes.",
            "Ask for a new link, or ask your organisation's administrator.",
        ],
        Some(("/forgot-password", "Ask for a new link")),
    )
}

fn reset_form(
    state: &AppState,
    req: &HttpRequest,
    token: String,
    error: Option<String>,
    status: StatusCode,
) -> HttpResponse {
    let guard = session::guard(state, req, None);
    let page = ResetPage {
        chrome: Chrome::new("Choose a new password", None),
        token,
        csrf: guard.csrf.clone(),
        error,
    };
    render(status, Exposure::Private, &page, |b| guard.apply(b))
}

pub async fn reset_password_page(state: web::Data<AppState>, req: HttpRequest, query: web::Query<TokenQuery>) -> Page {
    let Some(token) = query.into_inner().token.filter(|t| !t.is_empty() && t.len() <= 200) else {
        return Ok(reset_dead_end());
    };
    let usable = {
        let token = token.clone();
        state
            .db
            .run(move |conn| Ok(crate::auth::model::password_reset_usable(conn, &token)?))
            .await?
    };
    if !usable {
        return Ok(reset_dead_end());
    }
    Ok(reset_form(&state, &req, token, None, StatusCode::OK))
}

#[derive(Deserialize)]
struct ResetForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    new_password: String,
}

pub async fn reset_password(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Page {
    let Some(f) = checked_form::<ResetForm>(&state, &req, &body) else {
        return Ok(forbidden());
    };
    // The API's confirmation (`POST /auth/password-reset/confirm`): its rules, and every
    // session of the user ends (web sessions too: they record the token version).
    match crate::auth::handlers::reset_password(&state, &req, f.token.clone(), f.new_password).await {
        Ok(()) => {}
        Err(e) if e.status == StatusCode::TOO_MANY_REQUESTS => return Ok(too_many(&e)),
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let error = field_error(&e, "new_password", "The password").or(Some(e.detail));
            return Ok(reset_form(
                &state,
                &req,
                f.token,
                error,
                StatusCode::UNPROCESSABLE_ENTITY,
            ));
        }
        Err(e) if e.code == ErrorCode::InvalidToken => return Ok(reset_dead_end()),
        Err(e) => return Err(e),
    }
    let mut res = message(
        StatusCode::OK,
        Exposure::Private,
        "Password changed",
        &["Your new password is set. Every session you had has ended, on every device and in every program: sign in again with the new password."],
        Some(("/sign-in", "Sign in")),
    );
    if let Ok(v) = header::HeaderValue::from_str(&session::cookie(&state, session::session_cookie(&state), "", Some(0)))
    {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(res)
}

// ---- /accept-invitation ------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "accept_invitation.html")]
pub struct AcceptPage {
    pub chrome: Chrome,
    pub org_name: String,
    pub email: String,
    pub role: &'static str,
    pub token: String,
    pub csrf: String,
    pub name: String,
    pub name_error: Option<String>,
    pub password_error: Option<String>,
}

fn invitation_dead_end() -> HttpResponse {
    message(
        StatusCode::NOT_FOUND,
        Exposure::Private,
        "This invitation does not work",
        &["This invitation link is unknown, has expired or was used already. Invitations work once, for 7 days: ask whoever invited you to send a new one."],
        Some(("/", "Go to the home page")),
    )
}

async fn invitation(state: &AppState, token: &str) -> Result<Option<(String, String, crate::auth::Role)>, ApiError> {
    let token = token.to_string();
    state
        .db
        .run(move |conn| crate::organisations::model::peek_invitation(conn, &token))
        .await
}

pub async fn accept_invitation_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<TokenQuery>,
) -> Page {
    let Some(token) = query.into_inner().token.filter(|t| !t.is_empty() && t.len() <= 200) else {
        return Ok(invitation_dead_end());
    };
    let Some((org_name, email, role)) = invitation(&state, &token).await? else {
        return Ok(invitation_dead_end());
    };
    let guard = session::guard(&state, &req, None);
    let page = AcceptPage {
        chrome: Chrome::new(format!("Join {org_name}"), None),
        org_name,
        email,
        role: role.as_str(),
        token,
        csrf: guard.csrf.clone(),
        name: String::new(),
        name_error: None,
        password_error: None,
    };
    Ok(render(StatusCode::OK, Exposure::Private, &page, |b| guard.apply(b)))
}

#[derive(Deserialize)]
struct AcceptForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

pub async fn accept_invitation(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Page {
    let Some(f) = checked_form::<AcceptForm>(&state, &req, &body) else {
        return Ok(forbidden());
    };
    // The API's acceptance (`POST /invitations/accept`): its rate limit, rules and effects.
    if let Err(e) = crate::organisations::invitations::check_acceptance(&state, &req, &f.name, &f.password).await {
        if e.status == StatusCode::TOO_MANY_REQUESTS {
            return Ok(too_many(&e));
        }
        let Some((org_name, email, role)) = invitation(&state, &f.token).await? else {
            return Ok(invitation_dead_end());
        };
        let guard = session::guard(&state, &req, None);
        let page = AcceptPage {
            chrome: Chrome::new(format!("Join {org_name}"), None),
            org_name,
            email,
            role: role.as_str(),
            token: f.token,
            csrf: guard.csrf.clone(),
            name: f.name,
            name_error: field_error(&e, "name", "The name"),
            password_error: field_error(&e, "new_password", "The password"),
        };
        return Ok(render(
            StatusCode::UNPROCESSABLE_ENTITY,
            Exposure::Private,
            &page,
            |b| guard.apply(b),
        ));
    }
    let hash = state.hasher.hash(f.password).await?;
    let rid = request_id(&req);
    let previous = session::cookie_value(&req, session::session_cookie(&state));
    let (token, name) = (f.token, f.name);
    let started = state
        .db
        .write(move |conn| {
            let user = crate::organisations::invitations::accept(conn, &token, &name, &hash, rid.clone())?;
            let (id, secret) = session::start(conn, &user.id, previous.as_deref())?;
            record(conn, &user.id, &user.org_id, rid, "session.login", &id)?;
            Ok(secret)
        })
        .await;
    match started {
        Ok(secret) => Ok(signed_in(&state, &secret, "/")),
        Err(e) if e.code == ErrorCode::InvalidToken => Ok(invitation_dead_end()),
        Err(e) if e.code == ErrorCode::UserExists => Ok(message(
            StatusCode::CONFLICT,
            Exposure::Private,
            "You have an account already",
            &["An account with this email address exists already: sign in with it."],
            Some(("/sign-in", "Sign in")),
        )),
        Err(e) => Err(e),
    }
}
