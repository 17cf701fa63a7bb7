//! Confirming an address's subscription with the token its confirmation email carried.

use actix_web::{post, web, HttpRequest, HttpResponse};
use chrono::Duration;
use diesel::prelude::*;
use serde::Deserialize;
use utoipa::ToSchema;

use super::create::*;
use crate::audit::Actor;
use crate::auth::tokens::hash_secret;
use crate::db::schema::subscriptions as s;
use crate::db::{now, DbConn};
use crate::http::json::Json;
use crate::http::responses::*;
use crate::http::ErrorCode;
use crate::http::{request_id, ApiError};
use crate::notifications::model::{self, Subscription, SubscriptionRow};
use crate::notifications::SubscriptionStatus;
use crate::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmSubscription {
    /// The token from the confirmation email (`uitn_...`).
    #[schema(min_length = 1, max_length = 200)]
    pub token: String,
}

/// Confirm a subscription
///
/// Activates the subscription of an address without an account, with the token from its
/// confirmation email; from now on changes are emailed there. Confirming again answers the
/// same. When the address already has an active subscription with the same topics, filters
/// and mode, that one is returned and no second one is made. An unknown, expired or ended
/// token is 404.
#[utoipa::path(
    tag = "notifications",
    operation_id = "confirmSubscription",
    request_body = ConfirmSubscription,
    responses(
        (status = 200, description = "The active subscription", body = Subscription),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
    ),
    security(())
)]
#[post("/subscriptions/confirm")]
pub async fn confirm_subscription(
    state: web::Data<AppState>,
    body: Json<ConfirmSubscription>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let hash = hash_secret(body.into_inner().token.trim());
    let public_url = state.config.public_url.clone();
    let actor = Actor {
        user_id: None,
        org_id: None,
        request_id: request_id(&req),
    };
    let view = state
        .db
        .write(move |conn| confirm(conn, &hash, &public_url, &actor))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// The subscription a confirmation token (by its hash) confirms: a pending one whose token has
/// not expired, or one it confirmed already; `None` for an unknown, expired or ended token.
/// Reads only (the page the confirmation email links to shows it before the button).
pub fn confirmable(conn: &mut DbConn, hash: &str) -> Result<Option<SubscriptionRow>, ApiError> {
    let row: Option<SubscriptionRow> = s::table
        .filter(s::confirm_token_hash.eq(hash))
        .filter(s::user_id.is_null())
        .select(SubscriptionRow::as_select())
        .first(conn)
        .optional()?;
    let Some(row) = row else { return Ok(None) };
    match row.status {
        SubscriptionStatus::Active => Ok(Some(row)),
        SubscriptionStatus::Unsubscribed => Ok(None),
        SubscriptionStatus::Pending => {
            let sent = row.confirmation_sent_at.unwrap_or(row.created_at);
            Ok((sent >= now() - Duration::hours(CONFIRMATION_TTL_HOURS)).then_some(row))
        }
    }
}

/// Confirms the subscription of a confirmation token (by its hash), with its audit row; the
/// API's confirmation and the web page's button both call it.
pub fn confirm(conn: &mut DbConn, hash: &str, public_url: &str, actor: &Actor) -> Result<Subscription, ApiError> {
    let row = confirmable(conn, hash)?.ok_or_else(ApiError::not_found)?;
    let email = row.email.clone().unwrap_or_default();
    if row.status == SubscriptionStatus::Active {
        return Ok(Subscription::new(row, email, public_url));
    }
    let twin: Option<SubscriptionRow> = s::table
        .filter(s::email.eq(&email))
        .filter(s::status.eq(SubscriptionStatus::Active))
        .filter(s::topics_json.eq(&row.topics_json))
        .filter(s::filters_json.eq(&row.filters_json))
        .filter(s::mode.eq(&row.mode))
        .select(SubscriptionRow::as_select())
        .first(conn)
        .optional()?;
    if let Some(twin) = twin {
        diesel::delete(s::table.find(&row.id)).execute(conn)?;
        return Ok(Subscription::new(twin, email, public_url));
    }
    let before = Subscription::new(row.clone(), email.clone(), public_url);
    let mut confirmed = row.clone();
    confirmed.status = SubscriptionStatus::Active;
    confirmed.confirmed_at = Some(now());
    if !model::update(conn, &confirmed)? {
        return Err(ApiError::conflict(
            ErrorCode::Retry,
            "A concurrent change interfered; retry the request.",
        ));
    }
    let saved = model::find(conn, &row.id)?.ok_or_else(ApiError::not_found)?;
    let after = Subscription::new(saved, email, public_url);
    audit_change(conn, actor, "subscription.confirm", &after, Some(&before), Some(&after))?;
    Ok(after)
}
