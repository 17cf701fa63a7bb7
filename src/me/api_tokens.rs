//! Personal API tokens for test harnesses: `uitp_` + 256 random bits, stored as SHA-256,
//! shown once.

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::{self, Actor, Change};
use crate::auth::tokens::{hash_secret, new_secret, API_TOKEN_PREFIX};
use crate::auth::{AuthContext, Caller};
use crate::db::schema::api_tokens as t;
use crate::db::{new_id, now, DbConn, OrgId, UserId};
use crate::http::etag::write_no_content;
use crate::http::json::Json;
use crate::http::pagination::{keyed, list_page, list_query, Page};
use crate::http::validate::Validator;
use crate::http::ApiError;
use crate::AppState;

const DEFAULT_TTL_DAYS: i64 = 90;
const MAX_TTL_DAYS: i64 = 366;

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = t)]
struct TokenRow {
    id: String,
    name: String,
    token_prefix: String,
    expires_at: Option<NaiveDateTime>,
    last_used_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
}

/// An API token (without its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    /// The first characters of the secret, to tell tokens apart.
    pub token_prefix: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<TokenRow> for ApiToken {
    fn from(r: TokenRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            token_prefix: r.token_prefix,
            expires_at: r.expires_at.map(|t| t.and_utc()),
            last_used_at: r.last_used_at.map(|t| t.and_utc()),
            created_at: r.created_at.and_utc(),
        }
    }
}

/// A new API token with its secret, shown only in this response.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiToken {
    pub id: String,
    pub name: String,
    /// The secret: send as `Authorization: Bearer <token>`. It cannot be shown again.
    pub token: String,
    pub token_prefix: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

list_query! {
    pub struct TokenQuery {
    }
}

/// List my API tokens
///
/// Active tokens only; revoked ones are gone.
#[utoipa::path(
    tag = "me",
    operation_id = "listApiTokens",
    params(TokenQuery),
    responses(
        (status = 200, description = "A page of tokens", body = Page<ApiToken>),
    ),
    security(("bearer" = []))
)]
#[get("/me/api-tokens")]
pub async fn list_api_tokens(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<TokenQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    list_page(&state.db, caller, &req, q.page()?, move |conn, ctx, after, fetch| {
        let mut query = t::table
            .filter(t::user_id.eq(&ctx.user_id).and(t::revoked_at.is_null()))
            .select(TokenRow::as_select())
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(t::id.gt(after));
        }
        let rows: Vec<TokenRow> = query.order(t::id.asc()).limit(fetch).load(conn)?;
        Ok(rows.into_iter().map(ApiToken::from).collect())
    })
    .await
}

keyed!(ApiToken, id);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiToken {
    #[schema(example = "nightly test harness", min_length = 1, max_length = 100)]
    pub name: String,
    /// When it stops working; default 90 days from now, at most 366.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Create an API token
///
/// The secret is in this response only. `Idempotency-Key` is not honoured here: replaying
/// would mean keeping the secret, which is stored only as a hash.
#[utoipa::path(
    tag = "me",
    operation_id = "createApiToken",
    request_body = NewApiToken,
    responses(
        (status = 201, description = "Created; copy the token now", body = CreatedApiToken),
    ),
    security(("bearer" = []))
)]
#[post("/me/api-tokens")]
pub async fn create_api_token(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<NewApiToken>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let now = now();
    let expires_at = check_new(&body, now)?;
    let created = state
        .db
        .write_as(caller, move |conn, ctx| create(conn, &ctx, &body.name, expires_at, now))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/api/v1/me/api-tokens/{}", created.id),
        ))
        .json(created))
}

/// The checks that need no database; returns when the token expires (by default
/// [`DEFAULT_TTL_DAYS`] after `now`, in the future and at most [`MAX_TTL_DAYS`] ahead).
fn check_new(body: &NewApiToken, now: NaiveDateTime) -> Result<NaiveDateTime, ApiError> {
    let mut v = Validator::new();
    v.text("name", &body.name, 100);
    let expires_at = body
        .expires_at
        .map(|e| e.naive_utc())
        .unwrap_or(now + Duration::days(DEFAULT_TTL_DAYS));
    if expires_at <= now {
        v.error("expires_at", "must be in the future");
    } else if expires_at > now + Duration::days(MAX_TTL_DAYS) {
        v.error("expires_at", format!("must be at most {MAX_TTL_DAYS} days ahead"));
    }
    v.finish()?;
    Ok(expires_at)
}

/// Issues an API token for the caller, with its audit row: a new secret, stored only as its
/// hash and returned only here.
pub fn create(
    conn: &mut DbConn,
    ctx: &AuthContext,
    name: &str,
    expires_at: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<CreatedApiToken, ApiError> {
    let secret = new_secret(API_TOKEN_PREFIX);
    let created = CreatedApiToken {
        id: new_id(),
        name: name.trim().to_string(),
        token_prefix: secret.chars().take(12).collect(),
        token: secret,
        expires_at: Some(expires_at.and_utc()),
        last_used_at: None,
        created_at: now.and_utc(),
    };
    let (id, name, prefix, hash) = (
        &created.id,
        &created.name,
        &created.token_prefix,
        hash_secret(&created.token),
    );
    diesel::insert_into(t::table)
        .values((
            t::id.eq(id),
            t::user_id.eq(&ctx.user_id),
            t::name.eq(name),
            t::token_hash.eq(&hash),
            t::token_prefix.eq(prefix),
            t::expires_at.eq(expires_at),
            t::created_at.eq(now),
        ))
        .execute(conn)?;
    audit::record(
        conn,
        &Actor::from(ctx),
        Change::new("api_token.create", "api_token", id)
            .org(&ctx.org_id)
            .after(serde_json::json!({ "name": name, "token_prefix": prefix, "user_id": ctx.user_id })),
    )?;
    Ok(created)
}

/// Revoke an API token
///
/// Takes effect at once.
#[utoipa::path(
    tag = "me",
    operation_id = "revokeApiToken",
    params(("id" = String, Path, description = "Token id")),
    responses(
        (status = 204, description = "Revoked"),
    ),
    security(("bearer" = []))
)]
#[delete("/me/api-tokens/{id}")]
pub async fn revoke_api_token(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    write_no_content(&state.db, caller, move |conn, ctx| {
        let n = diesel::update(
            t::table
                .find(&id)
                .filter(t::user_id.eq(&ctx.user_id))
                .filter(t::revoked_at.is_null()),
        )
        .set(t::revoked_at.eq(now()))
        .execute(conn)?;
        if n == 0 {
            return Err(ApiError::not_found());
        }
        audit_revocation(conn, &ctx, &id, &ctx.org_id, None)
    })
    .await
}

/// The audit row of API token `id` revoked by `ctx` (its user, or an admin of `org_id`, the
/// user's organisation); `before` says whose token it was when that is not the caller.
pub(crate) fn audit_revocation(
    conn: &mut DbConn,
    ctx: &AuthContext,
    id: &str,
    org_id: &OrgId,
    before: Option<serde_json::Value>,
) -> Result<(), ApiError> {
    let change = Change::new("api_token.revoke", "api_token", id)
        .org(org_id)
        .before_opt(before);
    audit::record(conn, &Actor::from(ctx), change)
}

/// Whether the caller may read the API token `id` (revoked ones included), e.g. in the audit
/// log: its user, and whoever administers the user's organisation (who may list and revoke it
/// through `/organisations/{id}/api-tokens`). Secrets are never stored, so never shown.
pub fn readable_by(conn: &mut DbConn, ctx: &AuthContext, id: &str) -> QueryResult<bool> {
    use crate::db::schema::users;
    let owner: Option<(UserId, OrgId)> = t::table
        .inner_join(users::table)
        .filter(t::id.eq(id))
        .select((t::user_id, users::org_id))
        .first(conn)
        .optional()?;
    Ok(owner.is_some_and(|(user_id, org_id)| user_id == ctx.user_id || ctx.can_administer(&org_id)))
}
