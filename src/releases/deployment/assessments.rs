//! Assessments: the operator's record of the meeting after a deployment phase, with the UIT
//! issues and defect masks discussed and the outcome. The latest assessment of the phase a
//! release is in decides whether it may move on ([`crate::releases::gate::check_assessed`]).

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{announce, create_under, list_under, page_of, phase_not_open, DeploymentPhase};
use crate::audit;
use crate::auth::{AuthContext, Caller, Capability};
use crate::db::schema::{defect_masks, deployment_assessments as da, uit_issues};
use crate::db::{new_id, now, DbConn, JsonText, OrgId, ReleaseId, UserId};
use crate::http::idempotency::IdempotencyKey;
use crate::http::json::Json;
use crate::http::pagination::{keyed, list_query, Page};
use crate::http::responses::*;
use crate::http::validate::Validator;
use crate::http::ApiError;
use crate::releases::model::{dedup_keep_order, ReleaseRow};
use crate::releases::Stage;
use crate::AppState;

/// Most issues one assessment cites.
const MAX_ISSUES: usize = 200;
/// The longest minutes kept.
const MINUTES_MAX: usize = 20_000;

crate::text_enum!(
    /// What the assessment meeting decided: go on to the next phase, hold where it is, or
    /// roll back. Only `proceed` opens the next phase; `roll_back` is recorded and announced
    /// (the track has no backward move: withdraw the release if it must stop).
    AssessmentOutcome {
        Proceed => "proceed",
        Hold => "hold",
        RollBack => "roll_back",
    }
);

/// What an assessment cites: a UIT issue or a defect mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IssueKind {
    UitIssue,
    DefectMask,
}

/// One issue an assessment cites.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CitedIssue {
    pub kind: IssueKind,
    pub id: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = da)]
struct AssessmentRow {
    id: String,
    release_id: ReleaseId,
    phase: DeploymentPhase,
    outcome: AssessmentOutcome,
    issues_json: JsonText<Vec<CitedIssue>>,
    minutes: String,
    recorded_by_user_id: UserId,
    recorded_by_org_id: OrgId,
    recorded_at: NaiveDateTime,
}

/// The operator's assessment of a deployment phase.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Assessment {
    pub id: String,
    #[schema(value_type = String)]
    pub release_id: ReleaseId,
    pub phase: DeploymentPhase,
    pub outcome: AssessmentOutcome,
    /// The UIT issues and defect masks discussed, in the order given.
    pub issues: Vec<CitedIssue>,
    pub minutes: String,
    #[schema(value_type = String)]
    pub recorded_by_user_id: UserId,
    #[schema(value_type = String)]
    pub recorded_by_org_id: OrgId,
    pub recorded_at: DateTime<Utc>,
}

keyed!(Assessment, id);
crate::http::idempotency::located!(Assessment);
crate::audit::audited!(Assessment, "deployment_assessment", id);

impl From<AssessmentRow> for Assessment {
    fn from(r: AssessmentRow) -> Self {
        Self {
            id: r.id,
            release_id: r.release_id,
            phase: r.phase,
            outcome: r.outcome,
            issues: r.issues_json.into_inner(),
            minutes: r.minutes,
            recorded_by_user_id: r.recorded_by_user_id,
            recorded_by_org_id: r.recorded_by_org_id,
            recorded_at: r.recorded_at.and_utc(),
        }
    }
}

/// The latest assessment of `phase` of the release: its id and outcome.
pub fn latest(
    conn: &mut DbConn,
    release_id: &ReleaseId,
    phase: DeploymentPhase,
) -> QueryResult<Option<(String, AssessmentOutcome)>> {
    da::table
        .filter(da::release_id.eq(release_id))
        .filter(da::phase.eq(phase))
        .order((da::recorded_at.desc(), da::id.desc()))
        .select((da::id, da::outcome))
        .first(conn)
        .optional()
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAssessment {
    /// The phase assessed: the release's last decided stage (the one its next move leaves).
    pub phase: DeploymentPhase,
    pub outcome: AssessmentOutcome,
    /// Ids of UIT issues or defect masks discussed (at most 200; repeats are dropped).
    #[serde(default)]
    #[schema(max_items = 200)]
    pub issues: Vec<String>,
    /// The meeting's minutes.
    #[schema(min_length = 1, max_length = 20000)]
    pub minutes: String,
}

list_query! {
    pub struct AssessmentQuery {
        /// Only this phase's assessments.
        pub phase: Option<DeploymentPhase>,
    }
}

/// List a release's deployment assessments
///
/// Oldest first. For the operator, reviewers and the organisations taking part in the release
/// (joined one of its UIT windows, or nominated); to others 404, like a missing release.
#[utoipa::path(
    tag = "releases",
    operation_id = "listDeploymentAssessments",
    params(("id" = String, Path, description = "Release id"), AssessmentQuery),
    responses((status = 200, description = "A page of assessments", body = Page<Assessment>)),
    security(("bearer" = []))
)]
#[get("/releases/{id}/assessments")]
pub async fn list_assessments(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<ReleaseId>,
    query: web::Query<AssessmentQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let asked = (path.into_inner(), query.phase, query.page()?);
    list_under(&state, caller, &req, asked, page).await
}

page_of!(da, AssessmentRow, Assessment);

/// Record the assessment of a deployment phase
///
/// Operator organisations only. The phase must be the release's last decided stage, the one
/// its next move leaves (422 `phase_not_open`); a phase decided for later may be assessed
/// before it starts. `issues` are ids of UIT issues or defect masks; an unknown one is 422
/// naming `issues[i]`. Only a `proceed` as the latest assessment of the phase lets the
/// release move to the next (`POST /releases/{id}/stage`). The organisations taking part in
/// the release, the operator and reviewers subscribed to `releases` are told.
#[utoipa::path(
    tag = "releases",
    operation_id = "createDeploymentAssessment",
    request_body = NewAssessment,
    params(
        ("id" = String, Path, description = "Release id"),
        crate::http::idempotency::IdempotencyKeyHeader,
    ),
    responses(
        (status = 201, description = "Created", body = Assessment),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[post("/releases/{id}/assessments")]
pub async fn create_assessment(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<ReleaseId>,
    key: IdempotencyKey,
    body: Json<NewAssessment>,
) -> Result<HttpResponse, ApiError> {
    let at = (path.into_inner(), "assessments", key);
    create_under(
        &state,
        caller,
        at,
        Capability::ManageIndustry,
        body.into_inner(),
        create,
    )
    .await
}

/// The cited ids as UIT issues `ctx` may read or defect masks; field errors for the others.
fn cite(conn: &mut DbConn, ctx: &AuthContext, body: &NewAssessment) -> Result<Vec<CitedIssue>, ApiError> {
    let mut v = Validator::new();
    v.text("minutes", &body.minutes, MINUTES_MAX);
    let ids = dedup_keep_order(body.issues.clone());
    if ids.len() > MAX_ISSUES {
        return Err(ApiError::invalid_field(
            "issues",
            format!("must list at most {MAX_ISSUES} issues"),
        ));
    }
    let issues: Vec<String> = crate::uit_issues::model::visible_to(ctx)
        .filter(uit_issues::id.eq_any(ids.clone()))
        .select(uit_issues::id)
        .load(conn)?;
    let masks: Vec<String> = defect_masks::table
        .filter(defect_masks::id.eq_any(&ids))
        .select(defect_masks::id)
        .load(conn)?;
    let mut cited = Vec::new();
    for id in &ids {
        match (issues.contains(id), masks.contains(id)) {
            (true, _) => cited.push(CitedIssue {
                kind: IssueKind::UitIssue,
                id: id.clone(),
            }),
            (_, true) => cited.push(CitedIssue {
                kind: IssueKind::DefectMask,
                id: id.clone(),
            }),
            _ => {
                let i = body.issues.iter().position(|x| x == id).unwrap_or_default();
                v.error(&format!("issues[{i}]"), "no such UIT issue or defect mask");
            }
        }
    }
    v.finish()?;
    Ok(cited)
}

/// Records the assessment of `release` with its change event and audit row;
/// see [`create_assessment`] for the rules.
fn create(
    conn: &mut DbConn,
    ctx: &AuthContext,
    release: &ReleaseRow,
    _in_effect: Stage,
    body: NewAssessment,
) -> Result<Assessment, ApiError> {
    let issues = cite(conn, ctx, &body)?;
    let phase = body.phase;
    if release.stage != phase.stage() {
        let what =
            format!("Only the phase the next move leaves is assessed: {phase}, while it is the last decided stage");
        return Err(phase_not_open(release, release.stage, phase, &what));
    }
    let row = AssessmentRow {
        id: new_id(),
        release_id: release.id.clone(),
        phase,
        outcome: body.outcome,
        issues_json: JsonText(issues),
        minutes: body.minutes.trim().to_string(),
        recorded_by_user_id: ctx.user_id.clone(),
        recorded_by_org_id: ctx.org_id.clone(),
        recorded_at: now(),
    };
    diesel::insert_into(da::table).values(&row).execute(conn)?;
    let created = Assessment::from(row);
    let summary = format!("Assessment of {phase} of release {}: {}", release.name, created.outcome);
    let details = serde_json::json!({
        "assessment_id": created.id, "phase": phase, "outcome": created.outcome,
        "issue_count": created.issues.len(), "minutes": created.minutes,
    });
    announce(conn, ctx, release, "deployment.assessed", summary, details)?;
    audit::created(conn, ctx, "deployment_assessment.create", &created)?;
    Ok(created)
}
