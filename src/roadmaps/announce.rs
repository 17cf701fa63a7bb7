//! The change events of roadmap items, recorded in the transaction of the change.

use chrono::NaiveDate;

use super::model::RoadmapItem;
use super::RoadmapVisibility;
use crate::auth::AuthContext;
use crate::catalogue::model::DeviceModelRow;
use crate::db::DbConn;
use crate::events::{self, NewEvent, Topic};
use crate::http::ApiError;
use crate::notifications::audience::Audience;

/// Who may hear of a change to `item`: whom its visibility shows it to. A private item is told
/// to its owner organisation only, although the operator could read it: "private" is the
/// manufacturer's own plan.
pub fn audience(item: &RoadmapItem) -> Audience {
    let owner_org_id = item.owner_org_id.clone();
    match item.visibility {
        RoadmapVisibility::Industry => Audience::Industry,
        RoadmapVisibility::Participants => Audience::Participants { owner_org_id },
        RoadmapVisibility::Private => Audience::Owner { owner_org_id },
    }
}

fn show_date(d: Option<NaiveDate>) -> String {
    d.map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "no date".into())
}

/// Records what subscribers of roadmaps hear about a create or update, in its transaction:
/// `roadmap.published` when the item becomes shared (created shared, or private -> shared),
/// `roadmap.date_moved` and `roadmap.status_changed`. Each states the audience of the item's
/// `visibility` ([`audience`]), so the notifications fan-out tells only those who may see it.
pub fn announce(
    conn: &mut DbConn,
    ctx: &AuthContext,
    product: &DeviceModelRow,
    before: Option<&RoadmapItem>,
    after: &RoadmapItem,
) -> Result<(), ApiError> {
    let label = format!("{} firmware {}", product.name, after.planned_version);
    let facts = |field: &str, from: serde_json::Value, to: serde_json::Value| {
        serde_json::json!({
            "field": field,
            "from": from,
            "to": to,
            "device_model_id": after.device_model_id,
            "owner_org_id": after.owner_org_id,
            "planned_version": after.planned_version,
            "planned_date": after.planned_date,
            "category": after.category,
            "status": after.status,
            "visibility": after.visibility,
        })
    };
    let mut changes = Vec::new();
    let was_private = before.is_none_or(|b| b.visibility == RoadmapVisibility::Private);
    if was_private && after.visibility != RoadmapVisibility::Private {
        let audience = match after.visibility {
            RoadmapVisibility::Participants => "UIT window participants",
            _ => "the industry",
        };
        changes.push((
            "roadmap.published",
            format!(
                "{label} ({}) published to {audience}: planned for {}, {}",
                after.category.as_str().replace('_', " "),
                show_date(after.planned_date),
                after.status
            ),
            facts(
                "visibility",
                serde_json::json!(before.map(|b| b.visibility)),
                serde_json::json!(after.visibility),
            ),
        ));
    }
    if let Some(before) = before {
        if before.planned_date != after.planned_date {
            let summary = match after.planned_date {
                Some(_) => format!(
                    "{label} now planned for {}, was {}",
                    show_date(after.planned_date),
                    show_date(before.planned_date)
                ),
                None => format!(
                    "{label} no longer has a planned date, was {}",
                    show_date(before.planned_date)
                ),
            };
            changes.push((
                "roadmap.date_moved",
                summary,
                facts(
                    "planned_date",
                    serde_json::json!(before.planned_date),
                    serde_json::json!(after.planned_date),
                ),
            ));
        }
        if before.status != after.status {
            changes.push((
                "roadmap.status_changed",
                format!("{label} is now {}, was {}", after.status, before.status),
                facts(
                    "status",
                    serde_json::json!(before.status),
                    serde_json::json!(after.status),
                ),
            ));
        }
    }
    for (kind, summary, details) in changes {
        let event = NewEvent::new(Topic::Roadmaps, kind, "roadmap_item", &after.id, summary)
            .details(details)
            .scope(
                vec![product.device_type.as_str().to_string()],
                vec![product.id.clone()],
                vec![product.manufacturer_org_id.clone()],
            )
            .actor(&ctx.org_id)
            .audience(audience(after));
        events::record(conn, event)?;
    }
    Ok(())
}
