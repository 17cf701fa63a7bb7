//! Window scopes (issue 13, parts 2 and 3): a window's explicit list of device sets, sampled
//! from the latest Deployed Products List by prevalence (covering every live firmware version)
//! or listed; and the coverage suggestions over the scope's unclaimed sets.

pub mod estate;
pub mod greedy;
pub mod handlers;
pub mod model;
pub mod sample;
pub mod set;
pub mod suggest;

crate::text_enum!(
    /// How an explicit scope was chosen.
    ScopeStrategy {
        Prevalence => "prevalence",
        Explicit => "explicit",
    }
);

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::get_scope)
        .service(handlers::set_scope)
        .service(handlers::suggestions);
}
