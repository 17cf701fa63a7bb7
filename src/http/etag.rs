//! ETags from row versions and `If-Match` preconditions.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use serde::Serialize;

use super::error::ApiError;
use crate::auth::{AuthContext, Caller};
use crate::db::{Db, DbConn};

/// The `If-Match` header as the document describes it, for `#[utoipa::path]`:
/// `params(("id" = String, Path, ..), crate::http::etag::IfMatchHeader)`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct IfMatchHeader {
    /// ETag from a previous read; 412 when stale
    #[param(rename = "If-Match", nullable = false)]
    if_match: Option<String>,
}

/// The strong ETag of a row at `version`.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// A 200 JSON response carrying the row's ETag.
pub fn tagged<T: Serialize>(version: i64, body: &T) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::ETAG, etag(version)))
        .json(body)
}

/// A GET's whole hop: `read` runs as the caller and returns the row version and the
/// resource, answered as 200 with that `ETag`.
pub async fn read_tagged<T, F>(db: &Db, caller: Caller, read: F) -> Result<HttpResponse, ApiError>
where
    T: Serialize + Send + 'static,
    F: FnOnce(&mut DbConn, AuthContext) -> Result<(i64, T), ApiError> + Send + 'static,
{
    let (version, body) = db.read_as(caller, read).await?;
    Ok(tagged(version, &body))
}

/// A PATCH's whole hop: `update` runs in the caller's write transaction and returns the new
/// row version and the resource, answered as 200 with that `ETag`.
pub async fn write_tagged<T, F>(db: &Db, caller: Caller, update: F) -> Result<HttpResponse, ApiError>
where
    T: Serialize + Send + 'static,
    F: FnOnce(&mut DbConn, AuthContext) -> Result<(i64, T), ApiError> + Send + 'static,
{
    let (version, body) = db.write_as(caller, update).await?;
    Ok(tagged(version, &body))
}

/// A PATCH's whole tail: `update(conn, ctx, id, if_match, patch)` is the domain function (it
/// checks `If-Match` against the row it loads), run as in [`write_tagged`]. `update` takes the
/// path's id as its own type (an id newtype) or as a `str` (a `String` path).
pub async fn patch_tagged<I, R, P, T, U>(
    db: &Db,
    caller: Caller,
    path: web::Path<I>,
    if_match: IfMatch,
    patch: P,
    update: U,
) -> Result<HttpResponse, ApiError>
where
    I: AsRef<R> + Send + 'static,
    R: ?Sized,
    P: Send + 'static,
    T: Serialize + Send + 'static,
    U: FnOnce(&mut DbConn, &AuthContext, &R, IfMatch, P) -> Result<(i64, T), ApiError> + Send + 'static,
{
    let id = path.into_inner();
    write_tagged(db, caller, move |conn, ctx| {
        update(conn, &ctx, id.as_ref(), if_match, patch)
    })
    .await
}

/// A DELETE's whole hop (or another write with nothing to answer): `delete` runs in the
/// caller's write transaction, answered as 204 No Content.
pub async fn write_no_content<F>(db: &Db, caller: Caller, delete: F) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(&mut DbConn, AuthContext) -> Result<(), ApiError> + Send + 'static,
{
    db.write_as(caller, delete).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The entity tags an `If-None-Match` header lists (weak ones by their opaque part, `*` as
/// itself); empty when there is none.
pub fn if_none_match(req: &HttpRequest) -> Vec<String> {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/").to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

/// The parsed `If-Match` header: `None` when absent (the write is unconditional).
#[derive(Debug, Clone, Default)]
pub struct IfMatch(pub Option<Vec<String>>);

impl IfMatch {
    /// Checks the precondition against the row's current version: 412 when it does not match.
    pub fn check(&self, current_version: i64) -> Result<(), ApiError> {
        match &self.0 {
            None => Ok(()),
            Some(tags) if tags.iter().any(|t| t == "*" || *t == etag(current_version)) => Ok(()),
            Some(_) => Err(ApiError::precondition_failed()),
        }
    }
}

impl FromRequest for IfMatch {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let values: Vec<String> = req
            .headers()
            .get_all(header::IF_MATCH)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().trim_start_matches("W/").to_string())
            .filter(|t| !t.is_empty())
            .collect();
        let has_header = req.headers().contains_key(header::IF_MATCH);
        std::future::ready(Ok(IfMatch(has_header.then_some(values))))
    }
}
