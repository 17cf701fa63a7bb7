//! Subscribing: a signed-in user for themselves, an address without an account with double
//! opt-in (one confirmation email, nothing else until confirmed).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{post, web, FromRequest, HttpRequest, HttpResponse};
use chrono::Duration;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::{self, Actor, Change};
use crate::auth::tokens::{hash_secret, new_secret};
use crate::auth::AuthContext;
use crate::db::schema::subscriptions as s;
use crate::db::{new_id, now, DbConn, UserId};
use crate::events::Topic;
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::json::Json;
use crate::http::ratelimit::{Bucket, Spend};
use crate::http::responses::*;
use crate::http::validate::{normalise_email, Validator};
use crate::http::{client_ip, request_id, ApiError};
use crate::mail::{self, Template};
use crate::notifications::model::{
    self, describe_topics, filters_json, normalise_topics, topics_json, Filters, Subscription, SubscriptionRow,
    CONFIRM_TOKEN_PREFIX, UNSUBSCRIBE_TOKEN_PREFIX,
};
use crate::notifications::{Mode, SubscriptionStatus};
use crate::AppState;

// The `Subscription` type lives in notifications/model.rs; its 201 (signed-in create) points
// at the subscription.
crate::http::idempotency::located!(Subscription, "/api/v1/subscriptions", id);

/// At most one confirmation email per address in this time.
pub(super) const CONFIRMATION_INTERVAL_HOURS: i64 = 1;

/// How long a confirmation token works; unconfirmed subscriptions are dropped after it.
pub(super) const CONFIRMATION_TTL_HOURS: i64 = 48;

/// The caller when a bearer token is sent, or nobody. A token that is sent but invalid is
/// still 401: a client that meant to sign in must not be taken for an anonymous one.
pub struct MaybeAuth(pub Option<AuthContext>);

impl FromRequest for MaybeAuth {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if !req.headers().contains_key(header::AUTHORIZATION) {
            return Box::pin(async { Ok(MaybeAuth(None)) });
        }
        let auth = AuthContext::from_request(req, payload);
        Box::pin(async move { Ok(MaybeAuth(Some(auth.await?))) })
    }
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSubscription {
    /// Only without a bearer token: the address to subscribe. It gets one confirmation email
    /// and nothing else until the token in it is confirmed. Signed-in users leave it out:
    /// their own address is used.
    #[schema(example = "planner@example.org", max_length = 254)]
    pub email: Option<String>,
    /// At least one.
    #[schema(min_items = 1)]
    pub topics: Vec<Topic>,
    /// Default: everything.
    #[serde(default)]
    pub filters: Filters,
    /// Default `immediate`.
    #[serde(default)]
    pub mode: Option<Mode>,
}

/// The answer to every subscription request without an account, whatever the address.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionRequested {
    #[schema(
        example = "If this address can receive email, a confirmation is on its way. Nothing else is sent until it is confirmed."
    )]
    pub message: String,
}

pub(super) fn requested() -> HttpResponse {
    HttpResponse::Accepted().json(SubscriptionRequested {
        message: "If this address can receive email, a confirmation is on its way. Nothing else is sent \
                  until it is confirmed."
            .into(),
    })
}

pub(super) fn check_topics(v: &mut Validator, topics: &[Topic]) {
    if topics.is_empty() {
        v.error("topics", "must name at least one topic");
    }
}

/// Subscribe to changes
///
/// With a bearer token: subscribes the signed-in user (mail goes to their address), active at
/// once: 201 with the subscription. Without one: `email` is required; the answer is always the
/// same 202, whether or not the address is known or already subscribed. The address receives
/// one confirmation email (at most one per address per hour; requests in between are dropped)
/// and nothing else until the token in it is sent to `POST /subscriptions/confirm`; the token
/// works for 48 hours. Asking again while the address has a request pending replaces that
/// request's topics, filters and mode: the one confirmation confirms the latest choice. Subscribers hear only of what they could read in the API: without an
/// account, industry-visible changes; the topics `results` and `uit_issues` need an account
/// (422 naming `topics[i]` without one). `results` tells of new failures and new known issues
/// of the results the subscriber may read (participants-level ones of windows its
/// organisation joined, industry ones), one change per window and visibility a write touched;
/// `filters.uit_window_ids` narrows any topic to changes within those windows.
/// `Idempotency-Key` applies to signed-in callers.
#[utoipa::path(
    tag = "notifications",
    operation_id = "createSubscription",
    request_body = NewSubscription,
    params(crate::http::idempotency::IdempotencyKeyHeader),
    responses(
        (status = 201, description = "Subscribed (signed in)", body = Subscription),
        (status = 202, description = "Without an account: a confirmation email may be on its way", body = SubscriptionRequested),
        (status = 422, response = Unprocessable),
        (status = 429, response = TooManyRequests),
    ),
    security(("bearer" = []), ())
)]
#[post("/subscriptions")]
pub async fn create_subscription(
    state: web::Data<AppState>,
    MaybeAuth(auth): MaybeAuth,
    key: IdempotencyKey,
    body: Json<NewSubscription>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut body = body.into_inner();
    check_request(auth.as_ref(), &body)?;
    normalise_new(&mut body);
    let public_url = state.config.public_url.trim_end_matches('/').to_string();
    match auth {
        Some(ctx) => {
            let idem = key.bind("POST /subscriptions", &body);
            let stored = state
                .db
                .write(move |conn| {
                    idempotency::created(conn, idem.as_ref(), &ctx.user_id, |conn| {
                        create_own(conn, &ctx, &body, &public_url)
                    })
                })
                .await?;
            Ok(stored.into_response())
        }
        None => {
            subscribe_address(&state, &req, body).await?;
            Ok(requested())
        }
    }
}

/// The handler's checks before the database: [`check_new`], and `email` given exactly when
/// no one is signed in.
fn check_request(auth: Option<&AuthContext>, body: &NewSubscription) -> Result<(), ApiError> {
    let mut v = Validator::new();
    check_new(&mut v, body);
    match (auth, &body.email) {
        (Some(_), Some(_)) => v.error(
            "email",
            "leave it out when signed in: your subscriptions go to your own address",
        ),
        (None, None) => v.error("email", "is required without a bearer token"),
        (None, Some(email)) => v.email("email", email.trim()),
        (Some(_), None) => {}
    }
    v.finish()
}

/// A subscription request from an address without an account (`body.email`): the checks,
/// rate limits, then a pending subscription and its confirmation
/// email, or nothing when one went out within the hour. The caller answers the same either
/// way. The API's anonymous `POST /subscriptions` and the web page's form both call it.
pub async fn subscribe_address(state: &AppState, req: &HttpRequest, mut body: NewSubscription) -> Result<(), ApiError> {
    // The handler's rules again (a no-op after them), for callers that did not check.
    check_address_request(&body)?;
    normalise_new(&mut body);
    let public_url = state.config.public_url.trim_end_matches('/').to_string();
    let email = normalise_email(body.email.as_deref().unwrap_or_default());
    // Each request emails a confirmation: capped per client address and per mailbox.
    let ip = client_ip(req, state.config.trust_forwarded_for);
    state
        .limits
        .check([
            Spend::address(Bucket::SubscribeAddress, ip),
            Some(Spend::account(Bucket::SubscribeMailbox, &email)),
        ])
        .await?;
    let actor = Actor {
        user_id: None,
        org_id: None,
        request_id: request_id(req),
    };
    let queued = state
        .db
        .write(move |conn| request_confirmation(conn, &actor, &email, &body, &public_url))
        .await?;
    if queued {
        state.mail_wake.notify_one();
    }
    Ok(())
}

/// The checks of a request without an account: [`check_new`], a well-formed `email`, and no
/// topic that needs an account (422 naming `topics[i]`).
fn check_address_request(body: &NewSubscription) -> Result<(), ApiError> {
    let mut v = Validator::new();
    check_new(&mut v, body);
    v.email("email", body.email.as_deref().unwrap_or_default().trim());
    for (i, topic) in body.topics.iter().enumerate() {
        if model::needs_account(*topic) {
            v.error(
                &format!("topics[{i}]"),
                format!(
                    "`{}` tells of what only signed-in organisations may read; subscribe with an account to follow it",
                    topic.as_str()
                ),
            );
        }
    }
    v.finish()
}

/// The checks a new subscription gets before the database: at least one topic, filter sizes.
pub fn check_new(v: &mut Validator, body: &NewSubscription) {
    check_topics(v, &body.topics);
    body.filters.check(v);
}

/// Topics and filters sorted and without repeats, as they are stored.
pub fn normalise_new(body: &mut NewSubscription) {
    body.topics = normalise_topics(&body.topics);
    body.filters = std::mem::take(&mut body.filters).normalised();
}

/// Subscribes the signed-in caller (active at once, mail to their own address), with its
/// audit row: the API's create with a bearer token and the subscriptions page both call it,
/// after [`check_new`] and [`normalise_new`].
pub fn create_own(
    conn: &mut DbConn,
    ctx: &AuthContext,
    body: &NewSubscription,
    public_url: &str,
) -> Result<Subscription, ApiError> {
    let mut v = Validator::new();
    body.filters.check_references(conn, &mut v)?;
    v.finish()?;
    let row = new_row(Some(ctx.user_id.clone()), None, body, SubscriptionStatus::Active);
    diesel::insert_into(s::table).values(&row).execute(conn)?;
    let view = Subscription::new(row, ctx.email.clone(), public_url);
    audit_change(conn, &Actor::from(ctx), "subscription.create", &view, None, Some(&view))?;
    Ok(view)
}

pub(super) fn new_row(
    user_id: Option<UserId>,
    email: Option<String>,
    body: &NewSubscription,
    status: SubscriptionStatus,
) -> SubscriptionRow {
    let now = now();
    SubscriptionRow {
        id: new_id(),
        user_id,
        email,
        topics_json: topics_json(&body.topics),
        filters_json: filters_json(&body.filters),
        mode: body.mode.unwrap_or(Mode::Immediate),
        status,
        confirm_token_hash: None,
        confirmation_sent_at: None,
        confirmed_at: None,
        unsubscribe_token: new_secret(UNSUBSCRIBE_TOKEN_PREFIX),
        unsubscribed_at: None,
        created_at: now,
        updated_at: now,
        version: 1,
    }
}

/// Records a pending subscription for `email` and queues its confirmation, unless the address
/// had a confirmation within the hour; a pending request of the address takes the new choice
/// instead of a second row. Returns whether an email was queued. The caller learns nothing
/// from it: the HTTP answer is the same either way.
pub(super) fn request_confirmation(
    conn: &mut DbConn,
    actor: &Actor,
    email: &str,
    body: &NewSubscription,
    public_url: &str,
) -> Result<bool, ApiError> {
    let mut v = Validator::new();
    body.filters.check_references(conn, &mut v)?;
    v.finish()?;
    let now = now();
    // Unconfirmed subscriptions whose token expired are dropped here rather than by a sweep.
    diesel::delete(
        s::table
            .filter(s::status.eq(SubscriptionStatus::Pending))
            .filter(s::confirmation_sent_at.lt(now - Duration::hours(CONFIRMATION_TTL_HOURS))),
    )
    .execute(conn)?;
    let recent: bool =
        diesel::select(diesel::dsl::exists(s::table.filter(s::email.eq(email)).filter(
            s::confirmation_sent_at.gt(now - Duration::hours(CONFIRMATION_INTERVAL_HOURS)),
        )))
        .get_result(conn)?;
    // One pending request per address: asking again replaces its choice, so the one
    // confirmation (the email already sent, or the next one) confirms the latest.
    let pending: Option<SubscriptionRow> = s::table
        .filter(s::email.eq(email))
        .filter(s::user_id.is_null())
        .filter(s::status.eq(SubscriptionStatus::Pending))
        .order(s::created_at.desc())
        .select(SubscriptionRow::as_select())
        .first(conn)
        .optional()?;
    if recent {
        if let Some(before) = pending {
            let mut row = before.clone();
            row.topics_json = topics_json(&body.topics);
            row.filters_json = filters_json(&body.filters);
            row.mode = body.mode.unwrap_or(Mode::Immediate);
            let changed = (&row.topics_json, &row.filters_json, &row.mode)
                != (&before.topics_json, &before.filters_json, &before.mode);
            if changed && model::update(conn, &row)? {
                let view = |r: SubscriptionRow| Subscription::new(r, email.to_string(), public_url);
                let (before, after) = (view(before), view(row));
                audit_change(conn, actor, "subscription.request", &after, Some(&before), Some(&after))?;
            }
        }
        return Ok(false);
    }
    if let Some(stale) = pending {
        // Its token is older than the interval: the new email carries the only token.
        diesel::delete(s::table.find(&stale.id)).execute(conn)?;
    }
    let token = new_secret(CONFIRM_TOKEN_PREFIX);
    let mut row = new_row(None, Some(email.to_string()), body, SubscriptionStatus::Pending);
    row.confirm_token_hash = Some(hash_secret(&token));
    row.confirmation_sent_at = Some(now);
    diesel::insert_into(s::table).values(&row).execute(conn)?;
    let expires_at = crate::notifications::wording::instant((now + Duration::hours(CONFIRMATION_TTL_HOURS)).and_utc());
    let mode = match body.mode.unwrap_or(Mode::Immediate) {
        Mode::Immediate => "an email for each change, as it happens",
        Mode::DailyDigest => "one email a day (a daily digest)",
    };
    let rendered = mail::render(
        Template::SubscriptionConfirm,
        &[
            ("topics", &describe_topics(&body.topics)),
            ("filters", &body.filters.describe()),
            ("mode", mode),
            (
                "confirm_url",
                &format!("{public_url}/confirm-subscription?token={token}"),
            ),
            ("token", &token),
            ("expires_at", &expires_at),
            ("public_url", public_url),
        ],
    );
    mail::enqueue(conn, email, &rendered)?;
    let view = Subscription::new(row, email.to_string(), public_url);
    audit_change(conn, actor, "subscription.request", &view, None, Some(&view))?;
    Ok(true)
}

pub(super) fn audit_change(
    conn: &mut DbConn,
    actor: &Actor,
    action: &str,
    subject: &Subscription,
    before: Option<&Subscription>,
    after: Option<&Subscription>,
) -> Result<(), ApiError> {
    // The unsubscribe link is a capability; the audit trail does not need it.
    let redact = |s: &Subscription| {
        let mut value = serde_json::to_value(s).unwrap_or_default();
        if let Some(map) = value.as_object_mut() {
            map.remove("unsubscribe_url");
        }
        value
    };
    audit::record(
        conn,
        actor,
        Change {
            action,
            entity_type: "subscription",
            entity_id: &subject.id,
            org_id: actor.org_id.as_deref(),
            before: before.map(redact),
            after: after.map(redact),
        },
    )
}
