//! `/reset-password`: the page the password reset email links to, and its form (the API's
//! `POST /auth/password-reset/confirm`).

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::member::forbidden;
use super::pages::{checked_form, field_error, too_many, Page, TokenQuery};
use super::session;
use super::{message, render, Chrome, Exposure};
use crate::http::ErrorCode;
use crate::AppState;

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
    let Some(token) = query.into_inner().token() else {
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
