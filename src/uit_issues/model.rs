//! UIT issues: rows, API types, the one visibility rule, the status track and queries.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::AuthContext;
use crate::db::schema::{
    uit_issue_device_sets as ids, uit_issue_history as h, uit_issue_results as irs, uit_issues as ui,
    window_participants as wp,
};
use crate::db::{DbBackend, DbConn, DefectMaskId, DeviceSetId, OrgId, ResultId, UserId, WindowId};
use crate::http::ApiError;

crate::text_enum!(
    /// How much an issue stands in the way: a `blocking` issue holds the release back.
    IssueSeverity {
        Blocking => "blocking",
        Major => "major",
        Minor => "minor",
    }
);

crate::text_enum!(
    /// Where an issue stands: `open` -> `triaged` -> `resolved` | `wont_fix` (the resolving
    /// party), then `resolved` -> `confirmed`, or back to `open` from `resolved` or `wont_fix`
    /// with a reason (the raising organisation).
    IssueStatus {
        Open => "open",
        Triaged => "triaged",
        Resolved => "resolved",
        Confirmed => "confirmed",
        WontFix => "wont_fix",
    }
);

/// Who may take a step of the status track (the operator may take every step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// Any admin or member of the resolving organisation.
    Resolver,
    /// Any admin or member of the organisation that raised the issue.
    Raiser,
}

/// One allowed step: who takes it and whether it needs a comment (the reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub party: Party,
    pub needs_comment: bool,
}

impl IssueStatus {
    /// The step from `self` to `to`, if the track has one.
    pub fn step(self, to: IssueStatus) -> Option<Step> {
        use IssueStatus::*;
        let (party, needs_comment) = match (self, to) {
            (Open, Triaged) => (Party::Resolver, false),
            (Triaged, Resolved) => (Party::Resolver, false),
            (Triaged, WontFix) => (Party::Resolver, true),
            (Resolved, Confirmed) => (Party::Raiser, false),
            (Resolved, Open) | (WontFix, Open) => (Party::Raiser, true),
            _ => return None,
        };
        Some(Step { party, needs_comment })
    }

    /// Where an issue may go from here.
    pub fn allowed(self) -> Vec<IssueStatus> {
        IssueStatus::ALL
            .iter()
            .copied()
            .filter(|to| self.step(*to).is_some())
            .collect()
    }

    /// Still to be dealt with: neither resolved, confirmed nor `wont_fix`.
    pub fn is_pending(self) -> bool {
        matches!(self, IssueStatus::Open | IssueStatus::Triaged)
    }

    /// In words, for emails and summaries: "won't fix".
    pub fn words(self) -> &'static str {
        match self {
            IssueStatus::WontFix => "won't fix",
            other => other.as_str(),
        }
    }
}

/// The statuses still to be dealt with, as stored.
pub const PENDING: [&str; 2] = ["open", "triaged"];

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = ui, treat_none_as_null = true)]
pub struct IssueRow {
    pub id: String,
    pub window_id: WindowId,
    pub title: String,
    pub description: String,
    pub severity: IssueSeverity,
    pub status: IssueStatus,
    pub raised_by_org_id: OrgId,
    pub raised_by_user_id: Option<UserId>,
    pub resolving_org_id: OrgId,
    pub defect_mask_id: Option<DefectMaskId>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
}

impl IssueRow {
    /// Whether `ctx` may act as `party` on this issue (the operator always may).
    pub fn acts_as(&self, ctx: &AuthContext, party: Party) -> bool {
        ctx.is_operator()
            || match party {
                Party::Resolver => ctx.org_id == self.resolving_org_id,
                Party::Raiser => ctx.org_id == self.raised_by_org_id,
            }
    }
}

/// An incident found in a UIT window, before it is understood as a known defect.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UitIssue {
    pub id: String,
    #[schema(value_type = String)]
    pub uit_window_id: WindowId,
    #[schema(example = "Prepayment top-up lost after a Comms Hub replacement")]
    pub title: String,
    pub description: String,
    pub severity: IssueSeverity,
    pub status: IssueStatus,
    /// The device sets the incident was seen on.
    #[schema(value_type = Vec<String>)]
    pub device_set_ids: Vec<DeviceSetId>,
    /// The results that show it, as far as you may read them.
    #[schema(value_type = Vec<String>)]
    pub result_ids: Vec<ResultId>,
    #[schema(value_type = String)]
    pub raised_by_org_id: OrgId,
    #[schema(value_type = Option<String>)]
    pub raised_by_user_id: Option<UserId>,
    /// The manufacturer, service provider or operator that triages and resolves it.
    #[schema(value_type = String)]
    pub resolving_org_id: OrgId,
    /// The defect mask the issue became, once understood.
    #[schema(value_type = Option<String>)]
    pub defect_mask_id: Option<DefectMaskId>,
    /// 1 when raised, +1 per change; the `ETag`.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The boxed issues query, narrowed to what `ctx` may read: like a result at `participants`
/// visibility (the window's participants and the operator; reviewers only through joining,
/// which they cannot), plus the organisations that raised and that resolve the issue.
pub fn visible_to(ctx: &AuthContext) -> ui::BoxedQuery<'static, DbBackend> {
    // The default selection: every column, in the order of `IssueRow`.
    let query = ui::table.into_boxed();
    if ctx.is_operator() {
        return query;
    }
    let org = ctx.org_id.clone();
    let joined = wp::table.filter(wp::org_id.eq(org.clone())).select(wp::window_id);
    query.filter(
        ui::raised_by_org_id
            .eq(org.clone())
            .or(ui::resolving_org_id.eq(org))
            .or(ui::window_id.eq_any(joined)),
    )
}

/// The issue `id` if `ctx` may read it; 404 alike when it is missing or invisible.
pub fn find_visible(conn: &mut DbConn, ctx: &AuthContext, id: &str) -> Result<IssueRow, ApiError> {
    visible_to(ctx)
        .filter(ui::id.eq(id.to_string()))
        .first::<IssueRow>(conn)
        .optional()?
        .ok_or_else(ApiError::not_found)
}

/// Whether `ctx` may read the issue `id` now (false when it does not exist).
pub fn may_read(conn: &mut DbConn, ctx: &AuthContext, id: &str) -> QueryResult<bool> {
    Ok(visible_to(ctx)
        .filter(ui::id.eq(id.to_string()))
        .first::<IssueRow>(conn)
        .optional()?
        .is_some())
}

/// Of `result_ids`, those `ctx` may read.
pub fn readable_results(conn: &mut DbConn, ctx: &AuthContext, result_ids: &[ResultId]) -> QueryResult<Vec<ResultId>> {
    use crate::db::schema::results as r;
    let mut out = Vec::new();
    for chunk in result_ids.chunks(500) {
        out.extend(
            crate::results::visibility::visible_to(ctx)
                .filter(r::id.eq_any(chunk.to_vec()))
                .select(r::id)
                .load::<ResultId>(conn)?,
        );
    }
    Ok(out)
}

/// API views of rows for `ctx`: device sets, and the cited results `ctx` may read.
pub fn views(conn: &mut DbConn, ctx: &AuthContext, rows: Vec<IssueRow>) -> QueryResult<Vec<UitIssue>> {
    let issue_ids: Vec<&String> = rows.iter().map(|r| &r.id).collect();
    let mut sets: HashMap<String, Vec<DeviceSetId>> = HashMap::new();
    for (issue, set) in ids::table
        .filter(ids::uit_issue_id.eq_any(&issue_ids))
        .select((ids::uit_issue_id, ids::device_set_id))
        .order((ids::uit_issue_id, ids::device_set_id))
        .load::<(String, DeviceSetId)>(conn)?
    {
        sets.entry(issue).or_default().push(set);
    }
    let cited: Vec<(String, ResultId)> = irs::table
        .filter(irs::uit_issue_id.eq_any(&issue_ids))
        .select((irs::uit_issue_id, irs::result_id))
        .order((irs::uit_issue_id, irs::result_id))
        .load(conn)?;
    let all: Vec<ResultId> = cited.iter().map(|(_, r)| r.clone()).collect();
    let readable: std::collections::HashSet<ResultId> = readable_results(conn, ctx, &all)?.into_iter().collect();
    let mut results: HashMap<String, Vec<ResultId>> = HashMap::new();
    for (issue, result) in cited {
        if readable.contains(&result) {
            results.entry(issue).or_default().push(result);
        }
    }
    Ok(rows
        .into_iter()
        .map(|r| UitIssue {
            severity: r.severity,
            status: r.status,
            device_set_ids: sets.remove(&r.id).unwrap_or_default(),
            result_ids: results.remove(&r.id).unwrap_or_default(),
            id: r.id,
            uit_window_id: r.window_id,
            title: r.title,
            description: r.description,
            raised_by_org_id: r.raised_by_org_id,
            raised_by_user_id: r.raised_by_user_id,
            resolving_org_id: r.resolving_org_id,
            defect_mask_id: r.defect_mask_id,
            version: r.version,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        })
        .collect())
}

/// The API view of one row for `ctx`.
pub fn view(conn: &mut DbConn, ctx: &AuthContext, row: IssueRow) -> Result<UitIssue, ApiError> {
    views(conn, ctx, vec![row])?.pop().ok_or_else(ApiError::not_found)
}

#[derive(Debug, Default)]
pub struct IssueFilter {
    pub window_id: Option<WindowId>,
    pub status: Option<IssueStatus>,
    pub severity: Option<IssueSeverity>,
    pub resolving_org_id: Option<OrgId>,
}

/// The issues `ctx` may read that match `f`, by id, `limit` after the cursor id.
pub fn list(
    conn: &mut DbConn,
    ctx: &AuthContext,
    f: IssueFilter,
    after: Option<String>,
    limit: i64,
) -> QueryResult<Vec<IssueRow>> {
    let mut q = visible_to(ctx);
    if let Some(w) = f.window_id {
        q = q.filter(ui::window_id.eq(w));
    }
    if let Some(s) = f.status {
        q = q.filter(ui::status.eq(s));
    }
    if let Some(s) = f.severity {
        q = q.filter(ui::severity.eq(s));
    }
    if let Some(o) = f.resolving_org_id {
        q = q.filter(ui::resolving_org_id.eq(o));
    }
    if let Some(after) = after {
        q = q.filter(ui::id.gt(after));
    }
    q.order(ui::id.asc()).limit(limit).load(conn)
}

/// The `blocking` issues of `window_id` still to be dealt with (`open` or `triaged`: not
/// resolved, confirmed or `wont_fix`) that `ctx` may read, as (id, title), oldest first. What
/// the readiness check counts for "no open blocking UIT issue".
pub fn open_blocking(conn: &mut DbConn, ctx: &AuthContext, window_id: &WindowId) -> QueryResult<Vec<(String, String)>> {
    Ok(visible_to(ctx)
        .filter(ui::window_id.eq(window_id.to_string()))
        .filter(ui::severity.eq(IssueSeverity::Blocking))
        .filter(ui::status.eq_any(PENDING))
        .order(ui::id.asc())
        .load::<IssueRow>(conn)?
        .into_iter()
        .map(|r| (r.id, r.title))
        .collect())
}

pub fn insert(conn: &mut DbConn, row: &IssueRow, device_sets: &[DeviceSetId], results: &[ResultId]) -> QueryResult<()> {
    diesel::insert_into(ui::table).values(row).execute(conn)?;
    for set in device_sets {
        diesel::insert_into(ids::table)
            .values((ids::uit_issue_id.eq(&row.id), ids::device_set_id.eq(set)))
            .execute(conn)?;
    }
    for result in results {
        diesel::insert_into(irs::table)
            .values((irs::uit_issue_id.eq(&row.id), irs::result_id.eq(result)))
            .execute(conn)?;
    }
    Ok(())
}

/// Writes `row` (its `version` already bumped) if the stored version is the one before;
/// false when someone else changed it first.
pub fn update(conn: &mut DbConn, row: &IssueRow) -> QueryResult<bool> {
    let n = diesel::update(
        ui::table
            .filter(ui::id.eq(&row.id))
            .filter(ui::version.eq(row.version - 1)),
    )
    .set(row)
    .execute(conn)?;
    Ok(n == 1)
}

/// One step of an issue's history.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = h)]
pub struct HistoryRow {
    pub id: String,
    pub uit_issue_id: String,
    pub from_status: Option<IssueStatus>,
    pub to_status: IssueStatus,
    pub resolving_org_id: OrgId,
    pub comment: String,
    pub actor_user_id: Option<UserId>,
    pub actor_org_id: Option<OrgId>,
    pub occurred_at: NaiveDateTime,
}

/// One step of an issue: raised (`from_status` null), a status transition, or a change of the
/// resolving organisation (`from_status` equal to `to_status`, or `triaged` -> `open`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IssueStep {
    pub id: String,
    pub uit_issue_id: String,
    pub from_status: Option<IssueStatus>,
    pub to_status: IssueStatus,
    /// The resolving organisation after this step.
    #[schema(value_type = String)]
    pub resolving_org_id: OrgId,
    /// The comment or reason given; empty when none.
    pub comment: String,
    #[schema(value_type = Option<String>)]
    pub actor_user_id: Option<UserId>,
    #[schema(value_type = Option<String>)]
    pub actor_org_id: Option<OrgId>,
    pub occurred_at: DateTime<Utc>,
}

impl From<HistoryRow> for IssueStep {
    fn from(r: HistoryRow) -> Self {
        Self {
            from_status: r.from_status,
            to_status: r.to_status,
            id: r.id,
            uit_issue_id: r.uit_issue_id,
            resolving_org_id: r.resolving_org_id,
            comment: r.comment,
            actor_user_id: r.actor_user_id,
            actor_org_id: r.actor_org_id,
            occurred_at: r.occurred_at.and_utc(),
        }
    }
}

pub fn insert_history(conn: &mut DbConn, row: &HistoryRow) -> QueryResult<()> {
    diesel::insert_into(h::table).values(row).execute(conn)?;
    Ok(())
}

/// The steps of an issue, oldest first, `limit` after the cursor id.
pub fn history(conn: &mut DbConn, issue_id: &str, after: Option<String>, limit: i64) -> QueryResult<Vec<IssueStep>> {
    let mut q = h::table
        .filter(h::uit_issue_id.eq(issue_id.to_string()))
        .select(HistoryRow::as_select())
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(h::id.gt(after));
    }
    Ok(q.order(h::id.asc())
        .limit(limit)
        .load::<HistoryRow>(conn)?
        .into_iter()
        .map(IssueStep::from)
        .collect())
}
crate::audit::audited!(UitIssue, "uit_issue", id);
crate::http::idempotency::located!(UitIssue, "/api/v1/uit-issues", id);

#[cfg(test)]
mod tests {
    use super::IssueStatus::*;
    use super::*;

    #[test]
    fn the_track_and_who_moves_it() {
        assert_eq!(Open.allowed(), [Triaged]);
        assert_eq!(Triaged.allowed(), [Resolved, WontFix]);
        assert_eq!(Resolved.allowed(), [Open, Confirmed]);
        assert_eq!(WontFix.allowed(), [Open]);
        assert!(Confirmed.allowed().is_empty());
        assert_eq!(Open.step(Triaged).unwrap().party, Party::Resolver);
        assert_eq!(Triaged.step(Resolved).unwrap().party, Party::Resolver);
        assert!(Triaged.step(WontFix).unwrap().needs_comment);
        assert_eq!(Resolved.step(Confirmed).unwrap().party, Party::Raiser);
        assert!(Resolved.step(Open).unwrap().needs_comment);
        assert!(Open.step(Resolved).is_none() && Open.step(Open).is_none() && Confirmed.step(Open).is_none());
        assert!(Open.is_pending() && Triaged.is_pending());
        assert!(!Resolved.is_pending() && !Confirmed.is_pending() && !WontFix.is_pending());
    }
}
