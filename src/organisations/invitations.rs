use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use chrono::Duration;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::members::authorise_admin;
use super::model::{self, Invitation, User};
use crate::audit::{self, Actor, Change};
use crate::auth::tokens::hash_secret;
use crate::auth::{AuthContext, Caller, Role};
use crate::db::{DbConn, OrgId};
use crate::http::etag::write_no_content;
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::json::Json;
use crate::http::pagination::{keyed, list_page, list_query, Page};
use crate::http::ratelimit::{Bucket, Spend};
use crate::http::responses::*;
use crate::http::validate::{normalise_email, Validator};
use crate::http::ErrorCode;
use crate::http::{client_ip, request_id, ApiError};
use crate::mail::{self, Template};
use crate::AppState;

const INVITATION_TTL_DAYS: i64 = 7;

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "jo.bloggs@severn-supply.example", "role": "member"}))]
pub struct NewInvitation {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    pub role: Role,
}

/// Invite someone to an organisation
///
/// The organisation's admins (or operator admins). Emails a single-use link valid for 7 days.
#[utoipa::path(
    tag = "organisations",
    operation_id = "createInvitation",
    request_body = NewInvitation,
    params(
        ("id" = String, Path, description = "Organisation id"),
        crate::http::idempotency::IdempotencyKeyHeader,
    ),
    responses(
        (status = 201, description = "Invitation sent", body = Invitation),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    ),
    security(("bearer" = []))
)]
#[post("/organisations/{id}/invitations")]
pub async fn create_invitation(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<OrgId>,
    key: IdempotencyKey,
    body: Json<NewInvitation>,
) -> Result<HttpResponse, ApiError> {
    let org_id = path.into_inner();
    let body = body.into_inner();
    let mut v = Validator::new();
    v.email("email", &body.email);
    v.finish()?;
    let email = normalise_email(&body.email);
    let idem = key.bind(&format!("POST /organisations/{org_id}/invitations"), &body);
    let public_url = state.config.public_url.trim_end_matches('/').to_string();
    let stored = state
        .db
        .write_as(caller, move |conn, ctx| {
            let org = inviting_org(conn, &ctx, &org_id)?;
            idempotency::created(conn, idem.as_ref(), &ctx.user_id, |conn| {
                invite(conn, &ctx, &org, &email, body.role, &public_url)
            })
        })
        .await?;
    if !stored.replayed {
        state.mail_wake.notify_one();
    }
    Ok(stored.into_response())
}

/// What is checked before a replayed request could answer: the organisation exists (404) and
/// the caller administers it (403).
fn inviting_org(conn: &mut DbConn, ctx: &AuthContext, org_id: &OrgId) -> Result<model::OrgRow, ApiError> {
    let org = model::find_org(conn, org_id)?.ok_or_else(ApiError::not_found)?;
    if !ctx.can_administer(org_id) {
        return Err(ApiError::forbidden(
            "Only the organisation's admins may invite members.",
        ));
    }
    Ok(org)
}

/// Invites `email` (normalised) to `org` with `role`: the invitation, its email (a
/// single-use link under `public_url`, valid for 7 days, queued in the outbox) and its audit
/// row. An email that already has an account is 409 `user_exists`.
pub fn invite(
    conn: &mut DbConn,
    ctx: &AuthContext,
    org: &model::OrgRow,
    email: &str,
    role: Role,
    public_url: &str,
) -> Result<Invitation, ApiError> {
    if model::email_taken(conn, email)? {
        return Err(ApiError::conflict(
            ErrorCode::UserExists,
            "A user with this email already exists.",
        ));
    }
    let ttl = Duration::days(INVITATION_TTL_DAYS);
    let (invitation, token) = model::create_invitation(conn, &org.id, email, role, &ctx.user_id, ttl)?;
    let rendered = mail::render(
        Template::Invitation,
        &[
            ("org_name", &org.name),
            ("inviter", &ctx.email),
            ("role", role.as_str()),
            ("accept_url", &format!("{public_url}/accept-invitation?token={token}")),
            ("token", &token),
            (
                "expires_at",
                &invitation.expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            ),
            ("public_url", public_url),
        ],
    );
    mail::enqueue(conn, email, &rendered)?;
    audit::created(conn, ctx, "invitation.create", &invitation)?;
    Ok(invitation)
}

list_query! {
    pub struct InvitationQuery {
    }
}

/// List pending invitations
///
/// The organisation's admins (or operator admins). Invitations that can still be accepted:
/// not accepted, revoked or expired. The links themselves are never shown again.
#[utoipa::path(
    tag = "organisations",
    operation_id = "listInvitations",
    params(("id" = String, Path, description = "Organisation id"), InvitationQuery),
    responses(
        (status = 200, description = "A page of pending invitations", body = Page<Invitation>),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[get("/organisations/{id}/invitations")]
pub async fn list_invitations(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<OrgId>,
    query: web::Query<InvitationQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let org_id = path.into_inner();
    let q = query.into_inner();
    list_page(&state.db, caller, &req, q.page()?, move |conn, ctx, after, fetch| {
        authorise_admin(conn, &ctx, &org_id)?;
        Ok(model::list_pending_invitations(conn, &org_id, after, fetch)?)
    })
    .await
}

keyed!(Invitation, id);

/// Revoke a pending invitation
///
/// The organisation's admins (or operator admins). Its link stops working at once (400
/// `invalid_token` on acceptance). 404 when no pending invitation has this id.
#[utoipa::path(
    tag = "organisations",
    operation_id = "revokeInvitation",
    params(
        ("id" = String, Path, description = "Organisation id"),
        ("invitation_id" = String, Path, description = "Invitation id"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[delete("/organisations/{id}/invitations/{invitation_id}")]
pub async fn revoke_invitation(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(OrgId, String)>,
) -> Result<HttpResponse, ApiError> {
    let (org_id, invitation_id) = path.into_inner();
    write_no_content(&state.db, caller, move |conn, ctx| {
        authorise_admin(conn, &ctx, &org_id)?;
        let revoked = model::revoke_invitation(conn, &org_id, &invitation_id)?.ok_or_else(ApiError::not_found)?;
        audit::deleted(conn, &ctx, "invitation.revoke", &revoked)
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "uiti_Wm5qT8zN3kP6vR9xC2bF4hJ7aL1eY0uS7gQnMrPsUw", "name": "Jo Bloggs", "new_password": "a long passphrase of my own"}))]
pub struct AcceptInvitation {
    pub token: String,
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// The account's password. `password` is accepted as a deprecated alias.
    #[serde(alias = "password")]
    #[schema(min_length = 12, max_length = 128)]
    pub new_password: String,
}

/// Accept an invitation
///
/// Creates the account with the invited email and role; sign in afterwards.
#[utoipa::path(
    tag = "organisations",
    operation_id = "acceptInvitation",
    request_body = AcceptInvitation,
    params(crate::http::idempotency::IdempotencyKeyHeader),
    responses(
        (status = 201, description = "Account created", body = User),
        (status = 409, response = Conflict),
        (status = 429, response = TooManyRequests),
    ),
    security(())
)]
#[post("/invitations/accept")]
pub async fn accept_invitation(
    state: web::Data<AppState>,
    key: IdempotencyKey,
    body: Json<AcceptInvitation>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let AcceptInvitation {
        token,
        name,
        new_password: password,
    } = body.into_inner();
    check_acceptance(&state, &req, &name, &password).await?;
    // No login yet, so the invitation itself is the principal. The fingerprint leaves the
    // password out: nothing derived from it is stored but its argon2 hash.
    let principal = format!("invitation:{}", hash_secret(&token));
    let idem = key.bind("POST /invitations/accept", &serde_json::json!({ "name": name }));
    let hash = state.hasher.hash(password).await?;
    let rid = request_id(&req);
    let stored = state
        .db
        .write(move |conn| {
            idempotency::created(conn, idem.as_ref(), &principal, |conn| {
                accept(conn, &token, &name, &hash, rid)
            })
        })
        .await?;
    Ok(stored.into_response())
}

/// What accepting an invitation checks before hashing the password: the rate limit per client
/// address and the name and password rules (422 naming `name` or `new_password`).
pub async fn check_acceptance(state: &AppState, req: &HttpRequest, name: &str, password: &str) -> Result<(), ApiError> {
    let ip = client_ip(req, state.config.trust_forwarded_for);
    state.limits.check([Spend::address(Bucket::TokenAddress, ip)]).await?;
    let mut v = Validator::new();
    v.text("name", name, 200);
    v.password("new_password", password);
    v.finish()
}

/// Spends an invitation token and creates the invited account (`hash`: the new password's
/// argon2 hash), with its audit row. The API's acceptance and the web page's form both call it.
pub fn accept(conn: &mut DbConn, token: &str, name: &str, hash: &str, rid: Option<String>) -> Result<User, ApiError> {
    let (org_id, email, role) = model::consume_invitation(conn, token)?
        .ok_or_else(|| ApiError::bad_request(ErrorCode::InvalidToken, "The invitation is invalid, used or expired."))?;
    if model::email_taken(conn, &email)? {
        return Err(ApiError::conflict(
            ErrorCode::UserExists,
            "A user with this email already exists.",
        ));
    }
    let user = User::from(model::insert_user(conn, &org_id, &email, name.trim(), role, hash)?);
    let actor = Actor {
        user_id: Some(user.id.clone()),
        org_id: Some(org_id.clone()),
        request_id: rid,
    };
    audit::record(
        conn,
        &actor,
        Change::new("invitation.accept", "user", &user.id)
            .org(&org_id)
            .after(serde_json::to_value(&user)?),
    )?;
    Ok(user)
}
