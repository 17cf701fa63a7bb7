use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::{self, DeviceModelRow, Firmware, FirmwareStatus};
use super::{authorise_owner, list_of_product, nullable, retirement, version};
use crate::audit::{self};
use crate::auth::{AuthContext, Caller};
use crate::db::{DbConn, DeviceModelId, FirmwareId};
use crate::http::etag::{read_tagged, write_tagged, IfMatch};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::json::Json;
use crate::http::pagination::{keyed, list_query, Page};
use crate::http::responses::*;
use crate::http::validate::Validator;
use crate::http::ApiError;
use crate::http::ErrorCode;
use crate::AppState;

list_query! {
    pub struct FirmwareQuery {
        pub status: Option<FirmwareStatus>,
    }
}

/// List a product's firmware versions
///
/// In the order they were added; filter by `status`, e.g. the current `deployed` version.
#[utoipa::path(
    tag = "catalogue",
    operation_id = "listFirmware",
    params(("id" = String, Path, description = "Device model id"), FirmwareQuery),
    responses(
        (status = 200, description = "A page of firmware versions", body = Page<Firmware>),
    ),
    security(("bearer" = []))
)]
#[get("/device-models/{id}/firmware")]
pub async fn list_firmware(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<DeviceModelId>,
    query: web::Query<FirmwareQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let asked = (path.into_inner(), q.page()?);
    list_of_product(&state.db, caller, &req, asked, move |conn, product, after, fetch| {
        let rows = model::list_firmware(conn, &product.id, q.status, after, fetch)?;
        Ok(model::firmware_views(conn, rows, product)?)
    })
    .await
}

keyed!(Firmware, id);

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFirmware {
    #[schema(example = "3.10.2")]
    pub version: String,
    /// Default `planned`. Creating a version as `deployed` makes the current one `previous`.
    pub status: Option<FirmwareStatus>,
    pub released_on: Option<NaiveDate>,
    pub retirement_date: Option<NaiveDate>,
    /// A later version of the same product that replaces this one.
    pub successor_id: Option<String>,
    pub ota_upgradable: Option<bool>,
    /// Earlier versions of the same product that upgrade to this one in a single hop.
    #[serde(default)]
    pub upgrade_from: Vec<String>,
    #[serde(default)]
    pub notes: String,
}

fn validate_common(v: &mut Validator, notes: &str, released_on: Option<NaiveDate>, retirement: Option<NaiveDate>) {
    if notes.chars().count() > 4000 {
        v.error("notes", "must be at most 4000 characters");
    }
    if let (Some(released), Some(retires)) = (released_on, retirement) {
        if retires < released {
            v.error("retirement_date", "must not be before released_on");
        }
    }
}

/// Add a firmware version
///
/// The product's owner or the operator. Versions are unique per product.
#[utoipa::path(
    tag = "catalogue",
    operation_id = "createFirmware",
    request_body = NewFirmware,
    params(
        ("id" = String, Path, description = "Device model id"),
        crate::http::idempotency::IdempotencyKeyHeader,
    ),
    responses(
        (status = 201, description = "Created", body = Firmware),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    ),
    security(("bearer" = []))
)]
#[post("/device-models/{id}/firmware")]
pub async fn create_firmware(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<DeviceModelId>,
    key: IdempotencyKey,
    body: Json<NewFirmware>,
) -> Result<HttpResponse, ApiError> {
    let model_id = path.into_inner();
    let body = body.into_inner();
    check_new(&body)?;
    let idem = key.bind(&format!("POST /device-models/{model_id}/firmware"), &body);
    let notice_days = state.config.retirement_notice_days;
    idempotency::create_as(&state.db, caller, idem, move |conn, ctx, once| {
        let product = managed_product(conn, &ctx, &model_id)?;
        once.create(conn, |conn| create(conn, &ctx, &product, &body, notice_days))
    })
    .await
}

fn check_new(body: &NewFirmware) -> Result<(), ApiError> {
    let mut v = Validator::new();
    if !version::is_valid(&body.version) {
        v.error("version", "must be 1-64 characters with at least one digit");
    }
    validate_common(&mut v, &body.notes, body.released_on, body.retirement_date);
    v.finish()
}

/// What is checked before a replayed request could answer: the product exists (404) and the
/// caller may manage it (403).
fn managed_product(conn: &mut DbConn, ctx: &AuthContext, model_id: &DeviceModelId) -> Result<DeviceModelRow, ApiError> {
    let product = model::find_model(conn, model_id)?.ok_or_else(ApiError::not_found)?;
    authorise_owner(ctx, &product.manufacturer_org_id, product.device_type)?;
    Ok(product)
}

/// Adds a firmware version to `product` with its audit row and retirement events. A version
/// the product already has is 409 `firmware_exists`; the successor and upgrade sources must be
/// versions of the same product; creating it `deployed` makes the current deployed one
/// `previous`.
pub fn create(
    conn: &mut DbConn,
    ctx: &AuthContext,
    product: &DeviceModelRow,
    body: &NewFirmware,
    notice_days: i64,
) -> Result<Firmware, ApiError> {
    let model_id = &product.id;
    let version_text = body.version.trim();
    if let Some(existing) = model::version_taken(conn, model_id, version_text)? {
        return Err(
            ApiError::conflict(ErrorCode::FirmwareExists, "This product already has this version.")
                .with_context(serde_json::json!({ "existing_id": existing })),
        );
    }
    model::check_relations(
        conn,
        model_id,
        version_text,
        body.successor_id.as_deref(),
        Some(&body.upgrade_from),
    )?;
    let status = body.status.unwrap_or(FirmwareStatus::Planned);
    let mut row = model::new_firmware_row(model_id, version_text, status);
    row.released_on = body.released_on;
    row.retirement_date = body.retirement_date;
    row.successor_id = body.successor_id.clone();
    row.ota_upgradable = body.ota_upgradable.unwrap_or(true);
    row.notes = body.notes.clone();
    let demoted = match status {
        FirmwareStatus::Deployed => retirement::demote_current(conn, ctx, product, &row.id)?,
        _ => None,
    };
    model::insert_firmware(conn, &row)?;
    model::replace_upgrade_paths(conn, &row.id, &body.upgrade_from)?;
    retirement::events(conn, Some(&ctx.org_id), None, &row, product)?;
    retirement::announce_deploy(conn, ctx, product, &row.id, demoted, notice_days)?;
    let created = Firmware::new(row, product, body.upgrade_from.clone());
    audit::created(conn, ctx, "firmware.create", &created)?;
    Ok(created)
}

pub fn load_view(conn: &mut DbConn, id: &str) -> Result<(Firmware, i64), ApiError> {
    let (row, product) = model::find_firmware_with_model(conn, id)?.ok_or_else(ApiError::not_found)?;
    let version = row.row_version;
    let view = model::firmware_views(conn, vec![row], &product)?
        .pop()
        .ok_or_else(ApiError::not_found)?;
    Ok((view, version))
}

/// Get a firmware version
///
/// With its product, successor and single-hop upgrade sources; the `ETag` is the one
/// `If-Match` on PATCH expects.
#[utoipa::path(
    tag = "catalogue",
    operation_id = "getFirmware",
    params(("id" = String, Path, description = "Firmware id")),
    responses(
        (status = 200, description = "The firmware version", body = Firmware, headers(("ETag" = String))),
    ),
    security(("bearer" = []))
)]
#[get("/firmware/{id}")]
pub async fn get_firmware(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<FirmwareId>,
) -> Result<HttpResponse, ApiError> {
    read_tagged(&state.db, caller, move |conn, _ctx| {
        let (view, version) = load_view(conn, &path)?;
        Ok((version, view))
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FirmwarePatch {
    /// One step along planned -> in_test -> approved -> deployed -> previous -> retired, or
    /// `withdrawn` from any state before retired.
    pub status: Option<FirmwareStatus>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    pub released_on: Option<Option<NaiveDate>>,
    /// Setting, moving or clearing it notifies subscribers.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    pub retirement_date: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub successor_id: Option<Option<String>>,
    pub ota_upgradable: Option<bool>,
    /// Replaces the single-hop upgrade sources.
    pub upgrade_from: Option<Vec<String>>,
    pub notes: Option<String>,
}

/// Update a firmware version
///
/// The product's owner or the operator. Status moves follow the lifecycle (422 names the
/// allowed next states); deploying a version makes the current deployed one `previous`.
#[utoipa::path(
    tag = "catalogue",
    operation_id = "updateFirmware",
    request_body = FirmwarePatch,
    params(
        ("id" = String, Path, description = "Firmware id"),
        crate::http::etag::IfMatchHeader,
    ),
    responses(
        (status = 200, description = "Updated", body = Firmware, headers(("ETag" = String))),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[patch("/firmware/{id}")]
pub async fn update_firmware(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<FirmwareId>,
    if_match: IfMatch,
    body: Json<FirmwarePatch>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let patch = body.into_inner();
    let notice_days = state.config.retirement_notice_days;
    write_tagged(&state.db, caller, move |conn, ctx| {
        update(conn, &ctx, &id, if_match, patch, notice_days)
    })
    .await
}

/// Applies a patch with its audit row and retirement events; returns the row version and
/// the view. The product's owner or the operator; `If-Match` must name the current version;
/// status moves follow the lifecycle; the dates and notes are validated as they end up;
/// deploying a version makes the current deployed one `previous`.
pub fn update(
    conn: &mut DbConn,
    ctx: &AuthContext,
    id: &str,
    if_match: IfMatch,
    patch: FirmwarePatch,
    notice_days: i64,
) -> Result<(i64, Firmware), ApiError> {
    let (before, product) = model::find_firmware_with_model(conn, id)?.ok_or_else(ApiError::not_found)?;
    authorise_owner(ctx, &product.manufacturer_org_id, product.device_type)?;
    if_match.check(before.row_version)?;
    let before_view = model::firmware_views(conn, vec![before.clone()], &product)?
        .pop()
        .ok_or_else(|| ApiError::internal("no row"))?;
    let mut after = before.clone();
    if let Some(status) = patch.status {
        if status != before.status {
            before.status.check_move(status)?;
            after.status = status;
        }
    }
    if let Some(released_on) = patch.released_on {
        after.released_on = released_on;
    }
    if let Some(retirement) = patch.retirement_date {
        after.retirement_date = retirement;
    }
    if let Some(successor) = patch.successor_id {
        after.successor_id = successor;
    }
    if let Some(ota) = patch.ota_upgradable {
        after.ota_upgradable = ota;
    }
    if let Some(notes) = patch.notes {
        after.notes = notes;
    }
    let mut v = Validator::new();
    validate_common(&mut v, &after.notes, after.released_on, after.retirement_date);
    v.finish()?;
    let successor_changed = after.successor_id != before.successor_id;
    model::check_relations(
        conn,
        &product.id,
        &after.version,
        after.successor_id.as_deref().filter(|_| successor_changed),
        patch.upgrade_from.as_deref(),
    )?;
    let demoted = match after.status {
        FirmwareStatus::Deployed if before.status != FirmwareStatus::Deployed => {
            retirement::demote_current(conn, ctx, &product, &after.id)?
        }
        _ => None,
    };
    if !model::update_firmware(conn, &after)? {
        return Err(ApiError::precondition_failed());
    }
    if let Some(from) = &patch.upgrade_from {
        model::replace_upgrade_paths(conn, &after.id, from)?;
    }
    retirement::events(conn, Some(&ctx.org_id), Some(&before), &after, &product)?;
    retirement::announce_deploy(conn, ctx, &product, id, demoted, notice_days)?;
    let (view, version) = load_view(conn, id)?;
    audit::changed(conn, ctx, "firmware.update", &before_view, &view)?;
    Ok((version, view))
}
