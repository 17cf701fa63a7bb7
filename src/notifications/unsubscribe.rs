//! `/unsubscribe?token=`: the link every notification email carries. `GET` shows what will
//! stop and a button; `POST` with the form body `List-Unsubscribe=One-Click` (RFC 8058, as
//! mail clients send it) ends the subscription at once: no sign-in, no redirect, idempotent,
//! and whatever was not sent yet is cancelled.

use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::model::{self, describe_topics, SubscriptionRow};
use super::{Mode, SubscriptionStatus};
use crate::audit::{self, Actor, Change};
use crate::db::DbConn;
use crate::http::responses::*;
use crate::http::ErrorCode;
use crate::http::{request_id, ApiError};
use crate::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UnsubscribeQuery {
    /// The token of the email's unsubscribe link (`uitu_...`).
    #[param(min_length = 1, max_length = 200, pattern = "^[A-Za-z0-9_-]+$")]
    pub token: String,
}

/// RFC 8058's only value.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
pub enum OneClickValue {
    #[serde(rename = "One-Click")]
    OneClick,
}

/// The one-click form body (`application/x-www-form-urlencoded`).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct OneClick {
    #[serde(rename = "List-Unsubscribe")]
    pub list_unsubscribe: OneClickValue,
}

/// "a•••@example.org": enough to recognise one's own address, not to harvest it.
fn masked(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}\u{2022}\u{2022}\u{2022}@{domain}")
        }
        None => "\u{2022}\u{2022}\u{2022}".into(),
    }
}

fn describe(row: &SubscriptionRow, email: &str) -> String {
    let mode = match row.mode {
        Mode::Immediate => "as they happen",
        Mode::DailyDigest => "as a daily digest",
    };
    format!(
        "emails about {} for {}, {mode}, to {}",
        describe_topics(&row.topics()),
        row.filters().describe(),
        masked(email)
    )
}

/// The unsubscribe page, in the portal's layout (src/web/templates/unsubscribe.html).
#[derive(askama::Template)]
#[template(path = "unsubscribe.html")]
struct UnsubscribePage {
    chrome: crate::ui::Chrome,
    description: String,
    /// The form's target, when there is still something to unsubscribe from.
    action: Option<String>,
}

/// The token is in the URL, so the page is neither cached nor sent on as a referrer.
fn page(title: &str, description: String, action: Option<String>) -> HttpResponse {
    let page = UnsubscribePage {
        chrome: crate::ui::Chrome::new(title, None),
        description,
        action,
    };
    crate::ui::render(
        actix_web::http::StatusCode::OK,
        crate::ui::Exposure::Private,
        &page,
        |_| {},
    )
}

fn lookup(conn: &mut DbConn, token: &str) -> Result<(SubscriptionRow, String), ApiError> {
    let row = model::find_by_unsubscribe_token(conn, token)?.ok_or_else(ApiError::not_found)?;
    let email = super::subscriptions::recipient_of(conn, &row)?.unwrap_or_default();
    Ok((row, email))
}

/// The unsubscribe page
///
/// What the email's unsubscribe link opens: an HTML page saying which emails will stop, with
/// a button that posts the one-click form. Opening it changes nothing (link scanners open
/// links). An unknown token is 404.
#[utoipa::path(
    tag = "notifications",
    operation_id = "showUnsubscribe",
    params(UnsubscribeQuery),
    responses(
        (status = 200, description = "An HTML page with the unsubscribe button", content_type = "text/html", body = String),
        (status = 404, response = NotFound),
    ),
    security(())
)]
#[get("/unsubscribe")]
pub async fn unsubscribe_page(
    state: web::Data<AppState>,
    query: web::Query<UnsubscribeQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let token = query.into_inner().token;
    let (row, email) = {
        let token = token.clone();
        state.db.run(move |conn| lookup(conn, &token)).await?
    };
    if row.status == SubscriptionStatus::Unsubscribed {
        return Ok(page(
            "Unsubscribed",
            format!(
                "This subscription has ended: no more {} are sent.",
                describe(&row, &email)
            ),
            None,
        ));
    }
    let action = format!(
        "{}?{}",
        req.path(),
        serde_urlencoded::to_string([("token", &token)]).unwrap_or_default()
    );
    Ok(page("Unsubscribe", describe(&row, &email), Some(action)))
}

/// Whether `body` is RFC 8058's one-click form: `List-Unsubscribe=One-Click`, URL-encoded or
/// as multipart/form-data (both are allowed by the RFC). `Err` for another content type.
fn one_click(content_type: &str, body: &[u8]) -> Result<bool, ApiError> {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "application/x-www-form-urlencoded" => {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
            Ok(pairs.iter().any(|(k, v)| k == "List-Unsubscribe" && v == "One-Click"))
        }
        "multipart/form-data" => {
            let text = String::from_utf8_lossy(body);
            let named = text.contains("name=\"List-Unsubscribe\"");
            let value = text.split("name=\"List-Unsubscribe\"").nth(1).is_some_and(|rest| {
                rest.split("\r\n\r\n")
                    .nth(1)
                    .is_some_and(|v| v.starts_with("One-Click"))
            });
            Ok(named && value)
        }
        _ => Err(ApiError::new(
            actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "The body must be the form List-Unsubscribe=One-Click (application/x-www-form-urlencoded).",
        )),
    }
}

/// Unsubscribe with one click
///
/// RFC 8058 one-click unsubscribe, as mail clients post it from the `List-Unsubscribe` header
/// and as the unsubscribe page's button does: the body is the form
/// `List-Unsubscribe=One-Click`. Ends the subscription at once, with no sign-in and no
/// redirect, and cancels its notifications not sent yet. Posting again answers the same. The
/// answer is a short HTML page. An unknown token is 404.
#[utoipa::path(
    tag = "notifications",
    operation_id = "unsubscribe",
    params(UnsubscribeQuery),
    request_body(content = OneClick, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Unsubscribed (also when it already was)", content_type = "text/html", body = String),
        (status = 404, response = NotFound),
    ),
    security(())
)]
#[post("/unsubscribe")]
pub async fn unsubscribe(
    state: web::Data<AppState>,
    query: web::Query<UnsubscribeQuery>,
    body: web::Bytes,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !one_click(content_type, &body)? {
        return Err(ApiError::bad_request(
            ErrorCode::MalformedBody,
            "The body must be the form List-Unsubscribe=One-Click (RFC 8058).",
        ));
    }
    let token = query.into_inner().token;
    let actor = Actor {
        user_id: None,
        org_id: None,
        request_id: request_id(&req),
    };
    let public_url = state.config.public_url.clone();
    let (row, email) = state
        .db
        .write(move |conn| end_by_token(conn, &token, &actor, &public_url))
        .await?;
    Ok(page(
        "Unsubscribed",
        format!(
            "Done: no more {} will be sent. Notifications not sent yet are cancelled.",
            describe(&row, &email)
        ),
        None,
    ))
}

/// Ends the subscription of an unsubscribe token (404 when unknown); returns it with its
/// recipient's address. Ending one already ended changes nothing; otherwise the change is
/// audited, without the unsubscribe link (the token is a credential).
pub fn end_by_token(
    conn: &mut DbConn,
    token: &str,
    actor: &Actor,
    public_url: &str,
) -> Result<(SubscriptionRow, String), ApiError> {
    let (row, email) = lookup(conn, token)?;
    if model::end(conn, &row)? {
        let before = model::Subscription::new(row.clone(), email.clone(), public_url);
        let mut after = before.clone();
        after.status = SubscriptionStatus::Unsubscribed;
        let redact = |s: &model::Subscription| {
            let mut v = serde_json::to_value(s).unwrap_or_default();
            if let Some(map) = v.as_object_mut() {
                map.remove("unsubscribe_url");
            }
            v
        };
        audit::record(
            conn,
            actor,
            Change {
                action: "subscription.unsubscribe",
                entity_type: "subscription",
                entity_id: &row.id,
                org_id: None,
                before: Some(redact(&before)),
                after: Some(redact(&after)),
            },
        )?;
    }
    Ok((row, email))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_click_bodies_are_recognised() {
        let form = "application/x-www-form-urlencoded";
        assert!(one_click(form, b"List-Unsubscribe=One-Click").unwrap());
        assert!(one_click(
            "application/x-www-form-urlencoded; charset=utf-8",
            b"List-Unsubscribe=One-Click"
        )
        .unwrap());
        assert!(!one_click(form, b"List-Unsubscribe=Other").unwrap());
        assert!(!one_click(form, b"").unwrap());
        let multipart =
            "--b\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--b--\r\n";
        assert!(one_click("multipart/form-data; boundary=b", multipart.as_bytes()).unwrap());
        assert_eq!(one_click("application/json", b"{}").unwrap_err().status.as_u16(), 415);
        assert_eq!(masked("alice@example.org"), "a\u{2022}\u{2022}\u{2022}@example.org");
    }
}
