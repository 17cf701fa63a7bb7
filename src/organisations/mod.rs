//! Organisations, their members and invitations.

pub mod api_tokens;
pub mod handlers;
pub mod invitations;
pub mod members;
pub mod model;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::list_organisations)
        .service(handlers::create_organisation)
        .service(handlers::get_organisation)
        .service(handlers::update_organisation)
        .service(members::list_members)
        .service(members::get_member)
        .service(members::update_member)
        .service(members::remove_member)
        .service(invitations::list_invitations)
        .service(invitations::create_invitation)
        .service(invitations::revoke_invitation)
        .service(invitations::accept_invitation)
        .service(api_tokens::list_member_api_tokens)
        .service(api_tokens::revoke_member_api_token);
}
