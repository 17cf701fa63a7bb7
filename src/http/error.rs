//! One error type for the whole API, rendered as RFC 9457 `application/problem+json`
//! with a stable snake_case `code` clients can switch on.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::UniqueKey;

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

/// Declares [`ErrorCode`]: each variant with the snake_case code clients see.
macro_rules! error_codes {
    ($($variant:ident = $code:literal,)*) => {
        /// The stable, machine-readable `code` of a problem (README.md lists each with its status
        /// and meaning; a unit test keeps the two in step).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($variant,)*
        }

        impl ErrorCode {
            /// Every code.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as clients see it, e.g. `claim_conflict`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }
        }
    };
}

error_codes! {
    ValidationFailed = "validation_failed",
    InvalidCharacter = "invalid_character",
    InvalidToken = "invalid_token",
    Forbidden = "forbidden",
    NotFound = "not_found",
    PreconditionFailed = "precondition_failed",
    RateLimited = "rate_limited",
    DuplicateKey = "duplicate_key",
    Unavailable = "unavailable",
    InternalError = "internal_error",
    BadRequest = "bad_request",
    MethodNotAllowed = "method_not_allowed",
    Conflict = "conflict",
    PayloadTooLarge = "payload_too_large",
    UnsupportedMediaType = "unsupported_media_type",
    NotAcceptable = "not_acceptable",
    MalformedBody = "malformed_body",
    InvalidQuery = "invalid_query",
    InvalidCursor = "invalid_cursor",
    InvalidIdempotencyKey = "invalid_idempotency_key",
    IdempotencyKeyReused = "idempotency_key_reused",
    InvalidCredentials = "invalid_credentials",
    InvalidRefreshToken = "invalid_refresh_token",
    RefreshTokenReused = "refresh_token_reused",
    SlugTaken = "slug_taken",
    UserExists = "user_exists",
    LastAdmin = "last_admin",
    DeviceModelExists = "device_model_exists",
    FirmwareExists = "firmware_exists",
    ManufacturingDecisionExists = "manufacturing_decision_exists",
    NominationExists = "nomination_exists",
    DeviceSetExists = "device_set_exists",
    DefectMaskCodeTaken = "defect_mask_code_taken",
    ReleaseNameTaken = "release_name_taken",
    WindowNameTaken = "window_name_taken",
    ScenarioCodeTaken = "scenario_code_taken",
    ResultExists = "result_exists",
    ClaimConflict = "claim_conflict",
    ClaimOfferClosed = "claim_offer_closed",
    ClaimOfferStale = "claim_offer_stale",
    ExitCriteriaUnmet = "exit_criteria_unmet",
    ReviewPackRequired = "review_pack_required",
    IllegalStageMove = "illegal_stage_move",
    IllegalStatusMove = "illegal_status_move",
    IllegalTransition = "illegal_transition",
    InsufficientNotice = "insufficient_notice",
    StageMoveOutOfOrder = "stage_move_out_of_order",
    ReleaseFinished = "release_finished",
    InvalidJunit = "invalid_junit",
    InvalidDpl = "invalid_dpl",
    NoDpl = "no_dpl",
    NoOperator = "no_operator",
    NotEmpty = "not_empty",
    NotificationNotDead = "notification_not_dead",
    PacksOfDifferentWindows = "packs_of_different_windows",
    PhaseNotAssessed = "phase_not_assessed",
    PhaseNotOpen = "phase_not_open",
    RangeTooLarge = "range_too_large",
    ReferenceNotFound = "reference_not_found",
    Retry = "retry",
    UitIssueAlreadyConverted = "uit_issue_already_converted",
    UitIssueNotPending = "uit_issue_not_pending",
    ValueOutOfRange = "value_out_of_range",
    WindowCancelled = "window_cancelled",
    WindowNotOpenForClaims = "window_not_open_for_claims",
    WindowNotOpenForJoining = "window_not_open_for_joining",
    WindowTooLong = "window_too_long",
    Error = "error",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error a handler returns; it becomes a problem+json response.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub context: Option<serde_json::Value>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, detail: impl Into<String>) -> Self {
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

    pub fn bad_request(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// 422 with per-field errors.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::ValidationFailed,
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

    pub fn unprocessable(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    /// 422 `invalid_character`: text holding U+0000, which PostgreSQL cannot store or compare
    /// (in a JSON body, or as `%00` in the path or query).
    pub fn invalid_character(detail: impl Into<String>) -> Self {
        Self::unprocessable(ErrorCode::InvalidCharacter, detail)
    }

    pub fn unauthorized(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, detail)
    }

    /// The one 401 every bad credential gets, so callers learn nothing about why.
    pub fn invalid_token() -> Self {
        Self::unauthorized(
            ErrorCode::InvalidToken,
            "The access token is missing, invalid, expired or revoked.",
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, detail)
    }

    /// The same body whether the thing is missing or belongs to someone you cannot see.
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "No such resource, or it is not visible to you.",
        )
    }

    pub fn conflict(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    pub fn precondition_failed() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            ErrorCode::PreconditionFailed,
            "The resource changed since you read it (If-Match does not match its ETag).",
        )
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            format!("Too many attempts. Try again in {retry_after_secs} seconds."),
        );
        e.retry_after = Some(retry_after_secs.max(1));
        e
    }

    /// 400: a JSON object of the body has `key` (a path such as `items[3].outcome`) twice.
    pub fn duplicate_key(key: &str) -> Self {
        Self::bad_request(
            ErrorCode::DuplicateKey,
            format!("The JSON body has the key {key} more than once; send each key once."),
        )
        .with_context(serde_json::json!({ "key": key }))
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "The service is temporarily unavailable.",
        )
    }

    /// A 500; the cause is logged, never sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::InternalError,
            "An unexpected error occurred.",
        )
    }

    /// A problem for a bare status code (used to rewrite actix's own plain-text errors).
    pub fn from_status(status: StatusCode) -> Self {
        let code = match status.as_u16() {
            400 => ErrorCode::BadRequest,
            401 => ErrorCode::InvalidToken,
            403 => ErrorCode::Forbidden,
            404 => ErrorCode::NotFound,
            405 => ErrorCode::MethodNotAllowed,
            409 => ErrorCode::Conflict,
            412 => ErrorCode::PreconditionFailed,
            413 => ErrorCode::PayloadTooLarge,
            415 => ErrorCode::UnsupportedMediaType,
            422 => ErrorCode::ValidationFailed,
            429 => ErrorCode::RateLimited,
            503 => ErrorCode::Unavailable,
            s if s >= 500 => ErrorCode::InternalError,
            _ => ErrorCode::Error,
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
            code: self.code.as_str().to_string(),
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

impl ApiError {
    /// The answer for a unique key of the schema: the code and words its own check answers with
    /// (the check adds the existing id, which a violation cannot know without a re-read).
    pub fn taken(key: UniqueKey) -> Self {
        let (code, detail) = match key {
            UniqueKey::OrganisationSlug => (ErrorCode::SlugTaken, "An organisation with this slug exists."),
            UniqueKey::UserEmail => (ErrorCode::UserExists, "A user with this email already exists."),
            UniqueKey::DeviceModel => (
                ErrorCode::DeviceModelExists,
                "This manufacturer already has a model with this name and hardware version.",
            ),
            UniqueKey::FirmwareVersion => (ErrorCode::FirmwareExists, "This product already has this version."),
            UniqueKey::DeviceSetMembership => (
                ErrorCode::DeviceSetExists,
                "A device set with exactly this membership exists.",
            ),
            UniqueKey::ReleaseName => (ErrorCode::ReleaseNameTaken, "A release with this name exists."),
            UniqueKey::WindowName => (ErrorCode::WindowNameTaken, "A UIT window with this name exists."),
            UniqueKey::ScenarioCode => (ErrorCode::ScenarioCodeTaken, "A scenario with this code exists."),
            UniqueKey::Claim => (
                ErrorCode::ClaimConflict,
                "Another organisation already leads on this device set in this window.",
            ),
            UniqueKey::DefectMaskCode => (ErrorCode::DefectMaskCodeTaken, "A defect mask with this code exists."),
            UniqueKey::Result => (
                ErrorCode::ResultExists,
                "Your organisation already has a result for this window, device set and scenario; amend it with PATCH.",
            ),
            UniqueKey::ManufacturingDecision => (ErrorCode::ManufacturingDecisionExists, "This date has a decision."),
            UniqueKey::DeploymentNomination => (
                ErrorCode::NominationExists,
                "Your organisation has already nominated for this phase of this release.",
            ),
            // A concurrent amendment kept this revision first: the row moved on, which the
            // amendment's own version check answers with 412.
            UniqueKey::ResultRevision => return ApiError::precondition_failed(),
            // Two requests with one key at once: the other's answer is stored, and a retry
            // replays it.
            UniqueKey::IdempotencyKey => (
                ErrorCode::Retry,
                "Another request with this Idempotency-Key was handled at the same time; retry to read its answer.",
            ),
        };
        ApiError::conflict(code, detail)
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => ApiError::not_found(),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, ref info) => match UniqueKey::of(info.as_ref()) {
                Some(key) => ApiError::taken(key),
                None => ApiError::conflict(
                    ErrorCode::Conflict,
                    "A resource with the same unique value already exists.",
                ),
            },
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                ApiError::unprocessable(ErrorCode::ReferenceNotFound, "A referenced resource does not exist.")
            }
            // A value the database cannot store (e.g. a year PostgreSQL's timestamp cannot hold)
            // is the caller's input, not a server fault.
            Error::DatabaseError(_, ref info) if info.message().contains("out of range") => ApiError::unprocessable(
                ErrorCode::ValueOutOfRange,
                "A value is outside the range the service can store.",
            ),
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
                ApiError::conflict(ErrorCode::Retry, "A concurrent change interfered; retry the request.")
            }
            // A stored value that does not read as its type: the log names the field, the type
            // and the value (diesel's own message stops at the field).
            Error::DeserializationError(ref inner) => ApiError::internal(chain(inner.as_ref())),
            other => ApiError::internal(other),
        }
    }
}

/// An error and its sources, `: `-separated.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text = format!("{text}: {c}");
        cause = c.source();
    }
    text
}

impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> Self {
        ApiError::internal(e)
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    /// README.md's table of error codes is the clients' reference: it names every code the
    /// service can answer with, and no code it cannot.
    #[test]
    fn the_readme_lists_every_error_code() {
        let readme = include_str!("../../README.md");
        let table: Vec<&str> = readme
            .lines()
            .skip_while(|l| !l.starts_with("| code | status |"))
            .take_while(|l| l.starts_with('|'))
            .collect();
        assert!(!table.is_empty(), "README.md has no `| code | status |` table");
        let listed: std::collections::BTreeSet<&str> = table
            .iter()
            .filter_map(|row| row.split('|').nth(1))
            .flat_map(|cell| cell.split(',').map(|c| c.trim().trim_matches('`')))
            .filter(|c| !c.is_empty() && *c != "code" && !c.starts_with("---"))
            .collect();
        let missing: Vec<&str> = ErrorCode::ALL
            .iter()
            .map(|c| c.as_str())
            .filter(|c| !listed.contains(c))
            .collect();
        assert!(missing.is_empty(), "README.md's error table lacks {missing:?}");
        let unknown: Vec<&&str> = listed
            .iter()
            .filter(|l| !ErrorCode::ALL.iter().any(|c| c.as_str() == **l))
            .collect();
        assert!(
            unknown.is_empty(),
            "README.md lists {unknown:?}, which ErrorCode does not have"
        );
    }
}
