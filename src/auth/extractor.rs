//! `AuthContext`: the caller, from a JWT access token or an API token. A handler that takes
//! it requires a login; `OperatorAdmin` requires an admin of the operator organisation.

use std::future::Future;
use std::pin::Pin;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use chrono::Duration;
use diesel::prelude::*;

use super::tokens::{hash_secret, API_TOKEN_PREFIX};
use super::{Capability, OrgKind, Role};
use crate::db::now;
use crate::db::schema::{api_tokens, organisations, users};
use crate::http::{request_id, ApiError};
use crate::AppState;

/// Who is calling, resolved on every request so role changes and revocations apply at once.
#[derive(Debug, Clone)]
pub struct AuthContext {
    pub user_id: String,
    pub org_id: String,
    pub org_kind: OrgKind,
    pub role: Role,
    pub email: String,
    /// Set when the caller used an API token.
    pub api_token_id: Option<String>,
    pub request_id: Option<String>,
}

impl AuthContext {
    /// 403 unless the caller's organisation kind and role allow `cap`.
    pub fn require(&self, cap: Capability) -> Result<(), ApiError> {
        if !cap.allowed_for(self.org_kind) {
            return Err(ApiError::forbidden(format!(
                "Organisations of kind {} may not do this.",
                self.org_kind
            )));
        }
        if cap.is_write() && self.role == Role::Viewer {
            return Err(ApiError::forbidden("Viewers have read-only access."));
        }
        Ok(())
    }

    pub fn is_operator(&self) -> bool {
        self.org_kind == OrgKind::Operator
    }

    pub fn is_operator_admin(&self) -> bool {
        self.is_operator() && self.role == Role::Admin
    }

    /// Admin of `org_id`, or an operator admin.
    pub fn can_administer(&self, org_id: &str) -> bool {
        self.is_operator_admin() || (self.org_id == org_id && self.role == Role::Admin)
    }
}

type Row = (String, String, String, String, i64, String);

fn load_user(conn: &mut crate::db::DbConn, user_id: &str) -> QueryResult<Option<Row>> {
    users::table
        .inner_join(organisations::table)
        .filter(users::id.eq(user_id))
        .select((
            users::id,
            users::org_id,
            users::role,
            users::email,
            users::token_version,
            organisations::kind,
        ))
        .first(conn)
        .optional()
}

fn context(row: Row, api_token_id: Option<String>, request_id: Option<String>) -> Result<AuthContext, ApiError> {
    let (user_id, org_id, role, email, _, kind) = row;
    Ok(AuthContext {
        user_id,
        org_id,
        org_kind: OrgKind::parse(&kind).ok_or_else(|| ApiError::internal("unknown organisation kind"))?,
        role: Role::parse(&role).ok_or_else(|| ApiError::internal("unknown role"))?,
        email,
        api_token_id,
        request_id,
    })
}

/// The bearer token of `req`, if any.
pub fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim().to_string())
}

async fn authenticate(req: HttpRequest) -> Result<AuthContext, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("no state"))?;
    let token = bearer(&req).ok_or_else(ApiError::invalid_token)?;
    let rid = request_id(&req);
    if token.starts_with(API_TOKEN_PREFIX) {
        let hash = hash_secret(&token);
        state
            .db
            .run(move |conn| {
                let found: Option<(
                    String,
                    String,
                    Option<chrono::NaiveDateTime>,
                    Option<chrono::NaiveDateTime>,
                )> = api_tokens::table
                    .filter(api_tokens::token_hash.eq(&hash).and(api_tokens::revoked_at.is_null()))
                    .select((
                        api_tokens::id,
                        api_tokens::user_id,
                        api_tokens::expires_at,
                        api_tokens::last_used_at,
                    ))
                    .first(conn)
                    .optional()?;
                let (token_id, user_id, expires_at, last_used_at) = found.ok_or_else(ApiError::invalid_token)?;
                let now = now();
                if expires_at.is_some_and(|e| e <= now) {
                    return Err(ApiError::invalid_token());
                }
                // Recorded at most once a minute, to keep reads from turning into writes.
                if last_used_at.is_none_or(|t| now - t > Duration::seconds(60)) {
                    diesel::update(api_tokens::table.find(&token_id))
                        .set(api_tokens::last_used_at.eq(now))
                        .execute(conn)?;
                }
                let row = load_user(conn, &user_id)?.ok_or_else(ApiError::invalid_token)?;
                context(row, Some(token_id), rid)
            })
            .await
    } else {
        let claims = state.jwt.verify(&token).ok_or_else(ApiError::invalid_token)?;
        state
            .db
            .run(move |conn| {
                let row = load_user(conn, &claims.sub)?.ok_or_else(ApiError::invalid_token)?;
                // A password reset or change bumps token_version; the org must still match.
                if row.4 != claims.tv || row.1 != claims.org {
                    return Err(ApiError::invalid_token());
                }
                context(row, None, rid)
            })
            .await
    }
}

impl FromRequest for AuthContext {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(caller(req.clone()))
    }
}

/// The caller as [`resolve_caller`] found it before the handler ran.
#[derive(Clone)]
struct Resolved(Result<AuthContext, ApiError>);

/// Middleware: resolves the credentials of a request that carries any, before the handler's
/// extractors run. actix-web polls a handler's extractors together, so without this a body
/// that fails to parse (400, 413, 415) would answer while an API token still waited for its
/// database lookup; API.md's order is 401 first. Requests without credentials cost nothing.
pub async fn resolve_caller(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.headers().contains_key(header::AUTHORIZATION) && req.path().starts_with("/api/") {
        let resolved = authenticate(req.request().clone()).await;
        req.extensions_mut().insert(Resolved(resolved));
    }
    next.call(req).await
}

/// The caller: resolved by the middleware when it ran, else here.
async fn caller(req: HttpRequest) -> Result<AuthContext, ApiError> {
    let resolved = req.extensions().get::<Resolved>().cloned();
    match resolved {
        Some(Resolved(result)) => result,
        None => authenticate(req).await,
    }
}

/// An admin of the operator organisation.
pub struct OperatorAdmin(pub AuthContext);

impl FromRequest for OperatorAdmin {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let ctx = caller(req).await?;
            if !ctx.is_operator_admin() {
                return Err(ApiError::forbidden("Only operator administrators may do this."));
            }
            Ok(OperatorAdmin(ctx))
        })
    }
}
