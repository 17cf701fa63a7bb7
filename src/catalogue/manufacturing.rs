//! Manufacturing decisions (issue 13, part 7): which firmware version of a Comms Hub model is
//! manufactured from which date, announced to subscribers so that suppliers can plan what
//! their installers will receive. The decision in force is the one with the latest
//! `from_date` on or before today.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::{self, DeviceModelRow, DeviceType, FirmwareRow, FirmwareStatus};
use super::{authorise_owner, list_of_product};
use crate::audit;
use crate::auth::{AuthContext, Caller};
use crate::db::schema::{firmware_versions as fw, manufacturing_decisions as md};
use crate::db::{new_id, now, DbConn, DeviceModelId, FirmwareId, OrgId};
use crate::events::{self, NewEvent, Topic};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::json::Json;
use crate::http::pagination::{keyed, list_query, Page};
use crate::http::responses::*;
use crate::http::{ApiError, ErrorCode};
use crate::AppState;

/// The longest note a decision keeps.
const NOTE_MAX: usize = 2000;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = md)]
struct DecisionRow {
    id: String,
    device_model_id: DeviceModelId,
    firmware_id: FirmwareId,
    from_date: NaiveDate,
    note: String,
    decided_by_org_id: OrgId,
    created_at: NaiveDateTime,
}

/// Comms Hubs of a model are manufactured with a firmware version from a date.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ManufacturingDecision {
    pub id: String,
    #[schema(value_type = String)]
    pub device_model_id: DeviceModelId,
    /// The model's owner (its manufacturer or Comms Hub service provider).
    #[schema(value_type = String)]
    pub manufacturer_org_id: OrgId,
    #[schema(value_type = String)]
    pub firmware_id: FirmwareId,
    #[schema(example = "2.1")]
    pub firmware_version: String,
    /// From this date new Comms Hubs of the model are manufactured with this firmware.
    pub from_date: NaiveDate,
    /// The decision in force today: the latest `from_date` on or before today.
    pub current: bool,
    pub note: String,
    /// The organisation that recorded the decision: the model's owner or the operator.
    #[schema(value_type = String)]
    pub decided_by_org_id: OrgId,
    pub created_at: DateTime<Utc>,
}

keyed!(ManufacturingDecision, id);
crate::http::idempotency::located!(ManufacturingDecision, "/api/v1/manufacturing-decisions", id);
crate::audit::audited!(
    ManufacturingDecision,
    "manufacturing_decision",
    id,
    owner = manufacturer_org_id
);

fn view(row: DecisionRow, version: String, product: &DeviceModelRow, current: Option<&str>) -> ManufacturingDecision {
    ManufacturingDecision {
        current: current == Some(row.id.as_str()),
        id: row.id,
        device_model_id: row.device_model_id,
        manufacturer_org_id: product.manufacturer_org_id.clone(),
        firmware_id: row.firmware_id,
        firmware_version: version,
        from_date: row.from_date,
        note: row.note,
        decided_by_org_id: row.decided_by_org_id,
        created_at: row.created_at.and_utc(),
    }
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// The id of the model's decision in force today, if any.
fn current_id(conn: &mut DbConn, model_id: &DeviceModelId) -> QueryResult<Option<String>> {
    md::table
        .filter(md::device_model_id.eq(model_id))
        .filter(md::from_date.le(today()))
        .order(md::from_date.desc())
        .select(md::id)
        .first(conn)
        .optional()
}

/// The model's decision in force just before `date`, with its firmware version.
fn in_force_before(
    conn: &mut DbConn,
    model_id: &DeviceModelId,
    date: NaiveDate,
) -> QueryResult<Option<(DecisionRow, String)>> {
    md::table
        .inner_join(fw::table)
        .filter(md::device_model_id.eq(model_id))
        .filter(md::from_date.lt(date))
        .order(md::from_date.desc())
        .select((DecisionRow::as_select(), fw::version))
        .first(conn)
        .optional()
}

/// A model's decisions, newest `from_date` first, after the decision `after` (the cursor).
pub fn list(
    conn: &mut DbConn,
    product: &DeviceModelRow,
    after: Option<&str>,
    fetch: i64,
) -> Result<Vec<ManufacturingDecision>, ApiError> {
    let mut query = md::table
        .inner_join(fw::table)
        .filter(md::device_model_id.eq(&product.id))
        .select((DecisionRow::as_select(), fw::version))
        .into_boxed();
    if let Some(after) = after {
        // The cursor is the last decision's id; dates are unique per model, so the page goes
        // on from its date.
        let date: NaiveDate = md::table
            .find(after)
            .filter(md::device_model_id.eq(&product.id))
            .select(md::from_date)
            .first(conn)
            .optional()?
            .ok_or_else(|| ApiError::bad_request(ErrorCode::InvalidCursor, "The cursor is not valid."))?;
        query = query.filter(md::from_date.lt(date));
    }
    let rows: Vec<(DecisionRow, String)> = query.order(md::from_date.desc()).limit(fetch).load(conn)?;
    let current = current_id(conn, &product.id)?;
    Ok(rows
        .into_iter()
        .map(|(row, version)| view(row, version, product, current.as_deref()))
        .collect())
}

/// One decision.
pub fn find(conn: &mut DbConn, id: &str) -> Result<ManufacturingDecision, ApiError> {
    let (row, version): (DecisionRow, String) = md::table
        .inner_join(fw::table)
        .filter(md::id.eq(id))
        .select((DecisionRow::as_select(), fw::version))
        .first(conn)
        .optional()?
        .ok_or_else(ApiError::not_found)?;
    let product = model::find_model(conn, &row.device_model_id)?.ok_or_else(ApiError::not_found)?;
    let current = current_id(conn, &product.id)?;
    Ok(view(row, version, &product, current.as_deref()))
}

list_query! {
    pub struct ManufacturingQuery {}
}

/// List a Comms Hub model's manufacturing decisions
///
/// Newest `from_date` first, each with its firmware version; `current` marks the decision in
/// force today. Industry-visible, like the catalogue. A model that is not a Comms Hub has none.
#[utoipa::path(
    tag = "catalogue",
    operation_id = "listManufacturingDecisions",
    params(("id" = String, Path, description = "Device model id"), ManufacturingQuery),
    responses(
        (status = 200, description = "A page of manufacturing decisions", body = Page<ManufacturingDecision>),
    ),
    security(("bearer" = []))
)]
#[get("/device-models/{id}/manufacturing")]
pub async fn list_manufacturing_decisions(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<DeviceModelId>,
    query: web::Query<ManufacturingQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let asked = (path.into_inner(), query.page()?);
    list_of_product(&state.db, caller, &req, asked, |conn, product, after, fetch| {
        list(conn, product, after.as_deref(), fetch)
    })
    .await
}

/// Get a manufacturing decision
///
/// `current` says whether it is the decision in force today.
#[utoipa::path(
    tag = "catalogue",
    operation_id = "getManufacturingDecision",
    params(("id" = String, Path, description = "Manufacturing decision id")),
    responses(
        (status = 200, description = "The manufacturing decision", body = ManufacturingDecision),
    ),
    security(("bearer" = []))
)]
#[get("/manufacturing-decisions/{id}")]
pub async fn get_manufacturing_decision(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let decision = state.db.read_as(caller, move |conn, _ctx| find(conn, &id)).await?;
    Ok(HttpResponse::Ok().json(decision))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewManufacturingDecision {
    /// A firmware version of this model, neither withdrawn nor retired.
    #[schema(value_type = String)]
    pub firmware_id: FirmwareId,
    /// From this date new Comms Hubs of the model are manufactured with the firmware.
    pub from_date: NaiveDate,
    /// Why, or what installers should know; quoted in the notice to subscribers.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub note: String,
}

/// Record a manufacturing decision
///
/// Which firmware version of a Comms Hub (CHF) model is manufactured from which date. The
/// model's owner or the operator; subscribers to `retirements` are told. A second decision for
/// the same model and date is 409 `manufacturing_decision_exists`.
#[utoipa::path(
    tag = "catalogue",
    operation_id = "createManufacturingDecision",
    request_body = NewManufacturingDecision,
    params(
        ("id" = String, Path, description = "Device model id"),
        crate::http::idempotency::IdempotencyKeyHeader,
    ),
    responses(
        (status = 201, description = "Created", body = ManufacturingDecision),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    ),
    security(("bearer" = []))
)]
#[post("/device-models/{id}/manufacturing")]
pub async fn create_manufacturing_decision(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<DeviceModelId>,
    key: IdempotencyKey,
    body: Json<NewManufacturingDecision>,
) -> Result<HttpResponse, ApiError> {
    let model_id = path.into_inner();
    let body = body.into_inner();
    let idem = key.bind(&format!("POST /device-models/{model_id}/manufacturing"), &body);
    idempotency::create_as(&state.db, caller, idem, move |conn, ctx, once| {
        let product = model::find_model(conn, &model_id)?.ok_or_else(ApiError::not_found)?;
        authorise_owner(&ctx, &product.manufacturer_org_id, product.device_type)?;
        once.create(conn, |conn| create(conn, &ctx, &product, &body))
    })
    .await
}

/// The firmware a decision names: a version of `product` that is neither withdrawn nor retired.
fn manufacturable(
    conn: &mut DbConn,
    product: &DeviceModelRow,
    firmware_id: &FirmwareId,
) -> Result<FirmwareRow, ApiError> {
    let firmware = model::find_firmware(conn, firmware_id)?
        .filter(|f| f.device_model_id == product.id)
        .ok_or_else(|| ApiError::invalid_field("firmware_id", "no such firmware version of this device model"))?;
    if matches!(firmware.status, FirmwareStatus::Withdrawn | FirmwareStatus::Retired) {
        return Err(ApiError::invalid_field(
            "firmware_id",
            format!(
                "firmware {} is {}; a withdrawn or retired version is not manufactured",
                firmware.version, firmware.status
            ),
        ));
    }
    Ok(firmware)
}

/// Records a decision for `product` (the caller may manage it) with its change event and audit
/// row. Only Comms Hub models are manufactured by decision (422 naming `id`); the firmware must
/// be a live version of the model (422 naming `firmware_id`); one decision per model and date
/// (409 `manufacturing_decision_exists`, also when two requests race on PostgreSQL).
pub fn create(
    conn: &mut DbConn,
    ctx: &AuthContext,
    product: &DeviceModelRow,
    body: &NewManufacturingDecision,
) -> Result<ManufacturingDecision, ApiError> {
    if product.device_type != DeviceType::Chf {
        return Err(ApiError::invalid_field(
            "id",
            format!(
                "{} is a {} model; manufacturing decisions are for Comms Hub (CHF) models",
                product.name, product.device_type
            ),
        ));
    }
    if body.note.chars().count() > NOTE_MAX {
        return Err(ApiError::invalid_field(
            "note",
            format!("must be at most {NOTE_MAX} characters"),
        ));
    }
    let firmware = manufacturable(conn, product, &body.firmware_id)?;
    let taken: Option<String> = md::table
        .filter(md::device_model_id.eq(&product.id))
        .filter(md::from_date.eq(body.from_date))
        .select(md::id)
        .first(conn)
        .optional()?;
    if let Some(existing) = taken {
        let detail = format!(
            "This model already has a manufacturing decision from {}.",
            body.from_date
        );
        return Err(ApiError::conflict(ErrorCode::ManufacturingDecisionExists, detail)
            .with_context(serde_json::json!({ "existing_id": existing })));
    }
    let previous = in_force_before(conn, &product.id, body.from_date)?;
    let row = DecisionRow {
        id: new_id(),
        device_model_id: product.id.clone(),
        firmware_id: firmware.id.clone(),
        from_date: body.from_date,
        note: body.note.trim().to_string(),
        decided_by_org_id: ctx.org_id.clone(),
        created_at: now(),
    };
    diesel::insert_into(md::table).values(&row).execute(conn)?;
    announce(conn, ctx, product, &row, &firmware, previous.as_ref())?;
    let current = current_id(conn, &product.id)?;
    let created = view(row, firmware.version, product, current.as_deref());
    audit::created(conn, ctx, "manufacturing_decision.create", &created)?;
    Ok(created)
}

/// The notice to subscribers: about the firmware (so its page is the link), scoped to the
/// product like its retirements, with the decision it follows.
fn announce(
    conn: &mut DbConn,
    ctx: &AuthContext,
    product: &DeviceModelRow,
    row: &DecisionRow,
    firmware: &FirmwareRow,
    previous: Option<&(DecisionRow, String)>,
) -> Result<(), ApiError> {
    let summary = format!(
        "Comms Hubs of {} are manufactured with firmware {} from {}",
        product.name, firmware.version, row.from_date
    );
    let details = serde_json::json!({
        "decision_id": row.id, "device_model_id": product.id, "model_name": product.name,
        "hardware_version": product.hardware_version, "firmware_id": firmware.id,
        "version": firmware.version, "from_date": row.from_date, "note": row.note,
        "previous_version": previous.map(|(_, v)| v),
        "previous_from_date": previous.map(|(p, _)| p.from_date),
    });
    let event = NewEvent::new(
        Topic::Retirements,
        "firmware.manufacturing",
        "firmware",
        &firmware.id,
        summary,
    )
    .details(details)
    .actor(&ctx.org_id)
    .scope(
        vec![product.device_type.as_str().to_string()],
        vec![product.id.clone()],
        vec![product.manufacturer_org_id.clone()],
    );
    events::record(conn, event)?;
    Ok(())
}
