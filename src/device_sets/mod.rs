//! Device sets: one Comms Hub firmware plus the device firmware around it.

pub mod composition;
pub mod handlers;
pub mod model;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::list_device_sets)
        .service(handlers::create_device_set)
        .service(handlers::get_device_set)
        .service(handlers::update_device_set);
}
