//! Co-operative deployment (issue 13, part 6; `reference/000_*.txt` section 3.3): suppliers
//! nominate the Comms Hubs and devices of a deployment phase ([`nominations`]), the operator
//! records the assessment meeting after each phase ([`assessments`]), and the release moves on
//! to the next phase only after a `proceed` ([`super::gate::check_assessed`]).
//!
//! Who reads them: the operator, reviewers (SECAS and the working groups review releases) and
//! the organisations taking part in the release: those that joined one of its UIT windows or
//! nominated for one of its phases. To anyone else the release's nominations and assessments
//! answer 404, like a missing release, although the release itself is industry-visible.

pub mod assessments;
pub mod nominations;

use actix_web::{HttpRequest, HttpResponse};
use diesel::prelude::*;
use serde::Serialize;

use super::model::{self, ProductScope, ReleaseRow};
use super::Stage;
use crate::auth::{AuthContext, Caller, Capability, OrgKind};
use crate::db::schema::{deployment_nominations as dn, uit_windows, window_participants as wp};
use crate::db::{DbConn, OrgId, ReleaseId};
use crate::events::{self, NewEvent, Topic};
use crate::http::idempotency::{self, IdempotencyKey, Located};
use crate::http::pagination::{list_page, Keyed, PageRequest};
use crate::http::{ApiError, ErrorCode};
use crate::notifications::audience::Audience;
use crate::AppState;

/// Defines the kind's `page` (a [`LoadPage`]) over its records in `$table` (nominations or
/// assessments, which share the columns `id`, `release_id` and `phase`), read as `$row` and
/// answered as `$view`.
macro_rules! page_of {
    ($table:ident, $row:ty, $view:ty) => {
        /// A page of the release's records, oldest first, of one phase if given (the caller
        /// checked [`super::may_read`]).
        pub fn page(
            conn: &mut DbConn,
            release_id: &ReleaseId,
            phase: Option<DeploymentPhase>,
            after: Option<String>,
            limit: i64,
        ) -> QueryResult<Vec<$view>> {
            let mut query = $table::table
                .filter($table::release_id.eq(release_id))
                .select(<$row>::as_select())
                .into_boxed();
            if let Some(phase) = phase {
                query = query.filter($table::phase.eq(phase));
            }
            if let Some(after) = after {
                query = query.filter($table::id.gt(after));
            }
            let rows = query.order($table::id.asc()).limit(limit).load::<$row>(conn)?;
            Ok(rows.into_iter().map(<$view>::from).collect())
        }
    };
}
pub(crate) use page_of;

/// Loads a page of a release's records: `(conn, release_id, phase, after, fetch)`.
pub type LoadPage<T> = fn(&mut DbConn, &ReleaseId, Option<DeploymentPhase>, Option<String>, i64) -> QueryResult<Vec<T>>;

/// A list handler's whole tail: 404 unless `ctx` may read the release's record
/// ([`readable`]), then a page from `load`.
pub async fn list_under<T: Serialize + Keyed + Send + 'static>(
    state: &AppState,
    caller: Caller,
    req: &HttpRequest,
    (release_id, phase, page): (ReleaseId, Option<DeploymentPhase>, PageRequest),
    load: LoadPage<T>,
) -> Result<HttpResponse, ApiError> {
    list_page(&state.db, caller, req, page, move |conn, ctx, after, fetch| {
        readable(conn, &ctx, &release_id)?;
        Ok(load(conn, &release_id, phase, after, fetch)?)
    })
    .await
}

/// Creates a record of the release: `(conn, ctx, release, stage in effect, body)`.
pub type Create<B, T> = fn(&mut DbConn, &AuthContext, &ReleaseRow, Stage, B) -> Result<T, ApiError>;

/// A creation handler's whole tail: `cap` checked, the release locked (PostgreSQL) and
/// loaded (404), `create` run once per `Idempotency-Key` (`what`: the collection's name).
pub async fn create_under<B, T>(
    state: &AppState,
    caller: Caller,
    (release_id, what, key): (ReleaseId, &'static str, IdempotencyKey),
    cap: Capability,
    body: B,
    create: Create<B, T>,
) -> Result<HttpResponse, ApiError>
where
    B: Serialize + Send + 'static,
    T: Serialize + Located + 'static,
{
    let idem = key.bind(&format!("POST /releases/{release_id}/{what}"), &body);
    idempotency::create_as(&state.db, caller, idem, move |conn, ctx, once| {
        ctx.require(cap)?;
        crate::db::lock_row(conn, crate::db::Lockable::Releases, &release_id)?;
        let (release, stage) = in_effect(conn, &release_id)?;
        once.create(conn, |conn| create(conn, &ctx, &release, stage, body))
    })
    .await
}

crate::text_enum!(
    /// A deployment phase that is nominated for and assessed: phase 1 (a small agreed set of
    /// hubs) and phase 2 (larger). Mass deployment follows a `proceed` of phase 2.
    DeploymentPhase {
        Phase1 => "deployment_phase_1",
        Phase2 => "deployment_phase_2",
    }
);

impl DeploymentPhase {
    pub fn stage(self) -> Stage {
        match self {
            DeploymentPhase::Phase1 => Stage::DeploymentPhase1,
            DeploymentPhase::Phase2 => Stage::DeploymentPhase2,
        }
    }

    /// The phase a release in `stage` is in, if it is one that is assessed.
    pub fn of(stage: Stage) -> Option<Self> {
        DeploymentPhase::ALL.iter().copied().find(|p| p.stage() == stage)
    }
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(nominations::create_nomination)
        .service(nominations::list_nominations)
        .service(assessments::create_assessment)
        .service(assessments::list_assessments);
}

/// The organisations taking part in the release: those that joined one of its UIT windows and
/// those that nominated for one of its phases, sorted.
pub fn participants(conn: &mut DbConn, release_id: &ReleaseId) -> QueryResult<Vec<OrgId>> {
    let mut orgs: Vec<OrgId> = wp::table
        .inner_join(uit_windows::table)
        .filter(uit_windows::release_id.eq(release_id))
        .select(wp::org_id)
        .load(conn)?;
    orgs.extend(
        dn::table
            .filter(dn::release_id.eq(release_id))
            .select(dn::org_id)
            .load::<OrgId>(conn)?,
    );
    orgs.sort();
    orgs.dedup();
    Ok(orgs)
}

/// Whether `ctx` may read the release's nominations and assessments: the operator, reviewers
/// and the release's participants ([`participants`]).
pub fn may_read(conn: &mut DbConn, ctx: &AuthContext, release_id: &ReleaseId) -> QueryResult<bool> {
    if matches!(ctx.org_kind, OrgKind::Operator | OrgKind::Reviewer) {
        return Ok(true);
    }
    Ok(participants(conn, release_id)?.contains(&ctx.org_id))
}

/// The release whose deployment record `ctx` reads; 404 alike when it is missing or `ctx` does
/// not take part in it.
pub fn readable(conn: &mut DbConn, ctx: &AuthContext, release_id: &ReleaseId) -> Result<ReleaseRow, ApiError> {
    let row = model::find(conn, release_id)?.ok_or_else(ApiError::not_found)?;
    if !may_read(conn, ctx, release_id)? {
        return Err(ApiError::not_found());
    }
    Ok(row)
}

/// The release's stage in effect now (a decided phase counts once it has started).
pub fn in_effect(conn: &mut DbConn, release_id: &ReleaseId) -> Result<(ReleaseRow, Stage), ApiError> {
    let (row, release) = model::load(conn, release_id)?;
    Ok((row, release.stage))
}

/// 422 `phase_not_open`, naming what the phase is open for and the release's `stage`.
pub fn phase_not_open(release: &ReleaseRow, stage: Stage, phase: DeploymentPhase, what: &str) -> ApiError {
    ApiError::unprocessable(
        ErrorCode::PhaseNotOpen,
        format!("{what}; release {} is in {stage}.", release.name),
    )
    .with_context(serde_json::json!({ "stage": stage, "phase": phase }))
}

/// Records a change of the release's deployment record, told to subscribers to `releases`
/// (scoped to the release's products) who take part in the release, the operator and
/// reviewers: the audience is the participants at this moment (also in the details).
pub fn announce(
    conn: &mut DbConn,
    ctx: &AuthContext,
    release: &ReleaseRow,
    kind: &'static str,
    summary: String,
    mut details: serde_json::Value,
) -> Result<(), ApiError> {
    details["release_id"] = serde_json::json!(release.id);
    let org_ids = participants(conn, &release.id)?;
    details["participant_org_ids"] = serde_json::json!(org_ids);
    let scope: ProductScope = model::product_scope(conn, &release.id)?;
    let event = NewEvent::new(Topic::Releases, kind, "release_deployment", &release.id, summary)
        .details(details)
        .actor(&ctx.org_id)
        .audience(Audience::ReleaseParticipants { org_ids });
    events::record(conn, scope.apply(event))?;
    Ok(())
}
