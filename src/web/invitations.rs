//! `/accept-invitation`: the page the invitation email links to, and its form (the API's
//! `POST /invitations/accept`), which creates the account and signs the person in.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::member::forbidden;
use super::pages::{checked_form, field_error, record, signed_in, too_many, Page, TokenQuery};
use super::session;
use super::{message, render, Chrome, Exposure};
use crate::db::DbConn;
use crate::http::ErrorCode;
use crate::http::{request_id, ApiError};
use crate::AppState;

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
    let Some(token) = query.into_inner().token() else {
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
        return refused(&state, &req, f, &e).await;
    }
    let hash = state.hasher.hash(f.password).await?;
    let rid = request_id(&req);
    let previous = session::cookie_value(&req, session::session_cookie(&state));
    let (token, name) = (f.token, f.name);
    let started = state
        .db
        .write(move |conn| accept(conn, &token, &name, &hash, rid, previous.as_deref()))
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

/// The form again (422) with the API's refusal `e` beside its fields, re-filled; the dead end
/// when the invitation no longer works.
async fn refused(state: &AppState, req: &HttpRequest, f: AcceptForm, e: &ApiError) -> Page {
    let Some((org_name, email, role)) = invitation(state, &f.token).await? else {
        return Ok(invitation_dead_end());
    };
    let guard = session::guard(state, req, None);
    let page = AcceptPage {
        chrome: Chrome::new(format!("Join {org_name}"), None),
        org_name,
        email,
        role: role.as_str(),
        token: f.token,
        csrf: guard.csrf.clone(),
        name: f.name,
        name_error: field_error(e, "name", "The name"),
        password_error: field_error(e, "new_password", "The password"),
    };
    Ok(render(
        StatusCode::UNPROCESSABLE_ENTITY,
        Exposure::Private,
        &page,
        |b| guard.apply(b),
    ))
}

/// Accepts invitation `token` (the API's acceptance, with its rules and audit rows) as `name`
/// with password hash `hash`, and starts the new user's session, ending the one `previous`
/// named: the new session's cookie secret.
fn accept(
    conn: &mut DbConn,
    token: &str,
    name: &str,
    hash: &str,
    rid: Option<String>,
    previous: Option<&str>,
) -> Result<String, ApiError> {
    let user = crate::organisations::invitations::accept(conn, token, name, hash, rid.clone())?;
    let (id, secret) = session::start(conn, &user.id, previous)?;
    record(conn, &user.id, &user.org_id, rid, "session.login", &id)?;
    Ok(secret)
}
