//! 405 Method Not Allowed for a path the API serves with other methods.
//!
//! Routes are matched by method, so actix sends a request with an unsupported method to the
//! default service (404). The OpenAPI document lists every path with its methods; the
//! `observe` middleware asks [`allowed_methods`] whether a 404 was really such a request and
//! answers 405 with an `Allow` header instead (RFC 9110, section 15.5.6).

use std::sync::OnceLock;

/// One path template of the spec, split into segments, with the methods it allows.
struct Template {
    /// The spec's path, e.g. `/api/v1/claims/{id}`.
    path: String,
    /// `None` for a `{parameter}` segment.
    segments: Vec<Option<String>>,
    methods: Vec<&'static str>,
}

impl Template {
    fn params(&self) -> usize {
        self.segments.iter().filter(|s| s.is_none()).count()
    }

    fn matches(&self, path: &[&str]) -> bool {
        self.segments.len() == path.len()
            && self.segments.iter().zip(path).all(|(template, actual)| match template {
                Some(literal) => literal == actual,
                None => !actual.is_empty(),
            })
    }
}

fn templates() -> &'static [Template] {
    static TEMPLATES: OnceLock<Vec<Template>> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        crate::openapi::spec()
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let methods = [
                    ("GET", item.get.is_some()),
                    // Every GET also answers HEAD (the `observe` middleware routes it as GET).
                    ("HEAD", item.head.is_some() || item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                    ("OPTIONS", item.options.is_some()),
                    ("TRACE", item.trace.is_some()),
                ]
                .into_iter()
                .filter_map(|(method, present)| present.then_some(method))
                .collect();
                let segments = path
                    .split('/')
                    .map(|s| (!(s.starts_with('{') && s.ends_with('}'))).then(|| s.to_string()))
                    .collect();
                Template {
                    path: path.clone(),
                    segments,
                    methods,
                }
            })
            .collect()
    })
}

/// The spec's path template that serves `path`, if any: a literal segment outranks a
/// parameter, as in routing.
pub fn template_of(path: &str) -> Option<&'static str> {
    let parts: Vec<&str> = path.split('/').collect();
    templates()
        .iter()
        .filter(|t| t.matches(&parts))
        .min_by_key(|t| t.params())
        .map(|t| t.path.as_str())
}

/// When `path` is served but not with `method`, the methods it is served with (for `Allow`).
pub fn allowed_methods(method: &str, path: &str) -> Option<Vec<&'static str>> {
    let parts: Vec<&str> = path.split('/').collect();
    let matching: Vec<&Template> = templates().iter().filter(|t| t.matches(&parts)).collect();
    // A literal segment outranks a parameter: `/results/batch` is its own resource, not
    // `/results/{id}` with id "batch".
    let fewest_params = matching.iter().map(|t| t.params()).min().unwrap_or(0);
    let mut allowed: Vec<&'static str> = Vec::new();
    for template in matching.into_iter().filter(|t| t.params() == fewest_params) {
        for m in &template.methods {
            if !allowed.contains(m) {
                allowed.push(m);
            }
        }
    }
    if allowed.is_empty() || allowed.iter().any(|m| m.eq_ignore_ascii_case(method)) {
        None
    } else {
        Some(allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::allowed_methods;

    #[test]
    fn unsupported_methods_on_served_paths_are_named() {
        assert_eq!(allowed_methods("PUT", "/api/v1/me"), Some(vec!["GET", "HEAD", "PATCH"]));
        assert_eq!(allowed_methods("TRACE", "/healthz"), Some(vec!["GET", "HEAD"]));
        assert_eq!(allowed_methods("HEAD", "/api/v1/auth/login"), Some(vec!["POST"]));
        assert_eq!(allowed_methods("OPTIONS", "/api/v1/results/batch"), Some(vec!["POST"]));
        assert_eq!(
            allowed_methods("POST", "/api/v1/organisations/abc/members/def"),
            Some(vec!["GET", "HEAD", "PATCH", "DELETE"])
        );
    }

    #[test]
    fn supported_methods_and_unknown_paths_are_left_alone() {
        assert_eq!(allowed_methods("GET", "/api/v1/me"), None);
        assert_eq!(allowed_methods("PUT", "/api/v1/nothing-here"), None);
        assert_eq!(allowed_methods("PUT", "/api/v1/organisations//members"), None);
    }
}
