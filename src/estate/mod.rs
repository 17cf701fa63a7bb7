//! The estate: Deployed Products List imports (run as jobs, idempotent by content) and each
//! device set's installed count over time. Depends on the catalogue and device sets, never
//! the other way.

pub mod apply;
pub mod cli;
pub mod handlers;
pub mod history;
pub mod import;
pub mod jsonl;
pub mod model;
pub mod parse;
pub mod resolve;
pub mod upload;
pub mod worker;

pub use worker::start;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::create_estate_import)
        .service(handlers::list_estate_imports)
        .service(handlers::get_estate_import)
        .service(handlers::get_device_set_prevalence);
}
