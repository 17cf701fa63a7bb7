use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::{self, ContactFields, ContactFilter, ContactRow, LibraryContact};
use crate::audit;
use crate::auth::{AuthContext, Caller, Capability};
use crate::catalogue::model as catalogue;
use crate::catalogue::nullable;
use crate::db::{new_id, now, DbConn, DeviceModelId, OrgId};
use crate::http::etag::{read_tagged, write_no_content, write_tagged, IfMatch};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::json::Json;
use crate::http::pagination::{keyed, list_page, list_query, Page};
use crate::http::responses::*;
use crate::http::validate::Validator;
use crate::http::ApiError;
use crate::AppState;

/// The manufacturer itself (a manufacturer or service provider, not a viewer) or the operator.
fn authorise(ctx: &AuthContext, manufacturer_org_id: &OrgId) -> Result<(), ApiError> {
    ctx.owner_or_operator(
        manufacturer_org_id,
        Capability::ManageRoadmaps,
        "You may manage only your own organisation's library contacts.",
    )
}

/// Contact `id`, locked, for a change by its manufacturer or the operator (403) at the version
/// `If-Match` names (412); 404 when there is none.
fn to_change(conn: &mut DbConn, ctx: &AuthContext, id: &str, if_match: &IfMatch) -> Result<ContactRow, ApiError> {
    crate::db::lock_row(conn, crate::db::Lockable::LibraryContacts, id)?;
    let row = model::find(conn, id)?.ok_or_else(ApiError::not_found)?;
    authorise(ctx, &row.manufacturer_org_id)?;
    if_match.check(row.version)?;
    Ok(row)
}

/// Adds a field error unless `device_model_id` names a product of `manufacturer_org_id`.
fn check_product(
    conn: &mut DbConn,
    v: &mut Validator,
    manufacturer_org_id: &OrgId,
    device_model_id: &DeviceModelId,
) -> Result<(), ApiError> {
    match catalogue::find_model(conn, device_model_id)? {
        Some(m) if m.manufacturer_org_id == manufacturer_org_id => {}
        Some(_) => v.error("device_model_id", "must be a product of manufacturer_org_id"),
        None => v.error("device_model_id", "no such device model"),
    }
    Ok(())
}

fn trimmed(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_string())
}

list_query! {
    pub struct ContactQuery {
        #[param(value_type = Option<String>)]
        pub manufacturer_org_id: Option<OrgId>,
        #[param(value_type = Option<String>)]
        pub device_model_id: Option<DeviceModelId>,
        /// `true`: only entries not verified for more than 365 days; `false`: only the others.
        pub stale: Option<bool>,
    }
}

/// List firmware-library contacts
///
/// Every signed-in user. Ordered by id.
#[utoipa::path(
    tag = "library-contacts",
    operation_id = "listLibraryContacts",
    params(ContactQuery),
    responses(
        (status = 200, description = "A page of library contacts", body = Page<LibraryContact>),
    ),
    security(("bearer" = []))
)]
#[get("/library-contacts")]
pub async fn list_library_contacts(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ContactQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let page = q.page()?;
    let filter = ContactFilter {
        manufacturer_org_id: q.manufacturer_org_id,
        device_model_id: q.device_model_id,
        stale: q.stale,
    };
    let today = model::today();
    list_page(&state.db, caller, &req, page, move |conn, _ctx, after, fetch| {
        let rows = model::list(conn, filter, today, after, fetch)?;
        Ok(rows.into_iter().map(|r| LibraryContact::new(r, today)).collect())
    })
    .await
}

keyed!(LibraryContact, id);

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLibraryContact {
    /// A manufacturer or service provider (or the operator); you must be it, or the operator.
    #[schema(value_type = String)]
    pub manufacturer_org_id: OrgId,
    /// One of the manufacturer's products; omit for all of them.
    #[schema(value_type = Option<String>)]
    pub device_model_id: Option<DeviceModelId>,
    #[schema(example = "Firmware library desk", min_length = 1, max_length = 200)]
    pub contact_name: String,
    #[schema(example = "firmware@meterwise.example", max_length = 254)]
    pub email: String,
    /// 5-30 characters: digits, spaces, `+`, `-` and parentheses.
    #[schema(
        example = "+44 20 7946 0000",
        min_length = 5,
        max_length = 30,
        pattern = "^[0-9 +()-]+$"
    )]
    pub phone: Option<String>,
    /// An `http://` or `https://` URL.
    #[schema(example = "https://meterwise.example/firmware", max_length = 2000)]
    pub url: Option<String>,
    #[serde(default)]
    #[schema(max_length = 4000)]
    pub notes: String,
    /// When the entry was last confirmed; not in the future.
    pub verified_on: NaiveDate,
}

/// Add a firmware-library contact
///
/// The manufacturer itself or the operator.
#[utoipa::path(
    tag = "library-contacts",
    operation_id = "createLibraryContact",
    request_body = NewLibraryContact,
    params(crate::http::idempotency::IdempotencyKeyHeader),
    responses(
        (status = 201, description = "Created", body = LibraryContact),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[post("/library-contacts")]
pub async fn create_library_contact(
    state: web::Data<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    body: Json<NewLibraryContact>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let today = model::today();
    let idem = key.bind("POST /library-contacts", &body);
    idempotency::create_as(&state.db, caller, idem, move |conn, ctx, once| {
        authorise(&ctx, &body.manufacturer_org_id)?;
        once.create(conn, |conn| create(conn, &ctx, &body, today))
    })
    .await
}

/// Adds a library contact with its audit row. The fields must be well formed (`verified_on`
/// not after `today`), the manufacturer a manufacturer, a service provider or the operator, and
/// the product, if any, one of its products; all field errors come in one 422.
pub fn create(
    conn: &mut DbConn,
    ctx: &AuthContext,
    body: &NewLibraryContact,
    today: NaiveDate,
) -> Result<LibraryContact, ApiError> {
    let mut v = Validator::new();
    model::check(
        &mut v,
        ContactFields {
            contact_name: Some(&body.contact_name),
            email: Some(&body.email),
            phone: body.phone.as_deref(),
            url: body.url.as_deref(),
            notes: Some(&body.notes),
            verified_on: Some(body.verified_on),
        },
        today,
    );
    match catalogue::org_kind(conn, &body.manufacturer_org_id)?.as_deref() {
        Some("manufacturer" | "service_provider" | "operator") => {}
        Some(_) => v.error(
            "manufacturer_org_id",
            "must be a manufacturer, a service provider or the operator",
        ),
        None => v.error("manufacturer_org_id", "no such organisation"),
    }
    if let Some(model_id) = &body.device_model_id {
        check_product(conn, &mut v, &body.manufacturer_org_id, model_id)?;
    }
    v.finish()?;
    let now = now();
    let row = ContactRow {
        id: new_id(),
        manufacturer_org_id: body.manufacturer_org_id.clone(),
        device_model_id: body.device_model_id.clone(),
        contact_name: body.contact_name.trim().to_string(),
        email: body.email.trim().to_string(),
        phone: trimmed(body.phone.clone()),
        url: trimmed(body.url.clone()),
        notes: body.notes.clone(),
        verified_on: body.verified_on,
        stale_reminded_for: None,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    model::insert(conn, &row)?;
    let created = LibraryContact::new(row, today);
    audit::created(conn, ctx, "library_contact.create", &created)?;
    Ok(created)
}

/// Get a firmware-library contact
///
/// Every signed-in user. `stale` tells whether it was verified more than 365 days ago; the
/// `ETag` is the one `If-Match` on PATCH and DELETE expects.
#[utoipa::path(
    tag = "library-contacts",
    operation_id = "getLibraryContact",
    params(("id" = String, Path, description = "Library contact id")),
    responses(
        (status = 200, description = "The library contact", body = LibraryContact, headers(("ETag" = String))),
    ),
    security(("bearer" = []))
)]
#[get("/library-contacts/{id}")]
pub async fn get_library_contact(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    read_tagged(&state.db, caller, move |conn, _ctx| {
        let row = model::find(conn, &path)?.ok_or_else(ApiError::not_found)?;
        Ok((row.version, LibraryContact::new(row, model::today())))
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LibraryContactPatch {
    /// One of the manufacturer's products, or `null` for all of them.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub device_model_id: Option<Option<DeviceModelId>>,
    #[schema(min_length = 1, max_length = 200)]
    pub contact_name: Option<String>,
    #[schema(max_length = 254)]
    pub email: Option<String>,
    /// A new number, or `null` to clear it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, min_length = 5, max_length = 30, pattern = "^[0-9 +()-]+$")]
    pub phone: Option<Option<String>>,
    /// A new URL, or `null` to clear it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub url: Option<Option<String>>,
    #[schema(max_length = 4000)]
    pub notes: Option<String>,
    /// Re-verifying sets this to today; an entry that goes stale again is reminded again.
    pub verified_on: Option<NaiveDate>,
}

/// Update a firmware-library contact
///
/// The manufacturer itself or the operator. The manufacturer cannot change.
#[utoipa::path(
    tag = "library-contacts",
    operation_id = "updateLibraryContact",
    request_body = LibraryContactPatch,
    params(
        ("id" = String, Path, description = "Library contact id"),
        crate::http::etag::IfMatchHeader,
    ),
    responses(
        (status = 200, description = "Updated", body = LibraryContact, headers(("ETag" = String))),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[patch("/library-contacts/{id}")]
pub async fn update_library_contact(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    if_match: IfMatch,
    body: Json<LibraryContactPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let patch = body.into_inner();
    let today = model::today();
    check_patch(&patch, today)?;
    write_tagged(&state.db, caller, move |conn, ctx| {
        update(conn, &ctx, &id, if_match, patch, today)
    })
    .await
}

fn check_patch(patch: &LibraryContactPatch, today: NaiveDate) -> Result<(), ApiError> {
    let mut v = Validator::new();
    model::check(
        &mut v,
        ContactFields {
            contact_name: patch.contact_name.as_deref(),
            email: patch.email.as_deref(),
            phone: patch.phone.as_ref().and_then(|p| p.as_deref()),
            url: patch.url.as_ref().and_then(|u| u.as_deref()),
            notes: patch.notes.as_deref(),
            verified_on: patch.verified_on,
        },
        today,
    );
    v.finish()
}

/// Applies a patch with its audit row; returns the new row version and the contact. The
/// manufacturer itself or the operator; `If-Match` must name the current version; a new
/// product must be one of the manufacturer's.
pub fn update(
    conn: &mut DbConn,
    ctx: &AuthContext,
    id: &str,
    if_match: IfMatch,
    patch: LibraryContactPatch,
    today: NaiveDate,
) -> Result<(i64, LibraryContact), ApiError> {
    let before_row = to_change(conn, ctx, id, &if_match)?;
    if let Some(Some(model_id)) = &patch.device_model_id {
        let mut v = Validator::new();
        check_product(conn, &mut v, &before_row.manufacturer_org_id, model_id)?;
        v.finish()?;
    }
    let mut row = before_row.clone();
    if let Some(model_id) = patch.device_model_id {
        row.device_model_id = model_id;
    }
    if let Some(name) = patch.contact_name {
        row.contact_name = name.trim().to_string();
    }
    if let Some(email) = patch.email {
        row.email = email.trim().to_string();
    }
    if let Some(phone) = patch.phone {
        row.phone = trimmed(phone);
    }
    if let Some(url) = patch.url {
        row.url = trimmed(url);
    }
    if let Some(notes) = patch.notes {
        row.notes = notes;
    }
    if let Some(date) = patch.verified_on {
        row.verified_on = date;
    }
    let saved = model::update(conn, &row)?.ok_or_else(ApiError::precondition_failed)?;
    let before = LibraryContact::new(before_row, today);
    let after = LibraryContact::new(saved.clone(), today);
    audit::changed(conn, ctx, "library_contact.update", &before, &after)?;
    Ok((saved.version, after))
}

/// Delete a firmware-library contact
///
/// The manufacturer itself or the operator.
#[utoipa::path(
    tag = "library-contacts",
    operation_id = "deleteLibraryContact",
    params(
        ("id" = String, Path, description = "Library contact id"),
        crate::http::etag::IfMatchHeader,
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[delete("/library-contacts/{id}")]
pub async fn delete_library_contact(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    write_no_content(&state.db, caller, move |conn, ctx| {
        let row = to_change(conn, &ctx, &id, &if_match)?;
        if !model::delete(conn, &id, row.version)? {
            return Err(ApiError::precondition_failed());
        }
        let before = LibraryContact::new(row, model::today());
        audit::deleted(conn, &ctx, "library_contact.delete", &before)
    })
    .await
}
