//! UIT issues: incidents found in a UIT window, passed to a resolving party for triage,
//! confirmed by the organisation that raised them, and turned into defect masks once
//! understood. Visible like participants-level results, plus the raising and resolving
//! organisations.

pub mod handlers;
pub mod model;
pub mod notify;
pub mod raise;
pub mod transitions;
pub mod update;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::list_issues)
        .service(handlers::create_issue)
        .service(handlers::get_issue)
        .service(handlers::update_issue)
        .service(transitions::transition_issue)
        .service(transitions::issue_history)
        .service(transitions::convert_issue);
}
