//! The error handlers of actix's extractors (JSON bodies, query strings, paths): each turns
//! the extractor's error into the problem the API answers with.

use actix_web::http::StatusCode;

use super::error::{ApiError, ErrorCode, FieldError};

/// Maps actix's JSON body errors (syntax, types, size, content type) to problems.
pub fn json_error(err: actix_web::error::JsonPayloadError, _req: &actix_web::HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as J;
    let api = match &err {
        J::OverflowKnownLength { limit, .. } | J::Overflow { limit } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            format!("The request body exceeds the limit of {limit} bytes."),
        ),
        J::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "The request body must be application/json.",
        ),
        J::Deserialize(e) => {
            let text = e.to_string();
            match super::unique_keys::path_of(&text) {
                // Where the document broke (`items[217].outcome`), as a field error like a
                // body that parses but does not fit.
                Some((field, message)) => {
                    let mut api =
                        ApiError::bad_request(ErrorCode::MalformedBody, format!("The JSON body is invalid {text}"));
                    api.errors.push(FieldError {
                        field: field.to_string(),
                        message: message.to_string(),
                    });
                    api
                }
                None => ApiError::bad_request(ErrorCode::MalformedBody, format!("The JSON body is invalid: {text}")),
            }
        }
        _ => ApiError::bad_request(ErrorCode::MalformedBody, "The request body could not be read."),
    };
    api.into()
}

/// Maps query-string errors (unknown filters, wrong types) to 400.
pub fn query_error(err: actix_web::error::QueryPayloadError, _req: &actix_web::HttpRequest) -> actix_web::Error {
    ApiError::bad_request(ErrorCode::InvalidQuery, format!("The query string is invalid: {err}")).into()
}

/// Maps path errors to 404: a path that cannot be parsed names nothing that exists.
pub fn path_error(_err: actix_web::error::PathError, _req: &actix_web::HttpRequest) -> actix_web::Error {
    ApiError::not_found().into()
}
