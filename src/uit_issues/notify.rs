//! What a change to a UIT issue tells others: its change event (topic `uit_issues`, heard by
//! the audience of `notifications::audience::Audience::WindowParticipants`), and on assignment an
//! email to the resolving organisation's admins through the mail outbox, both in the change's
//! own transaction.

use diesel::prelude::*;

use super::model::IssueRow;
use crate::db::schema::{organisations, uit_issue_device_sets as ids, uit_windows, users};
use crate::db::{DbConn, DeviceModelId, DeviceSetId, OrgId};
use crate::events::{self, NewEvent, Topic};
use crate::http::ApiError;
use crate::mail::{self, Template};
use crate::notifications::audience::Audience;

/// Names a change needs: the window's and the organisations'.
pub struct Names {
    pub window: String,
    pub raiser: String,
    pub resolver: String,
}

fn org_name(conn: &mut DbConn, id: &str) -> QueryResult<String> {
    Ok(organisations::table
        .find(id)
        .select(organisations::name)
        .first::<String>(conn)
        .optional()?
        .unwrap_or_else(|| "an organisation".into()))
}

pub fn names(conn: &mut DbConn, row: &IssueRow) -> QueryResult<Names> {
    let window = uit_windows::table
        .find(&row.window_id)
        .select(uit_windows::name)
        .first::<String>(conn)
        .optional()?
        .unwrap_or_else(|| "a UIT window".into());
    Ok(Names {
        window,
        raiser: org_name(conn, &row.raised_by_org_id)?,
        resolver: org_name(conn, &row.resolving_org_id)?,
    })
}

/// Records a change event about `row` as it is now, for the audience of `uit_issues::model::
/// visible_to` (the window's participants, the raising and resolving organisations, the
/// operator), scoped to the products of its device sets.
pub fn record(
    conn: &mut DbConn,
    row: &IssueRow,
    kind: &'static str,
    summary: String,
    actor_org_id: &OrgId,
    extra: serde_json::Value,
) -> Result<(), ApiError> {
    let mut details = serde_json::json!({
        "uit_window_id": row.window_id,
        "raised_by_org_id": row.raised_by_org_id,
        "resolving_org_id": row.resolving_org_id,
        "severity": row.severity,
        "status": row.status,
        "title": row.title,
    });
    if let (Some(details), Some(extra)) = (details.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            details.insert(k.clone(), v.clone());
        }
    }
    let set_ids: Vec<DeviceSetId> = ids::table
        .filter(ids::uit_issue_id.eq(&row.id))
        .select(ids::device_set_id)
        .load(conn)?;
    let products: Vec<(String, DeviceModelId, OrgId)> = crate::device_sets::composition::products(conn, &set_ids)?
        .into_values()
        .flatten()
        .collect();
    let (mut types, mut models, mut makers) = (Vec::new(), Vec::new(), Vec::new());
    for (t, m, o) in products {
        types.push(t);
        models.push(m);
        makers.push(o);
    }
    events::record(
        conn,
        NewEvent::new(Topic::UitIssues, kind, "uit_issue", &row.id, summary)
            .details(details)
            .actor(actor_org_id)
            .scope(types, models, makers)
            .windows(vec![row.window_id.clone()])
            .audience(Audience::WindowParticipants {
                window_id: row.window_id.clone(),
                org_ids: vec![row.raised_by_org_id.clone(), row.resolving_org_id.clone()],
            }),
    )?;
    Ok(())
}

/// Queues the assignment email to every admin of the resolving organisation; returns how
/// many were queued.
pub fn email_resolvers(conn: &mut DbConn, row: &IssueRow, names: &Names, public_url: &str) -> Result<usize, ApiError> {
    let admins: Vec<String> = users::table
        .filter(users::org_id.eq(&row.resolving_org_id))
        .filter(users::role.eq(crate::auth::Role::Admin.as_str()))
        .select(users::email)
        .order(users::email.asc())
        .load(conn)?;
    let public_url = public_url.trim_end_matches('/');
    let path = crate::notifications::email::page_path("uit_issue", &row.id).unwrap_or_default();
    let issue_url = format!("{public_url}{path}");
    let rendered = mail::render(
        Template::UitIssueAssigned,
        &[
            ("org_name", &names.resolver),
            ("raiser", &names.raiser),
            ("window", &names.window),
            ("title", &row.title),
            ("severity", row.severity.as_str()),
            ("description", &row.description),
            ("issue_url", &issue_url),
            ("public_url", public_url),
        ],
    );
    for email in &admins {
        mail::enqueue(conn, email, &rendered)?;
    }
    Ok(admins.len())
}
