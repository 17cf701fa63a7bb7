//! Organisations, their users and invitations: rows, API types and queries.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::tokens::{hash_secret, new_secret};
use crate::auth::{OrgKind, Role};
use crate::db::schema::{invitations, organisations, users};
use crate::db::{new_id, now, DbConn, OrgId, UserId};
use crate::http::ApiError;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = organisations)]
pub struct OrgRow {
    pub id: OrgId,
    pub name: String,
    pub slug: String,
    pub kind: OrgKind,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
}

/// An organisation taking part in the portal.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Organisation {
    #[schema(value_type = String)]
    pub id: OrgId,
    pub name: String,
    pub slug: String,
    pub kind: OrgKind,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<OrgRow> for Organisation {
    fn from(r: OrgRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            slug: r.slug,
            kind: r.kind,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: UserId,
    pub org_id: OrgId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
}

/// A user (never with credentials).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct User {
    #[schema(value_type = String)]
    pub id: UserId,
    #[schema(value_type = String)]
    pub org_id: OrgId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        Self {
            id: r.id,
            org_id: r.org_id,
            email: r.email,
            name: r.name,
            role: r.role,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

pub fn list_orgs(
    conn: &mut DbConn,
    kind: Option<OrgKind>,
    after: Option<String>,
    limit: i64,
) -> QueryResult<Vec<OrgRow>> {
    let mut q = organisations::table.select(OrgRow::as_select()).into_boxed();
    if let Some(kind) = kind {
        q = q.filter(organisations::kind.eq(kind));
    }
    if let Some(after) = after {
        q = q.filter(organisations::id.gt(after));
    }
    q.order(organisations::id.asc()).limit(limit).load(conn)
}

pub fn find_org(conn: &mut DbConn, id: &str) -> QueryResult<Option<OrgRow>> {
    organisations::table
        .find(id)
        .select(OrgRow::as_select())
        .first(conn)
        .optional()
}

/// The names of the organisations `ids` names, by id (one query; an unknown id is left out).
pub fn names_of(conn: &mut DbConn, ids: Vec<&OrgId>) -> QueryResult<HashMap<OrgId, String>> {
    organisations::table
        .filter(organisations::id.eq_any(ids))
        .select((organisations::id, organisations::name))
        .load::<(OrgId, String)>(conn)
        .map(|rows| rows.into_iter().collect())
}

pub fn slug_taken(conn: &mut DbConn, slug: &str, except_id: Option<&str>) -> QueryResult<Option<String>> {
    let mut q = organisations::table
        .filter(organisations::slug.eq(slug))
        .select(organisations::id)
        .into_boxed();
    if let Some(id) = except_id {
        q = q.filter(organisations::id.ne(id.to_string()));
    }
    q.first(conn).optional()
}

pub fn insert_org(conn: &mut DbConn, name: &str, slug: &str, kind: OrgKind) -> QueryResult<OrgRow> {
    let now = now();
    let row = OrgRow {
        id: OrgId::new(),
        name: name.to_string(),
        slug: slug.to_string(),
        kind,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    diesel::insert_into(organisations::table).values(&row).execute(conn)?;
    Ok(row)
}

/// Updates name and slug when the row is still at `version`; `false` when it moved on.
pub fn update_org(conn: &mut DbConn, row: &OrgRow) -> QueryResult<bool> {
    let n = diesel::update(
        organisations::table
            .find(&row.id)
            .filter(organisations::version.eq(row.version)),
    )
    .set((
        organisations::name.eq(&row.name),
        organisations::slug.eq(&row.slug),
        organisations::updated_at.eq(now()),
        organisations::version.eq(row.version + 1),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn find_user(conn: &mut DbConn, id: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

pub fn user_org(conn: &mut DbConn, user_id: &UserId) -> QueryResult<OrgId> {
    users::table.find(user_id).select(users::org_id).first(conn)
}

pub fn email_taken(conn: &mut DbConn, email: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(users::table.filter(users::email.eq(email)))).get_result(conn)
}

pub fn insert_user(
    conn: &mut DbConn,
    org_id: &OrgId,
    email: &str,
    name: &str,
    role: Role,
    password_hash: &str,
) -> QueryResult<UserRow> {
    let now = now();
    let id = new_id();
    diesel::insert_into(users::table)
        .values((
            users::id.eq(&id),
            users::org_id.eq(org_id),
            users::email.eq(email),
            users::name.eq(name),
            users::role.eq(role),
            users::password_hash.eq(password_hash),
            users::token_version.eq(0i64),
            users::created_at.eq(now),
            users::updated_at.eq(now),
            users::version.eq(1i64),
        ))
        .execute(conn)?;
    users::table.find(&id).select(UserRow::as_select()).first(conn)
}

pub fn set_password(conn: &mut DbConn, user_id: &UserId, hash: &str) -> QueryResult<()> {
    diesel::update(users::table.find(user_id))
        .set((
            users::password_hash.eq(hash),
            users::updated_at.eq(now()),
            users::version.eq(users::version + 1),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn password_hash(conn: &mut DbConn, user_id: &UserId) -> QueryResult<String> {
    users::table.find(user_id).select(users::password_hash).first(conn)
}

/// Renames a user when still at `version`.
pub fn rename_user(conn: &mut DbConn, user_id: &UserId, name: &str, version: i64) -> QueryResult<bool> {
    let n = diesel::update(users::table.find(user_id).filter(users::version.eq(version)))
        .set((
            users::name.eq(name),
            users::updated_at.eq(now()),
            users::version.eq(version + 1),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

pub fn list_members(conn: &mut DbConn, org_id: &OrgId, after: Option<String>, limit: i64) -> QueryResult<Vec<UserRow>> {
    let mut q = users::table
        .filter(users::org_id.eq(org_id))
        .select(UserRow::as_select())
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(users::id.gt(after));
    }
    q.order(users::id.asc()).limit(limit).load(conn)
}

pub fn admin_count(conn: &mut DbConn, org_id: &OrgId) -> QueryResult<i64> {
    users::table
        .filter(users::org_id.eq(org_id).and(users::role.eq(Role::Admin)))
        .count()
        .get_result(conn)
}

pub fn set_role(conn: &mut DbConn, user_id: &UserId, role: Role, version: i64) -> QueryResult<bool> {
    let n = diesel::update(users::table.find(user_id).filter(users::version.eq(version)))
        .set((
            users::role.eq(role),
            users::updated_at.eq(now()),
            users::version.eq(version + 1),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

pub fn delete_user(conn: &mut DbConn, user_id: &UserId) -> QueryResult<usize> {
    diesel::delete(users::table.find(user_id)).execute(conn)
}

/// A pending invitation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Invitation {
    pub id: String,
    #[schema(value_type = String)]
    pub org_id: OrgId,
    pub email: String,
    pub role: Role,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// Creates an invitation; returns it and its single-use secret (which only goes in the email).
pub fn create_invitation(
    conn: &mut DbConn,
    org_id: &OrgId,
    email: &str,
    role: Role,
    invited_by: &str,
    ttl: chrono::Duration,
) -> QueryResult<(Invitation, String)> {
    let secret = new_secret("uiti_");
    let now = now();
    let id = new_id();
    diesel::insert_into(invitations::table)
        .values((
            invitations::id.eq(&id),
            invitations::org_id.eq(org_id),
            invitations::email.eq(email),
            invitations::role.eq(role),
            invitations::token_hash.eq(hash_secret(&secret)),
            invitations::invited_by.eq(invited_by),
            invitations::expires_at.eq(now + ttl),
            invitations::created_at.eq(now),
        ))
        .execute(conn)?;
    let invitation = Invitation {
        id,
        org_id: org_id.clone(),
        email: email.to_string(),
        role,
        expires_at: (now + ttl).and_utc(),
        created_at: now.and_utc(),
    };
    Ok((invitation, secret))
}

/// An invitation that can still be accepted: not accepted, not revoked, not expired at `now`.
/// The one rule for spending, listing, revoking and showing invitations.
#[diesel::dsl::auto_type(no_type_alias)]
fn pending(now: NaiveDateTime) -> _ {
    invitations::accepted_at
        .is_null()
        .and(invitations::revoked_at.is_null())
        .and(invitations::expires_at.gt(now))
}

/// Spends an invitation token: `(org_id, email, role)` when valid.
pub fn consume_invitation(conn: &mut DbConn, secret: &str) -> Result<Option<(OrgId, String, Role)>, ApiError> {
    let now = now();
    let found: Option<(String, OrgId, String, String)> = invitations::table
        .filter(invitations::token_hash.eq(hash_secret(secret)))
        .filter(pending(now))
        .select((
            invitations::id,
            invitations::org_id,
            invitations::email,
            invitations::role,
        ))
        .first(conn)
        .optional()?;
    let Some((id, org_id, email, role)) = found else {
        return Ok(None);
    };
    let n = diesel::update(invitations::table.find(&id).filter(invitations::accepted_at.is_null()))
        .set(invitations::accepted_at.eq(now))
        .execute(conn)?;
    let role = Role::parse(&role).ok_or_else(|| ApiError::internal("bad role"))?;
    Ok((n == 1).then_some((org_id, email, role)))
}

/// What an [`Invitation`] is read from (never the token's hash).
#[derive(Queryable, Selectable)]
#[diesel(table_name = invitations)]
struct InvitationRow {
    id: String,
    org_id: OrgId,
    email: String,
    role: Role,
    expires_at: NaiveDateTime,
    created_at: NaiveDateTime,
}

fn invitation(r: InvitationRow) -> Invitation {
    Invitation {
        id: r.id,
        org_id: r.org_id,
        email: r.email,
        role: r.role,
        expires_at: r.expires_at.and_utc(),
        created_at: r.created_at.and_utc(),
    }
}

/// Invitations of `org_id` that can still be accepted: not accepted, revoked or expired.
pub fn list_pending_invitations(
    conn: &mut DbConn,
    org_id: &OrgId,
    after: Option<String>,
    limit: i64,
) -> QueryResult<Vec<Invitation>> {
    let mut q = invitations::table
        .filter(invitations::org_id.eq(org_id))
        .filter(pending(now()))
        .select(InvitationRow::as_select())
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(invitations::id.gt(after));
    }
    let rows: Vec<InvitationRow> = q.order(invitations::id.asc()).limit(limit).load(conn)?;
    Ok(rows.into_iter().map(invitation).collect())
}

/// Revokes a pending invitation of `org_id`; the invitation as it was, or `None` when there
/// is no such pending invitation.
pub fn revoke_invitation(conn: &mut DbConn, org_id: &OrgId, id: &str) -> QueryResult<Option<Invitation>> {
    let now = now();
    let found: Option<InvitationRow> = invitations::table
        .find(id)
        .filter(invitations::org_id.eq(org_id))
        .filter(pending(now))
        .select(InvitationRow::as_select())
        .first(conn)
        .optional()?;
    let Some(row) = found else {
        return Ok(None);
    };
    let n = diesel::update(
        invitations::table
            .find(id)
            .filter(invitations::accepted_at.is_null())
            .filter(invitations::revoked_at.is_null()),
    )
    .set(invitations::revoked_at.eq(now))
    .execute(conn)?;
    Ok((n == 1).then(|| invitation(row)))
}

/// What an unspent, unexpired invitation offers, without spending it: `(organisation name,
/// email, role)`. For the page the invitation email links to (a GET changes nothing).
pub fn peek_invitation(conn: &mut DbConn, secret: &str) -> Result<Option<(String, String, Role)>, ApiError> {
    let found: Option<(String, String, String)> = invitations::table
        .inner_join(organisations::table)
        .filter(invitations::token_hash.eq(hash_secret(secret)))
        .filter(pending(now()))
        .select((organisations::name, invitations::email, invitations::role))
        .first(conn)
        .optional()?;
    found
        .map(|(org, email, role)| {
            Ok((
                org,
                email,
                Role::parse(&role).ok_or_else(|| ApiError::internal("bad role"))?,
            ))
        })
        .transpose()
}
crate::audit::audited!(Organisation, "organisation", id, owner = id);
crate::audit::audited!(Invitation, "invitation", id, owner = org_id);
crate::audit::audited!(User, "user", id, owner = org_id);
crate::http::idempotency::located!(Organisation, "/api/v1/organisations", id);
crate::http::idempotency::located!(Invitation);
/// An accepted invitation's 201 points at the new member.
impl crate::http::idempotency::Located for User {
    fn location(&self) -> Option<String> {
        Some(format!("/api/v1/organisations/{}/members/{}", self.org_id, self.id))
    }
}
