use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::IntoParams;

use super::history::{self, PrevalenceHistory};
use super::import::{self, Enqueued};
use super::model::{self, EstateImport};
use super::upload;
use super::worker::{file_of, import_dir};
use crate::auth::{Caller, Capability};
use crate::db::{write_tx, DeviceSetId};
use crate::http::pagination::{keyed, list_page, list_query, Page};
use crate::http::responses::*;
use crate::http::ApiError;
use crate::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Required: the date the DPL describes the estate at (YYYY-MM-DD).
    #[param(example = "2026-12-01")]
    pub as_of: NaiveDate,
}

/// Import a Deployed Products List
///
/// Operator organisation members and admins. The body is the DPL file itself, streamed to
/// disk (up to `estate_import_limit_bytes`, 512 MiB by default), as `text/csv` or as
/// `application/x-ndjson` (JSON lines); `as_of` (query) is the date it describes.
///
/// **CSV**: a header line, then one row per combination installed. Columns, by name in any
/// order: `comms_hub_model`, `comms_hub_firmware`, optionally `comms_hub_manufacturer`; for
/// each device N from 1 (up to 49) `deviceN_type` (ESME, GSME, GPF, PPMID, HCALCS, IHD, CAD),
/// `deviceN_model`, `deviceN_firmware`, optionally `deviceN_manufacturer`; and
/// `installed_count`. A row may leave a device's columns empty; it needs at least one device.
/// Models are matched by device type and name, firmware by its version string; a manufacturer
/// (organisation name or slug) is needed only where two products share a name.
///
/// **JSON lines**: one object per line, `{"comms_hub_model": .., "comms_hub_firmware": ..,
/// "devices": [{"type": "ESME", "model": .., "firmware": .., "manufacturer": ..}],
/// "installed_count": 412}` (`comms_hub_manufacturer` and each `manufacturer` optional).
///
/// The import runs as a job: 202 with its `Location`, to poll. A row naming an unknown model
/// or firmware version, or whose count is not an integer from 0 to 100,000,000, is rejected
/// whole with its line number (the CSV header is line 1) and a reason naming the column; the
/// other rows count. Rows with one membership are summed. Each membership's device set is
/// found by its membership or registered, and its installed count as of `as_of` recorded in
/// its history; its `prevalence` becomes the count of its latest date. The same bytes as of
/// the same date are the same import: 200 with it, nothing changes (a failed one is queued
/// again). A file whose header cannot be read, or an empty one, is 422 `invalid_dpl`.
#[utoipa::path(
    tag = "estate",
    operation_id = "createEstateImport",
    params(ImportQuery),
    request_body(
        description = "The DPL file: CSV with a header line, or JSON lines",
        content(
            (String = "text/csv"),
            (String = "application/x-ndjson"),
        )
    ),
    responses(
        (status = 200, description = "These bytes were imported as of this date already: that import", body = EstateImport),
        (status = 202, description = "Queued; poll the `Location`", body = EstateImport, headers(("Location" = String, description = "The import"))),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[post("/estate/imports")]
pub async fn create_estate_import(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ImportQuery>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let as_of = query.into_inner().as_of;
    let format = upload::format_of(&req);
    let (limit, declared) = (state.config.estate_import_limit_bytes, upload::declared_length(&req));
    let dir = import_dir(&state.config);
    let (sender, chunks) = upload::channel();
    // One hop: the caller is checked before a byte is written; the body streams in meanwhile.
    let work = state.db.read_as(caller, move |conn, ctx| {
        ctx.require(Capability::ManageIndustry)?;
        let upload = upload::receive(chunks, &dir, format?)?;
        write_tx(conn, |conn| {
            import::enqueue(conn, &ctx, upload, as_of, |id| file_of(&dir, id))
        })
    });
    let (enqueued, ()) = tokio::join!(work, upload::forward(payload, sender, limit, declared));
    Ok(match enqueued? {
        Enqueued::Queued(job) => {
            state.estate_wake.notify_one();
            HttpResponse::Accepted()
                .insert_header((header::LOCATION, format!("/api/v1/estate/imports/{}", job.id)))
                .json(job)
        }
        Enqueued::Existing(job) => HttpResponse::Ok().json(job),
    })
}

/// Get a DPL import
///
/// Operator organisation only (to others every id is 404). Status, counters, progress and the
/// first 1,000 rejected rows with their line numbers and reasons.
#[utoipa::path(
    tag = "estate",
    operation_id = "getEstateImport",
    params(("id" = String, Path, description = "Import id")),
    responses(
        (status = 200, description = "The import", body = EstateImport),
        (status = 404, response = NotFound),
    ),
    security(("bearer" = []))
)]
#[get("/estate/imports/{id}")]
pub async fn get_estate_import(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let job = state
        .db
        .read_as(caller, move |conn, ctx| {
            if !ctx.is_operator() {
                return Err(ApiError::not_found());
            }
            model::load(conn, &id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(job))
}

list_query! {
    pub struct ImportListQuery {}
}

keyed!(EstateImport, id);

/// List DPL imports
///
/// Operator organisation only. Oldest first, without their rejected rows.
#[utoipa::path(
    tag = "estate",
    operation_id = "listEstateImports",
    params(ImportListQuery),
    responses(
        (status = 200, description = "A page of imports", body = Page<EstateImport>),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[get("/estate/imports")]
pub async fn list_estate_imports(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ImportListQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = query.into_inner().page()?;
    list_page(&state.db, caller, &req, page, move |conn, ctx, after, fetch| {
        ctx.require_operator("DPL imports are the operator organisation's.")?;
        Ok(model::list(conn, after, fetch)?)
    })
    .await
}

/// A device set's prevalence history
///
/// For whoever may read the set: its installed count as of each DPL date, newest first, and
/// its prevalence today.
#[utoipa::path(
    tag = "device-sets",
    operation_id = "getDeviceSetPrevalence",
    params(("id" = String, Path, description = "Device set id")),
    responses(
        (status = 200, description = "The history", body = PrevalenceHistory),
        (status = 404, response = NotFound),
    ),
    security(("bearer" = []))
)]
#[get("/device-sets/{id}/prevalence")]
pub async fn get_device_set_prevalence(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<DeviceSetId>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let found = state
        .db
        .read_as(caller, move |conn, _ctx| history::of_set(conn, &id))
        .await?;
    Ok(HttpResponse::Ok().json(found))
}
