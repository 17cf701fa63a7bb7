//! Moving a release along its track, and the record of every move.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Datelike, Duration, NaiveDateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::{self, Release, StageChange, StageChangeRow};
use super::{gate, ReleaseKind, Stage};
use crate::audit;
use crate::auth::{AuthContext, Caller, Capability};
use crate::db::{now, DbConn, JsonText, ReleaseId};
use crate::events::{self, show, NewEvent, Topic};
use crate::http::etag::{tagged, IfMatch};
use crate::http::json::Json;
use crate::http::pagination::{keyed, list_page, list_query, Page};
use crate::http::responses::*;
use crate::http::validate::Validator;
use crate::http::ApiError;
use crate::http::ErrorCode;
use crate::AppState;

/// OTA deployment notice to suppliers (SEC Appendix AB).
const DEPLOYMENT_NOTICE_DAYS: i64 = 7;

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageMove {
    /// The next stage on the track, or `withdrawn`.
    pub stage: Stage,
    /// Why: kept in the release's stage history.
    #[schema(
        example = "SIT exit criteria met; no open severity 1 defects.",
        min_length = 1,
        max_length = 2000
    )]
    pub decision_note: String,
    /// When the stage takes effect (RFC 3339; default now). For the deployment phases this is
    /// when the phase starts, and it must be at least 7 days away unless the release is
    /// `unplanned_maintenance`.
    #[serde(default)]
    pub effective_at: Option<DateTime<Utc>>,
    /// The review pack the decision rests on (`POST /uit-windows/{id}/review-packs`), of one
    /// of the release's UIT windows. Required to move to `production_proving` or `approved`;
    /// recorded, with its hash and the verdicts on it at this moment, for any move.
    #[serde(default)]
    pub review_pack_id: Option<String>,
    /// Going ahead although the pack does not meet its window's exit criteria: why. Recorded
    /// in the history and told to subscribers. Only with a pack whose criteria are unmet.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub override_reason: Option<String>,
}

fn illegal_move(current: Stage) -> ApiError {
    let allowed = current.allowed_moves();
    let names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
    let detail = if names.is_empty() {
        format!("Release is in {current}; it cannot move any further.")
    } else {
        format!("Release is in {current}; it can move to {}.", names.join(" or "))
    };
    ApiError::unprocessable(ErrorCode::IllegalStageMove, detail)
        .with_context(serde_json::json!({ "current": current, "allowed": allowed }))
}

/// 422 `stage_move_out_of_order`: a move may not take effect before the move it follows.
fn out_of_order(
    stage: Stage,
    effective_at: chrono::NaiveDateTime,
    previous: Stage,
    previous_at: chrono::NaiveDateTime,
) -> ApiError {
    ApiError::unprocessable(
        ErrorCode::StageMoveOutOfOrder,
        format!(
            "{stage} would take effect {}, before the move it follows ({previous}) takes effect {}. \
             Moves take effect in the order they are decided: choose an effective_at on or after {}.",
            show(effective_at),
            show(previous_at),
            show(previous_at)
        ),
    )
    .with_context(serde_json::json!({
        "effective_at": effective_at.and_utc(),
        "previous_stage": previous,
        "previous_effective_at": previous_at.and_utc(),
    }))
}

/// Move a release to its next stage
///
/// Operator organisations only. A release moves exactly one stage forward, or to `withdrawn`
/// from any stage before `complete`; anything else is 422 `illegal_stage_move`, naming the
/// allowed stages. A deployment phase (`deployment_phase_1`, `deployment_phase_2`,
/// `mass_deployment`) must start at least 7 days after this request (`effective_at`) unless
/// the release is `unplanned_maintenance` (422 `insufficient_notice`). A move may not take
/// effect before the move it follows (422 `stage_move_out_of_order`), except `withdrawn`, which
/// supersedes the moves that have not taken effect yet. The release's `stage` changes when the
/// move takes effect; until then the move is in its `pending_moves`, and the next move follows
/// it. Each move is kept with who, when, when it takes effect and the note, and subscribers to
/// `releases` are told.
///
/// The stage gate: moving to `production_proving` or `approved` needs `review_pack_id`
/// (422 `review_pack_required`), and is refused while that pack's exit criteria are unmet
/// (422 `exit_criteria_unmet`, naming them) unless `override_reason` says why to go ahead.
/// The decision records the pack, its SHA-256, the verdicts current at that moment and any
/// override; the email to subscribers summarises the pack.
#[utoipa::path(
    tag = "releases",
    operation_id = "moveReleaseStage",
    request_body = StageMove,
    params(
        ("id" = String, Path, description = "Release id"),
        crate::http::etag::IfMatchHeader,
    ),
    responses(
        (status = 200, description = "Moved; the updated release", body = Release, headers(("ETag" = String))),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[post("/releases/{id}/stage")]
pub async fn move_stage(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<ReleaseId>,
    if_match: IfMatch,
    body: Json<StageMove>,
) -> Result<HttpResponse, ApiError> {
    let (id, body) = (path.into_inner(), body.into_inner());
    check_move(&body)?;
    let (version, release) = state
        .db
        .write_as(caller, move |conn, ctx| move_to(conn, &ctx, &id, if_match, body))
        .await?;
    Ok(tagged(version, &release))
}

/// What is checked before the database: the texts' lengths and a plausible year.
fn check_move(body: &StageMove) -> Result<(), ApiError> {
    let mut v = Validator::new();
    v.text("decision_note", &body.decision_note, 2000);
    if let Some(reason) = &body.override_reason {
        v.text("override_reason", reason, 2000);
    }
    if let Some(t) = body.effective_at {
        model::check_year(&mut v, "effective_at", t.year());
    }
    v.finish()
}

/// 422 `insufficient_notice` when a deployment phase of a release other than
/// `unplanned_maintenance` would start less than 7 days from `now` (SEC Appendix AB).
fn check_notice(
    kind: ReleaseKind,
    stage: Stage,
    effective_at: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let earliest = now + Duration::days(DEPLOYMENT_NOTICE_DAYS);
    if stage.is_deployment() && kind != ReleaseKind::UnplannedMaintenance && effective_at < earliest {
        return Err(ApiError::unprocessable(
            ErrorCode::InsufficientNotice,
            format!(
                "OTA deployment needs at least {DEPLOYMENT_NOTICE_DAYS} days' notice (SEC Appendix AB): \
                 {} would start {}, but the earliest start for notice given now is {}. \
                 Only unplanned_maintenance releases are exempt.",
                stage,
                show(effective_at),
                show(earliest)
            ),
        )
        .with_context(serde_json::json!({
            "effective_at": effective_at.and_utc(),
            "earliest_effective_at": earliest.and_utc(),
        })));
    }
    Ok(())
}

/// Decides the move of release `id` to `body.stage`, keeps it in the stage history with the
/// pack it cites, tells subscribers and audits; answers the release's version and the
/// release. Operator organisations only; `If-Match` must name the current version; then, in
/// order: the track (422 `illegal_stage_move`), the deployment notice (422
/// `insufficient_notice`), the order of moves (422 `stage_move_out_of_order`, except for
/// `withdrawn`), the phase gate ([`gate::check_assessed`]) and the stage gate ([`gate::check`]).
pub fn move_to(
    conn: &mut DbConn,
    ctx: &AuthContext,
    id: &ReleaseId,
    if_match: IfMatch,
    body: StageMove,
) -> Result<(i64, Release), ApiError> {
    ctx.require(Capability::ManageIndustry)?;
    crate::db::lock_row(conn, crate::db::Lockable::Releases, id)?;
    let (mut row, before) = model::load(conn, id)?;
    if_match.check(row.version)?;
    // The move follows the last decided stage, which may not be in effect yet.
    let current = row.stage;
    if !current.allowed_moves().contains(&body.stage) {
        return Err(illegal_move(current));
    }
    let now = now();
    let effective_at = body.effective_at.map(|t| t.naive_utc().trunc_subsecs(6)).unwrap_or(now);
    check_notice(row.kind, body.stage, effective_at, now)?;
    let track = model::tracks(conn, std::slice::from_ref(id), now)?
        .remove(id)
        .unwrap_or_default();
    if let Some((previous, previous_at)) = track.last {
        if body.stage != Stage::Withdrawn && effective_at < previous_at {
            return Err(out_of_order(body.stage, effective_at, previous, previous_at));
        }
    }
    gate::check_assessed(conn, &row, current, body.stage)?;
    let cited = gate::check(
        conn,
        &row,
        body.stage,
        body.review_pack_id.as_deref(),
        body.override_reason.as_deref(),
    )?;
    row.stage = body.stage;
    if !model::update(conn, &row)? {
        return Err(ApiError::precondition_failed());
    }
    let note = body.decision_note.trim().to_string();
    model::insert_stage_change(
        conn,
        &StageChangeRow {
            review_pack_id: cited.as_ref().map(|c| c.pack.id.clone()),
            review_pack_sha256: cited.as_ref().map(|c| c.pack.sha256.clone()),
            reviews: cited.as_ref().map(|c| JsonText(c.reviews.clone())),
            override_reason: cited.as_ref().and_then(|c| c.override_reason.clone()),
            ..StageChangeRow::plain(
                id,
                Some(current),
                row.stage,
                now,
                effective_at,
                Some((&ctx.user_id, &ctx.org_id)),
                note.clone(),
            )
        },
    )?;
    let (after_row, after) = model::load(conn, id)?;
    let decided = Decided {
        from: current,
        to: body.stage,
        effective_at,
        note,
        cited,
    };
    announce_move(conn, ctx, &after, &decided, now)?;
    audit::changed(conn, ctx, "release.stage", &before, &after)?;
    Ok((after_row.version, after))
}

/// A decided move, as announced.
struct Decided {
    from: Stage,
    to: Stage,
    effective_at: NaiveDateTime,
    note: String,
    cited: Option<gate::Cited>,
}

/// Tells subscribers to `releases` (scoped to the release's products) about a decided move:
/// "moved" when it is in effect, "moves ... on" when it takes effect later.
fn announce_move(
    conn: &mut DbConn,
    ctx: &AuthContext,
    after: &Release,
    decided: &Decided,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let Decided {
        from: current,
        to: stage,
        effective_at,
        note,
        cited,
    } = decided;
    let scope = model::product_scope(conn, &after.id)?;
    events::record(
        conn,
        scope.apply(
            NewEvent::new(
                Topic::Releases,
                "release.stage_changed",
                "release",
                &after.id,
                if *effective_at > now {
                    format!(
                        "Release {} moves from {} to {} on {}",
                        after.name,
                        current,
                        stage,
                        show(*effective_at)
                    )
                } else {
                    format!("Release {} moved from {} to {}", after.name, current, stage)
                },
            )
            .details(serde_json::json!({
                "from": current,
                "to": stage,
                "effective_at": effective_at.and_utc(),
                "decision_note": note,
                "review_pack": cited.as_ref().map(gate::Cited::details),
                "override_reason": cited.as_ref().and_then(|c| c.override_reason.clone()),
            }))
            .actor(&ctx.org_id),
        ),
    )?;
    Ok(())
}

list_query! {
    pub struct StageQuery {
    }
}

/// List a release's stage history
///
/// Any signed-in user. Every move, oldest first, beginning with the release's creation
/// (`from_stage` null): who decided it, when, when it takes effect (`effective_at`), whether it
/// has (`status`), and the note.
#[utoipa::path(
    tag = "releases",
    operation_id = "listReleaseStages",
    params(("id" = String, Path, description = "Release id"), StageQuery),
    responses(
        (status = 200, description = "A page of stage changes", body = Page<StageChange>),
    ),
    security(("bearer" = []))
)]
#[get("/releases/{id}/stages")]
pub async fn list_stages(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<ReleaseId>,
    query: web::Query<StageQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let q = query.into_inner();
    list_page(&state.db, caller, &req, q.page()?, move |conn, _ctx, after, fetch| {
        model::find(conn, &id)?.ok_or_else(ApiError::not_found)?;
        let now = now();
        let track = model::tracks(conn, std::slice::from_ref(&id), now)?
            .remove(&id)
            .unwrap_or_default();
        let rows = model::stage_history(conn, &id, after, fetch)?;
        Ok(rows
            .into_iter()
            .map(|r| StageChange::new(r, &track, now))
            .collect::<Result<Vec<_>, _>>()?)
    })
    .await
}

keyed!(StageChange, id);
