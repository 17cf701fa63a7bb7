//! Cross-cutting HTTP machinery.

pub mod accept;
pub mod error;
pub mod etag;
pub mod extractor_errors;
pub mod idempotency;
pub mod json;
pub mod methods;
pub mod metrics;
pub mod middleware;
pub mod pagination;
pub mod ratelimit;
pub mod responses;
pub mod seam;
pub mod unique_keys;
pub mod validate;

use std::net::IpAddr;

use actix_web::HttpRequest;

pub use error::{ApiError, ErrorCode, FieldError};
pub use middleware::RequestId;

/// The request id of `req` (set by the middleware).
pub fn request_id(req: &HttpRequest) -> Option<String> {
    use actix_web::HttpMessage;
    req.extensions().get::<RequestId>().map(|r| r.0.clone())
}

/// The client address: the TCP peer, or `X-Forwarded-For`'s first hop when the proxy is trusted.
pub fn client_ip(req: &HttpRequest, trust_forwarded_for: bool) -> Option<IpAddr> {
    if trust_forwarded_for {
        if let Some(ip) = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok())
        {
            return Some(ip);
        }
    }
    req.peer_addr().map(|a| a.ip())
}
