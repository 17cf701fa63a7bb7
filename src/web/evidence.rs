//! The evidence pages for reviewers (SECAS, working groups) and the operator: a window's
//! readiness against its exit criteria with its review packs (`/windows/{id}/readiness`), and a
//! review pack (`/review-packs/{id}`): what it froze, its hash and downloads, what changed since
//! the window's previous pack, and the verdicts, with the form to record one.
//!
//! Every read and write goes through the functions the API calls with the member's
//! `AuthContext` (`readiness::model::readiness`, `review_packs::{freeze, check_verdict,
//! record_verdict}`, `review_packs::diff::diff`), so a page shows and does what the API would.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::member::{Member, MemberForm};
use super::pages::human_time;
use super::{error_page, member_page, see_other_or_error, Chrome};
use crate::auth::Capability;
use crate::db::{DbConn, WindowId};
use crate::http::ApiError;
use crate::readiness::criteria::percent;
use crate::readiness::model::{Criterion, Finding, FindingKind, Readiness};
use crate::review_packs::diff::PackDiff;
use crate::review_packs::model::{self as packs, Review, ReviewPack, Verdict};
use crate::AppState;

type Page = Result<HttpResponse, ApiError>;

/// Findings listed per criterion on the page (the API lists up to 50).
const FINDINGS_SHOWN: usize = 10;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/windows/{id}/readiness").route(web::get().to(readiness)))
        .service(web::resource("/windows/{id}/review-packs").route(web::post().to(freeze)))
        .service(web::resource("/review-packs/{id}").route(web::get().to(pack)))
        .service(web::resource("/review-packs/{id}/pack.json").route(web::get().to(download_json)))
        .service(web::resource("/review-packs/{id}/results.csv").route(web::get().to(download_csv)))
        .service(web::resource("/review-packs/{id}/reviews").route(web::post().to(review)));
}

/// A criterion as people read it.
pub struct CriterionView {
    pub description: String,
    pub met: bool,
    pub measured: String,
    /// Each finding in words, with the page behind it when there is one.
    pub findings: Vec<(String, Option<String>)>,
    pub more: i64,
}

/// "80%" for shares, "3" for counts.
fn amount(criterion: Criterion, v: f64) -> String {
    match criterion {
        Criterion::MinWeightedShare => format!("{}%", percent(v)),
        _ => format!("{v:.0}"),
    }
}

fn finding_words(f: &Finding) -> String {
    let set = f.device_set_name.clone().unwrap_or_default();
    let scenario = f.scenario.clone().unwrap_or_default();
    match f.kind {
        FindingKind::ScenarioShare => format!(
            "{scenario}: {}% of the installed base tested",
            percent(f.value.unwrap_or(0.0))
        ),
        FindingKind::Untested => format!(
            "{set} (prevalence {}) has no shared result in {scenario}",
            f.prevalence.unwrap_or(0)
        ),
        FindingKind::UnexplainedFailure => format!(
            "{set}, {scenario}: {:.0} failure(s) no defect mask explains",
            f.value.unwrap_or(0.0)
        ),
        FindingKind::Publisher => format!(
            "{} published {:.0} shared result(s)",
            f.org_name.clone().unwrap_or_default(),
            f.value.unwrap_or(0.0)
        ),
        FindingKind::BlockingIssue => format!("Blocking UIT issue: {}", f.title.clone().unwrap_or_default()),
    }
}

/// The page behind a finding: a blocking issue's page, or the cell of a failure.
fn finding_href(window_id: &WindowId, f: &Finding) -> Option<String> {
    match (f.kind, &f.uit_issue_id, &f.device_set_id, &f.scenario) {
        (FindingKind::BlockingIssue, Some(id), ..) => Some(format!("/uit-issues/{id}")),
        (FindingKind::UnexplainedFailure, _, Some(set), Some(scenario)) => Some(format!(
            "/windows/{window_id}/cell?device_set={set}&scenario={scenario}"
        )),
        _ => None,
    }
}

fn criteria_views(r: &Readiness) -> Vec<CriterionView> {
    r.criteria
        .iter()
        .map(|m| CriterionView {
            description: m.description.clone(),
            met: m.met,
            measured: amount(m.criterion, m.measured),
            findings: m
                .findings
                .iter()
                .take(FINDINGS_SHOWN)
                .map(|f| (finding_words(f), finding_href(&r.uit_window_id, f)))
                .collect(),
            more: (m.findings_total - FINDINGS_SHOWN as i64).max(0),
        })
        .collect()
}

/// A pack in a list.
pub struct PackLine {
    pub id: String,
    pub title: String,
    pub created: String,
    pub met: bool,
    pub results: i64,
    pub verdicts: String,
}

fn verdict_words(reviews: &[Review]) -> String {
    if reviews.is_empty() {
        return "no verdict yet".into();
    }
    reviews
        .iter()
        .map(|r| format!("{}: {}", r.org_name, r.verdict))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Template)]
#[template(path = "ev_readiness.html")]
pub struct ReadinessPage {
    pub chrome: Chrome,
    pub window_id: WindowId,
    pub window_name: String,
    pub has_criteria: bool,
    pub met: bool,
    pub criteria: Vec<CriterionView>,
    pub results: i64,
    pub unexplained: i64,
    pub known: i64,
    pub packs: Vec<PackLine>,
    pub may_freeze: bool,
    pub csrf: String,
}

/// A window's readiness and its review packs.
pub async fn readiness(state: web::Data<AppState>, member: Member, path: web::Path<WindowId>) -> Page {
    let id = path.into_inner();
    member_page(state.db.run(move |conn| load_readiness(conn, &member, id)).await)
}

/// The readiness page of window `id`: the API's readiness for `member` (404 when they may not
/// see the window) and the window's review packs, the newest first.
fn load_readiness(conn: &mut DbConn, member: &Member, id: WindowId) -> Result<ReadinessPage, ApiError> {
    let r = crate::readiness::model::readiness(conn, &member.auth, &id)?;
    let list = packs::of_window(conn, &id, None, 500)?
        .into_iter()
        .map(|p| p.api(conn))
        .collect::<Result<Vec<ReviewPack>, ApiError>>()?;
    Ok(ReadinessPage {
        chrome: Chrome::new(format!("Readiness of {}", r.uit_window_name), Some(member.nav())),
        window_id: id,
        window_name: r.uit_window_name.clone(),
        has_criteria: !r.criteria.is_empty(),
        met: r.met,
        criteria: criteria_views(&r),
        results: r.evidence.results,
        unexplained: r.evidence.unexplained_failures,
        known: r.evidence.known_issues,
        packs: list
            .iter()
            .rev()
            .map(|p| PackLine {
                id: p.id.clone(),
                title: p.title.clone(),
                created: human_time(p.created_at),
                met: p.readiness_met,
                results: p.summary.results,
                verdicts: verdict_words(&p.reviews),
            })
            .collect(),
        may_freeze: member.may(Capability::ManageIndustry),
        csrf: member.csrf().to_string(),
    })
}

#[derive(Deserialize)]
pub struct FreezeForm {
    title: Option<String>,
}

/// "Freeze a review pack" (the operator): 303 to the new pack.
pub async fn freeze(
    state: web::Data<AppState>,
    MemberForm { member, form }: MemberForm<FreezeForm>,
    path: web::Path<WindowId>,
) -> Page {
    let id = path.into_inner();
    let title = form.title.filter(|t| !t.trim().is_empty());
    if let Err(e) = crate::review_packs::check_title(title.as_deref()) {
        return error_page(e);
    }
    let ctx = member.auth;
    let frozen = state
        .db
        .write(move |conn| crate::review_packs::freeze(conn, &ctx, &id, title))
        .await;
    see_other_or_error(frozen, |p| format!("/review-packs/{}", p.id))
}

/// A verdict as the pack page lists it.
pub struct ReviewLine {
    pub org: String,
    pub verdict: String,
    pub comment: String,
    pub when: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "ev_pack.html")]
pub struct PackPage {
    pub chrome: Chrome,
    pub id: String,
    pub window_id: WindowId,
    pub created: String,
    pub sha256: String,
    pub megabytes: String,
    pub met: bool,
    pub criteria: Vec<(String, bool, String)>,
    pub results: i64,
    pub tested: String,
    pub complete: String,
    pub unexplained: i64,
    pub known: i64,
    pub open_issues: i64,
    pub reviews: Vec<ReviewLine>,
    pub may_review: bool,
    pub csrf: String,
    pub previous: Option<(String, String)>,
    pub changes: Vec<String>,
}

fn change_lines(d: &PackDiff) -> Vec<String> {
    let mut out = Vec::new();
    if d.readiness_met.from != d.readiness_met.to {
        out.push(format!(
            "Exit criteria: {} before, {} now",
            if d.readiness_met.from { "met" } else { "not met" },
            if d.readiness_met.to { "met" } else { "not met" }
        ));
    }
    for f in &d.criteria_flipped {
        let word = |m: Option<bool>| match m {
            Some(true) => "met",
            Some(false) => "not met",
            None => "not set",
        };
        out.push(format!(
            "{}: {} before, {} now",
            f.criterion.replace('_', " "),
            word(f.from_met),
            word(f.to_met)
        ));
    }
    let t = &d.totals;
    out.push(format!(
        "{} cell(s) changed their worst outcome; {} result(s) added, {} amended, {} no longer shared with the industry",
        t.cells_changed, t.results_added, t.results_amended, t.results_withdrawn
    ));
    out
}

/// A review pack: what it froze, its verdicts and what changed since the previous pack.
pub async fn pack(state: web::Data<AppState>, member: Member, path: web::Path<String>) -> Page {
    let id = path.into_inner();
    member_page(state.db.run(move |conn| load_pack(conn, &member, id)).await)
}

/// The page of review pack `id` (404 when there is none): what it froze, every verdict (the
/// newest first) and what changed since the window's previous pack, if it has one.
fn load_pack(conn: &mut DbConn, member: &Member, id: String) -> Result<PackPage, ApiError> {
    let row = packs::find(conn, &id)?.ok_or_else(ApiError::not_found)?;
    let previous = packs::previous(conn, &row.window_id, &row.id)?;
    let diff = match &previous {
        Some((prev, _)) => Some(crate::review_packs::diff::diff(conn, &id, prev)?),
        None => None,
    };
    let all = packs::reviews(conn, &id, false)?;
    let p = row.api(conn)?;
    let s = &p.summary;
    Ok(PackPage {
        chrome: Chrome::new(p.title.clone(), Some(member.nav())),
        window_id: p.uit_window_id.clone(),
        created: human_time(p.created_at),
        sha256: p.sha256.clone(),
        megabytes: format!("{:.1}", p.bytes as f64 / 1_000_000.0),
        met: p.readiness_met,
        criteria: s
            .criteria
            .iter()
            .map(|c| (c.description.clone(), c.met, amount(c.criterion, c.measured)))
            .collect(),
        results: s.results,
        tested: percent(s.tested_share),
        complete: percent(s.complete_share),
        unexplained: s.unexplained_failures,
        known: s.known_issues,
        open_issues: s.open_uit_issues,
        reviews: all
            .iter()
            .rev()
            .map(|r| ReviewLine {
                org: r.org_name.clone(),
                verdict: r.verdict.as_str().to_string(),
                comment: r.comment.clone(),
                when: human_time(r.created_at),
                current: r.current,
            })
            .collect(),
        may_review: crate::review_packs::may_review(&member.auth),
        csrf: member.csrf().to_string(),
        previous,
        changes: diff.as_ref().map(change_lines).unwrap_or_default(),
        id,
    })
}

async fn download(state: web::Data<AppState>, id: String, part: &'static str) -> Page {
    let lookup = id.clone();
    let row = match state
        .db
        .run(move |conn| packs::find(conn, &lookup)?.ok_or_else(ApiError::not_found))
        .await
    {
        Ok(r) => r,
        Err(e) => return error_page(e),
    };
    let (content_type, name) = match part {
        "csv" => ("text/csv; charset=utf-8", format!("review-pack-{id}.csv")),
        _ => ("application/json", format!("review-pack-{id}.json")),
    };
    let mut resp = HttpResponse::Ok();
    resp.content_type(content_type)
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if part == "json" {
        resp.insert_header((header::ETAG, format!("\"{}\"", row.sha256)));
    }
    Ok(resp.streaming(crate::review_packs::handlers::stream_part(state.db.clone(), id, part)))
}

/// The pack's document, as a download for the signed-in member.
pub async fn download_json(state: web::Data<AppState>, _member: Member, path: web::Path<String>) -> Page {
    download(state, path.into_inner(), "json").await
}

/// The pack's results table, as a download.
pub async fn download_csv(state: web::Data<AppState>, _member: Member, path: web::Path<String>) -> Page {
    download(state, path.into_inner(), "csv").await
}

#[derive(Deserialize)]
pub struct VerdictForm {
    verdict: String,
    #[serde(default)]
    comment: String,
}

/// "Record our verdict": 303 back to the pack.
pub async fn review(
    state: web::Data<AppState>,
    MemberForm { member, form }: MemberForm<VerdictForm>,
    path: web::Path<String>,
) -> Page {
    let id = path.into_inner();
    let Some(verdict) = Verdict::parse(&form.verdict) else {
        return error_page(ApiError::invalid_field("verdict", "choose approve, concerns or reject"));
    };
    let ctx = member.auth;
    let comment = match crate::review_packs::check_verdict(&ctx, verdict, &form.comment) {
        Ok(c) => c,
        Err(e) => return error_page(e),
    };
    let pid = id.clone();
    let recorded = state
        .db
        .write(move |conn| crate::review_packs::record_verdict(conn, &ctx, &pid, verdict, &comment))
        .await;
    see_other_or_error(recorded, |_| format!("/review-packs/{id}#verdicts"))
}
