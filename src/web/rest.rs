//! Pages for signed-out visitors beyond sign-in: `/forgot-password` and `/subscribe` (the same
//! domain functions as `POST /auth/password-reset` and the anonymous `POST /subscriptions`,
//! so the same rate limits and the same answer whatever the address), what the signed-in home
//! page adds (the organisation's claims, the recent changes the person may hear of), and the
//! HTML 405 page browsers get for a wrong method on a page.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::member::forbidden;
use super::pages::{checked_form, human_time, too_many};
use super::session::{self, WebSession};
use super::{message, render, Chrome, Exposure};
use crate::claims::model::{self as claims, ClaimFilter};
use crate::db::{DbConn, WindowId};
use crate::events::Topic;
use crate::http::ApiError;
use crate::notifications::audience::Reader;
use crate::notifications::email::topic_label;
use crate::notifications::subscriptions::{subscribe_address, NewSubscription};
use crate::notifications::wording::{self, span};
use crate::notifications::Mode;
use crate::AppState;

type Page = Result<HttpResponse, ApiError>;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/forgot-password")
            .route(web::get().to(forgot_password_page))
            .route(web::post().to(forgot_password)),
    )
    .service(
        web::resource("/subscribe")
            .route(web::get().to(subscribe_page))
            .route(web::post().to(subscribe)),
    );
}

/// "in 4 days" or "3 hours ago", beside a date.
pub fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if t >= now {
        format!("in {}", span(t - now))
    } else {
        format!("{} ago", span(now - t))
    }
}

// ---- HTML 405 ---------------------------------------------------------------------------------

/// The page a browser gets for a method a page does not take (`allow`: the ones it does).
pub fn method_not_allowed(method: &str, allow: &str) -> HttpResponse {
    let said = format!("This page does not take {method} requests; it takes {allow}.");
    let mut res = message(
        StatusCode::METHOD_NOT_ALLOWED,
        Exposure::Plain,
        "Not possible here",
        &[
            said.as_str(),
            "A form or a link may have been changed on its way: go back, reload the page and try again.",
        ],
        Some(("/", "Go to the home page")),
    );
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(allow) {
        res.headers_mut().insert(actix_web::http::header::ALLOW, v);
    }
    res
}

// ---- /forgot-password -------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "rest_forgot_password.html")]
pub struct ForgotPage {
    pub chrome: Chrome,
    pub csrf: String,
}

pub async fn forgot_password_page(state: web::Data<AppState>, req: HttpRequest) -> Page {
    let guard = session::guard(&state, &req, None);
    let page = ForgotPage {
        chrome: Chrome::new("Forgotten password", None),
        csrf: guard.csrf.clone(),
    };
    Ok(render(StatusCode::OK, Exposure::Private, &page, |b| guard.apply(b)))
}

#[derive(Deserialize)]
struct ForgotForm {
    #[serde(default)]
    email: String,
}

pub async fn forgot_password(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Page {
    let Some(f) = checked_form::<ForgotForm>(&state, &req, &body) else {
        return Ok(forbidden());
    };
    match crate::auth::handlers::request_reset(&state, &req, &f.email).await {
        Ok(()) => {}
        Err(e) if e.status == StatusCode::TOO_MANY_REQUESTS => return Ok(too_many(&e)),
        Err(e) => return Err(e),
    }
    Ok(message(
        StatusCode::OK,
        Exposure::Private,
        "Check your inbox",
        &[
            "If an account exists for that address, an email with a link is on its way.",
            "The link works once, for 60 minutes. If nothing arrives, check the address and your spam folder, or ask your organisation's administrator.",
        ],
        Some(("/sign-in", "Back to sign in")),
    ))
}

// ---- /subscribe -------------------------------------------------------------------------------

/// A topic's checkbox.
pub struct TopicBox {
    pub code: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "rest_subscribe.html")]
pub struct SubscribePage {
    pub chrome: Chrome,
    pub csrf: String,
    pub email: String,
    pub topics: Vec<TopicBox>,
    pub digest: bool,
    pub email_error: Option<String>,
    pub topics_error: Option<String>,
    /// Someone signed in: their own subscriptions are on `/subscriptions`.
    pub signed_in: bool,
}

fn subscribe_form(
    state: &AppState,
    req: &HttpRequest,
    signed_in: bool,
    choice: &Choice,
    errors: (Option<String>, Option<String>),
    status: StatusCode,
) -> HttpResponse {
    let guard = session::guard(state, req, None);
    let page = SubscribePage {
        chrome: Chrome::new("Subscribe to changes", None),
        csrf: guard.csrf.clone(),
        email: choice.email.clone(),
        topics: Topic::ALL
            .iter()
            .filter(|t| !crate::notifications::model::needs_account(**t))
            .map(|t| TopicBox {
                code: t.as_str(),
                label: topic_label(*t),
                checked: choice.topics.contains(t),
            })
            .collect(),
        digest: choice.mode == Mode::DailyDigest,
        email_error: errors.0,
        topics_error: errors.1,
        signed_in,
    };
    render(status, Exposure::Private, &page, |b| guard.apply(b))
}

/// What the form asked for.
struct Choice {
    email: String,
    topics: Vec<Topic>,
    mode: Mode,
}

impl Choice {
    /// From the form's fields: `topic` repeated (one per checked box), `email`, `mode`.
    fn from_fields(fields: &[(String, String)]) -> Self {
        let value = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        Self {
            email: value("email").unwrap_or_default().trim().to_string(),
            topics: fields
                .iter()
                .filter(|(k, _)| k == "topic")
                .filter_map(|(_, v)| Topic::parse(v))
                .collect(),
            mode: value("mode").and_then(Mode::parse).unwrap_or(Mode::Immediate),
        }
    }
}

async fn signed_in(state: &AppState, req: &HttpRequest) -> Result<bool, ApiError> {
    Ok(session::current(state, req).await?.is_some())
}

pub async fn subscribe_page(state: web::Data<AppState>, req: HttpRequest) -> Page {
    let choice = Choice {
        email: String::new(),
        topics: vec![Topic::UitWindows],
        mode: Mode::Immediate,
    };
    let signed_in = signed_in(&state, &req).await?;
    Ok(subscribe_form(
        &state,
        &req,
        signed_in,
        &choice,
        (None, None),
        StatusCode::OK,
    ))
}

pub async fn subscribe(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Page {
    let Some(fields) = checked_form::<Vec<(String, String)>>(&state, &req, &body) else {
        return Ok(forbidden());
    };
    let choice = Choice::from_fields(&fields);
    let request = NewSubscription {
        email: Some(choice.email.clone()),
        topics: choice.topics.clone(),
        filters: Default::default(),
        mode: Some(choice.mode),
    };
    // The API's anonymous subscription: its checks, rate limits and double opt-in.
    match subscribe_address(&state, &req, request).await {
        Ok(()) => {}
        Err(e) if e.status == StatusCode::TOO_MANY_REQUESTS => return Ok(too_many(&e)),
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let errors = subscribe_errors(&e);
            let signed_in = signed_in(&state, &req).await?;
            return Ok(subscribe_form(
                &state,
                &req,
                signed_in,
                &choice,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            ));
        }
        Err(e) => return Err(e),
    }
    Ok(confirmation_sent())
}

/// The form's messages for the API's 422: (beside the address, beside the topics).
fn subscribe_errors(e: &ApiError) -> (Option<String>, Option<String>) {
    let said = |field: &str, text: &str| e.errors.iter().any(|f| f.field == field).then(|| text.to_string());
    // A topic the page does not offer (only a hand-made form sends one) is named too.
    let members_only = e.errors.iter().any(|f| f.field.starts_with("topics[")).then(|| {
        "Results and UIT issues are for signed-in members: sign in and use your subscriptions page.".to_string()
    });
    (
        said("email", "Enter an email address, like name@example.org."),
        said("topics", "Choose at least one topic.").or(members_only),
    )
}

/// The answer to a subscription the API took: the same words whatever the address.
fn confirmation_sent() -> HttpResponse {
    message(
        StatusCode::OK,
        Exposure::Private,
        "Check your inbox",
        &[
            "If this address can receive email, a confirmation is on its way. Nothing else is sent until you open its link and press Confirm.",
            "The link works for 48 hours. Every email after that carries a link to unsubscribe.",
        ],
        Some(("/", "Go to the home page")),
    )
}

// ---- the home page's additions ----------------------------------------------------------------

/// One of the organisation's claims.
pub struct ClaimLine {
    pub window_id: WindowId,
    pub window: String,
    pub set: String,
    pub since: String,
}

/// One recent change, in words.
pub struct ChangeLine {
    pub headline: String,
    pub detail: Option<String>,
    pub when: String,
    pub ago: String,
    /// The page that shows what changed, when there is one.
    pub href: Option<String>,
}

/// What the signed-in home page shows beside the windows.
pub struct HomeExtras {
    pub claims: Vec<ClaimLine>,
    pub claim_count: usize,
    pub changes: Vec<ChangeLine>,
}

/// How many claims the home page lists.
const CLAIMS_SHOWN: usize = 50;

/// How many recent changes the home page lists.
const CHANGES_SHOWN: usize = 10;

/// The organisation's claims (claims are readable by every signed-in user, as in the API) and
/// the latest changes the person would be notified of (the fan-out's audience rule).
pub fn home_extras(conn: &mut DbConn, s: &WebSession, now: chrono::NaiveDateTime) -> Result<HomeExtras, ApiError> {
    let filter = ClaimFilter {
        org_id: Some(&s.org_id),
        ..Default::default()
    };
    let mut mine = claims::load(conn, filter, None, 10_000)?;
    let claim_count = mine.len();
    // Ids are UUIDv7: the newest first.
    mine.reverse();
    let claims = mine
        .into_iter()
        .take(CLAIMS_SHOWN)
        .map(|c| ClaimLine {
            window_id: c.uit_window_id,
            window: c.uit_window_name,
            set: c.device_set_name,
            since: human_time(c.claimed_at),
        })
        .collect();
    let reader = Reader {
        org_id: s.org_id.clone(),
        org_kind: s.org_kind,
        role: s.role,
    };
    let now_utc = now.and_utc();
    let changes = crate::notifications::recent::latest_for(conn, &reader, now, CHANGES_SHOWN)?
        .into_iter()
        .map(|c| {
            let words = wording::describe(&c);
            let at = c.occurred_at.and_utc();
            ChangeLine {
                headline: words.headline,
                detail: words.detail,
                when: human_time(at),
                ago: relative(at, now_utc),
                href: crate::notifications::email::page_path(&c.entity_type, &c.entity_id),
            }
        })
        .collect();
    Ok(HomeExtras {
        claims,
        claim_count,
        changes,
    })
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};

    use super::relative;
    use crate::notifications::email::page_path;

    #[test]
    fn relative_time_says_which_way() {
        let now = Utc.with_ymd_and_hms(2026, 12, 15, 12, 0, 0).unwrap();
        assert_eq!(relative(now + Duration::days(4), now), "in 4 days");
        assert_eq!(relative(now - Duration::hours(3), now), "3 hours ago");
        assert_eq!(relative(now + Duration::minutes(1), now), "in 1 minute");
    }

    #[test]
    fn changes_link_to_the_pages_of_their_subjects() {
        assert_eq!(page_path("uit_window", "w1").as_deref(), Some("/windows/w1"));
        assert_eq!(page_path("roadmap_item", "r1").as_deref(), Some("/roadmap/r1"));
        assert_eq!(page_path("session", "s1"), None);
    }
}
