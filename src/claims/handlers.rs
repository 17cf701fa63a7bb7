use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::audit::{self, Actor, Change};
use crate::auth::{AuthContext, Capability};
use crate::db::schema::{claims, device_sets, organisations, results};
use crate::db::{new_id, now, DbConn};
use crate::http::json::Json;
use crate::http::pagination::{page_response, Page, PageRequest};
use crate::http::responses::*;
use crate::http::ApiError;
use crate::windows::{self, WindowStatus};
use crate::AppState;

/// An organisation's lead on a device set in a window.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Claim {
    pub id: String,
    pub uit_window_id: String,
    pub device_set_id: String,
    pub org_id: String,
    pub org_name: String,
    pub note: String,
    pub claimed_at: DateTime<Utc>,
}

type ClaimTuple = (String, String, String, String, String, String, NaiveDateTime);

fn to_claim(t: ClaimTuple) -> Claim {
    let (id, uit_window_id, device_set_id, org_id, org_name, note, at) = t;
    Claim {
        id,
        uit_window_id,
        device_set_id,
        org_id,
        org_name,
        note,
        claimed_at: at.and_utc(),
    }
}

fn load_claims(
    conn: &mut DbConn,
    window_id: &str,
    claim_id: Option<&str>,
    device_set_id: Option<&str>,
    after: Option<String>,
    limit: i64,
) -> QueryResult<Vec<Claim>> {
    let mut q = claims::table
        .inner_join(organisations::table.on(organisations::id.eq(claims::org_id)))
        .filter(claims::window_id.eq(window_id.to_string()))
        .select((
            claims::id,
            claims::window_id,
            claims::device_set_id,
            claims::org_id,
            organisations::name,
            claims::note,
            claims::claimed_at,
        ))
        .into_boxed();
    if let Some(id) = claim_id {
        q = q.filter(claims::id.eq(id.to_string()));
    }
    if let Some(set) = device_set_id {
        q = q.filter(claims::device_set_id.eq(set.to_string()));
    }
    if let Some(after) = after {
        q = q.filter(claims::id.gt(after));
    }
    let rows: Vec<ClaimTuple> = q.order(claims::id.asc()).limit(limit).load(conn)?;
    Ok(rows.into_iter().map(to_claim).collect())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClaim {
    pub device_set_id: String,
    #[serde(default)]
    pub note: String,
}

/// Marks `org`'s results on (window, set) as lead or not.
fn set_lead(conn: &mut DbConn, window_id: &str, set_id: &str, org_id: &str, lead: bool) -> QueryResult<usize> {
    diesel::update(
        results::table.filter(
            results::window_id
                .eq(window_id)
                .and(results::device_set_id.eq(set_id))
                .and(results::org_id.eq(org_id)),
        ),
    )
    .set(results::lead.eq(lead))
    .execute(conn)
}

/// Claim a device set
///
/// The caller's organisation leads on the set in this window (and joins the window). A set has
/// at most one lead per window: a second claim is 409 naming the holder. Closed and cancelled
/// windows refuse claims.
#[utoipa::path(
    tag = "claims",
    operation_id = "createClaim",
    request_body = NewClaim,
    params(("id" = String, Path, description = "UIT window id")),
    responses(
        (status = 201, description = "Claimed", body = Claim),
        (status = 400, response = BadRequest),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 422, response = Unprocessable),
    ),
    security(("bearer" = []))
)]
#[post("/uit-windows/{id}/claims")]
pub async fn create_claim(
    state: web::Data<AppState>,
    ctx: AuthContext,
    path: web::Path<String>,
    body: Json<NewClaim>,
) -> Result<HttpResponse, ApiError> {
    ctx.require(Capability::Participate)?;
    let window_id = path.into_inner();
    let NewClaim { device_set_id, note } = body.into_inner();
    if note.chars().count() > 2000 {
        return Err(ApiError::invalid_field("note", "must be at most 2000 characters"));
    }
    let (w, s) = (window_id.clone(), device_set_id.clone());
    let inserted = state
        .db
        .write(move |conn| {
            let window = windows::model::find(conn, &window_id)?.ok_or_else(ApiError::not_found)?;
            let status = window.status_at(now());
            if matches!(status, WindowStatus::Closed | WindowStatus::Cancelled) {
                return Err(ApiError::unprocessable(
                    "window_not_open_for_claims",
                    format!(
                        "{} is {status}; only scheduled and open windows take claims.",
                        window.name
                    ),
                ));
            }
            let exists: bool =
                diesel::select(diesel::dsl::exists(device_sets::table.find(&device_set_id))).get_result(conn)?;
            if !exists {
                return Err(ApiError::invalid_field("device_set_id", "no such device set"));
            }
            let id = new_id();
            // The unique (window, set) key decides: no check-then-insert.
            diesel::insert_into(claims::table)
                .values((
                    claims::id.eq(&id),
                    claims::window_id.eq(&window_id),
                    claims::device_set_id.eq(&device_set_id),
                    claims::org_id.eq(&ctx.org_id),
                    claims::note.eq(&note),
                    claims::claimed_by_user_id.eq(&ctx.user_id),
                    claims::claimed_at.eq(now()),
                ))
                .execute(conn)?;
            windows::join(conn, &window_id, &ctx.org_id, &ctx.user_id)?;
            set_lead(conn, &window_id, &device_set_id, &ctx.org_id, true)?;
            let claim = load_claims(conn, &window_id, Some(&id), None, None, 1)?
                .pop()
                .ok_or_else(ApiError::not_found)?;
            audit::record(
                conn,
                &Actor::from(&ctx),
                Change {
                    action: "claim.create",
                    entity_type: "claim",
                    entity_id: &id,
                    org_id: Some(&ctx.org_id),
                    before: None,
                    after: Some(serde_json::to_value(&claim)?),
                },
            )?;
            Ok(claim)
        })
        .await;
    match inserted {
        Ok(claim) => Ok(HttpResponse::Created()
            .insert_header((
                actix_web::http::header::LOCATION,
                format!("/api/v1/uit-windows/{w}/claims"),
            ))
            .json(claim)),
        // The unique key refused the insert: say who holds the set.
        Err(e) if e.code == "conflict" => {
            let holder = state
                .db
                .run(move |conn| Ok(load_claims(conn, &w, None, Some(&s), None, 1)?.pop()))
                .await?;
            match holder {
                Some(h) => Err(ApiError::conflict(
                    "claim_conflict",
                    format!("{} already leads on this device set in this window.", h.org_name),
                )
                .with_context(serde_json::json!({ "holder": h }))),
                None => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ClaimQuery {
    pub device_set_id: Option<String>,
    /// Page size, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// Opaque cursor from `next_cursor`.
    #[param(min_length = 1, max_length = 86, pattern = "^[A-Za-z0-9_-]+$")]
    pub cursor: Option<String>,
}

/// List a window's claims
///
/// Claims are visible to every authenticated user.
#[utoipa::path(
    tag = "claims",
    operation_id = "listClaims",
    params(("id" = String, Path, description = "UIT window id"), ClaimQuery),
    responses(
        (status = 200, description = "A page of claims", body = Page<Claim>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
    ),
    security(("bearer" = []))
)]
#[get("/uit-windows/{id}/claims")]
pub async fn list_claims(
    state: web::Data<AppState>,
    _ctx: AuthContext,
    path: web::Path<String>,
    query: web::Query<ClaimQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let window_id = path.into_inner();
    let q = query.into_inner();
    let page = PageRequest::new(q.limit, q.cursor.as_deref())?;
    let (after, fetch) = (page.after.clone(), page.fetch());
    let items = state
        .db
        .run(move |conn| {
            windows::model::find(conn, &window_id)?.ok_or_else(ApiError::not_found)?;
            Ok(load_claims(
                conn,
                &window_id,
                None,
                q.device_set_id.as_deref(),
                after,
                fetch,
            )?)
        })
        .await?;
    Ok(page_response(&req, &page.finish(items, |c| &c.id)))
}

/// Release a claim
///
/// The claiming organisation or the operator. The set becomes free to claim; the releasing
/// organisation's results on it stop being lead results.
#[utoipa::path(
    tag = "claims",
    operation_id = "releaseClaim",
    params(("id" = String, Path, description = "Claim id")),
    responses(
        (status = 204, description = "Released"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
    security(("bearer" = []))
)]
#[delete("/claims/{id}")]
pub async fn release_claim(
    state: web::Data<AppState>,
    ctx: AuthContext,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    state
        .db
        .write(move |conn| {
            let (window_id, set_id, org_id): (String, String, String) = claims::table
                .find(&id)
                .select((claims::window_id, claims::device_set_id, claims::org_id))
                .first(conn)
                .optional()?
                .ok_or_else(ApiError::not_found)?;
            ctx.require(Capability::Participate)?;
            if org_id != ctx.org_id && !ctx.is_operator() {
                return Err(ApiError::forbidden(
                    "Only the claiming organisation or the operator may release a claim.",
                ));
            }
            let before = load_claims(conn, &window_id, Some(&id), None, None, 1)?.pop();
            diesel::delete(claims::table.find(&id)).execute(conn)?;
            set_lead(conn, &window_id, &set_id, &org_id, false)?;
            audit::record(
                conn,
                &Actor::from(&ctx),
                Change {
                    action: "claim.release",
                    entity_type: "claim",
                    entity_id: &id,
                    org_id: Some(&org_id),
                    before: Some(serde_json::to_value(&before)?),
                    after: None,
                },
            )
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
