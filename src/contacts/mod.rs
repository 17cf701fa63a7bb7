//! Firmware-library contacts: whom a gaining supplier asks for firmware and support.
//!
//! Each entry carries the date it was last verified; one not verified for 365 days is
//! `stale`, and the clock records a reminder event for its manufacturer once per verification.

pub mod clock;
pub mod handlers;
pub mod model;

pub use clock::sweep;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::list_library_contacts)
        .service(handlers::create_library_contact)
        .service(handlers::get_library_contact)
        .service(handlers::update_library_contact)
        .service(handlers::delete_library_contact);
}

/// Starts the task that records a reminder event when a contact turns stale (it ticks every
/// `window_clock_interval_seconds`, the window clock's setting; none when 0).
pub fn start_clock(state: &actix_web::web::Data<crate::AppState>) {
    clock::start(state);
}
