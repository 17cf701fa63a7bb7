//! Exit criteria and readiness: whether a UIT window's shared evidence meets what the operator
//! requires before the firmware leaves UIT.

pub mod criteria;
pub mod handlers;
pub mod model;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::window_readiness);
}
