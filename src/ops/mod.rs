//! Health, readiness and metrics; giving memory back.

pub mod clock;
pub mod memory;

use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::AuthContext;
use crate::db::migrations;
use crate::http::responses::{Forbidden, Unavailable};
use crate::http::ApiError;
use crate::AppState;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(healthz).service(readyz).service(metrics);
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

/// Liveness
///
/// The process is up and serving HTTP.
#[utoipa::path(
    tag = "operations",
    operation_id = "healthz",
    responses((status = 200, description = "Alive", body = Health)),
    security(())
)]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok".into() })
}

/// Readiness
///
/// The database answers and every migration is applied.
#[utoipa::path(
    tag = "operations",
    operation_id = "readyz",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, response = Unavailable),
    ),
    security(())
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let current = state
        .db
        .run(|conn| migrations::is_current(conn).map_err(|e| ApiError::internal(e.to_string())))
        .await
        .map_err(|_| ApiError::unavailable())?;
    if !current {
        return Err(ApiError::unavailable());
    }
    Ok(HttpResponse::Ok().json(Health { status: "ready".into() }))
}

/// Prometheus metrics
///
/// Requests by route and status, latency histograms, outbox depth and deliveries. Users of
/// the operator organisation only (scrape with an operator API token).
#[utoipa::path(
    tag = "operations",
    operation_id = "metrics",
    responses(
        (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain; version=0.0.4"),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>, ctx: AuthContext) -> Result<HttpResponse, ApiError> {
    ctx.require_operator("Metrics are for the operator organisation.")?;
    let depth = state
        .db
        .run(|conn| {
            Ok((
                crate::mail::outbox::depth(conn)?,
                crate::notifications::delivery::depth(conn)?,
            ))
        })
        .await
        .ok();
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render(depth)))
}
