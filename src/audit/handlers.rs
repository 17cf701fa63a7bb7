use actix_web::{get, web, HttpRequest, HttpResponse};

use super::model::{self, AuditEvent, AuditFilter};
use super::visibility;
use crate::auth::Caller;
use crate::db::OrgId;
use crate::http::pagination::{keyed, list_page, list_query, Page};
use crate::http::responses::Forbidden;
use crate::http::ApiError;
use crate::AppState;

list_query! {
    pub struct AuditQuery {
        pub entity_type: Option<String>,
        pub entity_id: Option<String>,
        #[param(value_type = Option<String>)]
        pub actor_org_id: Option<OrgId>,
        /// Only events at or after this instant (RFC 3339).
        pub since: Option<chrono::DateTime<chrono::Utc>>,
    }
}

/// List audit events
///
/// Newest first. Operator admins see every event; an organisation's admins see the events
/// about their organisation. `before` and `after` follow the audited entity's own visibility,
/// as it was in each snapshot: another organisation's private result, a roadmap item's private
/// era, someone else's subscription or API token show as null with `redacted` true.
#[utoipa::path(
    tag = "audit",
    operation_id = "listAuditEvents",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of audit events", body = Page<AuditEvent>),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[get("/audit-events")]
pub async fn list_audit_events(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<AuditQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    list_page(&state.db, caller, &req, q.page()?, move |conn, ctx, after, fetch| {
        let scope_org = if ctx.is_operator_admin() {
            None
        } else if ctx.can_administer(&ctx.org_id) {
            Some(ctx.org_id.clone())
        } else {
            return Err(ApiError::forbidden("Only administrators may read the audit log."));
        };
        let filter = AuditFilter {
            scope_org,
            entity_type: q.entity_type,
            entity_id: q.entity_id,
            actor_org_id: q.actor_org_id,
            since: q.since.map(|t| t.naive_utc()),
        };
        let rows = model::list(conn, filter, after, fetch)?;
        let mut events: Vec<AuditEvent> = rows.into_iter().map(AuditEvent::from).collect();
        visibility::redact(conn, &ctx, &mut events)?;
        Ok(events)
    })
    .await
}

keyed!(AuditEvent, id);
