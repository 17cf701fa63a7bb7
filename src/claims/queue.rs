//! The waiting list of a held device set: organisations queue for it (`queue: true` on a claim
//! of a set another organisation leads on), and when the claim is released or lapses the first
//! in line gets it in the same transaction, with its audit row, a `claim.granted` event and an
//! email to its members. Entries are visible to the queuing organisation and the operator.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::model::{self, set_lead, Claim};
use super::notify;
use crate::audit::{self, Actor, Change};
use crate::auth::{AuthContext, Capability, OrgKind};
use crate::db::schema::{claim_queue as cq, claims, organisations};
use crate::db::{new_id, now, DbConn, DeviceSetId, OrgId, UserId, WindowId};
use crate::http::ApiError;
use crate::mail::Template;
use crate::windows::{self, WindowStatus};

/// An organisation waiting for a device set another organisation leads on.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueueEntry {
    pub id: String,
    #[schema(value_type = String)]
    pub uit_window_id: WindowId,
    #[schema(value_type = String)]
    pub device_set_id: DeviceSetId,
    #[schema(value_type = String)]
    pub org_id: OrgId,
    pub org_name: String,
    pub note: String,
    pub queued_at: DateTime<Utc>,
    /// 1 for the next in line.
    pub position: i64,
}

type Row = (String, WindowId, DeviceSetId, OrgId, String, String, NaiveDateTime);

/// The queue of one (window, set), first in line first, as (entry id, org id, user id).
fn line(
    conn: &mut DbConn,
    window_id: &WindowId,
    set_id: &DeviceSetId,
) -> QueryResult<Vec<(String, OrgId, Option<UserId>)>> {
    cq::table
        .filter(cq::window_id.eq(window_id).and(cq::device_set_id.eq(set_id)))
        .order((cq::queued_at.asc(), cq::id.asc()))
        .select((cq::id, cq::org_id, cq::queued_by_user_id))
        .load(conn)
}

/// The entries `ctx` may see (its organisation's; the operator: all), optionally of one
/// window or one entry, with their positions.
pub fn visible(
    conn: &mut DbConn,
    ctx: &AuthContext,
    window_id: Option<&str>,
    entry_id: Option<&str>,
    after: Option<String>,
    limit: i64,
) -> QueryResult<Vec<QueueEntry>> {
    let mut q = cq::table
        .inner_join(organisations::table.on(organisations::id.eq(cq::org_id)))
        .select((
            cq::id,
            cq::window_id,
            cq::device_set_id,
            cq::org_id,
            organisations::name,
            cq::note,
            cq::queued_at,
        ))
        .into_boxed();
    if ctx.org_kind != OrgKind::Operator {
        q = q.filter(cq::org_id.eq(ctx.org_id.clone()));
    }
    if let Some(w) = window_id {
        q = q.filter(cq::window_id.eq(w.to_string()));
    }
    if let Some(id) = entry_id {
        q = q.filter(cq::id.eq(id.to_string()));
    }
    if let Some(after) = after {
        q = q.filter(cq::id.gt(after));
    }
    let rows: Vec<Row> = q.order(cq::id.asc()).limit(limit).load(conn)?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, w, s, org_id, org_name, note, at) in rows {
        let position = line(conn, &w, &s)?.iter().position(|(e, ..)| *e == id).unwrap_or(0) as i64 + 1;
        out.push(QueueEntry {
            id,
            uit_window_id: w,
            device_set_id: s,
            org_id,
            org_name,
            note,
            queued_at: at.and_utc(),
            position,
        });
    }
    Ok(out)
}

/// Puts the caller's organisation in line for `set_id` in `window_id` (held by `holder`), or
/// answers its entry when it is in line already.
pub fn join(
    conn: &mut DbConn,
    ctx: &AuthContext,
    window_id: &WindowId,
    set_id: &DeviceSetId,
    note: &str,
) -> Result<QueueEntry, ApiError> {
    let values = (
        cq::id.eq(new_id()),
        cq::window_id.eq(window_id),
        cq::device_set_id.eq(set_id),
        cq::org_id.eq(&ctx.org_id),
        cq::note.eq(note),
        cq::queued_by_user_id.eq(&ctx.user_id),
        cq::queued_at.eq(now()),
    );
    // The unique (window, set, organisation) key decides, so two concurrent requests of one
    // organisation both answer its one entry (a check-then-insert let the loser hit the key).
    let inserted = crate::on_backend!(conn, c => diesel::insert_into(cq::table)
        .values(values)
        .on_conflict_do_nothing()
        .execute(c)?);
    if inserted == 1 {
        windows::join(conn, window_id, &ctx.org_id, &ctx.user_id)?;
    }
    let id: String = cq::table
        .filter(cq::window_id.eq(window_id))
        .filter(cq::device_set_id.eq(set_id))
        .filter(cq::org_id.eq(&ctx.org_id))
        .select(cq::id)
        .first(conn)?;
    let entry = visible(conn, ctx, None, Some(&id), None, 1)?
        .pop()
        .ok_or_else(ApiError::not_found)?;
    audit::record(
        conn,
        &Actor::from(ctx),
        Change::new("claim_queue.join", "claim_queue", &entry.id)
            .org(&entry.org_id)
            .after(serde_json::to_value(&entry)?),
    )?;
    Ok(entry)
}

/// Takes entry `id` out of the line: its organisation or the operator; 404 for others.
pub fn leave(conn: &mut DbConn, ctx: &AuthContext, id: &str) -> Result<(), ApiError> {
    ctx.require(Capability::Participate)?;
    let entry = visible(conn, ctx, None, Some(id), None, 1)?
        .pop()
        .ok_or_else(ApiError::not_found)?;
    ctx.owner_or_operator(
        &entry.org_id,
        Capability::Participate,
        "Only the queuing organisation or the operator may take an entry out of the line.",
    )?;
    diesel::delete(cq::table.find(id)).execute(conn)?;
    audit::record(
        conn,
        &Actor::from(ctx),
        Change::new("claim_queue.leave", "claim_queue", id)
            .org(&entry.org_id)
            .before(serde_json::to_value(&entry)?),
    )
}

/// Takes `org_id` out of the line for (window, set), e.g. when it gets the claim by hand-over.
pub fn drop_org(conn: &mut DbConn, window_id: &WindowId, set_id: &DeviceSetId, org_id: &OrgId) -> QueryResult<usize> {
    diesel::delete(
        cq::table
            .filter(cq::window_id.eq(window_id))
            .filter(cq::device_set_id.eq(set_id))
            .filter(cq::org_id.eq(org_id)),
    )
    .execute(conn)
}

/// After the claim on (window, set) went (`how`: "was released", "lapsed"), gives it to the first
/// in line, if any and if the window still takes claims: the claim row, the lead flag, the
/// audit row (by `actor`), the `claim.granted` event and the email. Call in the transaction
/// that removed the claim.
pub fn promote(
    conn: &mut DbConn,
    actor: &Actor,
    window_id: &WindowId,
    set_id: &DeviceSetId,
    how: &str,
    public_url: &str,
) -> Result<Option<Claim>, ApiError> {
    let window = windows::model::find(conn, window_id)?.ok_or_else(ApiError::not_found)?;
    if matches!(window.status_at(now()), WindowStatus::Closed | WindowStatus::Cancelled) {
        return Ok(None);
    }
    let Some((entry_id, org_id, user_id)) = line(conn, window_id, set_id)?.into_iter().next() else {
        return Ok(None);
    };
    diesel::delete(cq::table.find(&entry_id)).execute(conn)?;
    let id = new_id();
    diesel::insert_into(claims::table)
        .values((
            claims::id.eq(&id),
            claims::window_id.eq(window_id),
            claims::device_set_id.eq(set_id),
            claims::org_id.eq(&org_id),
            claims::note.eq(""),
            claims::claimed_by_user_id.eq(&user_id),
            claims::claimed_at.eq(now()),
        ))
        .execute(conn)?;
    set_lead(
        conn,
        window_id,
        set_id,
        &org_id,
        true,
        user_id.as_deref().unwrap_or_default(),
    )?;
    let claim = model::find(conn, &id)?.ok_or_else(ApiError::not_found)?;
    audit::record(
        conn,
        actor,
        Change::new("claim.grant_from_queue", "claim", &claim.id)
            .org(&claim.org_id)
            .after(serde_json::to_value(&claim)?),
    )?;
    let summary = format!(
        "{} now leads on {} in {}: the claim before {how}",
        claim.org_name, claim.device_set_name, claim.uit_window_name
    );
    let details = serde_json::json!({ "from_queue_entry_id": entry_id, "previous_claim": how });
    notify::event(conn, &claim, "claim.granted", summary, actor.org_id.as_ref(), details)?;
    notify::email_holder(conn, &claim, Template::ClaimGranted, public_url, &[("how", how)])?;
    Ok(Some(claim))
}
