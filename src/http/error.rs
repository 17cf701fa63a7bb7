//! One error type for the whole API, rendered as RFC 9457 `application/problem+json`
//! with a stable snake_case `code` clients can switch on.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One field that failed validation.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct FieldError {
    /// The JSON field (dotted path for nested fields).
    pub field: String,
    pub message: String,
}

/// RFC 9457 problem details, with a stable `code`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `urn:uit-portal:problem:<code>`.
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable, snake_case machine-readable code.
    pub code: String,
    /// Per-field messages, for `validation_failed`; for `malformed_body`, where the body stops fitting.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extra facts for the client, e.g. the existing id on a conflict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<serde_json::Value>,
}

/// An error a handler returns; it becomes a problem+json response.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub context: Option<serde_json::Value>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            context: None,
            retry_after: None,
        }
    }

    pub fn with_context(mut self, context: serde_json::Value) -> Self {
        self.context = Some(context);
        self
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// 422 with per-field errors.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "One or more fields are invalid.",
        );
        e.errors = errors;
        e
    }

    /// 422 for a single field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    /// 422 `invalid_character`: text holding U+0000, which PostgreSQL cannot store or compare
    /// (in a JSON body, or as `%00` in the path or query).
    pub fn invalid_character(detail: impl Into<String>) -> Self {
        Self::unprocessable("invalid_character", detail)
    }

    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, detail)
    }

    /// The one 401 every bad credential gets, so callers learn nothing about why.
    pub fn invalid_token() -> Self {
        Self::unauthorized(
            "invalid_token",
            "The access token is missing, invalid, expired or revoked.",
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// The same body whether the thing is missing or belongs to someone you cannot see.
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "No such resource, or it is not visible to you.",
        )
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    pub fn precondition_failed() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
            "The resource changed since you read it (If-Match does not match its ETag).",
        )
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("Too many attempts. Try again in {retry_after_secs} seconds."),
        );
        e.retry_after = Some(retry_after_secs.max(1));
        e
    }

    /// 400: a JSON object of the body has `key` (a path such as `items[3].outcome`) twice.
    pub fn duplicate_key(key: &str) -> Self {
        Self::bad_request(
            "duplicate_key",
            format!("The JSON body has the key {key} more than once; send each key once."),
        )
        .with_context(serde_json::json!({ "key": key }))
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "The service is temporarily unavailable.",
        )
    }

    /// A 500; the cause is logged, never sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "An unexpected error occurred.",
        )
    }

    /// A problem for a bare status code (used to rewrite actix's own plain-text errors).
    pub fn from_status(status: StatusCode) -> Self {
        let code = match status.as_u16() {
            400 => "bad_request",
            401 => "invalid_token",
            403 => "forbidden",
            404 => "not_found",
            405 => "method_not_allowed",
            409 => "conflict",
            412 => "precondition_failed",
            413 => "payload_too_large",
            415 => "unsupported_media_type",
            422 => "validation_failed",
            429 => "rate_limited",
            503 => "unavailable",
            s if s >= 500 => "internal_error",
            _ => "error",
        };
        let detail = if status == StatusCode::NOT_FOUND {
            "No such resource, or it is not visible to you.".to_string()
        } else {
            status.canonical_reason().unwrap_or("Error").to_string()
        };
        Self::new(status, code, detail)
    }

    pub fn problem(&self) -> Problem {
        Problem {
            type_: format!("urn:uit-portal:problem:{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_string(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_string(),
            errors: self.errors.clone(),
            context: self.context.clone(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status);
        builder.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        if let Some(secs) = self.retry_after {
            builder.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            builder.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        builder.body(serde_json::to_string(&self.problem()).unwrap_or_default())
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => ApiError::not_found(),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                ApiError::conflict("conflict", "A resource with the same unique value already exists.")
            }
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                ApiError::unprocessable("reference_not_found", "A referenced resource does not exist.")
            }
            // A value the database cannot store (e.g. a year PostgreSQL's timestamp cannot hold)
            // is the caller's input, not a server fault.
            Error::DatabaseError(_, ref info) if info.message().contains("out of range") => ApiError::unprocessable(
                "value_out_of_range",
                "A value is outside the range the service can store.",
            ),
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
                ApiError::conflict("retry", "A concurrent change interfered; retry the request.")
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> Self {
        ApiError::internal(e)
    }
}

/// Maps actix's JSON body errors (syntax, types, size, content type) to problems.
pub fn json_error(err: actix_web::error::JsonPayloadError, _req: &actix_web::HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as J;
    let api = match &err {
        J::OverflowKnownLength { limit, .. } | J::Overflow { limit } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("The request body exceeds the limit of {limit} bytes."),
        ),
        J::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "The request body must be application/json.",
        ),
        J::Deserialize(e) => {
            let text = e.to_string();
            match super::unique_keys::path_of(&text) {
                // Where the document broke (`items[217].outcome`), as a field error like a
                // body that parses but does not fit.
                Some((field, message)) => {
                    let mut api = ApiError::bad_request("malformed_body", format!("The JSON body is invalid {text}"));
                    api.errors.push(FieldError {
                        field: field.to_string(),
                        message: message.to_string(),
                    });
                    api
                }
                None => ApiError::bad_request("malformed_body", format!("The JSON body is invalid: {text}")),
            }
        }
        _ => ApiError::bad_request("malformed_body", "The request body could not be read."),
    };
    api.into()
}

/// Maps query-string errors (unknown filters, wrong types) to 400.
pub fn query_error(err: actix_web::error::QueryPayloadError, _req: &actix_web::HttpRequest) -> actix_web::Error {
    ApiError::bad_request("invalid_query", format!("The query string is invalid: {err}")).into()
}

/// Maps path errors to 404: a path that cannot be parsed names nothing that exists.
pub fn path_error(_err: actix_web::error::PathError, _req: &actix_web::HttpRequest) -> actix_web::Error {
    ApiError::not_found().into()
}
