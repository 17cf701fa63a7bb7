//! Nominations: what an organisation puts forward for a deployment phase of a release (its
//! device sets and how many Comms Hubs), one per organisation per release and phase.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{announce, create_under, list_under, page_of, phase_not_open, DeploymentPhase};
use crate::audit;
use crate::auth::{AuthContext, Caller, Capability};
use crate::db::schema::{deployment_nominations as dn, device_sets};
use crate::db::{new_id, now, DbConn, DeviceSetId, JsonText, OrgId, ReleaseId, UserId};
use crate::http::idempotency::IdempotencyKey;
use crate::http::json::Json;
use crate::http::pagination::{keyed, list_query, Page};
use crate::http::responses::*;
use crate::http::validate::Validator;
use crate::http::{ApiError, ErrorCode};
use crate::releases::model::{dedup_keep_order, ReleaseRow};
use crate::releases::Stage;
use crate::AppState;

/// Most device sets one nomination lists.
const MAX_SETS: usize = 500;
/// Most Comms Hubs one nomination counts.
const MAX_HUBS: i64 = 100_000_000;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = dn)]
struct NominationRow {
    id: String,
    release_id: ReleaseId,
    phase: DeploymentPhase,
    org_id: OrgId,
    device_set_ids_json: JsonText<Vec<DeviceSetId>>,
    hub_count: i64,
    note: String,
    created_by_user_id: UserId,
    created_at: NaiveDateTime,
}

/// What an organisation nominates for a deployment phase of a release.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Nomination {
    pub id: String,
    #[schema(value_type = String)]
    pub release_id: ReleaseId,
    pub phase: DeploymentPhase,
    /// The nominating organisation.
    #[schema(value_type = String)]
    pub org_id: OrgId,
    /// The device sets (Comms Hub and device firmware combinations) it puts forward.
    #[schema(value_type = Vec<String>)]
    pub device_set_ids: Vec<DeviceSetId>,
    /// How many of its Comms Hubs it puts forward.
    #[schema(example = 250)]
    pub hub_count: i64,
    pub note: String,
    #[schema(value_type = String)]
    pub created_by_user_id: UserId,
    pub created_at: DateTime<Utc>,
}

keyed!(Nomination, id);
crate::http::idempotency::located!(Nomination);
crate::audit::audited!(Nomination, "deployment_nomination", id, owner = org_id);

impl From<NominationRow> for Nomination {
    fn from(r: NominationRow) -> Self {
        Self {
            id: r.id,
            release_id: r.release_id,
            phase: r.phase,
            org_id: r.org_id,
            device_set_ids: r.device_set_ids_json.into_inner(),
            hub_count: r.hub_count,
            note: r.note,
            created_by_user_id: r.created_by_user_id,
            created_at: r.created_at.and_utc(),
        }
    }
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNomination {
    /// The phase nominated for; default `deployment_phase_1`.
    #[serde(default)]
    pub phase: Option<DeploymentPhase>,
    /// Device sets to include (1-500; repeats are dropped).
    #[schema(value_type = Vec<String>, min_items = 1, max_items = 500)]
    pub device_set_ids: Vec<DeviceSetId>,
    /// Comms Hubs to include, at least 1.
    #[schema(minimum = 1, maximum = 100_000_000)]
    pub hub_count: i64,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub note: String,
}

list_query! {
    pub struct NominationQuery {
        /// Only this phase's nominations.
        pub phase: Option<DeploymentPhase>,
    }
}

/// List a release's nominations
///
/// Oldest first. For the operator, reviewers and the organisations taking part in the release
/// (joined one of its UIT windows, or nominated); to others 404, like a missing release.
#[utoipa::path(
    tag = "releases",
    operation_id = "listDeploymentNominations",
    params(("id" = String, Path, description = "Release id"), NominationQuery),
    responses((status = 200, description = "A page of nominations", body = Page<Nomination>)),
    security(("bearer" = []))
)]
#[get("/releases/{id}/nominations")]
pub async fn list_nominations(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<ReleaseId>,
    query: web::Query<NominationQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let asked = (path.into_inner(), query.phase, query.page()?);
    list_under(&state, caller, &req, asked, page).await
}

page_of!(dn, NominationRow, Nomination);

/// Nominate device sets and Comms Hubs for a deployment phase
///
/// Organisations that may take part in UIT (not reviewers), for themselves. Nominations for a
/// phase are taken from `approved` until the phase ends (422 `phase_not_open` otherwise).
/// One per organisation per release and phase: a second is 409 `nomination_exists` with
/// `context.existing_id`. Unknown device sets are 422 naming `device_set_ids[i]`. The
/// organisations taking part in the release, the operator and reviewers subscribed to
/// `releases` are told.
#[utoipa::path(
    tag = "releases",
    operation_id = "createDeploymentNomination",
    request_body = NewNomination,
    params(
        ("id" = String, Path, description = "Release id"),
        crate::http::idempotency::IdempotencyKeyHeader,
    ),
    responses(
        (status = 201, description = "Created", body = Nomination),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    ),
    security(("bearer" = []))
)]
#[post("/releases/{id}/nominations")]
pub async fn create_nomination(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<ReleaseId>,
    key: IdempotencyKey,
    body: Json<NewNomination>,
) -> Result<HttpResponse, ApiError> {
    let at = (path.into_inner(), "nominations", key);
    create_under(&state, caller, at, Capability::Participate, body.into_inner(), create).await
}

/// Field errors for the body; the device sets without repeats.
fn check(conn: &mut DbConn, body: &NewNomination) -> Result<Vec<DeviceSetId>, ApiError> {
    let mut v = Validator::new();
    let ids = &body.device_set_ids;
    if ids.is_empty() || ids.len() > MAX_SETS {
        v.error("device_set_ids", format!("must list 1 to {MAX_SETS} device sets"));
    } else {
        let found: Vec<DeviceSetId> = device_sets::table
            .filter(device_sets::id.eq_any(ids))
            .select(device_sets::id)
            .load(conn)?;
        for (i, id) in ids.iter().enumerate() {
            if !found.contains(id) {
                v.error(&format!("device_set_ids[{i}]"), "no such device set");
            }
        }
    }
    if !(1..=MAX_HUBS).contains(&body.hub_count) {
        v.error("hub_count", format!("must be 1 to {MAX_HUBS}"));
    }
    if body.note.chars().count() > 2000 {
        v.error("note", "must be at most 2000 characters");
    }
    v.finish()?;
    Ok(dedup_keep_order(ids.clone()))
}

/// Records `ctx`'s organisation's nomination for `release` (in `stage` now), its change event
/// and audit row; see [`create_nomination`] for the rules.
fn create(
    conn: &mut DbConn,
    ctx: &AuthContext,
    release: &ReleaseRow,
    stage: Stage,
    body: NewNomination,
) -> Result<Nomination, ApiError> {
    let set_ids = check(conn, &body)?;
    let phase = body.phase.unwrap_or(DeploymentPhase::Phase1);
    let rank = |s: Stage| Stage::ALL.iter().position(|x| *x == s);
    if !(rank(Stage::Approved)..=rank(phase.stage())).contains(&rank(stage)) {
        let what = format!("Nominations for {phase} are taken from approved until {phase} ends");
        return Err(phase_not_open(release, stage, phase, &what));
    }
    // The release row is locked ([`create_under`]), so this check sees any concurrent
    // nomination; were it not, the unique key is answered with the same code, without the id.
    let existing: Option<String> = dn::table
        .filter(dn::release_id.eq(&release.id))
        .filter(dn::phase.eq(phase))
        .filter(dn::org_id.eq(&ctx.org_id))
        .select(dn::id)
        .first(conn)
        .optional()?;
    if let Some(existing) = existing {
        let detail = format!("Your organisation has already nominated for {phase} of this release.");
        return Err(ApiError::conflict(ErrorCode::NominationExists, detail)
            .with_context(serde_json::json!({ "existing_id": existing })));
    }
    let row = NominationRow {
        id: new_id(),
        release_id: release.id.clone(),
        phase,
        org_id: ctx.org_id.clone(),
        device_set_ids_json: JsonText(set_ids),
        hub_count: body.hub_count,
        note: body.note.trim().to_string(),
        created_by_user_id: ctx.user_id.clone(),
        created_at: now(),
    };
    diesel::insert_into(dn::table).values(&row).execute(conn)?;
    let created = Nomination::from(row);
    let summary = format!(
        "{} Comms Hubs in {} device sets nominated for {phase} of release {}",
        created.hub_count,
        created.device_set_ids.len(),
        release.name
    );
    let details = serde_json::json!({
        "nomination_id": created.id, "phase": phase, "org_id": created.org_id,
        "device_set_count": created.device_set_ids.len(), "hub_count": created.hub_count, "note": created.note,
    });
    announce(conn, ctx, release, "deployment.nominated", summary, details)?;
    audit::created(conn, ctx, "deployment_nomination.create", &created)?;
    Ok(created)
}
