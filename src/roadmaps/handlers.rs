use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::announce::announce;
use super::model::{self, ItemFilter, Order, RoadmapItem, RoadmapRow, Viewer};
use super::{RoadmapCategory, RoadmapChangeKind, RoadmapStatus, RoadmapVisibility};
use crate::audit;
use crate::auth::{AuthContext, Caller, Capability};
use crate::catalogue::model as catalogue;
use crate::catalogue::{authorise_owner, nullable};
use crate::db::{new_id, now, DbConn, DeviceModelId, OrgId};
use crate::http::etag::{patch_tagged, tagged, write_no_content, IfMatch};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::json::Json;
use crate::http::pagination::{keyed, list_page, list_query, Page};
use crate::http::responses::*;
use crate::http::validate::Validator;
use crate::http::ApiError;
use crate::http::ErrorCode;
use crate::AppState;

const MAX_VERSION: usize = 100;
const MAX_SUMMARY: usize = 2000;

/// 400 unless `from` and `to` are dates with four-digit years; 422 when `to` is before `from`.
pub fn check_range(from: Option<NaiveDate>, to: Option<NaiveDate>) -> Result<(), ApiError> {
    for d in [from, to].into_iter().flatten() {
        if !(0..=9999).contains(&d.year()) {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidQuery,
                "from and to must be dates with a four-digit year (YYYY-MM-DD).",
            ));
        }
    }
    if let (Some(from), Some(to)) = (from, to) {
        if from > to {
            return Err(ApiError::invalid_field("to", "must not be before from"));
        }
    }
    Ok(())
}

/// Item `id`, locked, for a change by its product's owner or the operator: 404 when the
/// caller cannot see it, 403 when it may not change it, 412 unless `If-Match` names its
/// version. Returns the item and its product.
fn to_change(
    conn: &mut DbConn,
    ctx: &AuthContext,
    id: &str,
    if_match: &IfMatch,
) -> Result<(RoadmapRow, catalogue::DeviceModelRow), ApiError> {
    crate::db::lock_row(conn, crate::db::Lockable::RoadmapItems, id)?;
    let viewer = Viewer::of(conn, ctx)?;
    let (row, product) = model::find_visible(conn, &viewer, id)?;
    authorise_owner(ctx, &product.manufacturer_org_id, product.device_type)?;
    if_match.check(row.version)?;
    Ok((row, product))
}

fn check_fields(v: &mut Validator, version: Option<&str>, summary: Option<&str>, date: Option<NaiveDate>) {
    if let Some(version) = version {
        v.text("planned_version", version, MAX_VERSION);
    }
    if let Some(summary) = summary {
        v.text("summary", summary, MAX_SUMMARY);
    }
    if let Some(date) = date {
        crate::releases::model::check_year(v, "planned_date", date.year());
    }
}

list_query! {
    pub struct RoadmapItemQuery {
        #[param(value_type = Option<String>)]
        pub device_model_id: Option<DeviceModelId>,
        /// The product's manufacturer (the item's owner).
        #[param(value_type = Option<String>)]
        pub manufacturer_org_id: Option<OrgId>,
        /// Planned on or after this date (undated items drop out).
        pub from: Option<NaiveDate>,
        /// Planned on or before this date (undated items drop out).
        pub to: Option<NaiveDate>,
        pub status: Option<RoadmapStatus>,
    }
}

/// List roadmap items
///
/// Only the items you may see: your organisation's own, `industry` ones, `participants` ones
/// while your organisation takes part in an open UIT window, and all of them for the operator.
/// Ordered by id. `to` before `from` is 422.
#[utoipa::path(
    tag = "roadmaps",
    operation_id = "listRoadmapItems",
    params(RoadmapItemQuery),
    responses(
        (status = 200, description = "A page of roadmap items", body = Page<RoadmapItem>),
    ),
    security(("bearer" = []))
)]
#[get("/roadmap-items")]
pub async fn list_roadmap_items(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<RoadmapItemQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    check_range(q.from, q.to)?;
    let page = q.page()?;
    let filter = ItemFilter {
        device_model_id: q.device_model_id,
        owner_org_id: q.manufacturer_org_id,
        from: q.from,
        to: q.to,
        status: q.status,
    };
    list_page(&state.db, caller, &req, page, move |conn, ctx, after, fetch| {
        let viewer = Viewer::of(conn, &ctx)?;
        let rows = model::select(conn, &viewer, filter, Order::ById { after }, fetch)?;
        Ok(rows
            .into_iter()
            .map(|(row, product)| RoadmapItem::new(row, product.device_type))
            .collect())
    })
    .await
}

keyed!(RoadmapItem, id);

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRoadmapItem {
    /// The product; you must own it (or be the operator).
    #[schema(value_type = String)]
    pub device_model_id: DeviceModelId,
    #[schema(example = "1.11", min_length = 1, max_length = 100)]
    pub planned_version: String,
    /// When the version is planned; omit while undated.
    pub planned_date: Option<NaiveDate>,
    pub category: RoadmapCategory,
    #[schema(
        example = "Fixes the tariff switch defect DM-0042",
        min_length = 1,
        max_length = 2000
    )]
    pub summary: String,
    /// Default `proposed`.
    pub status: Option<RoadmapStatus>,
    /// Default `private`.
    pub visibility: Option<RoadmapVisibility>,
}

/// Add a roadmap item
///
/// The product's manufacturer (a Comms Hub service provider for its hubs) or the operator.
/// A shared item is announced to subscribers (`roadmap.published`).
#[utoipa::path(
    tag = "roadmaps",
    operation_id = "createRoadmapItem",
    request_body = NewRoadmapItem,
    params(crate::http::idempotency::IdempotencyKeyHeader),
    responses(
        (status = 201, description = "Created", body = RoadmapItem),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[post("/roadmap-items")]
pub async fn create_roadmap_item(
    state: web::Data<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    body: Json<NewRoadmapItem>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    check_new(&body)?;
    let idem = key.bind("POST /roadmap-items", &body);
    idempotency::create_as(&state.db, caller, idem, move |conn, ctx, once| {
        ctx.require(Capability::ManageRoadmaps)?;
        once.create(conn, |conn| create(conn, &ctx, &body))
    })
    .await
}

fn check_new(body: &NewRoadmapItem) -> Result<(), ApiError> {
    let mut v = Validator::new();
    check_fields(
        &mut v,
        Some(&body.planned_version),
        Some(&body.summary),
        body.planned_date,
    );
    v.finish()
}

/// Adds a roadmap item with its history entry, its announcement (when shared) and its audit
/// row. The product must exist (422) and the caller own it or be the operator (403).
pub fn create(conn: &mut DbConn, ctx: &AuthContext, body: &NewRoadmapItem) -> Result<RoadmapItem, ApiError> {
    let product = catalogue::find_model(conn, &body.device_model_id)?
        .ok_or_else(|| ApiError::invalid_field("device_model_id", "no such device model"))?;
    authorise_owner(ctx, &product.manufacturer_org_id, product.device_type)?;
    let now = now();
    let row = RoadmapRow {
        id: new_id(),
        device_model_id: product.id.clone(),
        owner_org_id: product.manufacturer_org_id.clone(),
        planned_version: body.planned_version.trim().to_string(),
        planned_date: body.planned_date,
        category: body.category,
        summary: body.summary.trim().to_string(),
        status: body.status.unwrap_or(RoadmapStatus::Proposed),
        visibility: body.visibility.unwrap_or(RoadmapVisibility::Private),
        deleted_at: None,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    model::insert(conn, &row)?;
    let item = RoadmapItem::new(row.clone(), product.device_type);
    model::record_history(conn, ctx, &row, &item, RoadmapChangeKind::Created)?;
    announce(conn, ctx, &product, None, &item)?;
    audit::created(conn, ctx, "roadmap_item.create", &item)?;
    Ok(item)
}

/// Get a roadmap item
///
/// 404 when it does not exist, was deleted, or is not visible to you.
#[utoipa::path(
    tag = "roadmaps",
    operation_id = "getRoadmapItem",
    params(("id" = String, Path, description = "Roadmap item id")),
    responses(
        (status = 200, description = "The roadmap item", body = RoadmapItem, headers(("ETag" = String))),
    ),
    security(("bearer" = []))
)]
#[get("/roadmap-items/{id}")]
pub async fn get_roadmap_item(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let (row, product) = state
        .db
        .read_as(caller, move |conn, ctx| {
            let viewer = Viewer::of(conn, &ctx)?;
            model::find_visible(conn, &viewer, &id)
        })
        .await?;
    Ok(tagged(row.version, &RoadmapItem::new(row, product.device_type)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoadmapItemPatch {
    #[schema(min_length = 1, max_length = 100)]
    pub planned_version: Option<String>,
    /// A new date, or `null` for undated. A move is announced (`roadmap.date_moved`).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    pub planned_date: Option<Option<NaiveDate>>,
    pub category: Option<RoadmapCategory>,
    #[schema(min_length = 1, max_length = 2000)]
    pub summary: Option<String>,
    /// Any status may follow any other; a change is announced (`roadmap.status_changed`).
    pub status: Option<RoadmapStatus>,
    /// Sharing a private item is announced (`roadmap.published`).
    pub visibility: Option<RoadmapVisibility>,
}

/// Update a roadmap item
///
/// The product's owner or the operator. Every change is kept in the item's history.
#[utoipa::path(
    tag = "roadmaps",
    operation_id = "updateRoadmapItem",
    request_body = RoadmapItemPatch,
    params(
        ("id" = String, Path, description = "Roadmap item id"),
        crate::http::etag::IfMatchHeader,
    ),
    responses(
        (status = 200, description = "Updated", body = RoadmapItem, headers(("ETag" = String))),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[patch("/roadmap-items/{id}")]
pub async fn update_roadmap_item(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    if_match: IfMatch,
    body: Json<RoadmapItemPatch>,
) -> Result<HttpResponse, ApiError> {
    let patch = body.into_inner();
    check_patch(&patch)?;
    patch_tagged(&state.db, caller, path, if_match, patch, update).await
}

fn check_patch(patch: &RoadmapItemPatch) -> Result<(), ApiError> {
    let mut v = Validator::new();
    check_fields(
        &mut v,
        patch.planned_version.as_deref(),
        patch.summary.as_deref(),
        patch.planned_date.flatten(),
    );
    v.finish()
}

/// Applies a patch; returns the row version and the item. An item the caller cannot see is
/// 404, one of another owner's products 403; `If-Match` must name the current version. A patch
/// that changes nothing writes nothing; otherwise the change goes into the item's history, is
/// announced to subscribers and audited.
pub fn update(
    conn: &mut DbConn,
    ctx: &AuthContext,
    id: &str,
    if_match: IfMatch,
    patch: RoadmapItemPatch,
) -> Result<(i64, RoadmapItem), ApiError> {
    let (before_row, product) = to_change(conn, ctx, id, &if_match)?;
    let before = RoadmapItem::new(before_row.clone(), product.device_type);
    let mut row = before_row.clone();
    if let Some(version) = patch.planned_version {
        row.planned_version = version.trim().to_string();
    }
    if let Some(date) = patch.planned_date {
        row.planned_date = date;
    }
    if let Some(category) = patch.category {
        row.category = category;
    }
    if let Some(summary) = patch.summary {
        row.summary = summary.trim().to_string();
    }
    if let Some(status) = patch.status {
        row.status = status;
    }
    if let Some(visibility) = patch.visibility {
        row.visibility = visibility;
    }
    let unchanged = row.planned_version == before_row.planned_version
        && row.planned_date == before_row.planned_date
        && row.category == before_row.category
        && row.summary == before_row.summary
        && row.status == before_row.status
        && row.visibility == before_row.visibility;
    if unchanged {
        return Ok((before_row.version, before));
    }
    let saved = model::update(conn, &row)?.ok_or_else(ApiError::precondition_failed)?;
    let after = RoadmapItem::new(saved.clone(), product.device_type);
    model::record_history(conn, ctx, &saved, &after, RoadmapChangeKind::Updated)?;
    announce(conn, ctx, &product, Some(&before), &after)?;
    audit::changed(conn, ctx, "roadmap_item.update", &before, &after)?;
    Ok((saved.version, after))
}

/// Delete a roadmap item
///
/// The product's owner or the operator. The item is kept with its history but is gone from
/// every read (404).
#[utoipa::path(
    tag = "roadmaps",
    operation_id = "deleteRoadmapItem",
    params(
        ("id" = String, Path, description = "Roadmap item id"),
        crate::http::etag::IfMatchHeader,
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[delete("/roadmap-items/{id}")]
pub async fn delete_roadmap_item(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    write_no_content(&state.db, caller, move |conn, ctx| {
        let (before_row, product) = to_change(conn, &ctx, &id, &if_match)?;
        let before = RoadmapItem::new(before_row.clone(), product.device_type);
        let mut row = before_row;
        row.deleted_at = Some(now());
        let saved = model::update(conn, &row)?.ok_or_else(ApiError::precondition_failed)?;
        let last = RoadmapItem::new(saved.clone(), product.device_type);
        model::record_history(conn, &ctx, &saved, &last, RoadmapChangeKind::Deleted)?;
        audit::deleted(conn, &ctx, "roadmap_item.delete", &before)?;
        Ok(())
    })
    .await
}
