use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::{self, DeviceSet, DeviceSetRow, SetFilter};
use crate::audit::{self, Actor, Change};
use crate::auth::{AuthContext, Caller, Capability};
use crate::db::{now, DbConn, DeviceModelId, DeviceSetId, FirmwareId};
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
    pub struct DeviceSetQuery {
        /// Sets that contain this firmware version.
        #[param(value_type = Option<String>)]
        pub firmware_id: Option<FirmwareId>,
        /// Sets that contain any firmware of this product.
        #[param(value_type = Option<String>)]
        pub device_model_id: Option<DeviceModelId>,
        pub min_prevalence: Option<i64>,
    }
}

/// List device sets
///
/// Filter by a firmware version, a product or a minimum prevalence.
#[utoipa::path(
    tag = "device-sets",
    operation_id = "listDeviceSets",
    params(DeviceSetQuery),
    responses(
        (status = 200, description = "A page of device sets", body = Page<DeviceSet>),
    ),
    security(("bearer" = []))
)]
#[get("/device-sets")]
pub async fn list_device_sets(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<DeviceSetQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let page = q.page()?;
    let filter = SetFilter {
        firmware_id: q.firmware_id,
        device_model_id: q.device_model_id,
        min_prevalence: q.min_prevalence,
    };
    list_page(&state.db, caller, &req, page, move |conn, _ctx, after, fetch| {
        let rows = model::list(conn, filter, after, fetch)?;
        Ok(model::with_members(conn, rows)?)
    })
    .await
}

keyed!(DeviceSet, id);

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "North CH 2.3 + E470 1.9 + Glow IHD 6.1", "firmware_ids": ["0193a1c0-3a01-7c2e-8f11-0b2c4d6e8fa1", "0193a1c0-3a02-7d3f-9a22-1c3d5e7f9ab2", "0193a1c0-3a03-7e40-ab33-2d4e6f80abc3"], "prevalence": 412000}))]
pub struct NewDeviceSet {
    #[schema(example = "North CH 2.3 + EDMI ESME + Chameleon IHD")]
    pub name: String,
    /// Exactly one Comms Hub (CHF) firmware plus one or more device firmware.
    #[schema(value_type = Vec<String>)]
    pub firmware_ids: Vec<FirmwareId>,
    /// 0 to 100,000,000 (default 0).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 100_000_000)]
    pub prevalence: i64,
}

fn exists(existing_id: String) -> ApiError {
    ApiError::conflict(
        ErrorCode::DeviceSetExists,
        "A device set with exactly this membership exists.",
    )
    .with_context(serde_json::json!({ "existing_id": existing_id }))
}

/// Register a device set
///
/// Membership is the identity: the same firmware combination twice is 409 with the existing id.
#[utoipa::path(
    tag = "device-sets",
    operation_id = "createDeviceSet",
    request_body = NewDeviceSet,
    params(crate::http::idempotency::IdempotencyKeyHeader),
    responses(
        (status = 201, description = "Created", body = DeviceSet),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    ),
    security(("bearer" = []))
)]
#[post("/device-sets")]
pub async fn create_device_set(
    state: web::Data<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    body: Json<NewDeviceSet>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    check_new(&body)?;
    let lookup_key = model::membership_key(&body.firmware_ids);
    let idem = key.bind("POST /device-sets", &body);
    let created = idempotency::create_as(&state.db, caller, idem, move |conn, ctx, once| {
        ctx.require(Capability::ManageDeviceSets)?;
        once.create(conn, |conn| create(conn, &ctx, &body))
    })
    .await;
    match created {
        // Two registrations of one membership raced past the check (PostgreSQL): the unique
        // key turned the loser away; answer it as if the check had seen the winner.
        Err(e) if e.code == ErrorCode::DeviceSetExists && e.context.is_none() => {
            let found = state
                .db
                .run(move |conn| Ok(model::find_by_key(conn, &lookup_key)?))
                .await?;
            Err(found.map(exists).unwrap_or(e))
        }
        answer => answer,
    }
}

fn check_new(body: &NewDeviceSet) -> Result<(), ApiError> {
    let mut v = Validator::new();
    v.text("name", &body.name, 200);
    model::check_prevalence(&mut v, "prevalence", body.prevalence);
    v.finish()
}

/// Registers a device set owned by the caller's organisation, with its audit row. The
/// membership must be exactly one Comms Hub firmware plus one or more device firmware; a set
/// with exactly this membership already is 409 `device_set_exists` with its id.
pub fn create(conn: &mut DbConn, ctx: &AuthContext, body: &NewDeviceSet) -> Result<DeviceSet, ApiError> {
    let key_text = model::membership_key(&body.firmware_ids);
    let hub = model::check_membership(conn, &body.firmware_ids)?;
    if let Some(existing) = model::find_by_key(conn, &key_text)? {
        return Err(exists(existing));
    }
    let now = now();
    let row = DeviceSetRow {
        id: DeviceSetId::new(),
        name: body.name.trim().to_string(),
        membership_key: key_text,
        comms_hub_firmware_id: hub,
        prevalence: body.prevalence,
        created_by_org_id: ctx.org_id.clone(),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let mut members = body.firmware_ids.clone();
    members.sort();
    model::insert(conn, &row, &members)?;
    let set = model::with_members(conn, vec![row])?
        .pop()
        .ok_or_else(|| ApiError::internal("device set vanished"))?;
    audit::created(conn, ctx, "device_set.create", &set)?;
    Ok(set)
}

fn load(conn: &mut DbConn, id: &str) -> Result<(DeviceSet, i64), ApiError> {
    let row = model::find(conn, id)?.ok_or_else(ApiError::not_found)?;
    let version = row.version;
    let set = model::with_members(conn, vec![row])?
        .pop()
        .ok_or_else(ApiError::not_found)?;
    Ok((set, version))
}

/// Get a device set
///
/// The `ETag` is the one `If-Match` on PATCH expects.
#[utoipa::path(
    tag = "device-sets",
    operation_id = "getDeviceSet",
    params(("id" = String, Path, description = "Device set id")),
    responses(
        (status = 200, description = "The device set", body = DeviceSet, headers(("ETag" = String))),
    ),
    security(("bearer" = []))
)]
#[get("/device-sets/{id}")]
pub async fn get_device_set(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<DeviceSetId>,
) -> Result<HttpResponse, ApiError> {
    read_tagged(&state.db, caller, move |conn, _ctx| {
        let (set, version) = load(conn, &path)?;
        Ok((version, set))
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceSetPatch {
    pub name: Option<String>,
    /// 0 to 100,000,000.
    #[schema(minimum = 0, maximum = 100_000_000)]
    pub prevalence: Option<i64>,
}

/// Update a device set
///
/// Name and prevalence, by the registering organisation or the operator. The membership is
/// the set's identity and cannot change: register another set instead.
#[utoipa::path(
    tag = "device-sets",
    operation_id = "updateDeviceSet",
    request_body = DeviceSetPatch,
    params(
        ("id" = String, Path, description = "Device set id"),
        crate::http::etag::IfMatchHeader,
    ),
    responses(
        (status = 200, description = "Updated", body = DeviceSet, headers(("ETag" = String))),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[patch("/device-sets/{id}")]
pub async fn update_device_set(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<DeviceSetId>,
    if_match: IfMatch,
    body: Json<DeviceSetPatch>,
) -> Result<HttpResponse, ApiError> {
    let patch = body.into_inner();
    check_patch(&patch)?;
    patch_tagged(&state.db, caller, path, if_match, patch, update).await
}

fn check_patch(patch: &DeviceSetPatch) -> Result<(), ApiError> {
    let mut v = Validator::new();
    if let Some(name) = &patch.name {
        v.text("name", name, 200);
    }
    if let Some(prevalence) = patch.prevalence {
        model::check_prevalence(&mut v, "prevalence", prevalence);
    }
    v.finish()
}

/// Renames a set or sets its prevalence, with its audit row; returns the row version and the
/// set. The registering organisation or the operator (with the capability to manage
/// device sets); `If-Match` must name the current version.
pub fn update(
    conn: &mut DbConn,
    ctx: &AuthContext,
    id: &DeviceSetId,
    if_match: IfMatch,
    patch: DeviceSetPatch,
) -> Result<(i64, DeviceSet), ApiError> {
    let before = model::find(conn, id)?.ok_or_else(ApiError::not_found)?;
    ctx.owner_or_operator(
        &before.created_by_org_id,
        Capability::ManageDeviceSets,
        "Only the registering organisation or the operator may change a set.",
    )?;
    if_match.check(before.version)?;
    let mut after = before.clone();
    if let Some(name) = patch.name {
        after.name = name.trim().to_string();
    }
    if let Some(prevalence) = patch.prevalence {
        after.prevalence = prevalence;
    }
    if !model::update(conn, &after)? {
        return Err(ApiError::precondition_failed());
    }
    let (set, version) = load(conn, id)?;
    audit::record(
        conn,
        &Actor::from(ctx),
        Change::new("device_set.update", "device_set", id)
            .org(&before.created_by_org_id)
            .before(serde_json::json!({ "name": before.name, "prevalence": before.prevalence }))
            .after(serde_json::json!({ "name": set.name, "prevalence": set.prevalence })),
    )?;
    Ok((version, set))
}
