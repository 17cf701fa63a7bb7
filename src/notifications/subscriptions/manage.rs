//! A subscriber's own subscriptions: list, read, change, end; and whom one mails.

use actix_web::{delete, get, patch, web, HttpRequest, HttpResponse};
use diesel::prelude::*;
use serde::Deserialize;
use utoipa::ToSchema;

use super::create::*;
use crate::audit::Actor;
use crate::auth::{AuthContext, Caller};
use crate::db::schema::users;
use crate::db::DbConn;
use crate::events::Topic;
use crate::http::etag::{tagged, write_no_content, IfMatch};
use crate::http::json::Json;
use crate::http::pagination::{keyed, list_page, list_query, Page};
use crate::http::responses::*;
use crate::http::validate::Validator;
use crate::http::ApiError;
use crate::notifications::model::{self, filters_json, topics_json, Filters, Subscription, SubscriptionRow};
use crate::notifications::Mode;
use crate::AppState;

list_query! {
    pub struct SubscriptionQuery {
    }
}

keyed!(Subscription, id);

/// List my subscriptions
///
/// The signed-in user's own subscriptions that have not ended, by id.
#[utoipa::path(
    tag = "notifications",
    operation_id = "listSubscriptions",
    params(SubscriptionQuery),
    responses(
        (status = 200, description = "A page of subscriptions", body = Page<Subscription>),
    ),
    security(("bearer" = []))
)]
#[get("/subscriptions")]
pub async fn list_subscriptions(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<SubscriptionQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let public_url = state.config.public_url.clone();
    let page = q.page()?;
    list_page(&state.db, caller, &req, page, move |conn, ctx, after, fetch| {
        let rows = model::list_own(conn, &ctx.user_id, after, fetch)?;
        Ok(rows
            .into_iter()
            .map(|r| Subscription::new(r, ctx.email.clone(), &public_url))
            .collect())
    })
    .await
}

/// Get one of my subscriptions
///
/// The signed-in user's own subscription; anyone else's id is 404. The `ETag` is the one
/// `If-Match` on PATCH and DELETE expects.
#[utoipa::path(
    tag = "notifications",
    operation_id = "getSubscription",
    params(("id" = String, Path, description = "Subscription id")),
    responses(
        (status = 200, description = "The subscription", body = Subscription, headers(("ETag" = String))),
        (status = 404, response = NotFound),
    ),
    security(("bearer" = []))
)]
#[get("/subscriptions/{id}")]
pub async fn get_subscription(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let (email, row) = state
        .db
        .read_as(caller, move |conn, ctx| {
            let row = model::find_own(conn, &ctx.user_id, &id)?.ok_or_else(ApiError::not_found)?;
            Ok((ctx.email, row))
        })
        .await?;
    Ok(tagged(
        row.version,
        &Subscription::new(row, email, &state.config.public_url),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionPatch {
    /// Replaces the topics; at least one.
    #[schema(min_items = 1)]
    pub topics: Option<Vec<Topic>>,
    /// Replaces the filters as a whole.
    pub filters: Option<Filters>,
    /// From `daily_digest` to `immediate`, changes already waiting still go out in their digest.
    pub mode: Option<Mode>,
}

/// Change one of my subscriptions
///
/// Topics, filters and mode of the signed-in user's own subscription; anyone else's id is 404.
#[utoipa::path(
    tag = "notifications",
    operation_id = "updateSubscription",
    request_body = SubscriptionPatch,
    params(
        ("id" = String, Path, description = "Subscription id"),
        crate::http::etag::IfMatchHeader,
    ),
    responses(
        (status = 200, description = "Updated", body = Subscription, headers(("ETag" = String))),
        (status = 404, response = NotFound),
        (status = 412, response = PreconditionFailed),
        (status = 422, response = Unprocessable),
    ),
    security(("bearer" = []))
)]
#[patch("/subscriptions/{id}")]
pub async fn update_subscription(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    if_match: IfMatch,
    body: Json<SubscriptionPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let patch = body.into_inner();
    let mut v = Validator::new();
    check_patch(&mut v, &patch);
    v.finish()?;
    let public_url = state.config.public_url.clone();
    let (version, view) = state
        .db
        .write_as(caller, move |conn, ctx| {
            update_own(conn, &ctx, &id, &if_match, patch, &public_url)
        })
        .await?;
    Ok(tagged(version, &view))
}

/// The checks a change gets before the database: at least one topic, filter sizes.
pub fn check_patch(v: &mut Validator, patch: &SubscriptionPatch) {
    if let Some(topics) = &patch.topics {
        check_topics(v, topics);
    }
    if let Some(filters) = &patch.filters {
        filters.check(v);
    }
}

/// Changes the caller's own subscription `id` (404 for anyone else's), with its audit row
/// when something changed; returns its version and view. The API's PATCH and the
/// subscriptions page both call it, after [`check_patch`].
pub fn update_own(
    conn: &mut DbConn,
    ctx: &AuthContext,
    id: &str,
    if_match: &IfMatch,
    patch: SubscriptionPatch,
    public_url: &str,
) -> Result<(i64, Subscription), ApiError> {
    let before = model::find_own(conn, &ctx.user_id, id)?.ok_or_else(ApiError::not_found)?;
    if_match.check(before.version)?;
    let mut row = before.clone();
    if let Some(topics) = &patch.topics {
        row.topics_json = topics_json(topics);
    }
    if let Some(filters) = patch.filters {
        let filters = filters.normalised();
        let mut v = Validator::new();
        filters.check_references(conn, &mut v)?;
        v.finish()?;
        row.filters_json = filters_json(&filters);
    }
    if let Some(mode) = patch.mode {
        row.mode = mode;
    }
    let unchanged =
        row.topics_json == before.topics_json && row.filters_json == before.filters_json && row.mode == before.mode;
    if unchanged {
        return Ok((before.version, Subscription::new(before, ctx.email.clone(), public_url)));
    }
    if !model::update(conn, &row)? {
        return Err(ApiError::precondition_failed());
    }
    let saved = model::find(conn, id)?.ok_or_else(ApiError::not_found)?;
    let before = Subscription::new(before, ctx.email.clone(), public_url);
    let version = saved.version;
    let after = Subscription::new(saved, ctx.email.clone(), public_url);
    audit_change(
        conn,
        &Actor::from(ctx),
        "subscription.update",
        &after,
        Some(&before),
        Some(&after),
    )?;
    Ok((version, after))
}

/// End one of my subscriptions
///
/// Ends the signed-in user's own subscription at once: nothing more is sent for it, including
/// notifications already queued. Anyone else's id is 404.
#[utoipa::path(
    tag = "notifications",
    operation_id = "deleteSubscription",
    params(
        ("id" = String, Path, description = "Subscription id"),
        crate::http::etag::IfMatchHeader,
    ),
    responses(
        (status = 204, description = "Ended"),
        (status = 404, response = NotFound),
        (status = 412, response = PreconditionFailed),
    ),
    security(("bearer" = []))
)]
#[delete("/subscriptions/{id}")]
pub async fn delete_subscription(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let public_url = state.config.public_url.clone();
    write_no_content(&state.db, caller, move |conn, ctx| {
        end_own(conn, &ctx, &id, &if_match, &public_url)
    })
    .await
}

/// Ends the caller's own subscription `id` (404 for anyone else's), with its audit row: the
/// API's DELETE and the subscriptions page both call it.
pub fn end_own(
    conn: &mut DbConn,
    ctx: &AuthContext,
    id: &str,
    if_match: &IfMatch,
    public_url: &str,
) -> Result<(), ApiError> {
    let row = model::find_own(conn, &ctx.user_id, id)?.ok_or_else(ApiError::not_found)?;
    if_match.check(row.version)?;
    model::end(conn, &row)?;
    let before = Subscription::new(row, ctx.email.clone(), public_url);
    audit_change(
        conn,
        &Actor::from(ctx),
        "subscription.delete",
        &before,
        Some(&before),
        None,
    )
}

/// The address a subscription's mail goes to: its own, or its user's current one.
pub fn recipient_of(conn: &mut DbConn, row: &SubscriptionRow) -> QueryResult<Option<String>> {
    match (&row.email, &row.user_id) {
        (Some(email), _) => Ok(Some(email.clone())),
        (None, Some(user_id)) => users::table.find(user_id).select(users::email).first(conn).optional(),
        (None, None) => Ok(None),
    }
}
