use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::{self, UitWindow};
use super::{create, update, WindowStatus};
use crate::auth::{Caller, Capability};
use crate::db::{now, ReleaseId, WindowId};
use crate::http::etag::{tagged, IfMatch};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::json::Json;
use crate::http::pagination::{keyed, list_page, list_query, Page};
use crate::http::responses::*;
use crate::http::ApiError;
use crate::readiness::criteria::ExitCriteria;
use crate::AppState;

list_query! {
    pub struct WindowQuery {
        #[param(value_type = Option<String>)]
        pub release_id: Option<ReleaseId>,
        /// As at the time of the request.
        pub status: Option<WindowStatus>,
    }
}

/// List UIT windows
///
/// Every window, to any signed-in user. Filter with `release_id` and `status` (computed from
/// the clock at the time of the request); ordered by id.
#[utoipa::path(
    tag = "uit-windows",
    operation_id = "listUitWindows",
    params(WindowQuery),
    responses(
        (status = 200, description = "A page of UIT windows", body = Page<UitWindow>),
    ),
    security(("bearer" = []))
)]
#[get("/uit-windows")]
pub async fn list_windows(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<WindowQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    list_page(&state.db, caller, &req, q.page()?, move |conn, _ctx, after, fetch| {
        let now = now();
        let rows = model::list(conn, q.release_id, q.status, now, after, fetch)?;
        Ok(model::assemble(conn, rows, now)?)
    })
    .await
}

keyed!(UitWindow, id);

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"release_id": "0193a1bf-7711-7a02-8c3d-4e5f60718293", "name": "UIT-2027-03", "opens_at": "2027-03-01T09:00:00Z", "closes_at": "2027-03-26T17:00:00Z", "scenarios": ["install_and_commission", "prepayment_top_up", "comms_hub_replacement", "change_of_mode"]}))]
pub struct NewWindow {
    /// A release that is neither `complete` nor `withdrawn`.
    #[schema(value_type = String)]
    pub release_id: ReleaseId,
    /// Unique. Default: the release's name and the window's opening month, e.g. "SEC Release
    /// Feb 2027 UIT — March 2027" (with " (2)", " (3)"... when a window of that name exists).
    #[schema(example = "UIT-2027-03", min_length = 1, max_length = 100)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub opens_at: DateTime<Utc>,
    /// After `opens_at`; at most 28 days later for a `planned_maintenance` release.
    pub closes_at: DateTime<Utc>,
    /// Scenario codes to run, in order; each must exist. Default: the four seeded scenarios.
    #[serde(default)]
    #[schema(min_items = 1, max_items = 100)]
    pub scenarios: Option<Vec<String>>,
    /// What the shared evidence must show before the firmware leaves UIT; see
    /// `GET /uit-windows/{id}/readiness`. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_criteria: Option<ExitCriteria>,
    /// Days a claim lives without a result of its holder (3-365); it then lapses, with a
    /// reminder 2 days before. Default: the `claim_ttl_days` setting (21).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 3, maximum = 365)]
    pub claim_ttl_days: Option<i32>,
}

/// Schedule a UIT window
///
/// Operator organisations only. A `planned_maintenance` release's window lasts at most 28
/// days (422 `window_too_long`); a `complete` or `withdrawn` release gets none (422
/// `release_finished`). Subscribers to `uit_windows` are told.
#[utoipa::path(
    tag = "uit-windows",
    operation_id = "createUitWindow",
    request_body = NewWindow,
    params(crate::http::idempotency::IdempotencyKeyHeader),
    responses(
        (status = 201, description = "Scheduled", body = UitWindow),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    ),
    security(("bearer" = []))
)]
#[post("/uit-windows")]
pub async fn create_window(
    state: web::Data<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    body: Json<NewWindow>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let idem = key.bind("POST /uit-windows", &body);
    let ttl = state.config.claim_ttl_days;
    idempotency::create_as(&state.db, caller, idem, move |conn, ctx, once| {
        ctx.require(Capability::ManageIndustry)?;
        once.create(conn, |conn| create::schedule(conn, &ctx, body, ttl))
    })
    .await
}

/// Get a UIT window
///
/// Any signed-in user. `status` is computed from the clock; the `ETag` is the one `If-Match`
/// on PATCH expects (joins and the clock do not change it).
#[utoipa::path(
    tag = "uit-windows",
    operation_id = "getUitWindow",
    params(("id" = String, Path, description = "UIT window id")),
    responses(
        (status = 200, description = "The UIT window", body = UitWindow, headers(("ETag" = String))),
    ),
    security(("bearer" = []))
)]
#[get("/uit-windows/{id}")]
pub async fn get_window(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<WindowId>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let (row, window) = state
        .db
        .read_as(caller, move |conn, _ctx| model::load(conn, &id))
        .await?;
    Ok(tagged(row.version, &window))
}

crate::text_enum!(
    /// The one status a client sets; the others follow from the clock.
    WindowStatusChange {
        Cancelled => "cancelled",
    }
);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowPatch {
    /// Reschedules the window.
    pub opens_at: Option<DateTime<Utc>>,
    /// Extends (later) or shortens (earlier) the window.
    pub closes_at: Option<DateTime<Utc>>,
    /// `cancelled` cancels the window for good; send it without `opens_at` or `closes_at`.
    pub status: Option<WindowStatusChange>,
    /// Why, with `status: cancelled`.
    #[schema(max_length = 2000)]
    pub cancel_reason: Option<String>,
    /// Replaces the exit criteria as a whole; `null` (or `{}`) removes them. Announced to
    /// subscribers as `window.exit_criteria_changed`.
    #[serde(default, deserialize_with = "crate::catalogue::nullable")]
    #[schema(value_type = Option<ExitCriteria>)]
    pub exit_criteria: Option<Option<ExitCriteria>>,
    /// Days a claim lives without a result of its holder (3-365); `null`: claims in this
    /// window no longer lapse. Applies to the claims held now too.
    #[serde(default, deserialize_with = "crate::catalogue::nullable")]
    #[schema(value_type = Option<i32>, minimum = 3, maximum = 365)]
    pub claim_ttl_days: Option<Option<i32>>,
}

/// Reschedule, extend, shorten or cancel a UIT window, or set its exit criteria
///
/// Operator organisations only. The same rules as scheduling apply to new times. A cancelled
/// window cannot change (422 `window_cancelled`). Each change is announced to subscribers
/// (`window.rescheduled`, `window.extended`, `window.shortened`, `window.cancelled`).
#[utoipa::path(
    tag = "uit-windows",
    operation_id = "updateUitWindow",
    request_body = WindowPatch,
    params(
        ("id" = String, Path, description = "UIT window id"),
        crate::http::etag::IfMatchHeader,
    ),
    responses(
        (status = 200, description = "Updated", body = UitWindow, headers(("ETag" = String))),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[patch("/uit-windows/{id}")]
pub async fn update_window(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<WindowId>,
    if_match: IfMatch,
    body: Json<WindowPatch>,
) -> Result<HttpResponse, ApiError> {
    let (id, patch) = (path.into_inner(), body.into_inner());
    update::check_patch(&patch)?;
    let (version, window) = state
        .db
        .write_as(caller, move |conn, ctx| update::apply(conn, &ctx, &id, if_match, patch))
        .await?;
    Ok(tagged(version, &window))
}
