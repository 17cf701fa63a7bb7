//! `Idempotency-Key` on creations: a replay with the same key and body returns the original
//! response; the same key with another body is 422; keys live 24 hours.
//!
//! The key is checked and the response stored inside the creation's own write transaction,
//! so a creation and its idempotency record commit together or not at all.

use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use chrono::Duration;
use diesel::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::error::ErrorCode;
use super::error::{ApiError, PROBLEM_JSON};
use crate::auth::{AuthContext, Caller};
use crate::db::schema::idempotency_keys as ik;
use crate::db::{now, Db, DbConn};

const HEADER: &str = "Idempotency-Key";
const TTL_HOURS: i64 = 24;

/// The raw header, validated (1-255 visible ASCII characters).
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub Option<String>);

impl FromRequest for IdempotencyKey {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let result = match req.headers().get(HEADER) {
            None => Ok(IdempotencyKey(None)),
            Some(v) => match v.to_str() {
                Ok(s) if !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| b.is_ascii_graphic()) => {
                    Ok(IdempotencyKey(Some(s.to_string())))
                }
                _ => Err(ApiError::bad_request(
                    ErrorCode::InvalidIdempotencyKey,
                    "Idempotency-Key must be 1-255 visible ASCII characters.",
                )),
            },
        };
        std::future::ready(result)
    }
}

/// The `Idempotency-Key` header as the document describes it, for `#[utoipa::path]`:
/// `params(crate::http::idempotency::IdempotencyKeyHeader)`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct IdempotencyKeyHeader {
    /// 1-255 visible ASCII characters; replays return the original response for 24 hours
    #[param(
        rename = "Idempotency-Key",
        nullable = false,
        min_length = 1,
        max_length = 255,
        pattern = "^[!-~]+$"
    )]
    key: Option<String>,
}

/// A response as stored for replay.
#[derive(Debug, Clone)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
    pub replayed: bool,
}

impl StoredResponse {
    /// A 201 Created with a JSON body and, when the resource can be read back, a `Location`.
    pub fn created<T: Serialize>(body: &T, location: Option<String>) -> Result<Self, ApiError> {
        Ok(Self {
            status: 201,
            body: serde_json::to_string(body)?,
            location,
            replayed: false,
        })
    }

    pub fn into_response(self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let mut resp = HttpResponse::build(status);
        let content_type = if self.status >= 400 {
            PROBLEM_JSON
        } else {
            "application/json"
        };
        resp.insert_header((header::CONTENT_TYPE, content_type));
        if let Some(location) = self.location {
            resp.insert_header((header::LOCATION, location));
        }
        if self.replayed {
            resp.insert_header(("Idempotent-Replayed", "true"));
        }
        resp.body(self.body)
    }
}

/// A key bound to its request (the caller is bound by [`once`], inside the request's closure).
pub struct Idempotency {
    key: String,
    fingerprint: String,
}

impl IdempotencyKey {
    /// Binds the key to a fingerprint of the operation and body.
    pub fn bind<B: Serialize>(&self, operation: &str, body: &B) -> Option<Idempotency> {
        let key = self.0.clone()?;
        let mut hasher = Sha256::new();
        hasher.update(operation.as_bytes());
        hasher.update([0u8]);
        hasher.update(serde_json::to_vec(body).unwrap_or_default());
        Some(Idempotency {
            key,
            fingerprint: hex::encode(hasher.finalize()),
        })
    }
}

/// Runs a creation once per key of `principal` (the caller's user id): inside the caller's
/// write transaction, replays a stored response when there is one, otherwise runs `create` and
/// stores what it returns.
pub fn once(
    conn: &mut DbConn,
    idem: Option<&Idempotency>,
    principal: &str,
    create: impl FnOnce(&mut DbConn) -> Result<StoredResponse, ApiError>,
) -> Result<StoredResponse, ApiError> {
    let Some(idem) = idem else {
        return create(conn);
    };
    let expired_before = now() - Duration::hours(TTL_HOURS);
    diesel::delete(ik::table.filter(ik::created_at.lt(expired_before))).execute(conn)?;
    let existing: Option<(String, i32, String, Option<String>)> = ik::table
        .filter(ik::principal.eq(principal).and(ik::idem_key.eq(&idem.key)))
        .select((ik::fingerprint, ik::status_code, ik::response_body, ik::location))
        .first(conn)
        .optional()?;
    if let Some((fingerprint, status, body, location)) = existing {
        if fingerprint != idem.fingerprint {
            return Err(ApiError::unprocessable(
                ErrorCode::IdempotencyKeyReused,
                "This Idempotency-Key was used with a different request body.",
            ));
        }
        return Ok(StoredResponse {
            status: status as u16,
            body,
            location,
            replayed: true,
        });
    }
    let response = create(conn)?;
    diesel::insert_into(ik::table)
        .values((
            ik::principal.eq(principal),
            ik::idem_key.eq(&idem.key),
            ik::fingerprint.eq(&idem.fingerprint),
            ik::status_code.eq(response.status as i32),
            ik::response_body.eq(&response.body),
            ik::location.eq(&response.location),
            ik::created_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(response)
}

/// A created resource's address, for the `Location` of its 201 (`None` when it has no URL of
/// its own, e.g. a comment read through its result). Implemented with [`located!`].
pub trait Located {
    fn location(&self) -> Option<String>;
}

/// `located!(DeviceModel, "/api/v1/device-models", id)`: 201s carry `Location:
/// /api/v1/device-models/{id}`; `located!(Comment)`: no `Location`.
macro_rules! located {
    ($t:ty, $collection:literal, $id:ident) => {
        impl $crate::http::idempotency::Located for $t {
            fn location(&self) -> Option<String> {
                Some(format!(concat!($collection, "/{}"), self.$id))
            }
        }
    };
    ($t:ty) => {
        impl $crate::http::idempotency::Located for $t {
            fn location(&self) -> Option<String> {
                None
            }
        }
    };
}
pub(crate) use located;

/// A creation's run once per key, handed to [`create_as`]'s closure for after the checks a
/// replay must not skip.
pub struct Once {
    idem: Option<Idempotency>,
    principal: String,
}

impl Once {
    /// Replays the stored 201 for a repeated key, otherwise runs `create` and stores its answer
    /// (see [`created`]).
    pub fn create<T: Serialize + Located>(
        self,
        conn: &mut DbConn,
        create: impl FnOnce(&mut DbConn) -> Result<T, ApiError>,
    ) -> Result<StoredResponse, ApiError> {
        created(conn, self.idem.as_ref(), &self.principal, create)
    }
}

/// A creation's whole round in the caller's one write hop: `work` checks what a replay must
/// not skip (the caller's right, a parent it may see) and ends in `once.create(conn, |conn|
/// create(conn, &ctx, &body))`; the answer is the 201 with its `Location`, or the replay.
pub async fn create_as<F>(db: &Db, caller: Caller, idem: Option<Idempotency>, work: F) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(&mut DbConn, AuthContext, Once) -> Result<StoredResponse, ApiError> + Send + 'static,
{
    let stored = db
        .write_as(caller, move |conn, ctx| {
            let once = Once {
                idem,
                principal: ctx.user_id.to_string(),
            };
            work(conn, ctx, once)
        })
        .await?;
    Ok(stored.into_response())
}

/// The idempotent-create tail (`Created<T>`): replays the stored 201 for a repeated key,
/// otherwise runs `create` and stores its answer, a 201 with the resource and its `Location`.
/// Call it inside the request's write closure, after the checks a replay must not skip:
/// `idempotency::created(conn, idem.as_ref(), &ctx.user_id, |conn| create(conn, &ctx, &body))`.
pub fn created<T: Serialize + Located>(
    conn: &mut DbConn,
    idem: Option<&Idempotency>,
    principal: &str,
    create: impl FnOnce(&mut DbConn) -> Result<T, ApiError>,
) -> Result<StoredResponse, ApiError> {
    once(conn, idem, principal, |conn| {
        let resource = create(conn)?;
        StoredResponse::created(&resource, resource.location())
    })
}
