//! Reusable OpenAPI error responses (`#/components/responses/*`), each a problem+json body.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{Content, Ref, RefOr};
use utoipa::ToResponse;

use super::error::PROBLEM_JSON;

fn problem(description: &str) -> ResponseBuilder {
    ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, Content::new(Some(Ref::from_schema_name("Problem"))))
}

macro_rules! problem_response {
    ($(#[$doc:meta])* $name:ident, $description:literal) => {
        $(#[$doc])*
        pub struct $name;

        impl<'r> ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<Response>) {
                (stringify!($name), problem($description).build().into())
            }
        }
    };
}

problem_response!(
    /// 400
    BadRequest,
    "The request is malformed: invalid JSON, wrong types, unknown fields or query parameters."
);
problem_response!(
    /// 401
    Unauthorized,
    "Credentials are missing, invalid, expired or revoked."
);
problem_response!(
    /// 403
    Forbidden,
    "Authenticated, but not allowed to do this."
);
problem_response!(
    /// 404
    NotFound,
    "No such resource, or it is not visible to you (the same answer either way)."
);
problem_response!(
    /// 409
    Conflict,
    "The request conflicts with the current state (e.g. a duplicate unique value)."
);
problem_response!(
    /// 412
    PreconditionFailed,
    "If-Match does not match the resource's current ETag."
);
problem_response!(
    /// 406
    NotAcceptable,
    "The Accept header admits none of the media types this operation answers with."
);
problem_response!(
    /// 413
    PayloadTooLarge,
    "The request body exceeds the configured limit."
);
problem_response!(
    /// 415
    UnsupportedMediaType,
    "The request body has the wrong content type."
);
problem_response!(
    /// 422
    Unprocessable,
    "The request is well-formed but semantically invalid; `errors` lists the fields."
);
problem_response!(
    /// 503
    Unavailable,
    "The database is unreachable or not migrated."
);

/// 429, with `Retry-After`.
pub struct TooManyRequests;

impl<'r> ToResponse<'r> for TooManyRequests {
    fn response() -> (&'r str, RefOr<Response>) {
        let retry_after = HeaderBuilder::new()
            .schema(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)))
            .description(Some("Seconds to wait before retrying."))
            .build();
        (
            "TooManyRequests",
            problem("Too many attempts; retry after the number of seconds in `Retry-After`.")
                .header("Retry-After", retry_after)
                .build()
                .into(),
        )
    }
}
