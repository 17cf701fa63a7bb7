//! Compatibility results, their revisions, batches, JUnit uploads and comments.

pub mod bulk;
pub mod comments;
pub mod context;
pub mod handlers;
pub mod junit;
pub mod model;
pub mod multipart;
pub mod notify;
pub mod publish;
pub mod upload;
pub mod validation;
pub mod visibility;
pub mod writes;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::create_result)
        .service(handlers::list_results)
        .service(bulk::create_batch)
        .service(upload::upload_junit)
        .service(handlers::get_result)
        .service(handlers::update_result)
        .service(handlers::list_revisions)
        .service(comments::list_comments)
        .service(comments::create_comment)
        .service(comments::delete_comment);
}
