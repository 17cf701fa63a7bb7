use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::announce;
use super::model::{self, Release, ReleaseRow, StageChangeRow};
use super::{ReleaseKind, Stage};
use crate::audit;
use crate::auth::{AuthContext, Caller, Capability};
use crate::db::{now, DbConn, FirmwareId, ReleaseId};
use crate::events::{self, NewEvent, Topic};
use crate::http::etag::{patch_tagged, tagged, IfMatch};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::json::Json;
use crate::http::pagination::{keyed, list_page, list_query, Page};
use crate::http::responses::*;
use crate::http::validate::Validator;
use crate::http::ApiError;
use crate::http::ErrorCode;
use crate::AppState;

/// Longest `notes`, in characters.
const MAX_NOTES: usize = 10_000;

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
pub(crate) fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

fn check_notes(v: &mut Validator, notes: &str) {
    if notes.chars().count() > MAX_NOTES {
        v.error("notes", format!("must be at most {MAX_NOTES} characters"));
    }
}

fn name_taken(existing_id: String) -> ApiError {
    ApiError::conflict(ErrorCode::ReleaseNameTaken, "A release with this name exists.")
        .with_context(serde_json::json!({ "existing_id": existing_id }))
}

list_query! {
    pub struct ReleaseQuery {
        pub kind: Option<ReleaseKind>,
        pub stage: Option<Stage>,
    }
}

/// List releases
///
/// Every release, to any signed-in user. Filter with `kind` and `stage` (the stage in effect
/// now); ordered by id.
#[utoipa::path(
    tag = "releases",
    operation_id = "listReleases",
    params(ReleaseQuery),
    responses(
        (status = 200, description = "A page of releases", body = Page<Release>),
    ),
    security(("bearer" = []))
)]
#[get("/releases")]
pub async fn list_releases(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ReleaseQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    list_page(&state.db, caller, &req, q.page()?, move |conn, _ctx, after, fetch| {
        let rows = model::list(conn, q.kind, q.stage, after, fetch)?;
        let ids: Vec<ReleaseId> = rows.iter().map(|r| r.id.clone()).collect();
        let mut firmware = model::firmware_of(conn, &ids)?;
        let mut tracks = model::tracks(conn, &ids, now())?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let f = firmware.remove(&r.id).unwrap_or_default();
                let track = tracks.remove(&r.id).unwrap_or_default();
                Release::new(r, f, track)
            })
            .collect::<Vec<_>>())
    })
    .await
}

keyed!(Release, id);

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "CHF 4.2.1 planned maintenance", "kind": "planned_maintenance", "target_date": "2027-04-15", "firmware_ids": ["0193a1c0-3a01-7c2e-8f11-0b2c4d6e8fa1"], "notes": "Fixes DM-0042 on Central/South Comms Hubs."}))]
pub struct NewRelease {
    /// Unique.
    #[schema(example = "CHF 4.2.1 planned maintenance", min_length = 1, max_length = 200)]
    pub name: String,
    pub kind: ReleaseKind,
    /// The planned production date.
    #[serde(default)]
    pub target_date: Option<NaiveDate>,
    /// Firmware versions the release carries; each must exist.
    #[serde(default)]
    #[schema(value_type = Vec<String>, max_items = 500)]
    pub firmware_ids: Vec<FirmwareId>,
    #[serde(default)]
    #[schema(max_length = 10000)]
    pub notes: String,
}

/// Create a release
///
/// Operator organisations only. The release starts at `content_agreed`; that first stage is
/// kept in its history and subscribers to `releases` are told.
#[utoipa::path(
    tag = "releases",
    operation_id = "createRelease",
    request_body = NewRelease,
    params(crate::http::idempotency::IdempotencyKeyHeader),
    responses(
        (status = 201, description = "Created", body = Release),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    ),
    security(("bearer" = []))
)]
#[post("/releases")]
pub async fn create_release(
    state: web::Data<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    body: Json<NewRelease>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let idem = key.bind("POST /releases", &body);
    idempotency::create_as(&state.db, caller, idem, move |conn, ctx, once| {
        ctx.require(Capability::ManageIndustry)?;
        once.create(conn, |conn| create(conn, &ctx, body))
    })
    .await
}

/// Creates a release at `content_agreed` with that first stage in its history, its
/// `release.created` event and its audit row. The name, date, notes and firmware are
/// validated together (422 naming each field); a name in use is 409 `release_name_taken`.
pub fn create(conn: &mut DbConn, ctx: &AuthContext, body: NewRelease) -> Result<Release, ApiError> {
    let mut v = Validator::new();
    v.text("name", &body.name, 200);
    if let Some(date) = body.target_date {
        model::check_year(&mut v, "target_date", date.year());
    }
    check_notes(&mut v, &body.notes);
    let firmware = model::check_firmware(conn, &mut v, body.firmware_ids)?;
    v.finish()?;
    let name = body.name.trim().to_string();
    if let Some(existing) = model::name_taken(conn, &name, None)? {
        return Err(name_taken(existing));
    }
    let now = now();
    let row = ReleaseRow {
        id: ReleaseId::new(),
        name,
        kind: body.kind,
        target_date: body.target_date,
        stage: Stage::ContentAgreed,
        notes: body.notes,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    model::insert(conn, &row)?;
    model::set_firmware(conn, &row.id, &firmware)?;
    model::insert_stage_change(
        conn,
        &StageChangeRow::plain(
            &row.id,
            None,
            row.stage,
            now,
            now,
            Some((&ctx.user_id, &ctx.org_id)),
            "Release created".into(),
        ),
    )?;
    let (_, release) = model::load(conn, &row.id)?;
    let scope = model::product_scope(conn, &release.id)?;
    events::record(
        conn,
        scope.apply(
            NewEvent::new(
                Topic::Releases,
                "release.created",
                "release",
                &release.id,
                format!("Release {} created ({})", release.name, release.kind),
            )
            .details(serde_json::json!({
                "name": release.name,
                "kind": release.kind,
                "stage": release.stage,
                "target_date": release.target_date,
                "firmware_ids": release.firmware_ids,
            }))
            .actor(&ctx.org_id),
        ),
    )?;
    audit::created(conn, ctx, "release.create", &release)?;
    Ok(release)
}

/// Get a release
///
/// Any signed-in user; the `ETag` is the one `If-Match` on PATCH expects.
#[utoipa::path(
    tag = "releases",
    operation_id = "getRelease",
    params(("id" = String, Path, description = "Release id")),
    responses(
        (status = 200, description = "The release", body = Release, headers(("ETag" = String))),
    ),
    security(("bearer" = []))
)]
#[get("/releases/{id}")]
pub async fn get_release(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<ReleaseId>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let (row, release) = state
        .db
        .read_as(caller, move |conn, _ctx| model::load(conn, &id))
        .await?;
    Ok(tagged(row.version, &release))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleasePatch {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// A new date, or `null` to clear it. A change is announced to subscribers.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<NaiveDate>)]
    pub target_date: Option<Option<NaiveDate>>,
    #[schema(max_length = 10000)]
    pub notes: Option<String>,
    /// Replaces the release's firmware; each must exist.
    #[schema(value_type = Option<Vec<String>>, max_items = 500)]
    pub firmware_ids: Option<Vec<FirmwareId>>,
}

/// Update a release
///
/// Operator organisations only. Name, target date, notes and firmware; the stage moves with
/// `POST /releases/{id}/stage`. A target date change is announced to subscribers.
#[utoipa::path(
    tag = "releases",
    operation_id = "updateRelease",
    request_body = ReleasePatch,
    params(
        ("id" = String, Path, description = "Release id"),
        crate::http::etag::IfMatchHeader,
    ),
    responses(
        (status = 200, description = "Updated", body = Release, headers(("ETag" = String))),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    ),
    security(("bearer" = []))
)]
#[patch("/releases/{id}")]
pub async fn update_release(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<ReleaseId>,
    if_match: IfMatch,
    body: Json<ReleasePatch>,
) -> Result<HttpResponse, ApiError> {
    patch_tagged(&state.db, caller, path, if_match, body.into_inner(), update).await
}

/// Applies a patch with its audit row and, when the target date changed, its
/// `release.date_changed` event; answers the release's version and the release. Operator
/// organisations only; the fields are validated (422) before `If-Match` is checked (412); a
/// name in use is 409 `release_name_taken`.
pub fn update(
    conn: &mut DbConn,
    ctx: &AuthContext,
    id: &ReleaseId,
    if_match: IfMatch,
    patch: ReleasePatch,
) -> Result<(i64, Release), ApiError> {
    ctx.require(Capability::ManageIndustry)?;
    crate::db::lock_row(conn, crate::db::Lockable::Releases, id)?;
    let (before_row, before) = model::load(conn, id)?;
    let mut v = Validator::new();
    if let Some(name) = &patch.name {
        v.text("name", name, 200);
    }
    if let Some(Some(date)) = patch.target_date {
        model::check_year(&mut v, "target_date", date.year());
    }
    if let Some(notes) = &patch.notes {
        check_notes(&mut v, notes);
    }
    let firmware = match patch.firmware_ids {
        Some(ids) => Some(model::check_firmware(conn, &mut v, ids)?),
        None => None,
    };
    v.finish()?;
    // After validation: a request that could never succeed is 422, not 412.
    if_match.check(before_row.version)?;
    let mut row = before_row.clone();
    if let Some(name) = patch.name {
        let name = name.trim().to_string();
        if let Some(existing) = model::name_taken(conn, &name, Some(id))? {
            return Err(name_taken(existing));
        }
        row.name = name;
    }
    if let Some(date) = patch.target_date {
        row.target_date = date;
    }
    if let Some(notes) = patch.notes {
        row.notes = notes;
    }
    if !model::update(conn, &row)? {
        return Err(ApiError::precondition_failed());
    }
    // The products the release leaves are told too.
    let scope_before = model::product_scope(conn, id)?;
    if let Some(firmware) = &firmware {
        model::set_firmware(conn, id, firmware)?;
    }
    let (after_row, after) = model::load(conn, id)?;
    if before.target_date != after.target_date {
        announce::date_change(conn, ctx, id, &before, &after)?;
    }
    if before.firmware_ids != after.firmware_ids {
        announce::firmware_change(conn, ctx, &before, &after, scope_before)?;
    }
    audit::changed(conn, ctx, "release.update", &before, &after)?;
    Ok((after_row.version, after))
}
