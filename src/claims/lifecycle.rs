//! The claim lifecycle's routes: hand-over offers and the waiting list.

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use super::model::Claim;
use super::offers::{self, ClaimOffer};
use super::queue::{self, QueueEntry};
use crate::auth::{AuthContext, Caller};
use crate::db::{ClaimId, DbConn, OrgId, WindowId};
use crate::http::json::Json;
use crate::http::pagination::{keyed, list_page, list_query, Page};
use crate::http::responses::*;
use crate::http::ApiError;
use crate::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"to_org_id": "0193a1c2-4f10-7a88-b1c3-77d0e2f4a9b2"}))]
pub struct NewOffer {
    /// A participant of the claim's window that may claim (not a reviewer), not the holder.
    #[schema(value_type = String)]
    pub to_org_id: OrgId,
}

/// Offer a claim to another organisation
///
/// The holder or the operator offers the claim to another participant of the window (422
/// naming `to_org_id` otherwise). The receiver accepts or declines; the holder may withdraw.
/// Offers are visible to the two organisations and the operator only.
#[utoipa::path(
    tag = "claims",
    operation_id = "offerClaim",
    request_body = NewOffer,
    params(("id" = String, Path, description = "Claim id")),
    responses(
        (status = 201, description = "Offered", body = ClaimOffer),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[post("/claims/{id}/offers")]
pub async fn offer_claim(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<ClaimId>,
    body: Json<NewOffer>,
) -> Result<HttpResponse, ApiError> {
    let (id, to) = (path.into_inner(), body.into_inner().to_org_id);
    let offer = state
        .db
        .write_as(caller, move |conn, ctx| offers::offer(conn, &ctx, &id, &to))
        .await?;
    Ok(HttpResponse::Created().json(offer))
}

list_query! {
    pub struct OfferQuery {}
}

/// One write on the resource with id `id` by the caller: `action(conn, ctx, id)`.
async fn on<T: Send + 'static>(
    state: &AppState,
    caller: Caller,
    id: String,
    action: fn(&mut DbConn, &AuthContext, &str) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    state
        .db
        .write_as(caller, move |conn, ctx| action(conn, &ctx, &id))
        .await
}

keyed!(ClaimOffer, id);

/// List claim offers
///
/// The offers made by or to the caller's organisation, oldest first; the operator sees all.
#[utoipa::path(
    tag = "claims",
    operation_id = "listClaimOffers",
    params(OfferQuery),
    responses((status = 200, description = "A page of offers", body = Page<ClaimOffer>)),
    security(("bearer" = []))
)]
#[get("/claim-offers")]
pub async fn list_claim_offers(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<OfferQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    list_page(
        &state.db,
        caller,
        &req,
        query.page()?,
        move |conn, ctx, after, fetch| Ok(offers::visible(conn, &ctx, None, after, fetch)?),
    )
    .await
}

/// Accept a claim offer
///
/// The receiving organisation only (403 for the holder and the operator; 404 for others). The
/// claim moves to the receiver at once; 409 `claim_offer_stale` when it was released, lapsed
/// or handed over since, 409 `claim_offer_closed` when the offer was answered or withdrawn.
#[utoipa::path(
    tag = "claims",
    operation_id = "acceptClaimOffer",
    params(("id" = String, Path, description = "Offer id")),
    responses(
        (status = 200, description = "The claim, now the receiver's", body = Claim),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    ),
    security(("bearer" = []))
)]
#[post("/claim-offers/{id}/accept")]
pub async fn accept_claim_offer(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let claim = on(&state, caller, path.into_inner(), offers::accept).await?;
    Ok(HttpResponse::Ok().json(claim))
}

/// Decline a claim offer
///
/// The receiving organisation only; 409 `claim_offer_closed` when it is no longer pending.
#[utoipa::path(
    tag = "claims",
    operation_id = "declineClaimOffer",
    params(("id" = String, Path, description = "Offer id")),
    responses(
        (status = 200, description = "Declined", body = ClaimOffer),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    ),
    security(("bearer" = []))
)]
#[post("/claim-offers/{id}/decline")]
pub async fn decline_claim_offer(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let offer = on(&state, caller, path.into_inner(), offers::decline).await?;
    Ok(HttpResponse::Ok().json(offer))
}

/// Withdraw a claim offer
///
/// The offering organisation or the operator; 409 `claim_offer_closed` when it is no longer
/// pending. The offer stays listed as `withdrawn`.
#[utoipa::path(
    tag = "claims",
    operation_id = "withdrawClaimOffer",
    params(("id" = String, Path, description = "Offer id")),
    responses(
        (status = 204, description = "Withdrawn"),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    ),
    security(("bearer" = []))
)]
#[delete("/claim-offers/{id}")]
pub async fn withdraw_claim_offer(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    on(&state, caller, path.into_inner(), offers::withdraw).await?;
    Ok(HttpResponse::NoContent().finish())
}

list_query! {
    pub struct QueueQuery {
        /// Only this window's entries.
        #[param(value_type = Option<String>)]
        pub window_id: Option<WindowId>,
    }
}

keyed!(QueueEntry, id);

/// List waiting-list entries
///
/// The caller's organisation's entries (the operator: all), with each entry's position in
/// its set's line (1: next). Join a line with `queue: true` on a claim of a held set.
#[utoipa::path(
    tag = "claims",
    operation_id = "listClaimQueue",
    params(QueueQuery),
    responses((status = 200, description = "A page of entries", body = Page<QueueEntry>)),
    security(("bearer" = []))
)]
#[get("/claim-queue")]
pub async fn list_claim_queue(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<QueueQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    list_page(&state.db, caller, &req, q.page()?, move |conn, ctx, after, fetch| {
        Ok(queue::visible(conn, &ctx, q.window_id.as_deref(), None, after, fetch)?)
    })
    .await
}

/// Leave a waiting list
///
/// The queuing organisation or the operator (404 for others).
#[utoipa::path(
    tag = "claims",
    operation_id = "leaveClaimQueue",
    params(("id" = String, Path, description = "Queue entry id")),
    responses(
        (status = 204, description = "Out of the line"),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[delete("/claim-queue/{id}")]
pub async fn leave_claim_queue(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    on(&state, caller, path.into_inner(), queue::leave).await?;
    Ok(HttpResponse::NoContent().finish())
}
