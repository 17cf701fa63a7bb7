//! The caller, from a JWT access token or an API token. A handler takes a [`Caller`] (the
//! credentials, checked as far as they can be without the database) and hands it to
//! `Db::read_as`/`Db::write_as`, whose closure loads the [`AuthContext`]: one blocking hop per
//! request. [`AuthContext`] as an extractor loads the caller in a hop of its own, for the few
//! handlers that need it before their work (a password check).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, ResponseError};
use chrono::Duration;
use diesel::prelude::*;

use super::tokens::{hash_secret, API_TOKEN_PREFIX};
use super::{Capability, OrgKind, Role};
use crate::db::schema::{api_tokens, organisations, users};
use crate::db::{now, OrgId, UserId};
use crate::http::{request_id, ApiError};
use crate::AppState;

/// Who is calling, resolved on every request so role changes and revocations apply at once.
#[derive(Debug, Clone)]
pub struct AuthContext {
    pub user_id: UserId,
    pub org_id: OrgId,
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

    /// 403 unless the caller may do `cap` and belongs to `owner_org_id` or to the operator;
    /// `refusal` tells anyone else why.
    pub fn owner_or_operator(&self, owner_org_id: &OrgId, cap: Capability, refusal: &str) -> Result<(), ApiError> {
        self.require(cap)?;
        if self.is_operator() || self.org_id == owner_org_id {
            Ok(())
        } else {
            Err(ApiError::forbidden(refusal))
        }
    }

    pub fn is_operator(&self) -> bool {
        self.org_kind == OrgKind::Operator
    }

    /// 403 unless the caller belongs to the operator organisation; `refusal` tells anyone else why.
    pub fn require_operator(&self, refusal: &str) -> Result<(), ApiError> {
        if self.is_operator() {
            Ok(())
        } else {
            Err(ApiError::forbidden(refusal))
        }
    }

    pub fn is_operator_admin(&self) -> bool {
        self.is_operator() && self.role == Role::Admin
    }

    /// 403 unless the caller is an admin of the operator organisation.
    pub fn require_operator_admin(&self) -> Result<(), ApiError> {
        if self.is_operator_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden("Only operator administrators may do this."))
        }
    }

    /// Admin of `org_id`, or an operator admin.
    pub fn can_administer(&self, org_id: &OrgId) -> bool {
        self.is_operator_admin() || (self.org_id == org_id && self.role == Role::Admin)
    }
}

type Row = (UserId, OrgId, Role, String, i64, OrgKind);

fn load_user(conn: &mut crate::db::DbConn, user_id: &UserId) -> QueryResult<Option<Row>> {
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
        org_kind: kind,
        role,
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

/// What a request's bearer token says, checked as far as it can be without the database: a
/// JWT's signature, expiry, issuer and audience; an API token's form (its hash is looked up).
#[derive(Debug, Clone)]
enum Credentials {
    ApiToken {
        hash: String,
    },
    Jwt {
        user_id: UserId,
        org_id: OrgId,
        token_version: i64,
    },
    /// A caller already known (a signed-in page's session).
    Known(Box<AuthContext>),
}

impl Credentials {
    /// The credentials of `req`: 401 when it has none or its JWT does not verify.
    fn of(req: &HttpRequest, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(req).ok_or_else(ApiError::invalid_token)?;
        if token.starts_with(API_TOKEN_PREFIX) {
            return Ok(Credentials::ApiToken {
                hash: hash_secret(&token),
            });
        }
        let claims = state.jwt.verify(&token).ok_or_else(ApiError::invalid_token)?;
        Ok(Credentials::Jwt {
            user_id: UserId::from(claims.sub),
            org_id: OrgId::from(claims.org),
            token_version: claims.tv,
        })
    }

    /// The caller these credentials name, read now: 401 for an unknown, revoked or expired API
    /// token, and for a JWT whose user's sessions ended (token version) or who changed
    /// organisation.
    fn resolve(self, conn: &mut crate::db::DbConn, rid: Option<String>) -> Result<AuthContext, ApiError> {
        match self {
            Credentials::Known(ctx) => Ok(*ctx),
            Credentials::ApiToken { hash } => {
                let found: Option<(
                    String,
                    UserId,
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
            }
            Credentials::Jwt {
                user_id,
                org_id,
                token_version,
            } => {
                let row = load_user(conn, &user_id)?.ok_or_else(ApiError::invalid_token)?;
                // A password reset or change bumps token_version; the org must still match.
                if row.4 != token_version || row.1 != org_id {
                    return Err(ApiError::invalid_token());
                }
                context(row, None, rid)
            }
        }
    }
}

/// The caller of a request, not yet read from the database: the request seam. A handler takes
/// a `Caller` and hands it to [`crate::db::Db::read_as`] or [`crate::db::Db::write_as`], whose
/// one database closure loads the caller (with the same checks as ever: revocation, token
/// version, role) and then does the handler's work, so a request costs one blocking hop and
/// one pool checkout, and a write's caller is read in the write's own transaction.
///
/// Credentials that fail without the database (none, a JWT that does not verify) are 401 here,
/// before any other extractor's error. Those that need the database to fail (an unknown or
/// revoked API token, a JWT of a user whose sessions ended) are found in the closure; should
/// another extractor or the handler answer with an error first, [`confirm_caller`] checks them
/// then, so 401 still comes before any body's error.
#[derive(Debug, Clone)]
pub struct Caller {
    credentials: Credentials,
    request_id: Option<String>,
    confirmed: Arc<AtomicBool>,
}

impl Caller {
    /// Loads the caller on `conn` (the closure's own connection).
    pub fn resolve(self, conn: &mut crate::db::DbConn) -> Result<AuthContext, ApiError> {
        let ctx = self.credentials.resolve(conn, self.request_id)?;
        self.confirmed.store(true, Ordering::Relaxed);
        Ok(ctx)
    }
}

impl From<AuthContext> for Caller {
    /// A caller already loaded (a page's session, or a test of a domain function).
    fn from(ctx: AuthContext) -> Self {
        Caller {
            request_id: ctx.request_id.clone(),
            credentials: Credentials::Known(Box::new(ctx)),
            confirmed: Arc::new(AtomicBool::new(true)),
        }
    }
}

/// In a request's extensions once a handler's extractor took its credentials: whether the
/// database confirmed them. Read by [`confirm_caller`].
#[derive(Clone)]
struct Pending(Arc<AtomicBool>);

fn pending(req: &HttpRequest) -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    req.extensions_mut().insert(Pending(flag.clone()));
    flag
}

fn state_of(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("no state"))
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready((|| {
            let state = state_of(req)?;
            let credentials = Credentials::of(req, &state)?;
            Ok(Caller {
                credentials,
                request_id: request_id(req),
                confirmed: pending(req),
            })
        })())
    }
}

/// The caller of `req` in a hop of its own: for [`AuthContext`]'s extractor and for
/// [`confirm_caller`].
async fn authenticate(req: HttpRequest) -> Result<AuthContext, ApiError> {
    let state = state_of(&req)?;
    let credentials = Credentials::of(&req, &state)?;
    let rid = request_id(&req);
    state.db.run(move |conn| credentials.resolve(conn, rid)).await
}

impl FromRequest for AuthContext {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    /// The caller loaded before the handler runs, in a hop of its own (see [`Caller`] for the
    /// one-hop seam).
    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = Caller::from_request(req, payload).into_inner();
        let state = state_of(req);
        Box::pin(async move { state?.db.read_as(caller?, |_, ctx| Ok(ctx)).await })
    }
}

/// Middleware: API.md's order is 401 first. When a route that needs a caller answered with
/// another client error (a body that does not parse, a field that fails validation, a missing
/// id) before the database confirmed its credentials, they are checked now and a failure
/// replaces the answer with 401. Successful requests and requests without credentials cost
/// nothing; the check runs only on that error path.
pub async fn confirm_caller(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = next.call(req).await?.map_into_boxed_body();
    let status = res.status();
    if !status.is_client_error() || status == StatusCode::UNAUTHORIZED {
        return Ok(res);
    }
    let unconfirmed = res
        .request()
        .extensions()
        .get::<Pending>()
        .is_some_and(|p| !p.0.load(Ordering::Relaxed));
    if !unconfirmed {
        return Ok(res);
    }
    match authenticate(res.request().clone()).await {
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {
            let (http_req, _) = res.into_parts();
            Ok(ServiceResponse::new(http_req, e.error_response().map_into_boxed_body()))
        }
        _ => Ok(res),
    }
}
