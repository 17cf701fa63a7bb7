//! Refresh-token families, password-reset tokens and user lookups for login.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::tokens::{hash_secret, new_secret, REFRESH_TOKEN_PREFIX};
use crate::db::schema::{api_tokens, calendar_tokens, password_resets, refresh_tokens, users};
use crate::db::{new_id, now, DbConn, OrgId, UserId};
use crate::http::ApiError;

/// The fields login needs.
#[derive(Debug, Queryable)]
pub struct LoginUser {
    pub id: UserId,
    pub org_id: OrgId,
    pub password_hash: String,
    pub token_version: i64,
}

pub fn find_login_user(conn: &mut DbConn, email: &str) -> QueryResult<Option<LoginUser>> {
    users::table
        .filter(users::email.eq(email))
        .select((users::id, users::org_id, users::password_hash, users::token_version))
        .first(conn)
        .optional()
}

/// Starts (or continues) a family with a fresh refresh token; returns the secret.
pub fn issue_refresh(conn: &mut DbConn, user_id: &UserId, family_id: &str, ttl_days: i64) -> QueryResult<String> {
    let secret = new_secret(REFRESH_TOKEN_PREFIX);
    let now = now();
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::id.eq(new_id()),
            refresh_tokens::user_id.eq(user_id),
            refresh_tokens::family_id.eq(family_id),
            refresh_tokens::token_hash.eq(hash_secret(&secret)),
            refresh_tokens::expires_at.eq(now + Duration::days(ttl_days)),
            refresh_tokens::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(secret)
}

/// What presenting a refresh token led to.
pub enum Rotation {
    /// A new refresh token in the same family, for this user.
    Rotated {
        user_id: UserId,
        org_id: OrgId,
        token_version: i64,
        refresh_token: String,
    },
    /// Unknown or expired token.
    Invalid,
    /// A spent token was presented again: the family is now revoked.
    Reused {
        user_id: UserId,
        org_id: OrgId,
        family_id: String,
    },
}

pub fn rotate_refresh(conn: &mut DbConn, secret: &str, ttl_days: i64) -> Result<Rotation, ApiError> {
    type Found = (
        String,
        UserId,
        String,
        NaiveDateTime,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
    );
    let found: Option<Found> = refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(hash_secret(secret)))
        .select((
            refresh_tokens::id,
            refresh_tokens::user_id,
            refresh_tokens::family_id,
            refresh_tokens::expires_at,
            refresh_tokens::used_at,
            refresh_tokens::revoked_at,
        ))
        .first(conn)
        .optional()?;
    let Some((id, user_id, family_id, expires_at, used_at, revoked_at)) = found else {
        return Ok(Rotation::Invalid);
    };
    let now = now();
    if used_at.is_some() {
        return reused(conn, user_id, family_id);
    }
    if revoked_at.is_some() || expires_at <= now {
        return Ok(Rotation::Invalid);
    }
    // Only the request that flips used_at wins; a concurrent twin sees 0 rows and counts as reuse.
    let flipped = diesel::update(
        refresh_tokens::table
            .find(&id)
            .filter(refresh_tokens::used_at.is_null()),
    )
    .set(refresh_tokens::used_at.eq(now))
    .execute(conn)?;
    if flipped == 0 {
        return reused(conn, user_id, family_id);
    }
    let (org_id, token_version): (OrgId, i64) = users::table
        .find(&user_id)
        .select((users::org_id, users::token_version))
        .first(conn)?;
    let refresh_token = issue_refresh(conn, &user_id, &family_id, ttl_days)?;
    Ok(Rotation::Rotated {
        user_id,
        org_id,
        token_version,
        refresh_token,
    })
}

fn reused(conn: &mut DbConn, user_id: UserId, family_id: String) -> Result<Rotation, ApiError> {
    revoke_family(conn, &family_id)?;
    let org_id = users::table.find(&user_id).select(users::org_id).first(conn)?;
    Ok(Rotation::Reused {
        user_id,
        org_id,
        family_id,
    })
}

pub fn revoke_family(conn: &mut DbConn, family_id: &str) -> QueryResult<usize> {
    diesel::update(refresh_tokens::table.filter(refresh_tokens::family_id.eq(family_id)))
        .filter(refresh_tokens::revoked_at.is_null())
        .set(refresh_tokens::revoked_at.eq(now()))
        .execute(conn)
}

/// The family of a refresh token that belongs to `user_id`, if it does.
pub fn family_of(conn: &mut DbConn, secret: &str, user_id: &UserId) -> QueryResult<Option<String>> {
    refresh_tokens::table
        .filter(
            refresh_tokens::token_hash
                .eq(hash_secret(secret))
                .and(refresh_tokens::user_id.eq(user_id)),
        )
        .select(refresh_tokens::family_id)
        .first(conn)
        .optional()
}

/// What ending a user's credentials ended, for the audit row.
#[derive(Debug, Default, serde::Serialize)]
pub struct EndedCredentials {
    pub refresh_tokens: usize,
    pub api_tokens: usize,
    pub calendar_tokens: usize,
    pub password_resets: usize,
}

/// Ends every credential of a user, as a password reset or change must: access tokens by
/// bumping token_version, refresh tokens and API tokens by revoking them, the calendar feed
/// token by deleting it, and outstanding password-reset tokens by spending them.
pub fn end_all_credentials(conn: &mut DbConn, user_id: &UserId) -> QueryResult<EndedCredentials> {
    let now = now();
    diesel::update(users::table.find(user_id))
        .set((
            users::token_version.eq(users::token_version + 1),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
    let refresh_tokens = diesel::update(refresh_tokens::table.filter(refresh_tokens::user_id.eq(user_id)))
        .filter(refresh_tokens::revoked_at.is_null())
        .set(refresh_tokens::revoked_at.eq(now))
        .execute(conn)?;
    let api_tokens = diesel::update(api_tokens::table.filter(api_tokens::user_id.eq(user_id)))
        .filter(api_tokens::revoked_at.is_null())
        .set(api_tokens::revoked_at.eq(now))
        .execute(conn)?;
    let calendar_tokens =
        diesel::delete(calendar_tokens::table.filter(calendar_tokens::user_id.eq(user_id))).execute(conn)?;
    let password_resets = diesel::update(password_resets::table.filter(password_resets::user_id.eq(user_id)))
        .filter(password_resets::used_at.is_null())
        .set(password_resets::used_at.eq(now))
        .execute(conn)?;
    Ok(EndedCredentials {
        refresh_tokens,
        api_tokens,
        calendar_tokens,
        password_resets,
    })
}

/// Creates a single-use reset token valid for `ttl`; returns the secret.
pub fn create_password_reset(conn: &mut DbConn, user_id: &UserId, ttl: Duration) -> QueryResult<String> {
    let secret = new_secret("uitx_");
    let now = now();
    diesel::insert_into(password_resets::table)
        .values((
            password_resets::id.eq(new_id()),
            password_resets::user_id.eq(user_id),
            password_resets::token_hash.eq(hash_secret(&secret)),
            password_resets::expires_at.eq(now + ttl),
            password_resets::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(secret)
}

/// Spends a reset token: the user id when it was valid and unused.
pub fn consume_password_reset(conn: &mut DbConn, secret: &str) -> QueryResult<Option<UserId>> {
    let now = now();
    let found: Option<(String, UserId)> = password_resets::table
        .filter(password_resets::token_hash.eq(hash_secret(secret)))
        .filter(password_resets::used_at.is_null())
        .filter(password_resets::expires_at.gt(now))
        .select((password_resets::id, password_resets::user_id))
        .first(conn)
        .optional()?;
    let Some((id, user_id)) = found else {
        return Ok(None);
    };
    let flipped = diesel::update(
        password_resets::table
            .find(&id)
            .filter(password_resets::used_at.is_null()),
    )
    .set(password_resets::used_at.eq(now))
    .execute(conn)?;
    Ok((flipped == 1).then_some(user_id))
}

/// Whether a reset token is unspent and unexpired, without spending it (for the page the
/// reset email links to: a GET changes nothing).
pub fn password_reset_usable(conn: &mut DbConn, secret: &str) -> QueryResult<bool> {
    let found: Option<String> = password_resets::table
        .filter(password_resets::token_hash.eq(hash_secret(secret)))
        .filter(password_resets::used_at.is_null())
        .filter(password_resets::expires_at.gt(now()))
        .select(password_resets::id)
        .first(conn)
        .optional()?;
    Ok(found.is_some())
}
