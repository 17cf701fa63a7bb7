//! The calendar feed (RFC 5545) and per-user feed tokens.
//!
//! `GET /calendar.ics?token=` takes no bearer token: calendar clients cannot send one. The
//! feed token (`uitc_` + 256 random bits, stored as SHA-256) stands for its user, so the feed
//! shows what that user may see; rotating it ends the old URL.

pub mod feed;
pub mod handlers;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::rotate_calendar_token)
        .service(handlers::calendar_feed);
}
