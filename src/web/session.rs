//! Sessions for people and the CSRF tokens of their forms: the one module that knows cookies.
//!
//! A session is a random secret in an `HttpOnly`, `SameSite=Lax`, `Path=/` cookie (`Secure`
//! and `__Host-`-prefixed whenever `public_url` is https); the table keeps only its SHA-256.
//! It ends after [`IDLE_HOURS`] without a request, [`ABSOLUTE_DAYS`] after sign-in, on
//! sign-out, or when the user's `token_version` moves on from the one recorded at sign-in
//! (a password change or reset bumps it, as it ends the API's tokens).
//!
//! CSRF: every POST form carries `csrf`, an HMAC-SHA256 (keyed from the server secret) of what
//! the form is bound to: the session's id when signed in, else a short-lived random
//! pre-session cookie set by the page that shows the form. A cross-site page can neither read
//! the cookie nor compute the HMAC, so it cannot forge the field. Signing in replaces the
//! pre-session binding with the session's, so a token never outlives the state it was made for.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponseBuilder};
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use crate::auth::tokens::{hash_secret, new_secret};
use crate::auth::{OrgKind, Role};
use crate::db::schema::{organisations, users, web_sessions};
use crate::db::{new_id, now, DbConn, OrgId, UserId};
use crate::http::ApiError;
use crate::AppState;

/// A session ends after this long without a request.
pub const IDLE_HOURS: i64 = 8;
/// And this long after sign-in, whatever happens.
pub const ABSOLUTE_DAYS: i64 = 7;
/// How long a signed-out form (sign-in, the email landing pages) stays usable.
pub const PRE_SESSION_SECONDS: i64 = 2 * 60 * 60;
/// `last_seen_at` is written at most this often, so reads stay reads.
const TOUCH_SECONDS: i64 = 60;

/// The signed-in person, as a page needs them.
#[derive(Debug, Clone)]
pub struct WebSession {
    pub id: String,
    pub user_id: UserId,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub org_id: OrgId,
    pub org_name: String,
    pub org_kind: OrgKind,
}

fn https(state: &AppState) -> bool {
    state.config.public_url.starts_with("https://")
}

/// The session cookie's name: `__Host-` needs `Secure`, so only over https.
pub fn session_cookie(state: &AppState) -> &'static str {
    if https(state) {
        "__Host-uit_session"
    } else {
        "uit_session"
    }
}

/// The pre-session cookie's name (the binding of signed-out forms).
pub fn pre_cookie(state: &AppState) -> &'static str {
    if https(state) {
        "__Host-uit_pre"
    } else {
        "uit_pre"
    }
}

/// A `Set-Cookie` value with the flags every cookie of ours has; `max_age` `None` for a cookie
/// that ends with the browser session, `Some(0)` to delete it.
pub fn cookie(state: &AppState, name: &str, value: &str, max_age: Option<i64>) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if https(state) {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    c
}

/// The value of cookie `name` in the request, if any.
pub fn cookie_value(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty() && v.len() <= 200)
}

/// HMAC-SHA256 (RFC 2104) over the `sha2` already in the tree.
fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let (mut inner, mut outer) = (block, block);
    inner.iter_mut().for_each(|b| *b ^= 0x36);
    outer.iter_mut().for_each(|b| *b ^= 0x5c);
    let first = Sha256::new().chain_update(inner).chain_update(message).finalize();
    let second = Sha256::new().chain_update(outer).chain_update(first).finalize();
    let mut out = [0u8; 32];
    out.copy_from_slice(&second);
    out
}

/// The key of the CSRF HMAC, derived from the server secret (never the secret itself).
pub fn derive_key(secret: &[u8]) -> [u8; 32] {
    hmac(secret, b"uit-portal web csrf v1")
}

fn csrf_for(state: &AppState, binding: &str) -> String {
    hex::encode(hmac(&state.web_key, format!("csrf|{binding}").as_bytes()))
}

fn equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What a page's forms are bound to, and the pre-session cookie to set when it had to mint one.
pub struct FormGuard {
    pub csrf: String,
    pub set_cookie: Option<String>,
}

impl FormGuard {
    /// Adds the pre-session cookie the guard minted, if it did.
    pub fn apply(&self, builder: &mut HttpResponseBuilder) {
        if let Some(c) = &self.set_cookie {
            builder.append_header((header::SET_COOKIE, c.clone()));
        }
    }
}

/// The CSRF token for the forms of a page shown to `session` (or to a signed-out visitor).
pub fn guard(state: &AppState, req: &HttpRequest, session: Option<&WebSession>) -> FormGuard {
    if let Some(s) = session {
        return FormGuard {
            csrf: csrf_for(state, &format!("s:{}", s.id)),
            set_cookie: None,
        };
    }
    match cookie_value(req, pre_cookie(state)) {
        Some(pre) => FormGuard {
            csrf: csrf_for(state, &format!("p:{pre}")),
            set_cookie: None,
        },
        None => {
            let pre = new_secret("");
            FormGuard {
                csrf: csrf_for(state, &format!("p:{pre}")),
                set_cookie: Some(cookie(state, pre_cookie(state), &pre, Some(PRE_SESSION_SECONDS))),
            }
        }
    }
}

/// Whether a POST's `csrf` field matches what the request is bound to.
pub fn csrf_ok(state: &AppState, req: &HttpRequest, session: Option<&WebSession>, token: Option<&str>) -> bool {
    let Some(token) = token else { return false };
    let binding = match session {
        Some(s) => format!("s:{}", s.id),
        None => match cookie_value(req, pre_cookie(state)) {
            Some(pre) => format!("p:{pre}"),
            None => return false,
        },
    };
    equal(csrf_for(state, &binding).as_bytes(), token.as_bytes())
}

type Found = (
    String,
    NaiveDateTime,
    NaiveDateTime,
    i64,
    UserId,
    String,
    String,
    Role,
    i64,
    OrgId,
    String,
    OrgKind,
);

/// The live session of the request's cookie, if any (touching `last_seen_at`).
pub async fn current(state: &AppState, req: &HttpRequest) -> Result<Option<WebSession>, ApiError> {
    let Some(secret) = cookie_value(req, session_cookie(state)) else {
        return Ok(None);
    };
    let hash = hash_secret(&secret);
    state.db.run(move |conn| live(conn, &hash)).await
}

/// The session whose cookie secret hashes to `hash`, when it is live: one that has expired,
/// been idle for [`IDLE_HOURS`] or outlived its user's token version is deleted and `None`.
/// `last_seen_at` is written at most every [`TOUCH_SECONDS`].
fn live(conn: &mut DbConn, hash: &str) -> Result<Option<WebSession>, ApiError> {
    let found: Option<Found> = web_sessions::table
        .inner_join(users::table.inner_join(organisations::table))
        .filter(web_sessions::token_hash.eq(hash))
        .select((
            web_sessions::id,
            web_sessions::last_seen_at,
            web_sessions::expires_at,
            web_sessions::token_version,
            users::id,
            users::name,
            users::email,
            users::role,
            users::token_version,
            organisations::id,
            organisations::name,
            organisations::kind,
        ))
        .first(conn)
        .optional()?;
    let Some((id, seen, expires, tv, user_id, name, email, role, user_tv, org_id, org_name, kind)) = found else {
        return Ok(None);
    };
    let now = now();
    if expires <= now || seen <= now - Duration::hours(IDLE_HOURS) || tv != user_tv {
        diesel::delete(web_sessions::table.find(&id)).execute(conn)?;
        return Ok(None);
    }
    if now - seen > Duration::seconds(TOUCH_SECONDS) {
        diesel::update(web_sessions::table.find(&id))
            .set(web_sessions::last_seen_at.eq(now))
            .execute(conn)?;
    }
    Ok(Some(WebSession {
        id,
        user_id,
        name,
        email,
        role,
        org_id,
        org_name,
        org_kind: kind,
    }))
}

/// Starts a session for `user_id` at its current token version; returns `(session id, cookie
/// secret)`. Any session the request's cookie named is ended first (no fixation).
pub fn start(conn: &mut DbConn, user_id: &UserId, previous: Option<&str>) -> Result<(String, String), ApiError> {
    if let Some(previous) = previous {
        diesel::delete(web_sessions::table.filter(web_sessions::token_hash.eq(hash_secret(previous)))).execute(conn)?;
    }
    let token_version: i64 = users::table.find(user_id).select(users::token_version).first(conn)?;
    let secret = new_secret("uits_");
    let id = new_id();
    let now = now();
    diesel::insert_into(web_sessions::table)
        .values((
            web_sessions::id.eq(&id),
            web_sessions::token_hash.eq(hash_secret(&secret)),
            web_sessions::user_id.eq(user_id),
            web_sessions::token_version.eq(token_version),
            web_sessions::created_at.eq(now),
            web_sessions::last_seen_at.eq(now),
            web_sessions::expires_at.eq(now + Duration::days(ABSOLUTE_DAYS)),
        ))
        .execute(conn)?;
    Ok((id, secret))
}

/// Ends a session.
pub fn end(conn: &mut DbConn, id: &str) -> QueryResult<usize> {
    diesel::delete(web_sessions::table.find(id)).execute(conn)
}

#[cfg(test)]
mod tests {
    use super::hmac;

    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        // RFC 4231, test case 2.
        let mac = hmac(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
