//! Hand-over: the holder of a claim (or the operator) offers it to another participant of the
//! window; the receiver accepts (the claim moves in that transaction) or declines; the holder
//! may withdraw. An offer is visible to its two organisations and the operator only.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::model::{self, set_lead, Claim};
use super::{notify, queue};
use crate::audit;
use crate::auth::{AuthContext, Capability, OrgKind};
use crate::db::schema::{claim_offers as co, claims, organisations, window_participants as wp};
use crate::db::{new_id, now, ClaimId, DbConn, DeviceSetId, OrgId, UserId, WindowId};
use crate::http::{ApiError, ErrorCode};
use crate::windows::{self, WindowStatus};

crate::text_enum!(
    /// Where an offer stands.
    OfferStatus {
        Pending => "pending",
        Accepted => "accepted",
        Declined => "declined",
        Withdrawn => "withdrawn",
    }
);

/// A claim offered by its holder to another organisation.
#[derive(Debug, Clone, Serialize, ToSchema, Queryable, Selectable)]
#[diesel(table_name = co)]
pub struct OfferRow {
    pub id: String,
    #[schema(value_type = String)]
    pub claim_id: ClaimId,
    #[serde(rename = "uit_window_id")]
    #[schema(value_type = String)]
    pub window_id: WindowId,
    #[schema(value_type = String)]
    pub device_set_id: DeviceSetId,
    /// The holder when it was offered.
    #[schema(value_type = String)]
    pub from_org_id: OrgId,
    #[schema(value_type = String)]
    pub to_org_id: OrgId,
    pub status: OfferStatus,
    #[serde(skip)]
    #[schema(value_type = Option<String>)]
    pub offered_by_user_id: Option<UserId>,
    #[schema(value_type = chrono::DateTime<chrono::Utc>)]
    #[serde(serialize_with = "utc")]
    pub created_at: NaiveDateTime,
    #[schema(value_type = Option<chrono::DateTime<chrono::Utc>>)]
    #[serde(serialize_with = "utc_opt")]
    pub decided_at: Option<NaiveDateTime>,
    #[serde(skip)]
    #[schema(value_type = Option<String>)]
    pub decided_by_user_id: Option<UserId>,
}

/// The representation of an offer.
pub type ClaimOffer = OfferRow;

fn utc<S: serde::Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    t.and_utc().serialize(s)
}

fn utc_opt<S: serde::Serializer>(t: &Option<NaiveDateTime>, s: S) -> Result<S::Ok, S::Error> {
    t.map(|t| t.and_utc()).serialize(s)
}

crate::audit::audited!(OfferRow, "claim_offer", id);

/// Offers `ctx` may see, by id, after `after`: its organisation's, made or received; all for
/// the operator. With `id`, that one only.
pub fn visible(
    conn: &mut DbConn,
    ctx: &AuthContext,
    id: Option<&str>,
    after: Option<String>,
    limit: i64,
) -> QueryResult<Vec<OfferRow>> {
    let mut q = co::table.select(OfferRow::as_select()).into_boxed();
    if ctx.org_kind != OrgKind::Operator {
        q = q.filter(
            co::from_org_id
                .eq(ctx.org_id.clone())
                .or(co::to_org_id.eq(ctx.org_id.clone())),
        );
    }
    if let Some(id) = id {
        q = q.filter(co::id.eq(id.to_string()));
    }
    if let Some(after) = after {
        q = q.filter(co::id.gt(after));
    }
    q.order(co::id.asc()).limit(limit).load(conn)
}

fn find(conn: &mut DbConn, ctx: &AuthContext, id: &str) -> Result<OfferRow, ApiError> {
    visible(conn, ctx, Some(id), None, 1)?
        .pop()
        .ok_or_else(ApiError::not_found)
}

/// 422 naming `to_org_id` unless that organisation may take the claim: it exists, is not the
/// holder, may claim (not a reviewer) and takes part in the window.
fn check_receiver(conn: &mut DbConn, claim: &Claim, to_org_id: &OrgId) -> Result<(), ApiError> {
    let field = "to_org_id";
    if to_org_id == claim.org_id {
        return Err(ApiError::invalid_field(field, "already holds the claim"));
    }
    let kind: Option<OrgKind> = organisations::table
        .find(to_org_id)
        .select(organisations::kind)
        .first(conn)
        .optional()?;
    let Some(kind) = kind else {
        return Err(ApiError::invalid_field(field, "no such organisation"));
    };
    if !Capability::Participate.allowed_for(kind) {
        return Err(ApiError::invalid_field(
            field,
            format!("a {kind} organisation cannot claim device sets"),
        ));
    }
    let joined: bool = diesel::select(diesel::dsl::exists(
        wp::table.filter(wp::window_id.eq(&claim.uit_window_id).and(wp::org_id.eq(to_org_id))),
    ))
    .get_result(conn)?;
    if !joined {
        return Err(ApiError::invalid_field(
            field,
            "is not a participant of the claim's window",
        ));
    }
    Ok(())
}

/// Offers claim `claim_id` to `to_org_id`: the holder or the operator (403 otherwise).
pub fn offer(
    conn: &mut DbConn,
    ctx: &AuthContext,
    claim_id: &ClaimId,
    to_org_id: &OrgId,
) -> Result<OfferRow, ApiError> {
    ctx.require(Capability::Participate)?;
    let claim = model::find(conn, claim_id)?.ok_or_else(ApiError::not_found)?;
    ctx.owner_or_operator(
        &claim.org_id,
        Capability::Participate,
        "Only the claiming organisation or the operator may offer a claim.",
    )?;
    check_receiver(conn, &claim, to_org_id)?;
    let window = windows::model::find(conn, &claim.uit_window_id)?.ok_or_else(ApiError::not_found)?;
    let status = window.status_at(now());
    if matches!(status, WindowStatus::Closed | WindowStatus::Cancelled) {
        return Err(ApiError::unprocessable(
            ErrorCode::WindowNotOpenForClaims,
            format!("{} is {status}; its claims no longer change hands.", window.name),
        ));
    }
    let id = new_id();
    diesel::insert_into(co::table)
        .values((
            co::id.eq(&id),
            co::claim_id.eq(&claim.id),
            co::window_id.eq(&claim.uit_window_id),
            co::device_set_id.eq(&claim.device_set_id),
            co::from_org_id.eq(&claim.org_id),
            co::to_org_id.eq(to_org_id),
            co::status.eq(OfferStatus::Pending),
            co::offered_by_user_id.eq(&ctx.user_id),
            co::created_at.eq(now()),
        ))
        .execute(conn)?;
    let row = find(conn, ctx, &id)?;
    audit::created(conn, ctx, "claim_offer.create", &row)?;
    Ok(row)
}

/// 409 `claim_offer_closed`: the offer was answered or withdrawn.
fn closed(row: &OfferRow) -> ApiError {
    ApiError::conflict(
        ErrorCode::ClaimOfferClosed,
        format!("The offer is {} already.", row.status),
    )
    .with_context(serde_json::json!({ "status": row.status }))
}

/// Moves a pending offer to `status` (409 `claim_offer_closed` when it is not pending).
fn settle(conn: &mut DbConn, ctx: &AuthContext, before: &OfferRow, status: OfferStatus) -> Result<OfferRow, ApiError> {
    let n = diesel::update(co::table.find(&before.id).filter(co::status.eq(OfferStatus::Pending)))
        .set((
            co::status.eq(status),
            co::decided_at.eq(now()),
            co::decided_by_user_id.eq(&ctx.user_id),
        ))
        .execute(conn)?;
    if n == 0 {
        return Err(closed(before));
    }
    let after = find(conn, ctx, &before.id)?;
    audit::changed(conn, ctx, &format!("claim_offer.{status}"), before, &after)?;
    Ok(after)
}

/// The receiving organisation's answer: 404 for organisations that may not see the offer,
/// 403 for the holder and the operator (only the receiver answers).
fn as_receiver(conn: &mut DbConn, ctx: &AuthContext, id: &str) -> Result<OfferRow, ApiError> {
    ctx.require(Capability::Participate)?;
    let row = find(conn, ctx, id)?;
    if row.to_org_id != ctx.org_id {
        return Err(ApiError::forbidden(
            "Only the receiving organisation may answer an offer.",
        ));
    }
    Ok(row)
}

/// Declines offer `id`: the receiver.
pub fn decline(conn: &mut DbConn, ctx: &AuthContext, id: &str) -> Result<OfferRow, ApiError> {
    let row = as_receiver(conn, ctx, id)?;
    settle(conn, ctx, &row, OfferStatus::Declined)
}

/// Withdraws offer `id`: the offering organisation or the operator.
pub fn withdraw(conn: &mut DbConn, ctx: &AuthContext, id: &str) -> Result<OfferRow, ApiError> {
    ctx.require(Capability::Participate)?;
    let row = find(conn, ctx, id)?;
    ctx.owner_or_operator(
        &row.from_org_id,
        Capability::Participate,
        "Only the offering organisation or the operator may withdraw an offer.",
    )?;
    settle(conn, ctx, &row, OfferStatus::Withdrawn)
}

/// Accepts offer `id`: the receiver. The claim moves to it (same claim id, claimed now), the
/// lead flags of both organisations' results follow, the receiver leaves the set's waiting
/// list, with audit rows and a `claim.handed_over` event. 409 `claim_offer_stale` when the
/// claim was released, lapsed or handed over since the offer.
pub fn accept(conn: &mut DbConn, ctx: &AuthContext, id: &str) -> Result<Claim, ApiError> {
    let row = as_receiver(conn, ctx, id)?;
    if row.status != OfferStatus::Pending {
        return Err(closed(&row));
    }
    let before = model::find(conn, &row.claim_id)?;
    let moved = diesel::update(
        claims::table
            .find(&row.claim_id)
            .filter(claims::org_id.eq(&row.from_org_id)),
    )
    .set((
        claims::org_id.eq(&ctx.org_id),
        claims::claimed_by_user_id.eq(&ctx.user_id),
        claims::claimed_at.eq(now()),
        claims::reminded_for.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    let Some(before) = before.filter(|_| moved == 1) else {
        return Err(ApiError::conflict(
            ErrorCode::ClaimOfferStale,
            "The offered claim was released, lapsed or handed over since the offer.",
        )
        .with_context(serde_json::json!({ "claim_id": row.claim_id })));
    };
    settle(conn, ctx, &row, OfferStatus::Accepted)?;
    let (w, s) = (&row.window_id, &row.device_set_id);
    set_lead(conn, w, s, &row.from_org_id, false, &ctx.user_id)?;
    set_lead(conn, w, s, &ctx.org_id, true, &ctx.user_id)?;
    queue::drop_org(conn, w, s, &ctx.org_id)?;
    let after = model::find(conn, &row.claim_id)?.ok_or_else(ApiError::not_found)?;
    audit::changed(conn, ctx, "claim.hand_over", &before, &after)?;
    let summary = format!(
        "{} handed its claim on {} in {} over to {}",
        before.org_name, after.device_set_name, after.uit_window_name, after.org_name
    );
    let details = serde_json::json!({ "from_org_id": before.org_id, "offer_id": row.id });
    notify::event(conn, &after, "claim.handed_over", summary, Some(&ctx.org_id), details)?;
    Ok(after)
}
