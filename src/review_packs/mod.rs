//! Review packs: a UIT window's evidence frozen for review, the verdicts of reviewers on it,
//! and what changed between two packs.

pub mod diff;
pub mod freeze;
pub mod handlers;
pub mod model;

use crate::audit::{self, Actor, Change};
use crate::auth::{AuthContext, Capability, OrgKind, Role};
use crate::db::{DbConn, WindowId};
use crate::events::{self, NewEvent, Topic};
use crate::http::validate::Validator;
use crate::http::ApiError;
use model::{Review, ReviewPack, Verdict};

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::create_pack)
        .service(handlers::list_packs)
        .service(handlers::get_pack)
        .service(handlers::diff_packs)
        .service(handlers::create_review)
        .service(handlers::list_reviews);
}

/// The window's unresolved (`open` or `triaged`) UIT issues as a pack freezes them: id,
/// title, severity, status, resolving organisation and when raised. Their descriptions and the
/// results they cite stay behind the participants rule; freezing a pack is the operator
/// publishing that these issues exist.
pub fn open_issues(
    conn: &mut DbConn,
    ctx: &AuthContext,
    window_id: &WindowId,
) -> Result<Vec<serde_json::Value>, ApiError> {
    use crate::db::schema::uit_issues as ui;
    use diesel::prelude::*;
    let rows: Vec<crate::uit_issues::model::IssueRow> = crate::uit_issues::model::visible_to(ctx)
        .filter(ui::window_id.eq(window_id.to_string()))
        .filter(ui::status.eq_any(crate::uit_issues::model::PENDING))
        .order(ui::id.asc())
        .load(conn)?;
    let org_ids = rows.iter().map(|r| &r.resolving_org_id).collect();
    let names = crate::organisations::model::names_of(conn, org_ids)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            serde_json::json!({
                "id": r.id,
                "title": r.title,
                "severity": r.severity,
                "status": r.status,
                "resolving_org_id": r.resolving_org_id,
                "resolving_org_name": names.get(r.resolving_org_id.as_str()),
                "raised_at": r.created_at.and_utc(),
            })
        })
        .collect())
}

/// 422 when a pack's title is blank or longer than 200 characters.
pub fn check_title(title: Option<&str>) -> Result<(), ApiError> {
    if let Some(title) = title {
        let mut v = Validator::new();
        v.text("title", title, 200);
        v.finish()?;
    }
    Ok(())
}

/// Freezes the evidence of `window_id` into a new pack for the operator `ctx` (in the
/// caller's write transaction), announces it to subscribers of `uit_windows` and audits it.
pub fn freeze(
    conn: &mut DbConn,
    ctx: &AuthContext,
    window_id: &WindowId,
    title: Option<String>,
) -> Result<ReviewPack, ApiError> {
    ctx.require(Capability::ManageIndustry)?;
    crate::windows::model::find(conn, window_id)?.ok_or_else(ApiError::not_found)?;
    let uit_issues = open_issues(conn, ctx, window_id)?;
    let row = freeze::create(
        conn,
        freeze::NewPack {
            ctx,
            window_id,
            title,
            uit_issues,
        },
    )?;
    let pack = row.api(conn)?;
    events::record(
        conn,
        NewEvent::new(
            Topic::UitWindows,
            "review_pack.created",
            "uit_window",
            window_id,
            format!(
                "Review pack \"{}\" frozen: {} industry results, exit criteria {}",
                pack.title,
                pack.summary.results,
                if pack.readiness_met { "met" } else { "not met" }
            ),
        )
        .details(serde_json::json!({
            "review_pack_id": pack.id,
            "sha256": pack.sha256,
            "readiness_met": pack.readiness_met,
            "unmet": pack.summary.unmet,
        }))
        .actor(&ctx.org_id),
    )?;
    audit::created(conn, ctx, "review_pack.create", &pack)?;
    Ok(pack)
}

/// Whether `ctx` may record a verdict (members and admins of reviewer organisations and of the
/// operator: 403 otherwise), and the comment to record (422 when `concerns` or `reject` come
/// without one, or it is too long).
pub fn check_verdict(ctx: &AuthContext, verdict: Verdict, comment: &str) -> Result<String, ApiError> {
    if !matches!(ctx.org_kind, OrgKind::Reviewer | OrgKind::Operator) {
        return Err(ApiError::forbidden(
            "Verdicts on review packs are recorded by reviewers (SECAS, working groups) and the operator.",
        ));
    }
    if ctx.role == Role::Viewer {
        return Err(ApiError::forbidden(
            "Viewers read packs; members and admins record verdicts.",
        ));
    }
    let comment = comment.trim().to_string();
    let mut v = Validator::new();
    if comment.chars().count() > 4000 {
        v.error("comment", "must be at most 4000 characters");
    }
    if comment.is_empty() && verdict != Verdict::Approve {
        v.error("comment", format!("say what the {verdict} are about"));
    }
    v.finish()?;
    Ok(comment)
}

/// Whether `ctx` may record verdicts at all (for pages: whether to show the form).
pub fn may_review(ctx: &AuthContext) -> bool {
    check_verdict(ctx, Verdict::Approve, "").is_ok()
}

/// Records the verdict (checked with [`check_verdict`]) of `ctx`'s organisation on `pack_id`,
/// superseding its previous one; 404 when the pack does not exist.
pub fn record_verdict(
    conn: &mut DbConn,
    ctx: &AuthContext,
    pack_id: &str,
    verdict: Verdict,
    comment: &str,
) -> Result<Review, ApiError> {
    model::find(conn, pack_id)?.ok_or_else(ApiError::not_found)?;
    let review = model::review(conn, ctx, pack_id, verdict, comment)?;
    audit::record(
        conn,
        &Actor::from(ctx),
        Change::new("review_pack.review", "review_pack", pack_id)
            .org(&ctx.org_id)
            .after(serde_json::to_value(&review)?),
    )?;
    Ok(review)
}
