//! What a claim's lifecycle tells others: a change event (topic `uit_windows`, entity `claim`,
//! heard by the window's participants and the holder) and emails to the members
//! of one organisation through the mail outbox, both in the change's own transaction.

use diesel::prelude::*;

use super::model::Claim;
use crate::auth::Role;
use crate::db::schema::users;
use crate::db::{DbConn, OrgId};
use crate::events::{self, NewEvent, Topic};
use crate::http::ApiError;
use crate::mail::{self, Template};
use crate::notifications::audience::Audience;

/// Records `kind` about `claim` (its window, set and holder in the details, plus `extra`).
pub fn event(
    conn: &mut DbConn,
    claim: &Claim,
    kind: &'static str,
    summary: String,
    actor_org_id: Option<&OrgId>,
    extra: serde_json::Value,
) -> Result<(), ApiError> {
    let mut details = serde_json::json!({
        "uit_window_id": claim.uit_window_id,
        "device_set_id": claim.device_set_id,
        "device_set_name": claim.device_set_name,
        "org_id": claim.org_id,
        "org_name": claim.org_name,
    });
    if let (Some(details), Some(extra)) = (details.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            details.insert(k.clone(), v.clone());
        }
    }
    let mut event = NewEvent::new(Topic::UitWindows, kind, "claim", &claim.id, summary)
        .details(details)
        .windows(vec![claim.uit_window_id.clone()])
        // Claims are visible to every member; the window's participants are who care.
        .audience(Audience::WindowParticipants {
            window_id: claim.uit_window_id.clone(),
            org_ids: vec![claim.org_id.clone()],
        });
    if let Some(org) = actor_org_id {
        event = event.actor(org);
    }
    events::record(conn, event)?;
    Ok(())
}

/// Queues `template` about `claim` to every admin and member (not viewer) of the claim's
/// organisation; `vars` adds to the claim's names and links. Returns how many were queued.
pub fn email_holder(
    conn: &mut DbConn,
    claim: &Claim,
    template: Template,
    public_url: &str,
    vars: &[(&str, &str)],
) -> Result<usize, ApiError> {
    let recipients: Vec<String> = users::table
        .filter(users::org_id.eq(&claim.org_id))
        .filter(users::role.eq_any([Role::Admin.as_str(), Role::Member.as_str()]))
        .select(users::email)
        .order(users::email.asc())
        .load(conn)?;
    let public_url = public_url.trim_end_matches('/');
    let window_url = format!("{public_url}/windows/{}", claim.uit_window_id);
    let mut all = vec![
        ("org_name", claim.org_name.as_str()),
        ("device_set", claim.device_set_name.as_str()),
        ("window", claim.uit_window_name.as_str()),
        ("window_url", window_url.as_str()),
        ("public_url", public_url),
    ];
    all.extend_from_slice(vars);
    let rendered = mail::render(template, &all);
    for email in &recipients {
        mail::enqueue(conn, email, &rendered)?;
    }
    Ok(recipients.len())
}
