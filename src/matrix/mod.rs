//! Coverage and the compatibility matrix of a UIT window.

pub mod cells;
mod frame;
pub mod handlers;
pub mod model;
pub mod versions;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::window_coverage).service(handlers::window_matrix);
}
