use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::{self, DefectMask, MaskFilter, MaskRow, MaskStatus, Severity};
use crate::audit;
use crate::auth::{AuthContext, Caller, Capability};
use crate::catalogue::model::{self as catalogue, DeviceModelRow};
use crate::catalogue::nullable;
use crate::db::schema::firmware_versions as fw;
use crate::db::{now, DbConn, DefectMaskId, DeviceModelId, FirmwareId};
use crate::events::{self, NewEvent, Topic};
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
    pub struct MaskQuery {
        #[param(value_type = Option<String>)]
        pub device_model_id: Option<DeviceModelId>,
        /// Masks that list this firmware as affected.
        #[param(value_type = Option<String>)]
        pub firmware_id: Option<FirmwareId>,
        pub status: Option<MaskStatus>,
    }
}

/// List defect masks
///
/// Defect masks are industry-visible.
#[utoipa::path(
    tag = "defect-masks",
    operation_id = "listDefectMasks",
    params(MaskQuery),
    responses(
        (status = 200, description = "A page of defect masks", body = Page<DefectMask>),
    ),
    security(("bearer" = []))
)]
#[get("/defect-masks")]
pub async fn list_defect_masks(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<MaskQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let page = q.page()?;
    let filter = MaskFilter {
        device_model_id: q.device_model_id,
        firmware_id: q.firmware_id,
        status: q.status,
    };
    list_page(&state.db, caller, &req, page, move |conn, _ctx, after, fetch| {
        let rows = model::list(conn, filter, after, fetch)?;
        Ok(model::views(conn, rows)?)
    })
    .await
}

keyed!(DefectMask, id);

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "DM-0042", "title": "Comms Hub replacement loses the PPMID binding", "description": "After a Comms Hub replacement the PPMID shows 'No connection' until it is paired again.", "severity": "major", "device_model_id": "0193a1c0-2d44-7e19-9b07-6a1f3c5e7d90", "affected_firmware_ids": ["0193a1c0-3a01-7c2e-8f11-0b2c4d6e8fa1"], "symptom": "PPMID shows 'No connection' after the hub swap.", "workaround": "Pair the PPMID again from the meter menu.", "status": "open"}))]
pub struct NewDefectMask {
    /// Unique, e.g. `DM-0042` (stored upper-case).
    pub code: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub severity: Severity,
    #[schema(value_type = String)]
    pub device_model_id: DeviceModelId,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub affected_firmware_ids: Vec<FirmwareId>,
    #[serde(default)]
    pub symptom: String,
    #[serde(default)]
    pub workaround: String,
    /// Default `open`.
    pub status: Option<MaskStatus>,
    #[schema(value_type = Option<String>)]
    pub fixed_in_firmware_id: Option<FirmwareId>,
}

fn valid_code(code: &str) -> bool {
    (2..=32).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && code.as_bytes()[0].is_ascii_alphanumeric()
}

fn check_texts(v: &mut Validator, title: &str, description: &str, symptom: &str, workaround: &str) {
    v.text("title", title, 200);
    for (field, value, max) in [
        ("description", description, 10_000),
        ("symptom", symptom, 4000),
        ("workaround", workaround, 4000),
    ] {
        if value.chars().count() > max {
            v.error(field, format!("must be at most {max} characters"));
        }
    }
}

/// Affected and fixed-in firmware must be versions of the mask's product.
fn check_firmware(
    conn: &mut DbConn,
    model_id: &DeviceModelId,
    affected: &[FirmwareId],
    fixed_in: Option<&FirmwareId>,
) -> Result<(), ApiError> {
    let mut wanted: Vec<FirmwareId> = affected.to_vec();
    wanted.extend(fixed_in.cloned());
    let found: Vec<(FirmwareId, DeviceModelId)> = fw::table
        .filter(fw::id.eq_any(&wanted))
        .select((fw::id, fw::device_model_id))
        .load(conn)?;
    let mut v = Validator::new();
    let mut check = |field: String, id: &FirmwareId| match found.iter().find(|(f, _)| f == id) {
        None => v.error(&field, "no such firmware"),
        Some((_, m)) if m != model_id => v.error(&field, "must be a firmware version of the mask's device model"),
        _ => {}
    };
    for (i, id) in affected.iter().enumerate() {
        check(format!("affected_firmware_ids[{i}]"), id);
    }
    if let Some(id) = fixed_in {
        check("fixed_in_firmware_id".into(), id);
    }
    v.finish()
}

fn scoped(event: NewEvent, product: &DeviceModelRow, ctx: &AuthContext) -> NewEvent {
    event.actor(&ctx.org_id).scope(
        vec![product.device_type.as_str().to_string()],
        vec![product.id.clone()],
        vec![product.manufacturer_org_id.clone()],
    )
}

pub fn load_one(conn: &mut DbConn, id: &str) -> Result<(DefectMask, i64), ApiError> {
    let row = model::find(conn, id)?.ok_or_else(ApiError::not_found)?;
    let version = row.version;
    let view = model::views(conn, vec![row])?.pop().ok_or_else(ApiError::not_found)?;
    Ok((view, version))
}

/// The checks of a new mask that need no database: its code (returned normalised, upper-case)
/// and its texts. 422 naming each bad field.
pub fn validate_new(body: &NewDefectMask) -> Result<String, ApiError> {
    let code = body.code.trim().to_uppercase();
    let mut v = Validator::new();
    if !valid_code(&code) {
        v.error(
            "code",
            "must be 2-32 letters, digits, hyphens or underscores, e.g. DM-0042",
        );
    }
    check_texts(&mut v, &body.title, &body.description, &body.symptom, &body.workaround);
    v.finish()?;
    Ok(code)
}

/// Publishes a mask owned by the caller's organisation, with its change event and audit row,
/// inside the caller's write transaction; `code` comes from [`validate_new`]. The one way a
/// mask is created (`POST /defect-masks`, and a UIT issue turned into a mask).
pub fn publish(conn: &mut DbConn, ctx: &AuthContext, body: &NewDefectMask, code: &str) -> Result<DefectMask, ApiError> {
    let product = catalogue::find_model(conn, &body.device_model_id)?
        .ok_or_else(|| ApiError::invalid_field("device_model_id", "no such device model"))?;
    if let Some(existing) = model::code_taken(conn, code)? {
        return Err(
            ApiError::conflict(ErrorCode::DefectMaskCodeTaken, "A defect mask with this code exists.")
                .with_context(serde_json::json!({ "existing_id": existing })),
        );
    }
    let mut affected = body.affected_firmware_ids.clone();
    affected.sort();
    affected.dedup();
    check_firmware(conn, &product.id, &affected, body.fixed_in_firmware_id.as_ref())?;
    let now = now();
    let row = MaskRow {
        id: DefectMaskId::new(),
        code: code.to_string(),
        title: body.title.trim().to_string(),
        description: body.description.clone(),
        severity: body.severity,
        device_model_id: product.id.clone(),
        symptom: body.symptom.clone(),
        workaround: body.workaround.clone(),
        status: body.status.unwrap_or(MaskStatus::Open),
        fixed_in_firmware_id: body.fixed_in_firmware_id.clone(),
        owner_org_id: ctx.org_id.clone(),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    diesel::insert_into(crate::db::schema::defect_masks::table)
        .values(&row)
        .execute(conn)?;
    model::replace_firmware(conn, &row.id, &affected)?;
    let summary = format!("Defect mask {} published for {}: {}", row.code, product.name, row.title);
    let details = serde_json::json!({ "code": row.code, "severity": row.severity, "status": row.status });
    events::record(
        conn,
        scoped(
            NewEvent::new(
                Topic::DefectMasks,
                "defect_mask.published",
                "defect_mask",
                &row.id,
                summary,
            )
            .details(details),
            &product,
            ctx,
        ),
    )?;
    let (view, _) = load_one(conn, &row.id)?;
    audit::created(conn, ctx, "defect_mask.create", &view)?;
    Ok(view)
}

/// Publish a defect mask
///
/// Any organisation that publishes results may publish a mask; it owns it.
#[utoipa::path(
    tag = "defect-masks",
    operation_id = "createDefectMask",
    request_body = NewDefectMask,
    params(crate::http::idempotency::IdempotencyKeyHeader),
    responses(
        (status = 201, description = "Published", body = DefectMask),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    ),
    security(("bearer" = []))
)]
#[post("/defect-masks")]
pub async fn create_defect_mask(
    state: web::Data<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    body: Json<NewDefectMask>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let code = validate_new(&body)?;
    let idem = key.bind("POST /defect-masks", &body);
    idempotency::create_as(&state.db, caller, idem, move |conn, ctx, once| {
        ctx.require(Capability::PublishDefectMasks)?;
        once.create(conn, |conn| publish(conn, &ctx, &body, &code))
    })
    .await
}

/// Get a defect mask
///
/// Defect masks are industry-visible; the `ETag` is the one `If-Match` on PATCH expects.
#[utoipa::path(
    tag = "defect-masks",
    operation_id = "getDefectMask",
    params(("id" = String, Path, description = "Defect mask id")),
    responses(
        (status = 200, description = "The defect mask", body = DefectMask, headers(("ETag" = String))),
    ),
    security(("bearer" = []))
)]
#[get("/defect-masks/{id}")]
pub async fn get_defect_mask(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<DefectMaskId>,
) -> Result<HttpResponse, ApiError> {
    read_tagged(&state.db, caller, move |conn, _ctx| {
        let (view, version) = load_one(conn, &path)?;
        Ok((version, view))
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefectMaskPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub severity: Option<Severity>,
    #[schema(value_type = Option<Vec<String>>)]
    pub affected_firmware_ids: Option<Vec<FirmwareId>>,
    pub symptom: Option<String>,
    pub workaround: Option<String>,
    /// Status changes notify subscribers.
    pub status: Option<MaskStatus>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub fixed_in_firmware_id: Option<Option<FirmwareId>>,
}

/// Update a defect mask
///
/// The owning organisation or the operator.
#[utoipa::path(
    tag = "defect-masks",
    operation_id = "updateDefectMask",
    request_body = DefectMaskPatch,
    params(
        ("id" = String, Path, description = "Defect mask id"),
        crate::http::etag::IfMatchHeader,
    ),
    responses(
        (status = 200, description = "Updated", body = DefectMask, headers(("ETag" = String))),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[patch("/defect-masks/{id}")]
pub async fn update_defect_mask(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<DefectMaskId>,
    if_match: IfMatch,
    body: Json<DefectMaskPatch>,
) -> Result<HttpResponse, ApiError> {
    patch_tagged(&state.db, caller, path, if_match, body.into_inner(), update).await
}

/// Applies a patch with its audit row; returns the row version and the view. The owning
/// organisation or the operator (with the capability to publish masks); `If-Match` must name
/// the current version; the texts are validated as they end up, and affected and fixed-in
/// firmware must be versions of the mask's product. A status change is announced
/// (`defect_mask.status_changed`), and so is a change of any other field
/// (`defect_mask.updated`, naming each field).
pub fn update(
    conn: &mut DbConn,
    ctx: &AuthContext,
    id: &str,
    if_match: IfMatch,
    patch: DefectMaskPatch,
) -> Result<(i64, DefectMask), ApiError> {
    let before = model::find(conn, id)?.ok_or_else(ApiError::not_found)?;
    ctx.owner_or_operator(
        &before.owner_org_id,
        Capability::PublishDefectMasks,
        "Only the owning organisation or the operator may change a mask.",
    )?;
    if_match.check(before.version)?;
    let before_view = model::views(conn, vec![before.clone()])?
        .pop()
        .ok_or_else(|| ApiError::internal("no row"))?;
    let mut after = before.clone();
    if let Some(v) = patch.title {
        after.title = v.trim().to_string();
    }
    if let Some(v) = patch.description {
        after.description = v;
    }
    if let Some(v) = patch.severity {
        after.severity = v;
    }
    if let Some(v) = patch.symptom {
        after.symptom = v;
    }
    if let Some(v) = patch.workaround {
        after.workaround = v;
    }
    if let Some(v) = patch.status {
        after.status = v;
    }
    if let Some(v) = patch.fixed_in_firmware_id {
        after.fixed_in_firmware_id = v;
    }
    let mut v = Validator::new();
    check_texts(
        &mut v,
        &after.title,
        &after.description,
        &after.symptom,
        &after.workaround,
    );
    v.finish()?;
    let affected = patch.affected_firmware_ids.map(|mut a| {
        a.sort();
        a.dedup();
        a
    });
    check_firmware(
        conn,
        &after.device_model_id,
        affected.as_deref().unwrap_or_default(),
        after.fixed_in_firmware_id.as_ref(),
    )?;
    if !model::update(conn, &after)? {
        return Err(ApiError::precondition_failed());
    }
    if let Some(affected) = &affected {
        model::replace_firmware(conn, &after.id, affected)?;
    }
    let mut told = Vec::new();
    if before.status != after.status {
        let summary = format!(
            "Defect mask {} is now {}, was {}",
            after.code, after.status, before.status
        );
        let details =
            serde_json::json!({ "field": "status", "from": before.status, "to": after.status, "code": after.code });
        let event = NewEvent::new(
            Topic::DefectMasks,
            "defect_mask.status_changed",
            "defect_mask",
            id,
            summary,
        );
        told.push(event.details(details));
    }
    let (view, version) = load_one(conn, id)?;
    told.extend(super::changes::event(conn, &before_view, &view)?);
    if !told.is_empty() {
        // One lookup of the product that scopes them (a patch does not move a mask).
        let product = catalogue::find_model(conn, &after.device_model_id)?.ok_or_else(ApiError::not_found)?;
        for event in told {
            events::record(conn, scoped(event, &product, ctx))?;
        }
    }
    audit::changed(conn, ctx, "defect_mask.update", &before_view, &view)?;
    Ok((version, view))
}
