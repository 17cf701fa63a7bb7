//! The operator's view of the notification outbox and its delivery log, and retrying dead ones.

use std::collections::HashMap;

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::{NotificationKind, NotificationStatus};
use crate::audit::{self, Actor, Change};
use crate::auth::{AuthContext, Caller, Capability};
use crate::db::schema::{change_events as ce, notification_deliveries as nd, notifications as n};
use crate::db::{now, DbConn};
use crate::http::pagination::{keyed, list_page, list_query, Page};
use crate::http::responses::*;
use crate::http::ApiError;
use crate::http::ErrorCode;
use crate::AppState;

crate::text_enum!(
    /// How one delivery attempt ended.
    DeliveryOutcome {
        Sent => "sent",
        Failed => "failed",
        Dead => "dead",
        Cancelled => "cancelled",
    }
);

/// One delivery attempt.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryAttempt {
    pub attempt: i32,
    pub attempted_at: DateTime<Utc>,
    pub outcome: DeliveryOutcome,
    /// The SMTP server's answer or the connection error, when it failed.
    pub error: Option<String>,
}

/// A notification in the outbox, with its delivery log.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Notification {
    pub id: String,
    pub kind: NotificationKind,
    pub subscription_id: String,
    /// The change it tells of; null for a digest.
    pub change_event_id: Option<String>,
    /// The change's summary; null for a digest.
    pub summary: Option<String>,
    /// For digests and their items: the (UTC) day.
    pub digest_day: Option<NaiveDate>,
    /// For a digest item folded into a digest: that digest.
    pub digest_id: Option<String>,
    pub recipient: String,
    pub status: NotificationStatus,
    /// Delivery attempts so far.
    pub attempts: i32,
    pub last_error: Option<String>,
    /// When it is due (`pending`, `failed`), or when its lease ends (`sending`).
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// Every attempt, oldest first.
    pub deliveries: Vec<DeliveryAttempt>,
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = n)]
struct NotificationRow {
    id: String,
    kind: NotificationKind,
    subscription_id: String,
    change_event_id: Option<String>,
    digest_id: Option<String>,
    digest_day: Option<NaiveDate>,
    recipient: String,
    status: NotificationStatus,
    attempts: i32,
    next_attempt_at: NaiveDateTime,
    last_error: Option<String>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    sent_at: Option<NaiveDateTime>,
}

/// The rows as views, with summaries and delivery logs (two more queries for the page).
fn views(conn: &mut DbConn, rows: Vec<(NotificationRow, Option<String>)>) -> QueryResult<Vec<Notification>> {
    let ids: Vec<&str> = rows.iter().map(|(r, _)| r.id.as_str()).collect();
    let mut log: HashMap<String, Vec<DeliveryAttempt>> = HashMap::new();
    let attempts: Vec<(String, i32, NaiveDateTime, DeliveryOutcome, Option<String>)> = nd::table
        .filter(nd::notification_id.eq_any(&ids))
        .order((nd::attempted_at.asc(), nd::id.asc()))
        .select((
            nd::notification_id,
            nd::attempt,
            nd::attempted_at,
            nd::outcome,
            nd::error,
        ))
        .load(conn)?;
    for (id, attempt, at, outcome, error) in attempts {
        log.entry(id).or_default().push(DeliveryAttempt {
            attempt,
            attempted_at: at.and_utc(),
            outcome,
            error,
        });
    }
    Ok(rows
        .into_iter()
        .map(|(r, summary)| Notification {
            deliveries: log.remove(&r.id).unwrap_or_default(),
            kind: r.kind,
            status: r.status,
            id: r.id,
            subscription_id: r.subscription_id,
            change_event_id: r.change_event_id,
            summary,
            digest_day: r.digest_day,
            digest_id: r.digest_id,
            recipient: r.recipient,
            attempts: r.attempts,
            last_error: r.last_error,
            next_attempt_at: r.next_attempt_at.and_utc(),
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
            sent_at: r.sent_at.map(|t| t.and_utc()),
        })
        .collect())
}

fn load_one(conn: &mut DbConn, id: &str) -> Result<Notification, ApiError> {
    let row: (NotificationRow, Option<String>) = n::table
        .left_join(ce::table)
        .filter(n::id.eq(id))
        .select((NotificationRow::as_select(), ce::summary.nullable()))
        .first(conn)
        .optional()?
        .ok_or_else(ApiError::not_found)?;
    views(conn, vec![row])?.pop().ok_or_else(ApiError::not_found)
}

list_query! {
    pub struct NotificationQuery {
        pub status: Option<NotificationStatus>,
        pub subscription_id: Option<String>,
    }
}

keyed!(Notification, id);

/// List the notification outbox
///
/// Users of the operator organisation only. Every notification written by the fan-out (one
/// per subscriber and change, or per daily digest), oldest first, with its status, attempts,
/// last error and delivery log. Filter with `status` and `subscription_id`.
#[utoipa::path(
    tag = "notifications",
    operation_id = "listNotifications",
    params(NotificationQuery),
    responses(
        (status = 200, description = "A page of notifications", body = Page<Notification>),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[get("/notifications")]
pub async fn list_notifications(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<NotificationQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let page = q.page()?;
    list_page(&state.db, caller, &req, page, move |conn, ctx, after, fetch| {
        ctx.require_operator("The notification outbox is for the operator organisation.")?;
        let mut query = n::table
            .left_join(ce::table)
            .select((NotificationRow::as_select(), ce::summary.nullable()))
            .into_boxed();
        if let Some(status) = q.status {
            query = query.filter(n::status.eq(status));
        }
        if let Some(id) = q.subscription_id {
            query = query.filter(n::subscription_id.eq(id));
        }
        if let Some(after) = after {
            query = query.filter(n::id.gt(after));
        }
        let rows = query.order(n::id.asc()).limit(fetch).load(conn)?;
        Ok(views(conn, rows)?)
    })
    .await
}

/// Retry a dead notification
///
/// Operator organisation members and admins. Makes a `dead` notification due again with a
/// fresh set of attempts; its delivery log is kept. Any other status is 422
/// `notification_not_dead`.
#[utoipa::path(
    tag = "notifications",
    operation_id = "retryNotification",
    params(("id" = String, Path, description = "Notification id")),
    responses(
        (status = 200, description = "Queued again", body = Notification),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
    ),
    security(("bearer" = []))
)]
#[post("/notifications/{id}/retry")]
pub async fn retry_notification(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let view = state
        .db
        .write_as(caller, move |conn, ctx| retry(conn, &ctx, &id))
        .await?;
    state.notification_wake.notify_waiters();
    Ok(HttpResponse::Ok().json(view))
}

/// Makes a `dead` notification due again with a fresh set of attempts (its delivery log is
/// kept), with its audit row. Needs the capability to manage the industry (403), then an
/// existing notification (404); any status but `dead` is 422 `notification_not_dead`.
pub fn retry(conn: &mut DbConn, ctx: &AuthContext, id: &str) -> Result<Notification, ApiError> {
    ctx.require(Capability::ManageIndustry)?;
    let before = load_one(conn, id)?;
    if before.status != NotificationStatus::Dead {
        return Err(ApiError::unprocessable(
            ErrorCode::NotificationNotDead,
            format!("The notification is {}; only dead ones can be retried.", before.status),
        )
        .with_context(serde_json::json!({ "status": before.status })));
    }
    let now = now();
    diesel::update(n::table.find(id).filter(n::status.eq(NotificationStatus::Dead)))
        .set((
            n::status.eq(NotificationStatus::Pending),
            n::attempts.eq(0),
            n::next_attempt_at.eq(now),
            n::lease_id.eq(None::<String>),
            n::updated_at.eq(now),
        ))
        .execute(conn)?;
    let after = load_one(conn, id)?;
    let brief = |v: &Notification| serde_json::json!({ "status": v.status, "attempts": v.attempts, "last_error": v.last_error });
    audit::record(
        conn,
        &Actor::from(ctx),
        Change {
            action: "notification.retry",
            entity_type: "notification",
            entity_id: id,
            org_id: Some(&ctx.org_id),
            before: Some(brief(&before)),
            after: Some(brief(&after)),
        },
    )?;
    Ok(after)
}
