use actix_web::{get, post, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::model::{self, WindowScope};
use super::set::{self, NewScope};
use super::suggest::{self, Suggestions};
use crate::auth::Caller;
use crate::db::WindowId;
use crate::http::json::Json;
use crate::http::responses::*;
use crate::http::ApiError;
use crate::matrix::model as matrix;
use crate::AppState;

/// Get a UIT window's scope
///
/// Any signed-in user. The explicit scope when the operator set one (`explicit: true`, with
/// how it was chosen, by whom and when), else the implied scope (`explicit: false`: the sets
/// holding the release's firmware, and the sets claimed in the window). Each set with its
/// reason and installed count in the latest DPL; `covered_share` is the scope's share of that
/// DPL's installed base.
#[utoipa::path(
    tag = "uit-windows",
    operation_id = "getUitWindowScope",
    params(("id" = String, Path, description = "UIT window id")),
    responses(
        (status = 200, description = "The window's scope", body = WindowScope),
    ),
    security(("bearer" = []))
)]
#[get("/uit-windows/{id}/scope")]
pub async fn get_scope(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<WindowId>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let scope = state
        .db
        .read_as(caller, move |conn, _ctx| {
            let window = crate::windows::model::find(conn, &id)?.ok_or_else(ApiError::not_found)?;
            let counts = super::estate::counts(conn)?;
            Ok(model::view(conn, &window, &counts)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(scope))
}

/// Set a UIT window's scope
///
/// Operator organisations only. `strategy: prevalence` takes the `top_n` most installed sets
/// of the latest DPL and (with `cover_every_live_version`, the default) adds, greedily, the
/// fewest sets that bring every live (N and N-1) firmware version of every product in the
/// estate in (422 `no_dpl` before any DPL was imported); `strategy: explicit` takes the sets
/// listed (422 naming `device_set_ids[i]` for an unknown or repeated id). Coverage, the matrix
/// and readiness use it from now on. Once the window has opened, a change of its sets is
/// announced to its participants and subscribers (`window.scope_changed`: sets added and
/// removed, share before and after); before it opens the scope is preparation, not news. A
/// cancelled window's scope cannot change (422 `window_cancelled`).
#[utoipa::path(
    tag = "uit-windows",
    operation_id = "setUitWindowScope",
    request_body = NewScope,
    params(("id" = String, Path, description = "UIT window id")),
    responses(
        (status = 200, description = "The window's new scope", body = WindowScope),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[post("/uit-windows/{id}/scope")]
pub async fn set_scope(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<WindowId>,
    body: Json<NewScope>,
) -> Result<HttpResponse, ApiError> {
    let (id, new) = (path.into_inner(), body.into_inner());
    set::check(&new)?;
    let scope = state
        .db
        .write_as(caller, move |conn, ctx| set::apply(conn, &ctx, &id, new))
        .await?;
    Ok(HttpResponse::Ok().json(scope))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SuggestionQuery {
    /// How many suggestions, 1 to 100 (default 10).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

/// Suggest device sets to claim in a UIT window
///
/// Any signed-in user. The window's unclaimed sets in scope (explicit or implied), ranked by
/// the coverage each would add: prevalence first, then the firmware versions and (Comms Hub
/// firmware, device firmware) pairs that no claimed or tested set covers yet, recomputed after
/// each pick. "Tested" counts only the results the reader may see, so the ranking reveals no
/// one's private results.
#[utoipa::path(
    tag = "uit-windows",
    operation_id = "suggestUitWindowSets",
    params(("id" = String, Path, description = "UIT window id"), SuggestionQuery),
    responses(
        (status = 200, description = "The suggestions, best first", body = Suggestions),
    ),
    security(("bearer" = []))
)]
#[get("/uit-windows/{id}/suggestions")]
pub async fn suggestions(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<WindowId>,
    query: web::Query<SuggestionQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let limit = match query.into_inner().limit {
        None => 10,
        Some(n) if (1..=100).contains(&n) => n as usize,
        Some(_) => return Err(ApiError::invalid_field("limit", "must be 1 to 100")),
    };
    let body = state
        .db
        .read_as(caller, move |conn, ctx| {
            let grid = matrix::grid_of(conn, &ctx, &id, matrix::Evidence::Readable, matrix::Detail::Members)?;
            let explicit = model::is_explicit(conn, &id)?;
            Ok(suggest::rank(&grid, explicit, limit))
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}
