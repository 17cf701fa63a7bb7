//! `/releases/{id}`: a release's stage, its track's history and pending moves, its windows and
//! firmware, on the API's reads.

use actix_web::web;
use askama::Template;

use super::{human_date, relative_time, words, Link, Names, Page, MAX_ROWS};
use crate::db::{now, DbConn, ReleaseId};
use crate::http::ApiError;
use crate::releases::model::{self as releases, StageChange};
use crate::ui::member::Member;
use crate::ui::pages::human_time;
use crate::ui::{member_page, Chrome};
use crate::windows::model::UitWindow;
use crate::AppState;

pub struct StageLine {
    pub from: String,
    pub to: String,
    pub status: String,
    pub decided: String,
    pub effective: String,
    pub by: String,
    pub note: String,
}

pub struct WindowLink {
    pub href: String,
    pub name: String,
    pub status: String,
    pub opens: String,
    pub closes: String,
}

#[derive(Template)]
#[template(path = "lib_release.html")]
pub struct ReleasePage {
    pub chrome: Chrome,
    pub kind: String,
    pub stage: String,
    pub target: Option<String>,
    pub notes: String,
    pub pending: Vec<(String, String)>,
    pub history: Vec<StageLine>,
    pub windows: Vec<WindowLink>,
    pub firmware: Vec<Link>,
    /// The co-operative deployment record, for those who may read it.
    pub deployment: Option<Deployment>,
}

/// Nominations and assessments, in words.
pub struct Deployment {
    /// Phase, organisation, hubs, device sets, note.
    pub nominations: Vec<[String; 5]>,
    /// Phase, outcome, when, issues cited, minutes.
    pub assessments: Vec<[String; 5]>,
}

/// `/releases/{id}`: `GET /releases/{id}`, `/releases/{id}/stages` and `/uit-windows?release_id=`.
pub async fn release(state: web::Data<AppState>, member: Member, path: web::Path<ReleaseId>) -> Page {
    let id = path.into_inner();
    member_page(state.db.run(move |conn| load(conn, &member, id)).await)
}

/// Release `id`'s page (404 when there is none): its track's history and pending moves, its
/// windows by opening and its firmware, by name.
fn load(conn: &mut DbConn, member: &Member, id: ReleaseId) -> Result<ReleasePage, ApiError> {
    let (_, release) = releases::load(conn, &id)?;
    let at = now();
    let track = releases::tracks(conn, std::slice::from_ref(&id), at)?
        .remove(&id)
        .unwrap_or_default();
    let history: Vec<_> = releases::stage_history(conn, &id, None, MAX_ROWS)?
        .into_iter()
        .map(|r| releases::StageChange::new(r, &track, at))
        .collect::<Result<_, _>>()?;
    let rows = crate::windows::model::list(conn, Some(id.clone()), None, at, None, MAX_ROWS)?;
    let mut windows = crate::windows::model::assemble(conn, rows, at)?;
    windows.sort_by_key(|w| w.opens_at);
    let mut names = Names::load(conn)?;
    let mut firmware = Vec::new();
    for f in &release.firmware_ids {
        let text = match names.firmware(conn, f)? {
            Some((product, version)) => format!("{product}: firmware {version}"),
            None => "a firmware version no longer listed".into(),
        };
        firmware.push(Link {
            href: format!("/firmware/{f}"),
            text,
        });
    }
    let history = history.into_iter().map(|c| stage_line(c, &names)).collect();
    let deployment = deployment(conn, member, &id, &names)?;
    let at = chrono::Utc::now();
    Ok(ReleasePage {
        chrome: Chrome::new(release.name.clone(), Some(member.nav())),
        kind: words(release.kind.as_str()),
        stage: words(release.stage.as_str()),
        target: release.target_date.map(human_date),
        notes: release.notes.clone(),
        pending: release
            .pending_moves
            .iter()
            .map(|m| {
                (
                    words(m.stage.as_str()),
                    format!("{} ({})", human_time(m.effective_at), relative_time(m.effective_at, at)),
                )
            })
            .collect(),
        history,
        windows: windows.into_iter().map(|w| window_link(w, at)).collect(),
        firmware,
        deployment,
    })
}

/// The release's nominations and assessments when `member` may read them (the API's rule,
/// `releases::deployment::may_read`), else none.
fn deployment(
    conn: &mut DbConn,
    member: &Member,
    id: &ReleaseId,
    names: &Names,
) -> Result<Option<Deployment>, ApiError> {
    use crate::releases::deployment::{assessments, may_read, nominations};
    if !may_read(conn, &member.auth, id)? {
        return Ok(None);
    }
    let nominations = nominations::page(conn, id, None, None, MAX_ROWS)?
        .into_iter()
        .map(|n| {
            let sets = n.device_set_ids.len();
            [
                words(n.phase.as_str()),
                names.org(&n.org_id),
                n.hub_count.to_string(),
                format!("{sets} device set{}", if sets == 1 { "" } else { "s" }),
                n.note,
            ]
        })
        .collect();
    let assessments = assessments::page(conn, id, None, None, MAX_ROWS)?
        .into_iter()
        .map(|a| {
            [
                words(a.phase.as_str()),
                words(a.outcome.as_str()),
                human_time(a.recorded_at),
                a.issues.len().to_string(),
                a.minutes,
            ]
        })
        .collect();
    Ok(Some(Deployment {
        nominations,
        assessments,
    }))
}

/// A decision on the track, in words.
fn stage_line(c: StageChange, names: &Names) -> StageLine {
    StageLine {
        from: c
            .from_stage
            .map(|s| words(s.as_str()))
            .unwrap_or_else(|| "(created)".into()),
        to: words(c.to_stage.as_str()),
        status: words(c.status.as_str()),
        decided: human_time(c.decided_at),
        effective: human_time(c.effective_at),
        by: c.actor_org_id.as_deref().map(|o| names.org(o)).unwrap_or_default(),
        note: c.decision_note,
    }
}

/// A window of the release, with when it closes from `at`.
fn window_link(w: UitWindow, at: chrono::DateTime<chrono::Utc>) -> WindowLink {
    WindowLink {
        href: format!("/windows/{}", w.id),
        status: words(w.status.as_str()),
        opens: human_time(w.opens_at),
        closes: format!("{} ({})", human_time(w.closes_at), relative_time(w.closes_at, at)),
        name: w.name,
    }
}
