//! The signed-in person on a page: [`Member`], an extractor that loads the session and turns it
//! into the API's [`AuthContext`], so a page calls the domain functions the API calls with the
//! same caller and the same rules. Signed out, a page that needs a member answers with a 303 to
//! `/sign-in?next=<this page>`, which leads back here after signing in.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::InternalError;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::session::{self, FormGuard, WebSession};
use super::{message, Exposure, Nav};
use crate::auth::extractor::AuthContext;
use crate::auth::Capability;
use crate::http::request_id;
use crate::AppState;

/// A signed-in person: their session, the caller the domain functions take, and the CSRF token
/// of the page's forms.
pub struct Member {
    pub session: WebSession,
    pub auth: AuthContext,
    pub guard: FormGuard,
}

impl Member {
    fn new(state: &AppState, req: &HttpRequest, session: WebSession) -> Self {
        let auth = AuthContext {
            user_id: session.user_id.clone(),
            org_id: session.org_id.clone(),
            org_kind: session.org_kind,
            role: session.role,
            email: session.email.clone(),
            api_token_id: None,
            request_id: request_id(req),
        };
        let guard = session::guard(state, req, Some(&session));
        Self { session, auth, guard }
    }

    /// The header's "who is signed in", with the sign-out form's token.
    pub fn nav(&self) -> Nav {
        Nav {
            name: self.session.name.clone(),
            org_name: self.session.org_name.clone(),
            csrf: self.guard.csrf.clone(),
        }
    }

    /// The CSRF token for this page's forms.
    pub fn csrf(&self) -> &str {
        &self.guard.csrf
    }

    /// Whether the person may do `cap` (the API's role and organisation-kind check), so a page
    /// shows only the buttons that would work.
    pub fn may(&self, cap: Capability) -> bool {
        self.auth.require(cap).is_ok()
    }

    /// A POST form's fields when its `csrf` field is this session's token; `None` (answer with
    /// [`forbidden`]) for a body that does not parse or a missing or wrong token.
    pub fn form<T: DeserializeOwned>(&self, state: &AppState, req: &HttpRequest, body: &[u8]) -> Option<T> {
        #[derive(Deserialize)]
        struct Csrf {
            csrf: Option<String>,
        }
        let token = serde_urlencoded::from_bytes::<Csrf>(body).ok()?.csrf;
        if !session::csrf_ok(state, req, Some(&self.session), token.as_deref()) {
            return None;
        }
        serde_urlencoded::from_bytes(body).ok()
    }
}

/// The 403 page for a form that did not come from our page (no or wrong CSRF token): nothing
/// was changed.
pub fn forbidden() -> HttpResponse {
    message(
        StatusCode::FORBIDDEN,
        Exposure::Private,
        "This form has expired",
        &[
            "The form was not sent from this page of the portal, or it was open for too long. \
           Nothing was changed. Go back, reload the page and try again.",
        ],
        Some(("/", "Go to the home page")),
    )
}

/// Where a signed-out visitor is sent: sign in, then back to `path_and_query`.
pub fn sign_in_first(path_and_query: &str) -> HttpResponse {
    let next = serde_urlencoded::to_string([("next", path_and_query)]).unwrap_or_default();
    super::see_other(&format!("/sign-in?{next}"))
}

/// A `next` target that stays on this site: a path, never `//host` or a scheme.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') && !n.contains(['\r', '\n']) => {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

impl FromRequest for Member {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| actix_web::error::ErrorInternalServerError("no state"))?;
            match session::current(&state, &req).await? {
                Some(s) => Ok(Member::new(&state, &req, s)),
                None => {
                    let here = match req.query_string() {
                        "" => req.path().to_string(),
                        q => format!("{}?{q}", req.path()),
                    };
                    Err(InternalError::from_response("sign in first", sign_in_first(&here)).into())
                }
            }
        })
    }
}

/// A signed-in person's POST form: the [`Member`] and the form's fields, extracted only when
/// its `csrf` field is the session's token (see [`Member::form`]). A body that does not parse or
/// carries no or a wrong token is answered with [`forbidden`] before the handler runs, so
/// nothing is changed; signed out, the answer is [`Member`]'s 303 to sign in.
pub struct MemberForm<T> {
    pub member: Member,
    pub form: T,
}

impl<T: DeserializeOwned + 'static> FromRequest for MemberForm<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // The member and the body, extracted as the handlers' own arguments were.
        let parts = <(Member, web::Bytes)>::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let (member, body) = parts.await?;
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| actix_web::error::ErrorInternalServerError("no state"))?;
            match member.form::<T>(&state, &req, &body) {
                Some(form) => Ok(MemberForm { member, form }),
                None => Err(InternalError::from_response("form without its CSRF token", forbidden()).into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/windows/w1?page=2")), "/windows/w1?page=2");
        for bad in ["//evil.example/x", "https://evil.example/", "/\\evil", "x", ""] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
