//! UIT windows, their scenarios and participants.

pub mod clock;
pub mod create;
pub mod handlers;
pub mod model;
pub mod participants;
pub mod scenarios;
pub mod update;

pub use clock::sweep;
pub use participants::join;

crate::text_enum!(
    /// Where a window is: from the clock (`scheduled` before `opens_at`, `open` until
    /// `closes_at`, then `closed`), or `cancelled`.
    WindowStatus {
        Scheduled => "scheduled",
        Open => "open",
        Closed => "closed",
        Cancelled => "cancelled",
    }
);

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(scenarios::list_scenarios)
        .service(scenarios::create_scenario)
        .service(handlers::list_windows)
        .service(handlers::create_window)
        .service(handlers::get_window)
        .service(handlers::update_window)
        .service(participants::join_window)
        .service(participants::list_participants);
}

/// Starts the task that records windows opening, closing soon and closing.
pub fn start_clock(state: &actix_web::web::Data<crate::AppState>) {
    clock::start(state);
}
