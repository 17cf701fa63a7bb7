//! Audit rows: written by every mutation, read by admins.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::AuthContext;
use crate::db::schema::audit_events;
use crate::db::{new_id, now, DbConn, JsonText, OrgId, UserId};
use crate::http::ApiError;

/// Who made a change: a user, or the system (bootstrap, CLI) when both ids are `None`.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub user_id: Option<UserId>,
    pub org_id: Option<OrgId>,
    pub request_id: Option<String>,
}

impl From<&AuthContext> for Actor {
    fn from(ctx: &AuthContext) -> Self {
        Self {
            user_id: Some(ctx.user_id.clone()),
            org_id: Some(ctx.org_id.clone()),
            request_id: ctx.request_id.clone(),
        }
    }
}

/// One change to record.
pub struct Change<'a> {
    /// Dotted verb, e.g. `organisation.create`.
    pub action: &'a str,
    pub entity_type: &'a str,
    pub entity_id: &'a str,
    /// The organisation the entity belongs to (decides which org admins can read the row).
    pub org_id: Option<&'a str>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl<'a> Change<'a> {
    /// A change of `entity_type` `entity_id` by `action`, of no organisation and with no
    /// before or after until given.
    pub fn new(action: &'a str, entity_type: &'a str, entity_id: &'a str) -> Self {
        Self {
            action,
            entity_type,
            entity_id,
            org_id: None,
            before: None,
            after: None,
        }
    }

    /// The organisation whose admins read the row.
    pub fn org(self, org_id: &'a str) -> Self {
        self.org_opt(Some(org_id))
    }

    pub fn org_opt(mut self, org_id: Option<&'a str>) -> Self {
        self.org_id = org_id;
        self
    }

    pub fn before(self, before: serde_json::Value) -> Self {
        self.before_opt(Some(before))
    }

    pub fn before_opt(mut self, before: Option<serde_json::Value>) -> Self {
        self.before = before;
        self
    }

    pub fn after(self, after: serde_json::Value) -> Self {
        self.after_opt(Some(after))
    }

    pub fn after_opt(mut self, after: Option<serde_json::Value>) -> Self {
        self.after = after;
        self
    }
}

/// Writes the audit row; call inside the change's own transaction.
pub fn record(conn: &mut DbConn, actor: &Actor, change: Change<'_>) -> Result<(), ApiError> {
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::id.eq(new_id()),
            audit_events::occurred_at.eq(now()),
            audit_events::actor_user_id.eq(&actor.user_id),
            audit_events::actor_org_id.eq(&actor.org_id),
            audit_events::org_id.eq(change.org_id),
            audit_events::action.eq(change.action),
            audit_events::entity_type.eq(change.entity_type),
            audit_events::entity_id.eq(change.entity_id),
            audit_events::before_json.eq(change.before.map(|v| v.to_string())),
            audit_events::after_json.eq(change.after.map(|v| v.to_string())),
            audit_events::request_id.eq(&actor.request_id),
        ))
        .execute(conn)?;
    Ok(())
}

/// A resource whose changes are audited: what its rows are called and who reads them.
pub trait Audited: Serialize {
    /// The `entity_type` of its audit rows, e.g. `device_model`.
    const ENTITY: &'static str;

    /// The `entity_id` of its audit rows.
    fn audit_id(&self) -> &str;

    /// The organisation whose admins read its audit rows: its owner, or `None` when the row
    /// belongs to the organisation that acted (the operator's catalogue, a window's issue).
    fn audit_org(&self) -> Option<&str> {
        None
    }

    /// What the row records of it; the whole resource unless it holds something a row must
    /// not (an address, a secret).
    fn audit_snapshot(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::to_value(self)
    }
}

/// Implements [`Audited`] for a resource: its entity type, the field holding its id and, when
/// the rows belong to its owner rather than to the acting organisation, the owner's field:
/// `audited!(DeviceModel, "device_model", id, owner = manufacturer_org_id);`
macro_rules! audited {
    ($t:ty, $entity:literal, $id:ident) => {
        impl $crate::audit::Audited for $t {
            const ENTITY: &'static str = $entity;

            fn audit_id(&self) -> &str {
                &self.$id
            }
        }
    };
    ($t:ty, $entity:literal, $id:ident, owner = $org:ident) => {
        impl $crate::audit::Audited for $t {
            const ENTITY: &'static str = $entity;

            fn audit_id(&self) -> &str {
                &self.$id
            }

            fn audit_org(&self) -> Option<&str> {
                Some(&self.$org)
            }
        }
    };
}
pub(crate) use audited;

/// Records that `ctx` created `after` (`action`, e.g. `device_model.create`).
pub fn created<T: Audited>(conn: &mut DbConn, ctx: &AuthContext, action: &str, after: &T) -> Result<(), ApiError> {
    write(conn, ctx, action, after, None, Some(after))
}

/// Records that `ctx` changed `before` into `after`.
pub fn changed<T: Audited>(
    conn: &mut DbConn,
    ctx: &AuthContext,
    action: &str,
    before: &T,
    after: &T,
) -> Result<(), ApiError> {
    write(conn, ctx, action, after, Some(before), Some(after))
}

/// Records that `ctx` deleted (or ended) `before`.
pub fn deleted<T: Audited>(conn: &mut DbConn, ctx: &AuthContext, action: &str, before: &T) -> Result<(), ApiError> {
    write(conn, ctx, action, before, Some(before), None)
}

fn write<T: Audited>(
    conn: &mut DbConn,
    ctx: &AuthContext,
    action: &str,
    subject: &T,
    before: Option<&T>,
    after: Option<&T>,
) -> Result<(), ApiError> {
    record(
        conn,
        &Actor::from(ctx),
        Change {
            action,
            entity_type: T::ENTITY,
            entity_id: subject.audit_id(),
            org_id: Some(subject.audit_org().unwrap_or(&ctx.org_id)),
            before: before.map(Audited::audit_snapshot).transpose()?,
            after: after.map(Audited::audit_snapshot).transpose()?,
        },
    )
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct AuditRow {
    pub id: String,
    pub occurred_at: NaiveDateTime,
    pub actor_user_id: Option<UserId>,
    pub actor_org_id: Option<OrgId>,
    pub org_id: Option<OrgId>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub before_json: Option<JsonText<serde_json::Value>>,
    pub after_json: Option<JsonText<serde_json::Value>>,
    pub request_id: Option<String>,
}

/// One audit event.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEvent {
    pub id: String,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    #[schema(value_type = Option<String>)]
    pub actor_user_id: Option<UserId>,
    #[schema(value_type = Option<String>)]
    pub actor_org_id: Option<OrgId>,
    #[schema(value_type = Option<String>)]
    pub org_id: Option<OrgId>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
    /// True when some of `before`/`after` is withheld (null, or ids left out) because the
    /// audited entity's own visibility does not admit you, e.g. another organisation's
    /// private result.
    pub redacted: bool,
}

impl From<AuditRow> for AuditEvent {
    fn from(r: AuditRow) -> Self {
        Self {
            id: r.id,
            occurred_at: r.occurred_at.and_utc(),
            actor_user_id: r.actor_user_id,
            actor_org_id: r.actor_org_id,
            org_id: r.org_id,
            action: r.action,
            entity_type: r.entity_type,
            entity_id: r.entity_id,
            before: r.before_json.map(JsonText::into_inner),
            after: r.after_json.map(JsonText::into_inner),
            request_id: r.request_id,
            redacted: false,
        }
    }
}

pub struct AuditFilter {
    /// `None` for operator admins (everything); otherwise the org whose rows are visible.
    pub scope_org: Option<OrgId>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub actor_org_id: Option<OrgId>,
    pub since: Option<NaiveDateTime>,
}

/// Newest first, `limit` rows before the cursor id.
pub fn list(conn: &mut DbConn, f: AuditFilter, before_id: Option<String>, limit: i64) -> QueryResult<Vec<AuditRow>> {
    let mut q = audit_events::table.select(AuditRow::as_select()).into_boxed();
    if let Some(org) = f.scope_org {
        q = q.filter(audit_events::org_id.eq(org));
    }
    if let Some(v) = f.entity_type {
        q = q.filter(audit_events::entity_type.eq(v));
    }
    if let Some(v) = f.entity_id {
        q = q.filter(audit_events::entity_id.eq(v));
    }
    if let Some(v) = f.actor_org_id {
        q = q.filter(audit_events::actor_org_id.eq(v));
    }
    if let Some(v) = f.since {
        q = q.filter(audit_events::occurred_at.ge(v));
    }
    if let Some(id) = before_id {
        q = q.filter(audit_events::id.lt(id));
    }
    q.order(audit_events::id.desc()).limit(limit).load(conn)
}
