use actix_web::{get, web, HttpResponse};

use super::model::{self, Readiness};
use crate::auth::Caller;
use crate::db::WindowId;
use crate::http::ApiError;
use crate::AppState;

/// Readiness of a UIT window against its exit criteria
///
/// Any signed-in user. Each exit criterion the operator set (see `exit_criteria` on the
/// window) with its threshold, the measured value, whether it is met, and the findings behind
/// it: the scenarios and device sets that fall short, the unexplained failures, the suppliers
/// that published, the unresolved blocking UIT issues. Only shared evidence counts: results at
/// `participants` or `industry` visibility that the caller may see. A `private` result is its
/// owner's working note and counts for no one, its owner and the operator included. A window
/// without criteria is `met` with an empty list.
#[utoipa::path(
    tag = "uit-windows",
    operation_id = "getWindowReadiness",
    params(("id" = String, Path, description = "UIT window id")),
    responses(
        (status = 200, description = "The window's readiness", body = Readiness),
    ),
    security(("bearer" = []))
)]
#[get("/uit-windows/{id}/readiness")]
pub async fn window_readiness(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<WindowId>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let readiness = state
        .db
        .read_as(caller, move |conn, ctx| model::readiness(conn, &ctx, &id))
        .await?;
    Ok(HttpResponse::Ok().json(readiness))
}
