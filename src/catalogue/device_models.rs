use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::authorise_owner;
use super::model::{self, DeviceModel, DeviceModelRow, DeviceType};
use crate::audit;
use crate::auth::{AuthContext, Caller};
use crate::db::{now, DbConn, DeviceModelId, OrgId};
use crate::http::etag::{patch_tagged, read_tagged, IfMatch};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::json::Json;
use crate::http::pagination::{keyed, list_page, list_query, Page};
use crate::http::responses::*;
use crate::http::validate::Validator;
use crate::http::ApiError;
use crate::http::ErrorCode;
use crate::AppState;

list_query! {
    pub struct DeviceModelQuery {
        pub device_type: Option<DeviceType>,
        #[param(value_type = Option<String>)]
        pub manufacturer_org_id: Option<OrgId>,
    }
}

/// List device models
///
/// The catalogue is readable by every signed-in user.
#[utoipa::path(
    tag = "catalogue",
    operation_id = "listDeviceModels",
    params(DeviceModelQuery),
    responses(
        (status = 200, description = "A page of device models", body = Page<DeviceModel>),
    ),
    security(("bearer" = []))
)]
#[get("/device-models")]
pub async fn list_device_models(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<DeviceModelQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    list_page(&state.db, caller, &req, q.page()?, move |conn, _ctx, after, fetch| {
        let rows = model::list_models(conn, q.device_type, q.manufacturer_org_id, after, fetch)?;
        Ok(rows.into_iter().map(DeviceModel::from).collect())
    })
    .await
}

keyed!(DeviceModel, id);

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDeviceModel {
    /// The manufacturer (or, for Comms Hubs, the service provider) that owns the product.
    #[schema(value_type = String)]
    pub manufacturer_org_id: OrgId,
    pub device_type: DeviceType,
    #[schema(example = "Aclara SGM1400")]
    pub name: String,
    #[schema(example = "HW 2.1")]
    pub hardware_version: String,
    #[serde(default)]
    pub cpl_listed: bool,
}

/// Create a device model
///
/// Manufacturers create their own products, Comms Hub service providers their Comms Hubs,
/// the operator any. The same manufacturer, name and hardware version twice is 409.
#[utoipa::path(
    tag = "catalogue",
    operation_id = "createDeviceModel",
    request_body = NewDeviceModel,
    params(crate::http::idempotency::IdempotencyKeyHeader),
    responses(
        (status = 201, description = "Created", body = DeviceModel),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    ),
    security(("bearer" = []))
)]
#[post("/device-models")]
pub async fn create_device_model(
    state: web::Data<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    body: Json<NewDeviceModel>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let idem = key.bind("POST /device-models", &body);
    idempotency::create_as(&state.db, caller, idem, move |conn, ctx, once| {
        check_new(&ctx, &body)?;
        once.create(conn, |conn| create(conn, &ctx, &body))
    })
    .await
}

/// What is checked before a replayed request could answer: the caller may own such a model,
/// and the texts fit.
fn check_new(ctx: &AuthContext, body: &NewDeviceModel) -> Result<(), ApiError> {
    authorise_owner(ctx, &body.manufacturer_org_id, body.device_type)?;
    let mut v = Validator::new();
    v.text("name", &body.name, 200);
    v.text("hardware_version", &body.hardware_version, 100);
    v.finish()
}

/// Creates a device model with its audit row. The owner must be a manufacturer, the operator,
/// or a service provider (of Comms Hubs only); the same manufacturer, name and hardware
/// version twice is 409 `device_model_exists`.
pub fn create(conn: &mut DbConn, ctx: &AuthContext, body: &NewDeviceModel) -> Result<DeviceModel, ApiError> {
    match model::org_kind(conn, &body.manufacturer_org_id)?.as_deref() {
        Some("manufacturer" | "operator") => {}
        Some("service_provider") if body.device_type == DeviceType::Chf => {}
        Some("service_provider") => {
            return Err(ApiError::invalid_field(
                "device_type",
                "service providers own Comms Hubs (CHF) only",
            ))
        }
        Some(_) => {
            return Err(ApiError::invalid_field(
                "manufacturer_org_id",
                "must be a manufacturer, a service provider or the operator",
            ))
        }
        None => return Err(ApiError::invalid_field("manufacturer_org_id", "no such organisation")),
    }
    let (name, hw) = (body.name.trim(), body.hardware_version.trim());
    if let Some(existing) = model::existing_model(conn, &body.manufacturer_org_id, name, hw)? {
        return Err(ApiError::conflict(
            ErrorCode::DeviceModelExists,
            "This manufacturer already has a model with this name and hardware version.",
        )
        .with_context(serde_json::json!({ "existing_id": existing })));
    }
    let now = now();
    let row = DeviceModelRow {
        id: DeviceModelId::new(),
        manufacturer_org_id: body.manufacturer_org_id.clone(),
        device_type: body.device_type,
        name: name.to_string(),
        hardware_version: hw.to_string(),
        cpl_listed: body.cpl_listed,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    model::insert_model(conn, &row)?;
    let created = DeviceModel::from(row);
    audit::created(conn, ctx, "device_model.create", &created)?;
    Ok(created)
}

/// Get a device model
///
/// The `ETag` is the one `If-Match` on PATCH expects.
#[utoipa::path(
    tag = "catalogue",
    operation_id = "getDeviceModel",
    params(("id" = String, Path, description = "Device model id")),
    responses(
        (status = 200, description = "The device model", body = DeviceModel, headers(("ETag" = String))),
    ),
    security(("bearer" = []))
)]
#[get("/device-models/{id}")]
pub async fn get_device_model(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<DeviceModelId>,
) -> Result<HttpResponse, ApiError> {
    read_tagged(&state.db, caller, move |conn, _ctx| {
        let row = model::find_model(conn, &path)?.ok_or_else(ApiError::not_found)?;
        Ok((row.version, DeviceModel::from(row)))
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceModelPatch {
    pub name: Option<String>,
    pub hardware_version: Option<String>,
    pub cpl_listed: Option<bool>,
}

/// Update a device model
///
/// The owner or the operator. The device type and owner cannot change.
#[utoipa::path(
    tag = "catalogue",
    operation_id = "updateDeviceModel",
    request_body = DeviceModelPatch,
    params(
        ("id" = String, Path, description = "Device model id"),
        crate::http::etag::IfMatchHeader,
    ),
    responses(
        (status = 200, description = "Updated", body = DeviceModel, headers(("ETag" = String))),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    ),
    security(("bearer" = []))
)]
#[patch("/device-models/{id}")]
pub async fn update_device_model(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<DeviceModelId>,
    if_match: IfMatch,
    body: Json<DeviceModelPatch>,
) -> Result<HttpResponse, ApiError> {
    let patch = body.into_inner();
    check_patch(&patch)?;
    patch_tagged(&state.db, caller, path, if_match, patch, update).await
}

fn check_patch(patch: &DeviceModelPatch) -> Result<(), ApiError> {
    let mut v = Validator::new();
    if let Some(name) = &patch.name {
        v.text("name", name, 200);
    }
    if let Some(hw) = &patch.hardware_version {
        v.text("hardware_version", hw, 100);
    }
    v.finish()
}

/// Applies a patch with its audit row; returns the row version and the model. The owner or the operator; `If-Match` must name the
/// current version; a name and hardware version the manufacturer already has is 409
/// `device_model_exists`.
pub fn update(
    conn: &mut DbConn,
    ctx: &AuthContext,
    id: &DeviceModelId,
    if_match: IfMatch,
    patch: DeviceModelPatch,
) -> Result<(i64, DeviceModel), ApiError> {
    let before = model::find_model(conn, id)?.ok_or_else(ApiError::not_found)?;
    authorise_owner(ctx, &before.manufacturer_org_id, before.device_type)?;
    if_match.check(before.version)?;
    let mut after = before.clone();
    if let Some(name) = patch.name {
        after.name = name.trim().to_string();
    }
    if let Some(hw) = patch.hardware_version {
        after.hardware_version = hw.trim().to_string();
    }
    if let Some(cpl) = patch.cpl_listed {
        after.cpl_listed = cpl;
    }
    if let Some(existing) =
        model::existing_model(conn, &after.manufacturer_org_id, &after.name, &after.hardware_version)?
    {
        if existing != id {
            return Err(ApiError::conflict(
                ErrorCode::DeviceModelExists,
                "This manufacturer already has a model with this name and hardware version.",
            )
            .with_context(serde_json::json!({ "existing_id": existing })));
        }
    }
    if !model::update_model(conn, &after)? {
        return Err(ApiError::precondition_failed());
    }
    let saved = model::find_model(conn, id)?.ok_or_else(ApiError::not_found)?;
    let version = saved.version;
    let after = DeviceModel::from(saved);
    audit::changed(conn, ctx, "device_model.update", &DeviceModel::from(before), &after)?;
    Ok((version, after))
}
