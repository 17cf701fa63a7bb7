//! Login, refresh, logout and password reset.

use actix_web::{post, web, HttpRequest, HttpResponse};
use chrono::Duration;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::{self, Rotation};
use crate::audit::{self, Actor, Change};
use crate::auth::Caller;
use crate::db::{DbConn, OrgId, UserId};
use crate::http::etag::write_no_content;
use crate::http::json::Json;
use crate::http::ratelimit::{Bucket, Spend};
use crate::http::responses::{TooManyRequests, Unauthorized};
use crate::http::validate::{normalise_email, Validator};
use crate::http::ErrorCode;
use crate::http::{client_ip, request_id, ApiError};
use crate::mail::{self, Template};
use crate::AppState;

const RESET_TTL_MINUTES: i64 = 60;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(login)
        .service(refresh)
        .service(logout)
        .service(request_password_reset)
        .service(confirm_password_reset);
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "test.lead@northern-lights.example", "password": "correct horse battery staple"}))]
pub struct LoginRequest {
    #[schema(example = "admin@example.org")]
    pub email: String,
    pub password: String,
}

/// An access token and the refresh token that renews it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIwMTkzYTFjMiJ9.3q2-7w", "token_type": "Bearer", "expires_in": 900, "refresh_token": "uitr_Zk3mQ8vN2pL5xR7tW1yB4cH6jD9fG0sAqE2uY5iO8pL"}))]
pub struct TokenPair {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Works once; present it to `/auth/refresh` for a new pair.
    pub refresh_token: String,
}

fn pair(state: &AppState, user_id: &UserId, org_id: &OrgId, token_version: i64, refresh_token: String) -> TokenPair {
    TokenPair {
        access_token: state.jwt.issue(user_id, org_id, token_version),
        token_type: "Bearer".into(),
        expires_in: state.jwt.ttl_seconds,
        refresh_token,
    }
}

/// Audits a change to a session (a refresh-token family) of the actor.
fn session_event(conn: &mut DbConn, actor: &Actor, action: &str, family: &str) -> Result<(), ApiError> {
    audit::record(
        conn,
        actor,
        Change::new(action, "session", family).org_opt(actor.org_id.as_deref()),
    )
}

fn bad_login() -> ApiError {
    ApiError::unauthorized(ErrorCode::InvalidCredentials, "The email or password is incorrect.")
}

/// The credential check of every sign-in (the API's login and the web page's): the rate limits
/// per account and per address, one argon2 verification whether or not the account exists, and
/// one answer for a wrong email and a wrong password alike.
pub async fn authenticate(
    state: &AppState,
    req: &HttpRequest,
    email: &str,
    password: String,
) -> Result<model::LoginUser, ApiError> {
    let email = normalise_email(email);
    let ip = client_ip(req, state.config.trust_forwarded_for);
    state
        .limits
        .check([
            Spend::address(Bucket::LoginAddress, ip),
            Some(Spend::account(Bucket::LoginAccount, &email)),
        ])
        .await?;
    if password.len() > 1024 {
        return Err(bad_login());
    }
    let user = state
        .db
        .run(move |conn| Ok(model::find_login_user(conn, &email)?))
        .await?;
    let ok = state
        .hasher
        .verify(user.as_ref().map(|u| u.password_hash.clone()), password)
        .await?;
    match user {
        Some(u) if ok => Ok(u),
        _ => Err(bad_login()),
    }
}

/// Log in
///
/// Wrong email and wrong password get the same answer. Attempts are rate limited per
/// account and per client address.
#[utoipa::path(
    tag = "auth",
    operation_id = "login",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenPair),
        (status = 401, response = Unauthorized),
        (status = 429, response = TooManyRequests),
    ),
    security(())
)]
#[post("/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    body: Json<LoginRequest>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest { email, password } = body.into_inner();
    let user = authenticate(&state, &req, &email, password).await?;
    let ttl = state.config.refresh_token_ttl_days as i64;
    let actor = Actor {
        user_id: Some(user.id.clone()),
        org_id: Some(user.org_id.clone()),
        request_id: request_id(&req),
    };
    let refresh_token = state
        .db
        .write(move |conn| {
            let family = crate::db::new_id();
            let token = model::issue_refresh(conn, actor.user_id.as_ref().expect("a signed-in user"), &family, ttl)?;
            session_event(conn, &actor, "session.login", &family)?;
            Ok(token)
        })
        .await?;
    tracing::info!(user_id = %user.id, "login");
    Ok(HttpResponse::Ok().json(pair(&state, &user.id, &user.org_id, user.token_version, refresh_token)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Refresh tokens
///
/// Each refresh token works once. Presenting a spent one again revokes its whole family,
/// signing out whoever holds the newer tokens too.
#[utoipa::path(
    tag = "auth",
    operation_id = "refreshToken",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair", body = TokenPair),
        (status = 401, response = Unauthorized),
    ),
    security(())
)]
#[post("/auth/refresh")]
pub async fn refresh(
    state: web::Data<AppState>,
    body: Json<RefreshRequest>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let secret = body.into_inner().refresh_token;
    let ttl = state.config.refresh_token_ttl_days as i64;
    // The revocation on reuse must commit, so the outcome is returned rather than raised.
    let rid = request_id(&req);
    let rotation = state.db.write(move |conn| rotate(conn, &secret, ttl, rid)).await?;
    match rotation {
        Rotation::Rotated {
            user_id,
            org_id,
            token_version,
            refresh_token,
        } => Ok(HttpResponse::Ok().json(pair(&state, &user_id, &org_id, token_version, refresh_token))),
        Rotation::Invalid => Err(ApiError::unauthorized(
            ErrorCode::InvalidRefreshToken,
            "The refresh token is invalid or expired.",
        )),
        Rotation::Reused { .. } => {
            tracing::warn!("refresh token reuse: family revoked");
            Err(ApiError::unauthorized(
                ErrorCode::RefreshTokenReused,
                "This refresh token was already used; every session from the same login is now revoked.",
            ))
        }
    }
}

/// Spends a refresh token for a new one of the same family. A spent token presented again
/// revokes its whole family and is audited (`session.revoked_on_reuse`); the outcome is
/// returned rather than raised so that the revocation commits.
pub fn rotate(conn: &mut DbConn, secret: &str, ttl: i64, rid: Option<String>) -> Result<Rotation, ApiError> {
    let rotation = model::rotate_refresh(conn, secret, ttl)?;
    if let Rotation::Reused {
        user_id,
        org_id,
        family_id,
    } = &rotation
    {
        let actor = Actor {
            user_id: Some(user_id.clone()),
            org_id: Some(org_id.clone()),
            request_id: rid,
        };
        session_event(conn, &actor, "session.revoked_on_reuse", family_id)?;
    }
    Ok(rotation)
}

/// Log out
///
/// Revokes the refresh token's family. Access tokens already issued expire on their own.
#[utoipa::path(
    tag = "auth",
    operation_id = "logout",
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "Signed out"),
    ),
    security(("bearer" = []))
)]
#[post("/auth/logout")]
pub async fn logout(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let secret = body.into_inner().refresh_token;
    write_no_content(&state.db, caller, move |conn, ctx| {
        // Someone else's (or an unknown) token: nothing to do, and nothing to reveal.
        if let Some(family) = model::family_of(conn, &secret, &ctx.user_id)? {
            model::revoke_family(conn, &family)?;
            session_event(conn, &Actor::from(&ctx), "session.logout", &family)?;
        }
        Ok(())
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    pub email: String,
}

/// Request a password reset
///
/// Always 202, whether or not the account exists, and in the same time: the lookup and the
/// email happen after the answer. When the account exists, a single-use token is emailed.
/// Rate limited per requested account and per client address, in buckets of their own (not
/// the login ones).
#[utoipa::path(
    tag = "auth",
    operation_id = "requestPasswordReset",
    request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "If the account exists, an email is on its way"),
        (status = 429, response = TooManyRequests),
    ),
    security(())
)]
#[post("/auth/password-reset")]
pub async fn request_password_reset(
    state: web::Data<AppState>,
    body: Json<PasswordResetRequest>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    request_reset(&state, &req, &body.into_inner().email).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Takes a reset request for `email` (rate limits first) and returns at once; the email, when
/// the account exists, is written after. The API's request and the web page's form both call it.
pub async fn request_reset(state: &web::Data<AppState>, req: &HttpRequest, email: &str) -> Result<(), ApiError> {
    let email = normalise_email(email);
    let ip = client_ip(req, state.config.trust_forwarded_for);
    state
        .limits
        .check([
            Spend::address(Bucket::ResetAddress, ip),
            Some(Spend::account(Bucket::ResetAccount, &email)),
        ])
        .await?;
    // Answering before the work keeps the response time independent of whether the account
    // exists (a lookup that finds one also writes a token, an email and an audit row).
    let rid = request_id(req);
    let task = queue_password_reset(state.clone(), email, rid);
    actix_web::rt::spawn(tracing::Instrument::instrument(task, tracing::Span::current()));
    Ok(())
}

/// Writes the reset token, its email and the audit row when the account exists.
async fn queue_password_reset(state: web::Data<AppState>, email: String, rid: Option<String>) {
    let public_url = state.config.public_url.trim_end_matches('/').to_string();
    let queued = state
        .db
        .write(move |conn| issue_password_reset(conn, &email, &public_url, rid))
        .await;
    match queued {
        Ok(true) => state.mail_wake.notify_one(),
        Ok(false) => {}
        Err(e) => tracing::error!(error = %e, "password reset request not queued"),
    }
}

/// When an account has this (normalised) email: a single-use reset token valid for
/// [`RESET_TTL_MINUTES`], its email with a link under `public_url` (queued in the outbox) and
/// an audit row; `true` then, `false` when there is no such account.
pub fn issue_password_reset(
    conn: &mut DbConn,
    email: &str,
    public_url: &str,
    rid: Option<String>,
) -> Result<bool, ApiError> {
    let Some(user) = model::find_login_user(conn, email)? else {
        return Ok(false);
    };
    let token = model::create_password_reset(conn, &user.id, Duration::minutes(RESET_TTL_MINUTES))?;
    let reset_url = format!("{public_url}/reset-password?token={token}");
    let rendered = mail::render(
        Template::PasswordReset,
        &[
            ("reset_url", &reset_url),
            ("token", &token),
            ("ttl_minutes", &RESET_TTL_MINUTES.to_string()),
            ("public_url", public_url),
        ],
    );
    mail::enqueue(conn, email, &rendered)?;
    let actor = Actor {
        user_id: None,
        org_id: None,
        request_id: rid,
    };
    audit::record(
        conn,
        &actor,
        Change::new("user.password_reset_requested", "user", &user.id).org(&user.org_id),
    )?;
    Ok(true)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "uitx_Hq4nV7xK2mR9tL5wB8cD3fJ6aZ1eY0uS7gWkNpQrTvX", "new_password": "a long passphrase of my own"}))]
pub struct PasswordResetConfirm {
    pub token: String,
    /// The new password (the same name as in `PATCH /me` and invitation acceptance).
    #[schema(min_length = 12, max_length = 128)]
    pub new_password: String,
}

/// Confirm a password reset
///
/// Sets the new password and ends every credential of the user: sessions (access and refresh
/// tokens), API tokens, the calendar feed token and any other outstanding reset token.
#[utoipa::path(
    tag = "auth",
    operation_id = "confirmPasswordReset",
    request_body = PasswordResetConfirm,
    responses(
        (status = 204, description = "Password changed; sign in again"),
        (status = 429, response = TooManyRequests),
    ),
    security(())
)]
#[post("/auth/password-reset/confirm")]
pub async fn confirm_password_reset(
    state: web::Data<AppState>,
    body: Json<PasswordResetConfirm>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let PasswordResetConfirm { token, new_password } = body.into_inner();
    reset_password(&state, &req, token, new_password).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Spends a reset token: checks the new password against the rules (422 naming
/// `new_password`), sets it and ends every session of the user. The API's confirmation and
/// the web page's form both call it.
pub async fn reset_password(
    state: &AppState,
    req: &HttpRequest,
    token: String,
    new_password: String,
) -> Result<(), ApiError> {
    let ip = client_ip(req, state.config.trust_forwarded_for);
    state.limits.check([Spend::address(Bucket::TokenAddress, ip)]).await?;
    let mut v = Validator::new();
    v.password("new_password", &new_password);
    v.finish()?;
    let hash = state.hasher.hash(new_password).await?;
    let rid = request_id(req);
    state
        .db
        .write(move |conn| spend_password_reset(conn, &token, &hash, rid))
        .await
}

/// Spends a reset token (400 `invalid_token` when it is unknown, used or expired): sets the
/// new password (`hash`: its argon2 hash), ends every credential of the user and audits it.
pub fn spend_password_reset(conn: &mut DbConn, token: &str, hash: &str, rid: Option<String>) -> Result<(), ApiError> {
    let user_id = model::consume_password_reset(conn, token)?.ok_or_else(|| {
        ApiError::bad_request(ErrorCode::InvalidToken, "The reset token is invalid, used or expired.")
    })?;
    crate::organisations::model::set_password(conn, &user_id, hash)?;
    let ended = model::end_all_credentials(conn, &user_id)?;
    let org_id = crate::organisations::model::user_org(conn, &user_id)?;
    let actor = Actor {
        user_id: Some(user_id.clone()),
        org_id: Some(org_id.clone()),
        request_id: rid,
    };
    audit::record(
        conn,
        &actor,
        Change::new("user.password_reset", "user", &user_id)
            .org(&org_id)
            .after(serde_json::json!({ "credentials_ended": ended })),
    )
}
