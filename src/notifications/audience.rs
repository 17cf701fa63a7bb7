//! Who may hear of a change event: the audience its producer stated (from what the API shows
//! to whom), and whether a reader (a user's organisation and role, or an address without an
//! account) is in it. The fan-out, the recent-changes list and the web pages ask the same rule.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::auth::{OrgKind, Role};
use crate::db::schema::{uit_windows, window_participants as wp};
use crate::db::{DbConn, OrgId, WindowId};

/// Window ids per participants query.
const WINDOWS_PER_QUERY: usize = 1_000;

/// The reader behind a user's subscription.
#[derive(Debug, Clone)]
pub struct Reader {
    pub org_id: OrgId,
    pub org_kind: OrgKind,
    pub role: Role,
}

/// Who may read an event's subject, beyond the topic and filters. The producer of a change
/// event states it ([`crate::events::NewEvent::audience`]), from what the API shows to whom;
/// it is stored with the event (`change_events.audience`) and the fan-out, the recent-changes
/// list and the web pages read it from there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Audience {
    /// Every signed-in user and every confirmed address.
    Industry,
    /// Every signed-in user, no address without an account (industry-visible results: the API
    /// shows them to every organisation, but only with a token).
    Members,
    /// Users of the owner, of the operator and of organisations in a UIT window open now.
    Participants { owner_org_id: OrgId },
    /// Users of the owner organisation only.
    Owner { owner_org_id: OrgId },
    /// Admin users of the owner organisation only.
    OwnerAdmins { owner_org_id: OrgId },
    /// Users of the operator, of `org_ids` and of every organisation that joined UIT window
    /// `window_id` (a UIT issue: participants-level visibility, plus the organisations that
    /// raised it and resolve it; the rule of `uit_issues::model::visible_to`).
    WindowParticipants { window_id: WindowId, org_ids: Vec<OrgId> },
    /// Users of the operator, of reviewers and of `org_ids`: the organisations taking part in a
    /// release when its deployment record changed (`releases::deployment::may_read`).
    ReleaseParticipants { org_ids: Vec<OrgId> },
    /// Nobody: what an event that states no audience gets; [`crate::events::record`] refuses
    /// to record one.
    Nobody,
}

/// Who takes part where, as far as the audiences of a batch of events need it.
#[derive(Debug, Clone, Default)]
pub struct Participation {
    /// Organisations taking part in a UIT window open now.
    pub open: HashSet<OrgId>,
    /// Organisations that joined each window, for the windows the events name.
    pub windows: HashMap<WindowId, HashSet<OrgId>>,
}

impl Participation {
    /// Loads the participants of the windows among `audiences` not loaded yet.
    pub fn load_windows<'a>(
        &mut self,
        conn: &mut DbConn,
        audiences: impl Iterator<Item = &'a Audience>,
    ) -> QueryResult<()> {
        let mut wanted: Vec<WindowId> = audiences
            .filter_map(Audience::window_id)
            .filter(|w| !self.windows.contains_key(*w))
            .map(WindowId::from)
            .collect();
        wanted.sort();
        wanted.dedup();
        for chunk in wanted.chunks(WINDOWS_PER_QUERY) {
            let rows: Vec<(WindowId, OrgId)> = wp::table
                .filter(wp::window_id.eq_any(chunk))
                .select((wp::window_id, wp::org_id))
                .load(conn)?;
            for w in chunk {
                self.windows.entry(w.clone()).or_default();
            }
            for (w, org) in rows {
                self.windows.entry(w).or_default().insert(org);
            }
        }
        Ok(())
    }
}

impl Audience {
    /// The window whose participants decide this audience, if any.
    pub fn window_id(&self) -> Option<&str> {
        match self {
            Audience::WindowParticipants { window_id, .. } => Some(window_id),
            _ => None,
        }
    }

    /// Whether `reader` (`None`: no account) is in it, given who takes part where.
    pub fn admits(&self, reader: Option<&Reader>, participation: &Participation) -> bool {
        match (self, reader) {
            (Audience::Industry, _) => true,
            (Audience::Nobody, _) | (_, None) => false,
            (Audience::Members, Some(_)) => true,
            (Audience::Participants { owner_org_id }, Some(r)) => {
                r.org_kind == OrgKind::Operator || r.org_id == *owner_org_id || participation.open.contains(&r.org_id)
            }
            (Audience::WindowParticipants { window_id, org_ids }, Some(r)) => {
                r.org_kind == OrgKind::Operator
                    || org_ids.contains(&r.org_id)
                    || participation
                        .windows
                        .get(window_id)
                        .is_some_and(|orgs| orgs.contains(&r.org_id))
            }
            (Audience::ReleaseParticipants { org_ids }, Some(r)) => {
                matches!(r.org_kind, OrgKind::Operator | OrgKind::Reviewer) || org_ids.contains(&r.org_id)
            }
            (Audience::Owner { owner_org_id }, Some(r)) => r.org_id == *owner_org_id,
            (Audience::OwnerAdmins { owner_org_id }, Some(r)) => r.org_id == *owner_org_id && r.role == Role::Admin,
        }
    }
}

/// Organisations that joined a UIT window open at `now`.
pub(crate) fn open_window_participants(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<HashSet<OrgId>> {
    let orgs: Vec<OrgId> = wp::table
        .inner_join(uit_windows::table)
        .filter(uit_windows::cancelled_at.is_null())
        .filter(uit_windows::opens_at.le(now))
        .filter(uit_windows::closes_at.gt(now))
        .select(wp::org_id)
        .distinct()
        .load(conn)?;
    Ok(orgs.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reader(org: &str, kind: OrgKind, role: Role) -> Reader {
        Reader {
            org_id: org.into(),
            org_kind: kind,
            role,
        }
    }

    #[test]
    fn an_audience_is_stored_as_tagged_json() {
        let a = Audience::WindowParticipants {
            window_id: "w1".into(),
            org_ids: vec!["o1".into()],
        };
        let stored = serde_json::to_value(&a).unwrap();
        assert_eq!(
            stored,
            json!({ "kind": "window_participants", "window_id": "w1", "org_ids": ["o1"] })
        );
        assert_eq!(serde_json::from_value::<Audience>(stored).unwrap(), a);
        assert_eq!(
            serde_json::from_value::<Audience>(json!({ "kind": "industry" })).unwrap(),
            Audience::Industry
        );
    }

    #[test]
    fn roadmap_visibility_decides_who_hears() {
        let owner = reader("maker", OrgKind::Manufacturer, Role::Member);
        let operator = reader("dcc", OrgKind::Operator, Role::Admin);
        let joined = reader("supplier-a", OrgKind::Supplier, Role::Viewer);
        let other = reader("supplier-b", OrgKind::Supplier, Role::Admin);
        let participants = Participation {
            open: HashSet::from([OrgId::from("supplier-a")]),
            ..Participation::default()
        };
        let owner_org_id = OrgId::from("maker");
        let hears = |a: &Audience, r: Option<&Reader>| a.admits(r, &participants);

        let private = Audience::Owner {
            owner_org_id: owner_org_id.clone(),
        };
        assert!(hears(&private, Some(&owner)));
        for r in [&operator, &joined, &other] {
            assert!(!hears(&private, Some(r)), "{r:?}");
        }
        assert!(!hears(&private, None));

        let shared = Audience::Participants { owner_org_id };
        assert!(hears(&shared, Some(&owner)) && hears(&shared, Some(&operator)) && hears(&shared, Some(&joined)));
        assert!(!hears(&shared, Some(&other)) && !hears(&shared, None));

        let public = Audience::Industry;
        assert!(hears(&public, None) && hears(&public, Some(&other)));
        assert!(!hears(&Audience::Nobody, Some(&operator)) && !hears(&Audience::Nobody, None));
    }

    #[test]
    fn deployment_records_reach_the_releases_participants_the_operator_and_reviewers() {
        let a = Audience::ReleaseParticipants {
            org_ids: vec!["supplier-a".into()],
        };
        let none = Participation::default();
        assert!(a.admits(Some(&reader("supplier-a", OrgKind::Supplier, Role::Viewer)), &none));
        assert!(a.admits(Some(&reader("dcc", OrgKind::Operator, Role::Viewer)), &none));
        assert!(a.admits(Some(&reader("secas", OrgKind::Reviewer, Role::Member)), &none));
        assert!(!a.admits(Some(&reader("supplier-b", OrgKind::Supplier, Role::Admin)), &none));
        assert!(!a.admits(None, &none), "an address without an account");
    }

    #[test]
    fn stale_contacts_reach_the_manufacturers_admins_only() {
        let a = Audience::OwnerAdmins {
            owner_org_id: "maker".into(),
        };
        let none = Participation::default();
        assert!(a.admits(Some(&reader("maker", OrgKind::Manufacturer, Role::Admin)), &none));
        assert!(!a.admits(Some(&reader("maker", OrgKind::Manufacturer, Role::Member)), &none));
        assert!(!a.admits(Some(&reader("dcc", OrgKind::Operator, Role::Admin)), &none));
        assert!(!a.admits(None, &none));
    }

    #[test]
    fn uit_issues_reach_the_windows_participants_the_operator_the_raiser_and_the_resolver() {
        let a = Audience::WindowParticipants {
            window_id: "w1".into(),
            org_ids: vec!["supplier-a".into(), "maker".into()],
        };
        assert_eq!(a.window_id(), Some("w1"));
        let participation = Participation {
            // Taking part in an open window is not enough: it must be this window.
            open: HashSet::from([OrgId::from("supplier-c")]),
            windows: HashMap::from([
                (
                    WindowId::from("w1"),
                    HashSet::from([OrgId::from("supplier-a"), OrgId::from("supplier-b")]),
                ),
                (WindowId::from("w2"), HashSet::from([OrgId::from("supplier-c")])),
            ]),
        };
        let hears = |r: &Reader| a.admits(Some(r), &participation);
        assert!(
            hears(&reader("supplier-b", OrgKind::Supplier, Role::Viewer)),
            "a participant of w1"
        );
        assert!(
            hears(&reader("supplier-a", OrgKind::Supplier, Role::Member)),
            "the raiser"
        );
        assert!(
            hears(&reader("maker", OrgKind::Manufacturer, Role::Admin)),
            "the resolver"
        );
        assert!(hears(&reader("dcc", OrgKind::Operator, Role::Viewer)), "the operator");
        assert!(
            !hears(&reader("supplier-c", OrgKind::Supplier, Role::Admin)),
            "another window's participant"
        );
        assert!(!hears(&reader("secas", OrgKind::Reviewer, Role::Admin)), "a reviewer");
        assert!(!a.admits(None, &participation), "an address without an account");
        // Participants of a window the fan-out did not load hear nothing rather than too much.
        assert!(!a.admits(
            Some(&reader("supplier-b", OrgKind::Supplier, Role::Member)),
            &Participation::default()
        ));
    }

    #[test]
    fn shared_results_reach_whoever_may_read_them() {
        let participation = Participation {
            windows: HashMap::from([(WindowId::from("w1"), HashSet::from([OrgId::from("supplier-b")]))]),
            ..Participation::default()
        };
        let reviewer = reader("secas", OrgKind::Reviewer, Role::Viewer);
        let joined = reader("supplier-b", OrgKind::Supplier, Role::Viewer);
        let publisher = reader("supplier-a", OrgKind::Supplier, Role::Member);
        let other = reader("supplier-c", OrgKind::Supplier, Role::Admin);

        let industry = Audience::Members;
        assert!(industry.admits(Some(&reviewer), &participation) && industry.admits(Some(&other), &participation));
        assert!(!industry.admits(None, &participation), "results need an account");

        let shared = Audience::WindowParticipants {
            window_id: "w1".into(),
            org_ids: vec!["supplier-a".into()],
        };
        assert_eq!(shared.window_id(), Some("w1"));
        assert!(shared.admits(Some(&joined), &participation) && shared.admits(Some(&publisher), &participation));
        assert!(shared.admits(Some(&reader("dcc", OrgKind::Operator, Role::Viewer)), &participation));
        assert!(!shared.admits(Some(&reviewer), &participation) && !shared.admits(Some(&other), &participation));
        assert!(!shared.admits(None, &participation));
    }
}
