//! Review packs: a window's shared evidence frozen at one moment, as canonical JSON (sorted
//! keys, no insignificant whitespace) whose SHA-256 anyone can recompute from the download.
//!
//! A pack holds what every organisation that reads industry results may read, because every
//! such organisation (reviewers included) may read the pack: the window and its release, every
//! `industry` result (as `GET /results/{id}` shows it: revision, names, the masks that explain
//! a failure), the matrix, coverage and readiness computed from those results only, the
//! defect masks they cite, and the window's unresolved UIT issues (title, severity and status:
//! freezing a pack is the operator publishing them to the reviewers).
//!
//! The bytes are stored in parts of at most [`PART_BYTES`] (`review_pack_parts`), written once
//! in the creating transaction and streamed on download, so neither side holds a large pack
//! in memory: part `json` (the document), `csv` (its results table) and `index` (one line per
//! result, cell and criterion, which a diff compares).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::AuthContext;
use crate::db::schema::{pack_reviews, review_pack_parts as parts, review_packs};
use crate::db::{new_id, now, DbConn, OrgId, ReleaseId, UserId, WindowId};
use crate::http::ApiError;
use crate::readiness::model::Criterion;

/// The document's format name, its first key's value... (`format`).
pub const FORMAT: &str = "uit-portal.review-pack/1";
/// Largest stored part.
pub const PART_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = review_packs)]
pub struct PackRow {
    pub id: String,
    pub window_id: WindowId,
    pub release_id: ReleaseId,
    pub title: String,
    pub sha256: String,
    pub bytes: i64,
    pub results: i64,
    pub readiness_met: bool,
    pub summary: String,
    pub created_at: NaiveDateTime,
    pub created_by_user_id: Option<UserId>,
    pub created_by_org_id: OrgId,
}

/// A criterion as the pack measured it, without its findings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CriterionSummary {
    pub criterion: Criterion,
    pub description: String,
    pub threshold: f64,
    pub measured: f64,
    pub met: bool,
}

/// What a pack shows at a glance (also in the emails of a decision that cites it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PackSummary {
    pub criteria: Vec<CriterionSummary>,
    pub unmet: Vec<Criterion>,
    /// Industry results frozen.
    pub results: i64,
    pub device_sets: i64,
    /// Share of the installed base with at least one result (0-1).
    pub tested_share: f64,
    /// Share of the installed base with a result for every scenario.
    pub complete_share: f64,
    pub unexplained_failures: i64,
    pub known_issues: i64,
    pub open_uit_issues: i64,
}

/// A review pack's description; the evidence itself is `GET /review-packs/{id}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReviewPack {
    pub id: String,
    #[schema(value_type = String)]
    pub uit_window_id: WindowId,
    #[schema(value_type = String)]
    pub release_id: ReleaseId,
    #[schema(example = "UIT-2027-03 exit review")]
    pub title: String,
    /// SHA-256 (hex) of the document `GET /review-packs/{id}` returns: its `ETag`.
    pub sha256: String,
    /// Size of the document in bytes.
    pub bytes: i64,
    /// Whether the frozen evidence met the window's exit criteria.
    pub readiness_met: bool,
    pub summary: PackSummary,
    pub created_at: DateTime<Utc>,
    #[schema(value_type = String)]
    pub created_by_org_id: OrgId,
    /// The current verdict of each organisation that reviewed the pack.
    pub reviews: Vec<Review>,
}

crate::text_enum!(
    /// A reviewer's verdict on a pack.
    Verdict {
        Approve => "approve",
        Concerns => "concerns",
        Reject => "reject",
    }
);

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = pack_reviews)]
pub struct ReviewRow {
    pub id: String,
    pub pack_id: String,
    pub org_id: OrgId,
    pub user_id: Option<UserId>,
    pub verdict: Verdict,
    pub comment: String,
    pub created_at: NaiveDateTime,
    pub superseded_at: Option<NaiveDateTime>,
}

/// A verdict of a reviewer (SECAS, a working group) or the operator on a pack.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Review {
    pub id: String,
    pub review_pack_id: String,
    #[schema(value_type = String)]
    pub org_id: OrgId,
    pub org_name: String,
    #[schema(value_type = Option<String>)]
    pub user_id: Option<UserId>,
    pub verdict: Verdict,
    pub comment: String,
    pub created_at: DateTime<Utc>,
    /// False once the organisation recorded a later verdict.
    pub current: bool,
    pub superseded_at: Option<DateTime<Utc>>,
}

/// A verdict as a stage decision recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReviewSnapshot {
    #[schema(value_type = String)]
    pub org_id: OrgId,
    pub org_name: String,
    pub verdict: Verdict,
    pub comment: String,
    pub created_at: DateTime<Utc>,
}

impl ReviewRow {
    fn api(self, org_name: String) -> Result<Review, ApiError> {
        Ok(Review {
            verdict: self.verdict,
            current: self.superseded_at.is_none(),
            id: self.id,
            review_pack_id: self.pack_id,
            org_id: self.org_id,
            org_name,
            user_id: self.user_id,
            comment: self.comment,
            created_at: self.created_at.and_utc(),
            superseded_at: self.superseded_at.map(|t| t.and_utc()),
        })
    }
}

/// The reviews of `pack_id`, oldest first; only the current ones when `current_only`.
pub fn reviews(conn: &mut DbConn, pack_id: &str, current_only: bool) -> Result<Vec<Review>, ApiError> {
    use crate::db::schema::organisations as o;
    let mut q = pack_reviews::table
        .inner_join(o::table.on(o::id.eq(pack_reviews::org_id)))
        .filter(pack_reviews::pack_id.eq(pack_id))
        .select((ReviewRow::as_select(), o::name))
        .into_boxed();
    if current_only {
        q = q.filter(pack_reviews::superseded_at.is_null());
    }
    let rows: Vec<(ReviewRow, String)> = q.order(pack_reviews::id.asc()).load(conn)?;
    rows.into_iter().map(|(row, name)| row.api(name)).collect()
}

/// Records `verdict` of `ctx`'s organisation on `pack_id`, superseding its previous one.
pub fn review(
    conn: &mut DbConn,
    ctx: &AuthContext,
    pack_id: &str,
    verdict: Verdict,
    comment: &str,
) -> Result<Review, ApiError> {
    let at = now();
    diesel::update(
        pack_reviews::table
            .filter(pack_reviews::pack_id.eq(pack_id))
            .filter(pack_reviews::org_id.eq(&ctx.org_id))
            .filter(pack_reviews::superseded_at.is_null()),
    )
    .set(pack_reviews::superseded_at.eq(Some(at)))
    .execute(conn)?;
    let row = ReviewRow {
        id: new_id(),
        pack_id: pack_id.to_string(),
        org_id: ctx.org_id.clone(),
        user_id: Some(ctx.user_id.clone()),
        verdict,
        comment: comment.to_string(),
        created_at: at,
        superseded_at: None,
    };
    diesel::insert_into(pack_reviews::table).values(&row).execute(conn)?;
    let name: String = crate::db::schema::organisations::table
        .find(&ctx.org_id)
        .select(crate::db::schema::organisations::name)
        .first(conn)?;
    row.api(name)
}

/// The current verdicts as a decision records them.
pub fn snapshot(conn: &mut DbConn, pack_id: &str) -> Result<Vec<ReviewSnapshot>, ApiError> {
    Ok(reviews(conn, pack_id, true)?
        .into_iter()
        .map(|r| ReviewSnapshot {
            org_id: r.org_id,
            org_name: r.org_name,
            verdict: r.verdict,
            comment: r.comment,
            created_at: r.created_at,
        })
        .collect())
}

impl PackRow {
    pub fn summary(&self) -> Result<PackSummary, ApiError> {
        serde_json::from_str(&self.summary)
            .map_err(|e| ApiError::internal(format!("stored summary of pack {} does not parse: {e}", self.id)))
    }

    pub fn api(self, conn: &mut DbConn) -> Result<ReviewPack, ApiError> {
        Ok(ReviewPack {
            summary: self.summary()?,
            reviews: reviews(conn, &self.id, true)?,
            id: self.id,
            uit_window_id: self.window_id,
            release_id: self.release_id,
            title: self.title,
            sha256: self.sha256,
            bytes: self.bytes,
            readiness_met: self.readiness_met,
            created_at: self.created_at.and_utc(),
            created_by_org_id: self.created_by_org_id,
        })
    }
}

pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<PackRow>> {
    review_packs::table
        .find(id)
        .select(PackRow::as_select())
        .first(conn)
        .optional()
}

/// Packs of a window, oldest first, after the cursor `after`.
pub fn of_window(
    conn: &mut DbConn,
    window_id: &WindowId,
    after: Option<String>,
    limit: i64,
) -> QueryResult<Vec<PackRow>> {
    let mut q = review_packs::table
        .filter(review_packs::window_id.eq(window_id))
        .select(PackRow::as_select())
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(review_packs::id.gt(after));
    }
    q.order(review_packs::id.asc()).limit(limit).load(conn)
}

/// The window's pack frozen just before `pack_id`, if any: (id, title).
pub fn previous(conn: &mut DbConn, window_id: &WindowId, pack_id: &str) -> QueryResult<Option<(String, String)>> {
    review_packs::table
        .filter(review_packs::window_id.eq(window_id))
        .filter(review_packs::id.lt(pack_id))
        .order(review_packs::id.desc())
        .select((review_packs::id, review_packs::title))
        .first(conn)
        .optional()
}

/// One stored part of a pack, by sequence number (`None` past the end).
pub fn part(conn: &mut DbConn, pack_id: &str, part: &str, seq: i32) -> QueryResult<Option<String>> {
    parts::table
        .filter(parts::pack_id.eq(pack_id))
        .filter(parts::part.eq(part))
        .filter(parts::seq.eq(seq))
        .select(parts::body)
        .first(conn)
        .optional()
}

/// Every part of one kind, concatenated (for the index, which is small per result).
pub fn whole(conn: &mut DbConn, pack_id: &str, part: &str) -> QueryResult<String> {
    let bodies: Vec<String> = parts::table
        .filter(parts::pack_id.eq(pack_id))
        .filter(parts::part.eq(part))
        .order(parts::seq.asc())
        .select(parts::body)
        .load(conn)?;
    Ok(bodies.concat())
}

crate::audit::audited!(ReviewPack, "review_pack", id);
crate::http::idempotency::located!(ReviewPack, "/api/v1/review-packs", id);
