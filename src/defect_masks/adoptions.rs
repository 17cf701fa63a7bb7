//! Adopting a defect mask: an organisation records that it works around the defect too.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::model;
use crate::audit::{self, Actor, Change};
use crate::auth::{AuthContext, Caller, Capability};
use crate::db::schema::{defect_mask_adoptions as dma, organisations};
use crate::db::{now, DbConn, DefectMaskId, OrgId};
use crate::http::pagination::{keyed, list_page, list_query, Page};
use crate::http::responses::*;
use crate::http::ApiError;
use crate::AppState;

/// An organisation that follows a defect mask.
#[derive(Debug, Serialize, ToSchema, Queryable)]
pub struct Adoption {
    #[schema(value_type = String)]
    pub defect_mask_id: DefectMaskId,
    #[schema(value_type = String)]
    pub org_id: OrgId,
    pub org_name: String,
    pub adopted_at: DateTime<Utc>,
}

fn adoption(conn: &mut DbConn, mask_id: &DefectMaskId, org_id: &OrgId) -> QueryResult<Option<Adoption>> {
    dma::table
        .inner_join(organisations::table.on(organisations::id.eq(dma::org_id)))
        .filter(dma::defect_mask_id.eq(mask_id).and(dma::org_id.eq(org_id)))
        .select((dma::defect_mask_id, dma::org_id, organisations::name, dma::adopted_at))
        .first::<(DefectMaskId, OrgId, String, chrono::NaiveDateTime)>(conn)
        .optional()
        .map(|o| {
            o.map(|(m, org, name, at)| Adoption {
                defect_mask_id: m,
                org_id: org,
                org_name: name,
                adopted_at: at.and_utc(),
            })
        })
}

/// Adopt a defect mask
///
/// Records that the caller's organisation follows the mask. Adopting twice is harmless:
/// 200 with the existing adoption.
#[utoipa::path(
    tag = "defect-masks",
    operation_id = "adoptDefectMask",
    params(("id" = String, Path, description = "Defect mask id")),
    responses(
        (status = 201, description = "Adopted", body = Adoption),
        (status = 200, description = "Already adopted", body = Adoption),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[post("/defect-masks/{id}/adoptions")]
pub async fn adopt_defect_mask(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<DefectMaskId>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let (created, view) = state
        .db
        .write_as(caller, move |conn, ctx| adopt(conn, &ctx, &id))
        .await?;
    Ok(if created {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

/// Records that the caller's organisation follows the mask, with its audit row; `true` with
/// the new adoption, or `false` with the existing one when it already follows it. A missing
/// mask is 404 before the capability to publish masks is checked (403).
pub fn adopt(conn: &mut DbConn, ctx: &AuthContext, mask_id: &DefectMaskId) -> Result<(bool, Adoption), ApiError> {
    model::find(conn, mask_id)?.ok_or_else(ApiError::not_found)?;
    ctx.require(Capability::PublishDefectMasks)?;
    if let Some(existing) = adoption(conn, mask_id, &ctx.org_id)? {
        return Ok((false, existing));
    }
    diesel::insert_into(dma::table)
        .values((
            dma::defect_mask_id.eq(mask_id),
            dma::org_id.eq(&ctx.org_id),
            dma::adopted_by_user_id.eq(&ctx.user_id),
            dma::adopted_at.eq(now()),
        ))
        .execute(conn)?;
    audit::record(
        conn,
        &Actor::from(ctx),
        Change::new("defect_mask.adopt", "defect_mask", mask_id)
            .org(&ctx.org_id)
            .after(serde_json::json!({ "org_id": ctx.org_id })),
    )?;
    Ok((
        true,
        adoption(conn, mask_id, &ctx.org_id)?.ok_or_else(ApiError::not_found)?,
    ))
}

list_query! {
    pub struct AdoptionQuery {
    }
}

/// List a mask's adoptions
///
/// The organisations that follow the mask, by organisation id.
#[utoipa::path(
    tag = "defect-masks",
    operation_id = "listAdoptions",
    params(("id" = String, Path, description = "Defect mask id"), AdoptionQuery),
    responses(
        (status = 200, description = "Organisations following the mask", body = Page<Adoption>),
    ),
    security(("bearer" = []))
)]
#[get("/defect-masks/{id}/adoptions")]
pub async fn list_adoptions(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<DefectMaskId>,
    query: web::Query<AdoptionQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let q = query.into_inner();
    list_page(&state.db, caller, &req, q.page()?, move |conn, _ctx, after, fetch| {
        adoptions_of(conn, &id, after, fetch)
    })
    .await
}

keyed!(Adoption, org_id);

/// Up to `fetch` adoptions of mask `mask_id` by organisation id after `after`; 404 when the
/// mask does not exist.
pub fn adoptions_of(
    conn: &mut DbConn,
    mask_id: &DefectMaskId,
    after: Option<String>,
    fetch: i64,
) -> Result<Vec<Adoption>, ApiError> {
    model::find(conn, mask_id)?.ok_or_else(ApiError::not_found)?;
    let mut query = dma::table
        .inner_join(organisations::table.on(organisations::id.eq(dma::org_id)))
        .filter(dma::defect_mask_id.eq(mask_id))
        .select((dma::defect_mask_id, dma::org_id, organisations::name, dma::adopted_at))
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(dma::org_id.gt(after));
    }
    let rows: Vec<(DefectMaskId, OrgId, String, chrono::NaiveDateTime)> =
        query.order(dma::org_id.asc()).limit(fetch).load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(m, org, name, at)| Adoption {
            defect_mask_id: m,
            org_id: org,
            org_name: name,
            adopted_at: at.and_utc(),
        })
        .collect::<Vec<_>>())
}
