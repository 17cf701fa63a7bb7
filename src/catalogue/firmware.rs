use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::{self, DeviceModelRow, Firmware, FirmwareRow, FirmwareStatus};
use super::{authorise_owner, nullable, version};
use crate::audit::{self, Actor, Change};
use crate::auth::{AuthContext, Caller};
use crate::db::DbConn;
use crate::events::{self, NewEvent, Topic};
use crate::http::etag::{tagged, write_tagged, IfMatch};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::json::Json;
use crate::http::pagination::{keyed, list_page, list_query, Page};
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
    path: web::Path<String>,
    query: web::Query<FirmwareQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let model_id = path.into_inner();
    let q = query.into_inner();
    list_page(&state.db, caller, &req, q.page()?, move |conn, _ctx, after, fetch| {
        let product = model::find_model(conn, &model_id)?.ok_or_else(ApiError::not_found)?;
        let rows = model::list_firmware(conn, &model_id, q.status, after, fetch)?;
        Ok(model::firmware_views(conn, rows, &product)?)
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

/// Deploying a version makes the product's current `deployed` one `previous` (N becomes N-1).
fn demote_current(
    conn: &mut DbConn,
    ctx: &AuthContext,
    product: &DeviceModelRow,
    new_id: &str,
) -> Result<(), ApiError> {
    if let Some(current) = model::deployed_other_than(conn, &product.id, new_id)? {
        model::set_status(conn, &current.id, FirmwareStatus::Previous)?;
        audit::record(
            conn,
            &Actor::from(ctx),
            Change {
                action: "firmware.superseded",
                entity_type: "firmware",
                entity_id: &current.id,
                org_id: Some(&product.manufacturer_org_id),
                before: Some(serde_json::json!({ "status": "deployed" })),
                after: Some(serde_json::json!({ "status": "previous", "superseded_by": new_id })),
            },
        )?;
    }
    Ok(())
}

fn version_of(conn: &mut DbConn, id: Option<&str>) -> Result<Option<String>, ApiError> {
    Ok(match id {
        Some(id) => model::find_firmware(conn, id)?.map(|f| f.version),
        None => None,
    })
}

/// Records what subscribers of retirements care about: the retirement date set, moved or
/// cleared, and the version retired.
fn retirement_events(
    conn: &mut DbConn,
    ctx: &AuthContext,
    before: Option<&FirmwareRow>,
    after: &FirmwareRow,
    product: &DeviceModelRow,
) -> Result<(), ApiError> {
    let label = format!("{} ({}) firmware {}", product.name, product.device_type, after.version);
    let successor = version_of(conn, after.successor_id.as_deref())?;
    let replaced_by = successor
        .as_ref()
        .map(|s| format!("; its successor is {s}"))
        .unwrap_or_default();
    let old_date = before.and_then(|b| b.retirement_date);
    let date_event = match (old_date, after.retirement_date) {
        (None, Some(new)) => Some((
            "firmware.retirement_scheduled",
            format!("{label} will retire on {new}{replaced_by}"),
        )),
        (Some(old), Some(new)) if old != new => Some((
            "firmware.retirement_moved",
            format!("{label} now retires on {new}, was {old}{replaced_by}"),
        )),
        (Some(old), None) => Some((
            "firmware.retirement_cancelled",
            format!("{label} no longer retires on {old}"),
        )),
        _ => None,
    };
    let scope = |e: NewEvent| {
        e.actor(&ctx.org_id).scope(
            vec![product.device_type.as_str().to_string()],
            vec![product.id.clone()],
            vec![product.manufacturer_org_id.clone()],
        )
    };
    if let Some((kind, summary)) = date_event {
        let details = serde_json::json!({
            "field": "retirement_date", "from": old_date, "to": after.retirement_date,
            "version": after.version, "successor_id": after.successor_id, "successor_version": successor,
        });
        events::record(
            conn,
            scope(NewEvent::new(Topic::Retirements, kind, "firmware", &after.id, summary).details(details)),
        )?;
    }
    let was_retired = before.is_some_and(|b| b.status == FirmwareStatus::Retired);
    if after.status == FirmwareStatus::Retired && !was_retired && before.is_some() {
        let details = serde_json::json!({
            "field": "status", "from": before.map(|b| b.status), "to": "retired",
            "version": after.version, "successor_id": after.successor_id, "successor_version": successor,
        });
        let summary = format!("{label} is retired{replaced_by}");
        events::record(
            conn,
            scope(
                NewEvent::new(Topic::Retirements, "firmware.retired", "firmware", &after.id, summary).details(details),
            ),
        )?;
    }
    Ok(())
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
    path: web::Path<String>,
    key: IdempotencyKey,
    body: Json<NewFirmware>,
) -> Result<HttpResponse, ApiError> {
    let model_id = path.into_inner();
    let body = body.into_inner();
    check_new(&body)?;
    let idem = key.bind(&format!("POST /device-models/{model_id}/firmware"), &body);
    idempotency::create_as(&state.db, caller, idem, move |conn, ctx, once| {
        let product = managed_product(conn, &ctx, &model_id)?;
        once.create(conn, |conn| create(conn, &ctx, &product, &body))
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
fn managed_product(conn: &mut DbConn, ctx: &AuthContext, model_id: &str) -> Result<DeviceModelRow, ApiError> {
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
    if status == FirmwareStatus::Deployed {
        demote_current(conn, ctx, product, &row.id)?;
    }
    model::insert_firmware(conn, &row)?;
    model::replace_upgrade_paths(conn, &row.id, &body.upgrade_from)?;
    retirement_events(conn, ctx, None, &row, product)?;
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
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let (view, version) = state.db.read_as(caller, move |conn, _ctx| load_view(conn, &id)).await?;
    Ok(tagged(version, &view))
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
    path: web::Path<String>,
    if_match: IfMatch,
    body: Json<FirmwarePatch>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let patch = body.into_inner();
    write_tagged(&state.db, caller, move |conn, ctx| {
        update(conn, &ctx, &id, if_match, patch)
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
    if after.status == FirmwareStatus::Deployed && before.status != FirmwareStatus::Deployed {
        demote_current(conn, ctx, &product, &after.id)?;
    }
    if !model::update_firmware(conn, &after)? {
        return Err(ApiError::precondition_failed());
    }
    if let Some(from) = &patch.upgrade_from {
        model::replace_upgrade_paths(conn, id, from)?;
    }
    retirement_events(conn, ctx, Some(&before), &after, &product)?;
    let (view, version) = load_view(conn, id)?;
    audit::changed(conn, ctx, "firmware.update", &before_view, &view)?;
    Ok((version, view))
}
