//! Review packs: a UIT window's evidence frozen for review, the verdicts of reviewers on it,
//! and what changed between two packs.

pub mod diff;
pub mod handlers;
pub mod model;

use crate::auth::AuthContext;
use crate::db::DbConn;
use crate::http::ApiError;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::create_pack)
        .service(handlers::list_packs)
        .service(handlers::get_pack)
        .service(handlers::diff_packs)
        .service(handlers::create_review)
        .service(handlers::list_reviews);
}

/// The window's unresolved UIT issues as a pack freezes them.
pub fn open_issues(
    _conn: &mut DbConn,
    _ctx: &AuthContext,
    _window_id: &str,
) -> Result<Vec<serde_json::Value>, ApiError> {
    // UIT issues land with their own domain (crate::uit_issues); until then there are none.
    Ok(Vec::new())
}
