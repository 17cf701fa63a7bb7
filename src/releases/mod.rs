//! Releases and their stage track.

pub mod announce;
pub mod deployment;
pub mod gate;
pub mod handlers;
pub mod model;
pub mod stages;

pub use model::{product_scope, ProductScope, Track};

crate::text_enum!(
    /// What kind of release: it decides the UIT window cap and the deployment notice rule.
    ReleaseKind {
        SecRelease => "sec_release",
        PlannedMaintenance => "planned_maintenance",
        UnplannedMaintenance => "unplanned_maintenance",
    }
);

crate::text_enum!(
    /// Where a release is on its track: `content_agreed` to `complete` in order, or `withdrawn`.
    Stage {
        ContentAgreed => "content_agreed",
        Pit => "pit",
        Sit => "sit",
        Uit => "uit",
        ProductionProving => "production_proving",
        Approved => "approved",
        DeploymentPhase1 => "deployment_phase_1",
        DeploymentPhase2 => "deployment_phase_2",
        MassDeployment => "mass_deployment",
        Complete => "complete",
        Withdrawn => "withdrawn",
    }
);

crate::text_enum!(
    /// Where a decided move stands: `effective` (it has taken effect), `scheduled` (it takes
    /// effect later) or `superseded` (a later withdrawal took effect first).
    StageMoveStatus {
        Effective => "effective",
        Scheduled => "scheduled",
        Superseded => "superseded",
    }
);

impl Stage {
    /// `complete` and `withdrawn` end the track.
    pub fn is_finished(self) -> bool {
        matches!(self, Stage::Complete | Stage::Withdrawn)
    }

    /// The next stage on the track, if any.
    pub fn next(self) -> Option<Stage> {
        if self.is_finished() {
            return None;
        }
        let at = Stage::ALL.iter().position(|s| *s == self)?;
        Stage::ALL.get(at + 1).copied().filter(|s| *s != Stage::Withdrawn)
    }

    /// Where a release may go from here: the next stage, or `withdrawn` (except from the end).
    pub fn allowed_moves(self) -> Vec<Stage> {
        match self.next() {
            Some(next) => vec![next, Stage::Withdrawn],
            None => Vec::new(),
        }
    }

    /// The OTA deployment phases, which need 7 days' notice (SEC Appendix AB).
    pub fn is_deployment(self) -> bool {
        matches!(
            self,
            Stage::DeploymentPhase1 | Stage::DeploymentPhase2 | Stage::MassDeployment
        )
    }
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::list_releases)
        .service(handlers::create_release)
        .service(handlers::get_release)
        .service(handlers::update_release)
        .service(stages::move_stage)
        .service(stages::list_stages)
        .configure(deployment::routes);
}

#[cfg(test)]
mod tests {
    use super::Stage;

    #[test]
    fn the_track_moves_one_step_or_to_withdrawn() {
        assert_eq!(Stage::Sit.allowed_moves(), [Stage::Uit, Stage::Withdrawn]);
        assert_eq!(
            Stage::MassDeployment.allowed_moves(),
            [Stage::Complete, Stage::Withdrawn]
        );
        assert!(Stage::Complete.allowed_moves().is_empty());
        assert!(Stage::Withdrawn.allowed_moves().is_empty());
        let mut at = Stage::ContentAgreed;
        let mut steps = 0;
        while let Some(next) = at.next() {
            at = next;
            steps += 1;
        }
        assert_eq!((at, steps), (Stage::Complete, 9));
    }
}
