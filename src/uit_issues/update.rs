//! Editing a UIT issue and passing it to another resolving party.

use super::handlers::{history_row, IssuePatch};
use super::model::{self, IssueRow, IssueStatus, Party, UitIssue};
use super::notify::{self, Names};
use super::raise::check_resolver;
use crate::audit;
use crate::auth::{AuthContext, Capability};
use crate::db::{now, DbConn};
use crate::http::etag::IfMatch;
use crate::http::ApiError;
use crate::http::ErrorCode;

/// Applies a patch with its events, history step, email and audit row; answers the issue and
/// how many emails were queued. The issue must be visible (404); title, description and
/// severity are the raising organisation's or the operator's, passing the issue on also the
/// resolving organisation's (403); `If-Match` must name the current version; only an `open`
/// or `triaged` issue is passed on (422 `uit_issue_not_pending`), to a party that can resolve
/// issues, and it goes back to `open`. A patch that changes nothing answers the issue as it is.
pub fn apply(
    conn: &mut DbConn,
    ctx: &AuthContext,
    id: &str,
    if_match: IfMatch,
    patch: IssuePatch,
    public_url: &str,
) -> Result<(UitIssue, usize), ApiError> {
    ctx.require(Capability::Participate)?;
    let before = model::find_visible(conn, ctx, id)?;
    let edits = patch.title.is_some() || patch.description.is_some() || patch.severity.is_some();
    if edits && !before.acts_as(ctx, Party::Raiser) {
        return Err(ApiError::forbidden(
            "Only the organisation that raised the issue (or the operator) changes its title, description or severity.",
        ));
    }
    let reassign = patch
        .resolving_org_id
        .as_ref()
        .filter(|o| **o != before.resolving_org_id);
    if reassign.is_some() && !before.acts_as(ctx, Party::Raiser) && !before.acts_as(ctx, Party::Resolver) {
        return Err(ApiError::forbidden(
            "Only the raising organisation, the resolving organisation or the operator passes an issue on.",
        ));
    }
    if_match.check(before.version)?;
    let before_view = model::view(conn, ctx, before.clone())?;
    let mut after = before.clone();
    if let Some(t) = &patch.title {
        after.title = t.trim().to_string();
    }
    if let Some(d) = &patch.description {
        after.description = d.clone();
    }
    if let Some(s) = patch.severity {
        after.severity = s;
    }
    if let Some(org) = reassign {
        if !before.status.is_pending() {
            return Err(ApiError::unprocessable(
                ErrorCode::UitIssueNotPending,
                format!(
                    "The issue is {}; only an open or triaged issue is passed to another resolving party.",
                    before.status
                ),
            )
            .with_context(serde_json::json!({ "status": before.status })));
        }
        check_resolver(conn, org)?;
        after.resolving_org_id = org.clone();
        after.status = IssueStatus::Open;
    }
    if after == before {
        return Ok((before_view, 0));
    }
    after.updated_at = now();
    after.version = before.version + 1;
    if !model::update(conn, &after)? {
        return Err(ApiError::precondition_failed());
    }
    let names = notify::names(conn, &after)?;
    let mut emailed = 0;
    announce_edits(conn, ctx, &before, &after, &names)?;
    if before.resolving_org_id != after.resolving_org_id {
        emailed = pass_on(conn, ctx, &before, &after, &names, public_url)?;
    }
    let view = model::view(conn, ctx, after)?;
    audit::changed(conn, ctx, "uit_issue.update", &before_view, &view)?;
    Ok((view, emailed))
}

/// Tells subscribers which of title, description and severity changed (`uit_issue.updated`),
/// when any did.
fn announce_edits(
    conn: &mut DbConn,
    ctx: &AuthContext,
    before: &IssueRow,
    after: &IssueRow,
    names: &Names,
) -> Result<(), ApiError> {
    let mut changed: Vec<&str> = Vec::new();
    for (field, differs) in [
        ("title", before.title != after.title),
        ("description", before.description != after.description),
        ("severity", before.severity != after.severity),
    ] {
        if differs {
            changed.push(field);
        }
    }
    if changed.is_empty() {
        return Ok(());
    }
    let severity = if before.severity != after.severity {
        format!(" (now {}, was {})", after.severity, before.severity)
    } else {
        String::new()
    };
    notify::record(
        conn,
        after,
        "uit_issue.updated",
        format!(
            "UIT issue \"{}\" in {} was edited: {}{severity}",
            after.title,
            names.window,
            changed.join(", ")
        ),
        &ctx.org_id,
        serde_json::json!({ "fields": changed, "from_severity": before.severity }),
    )?;
    Ok(())
}

/// Records passing the issue to another resolving party: a history step, the
/// `uit_issue.reassigned` event and the email to the new party's admins; answers how many
/// emails were queued.
fn pass_on(
    conn: &mut DbConn,
    ctx: &AuthContext,
    before: &IssueRow,
    after: &IssueRow,
    names: &Names,
    public_url: &str,
) -> Result<usize, ApiError> {
    let old = crate::organisations::model::find_org(conn, &before.resolving_org_id)?
        .map(|o| o.name)
        .unwrap_or_default();
    let comment = format!("Passed from {old} to {}", names.resolver);
    model::insert_history(conn, &history_row(after, ctx, Some(before.status), &comment))?;
    notify::record(
        conn,
        after,
        "uit_issue.reassigned",
        format!(
            "UIT issue \"{}\" in {} passed from {old} to {}",
            after.title, names.window, names.resolver
        ),
        &ctx.org_id,
        serde_json::json!({ "from_resolving_org_id": before.resolving_org_id, "from_status": before.status }),
    )?;
    notify::email_resolvers(conn, after, names, public_url)
}
