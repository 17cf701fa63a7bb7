//! The audit log: every mutation writes a row in the same transaction as the change.

pub mod handlers;
pub mod model;
pub mod visibility;

pub(crate) use model::audited;
pub use model::{changed, created, deleted, record, Actor, Audited, Change};

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::list_audit_events);
}
