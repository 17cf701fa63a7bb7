use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Datelike, Duration, NaiveDateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::model::{self, UitWindow, WindowRow};
use super::scenarios::{self, DEFAULT_SCENARIOS};
use super::WindowStatus;
use crate::audit;
use crate::auth::{Caller, Capability};
use crate::db::{new_id, now, DbConn};
use crate::events::{self, show, NewEvent, Topic};
use crate::http::etag::{tagged, IfMatch};
use crate::http::idempotency::{self, IdempotencyKey, StoredResponse};
use crate::http::json::Json;
use crate::http::pagination::{page_response, Page, PageRequest};
use crate::http::responses::*;
use crate::http::validate::Validator;
use crate::http::ApiError;
use crate::http::ErrorCode;
use crate::readiness::criteria::{self, ExitCriteria};
use crate::releases::model::{self as releases, ReleaseRow};
use crate::releases::ReleaseKind;
use crate::AppState;

/// A `planned_maintenance` release's window lasts at most 4 weeks.
const PLANNED_MAINTENANCE_MAX_DAYS: i64 = 28;

/// Most scenarios one window may name.
const MAX_SCENARIOS: usize = 100;

fn instant(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc().trunc_subsecs(6)
}

/// 422 unless the release is still in progress: a finished release gets no testing.
fn check_release_in_progress(release: &ReleaseRow) -> Result<(), ApiError> {
    let stage = release.stage();
    if stage.is_finished() {
        return Err(ApiError::unprocessable(
            ErrorCode::ReleaseFinished,
            format!(
                "Release {} is {stage}; its UIT windows cannot be scheduled or moved.",
                release.name
            ),
        )
        .with_context(serde_json::json!({ "release_id": release.id, "stage": stage })));
    }
    Ok(())
}

/// 422 `window_too_long` when a `planned_maintenance` window exceeds 28 days.
fn check_length(release: &ReleaseRow, opens_at: NaiveDateTime, closes_at: NaiveDateTime) -> Result<(), ApiError> {
    let length = closes_at - opens_at;
    if release.kind() == ReleaseKind::PlannedMaintenance && length > Duration::days(PLANNED_MAINTENANCE_MAX_DAYS) {
        let days = length.num_seconds() as f64 / 86_400.0;
        return Err(ApiError::unprocessable(
            ErrorCode::WindowTooLong,
            format!(
                "A planned_maintenance release's UIT window may last at most {PLANNED_MAINTENANCE_MAX_DAYS} days; \
                 this one lasts {days:.1} days."
            ),
        )
        .with_context(serde_json::json!({ "max_days": PLANNED_MAINTENANCE_MAX_DAYS, "days": days })));
    }
    Ok(())
}

/// "<release> UIT — <opening month>", made unique with " (2)", " (3)"... The release's name
/// is shortened so the whole stays within the 100 characters a window's name may have.
fn default_name(conn: &mut DbConn, release: &ReleaseRow, opens_at: NaiveDateTime) -> Result<String, ApiError> {
    let release_name: String = release.name.trim().chars().take(64).collect();
    let base = format!("{} UIT — {}", release_name.trim_end(), opens_at.format("%B %Y"));
    for n in 1..1000 {
        let name = if n == 1 { base.clone() } else { format!("{base} ({n})") };
        if model::name_taken(conn, &name)?.is_none() {
            return Ok(name);
        }
    }
    Err(ApiError::conflict(
        ErrorCode::WindowNameTaken,
        "Too many windows of this release open in this month; name the window.",
    ))
}

/// The release's products, scoping `event` for subscription filters.
fn scoped(conn: &mut DbConn, release_id: &str, event: NewEvent) -> Result<NewEvent, ApiError> {
    Ok(releases::product_scope(conn, release_id)?.apply(event))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WindowQuery {
    pub release_id: Option<String>,
    /// As at the time of the request.
    pub status: Option<WindowStatus>,
    /// Page size, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// Opaque cursor from `next_cursor`.
    #[param(min_length = 1, max_length = 86, pattern = "^[A-Za-z0-9_-]+$")]
    pub cursor: Option<String>,
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
    let page = PageRequest::new(q.limit, q.cursor.as_deref())?;
    let (after, fetch) = (page.after.clone(), page.fetch());
    let items = state
        .db
        .read_as(caller, move |conn, _ctx| {
            let now = now();
            let rows = model::list(conn, q.release_id, q.status, now, after, fetch)?;
            Ok(model::assemble(conn, rows, now)?)
        })
        .await?;
    Ok(page_response(&req, &page.finish(items, |w| &w.id)))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"release_id": "0193a1bf-7711-7a02-8c3d-4e5f60718293", "name": "UIT-2027-03", "opens_at": "2027-03-01T09:00:00Z", "closes_at": "2027-03-26T17:00:00Z", "scenarios": ["install_and_commission", "prepayment_top_up", "comms_hub_replacement", "change_of_mode"]}))]
pub struct NewWindow {
    /// A release that is neither `complete` nor `withdrawn`.
    pub release_id: String,
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
    params((
        "Idempotency-Key" = Option<String>, Header, nullable = false,
        min_length = 1, max_length = 255, pattern = "^[!-~]+$",
        description = "1-255 visible ASCII characters; replays return the original response for 24 hours"
    )),
    responses(
        (status = 201, description = "Scheduled", body = UitWindow),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 422, response = Unprocessable),
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
    let stored = state
        .db
        .write_as(caller, move |conn, ctx| {
            ctx.require(Capability::ManageIndustry)?;
            idempotency::once(conn, idem.as_ref(), &ctx.user_id, |conn| {
                let (opens_at, closes_at) = (instant(body.opens_at), instant(body.closes_at));
                let codes = body
                    .scenarios
                    .unwrap_or_else(|| DEFAULT_SCENARIOS.iter().map(|c| c.to_string()).collect());
                let mut v = Validator::new();
                if let Some(name) = &body.name {
                    v.text("name", name, 100);
                }
                releases::check_year(&mut v, "opens_at", body.opens_at.year());
                releases::check_year(&mut v, "closes_at", body.closes_at.year());
                if closes_at <= opens_at {
                    v.error("closes_at", "must be after opens_at");
                }
                if codes.is_empty() {
                    v.error("scenarios", "must name at least one scenario");
                } else if codes.len() > MAX_SCENARIOS {
                    v.error("scenarios", format!("must name at most {MAX_SCENARIOS} scenarios"));
                } else {
                    for i in scenarios::unknown(conn, &codes)? {
                        v.error(&format!("scenarios[{i}]"), "no such scenario");
                    }
                }
                let release = releases::find(conn, &body.release_id)?;
                if release.is_none() {
                    v.error("release_id", "no such release");
                }
                if let Some(criteria) = &body.exit_criteria {
                    criteria.validate(&mut v, &codes);
                }
                v.finish()?;
                let codes = releases::dedup_keep_order(codes);
                let release = release.ok_or_else(ApiError::not_found)?;
                check_release_in_progress(&release)?;
                check_length(&release, opens_at, closes_at)?;
                let name = match &body.name {
                    Some(name) => {
                        let name = name.trim().to_string();
                        if let Some(existing) = model::name_taken(conn, &name)? {
                            return Err(ApiError::conflict(
                                ErrorCode::WindowNameTaken,
                                "A UIT window with this name exists.",
                            )
                            .with_context(serde_json::json!({ "existing_id": existing })));
                        }
                        name
                    }
                    None => default_name(conn, &release, opens_at)?,
                };
                let now = now();
                let row = WindowRow {
                    id: new_id(),
                    release_id: release.id.clone(),
                    name,
                    opens_at,
                    closes_at,
                    cancelled_at: None,
                    cancel_reason: None,
                    created_at: now,
                    updated_at: now,
                    version: 1,
                    exit_criteria: body.exit_criteria.as_ref().and_then(ExitCriteria::to_stored),
                };
                model::insert(conn, &row, &codes)?;
                let (_, window) = model::load(conn, &row.id)?;
                let event = NewEvent::new(
                    Topic::UitWindows,
                    "window.scheduled",
                    "uit_window",
                    &window.id,
                    format!(
                        "{} scheduled for release {}: opens {}, closes {}",
                        window.name,
                        release.name,
                        show(opens_at),
                        show(closes_at)
                    ),
                )
                .details(serde_json::json!({
                    "release_id": release.id,
                    "opens_at": window.opens_at,
                    "closes_at": window.closes_at,
                    "scenarios": window.scenarios,
                }))
                .actor(&ctx.org_id);
                let event = scoped(conn, &release.id, event)?;
                events::record(conn, event)?;
                audit::created(conn, &ctx, "uit_window.create", &window)?;
                StoredResponse::created(&window, Some(format!("/api/v1/uit-windows/{}", window.id)))
            })
        })
        .await?;
    Ok(stored.into_response())
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
        (status = 404, response = NotFound),
    ),
    security(("bearer" = []))
)]
#[get("/uit-windows/{id}")]
pub async fn get_window(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
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
        ("If-Match" = Option<String>, Header, nullable = false, description = "ETag from a previous read; 412 when stale"),
    ),
    responses(
        (status = 200, description = "Updated", body = UitWindow, headers(("ETag" = String))),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 412, response = PreconditionFailed),
        (status = 422, response = Unprocessable),
    ),
    security(("bearer" = []))
)]
#[patch("/uit-windows/{id}")]
pub async fn update_window(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    if_match: IfMatch,
    body: Json<WindowPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let patch = body.into_inner();
    let mut v = Validator::new();
    let cancel = patch.status == Some(WindowStatusChange::Cancelled);
    if cancel && (patch.opens_at.is_some() || patch.closes_at.is_some()) {
        v.error("status", "cancel a window on its own, without opens_at or closes_at");
    }
    if let Some(t) = patch.opens_at {
        releases::check_year(&mut v, "opens_at", t.year());
    }
    if let Some(t) = patch.closes_at {
        releases::check_year(&mut v, "closes_at", t.year());
    }
    match &patch.cancel_reason {
        Some(_) if !cancel => v.error("cancel_reason", "is only accepted with status cancelled"),
        Some(reason) => v.text("cancel_reason", reason, 2000),
        None => {}
    }
    v.finish()?;
    let (version, window) = state
        .db
        .write_as(caller, move |conn, ctx| {
            ctx.require(Capability::ManageIndustry)?;
            crate::db::lock_row(conn, crate::db::Lockable::UitWindows, &id)?;
            let (before_row, before) = model::load(conn, &id)?;
            if_match.check(before_row.version)?;
            if before_row.cancelled_at.is_some() {
                return Err(ApiError::unprocessable(
                    ErrorCode::WindowCancelled,
                    format!("{} is cancelled; a cancelled window cannot change.", before.name),
                ));
            }
            let mut row = before_row.clone();
            if let Some(criteria) = &patch.exit_criteria {
                row.exit_criteria = criteria::checked(criteria.as_ref(), &before.scenarios)?;
            }
            let criteria_changed = row.exit_criteria != before_row.exit_criteria;
            if cancel {
                row.cancelled_at = Some(now());
                row.cancel_reason = patch.cancel_reason.map(|r| r.trim().to_string());
            }
            if let Some(t) = patch.opens_at {
                row.opens_at = instant(t);
            }
            if let Some(t) = patch.closes_at {
                row.closes_at = instant(t);
            }
            let moved = row.opens_at != before_row.opens_at || row.closes_at != before_row.closes_at;
            if moved {
                if row.closes_at <= row.opens_at {
                    let field = if patch.closes_at.is_some() {
                        "closes_at"
                    } else {
                        "opens_at"
                    };
                    return Err(ApiError::invalid_field(field, "closes_at must be after opens_at"));
                }
                let release = releases::find(conn, &row.release_id)?.ok_or_else(ApiError::not_found)?;
                check_release_in_progress(&release)?;
                check_length(&release, row.opens_at, row.closes_at)?;
            }
            if !moved && !cancel && !criteria_changed {
                return Ok((before_row.version, before));
            }
            if !model::update(conn, &row)? {
                return Err(ApiError::precondition_failed());
            }
            let (after_row, after) = model::load(conn, &id)?;
            let mut changes = Vec::new();
            if after_row.opens_at != before_row.opens_at {
                changes.push((
                    "window.rescheduled",
                    format!(
                        "{} now opens {}, was {}",
                        after.name,
                        show(after_row.opens_at),
                        show(before_row.opens_at)
                    ),
                    serde_json::json!({ "field": "opens_at", "from": before.opens_at, "to": after.opens_at }),
                ));
            }
            if after_row.closes_at != before_row.closes_at {
                let kind = if after_row.closes_at > before_row.closes_at {
                    "window.extended"
                } else {
                    "window.shortened"
                };
                changes.push((
                    kind,
                    format!(
                        "{} now closes {}, was {}",
                        after.name,
                        show(after_row.closes_at),
                        show(before_row.closes_at)
                    ),
                    serde_json::json!({ "field": "closes_at", "from": before.closes_at, "to": after.closes_at }),
                ));
            }
            if criteria_changed {
                changes.push(criteria::change(&after, &before.exit_criteria));
            }
            if cancel {
                let summary = match &after.cancel_reason {
                    Some(reason) if !reason.is_empty() => format!("{} cancelled: {reason}", after.name),
                    _ => format!("{} cancelled", after.name),
                };
                changes.push((
                    "window.cancelled",
                    summary,
                    serde_json::json!({
                        "field": "status",
                        "from": before.status,
                        "to": WindowStatus::Cancelled,
                        "cancel_reason": after.cancel_reason,
                    }),
                ));
            }
            let scope = releases::product_scope(conn, &after.release_id)?;
            for (kind, summary, details) in changes {
                let event = NewEvent::new(Topic::UitWindows, kind, "uit_window", &id, summary)
                    .details(details)
                    .actor(&ctx.org_id);
                events::record(conn, scope.clone().apply(event))?;
            }
            let action = if cancel {
                "uit_window.cancel"
            } else {
                "uit_window.update"
            };
            audit::changed(conn, &ctx, action, &before, &after)?;
            Ok((after_row.version, after))
        })
        .await?;
    Ok(tagged(version, &window))
}
