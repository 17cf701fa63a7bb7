use actix_web::http::header;
use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::feed;
use crate::audit::{self, Actor, Change};
use crate::auth::tokens::{hash_secret, new_secret};
use crate::auth::{AuthContext, Caller, OrgKind};
use crate::db::schema::{calendar_tokens as ct, organisations, users};
use crate::db::{now, OrgId};
use crate::http::responses::*;
use crate::http::ApiError;
use crate::roadmaps::Viewer;
use crate::AppState;

/// Feed tokens start with this, so a leaked one is recognisable.
pub const CALENDAR_TOKEN_PREFIX: &str = "uitc_";

/// A new feed token, shown only in this response.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarToken {
    /// The secret; it cannot be shown again. Rotating replaces it.
    #[schema(example = "uitc_q3JzZ0cH1mB2xQ0yWcVt8nKf5dLr9aEu7iO4pS6hTjM")]
    pub token: String,
    /// The feed URL to give a calendar client.
    #[schema(
        example = "https://uit.example.org/api/v1/calendar.ics?token=uitc_q3JzZ0cH1mB2xQ0yWcVt8nKf5dLr9aEu7iO4pS6hTjM"
    )]
    pub url: String,
    pub created_at: DateTime<Utc>,
}

/// Create or rotate my calendar feed token
///
/// Any signed-in user. Returns a new feed URL; the previous one stops working at once (404).
/// The secret is in this response only, so `Idempotency-Key` is not honoured here.
#[utoipa::path(
    tag = "calendar",
    operation_id = "rotateCalendarToken",
    responses(
        (status = 201, description = "A new feed token", body = CalendarToken),
    ),
    security(("bearer" = []))
)]
#[post("/me/calendar-token")]
pub async fn rotate_calendar_token(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let token = new_secret(CALENDAR_TOKEN_PREFIX);
    let hash = hash_secret(&token);
    let created_at = state
        .db
        .write_as(caller, move |conn, ctx| store_token(conn, &ctx, &hash))
        .await?;
    let url = feed_url(&state.config.public_url, &token);
    Ok(HttpResponse::Created().json(CalendarToken {
        token,
        url,
        created_at: created_at.and_utc(),
    }))
}

/// The feed URL of a token.
pub fn feed_url(public_url: &str, token: &str) -> String {
    format!("{}/api/v1/calendar.ics?token={token}", public_url.trim_end_matches('/'))
}

/// Stores the hash of the caller's new feed token in place of the old one (whose URL stops
/// working), with its audit row; returns when. The API's `POST /me/calendar-token` and the
/// calendar page's button both call it.
pub fn store_token(
    conn: &mut crate::db::DbConn,
    ctx: &AuthContext,
    hash: &str,
) -> Result<chrono::NaiveDateTime, ApiError> {
    let previous: Option<chrono::NaiveDateTime> = ct::table
        .find(&ctx.user_id)
        .select(ct::created_at)
        .first(conn)
        .optional()?;
    diesel::delete(ct::table.find(&ctx.user_id)).execute(conn)?;
    let created_at = now();
    diesel::insert_into(ct::table)
        .values((
            ct::user_id.eq(&ctx.user_id),
            ct::token_hash.eq(hash),
            ct::created_at.eq(created_at),
        ))
        .execute(conn)?;
    audit::record(
        conn,
        &Actor::from(ctx),
        Change::new(
            if previous.is_some() {
                "calendar_token.rotate"
            } else {
                "calendar_token.create"
            },
            "calendar_token",
            &ctx.user_id,
        )
        .org(&ctx.org_id)
        .before_opt(previous.map(|t| serde_json::json!({ "created_at": t.and_utc() })))
        .after(serde_json::json!({ "created_at": created_at.and_utc() })),
    )?;
    Ok(created_at)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    pub token: Option<String>,
}

/// The calendar feed
///
/// An RFC 5545 calendar for calendar clients, authenticated by the feed token in the URL (from
/// `POST /me/calendar-token`) rather than a bearer token. It holds the UIT windows (cancelled
/// ones with `STATUS:CANCELLED`), firmware retirement dates and the `committed` roadmap dates
/// the token's user may see, from 180 days ago on. UIDs are stable (`window-<id>@uit-portal`,
/// `retirement-<firmware id>@uit-portal`, `roadmap-<id>@uit-portal`) and `SEQUENCE` grows
/// with each change, so clients update events rather than duplicate them. A missing, wrong or
/// rotated token is 404.
#[utoipa::path(
    tag = "calendar",
    operation_id = "getCalendarFeed",
    params((
        "token" = String, Query, min_length = 1, max_length = 200, pattern = "^[A-Za-z0-9_-]+$",
        description = "The feed token (`uitc_...`)"
    )),
    responses(
        (status = 200, description = "The calendar", content_type = "text/calendar", body = String),
        (status = 404, response = NotFound),
    ),
    security(())
)]
#[get("/calendar.ics")]
pub async fn calendar_feed(state: web::Data<AppState>, query: web::Query<FeedQuery>) -> Result<HttpResponse, ApiError> {
    let token = query.into_inner().token.ok_or_else(ApiError::not_found)?;
    let hash = hash_secret(&token);
    let body = state
        .db
        .run(move |conn| {
            let (org_id, kind): (OrgId, String) = ct::table
                .inner_join(users::table.inner_join(organisations::table))
                .filter(ct::token_hash.eq(&hash))
                .select((users::org_id, organisations::kind))
                .first(conn)
                .optional()?
                .ok_or_else(ApiError::not_found)?;
            let now = now();
            let operator = OrgKind::parse(&kind) == Some(OrgKind::Operator);
            let viewer = Viewer::load(conn, &org_id, operator, now)?;
            feed::build(conn, &viewer, now)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/calendar; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .body(body))
}
