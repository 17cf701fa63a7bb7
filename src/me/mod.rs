//! The signed-in user: profile, password change and API tokens.

pub mod api_tokens;
pub mod handlers;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::get_me)
        .service(handlers::update_me)
        .service(api_tokens::list_api_tokens)
        .service(api_tokens::create_api_token)
        .service(api_tokens::revoke_api_token);
}
