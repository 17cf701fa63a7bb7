use actix_web::{delete, get, patch, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::{self, User};
use crate::audit;
use crate::auth::{AuthContext, Caller, Role};
use crate::db::{DbConn, OrgId, UserId};
use crate::http::etag::{tagged, write_no_content, IfMatch};
use crate::http::json::Json;
use crate::http::pagination::{keyed, list_page, list_query, Page};
use crate::http::responses::*;
use crate::http::ApiError;
use crate::http::ErrorCode;
use crate::AppState;

list_query! {
    pub struct MemberQuery {
    }
}

/// The organisation must exist (404 otherwise) and the caller must belong to it or be an
/// operator admin (403): organisations are a public directory, their members are not.
fn authorise_reader(conn: &mut DbConn, ctx: &AuthContext, org_id: &OrgId) -> Result<(), ApiError> {
    model::find_org(conn, org_id)?.ok_or_else(ApiError::not_found)?;
    if ctx.org_id != org_id && !ctx.is_operator_admin() {
        return Err(ApiError::forbidden(
            "Only members of this organisation may see its members.",
        ));
    }
    Ok(())
}

/// The organisation must exist (404 otherwise) and the caller must administer it (403).
pub(super) fn authorise_admin(conn: &mut DbConn, ctx: &AuthContext, org_id: &OrgId) -> Result<(), ApiError> {
    model::find_org(conn, org_id)?.ok_or_else(ApiError::not_found)?;
    if !ctx.can_administer(org_id) {
        return Err(ApiError::forbidden(
            "Only the organisation's admins may manage its members.",
        ));
    }
    Ok(())
}

/// Member `user_id` of `org_id`, for a change by one of its admins: the organisation locked
/// (the last-admin rule reads its admin count), the member found in it (404) and at the
/// version `If-Match` names (412).
fn member_to_change(
    conn: &mut DbConn,
    ctx: &AuthContext,
    org_id: &OrgId,
    user_id: &UserId,
    if_match: &IfMatch,
) -> Result<model::UserRow, ApiError> {
    authorise_admin(conn, ctx, org_id)?;
    crate::db::lock_row(conn, crate::db::Lockable::Organisations, org_id)?;
    let before = model::find_user(conn, user_id)?
        .filter(|u| u.org_id == org_id)
        .ok_or_else(ApiError::not_found)?;
    if_match.check(before.version)?;
    Ok(before)
}

/// List an organisation's members
///
/// Visible to the organisation's own users and to operator admins.
#[utoipa::path(
    tag = "organisations",
    operation_id = "listMembers",
    params(("id" = String, Path, description = "Organisation id"), MemberQuery),
    responses(
        (status = 200, description = "A page of members", body = Page<User>),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[get("/organisations/{id}/members")]
pub async fn list_members(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<OrgId>,
    query: web::Query<MemberQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let org_id = path.into_inner();
    let q = query.into_inner();
    list_page(&state.db, caller, &req, q.page()?, move |conn, ctx, after, fetch| {
        authorise_reader(conn, &ctx, &org_id)?;
        let rows = model::list_members(conn, &org_id, after, fetch)?;
        Ok(rows.into_iter().map(User::from).collect())
    })
    .await
}

keyed!(User, id);

/// Get one member
///
/// Visible to the organisation's own users and to operator admins; carries the ETag that
/// `If-Match` on PATCH and DELETE expects.
#[utoipa::path(
    tag = "organisations",
    operation_id = "getMember",
    params(("id" = String, Path, description = "Organisation id"), ("user_id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "The member", body = User, headers(("ETag" = String))),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[get("/organisations/{id}/members/{user_id}")]
pub async fn get_member(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(OrgId, UserId)>,
) -> Result<HttpResponse, ApiError> {
    let (org_id, user_id) = path.into_inner();
    let row = state
        .db
        .read_as(caller, move |conn, ctx| {
            authorise_reader(conn, &ctx, &org_id)?;
            model::find_user(conn, &user_id)?
                .filter(|u| u.org_id == org_id)
                .ok_or_else(ApiError::not_found)
        })
        .await?;
    Ok(tagged(row.version, &User::from(row)))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberPatch {
    pub role: Role,
}

fn last_admin() -> ApiError {
    ApiError::conflict(ErrorCode::LastAdmin, "An organisation must keep at least one admin.")
}

/// Change a member's role
///
/// The organisation's admins (or operator admins). The last admin cannot be demoted.
#[utoipa::path(
    tag = "organisations",
    operation_id = "updateMember",
    request_body = MemberPatch,
    params(
        ("id" = String, Path, description = "Organisation id"),
        ("user_id" = String, Path, description = "User id"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "ETag of the member; 412 when stale"),
    ),
    responses(
        (status = 200, description = "Updated", body = User, headers(("ETag" = String))),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    ),
    security(("bearer" = []))
)]
#[patch("/organisations/{id}/members/{user_id}")]
pub async fn update_member(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(OrgId, UserId)>,
    if_match: IfMatch,
    body: Json<MemberPatch>,
) -> Result<HttpResponse, ApiError> {
    let (org_id, user_id) = path.into_inner();
    let role = body.into_inner().role;
    let row = state
        .db
        .write_as(caller, move |conn, ctx| {
            let before = member_to_change(conn, &ctx, &org_id, &user_id, &if_match)?;
            if before.role == Role::Admin && role != Role::Admin && model::admin_count(conn, &org_id)? <= 1 {
                return Err(last_admin());
            }
            if !model::set_role(conn, &user_id, role, before.version)? {
                return Err(ApiError::precondition_failed());
            }
            let after = model::find_user(conn, &user_id)?.ok_or_else(ApiError::not_found)?;
            audit::changed(
                conn,
                &ctx,
                "member.update",
                &User::from(before),
                &User::from(after.clone()),
            )?;
            Ok(after)
        })
        .await?;
    Ok(tagged(row.version, &User::from(row)))
}

/// Remove a member
///
/// Deletes the user's account and every token it holds. The last admin cannot be removed.
#[utoipa::path(
    tag = "organisations",
    operation_id = "removeMember",
    params(
        ("id" = String, Path, description = "Organisation id"),
        ("user_id" = String, Path, description = "User id"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "ETag of the member; 412 when stale"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    ),
    security(("bearer" = []))
)]
#[delete("/organisations/{id}/members/{user_id}")]
pub async fn remove_member(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(OrgId, UserId)>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let (org_id, user_id) = path.into_inner();
    write_no_content(&state.db, caller, move |conn, ctx| {
        let before = member_to_change(conn, &ctx, &org_id, &user_id, &if_match)?;
        if before.role == Role::Admin && model::admin_count(conn, &org_id)? <= 1 {
            return Err(last_admin());
        }
        model::delete_user(conn, &user_id)?;
        audit::deleted(conn, &ctx, "member.remove", &User::from(before))
    })
    .await
}
