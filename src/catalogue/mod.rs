//! Device models and their firmware versions.

pub mod device_models;
pub mod firmware;
pub mod labels;
pub mod lifecycle;
pub mod manufacturing;
pub mod model;
pub mod retirement;
pub mod version;

use actix_web::{HttpRequest, HttpResponse};
use serde::{Deserialize, Deserializer, Serialize};

use crate::auth::{AuthContext, Caller, Capability, OrgKind};
use crate::db::{Db, DbConn, DeviceModelId, OrgId};
use crate::http::pagination::{list_page, Keyed, PageRequest};
use crate::http::ApiError;
use model::{DeviceModelRow, DeviceType};

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(device_models::list_device_models)
        .service(device_models::create_device_model)
        .service(device_models::get_device_model)
        .service(device_models::update_device_model)
        .service(firmware::list_firmware)
        .service(firmware::create_firmware)
        .service(firmware::get_firmware)
        .service(firmware::update_firmware)
        .service(lifecycle::get_live_versions)
        .service(lifecycle::get_upgrade_path)
        .service(lifecycle::get_fragmentation)
        .service(manufacturing::list_manufacturing_decisions)
        .service(manufacturing::create_manufacturing_decision)
        .service(manufacturing::get_manufacturing_decision);
}

/// A list handler's whole tail for one product's records: 404 unless `model_id` names a
/// device model, then a page from `load` (`after`, `fetch` as in [`list_page`]).
pub async fn list_of_product<T, F>(
    db: &Db,
    caller: Caller,
    req: &HttpRequest,
    (model_id, page): (DeviceModelId, PageRequest),
    load: F,
) -> Result<HttpResponse, ApiError>
where
    T: Serialize + Keyed + Send + 'static,
    F: FnOnce(&mut DbConn, &DeviceModelRow, Option<String>, i64) -> Result<Vec<T>, ApiError> + Send + 'static,
{
    list_page(db, caller, req, page, move |conn, _ctx, after, fetch| {
        let product = model::find_model(conn, &model_id)?.ok_or_else(ApiError::not_found)?;
        load(conn, &product, after, fetch)
    })
    .await
}

/// Who may change a product: the operator any; a manufacturer its own; a Comms Hub service
/// provider its own Comms Hubs. Viewers never.
pub fn authorise_owner(ctx: &AuthContext, owner_org_id: &OrgId, device_type: DeviceType) -> Result<(), ApiError> {
    ctx.owner_or_operator(
        owner_org_id,
        Capability::ManageCatalogue,
        "You may manage only your own organisation's products.",
    )?;
    if ctx.org_kind == OrgKind::ServiceProvider && device_type != DeviceType::Chf {
        return Err(ApiError::forbidden(
            "Service providers manage Comms Hub (CHF) products only.",
        ));
    }
    Ok(())
}

/// For PATCH fields that can be cleared: absent is `None`, `null` is `Some(None)`.
pub fn nullable<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}
