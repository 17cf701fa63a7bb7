use actix_web::{get, patch, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::{self, Actor, Change};
use crate::auth::{model as auth_model, AuthContext, Caller, Role};
use crate::db::{DbConn, UserId};
use crate::http::etag::{tagged, IfMatch};
use crate::http::json::Json;
use crate::http::ratelimit::{Bucket, Spend};
use crate::http::responses::*;
use crate::http::validate::Validator;
use crate::http::ApiError;
use crate::organisations::model::{self as org_model, Organisation, User};
use crate::AppState;

/// The signed-in user with their organisation and role.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub user: User,
    pub organisation: Organisation,
    pub role: Role,
}

fn load(conn: &mut DbConn, user_id: &UserId) -> Result<(Me, i64), ApiError> {
    let user = org_model::find_user(conn, user_id)?.ok_or_else(ApiError::not_found)?;
    let org = org_model::find_org(conn, &user.org_id)?.ok_or_else(ApiError::not_found)?;
    let version = user.version;
    let user = User::from(user);
    Ok((
        Me {
            role: user.role,
            user,
            organisation: Organisation::from(org),
        },
        version,
    ))
}

/// Who am I
///
/// The signed-in user, their organisation and their role in it. The `ETag` is the one
/// `If-Match` on `PATCH /me` expects.
#[utoipa::path(
    tag = "me",
    operation_id = "getMe",
    responses(
        (status = 200, description = "The caller", body = Me, headers(("ETag" = String))),
    ),
    security(("bearer" = []))
)]
#[get("/me")]
pub async fn get_me(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let (me, version) = state
        .db
        .read_as(caller, move |conn, ctx| load(conn, &ctx.user_id))
        .await?;
    Ok(tagged(version, &me))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MePatch {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// A new password; needs `current_password`. Changing it ends every session and every
    /// API and calendar-feed token. `password` is accepted as a deprecated alias.
    #[serde(alias = "password")]
    #[schema(min_length = 12, max_length = 128)]
    pub new_password: Option<String>,
    /// The password in use, to change it. Checks are rate limited per user.
    pub current_password: Option<String>,
}

/// Update my profile
///
/// Changing the password needs the current one and ends every credential of the user: every
/// session (this one included), API token and calendar feed token. Wrong current passwords
/// are rate limited per user (429).
#[utoipa::path(
    tag = "me",
    operation_id = "updateMe",
    request_body = MePatch,
    params(("If-Match" = Option<String>, Header, nullable = false, description = "ETag from GET /me; 412 when stale")),
    responses(
        (status = 200, description = "Updated", body = Me, headers(("ETag" = String))),
        (status = 429, response = TooManyRequests),
    ),
    security(("bearer" = []))
)]
#[patch("/me")]
pub async fn update_me(
    state: web::Data<AppState>,
    ctx: AuthContext,
    if_match: IfMatch,
    body: Json<MePatch>,
) -> Result<HttpResponse, ApiError> {
    let patch = body.into_inner();
    check_patch(&patch)?;
    let new_hash = new_password_hash(&state, &ctx, &patch).await?;
    let (me, version) = state
        .db
        .write(move |conn| update(conn, &ctx, if_match, &patch, new_hash))
        .await?;
    Ok(tagged(version, &me))
}

fn check_patch(patch: &MePatch) -> Result<(), ApiError> {
    let mut v = Validator::new();
    if let Some(name) = &patch.name {
        v.text("name", name, 200);
    }
    if let Some(password) = &patch.new_password {
        v.password("new_password", password);
        if patch.current_password.is_none() {
            v.error("current_password", "is required to change the password");
        }
    }
    v.finish()
}

/// For a password change, the new password's hash once the current one is verified (422
/// when it is not); wrong guesses are rate limited per user (429). `None` when the patch
/// changes no password.
async fn new_password_hash(state: &AppState, ctx: &AuthContext, patch: &MePatch) -> Result<Option<String>, ApiError> {
    let (Some(password), Some(current)) = (&patch.new_password, &patch.current_password) else {
        return Ok(None);
    };
    // A stolen access token must not become an oracle for the password.
    state
        .limits
        .check([Some(Spend::new(Bucket::PasswordCheck, ctx.user_id.clone()))])
        .await?;
    let user_id = ctx.user_id.clone();
    let hash = state
        .db
        .run(move |conn| Ok(org_model::password_hash(conn, &user_id)?))
        .await?;
    if !state.hasher.verify(Some(hash), current.clone()).await? {
        return Err(ApiError::invalid_field("current_password", "is not correct"));
    }
    Ok(Some(state.hasher.hash(password.clone()).await?))
}

/// Renames the caller and/or sets their new password hash (from [`new_password_hash`]), with
/// an audit row; returns the caller and the user's row version. `If-Match` must name the
/// current version; a new password ends every credential of the user.
pub fn update(
    conn: &mut DbConn,
    ctx: &AuthContext,
    if_match: IfMatch,
    patch: &MePatch,
    new_hash: Option<String>,
) -> Result<(Me, i64), ApiError> {
    let before = org_model::find_user(conn, &ctx.user_id)?.ok_or_else(ApiError::not_found)?;
    if_match.check(before.version)?;
    if let Some(name) = &patch.name {
        if !org_model::rename_user(conn, &ctx.user_id, name.trim(), before.version)? {
            return Err(ApiError::precondition_failed());
        }
    }
    if let Some(hash) = &new_hash {
        org_model::set_password(conn, &ctx.user_id, hash)?;
        auth_model::end_all_credentials(conn, &ctx.user_id)?;
    }
    let (me, version) = load(conn, &ctx.user_id)?;
    audit::record(
        conn,
        &Actor::from(ctx),
        Change::new(
            if new_hash.is_some() {
                "user.password_change"
            } else {
                "user.update"
            },
            "user",
            &ctx.user_id,
        )
        .org(&ctx.org_id)
        .before(serde_json::to_value(User::from(before))?)
        .after(serde_json::to_value(&me.user)?),
    )?;
    Ok((me, version))
}
