//! Claims: an organisation leads on a device set in a UIT window. At most one lead per set
//! per window, guaranteed by a unique constraint on (window, set).

pub mod handlers;
pub mod model;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::create_claim)
        .service(handlers::list_claims)
        .service(handlers::get_claim)
        .service(handlers::release_claim);
}
