//! What a release update tells subscribers of `releases`: a target date set, moved or
//! cleared, and firmware added to or dropped from the release, scoped to the products
//! involved.

use chrono::NaiveDate;

use super::model::{self, ProductScope, Release};
use crate::auth::AuthContext;
use crate::catalogue::labels;
use crate::db::{DbConn, ReleaseId};
use crate::events::{self, NewEvent, Topic};
use crate::http::ApiError;

fn show_date(d: Option<NaiveDate>) -> String {
    d.map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "none".into())
}

/// Tells subscribers to `releases` (scoped to the release's products) that the target date
/// was set, moved or cleared.
pub fn date_change(
    conn: &mut DbConn,
    ctx: &AuthContext,
    id: &ReleaseId,
    before: &Release,
    after: &Release,
) -> Result<(), ApiError> {
    let summary = match (before.target_date, after.target_date) {
        (Some(_), Some(_)) => format!(
            "Release {} target date moved from {} to {}",
            after.name,
            show_date(before.target_date),
            show_date(after.target_date)
        ),
        (None, _) => format!(
            "Release {} target date set to {}",
            after.name,
            show_date(after.target_date)
        ),
        (_, None) => format!(
            "Release {} target date cleared, was {}",
            after.name,
            show_date(before.target_date)
        ),
    };
    let scope = model::product_scope(conn, id)?;
    events::record(
        conn,
        scope.apply(
            NewEvent::new(Topic::Releases, "release.date_changed", "release", id, summary)
                .details(serde_json::json!({
                    "field": "target_date",
                    "from": before.target_date,
                    "to": after.target_date,
                }))
                .actor(&ctx.org_id),
        ),
    )?;
    Ok(())
}

/// Tells subscribers that the release's firmware list changed, with what it added and dropped;
/// scoped to the products of the list before and after, so a product that leaves is told.
pub fn firmware_change(
    conn: &mut DbConn,
    ctx: &AuthContext,
    before: &Release,
    after: &Release,
    scope_before: ProductScope,
) -> Result<(), ApiError> {
    let (added, removed, words) = labels::list_change(conn, &before.firmware_ids, &after.firmware_ids)?;
    let summary = format!("Release {} firmware changed: {words}", after.name);
    let scope = scope_before.merge(model::product_scope(conn, &after.id)?);
    events::record(
        conn,
        scope.apply(
            NewEvent::new(
                Topic::Releases,
                "release.firmware_changed",
                "release",
                &after.id,
                summary,
            )
            .details(serde_json::json!({
                "field": "firmware_ids",
                "name": after.name,
                "added": added,
                "removed": removed,
                "from": before.firmware_ids,
                "to": after.firmware_ids,
            }))
            .actor(&ctx.org_id),
        ),
    )?;
    Ok(())
}
