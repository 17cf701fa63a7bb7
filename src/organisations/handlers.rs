use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::{self, Organisation};
use crate::audit;
use crate::auth::{AuthContext, Caller, OrgKind};
use crate::db::{DbConn, OrgId};
use crate::http::etag::{patch_tagged, read_tagged, IfMatch};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::json::Json;
use crate::http::pagination::{keyed, list_page, list_query, Page};
use crate::http::responses::*;
use crate::http::validate::Validator;
use crate::http::ApiError;
use crate::http::ErrorCode;
use crate::AppState;

list_query! {
    pub struct OrganisationQuery {
        pub kind: Option<OrgKind>,
    }
}

/// List organisations
///
/// Every organisation, to any signed-in user: the directory is public within the portal.
/// Filter with `kind`; ordered by id.
#[utoipa::path(
    tag = "organisations",
    operation_id = "listOrganisations",
    params(OrganisationQuery),
    responses(
        (status = 200, description = "A page of organisations", body = Page<Organisation>),
    ),
    security(("bearer" = []))
)]
#[get("/organisations")]
pub async fn list_organisations(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<OrganisationQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    list_page(&state.db, caller, &req, q.page()?, move |conn, _ctx, after, fetch| {
        let rows = model::list_orgs(conn, q.kind, after, fetch)?;
        Ok(rows.into_iter().map(Organisation::from).collect())
    })
    .await
}

keyed!(Organisation, id);

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrganisation {
    #[schema(example = "Northern Energy Supply Ltd", min_length = 1, max_length = 200)]
    pub name: String,
    /// 2-63 lower-case letters, digits and hyphens, not starting or ending with a hyphen; unique.
    #[schema(example = "northern-energy", pattern = "^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$")]
    pub slug: String,
    pub kind: OrgKind,
}

pub(crate) fn validate_slug(v: &mut Validator, slug: &str) {
    let ok = (2..=63).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if !ok {
        v.error(
            "slug",
            "must be 2-63 lower-case letters, digits or hyphens, not starting or ending with a hyphen",
        );
    }
}

/// Create an organisation
///
/// Operator admins only. Invite the organisation's first admin next.
#[utoipa::path(
    tag = "organisations",
    operation_id = "createOrganisation",
    request_body = NewOrganisation,
    params(crate::http::idempotency::IdempotencyKeyHeader),
    responses(
        (status = 201, description = "Created", body = Organisation),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    ),
    security(("bearer" = []))
)]
#[post("/organisations")]
pub async fn create_organisation(
    state: web::Data<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    body: Json<NewOrganisation>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let idem = key.bind("POST /organisations", &body);
    idempotency::create_as(&state.db, caller, idem, move |conn, ctx, once| {
        check_new(&ctx, &body)?;
        once.create(conn, |conn| create(conn, &ctx, &body))
    })
    .await
}

/// What is checked before a replayed request could answer: an operator admin, and a well
/// formed name and slug.
fn check_new(ctx: &AuthContext, body: &NewOrganisation) -> Result<(), ApiError> {
    ctx.require_operator_admin()?;
    let mut v = Validator::new();
    v.text("name", &body.name, 200);
    validate_slug(&mut v, &body.slug);
    v.finish()
}

/// Creates an organisation with its audit row; a slug in use is 409 `slug_taken`.
pub fn create(conn: &mut DbConn, ctx: &AuthContext, body: &NewOrganisation) -> Result<Organisation, ApiError> {
    if let Some(existing) = model::slug_taken(conn, &body.slug, None)? {
        return Err(
            ApiError::conflict(ErrorCode::SlugTaken, "An organisation with this slug exists.")
                .with_context(serde_json::json!({ "existing_id": existing })),
        );
    }
    let org = Organisation::from(model::insert_org(conn, body.name.trim(), &body.slug, body.kind)?);
    audit::created(conn, ctx, "organisation.create", &org)?;
    Ok(org)
}

/// Get an organisation
///
/// Any signed-in user may read any organisation; the `ETag` is the one `If-Match` on PATCH
/// expects.
#[utoipa::path(
    tag = "organisations",
    operation_id = "getOrganisation",
    params(("id" = String, Path, description = "Organisation id")),
    responses(
        (status = 200, description = "The organisation", body = Organisation, headers(("ETag" = String))),
    ),
    security(("bearer" = []))
)]
#[get("/organisations/{id}")]
pub async fn get_organisation(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<OrgId>,
) -> Result<HttpResponse, ApiError> {
    read_tagged(&state.db, caller, move |conn, _ctx| {
        let row = model::find_org(conn, &path)?.ok_or_else(ApiError::not_found)?;
        Ok((row.version, Organisation::from(row)))
    })
    .await
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganisationPatch {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// 2-63 lower-case letters, digits and hyphens, not starting or ending with a hyphen; unique.
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$")]
    pub slug: Option<String>,
}

/// Update an organisation
///
/// Operator admins only. The kind cannot change: it decides what the organisation's data means.
#[utoipa::path(
    tag = "organisations",
    operation_id = "updateOrganisation",
    request_body = OrganisationPatch,
    params(
        ("id" = String, Path, description = "Organisation id"),
        crate::http::etag::IfMatchHeader,
    ),
    responses(
        (status = 200, description = "Updated", body = Organisation, headers(("ETag" = String))),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    ),
    security(("bearer" = []))
)]
#[patch("/organisations/{id}")]
pub async fn update_organisation(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<OrgId>,
    if_match: IfMatch,
    body: Json<OrganisationPatch>,
) -> Result<HttpResponse, ApiError> {
    patch_tagged(&state.db, caller, path, if_match, body.into_inner(), update).await
}

/// Renames an organisation or changes its slug, with its audit row; returns the row version
/// and the organisation. Operator admins only (403 before 422 before 404); `If-Match` must
/// name the current version; a slug another organisation has is 409 `slug_taken`.
pub fn update(
    conn: &mut DbConn,
    ctx: &AuthContext,
    id: &OrgId,
    if_match: IfMatch,
    patch: OrganisationPatch,
) -> Result<(i64, Organisation), ApiError> {
    ctx.require_operator_admin()?;
    let mut v = Validator::new();
    if let Some(name) = &patch.name {
        v.text("name", name, 200);
    }
    if let Some(slug) = &patch.slug {
        validate_slug(&mut v, slug);
    }
    v.finish()?;
    let before = model::find_org(conn, id)?.ok_or_else(ApiError::not_found)?;
    if_match.check(before.version)?;
    let mut after = before.clone();
    if let Some(name) = patch.name {
        after.name = name.trim().to_string();
    }
    if let Some(slug) = patch.slug {
        if model::slug_taken(conn, &slug, Some(id))?.is_some() {
            return Err(ApiError::conflict(
                ErrorCode::SlugTaken,
                "An organisation with this slug exists.",
            ));
        }
        after.slug = slug;
    }
    if !model::update_org(conn, &after)? {
        return Err(ApiError::precondition_failed());
    }
    let updated = model::find_org(conn, id)?.ok_or_else(ApiError::not_found)?;
    let version = updated.version;
    let after = Organisation::from(updated);
    audit::changed(conn, ctx, "organisation.update", &Organisation::from(before), &after)?;
    Ok((version, after))
}
