//! The OpenAPI document: routes and spec come from one list (`routes`).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::{scope, AppExt};

use crate::http::error::{FieldError, Problem};
use crate::http::responses::*;

/// Every route of the service: `/api/v1/...` plus the operational endpoints.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(
        scope::scope("/api/v1")
            .configure(crate::auth::handlers::routes)
            .configure(crate::me::routes)
            .configure(crate::organisations::routes)
            .configure(crate::catalogue::routes)
            .configure(crate::device_sets::routes)
            .configure(crate::estate::routes)
            .configure(crate::releases::routes)
            .configure(crate::windows::routes)
            .configure(crate::claims::routes)
            .configure(crate::results::routes)
            .configure(crate::matrix::routes)
            .configure(crate::readiness::routes)
            .configure(crate::scope::routes)
            .configure(crate::review_packs::routes)
            .configure(crate::defect_masks::routes)
            .configure(crate::uit_issues::routes)
            .configure(crate::roadmaps::routes)
            .configure(crate::contacts::routes)
            .configure(crate::calendar::routes)
            .configure(crate::events::routes)
            .configure(crate::notifications::routes)
            .configure(crate::audit::routes),
    )
    .configure(crate::ops::routes);
}

/// The document as bytes built once (`/openapi.json`) and Swagger UI over it (`/docs/`).
pub fn docs(cfg: &mut actix_web::web::ServiceConfig, spec: actix_web::web::Bytes) {
    use actix_web::{http::header, web, HttpResponse};
    cfg.service(web::resource("/openapi.json").get(move || {
        let spec = spec.clone();
        async move { HttpResponse::Ok().content_type(header::ContentType::json()).body(spec) }
    }))
    .service(
        utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}").config(utoipa_swagger_ui::Config::new(["/openapi.json"])),
    )
    .service(web::resource("/docs").to(|| async {
        HttpResponse::PermanentRedirect()
            .insert_header((header::LOCATION, "/docs/"))
            .finish()
    }));
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT access token or uitp_ API token")
                    .description(Some(
                        "A JWT from /api/v1/auth/login, or a personal API token (uitp_...).",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "UIT Portal API",
        description = include_str!("openapi_intro.md"),
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
        contact(name = "UIT Portal maintainers")
    ),
    servers((url = "/", description = "This server")),
    components(
        schemas(Problem, FieldError, crate::device_sets::composition::Embed),
        responses(BadRequest, Unauthorized, Forbidden, NotFound, NotAcceptable, Conflict, PreconditionFailed,
                  PayloadTooLarge, UnsupportedMediaType, Unprocessable, TooManyRequests, Unavailable)
    ),
    modifiers(&Security),
    tags(
        (name = "auth", description = "Sign in, tokens and password reset"),
        (name = "me", description = "The signed-in user and their API tokens"),
        (name = "organisations", description = "Organisations, members and invitations"),
        (name = "catalogue", description = "Device models and firmware versions with their lifecycle"),
        (name = "device-sets", description = "Comms Hub firmware plus the device firmware around it"),
        (name = "estate", description = "Deployed Products List imports: the installed estate and each device set's prevalence over time"),
        (name = "releases", description = "Releases and their stage track"),
        (name = "uit-windows", description = "UIT windows, scenarios and participants"),
        (name = "claims", description = "Organisations leading on device sets in a window"),
        (name = "results", description = "Compatibility results with visibility, revisions, batches and JUnit uploads"),
        (name = "defect-masks", description = "Known defects the industry matches failures against"),
        (name = "review-packs", description = "Evidence frozen for review, reviewers' verdicts and the differences between packs"),
        (name = "uit-issues", description = "Incidents found in UIT windows, triaged by their resolving party and turned into defect masks"),
        (name = "roadmaps", description = "Planned firmware versions per product"),
        (name = "library-contacts", description = "Whom to ask for firmware and support of a product"),
        (name = "calendar", description = "An iCalendar feed of windows, retirements and roadmap dates"),
        (name = "change-events", description = "Changes subscribers are told about"),
        (name = "notifications", description = "Email subscriptions, one-click unsubscribe and the notification outbox"),
        (name = "audit", description = "The audit log"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
pub struct ApiDoc;

/// The document's fixed parts (info, components, tags), before routes add their paths.
pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The complete document, as served at `/openapi.json` and committed in `openapi/openapi.json`.
pub fn spec() -> utoipa::openapi::OpenApi {
    let (_, mut spec) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(base())
        .configure(routes)
        .split_for_parts();
    document_nul_refusal(&mut spec);
    document_not_acceptable(&mut spec);
    document_generic_errors(&mut spec);
    spec
}

/// Every operation's mutable parts, whatever its method.
fn operations(spec: &mut utoipa::openapi::OpenApi) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    spec.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ]
        .into_iter()
        .flatten()
    })
}

/// The errors every operation of a kind answers, so that annotations list only what is their
/// own: a bearer-authenticated operation answers 401 (`Unauthorized`); one with a request body
/// 400 (`BadRequest`: malformed, wrong types, unknown fields), 413 (`PayloadTooLarge`) and 415
/// (`UnsupportedMediaType`); one with query parameters 400 (unknown or ill-typed parameter);
/// one with a path parameter 404 (`NotFound`: no such resource, or not visible); one that
/// takes `If-Match` 412 (`PreconditionFailed`). An annotation that says more (its own 400 or
/// 401 description) keeps its own.
fn document_generic_errors(spec: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::{Ref, RefOr};
    for operation in operations(spec) {
        let bearer = operation
            .security
            .iter()
            .flatten()
            .any(|requirement| serde_json::to_value(requirement).is_ok_and(|v| v.get("bearer").is_some()));
        let body = operation.request_body.is_some();
        let parameters = || operation.parameters.iter().flatten();
        let query = parameters().any(|p| matches!(p.parameter_in, ParameterIn::Query));
        let path = parameters().any(|p| matches!(p.parameter_in, ParameterIn::Path));
        let if_match = parameters().any(|p| matches!(p.parameter_in, ParameterIn::Header) && p.name == "If-Match");
        let mut add = |status: &str, name: &str| {
            operation
                .responses
                .responses
                .entry(status.to_string())
                .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
        };
        if bearer {
            add("401", "Unauthorized");
        }
        if body || query {
            add("400", "BadRequest");
        }
        if body {
            add("413", "PayloadTooLarge");
            add("415", "UnsupportedMediaType");
        }
        if path {
            add("404", "NotFound");
        }
        if if_match {
            add("412", "PreconditionFailed");
        }
    }
}

/// Every operation that answers with a body refuses an `Accept` that admits none of its media
/// types with 406 (`crate::http::accept`), so each documents it.
fn document_not_acceptable(spec: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{Ref, RefOr};
    for operation in operations(spec) {
        let has_body = operation.responses.responses.iter().any(|(status, response)| {
            status.starts_with('2') && matches!(response, RefOr::T(r) if !r.content.is_empty())
        });
        if has_body {
            operation
                .responses
                .responses
                .entry("406".to_string())
                .or_insert_with(|| RefOr::Ref(Ref::from_response_name("NotAcceptable")));
        }
    }
}

/// Any path or query may carry a `%00`, which the service refuses before routing with 422
/// `invalid_character` (PostgreSQL cannot store or compare U+0000), so every operation
/// documents 422.
fn document_nul_refusal(spec: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{Ref, RefOr};
    for operation in operations(spec) {
        operation
            .responses
            .responses
            .entry("422".to_string())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name("Unprocessable")));
    }
}
