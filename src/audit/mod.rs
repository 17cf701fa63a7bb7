//! The audit log: every mutation writes a row in the same transaction as the change.

pub mod handlers;
pub mod model;
pub mod visibility;

pub use model::{record, Actor, Change};

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::list_audit_events);
}
