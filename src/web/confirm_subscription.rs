//! `/confirm-subscription`: the page the confirmation email links to, and its Confirm button
//! (the API's `POST /subscriptions/confirm`). The GET only shows; the POST confirms.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::member::forbidden;
use super::pages::{checked_form, Page, TokenQuery};
use super::session;
use super::{message, render, Chrome, Exposure};
use crate::audit::Actor;
use crate::auth::tokens::hash_secret;
use crate::http::{request_id, ApiError};
use crate::notifications::model::{describe_topics, SubscriptionRow};
use crate::notifications::{Mode, SubscriptionStatus};
use crate::AppState;

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

/// The 404 for a token that confirms nothing.
fn unknown_link() -> HttpResponse {
    subscribe_again(
        StatusCode::NOT_FOUND,
        "This link does not work",
        "This confirmation link is unknown, has expired, or its subscription has ended.",
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
        mode: match row.mode {
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
    let Some(token) = query.into_inner().token() else {
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
        return Ok(unknown_link());
    };
    let guard = session::guard(&state, &req, None);
    let done = row.status == SubscriptionStatus::Active;
    let title = if done {
        "Subscription confirmed"
    } else {
        "Confirm your subscription"
    };
    let page = ConfirmPage {
        chrome: Chrome::new(title, None),
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
        Err(e) if e.status == StatusCode::NOT_FOUND => return Ok(unknown_link()),
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
