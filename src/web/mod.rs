//! Pages for people, beside the JSON API for programs (module `crate::ui`, files in
//! `src/web/`; named `ui` because `web` is actix-web's module in the crate root).
//!
//! A thin layer: a page handler extracts, calls the domain function the API handler calls, and
//! renders a compile-time checked askama template (HTML-escaped by default) in one layout with
//! one stylesheet, compiled into the binary and served under a content-hashed name. No script.
//! Pages are registered outside the utoipa scope, so the OpenAPI document never lists them.
//! Sessions and CSRF live in [`session`].

pub mod comments;
pub mod confirm_subscription;
pub mod evidence;
pub mod home;
pub mod invitations;
pub mod issues;
pub mod library;
pub mod member;
pub mod pages;
pub mod reset_password;
pub mod rest;
pub mod session;
pub mod windows;

use std::sync::OnceLock;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use askama::Template;
use sha2::{Digest, Sha256};

use crate::http::ApiError;

/// The stylesheet, compiled in.
const STYLE: &str = include_str!("assets/style.css");

/// The icon, compiled in (so browsers need not ask for a missing /favicon.ico).
const ICON: &str = include_str!("assets/icon.svg");

/// `/assets/<stem>.<first 16 hex digits of the content's SHA-256>.<ext>`: a new name for every
/// change, so browsers may keep each for a year.
fn hashed(stem: &str, ext: &str, content: &str) -> String {
    format!(
        "/assets/{stem}.{}.{ext}",
        &hex::encode(Sha256::digest(content.as_bytes()))[..16]
    )
}

pub fn style_path() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| hashed("style", "css", STYLE))
}

pub fn icon_path() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| hashed("icon", "svg", ICON))
}

/// Every HTML response's policy: nothing inline, nothing from elsewhere, no framing.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'";

/// What a page carries, for its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// An ordinary page.
    Plain,
    /// A page that came with (or holds) a secret token, or a signed-in person's data: never
    /// cached, never sent on as a referrer.
    Private,
}

/// The security headers of every HTML response.
pub fn html_headers(builder: &mut HttpResponseBuilder, exposure: Exposure) {
    builder
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"));
    match exposure {
        Exposure::Plain => {
            builder
                .insert_header((header::REFERRER_POLICY, "same-origin"))
                .insert_header((header::CACHE_CONTROL, "no-cache"));
        }
        Exposure::Private => {
            builder
                .insert_header((header::REFERRER_POLICY, "no-referrer"))
                .insert_header((header::CACHE_CONTROL, "no-store"));
        }
    }
}

/// Renders `template` as a response with `status` and the HTML headers; `extra` adds cookies.
pub fn render(
    status: StatusCode,
    exposure: Exposure,
    template: &impl Template,
    extra: impl FnOnce(&mut HttpResponseBuilder),
) -> HttpResponse {
    match template.render() {
        Ok(body) => {
            let mut builder = HttpResponse::build(status);
            html_headers(&mut builder, exposure);
            extra(&mut builder);
            builder.body(body)
        }
        Err(e) => {
            tracing::error!(error = %e, "template failed to render");
            actix_web::ResponseError::error_response(&ApiError::internal("template failed to render"))
        }
    }
}

/// The page chrome every template shares: the title, the stylesheet and who is signed in.
pub struct Chrome {
    pub title: String,
    pub css: &'static str,
    pub icon: &'static str,
    pub nav: Option<Nav>,
}

/// The signed-in person in the header, with the sign-out form's CSRF token.
pub struct Nav {
    pub name: String,
    pub org_name: String,
    pub csrf: String,
}

impl Chrome {
    pub fn new(title: impl Into<String>, nav: Option<Nav>) -> Self {
        Self {
            title: title.into(),
            css: style_path(),
            icon: icon_path(),
            nav,
        }
    }
}

/// A page that says one thing: a heading, paragraphs and an optional link onwards.
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub chrome: Chrome,
    pub paragraphs: Vec<String>,
    pub link: Option<(String, String)>,
}

/// A message page with the HTML headers.
pub fn message(
    status: StatusCode,
    exposure: Exposure,
    title: &str,
    paragraphs: &[&str],
    link: Option<(&str, &str)>,
) -> HttpResponse {
    let page = MessagePage {
        chrome: Chrome::new(title, None),
        paragraphs: paragraphs.iter().map(|p| p.to_string()).collect(),
        link: link.map(|(href, text)| (href.to_string(), text.to_string())),
    };
    render(status, exposure, &page, |_| {})
}

/// 303 to `location` on this site, never cached.
pub fn see_other(location: &str) -> HttpResponse {
    redirect(location).finish()
}

/// [`see_other`]'s builder, for a redirect that also sets cookies.
pub fn redirect(location: &str) -> HttpResponseBuilder {
    let mut b = HttpResponse::SeeOther();
    b.insert_header((header::LOCATION, location.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    b
}

/// The page for a domain error a page handler met: 404, 403, 409, 422 and the rest as a
/// message in the layout (the API's detail is written for people too); 5xx stays the API's
/// problem+json with its request id, logged where it happened.
pub fn error_page(e: ApiError) -> Result<HttpResponse, ApiError> {
    let title = match e.status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::CONFLICT => "Not possible now",
        StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
        s if s.is_client_error() => "That did not work",
        _ => return Err(e),
    };
    let detail = if e.status == StatusCode::NOT_FOUND {
        "There is nothing here that you may see. It may have been removed, or the link may be mistyped.".to_string()
    } else {
        e.detail.clone()
    };
    // Which field and why, one line each: "comment: say what the concerns are about".
    let fields: Vec<String> = e.errors.iter().map(|f| format!("{}: {}", f.field, f.message)).collect();
    let lines: Vec<&str> = std::iter::once(detail.as_str())
        .chain(fields.iter().map(String::as_str))
        .collect();
    Ok(message(
        e.status,
        Exposure::Private,
        title,
        &lines,
        Some(("/", "Go to the home page")),
    ))
}

/// A page loaded for a signed-in member, rendered (200, private), or the error page for the
/// domain error that stopped it.
pub fn member_page(loaded: Result<impl Template, ApiError>) -> Result<HttpResponse, ApiError> {
    match loaded {
        Ok(page) => Ok(render(StatusCode::OK, Exposure::Private, &page, |_| {})),
        Err(e) => error_page(e),
    }
}

/// A form's answer once its write is done: 303 to `location(made)` (back to the page, or on to
/// what it made), or the error page for the domain error that stopped it.
pub fn see_other_or_error<T>(
    done: Result<T, ApiError>,
    location: impl FnOnce(T) -> String,
) -> Result<HttpResponse, ApiError> {
    match done {
        Ok(made) => Ok(see_other(&location(made))),
        Err(e) => error_page(e),
    }
}

/// Whether the request comes from a browser wanting a page: not under `/api/`, and `Accept`
/// prefers `text/html` to JSON.
pub fn wants_html(req: &HttpRequest) -> bool {
    !req.path().starts_with("/api/") && crate::http::accept::prefers(req, "text/html", "application/json")
}

/// The default service: an HTML 404 page for browsers, problem+json for everyone else.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    if wants_html(&req) {
        return Ok(message(
            StatusCode::NOT_FOUND,
            Exposure::Plain,
            "Page not found",
            &["There is no page at this address. It may have moved, or the link may be mistyped."],
            Some(("/", "Go to the home page")),
        ));
    }
    Err(ApiError::not_found())
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body)
}

async fn stylesheet() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE)
}

async fn icon() -> HttpResponse {
    asset("image/svg+xml", ICON)
}

/// The page routes (plain actix resources: not in the OpenAPI document).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(library::routes)
        .service(web::resource(style_path()).route(web::get().to(stylesheet)))
        .service(web::resource(icon_path()).route(web::get().to(icon)))
        .service(web::resource("/").route(web::get().to(home::home)))
        .service(
            web::resource("/sign-in")
                .route(web::get().to(pages::sign_in_page))
                .route(web::post().to(pages::sign_in)),
        )
        .service(
            web::resource("/sign-out")
                .route(web::post().to(pages::sign_out))
                // A bookmarked or typed sign-out address: a GET changes nothing, so it only
                // leads home, where the sign-out button is.
                .route(web::get().to(|| async { pages::home_redirect() })),
        )
        .service(
            web::resource("/confirm-subscription")
                .route(web::get().to(confirm_subscription::confirm_subscription_page))
                .route(web::post().to(confirm_subscription::confirm_subscription)),
        )
        .service(
            web::resource("/reset-password")
                .route(web::get().to(reset_password::reset_password_page))
                .route(web::post().to(reset_password::reset_password)),
        )
        .service(
            web::resource("/accept-invitation")
                .route(web::get().to(invitations::accept_invitation_page))
                .route(web::post().to(invitations::accept_invitation)),
        )
        .configure(rest::routes)
        .configure(windows::routes)
        .configure(evidence::routes)
        .configure(issues::routes)
        .configure(comments::routes);
}
