//! Reading roadmaps: an item's history, and the cross-product view for a date range.

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::handlers::check_range;
use super::model::{self, ItemFilter, Order, RoadmapItem, RoadmapItemChange, Viewer};
use crate::auth::{AuthContext, Caller};
use crate::catalogue::model::DeviceType;
use crate::db::{DbConn, DeviceModelId, OrgId};
use crate::http::pagination::{keyed, list_page, list_query, Page};
use crate::http::ApiError;
use crate::http::ErrorCode;
use crate::AppState;

/// Most items one roadmap view returns; a wider range is 422 `range_too_large`.
pub const MAX_VIEW_ITEMS: i64 = 5000;

list_query! {
    pub struct HistoryQuery {
    }
}

/// List a roadmap item's history
///
/// Every change, oldest first, each with the whole item as it was after the change and who
/// made it. Visible to those who may see the item now; 404 once it is deleted. Each entry is
/// shown only to those the item's visibility at that time admitted: what an item said while
/// it was private stays with its owner (and the operator) after it is shared.
#[utoipa::path(
    tag = "roadmaps",
    operation_id = "listRoadmapItemHistory",
    params(("id" = String, Path, description = "Roadmap item id"), HistoryQuery),
    responses(
        (status = 200, description = "A page of changes", body = Page<RoadmapItemChange>),
    ),
    security(("bearer" = []))
)]
#[get("/roadmap-items/{id}/history")]
pub async fn list_roadmap_item_history(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<HistoryQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let q = query.into_inner();
    list_page(&state.db, caller, &req, q.page()?, move |conn, ctx, after, fetch| {
        visible_history(conn, &ctx, &id, after, fetch)
    })
    .await
}

keyed!(RoadmapItemChange, id);

/// Up to `fetch` changes of roadmap item `id` after `after`, oldest first, each shown only if
/// the item's visibility at that change admits `ctx` (404 when `ctx` may not see the item now).
pub fn visible_history(
    conn: &mut DbConn,
    ctx: &AuthContext,
    id: &str,
    after: Option<String>,
    fetch: i64,
) -> Result<Vec<RoadmapItemChange>, ApiError> {
    let viewer = Viewer::of(conn, ctx)?;
    model::find_visible(conn, &viewer, id)?;
    // Each entry by the visibility its snapshot had: a private era stays private.
    let mut shown = Vec::new();
    let mut cursor = after;
    loop {
        let rows = model::history(conn, id, cursor.clone(), fetch)?;
        let exhausted = (rows.len() as i64) < fetch;
        for row in rows {
            cursor = Some(row.id.clone());
            let change = RoadmapItemChange::from(row);
            if viewer.admits_snapshot(&change.snapshot) {
                shown.push(change);
                if shown.len() as i64 >= fetch {
                    return Ok(shown);
                }
            }
        }
        if exhausted {
            return Ok(shown);
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RoadmapViewQuery {
    /// Planned on or after this date.
    pub from: Option<NaiveDate>,
    /// Planned on or before this date.
    pub to: Option<NaiveDate>,
}

/// One product's planned versions in the view.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoadmapProduct {
    #[schema(value_type = String)]
    pub device_model_id: DeviceModelId,
    pub device_model_name: String,
    pub device_type: DeviceType,
    #[schema(value_type = String)]
    pub manufacturer_org_id: OrgId,
    /// By planned date.
    pub items: Vec<RoadmapItem>,
}

/// The roadmap across all products
///
/// The dated items you may see, planned between `from` and `to` (both optional, inclusive),
/// grouped per product (by product name) and sorted by planned date. At most 5000 items: a
/// range holding more is 422 `range_too_large`.
#[utoipa::path(
    tag = "roadmaps",
    operation_id = "getRoadmap",
    params(RoadmapViewQuery),
    responses(
        (status = 200, description = "Products with their planned versions", body = Vec<RoadmapProduct>),
    ),
    security(("bearer" = []))
)]
#[get("/roadmap")]
pub async fn roadmap_view(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<RoadmapViewQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    check_range(q.from, q.to)?;
    let products = state
        .db
        .read_as(caller, move |conn, ctx| planned_by_product(conn, &ctx, q.from, q.to))
        .await?;
    Ok(HttpResponse::Ok().json(products))
}

/// The dated items `ctx` may see planned between `from` and `to`, grouped per product (by
/// product name, then id) and by planned date within each. More than [`MAX_VIEW_ITEMS`] is
/// 422 `range_too_large`.
pub fn planned_by_product(
    conn: &mut DbConn,
    ctx: &AuthContext,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Vec<RoadmapProduct>, ApiError> {
    let filter = ItemFilter {
        from,
        to,
        ..ItemFilter::default()
    };
    let viewer = Viewer::of(conn, ctx)?;
    let rows = model::select(conn, &viewer, filter, Order::ByDate, MAX_VIEW_ITEMS + 1)?;
    if rows.len() as i64 > MAX_VIEW_ITEMS {
        return Err(ApiError::unprocessable(
            ErrorCode::RangeTooLarge,
            format!("More than {MAX_VIEW_ITEMS} roadmap items are planned in this range; narrow from and to."),
        )
        .with_context(serde_json::json!({ "max_items": MAX_VIEW_ITEMS })));
    }
    let mut products: Vec<RoadmapProduct> = Vec::new();
    let mut at: std::collections::HashMap<DeviceModelId, usize> = std::collections::HashMap::new();
    for (row, product) in rows {
        let device_type = product.device_type;
        let index = *at.entry(product.id.clone()).or_insert_with(|| {
            products.push(RoadmapProduct {
                device_model_id: product.id.clone(),
                device_model_name: product.name.clone(),
                device_type,
                manufacturer_org_id: product.manufacturer_org_id.clone(),
                items: Vec::new(),
            });
            products.len() - 1
        });
        products[index].items.push(RoadmapItem::new(row, device_type));
    }
    products.sort_by(|a, b| {
        (a.device_model_name.as_str(), a.device_model_id.as_str())
            .cmp(&(b.device_model_name.as_str(), b.device_model_id.as_str()))
    });
    Ok(products)
}
