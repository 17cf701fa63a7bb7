use actix_web::http::header;
use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use diesel::prelude::*;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::model::{self, set_lead, Claim, ClaimFilter};
use super::queue::{self, QueueEntry};
use crate::audit;
use crate::auth::{AuthContext, Caller, Capability};
use crate::db::schema::{claims, device_sets};
use crate::db::{new_id, now, ClaimId, DbConn, DeviceSetId, OrgId, WindowId};
use crate::device_sets::composition::Embed;
use crate::http::json::Json;
use crate::http::pagination::{keyed, list_page, list_query, Page};
use crate::http::responses::*;
use crate::http::ApiError;
use crate::http::ErrorCode;
use crate::windows::{self, WindowStatus};
use crate::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"device_set_id": "0193a1c2-4f10-7a88-b1c3-77d0e2f4a9b2", "note": "We lead on this set for the November release."}))]
pub struct NewClaim {
    #[schema(value_type = String)]
    pub device_set_id: DeviceSetId,
    #[serde(default)]
    pub note: String,
    /// When another organisation leads on the set: wait in line for it (202 with the entry)
    /// instead of 409. The first in line gets the claim when it is released or lapses.
    #[serde(default)]
    pub queue: bool,
}

/// What a claim request came to.
#[derive(Debug)]
pub enum Taken {
    /// Claimed now (201).
    Made(Claim),
    /// The caller's organisation held it already (200).
    Held(Claim),
    /// Another organisation holds it; the caller's organisation waits in line (202).
    Queued(QueueEntry),
}

fn location(claim: &Claim) -> (header::HeaderName, String) {
    (header::LOCATION, format!("/api/v1/claims/{}", claim.id))
}

/// Claim a device set
///
/// The caller's organisation leads on the set in this window (and joins the window). A set has
/// at most one lead per window: another organisation's claim is 409 naming the holder.
/// Claiming a set your organisation already leads on changes nothing and answers 200 with the
/// existing claim. Closed and cancelled windows refuse claims. `Location` is the claim.
/// With `queue: true`, a set another organisation leads on answers 202 with the caller's
/// entry in its waiting list (see `GET /claim-queue`).
#[utoipa::path(
    tag = "claims",
    operation_id = "createClaim",
    request_body = NewClaim,
    params(("id" = String, Path, description = "UIT window id")),
    responses(
        (status = 200, description = "Your organisation already held this claim; nothing changed",
            body = Claim, headers(("Location" = String, description = "The claim"))),
        (status = 201, description = "Claimed", body = Claim,
            headers(("Location" = String, description = "The claim"))),
        (status = 202, description = "Another organisation leads on the set; yours waits in line",
            body = QueueEntry),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    ),
    security(("bearer" = []))
)]
#[post("/uit-windows/{id}/claims")]
pub async fn create_claim(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<WindowId>,
    body: Json<NewClaim>,
) -> Result<HttpResponse, ApiError> {
    match claim(&state, caller, path.into_inner(), body.into_inner()).await? {
        Taken::Made(claim) => Ok(HttpResponse::Created().insert_header(location(&claim)).json(claim)),
        Taken::Held(claim) => Ok(HttpResponse::Ok().insert_header(location(&claim)).json(claim)),
        Taken::Queued(entry) => Ok(HttpResponse::Accepted().json(entry)),
    }
}

/// Claims a device set for the caller's organisation (the API's and the window page's one
/// path).
pub async fn claim(state: &AppState, caller: Caller, window_id: WindowId, new: NewClaim) -> Result<Taken, ApiError> {
    let NewClaim {
        device_set_id,
        note,
        queue,
    } = new;
    let (w, s) = (window_id.clone(), device_set_id.clone());
    let again = caller.clone();
    let inserted = state
        .db
        .write_as(caller, move |conn, ctx| {
            take_lead(conn, &ctx, &window_id, &device_set_id, &note, queue)
        })
        .await;
    match inserted {
        Ok(made) => Ok(made),
        // The unique key refused the insert: say who holds the set (or, when a concurrent
        // request of the caller's own organisation won, answer with its claim).
        Err(e) if e.code == ErrorCode::ClaimConflict && e.context.is_none() => {
            let (org, holder) = state
                .db
                .read_as(again, move |conn, ctx| Ok((ctx.org_id, model::holder(conn, &w, &s)?)))
                .await?;
            lost_to(&org, holder, e)
        }
        Err(e) => Err(e),
    }
}

/// Makes the caller's organisation the lead on the device set in the window, joining it to
/// the window, with its audit row: `Made`. In order: a participant (403), the window
/// exists (404), a set the organisation already leads on is answered `Held`,
/// closed and cancelled windows refuse (422 `window_not_open_for_claims`), a set another
/// organisation holds is `Queued` with `queue`, the set exists (422 naming `device_set_id`).
/// Another organisation's claim makes the insert fail with 409 `claim_conflict` (see [`lost_to`]).
pub fn take_lead(
    conn: &mut DbConn,
    ctx: &AuthContext,
    window_id: &WindowId,
    device_set_id: &DeviceSetId,
    note: &str,
    queue: bool,
) -> Result<Taken, ApiError> {
    ctx.require(Capability::Participate)?;
    if note.chars().count() > 2000 {
        return Err(ApiError::invalid_field("note", "must be at most 2000 characters"));
    }
    let window = windows::model::find(conn, window_id)?.ok_or_else(ApiError::not_found)?;
    // Asking again for what you hold is answered with what you hold.
    let held = model::holder(conn, window_id, device_set_id)?;
    if let Some(held) = held.as_ref().filter(|h| h.org_id == ctx.org_id) {
        return Ok(Taken::Held(held.clone()));
    }
    let status = window.status_at(now());
    if matches!(status, WindowStatus::Closed | WindowStatus::Cancelled) {
        return Err(ApiError::unprocessable(
            ErrorCode::WindowNotOpenForClaims,
            format!(
                "{} is {status}; only scheduled and open windows take claims.",
                window.name
            ),
        ));
    }
    if held.is_some() && queue {
        return Ok(Taken::Queued(queue::join(conn, ctx, window_id, device_set_id, note)?));
    }
    let exists: bool = diesel::select(diesel::dsl::exists(device_sets::table.find(device_set_id))).get_result(conn)?;
    if !exists {
        return Err(ApiError::invalid_field("device_set_id", "no such device set"));
    }
    let id = new_id();
    // The unique (window, set) key decides: no check-then-insert.
    diesel::insert_into(claims::table)
        .values((
            claims::id.eq(&id),
            claims::window_id.eq(window_id),
            claims::device_set_id.eq(device_set_id),
            claims::org_id.eq(&ctx.org_id),
            claims::note.eq(note),
            claims::claimed_by_user_id.eq(&ctx.user_id),
            claims::claimed_at.eq(now()),
        ))
        .execute(conn)?;
    windows::join(conn, window_id, &ctx.org_id, &ctx.user_id)?;
    set_lead(conn, window_id, device_set_id, &ctx.org_id, true, &ctx.user_id)?;
    let claim = model::find(conn, &id)?.ok_or_else(ApiError::not_found)?;
    audit::created(conn, ctx, "claim.create", &claim)?;
    Ok(Taken::Made(claim))
}

/// The answer when the unique key refused a claim (`refused`): the claim of the caller's own
/// organisation `org` when a concurrent request of it won, otherwise 409 `claim_conflict`
/// naming the holder (or `refused` itself when nobody holds the set any more).
fn lost_to(org: &OrgId, holder: Option<Claim>, refused: ApiError) -> Result<Taken, ApiError> {
    match holder {
        Some(h) if h.org_id == org => Ok(Taken::Held(h)),
        Some(h) => Err(ApiError::conflict(
            ErrorCode::ClaimConflict,
            format!("{} already leads on this device set in this window.", h.org_name),
        )
        .with_context(serde_json::json!({ "holder": h }))),
        None => Err(refused),
    }
}

list_query! {
    pub struct ClaimQuery {
        #[param(value_type = Option<String>)]
        pub device_set_id: Option<DeviceSetId>,
        /// `device_set` embeds each claim's device set (name, prevalence, composition).
        pub embed: Option<Embed>,
    }
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
    ),
    security(("bearer" = []))
)]
#[get("/uit-windows/{id}/claims")]
pub async fn list_claims(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<WindowId>,
    query: web::Query<ClaimQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let window_id = path.into_inner();
    let q = query.into_inner();
    list_page(&state.db, caller, &req, q.page()?, move |conn, _ctx, after, fetch| {
        windows::model::find(conn, &window_id)?.ok_or_else(ApiError::not_found)?;
        let filter = ClaimFilter {
            window_id: Some(&window_id),
            device_set_id: q.device_set_id.as_deref(),
            ..Default::default()
        };
        let mut items = model::load(conn, filter, after, fetch)?;
        if q.embed == Some(Embed::DeviceSet) {
            model::embed_device_sets(conn, &mut items)?;
        }
        Ok(items)
    })
    .await
}

keyed!(Claim, id);

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ClaimEmbedQuery {
    /// `device_set` embeds the claim's device set (name, prevalence, composition).
    pub embed: Option<Embed>,
}

/// Get a claim
///
/// Claims are visible to every authenticated user, as in the window's list.
#[utoipa::path(
    tag = "claims",
    operation_id = "getClaim",
    params(("id" = String, Path, description = "Claim id"), ClaimEmbedQuery),
    responses(
        (status = 200, description = "The claim", body = Claim),
    ),
    security(("bearer" = []))
)]
#[get("/claims/{id}")]
pub async fn get_claim(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<ClaimId>,
    query: web::Query<ClaimEmbedQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let embed = query.into_inner().embed;
    let claim = state
        .db
        .read_as(caller, move |conn, _ctx| {
            let mut claim = model::find(conn, &id)?.ok_or_else(ApiError::not_found)?;
            if embed == Some(Embed::DeviceSet) {
                model::embed_device_sets(conn, std::slice::from_mut(&mut claim))?;
            }
            Ok(claim)
        })
        .await?;
    Ok(HttpResponse::Ok().json(claim))
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
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[delete("/claims/{id}")]
pub async fn release_claim(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<ClaimId>,
) -> Result<HttpResponse, ApiError> {
    release(&state, caller, path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Releases claim `id` (the API's and the window page's one path): the claiming organisation
/// or the operator.
pub async fn release(state: &AppState, caller: Caller, id: ClaimId) -> Result<(), ApiError> {
    let public_url = state.config.public_url.clone();
    state
        .db
        .write_as(caller, move |conn, ctx| {
            let (window_id, set_id, org_id): (WindowId, DeviceSetId, OrgId) = claims::table
                .find(&id)
                .select((claims::window_id, claims::device_set_id, claims::org_id))
                .first(conn)
                .optional()?
                .ok_or_else(ApiError::not_found)?;
            ctx.owner_or_operator(
                &org_id,
                Capability::Participate,
                "Only the claiming organisation or the operator may release a claim.",
            )?;
            let before = model::find(conn, &id)?.ok_or_else(ApiError::not_found)?;
            // A claim that lapsed (or moved) meanwhile is not this caller's to release any more.
            let gone = diesel::delete(claims::table.find(&id).filter(claims::org_id.eq(&org_id))).execute(conn)?;
            if gone == 0 {
                return Err(ApiError::not_found());
            }
            set_lead(conn, &window_id, &set_id, &org_id, false, &ctx.user_id)?;
            audit::deleted(conn, &ctx, "claim.release", &before)?;
            queue::promote(
                conn,
                &crate::audit::Actor::from(&ctx),
                &window_id,
                &set_id,
                "was released",
                &public_url,
            )?;
            Ok(())
        })
        .await?;
    Ok(())
}
