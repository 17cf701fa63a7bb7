//! Roadmap items and their history: rows, API types, who sees what, and queries.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::{RoadmapCategory, RoadmapChangeKind, RoadmapStatus, RoadmapVisibility};
use crate::auth::AuthContext;
use crate::catalogue::model::{DeviceModelRow, DeviceType};
use crate::db::schema::{device_models, roadmap_item_history, roadmap_items, uit_windows, window_participants};
use crate::db::{new_id, now, DbConn, DeviceModelId, JsonText, OrgId, UserId};
use crate::http::ApiError;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = roadmap_items)]
pub struct RoadmapRow {
    pub id: String,
    pub device_model_id: DeviceModelId,
    pub owner_org_id: OrgId,
    pub planned_version: String,
    pub planned_date: Option<NaiveDate>,
    pub category: RoadmapCategory,
    pub summary: String,
    pub status: RoadmapStatus,
    pub visibility: RoadmapVisibility,
    pub deleted_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
}

/// A planned firmware version of a product.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoadmapItem {
    pub id: String,
    #[schema(value_type = String)]
    pub device_model_id: DeviceModelId,
    pub device_type: DeviceType,
    /// The product's manufacturer (or Comms Hub service provider).
    #[schema(value_type = String)]
    pub owner_org_id: OrgId,
    #[schema(example = "1.11")]
    pub planned_version: String,
    /// When the version is planned; null while undated.
    pub planned_date: Option<NaiveDate>,
    pub category: RoadmapCategory,
    #[schema(example = "Fixes the tariff switch defect DM-0042")]
    pub summary: String,
    pub status: RoadmapStatus,
    pub visibility: RoadmapVisibility,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl RoadmapItem {
    pub fn new(r: RoadmapRow, device_type: DeviceType) -> Self {
        Self {
            category: r.category,
            status: r.status,
            visibility: r.visibility,
            id: r.id,
            device_model_id: r.device_model_id,
            device_type,
            owner_org_id: r.owner_org_id,
            planned_version: r.planned_version,
            planned_date: r.planned_date,
            summary: r.summary,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

/// Who is reading, as far as roadmap visibility is concerned.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub org_id: OrgId,
    pub operator: bool,
    /// Takes part in a UIT window that is open now.
    pub participant: bool,
}

impl Viewer {
    /// The viewer for `org_id`, with its window participation as at `now`.
    pub fn load(conn: &mut DbConn, org_id: &OrgId, operator: bool, now: NaiveDateTime) -> QueryResult<Self> {
        let participant = !operator && takes_part_in_open_window(conn, org_id, now)?;
        Ok(Self {
            org_id: org_id.clone(),
            operator,
            participant,
        })
    }

    /// The signed-in caller, now.
    pub fn of(conn: &mut DbConn, ctx: &AuthContext) -> QueryResult<Self> {
        Self::load(conn, &ctx.org_id, ctx.is_operator(), now())
    }

    /// Whether an item that is not deleted may be shown.
    pub fn can_see(&self, row: &RoadmapRow) -> bool {
        self.admits(&row.owner_org_id, row.visibility)
    }

    /// The rule: an item of `owner_org_id` with `visibility` is shown to the operator, the
    /// owner, and those its visibility names.
    pub fn admits(&self, owner_org_id: &OrgId, visibility: RoadmapVisibility) -> bool {
        self.operator
            || owner_org_id == self.org_id
            || match visibility {
                RoadmapVisibility::Industry => true,
                RoadmapVisibility::Participants => self.participant,
                RoadmapVisibility::Private => false,
            }
    }

    /// Whether a kept state of an item (a history snapshot, an audit row's before or after:
    /// a serialised [`RoadmapItem`]) may be shown, by the visibility the item had then. A
    /// snapshot that does not say is the operator's alone.
    pub fn admits_snapshot(&self, snapshot: &serde_json::Value) -> bool {
        let text = |key: &str| snapshot.get(key).and_then(|v| v.as_str());
        match (text("owner_org_id"), text("visibility")) {
            (Some(owner), Some(visibility)) => self.admits(
                &OrgId::from(owner),
                RoadmapVisibility::parse(visibility).unwrap_or(RoadmapVisibility::Private),
            ),
            _ => self.operator,
        }
    }

    /// The visibilities shown to anyone but the owner.
    fn shared(&self) -> Vec<&'static str> {
        let mut shared = vec![RoadmapVisibility::Industry.as_str()];
        if self.participant {
            shared.push(RoadmapVisibility::Participants.as_str());
        }
        shared
    }
}

/// Whether `org_id` has joined a window that is open at `now` (not cancelled,
/// `opens_at <= now < closes_at`).
pub fn takes_part_in_open_window(conn: &mut DbConn, org_id: &OrgId, now: NaiveDateTime) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        window_participants::table
            .inner_join(uit_windows::table)
            .filter(window_participants::org_id.eq(org_id))
            .filter(uit_windows::cancelled_at.is_null())
            .filter(uit_windows::opens_at.le(now))
            .filter(uit_windows::closes_at.gt(now)),
    ))
    .get_result(conn)
}

/// What a list of items is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct ItemFilter {
    pub device_model_id: Option<DeviceModelId>,
    pub owner_org_id: Option<OrgId>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub status: Option<RoadmapStatus>,
}

/// How a list is ordered.
pub enum Order {
    /// By id, for cursor pages.
    ById { after: Option<String> },
    /// By planned date, then id; undated items are left out.
    ByDate,
}

/// The items `viewer` may see that match `filter`, with their products; deleted ones never.
pub fn select(
    conn: &mut DbConn,
    viewer: &Viewer,
    filter: ItemFilter,
    order: Order,
    limit: i64,
) -> QueryResult<Vec<(RoadmapRow, DeviceModelRow)>> {
    use roadmap_items::dsl as ri;
    let mut q = ri::roadmap_items
        .inner_join(device_models::table)
        .filter(ri::deleted_at.is_null())
        .select((RoadmapRow::as_select(), DeviceModelRow::as_select()))
        .into_boxed();
    if !viewer.operator {
        q = q.filter(
            ri::owner_org_id
                .eq(viewer.org_id.clone())
                .or(ri::visibility.eq_any(viewer.shared())),
        );
    }
    if let Some(model) = filter.device_model_id {
        q = q.filter(ri::device_model_id.eq(model));
    }
    if let Some(owner) = filter.owner_org_id {
        q = q.filter(ri::owner_org_id.eq(owner));
    }
    if let Some(from) = filter.from {
        q = q.filter(ri::planned_date.ge(from));
    }
    if let Some(to) = filter.to {
        q = q.filter(ri::planned_date.le(to));
    }
    if let Some(status) = filter.status {
        q = q.filter(ri::status.eq(status));
    }
    q = match order {
        Order::ById { after } => {
            if let Some(after) = after {
                q = q.filter(ri::id.gt(after));
            }
            q.order(ri::id.asc())
        }
        Order::ByDate => q
            .filter(ri::planned_date.is_not_null())
            .order((ri::planned_date.asc(), ri::id.asc())),
    };
    q.limit(limit).load(conn)
}

/// The item and its product when it exists, is not deleted and `viewer` may see it; otherwise
/// the one 404.
pub fn find_visible(conn: &mut DbConn, viewer: &Viewer, id: &str) -> Result<(RoadmapRow, DeviceModelRow), ApiError> {
    let found: Option<(RoadmapRow, DeviceModelRow)> = roadmap_items::table
        .inner_join(device_models::table)
        .filter(roadmap_items::id.eq(id))
        .filter(roadmap_items::deleted_at.is_null())
        .select((RoadmapRow::as_select(), DeviceModelRow::as_select()))
        .first(conn)
        .optional()?;
    match found {
        Some((row, model)) if viewer.can_see(&row) => Ok((row, model)),
        _ => Err(ApiError::not_found()),
    }
}

pub fn insert(conn: &mut DbConn, row: &RoadmapRow) -> QueryResult<()> {
    diesel::insert_into(roadmap_items::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// Saves every editable field and `deleted_at` when the row is still at `row.version`;
/// returns the saved row, or `None` when it moved on.
pub fn update(conn: &mut DbConn, row: &RoadmapRow) -> QueryResult<Option<RoadmapRow>> {
    let n = diesel::update(
        roadmap_items::table
            .find(&row.id)
            .filter(roadmap_items::version.eq(row.version)),
    )
    .set((
        roadmap_items::planned_version.eq(&row.planned_version),
        roadmap_items::planned_date.eq(row.planned_date),
        roadmap_items::category.eq(&row.category),
        roadmap_items::summary.eq(&row.summary),
        roadmap_items::status.eq(&row.status),
        roadmap_items::visibility.eq(&row.visibility),
        roadmap_items::deleted_at.eq(row.deleted_at),
        roadmap_items::updated_at.eq(now()),
        roadmap_items::version.eq(row.version + 1),
    ))
    .execute(conn)?;
    if n != 1 {
        return Ok(None);
    }
    roadmap_items::table
        .find(&row.id)
        .select(RoadmapRow::as_select())
        .first(conn)
        .optional()
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = roadmap_item_history)]
pub struct HistoryRow {
    pub id: String,
    pub roadmap_item_id: String,
    pub version: i64,
    pub change: RoadmapChangeKind,
    pub snapshot_json: JsonText<serde_json::Value>,
    pub changed_at: NaiveDateTime,
    pub changed_by_user_id: Option<UserId>,
    pub changed_by_org_id: Option<OrgId>,
}

/// One kept state of a roadmap item: what it looked like after the change, and who made it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoadmapItemChange {
    pub id: String,
    pub roadmap_item_id: String,
    /// The item's version after the change (its ETag then).
    pub version: i64,
    pub change: RoadmapChangeKind,
    /// The whole item after the change (for `deleted`, as it was when deleted).
    #[schema(value_type = RoadmapItem)]
    pub snapshot: serde_json::Value,
    pub changed_at: DateTime<Utc>,
    #[schema(value_type = Option<String>)]
    pub changed_by_user_id: Option<UserId>,
    #[schema(value_type = Option<String>)]
    pub changed_by_org_id: Option<OrgId>,
}

impl From<HistoryRow> for RoadmapItemChange {
    fn from(r: HistoryRow) -> Self {
        Self {
            change: r.change,
            snapshot: r.snapshot_json.0,
            id: r.id,
            roadmap_item_id: r.roadmap_item_id,
            version: r.version,
            changed_at: r.changed_at.and_utc(),
            changed_by_user_id: r.changed_by_user_id,
            changed_by_org_id: r.changed_by_org_id,
        }
    }
}

/// Keeps the item's state after a change; call inside the change's own transaction.
pub fn record_history(
    conn: &mut DbConn,
    ctx: &AuthContext,
    row: &RoadmapRow,
    item: &RoadmapItem,
    change: RoadmapChangeKind,
) -> Result<(), ApiError> {
    let entry = HistoryRow {
        id: new_id(),
        roadmap_item_id: row.id.clone(),
        version: row.version,
        change,
        snapshot_json: JsonText(serde_json::to_value(item)?),
        changed_at: row.updated_at,
        changed_by_user_id: Some(ctx.user_id.clone()),
        changed_by_org_id: Some(ctx.org_id.clone()),
    };
    diesel::insert_into(roadmap_item_history::table)
        .values(&entry)
        .execute(conn)?;
    Ok(())
}

/// An item's history, oldest first.
pub fn history(conn: &mut DbConn, item_id: &str, after: Option<String>, limit: i64) -> QueryResult<Vec<HistoryRow>> {
    let mut q = roadmap_item_history::table
        .filter(roadmap_item_history::roadmap_item_id.eq(item_id))
        .select(HistoryRow::as_select())
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(roadmap_item_history::id.gt(after));
    }
    q.order(roadmap_item_history::id.asc()).limit(limit).load(conn)
}
crate::audit::audited!(RoadmapItem, "roadmap_item", id, owner = owner_org_id);
crate::http::idempotency::located!(RoadmapItem, "/api/v1/roadmap-items", id);
