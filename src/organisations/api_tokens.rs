//! The API tokens of an organisation's members, for its admins: see which harness holds which
//! token, and revoke one (a leaver's, a leaked one) without the member's password.

use actix_web::{delete, get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::members::authorise_admin;
use crate::auth::{AuthContext, Caller};
use crate::db::schema::{api_tokens as t, users};
use crate::db::{now, DbConn, OrgId, UserId};
use crate::http::etag::write_no_content;
use crate::http::pagination::{keyed, list_page, list_query, Page};
use crate::http::responses::*;
use crate::http::ApiError;
use crate::me::api_tokens::audit_revocation;
use crate::AppState;

/// A member's API token, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberApiToken {
    pub id: String,
    /// The member who holds it.
    #[schema(value_type = String)]
    pub user_id: UserId,
    pub user_email: String,
    pub name: String,
    /// The first characters of the secret, to tell tokens apart.
    #[schema(example = "uitp_q3JzZ0c")]
    pub token_prefix: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

type Row = (
    String,
    UserId,
    String,
    String,
    String,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
    NaiveDateTime,
);

impl From<Row> for MemberApiToken {
    fn from(r: Row) -> Self {
        Self {
            id: r.0,
            user_id: r.1,
            user_email: r.2,
            name: r.3,
            token_prefix: r.4,
            expires_at: r.5.map(|t| t.and_utc()),
            last_used_at: r.6.map(|t| t.and_utc()),
            created_at: r.7.and_utc(),
        }
    }
}

list_query! {
    pub struct MemberTokenQuery {
        /// Only this member's tokens.
        #[param(value_type = Option<String>)]
        pub user_id: Option<UserId>,
    }
}

/// List the API tokens of an organisation's members
///
/// The organisation's admins (or operator admins). Tokens not revoked, expired ones
/// included; never a secret.
#[utoipa::path(
    tag = "organisations",
    operation_id = "listMemberApiTokens",
    params(("id" = String, Path, description = "Organisation id"), MemberTokenQuery),
    responses(
        (status = 200, description = "A page of tokens", body = Page<MemberApiToken>),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[get("/organisations/{id}/api-tokens")]
pub async fn list_member_api_tokens(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<OrgId>,
    query: web::Query<MemberTokenQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let org_id = path.into_inner();
    let q = query.into_inner();
    list_page(&state.db, caller, &req, q.page()?, move |conn, ctx, after, fetch| {
        list(conn, &ctx, &org_id, q.user_id, after, fetch)
    })
    .await
}

keyed!(MemberApiToken, id);

/// A page of the organisation's members' tokens not revoked (expired ones included), by id,
/// optionally of one member. The organisation's admins (or operator admins); 404 for no such
/// organisation.
pub fn list(
    conn: &mut DbConn,
    ctx: &AuthContext,
    org_id: &OrgId,
    user_id: Option<UserId>,
    after: Option<String>,
    fetch: i64,
) -> Result<Vec<MemberApiToken>, ApiError> {
    authorise_admin(conn, ctx, org_id)?;
    let mut query = t::table
        .inner_join(users::table)
        .filter(users::org_id.eq(org_id).and(t::revoked_at.is_null()))
        .select((
            t::id,
            t::user_id,
            users::email,
            t::name,
            t::token_prefix,
            t::expires_at,
            t::last_used_at,
            t::created_at,
        ))
        .into_boxed();
    if let Some(user_id) = user_id {
        query = query.filter(t::user_id.eq(user_id));
    }
    if let Some(after) = after {
        query = query.filter(t::id.gt(after));
    }
    let rows: Vec<Row> = query.order(t::id.asc()).limit(fetch).load(conn)?;
    Ok(rows.into_iter().map(MemberApiToken::from).collect())
}

/// Revoke a member's API token
///
/// The organisation's admins (or operator admins). Takes effect at once; the member sees
/// the token gone from their list.
#[utoipa::path(
    tag = "organisations",
    operation_id = "revokeMemberApiToken",
    params(
        ("id" = String, Path, description = "Organisation id"),
        ("token_id" = String, Path, description = "Token id"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[delete("/organisations/{id}/api-tokens/{token_id}")]
pub async fn revoke_member_api_token(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(OrgId, String)>,
) -> Result<HttpResponse, ApiError> {
    let (org_id, token_id) = path.into_inner();
    write_no_content(&state.db, caller, move |conn, ctx| {
        authorise_admin(conn, &ctx, &org_id)?;
        let found: Option<(String, String, String)> = t::table
            .inner_join(users::table)
            .filter(t::id.eq(&token_id))
            .filter(users::org_id.eq(&org_id).and(t::revoked_at.is_null()))
            .select((t::user_id, t::name, t::token_prefix))
            .first(conn)
            .optional()?;
        let (user_id, name, prefix) = found.ok_or_else(ApiError::not_found)?;
        diesel::update(t::table.find(&token_id).filter(t::revoked_at.is_null()))
            .set(t::revoked_at.eq(now()))
            .execute(conn)?;
        let before = serde_json::json!({ "name": name, "token_prefix": prefix, "user_id": user_id });
        audit_revocation(conn, &ctx, &token_id, &org_id, Some(before))
    })
    .await
}
