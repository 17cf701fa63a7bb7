//! The stage gate: a release leaves UIT (`production_proving`) and is approved only on
//! evidence: a review pack of one of its windows whose exit criteria are met, or an override
//! with its reason. The decision records the pack, its hash and the verdicts of that moment.

use super::model::ReleaseRow;
use super::Stage;
use crate::db::DbConn;
use crate::http::ApiError;
use crate::http::ErrorCode;
use crate::review_packs::model::{self as packs, PackRow, PackSummary, ReviewSnapshot};

/// The stages that need a review pack.
pub fn needs_pack(stage: Stage) -> bool {
    matches!(stage, Stage::ProductionProving | Stage::Approved)
}

/// The pack a decision cites, as recorded.
pub struct Cited {
    pub pack: PackRow,
    pub summary: PackSummary,
    pub reviews: Vec<ReviewSnapshot>,
    pub override_reason: Option<String>,
}

impl Cited {
    /// What the change event (and so the email) says about the evidence.
    pub fn details(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.pack.id,
            "title": self.pack.title,
            "sha256": self.pack.sha256,
            "uit_window_id": self.pack.window_id,
            "readiness_met": self.pack.readiness_met,
            "summary": self.summary,
            "reviews": self.reviews.iter().map(|r| serde_json::json!({
                "org_name": r.org_name, "verdict": r.verdict,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Checks the move of `release` to `stage` against the pack it cites: 422
/// `review_pack_required` without one where one is needed, a field error for a pack that is
/// missing or of another release, 422 `exit_criteria_unmet` (naming the unmet criteria) when
/// the pack's readiness is unmet and no `override_reason` is given.
pub fn check(
    conn: &mut DbConn,
    release: &ReleaseRow,
    stage: Stage,
    review_pack_id: Option<&str>,
    override_reason: Option<&str>,
) -> Result<Option<Cited>, ApiError> {
    let override_reason = override_reason.map(str::trim).filter(|r| !r.is_empty());
    let Some(pack_id) = review_pack_id else {
        if override_reason.is_some() {
            return Err(ApiError::invalid_field(
                "override_reason",
                "overrides unmet exit criteria of a review pack: give review_pack_id too",
            ));
        }
        if needs_pack(stage) {
            return Err(ApiError::unprocessable(
                ErrorCode::ReviewPackRequired,
                format!(
                    "Moving release {} to {stage} needs the evidence it rests on: give review_pack_id, a review \
                     pack of one of its UIT windows (POST /api/v1/uit-windows/{{id}}/review-packs).",
                    release.name
                ),
            )
            .with_context(serde_json::json!({ "field": "review_pack_id", "stage": stage })));
        }
        return Ok(None);
    };
    let pack =
        packs::find(conn, pack_id)?.ok_or_else(|| ApiError::invalid_field("review_pack_id", "no such review pack"))?;
    if pack.release_id != release.id {
        return Err(ApiError::invalid_field(
            "review_pack_id",
            "is a pack of another release's UIT window",
        ));
    }
    let summary = pack.summary()?;
    match (pack.readiness_met, override_reason) {
        (false, None) => {
            let unmet: Vec<String> = summary
                .criteria
                .iter()
                .filter(|c| !c.met)
                .map(|c| c.description.clone())
                .collect();
            return Err(ApiError::unprocessable(
                ErrorCode::ExitCriteriaUnmet,
                format!(
                    "Review pack \"{}\" does not meet its window's exit criteria: {}. Give override_reason to \
                     go ahead anyway; the override is recorded and announced.",
                    pack.title,
                    unmet.join("; ")
                ),
            )
            .with_context(serde_json::json!({ "review_pack_id": pack.id, "unmet": summary.unmet })));
        }
        (true, Some(_)) => {
            return Err(ApiError::invalid_field(
                "override_reason",
                "the pack meets its exit criteria: there is nothing to override",
            ));
        }
        _ => {}
    }
    let reviews = packs::snapshot(conn, &pack.id)?;
    Ok(Some(Cited {
        pack,
        summary,
        reviews,
        override_reason: override_reason.map(str::to_string),
    }))
}

/// The phase gate of co-operative deployment: leaving `deployment_phase_1` for
/// `deployment_phase_2`, or `deployment_phase_2` for `mass_deployment`, needs the latest
/// assessment of the phase left to be `proceed`; otherwise 422 `phase_not_assessed`, saying
/// which phase needs which assessment and what the latest one said. Withdrawal is never held.
pub fn check_assessed(conn: &mut DbConn, release: &ReleaseRow, from: Stage, to: Stage) -> Result<(), ApiError> {
    use super::deployment::assessments::{latest, AssessmentOutcome};
    use super::deployment::DeploymentPhase;
    let Some(phase) = DeploymentPhase::of(from).filter(|_| to != Stage::Withdrawn) else {
        return Ok(());
    };
    let latest = latest(conn, &release.id, phase)?;
    let said = match &latest {
        Some((_, AssessmentOutcome::Proceed)) => return Ok(()),
        Some((_, outcome)) => format!("its latest assessment says {outcome}"),
        None => "it has no assessment yet".to_string(),
    };
    Err(ApiError::unprocessable(
        ErrorCode::PhaseNotAssessed,
        format!(
            "Release {} may move from {from} to {to} only after an assessment of {from} that says proceed, \
             and {said}. Record one with POST /api/v1/releases/{}/assessments.",
            release.name, release.id
        ),
    )
    .with_context(serde_json::json!({
        "phase": phase,
        "required_outcome": AssessmentOutcome::Proceed,
        "latest_assessment_id": latest.as_ref().map(|(id, _)| id),
        "latest_outcome": latest.as_ref().map(|(_, o)| o),
    })))
}
