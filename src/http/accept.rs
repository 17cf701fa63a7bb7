//! Content negotiation, once for every route: a request whose `Accept` admits none of the
//! media types its route answers with (as the OpenAPI document declares them) gets 406
//! problem+json instead of a body it did not ask for (RFC 9110, section 12.5.1). A missing
//! `Accept`, `*/*`, and any list with a wildcard that covers the route's type are served.
//! `application/problem+json` counts as accepting JSON: a client that reads our errors reads
//! our JSON. Routes with several representations (the matrix: JSON or CSV) pick with
//! [`prefers`].

use std::collections::HashMap;
use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::HttpRequest;

use super::error::ApiError;
use super::error::ErrorCode;
use super::methods;

/// One media range of an `Accept` header.
struct Range {
    kind: String,
    subtype: String,
    q: f32,
}

fn parse(accept: &str) -> Vec<Range> {
    accept
        .split(',')
        .filter_map(|part| {
            let mut pieces = part.split(';');
            let media = pieces.next()?.trim().to_ascii_lowercase();
            let (kind, subtype) = media.split_once('/')?;
            let q = pieces
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .map(|(_, v)| v.trim().parse::<f32>().unwrap_or(1.0))
                .unwrap_or(1.0);
            Some(Range {
                kind: kind.trim().to_string(),
                subtype: subtype.trim().to_string(),
                q,
            })
        })
        .collect()
}

/// The quality the ranges give `media` (`type/subtype`, no parameters): the most specific
/// matching range decides (RFC 9110, 12.5.1); `None` when no range matches. Also returns
/// the position of the deciding range, to break ties by order.
fn quality(ranges: &[Range], media: &str) -> Option<(f32, usize, usize)> {
    let (kind, subtype) = media.split_once('/')?;
    let mut best: Option<(usize, f32, usize)> = None;
    for (i, r) in ranges.iter().enumerate() {
        let exact = |k: &str, s: &str| r.kind == k && r.subtype == s;
        let specificity =
            if exact(kind, subtype) || (media == "application/json" && exact("application", "problem+json")) {
                3
            } else if r.kind == kind && r.subtype == "*" {
                2
            } else if r.kind == "*" && r.subtype == "*" {
                1
            } else {
                continue;
            };
        if best.is_none_or(|(s, _, _)| specificity > s) {
            best = Some((specificity, r.q, i));
        }
    }
    best.map(|(s, q, i)| (q, s, i))
}

fn accept_header(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty())
}

/// Whether the request prefers `preferred` over `other` (both `type/subtype`): a higher
/// quality wins, then the more specific range, then the one listed first. Without `Accept`,
/// `other` (the default representation) wins.
pub fn prefers(req: &HttpRequest, preferred: &str, other: &str) -> bool {
    let Some(accept) = accept_header(req) else {
        return false;
    };
    let ranges = parse(accept);
    match (quality(&ranges, preferred), quality(&ranges, other)) {
        (Some((qp, _, _)), _) if qp <= 0.0 => false,
        (Some(_), None) => true,
        (Some((qp, sp, ip)), Some((qo, so, io))) => qp > qo || (qp == qo && (sp > so || (sp == so && ip < io))),
        (None, _) => false,
    }
}

/// The media types each (path template, method) answers a success with.
fn produced() -> &'static HashMap<(String, String), Vec<String>> {
    static PRODUCED: OnceLock<HashMap<(String, String), Vec<String>>> = OnceLock::new();
    PRODUCED.get_or_init(|| {
        use utoipa::openapi::RefOr;
        let mut table = HashMap::new();
        for (path, item) in crate::openapi::spec().paths.paths {
            let operations = [
                ("GET", item.get),
                ("POST", item.post),
                ("PUT", item.put),
                ("PATCH", item.patch),
                ("DELETE", item.delete),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else { continue };
                let mut types: Vec<String> = Vec::new();
                for (status, response) in &operation.responses.responses {
                    if let (true, RefOr::T(response)) = (status.starts_with('2'), response) {
                        for media in response.content.keys() {
                            let bare = media.split(';').next().unwrap_or(media).trim().to_ascii_lowercase();
                            if !types.contains(&bare) {
                                types.push(bare);
                            }
                        }
                    }
                }
                table.insert((path.clone(), method.to_string()), types);
            }
        }
        table
    })
}

/// 406 when the request's `Accept` admits none of the media types its route answers with;
/// `None` (serve it) when there is no `Accept`, the route is unknown or answers without a body.
pub fn refusal(req: &HttpRequest) -> Option<ApiError> {
    let accept = accept_header(req)?;
    let template = methods::template_of(req.path())?;
    let types = produced().get(&(template.to_string(), req.method().as_str().to_string()))?;
    if types.is_empty() {
        return None;
    }
    let ranges = parse(accept);
    let served = types
        .iter()
        .any(|t| quality(&ranges, t).is_some_and(|(q, _, _)| q > 0.0));
    if served {
        return None;
    }
    Some(
        ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            ErrorCode::NotAcceptable,
            format!(
                "This resource is available as {}; the Accept header admits none of them.",
                types.join(", ")
            ),
        )
        .with_context(serde_json::json!({ "available": types })),
    )
}

#[cfg(test)]
mod tests {
    use super::{parse, quality};

    fn accepts(accept: &str, media: &str) -> bool {
        quality(&parse(accept), media).is_some_and(|(q, _, _)| q > 0.0)
    }

    #[test]
    fn wildcards_problem_json_and_q_zero() {
        assert!(accepts("*/*", "application/json"));
        assert!(accepts("application/problem+json", "application/json"));
        assert!(accepts(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "application/json"
        ));
        assert!(accepts("application/*", "application/json"));
        assert!(!accepts("text/csv", "application/json"));
        assert!(!accepts("application/json;q=0, */*", "application/json"));
        assert!(accepts("TEXT/CSV", "text/csv"));
    }
}
