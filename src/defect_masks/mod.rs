//! Defect masks: industry-wide known defects, and the organisations that follow them.

pub mod adoptions;
pub mod changes;
pub mod handlers;
pub mod model;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::list_defect_masks)
        .service(handlers::create_defect_mask)
        .service(handlers::get_defect_mask)
        .service(handlers::update_defect_mask)
        .service(adoptions::adopt_defect_mask)
        .service(adoptions::list_adoptions);
}
