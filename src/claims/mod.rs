//! Claims: an organisation leads on a device set in a UIT window. At most one lead per set
//! per window, guaranteed by a unique constraint on (window, set). The lifecycle: claims lapse
//! (lapse.rs), are handed over (offers.rs) and held sets have a waiting list (queue.rs).

pub mod handlers;
pub mod lapse;
pub mod lifecycle;
pub mod model;
pub mod notify;
pub mod offers;
pub mod queue;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::create_claim)
        .service(handlers::list_claims)
        .service(handlers::get_claim)
        .service(handlers::release_claim)
        .service(lifecycle::offer_claim)
        .service(lifecycle::list_claim_offers)
        .service(lifecycle::accept_claim_offer)
        .service(lifecycle::decline_claim_offer)
        .service(lifecycle::withdraw_claim_offer)
        .service(lifecycle::list_claim_queue)
        .service(lifecycle::leave_claim_queue);
}
