//! The one request middleware: request ids, the request span, access logs, metrics, and
//! rewriting any non-problem error body (actix's own plain-text errors) into problem+json,
//! 405 for a served path asked with a method it does not support, and 406 for an `Accept`
//! its route cannot satisfy.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};
use tracing::Instrument;

use super::error::ErrorCode;
use super::error::{ApiError, PROBLEM_JSON};
use super::{accept, methods};
use crate::AppState;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id of the current request, in request extensions (for audit rows).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Accepts a caller's id when it is short and plain; otherwise mints a UUIDv7.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty() && s.len() <= 64)
        .filter(|s| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        })
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

/// The Content-Security-Policy of the Swagger UI under `/docs`: everything it loads is
/// served from the binary ('self'); its stylesheet carries `data:` images and React sets
/// inline styles. No page may frame it.
pub const DOCS_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; \
     base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// Headers every response gets: `nosniff` everywhere; the CSP on the docs; and `no-store` on
/// the API's JSON (it carries tokens and what the caller's credentials may see; a handler
/// that chose its own caching keeps it).
fn security_headers(path: &str, headers: &mut header::HeaderMap) {
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if path == "/docs" || path.starts_with("/docs/") {
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(DOCS_CSP));
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json") || ct.starts_with(PROBLEM_JSON));
    if json && path.starts_with("/api/") && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

pub async fn observe(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = request_id(&req);
    req.extensions_mut().insert(RequestId(id.clone()));
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let method = req.method().to_string();
    let span = tracing::info_span!("request", request_id = %id, method = %method, path = %req.path());
    let started = Instant::now();
    let mut res = match refusal(&mut req) {
        Some(refusal) => {
            let (http_req, _) = req.into_parts();
            ServiceResponse::new(http_req, refusal.error_response().map_into_boxed_body())
        }
        // Handlers' and extractors' errors arrive already rendered as responses; an Err only
        // comes from a failing inner service, and actix renders it through ResponseError.
        None => next
            .call(req)
            .instrument(span.clone())
            .await
            .map(ServiceResponse::map_into_boxed_body)?,
    };
    if res.status() == StatusCode::NOT_FOUND {
        res = method_not_allowed(res, &method);
    }
    res = error_body(res, &method);
    record(
        &mut res,
        &id,
        state.as_ref().map(|s| s.get_ref()),
        &method,
        &span,
        started.elapsed(),
    );
    Ok(res)
}

/// What every response gets on its way out: its request id, the security headers, its line in
/// the metrics and the log.
fn record(
    res: &mut ServiceResponse<BoxBody>,
    id: &str,
    state: Option<&AppState>,
    method: &str,
    span: &tracing::Span,
    elapsed: std::time::Duration,
) {
    if let Ok(value) = HeaderValue::from_str(id) {
        res.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    let request = res.request().clone();
    security_headers(request.path(), res.headers_mut());
    let status = res.status();
    let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".to_string());
    if let Some(state) = state {
        state
            .metrics
            .observe(method, &route, status.as_u16(), elapsed.as_secs_f64());
    }
    span.in_scope(|| {
        tracing::info!(status = status.as_u16(), latency_ms = elapsed.as_millis() as u64, route = %route, "request");
    });
}

/// What is refused before any handler runs (a NUL in the path or query, an Accept the route
/// cannot meet); HEAD is turned into GET on the way.
fn refusal(req: &mut ServiceRequest) -> Option<ApiError> {
    // HEAD is GET without the body (RFC 9110 9.3.2): routed as GET, and actix-web's HTTP/1
    // encoder leaves the body out because the request on the wire was HEAD.
    if req.method() == actix_web::http::Method::HEAD {
        req.head_mut().method = actix_web::http::Method::GET;
    }
    // An encoded NUL in the path or query would reach the database as text, which PostgreSQL
    // refuses; no identifier or filter of this API contains one. 422 like a NUL in a JSON body
    // (every operation documents it, see `openapi::spec`).
    let nul = req.uri().path_and_query().is_some_and(|pq| pq.as_str().contains("%00"));
    if nul {
        return Some(ApiError::invalid_character(
            "The path or query contains a NUL (%00) character, which the service cannot store or match.",
        ));
    }
    // An Accept that admits none of the route's media types: 406, decided once for all.
    accept::refusal(req.request())
}

/// A 404 for a path that exists with other methods becomes 405 with `Allow`.
fn method_not_allowed(res: ServiceResponse<BoxBody>, method: &str) -> ServiceResponse<BoxBody> {
    let Some(allowed) = methods::allowed_methods(method, res.request().path()) else {
        return res;
    };
    let allow = allowed.join(", ");
    let (http_req, _) = res.into_parts();
    let mut replacement = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        format!("{method} is not supported here; allowed: {allow}."),
    )
    .error_response();
    if let Ok(value) = HeaderValue::from_str(&allow) {
        replacement.headers_mut().insert(header::ALLOW, value);
    }
    ServiceResponse::new(http_req, replacement.map_into_boxed_body())
}

/// Every error leaves as problem+json (or, for a page, HTML): actix's own plain-text errors
/// are replaced, keeping `Allow`.
fn error_body(res: ServiceResponse<BoxBody>, method: &str) -> ServiceResponse<BoxBody> {
    let status = res.status();
    // The web pages' own error pages (src/web/) are HTML by design and stay as they are.
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with(PROBLEM_JSON) || ct.starts_with("text/html"));
    if status == StatusCode::METHOD_NOT_ALLOWED && !is_problem && crate::ui::wants_html(res.request()) {
        // A page asked with a method it does not take: a page for browsers, like the 404.
        let allow = res
            .headers()
            .get(header::ALLOW)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("GET")
            .to_string();
        let (http_req, _) = res.into_parts();
        let page = crate::ui::rest::method_not_allowed(method, &allow);
        ServiceResponse::new(http_req, page.map_into_boxed_body())
    } else if status.as_u16() >= 400 && !is_problem {
        let keep_allow = res.headers().get(header::ALLOW).cloned();
        let (http_req, _) = res.into_parts();
        let mut replacement = ApiError::from_status(status).error_response();
        if let Some(allow) = keep_allow {
            replacement.headers_mut().insert(header::ALLOW, allow);
        }
        ServiceResponse::new(http_req, replacement.map_into_boxed_body())
    } else {
        res
    }
}
