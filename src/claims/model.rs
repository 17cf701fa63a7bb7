//! Claims: the API type and queries, and the lead flag of the claimer's results.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::schema::{claims, device_sets, organisations, results, uit_windows};
use crate::db::{now, ClaimId, DbConn, DeviceSetId, OrgId, WindowId};
use crate::device_sets::composition::{self, DeviceSetSummary};
use crate::results::model::ResultRow;
use crate::results::writes::Writes;

/// An organisation's lead on a device set in a window.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Claim {
    #[schema(value_type = String)]
    pub id: ClaimId,
    #[schema(value_type = String)]
    pub uit_window_id: WindowId,
    pub uit_window_name: String,
    #[schema(value_type = String)]
    pub device_set_id: DeviceSetId,
    pub device_set_name: String,
    #[schema(value_type = String)]
    pub org_id: OrgId,
    pub org_name: String,
    pub note: String,
    pub claimed_at: DateTime<Utc>,
    /// When the claim lapses unless its holder publishes a result on the set in the window:
    /// the window's `claim_ttl_days` after the claim, the window's opening or the holder's
    /// latest result on the set, whichever is last. Null when the window's claims do not lapse.
    pub expires_at: Option<DateTime<Utc>>,
    /// The device set's name, prevalence and composition; only with `?embed=device_set`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_set: Option<DeviceSetSummary>,
}

/// A claim with the names it is shown with and what its deadline needs: the window's
/// `claim_ttl_days` and opening.
#[derive(Queryable, Selectable)]
#[diesel(table_name = claims)]
struct ClaimRow {
    id: ClaimId,
    window_id: WindowId,
    #[diesel(select_expression = uit_windows::name)]
    window_name: String,
    device_set_id: DeviceSetId,
    #[diesel(select_expression = device_sets::name)]
    device_set_name: String,
    org_id: OrgId,
    #[diesel(select_expression = organisations::name)]
    org_name: String,
    note: String,
    claimed_at: NaiveDateTime,
    #[diesel(select_expression = uit_windows::claim_ttl_days)]
    claim_ttl_days: Option<i32>,
    #[diesel(select_expression = uit_windows::opens_at)]
    opens_at: NaiveDateTime,
}

/// A claim and what its deadline needs: the window's `claim_ttl_days` and opening.
fn to_claim(r: ClaimRow) -> (Claim, Option<i32>, NaiveDateTime) {
    let claim = Claim {
        id: r.id,
        uit_window_id: r.window_id,
        uit_window_name: r.window_name,
        device_set_id: r.device_set_id,
        device_set_name: r.device_set_name,
        org_id: r.org_id,
        org_name: r.org_name,
        note: r.note,
        claimed_at: r.claimed_at.and_utc(),
        expires_at: None,
        device_set: None,
    };
    (claim, r.claim_ttl_days, r.opens_at)
}

/// Which claims to load.
#[derive(Debug, Default)]
pub struct ClaimFilter<'a> {
    pub window_id: Option<&'a str>,
    pub claim_id: Option<&'a str>,
    pub device_set_id: Option<&'a str>,
    /// The claiming organisation.
    pub org_id: Option<&'a str>,
}

/// Claims matching `f`, by id, after the cursor `after`.
pub fn load(conn: &mut DbConn, f: ClaimFilter, after: Option<String>, limit: i64) -> QueryResult<Vec<Claim>> {
    let mut q = claims::table
        .inner_join(organisations::table.on(organisations::id.eq(claims::org_id)))
        .inner_join(device_sets::table.on(device_sets::id.eq(claims::device_set_id)))
        .inner_join(uit_windows::table.on(uit_windows::id.eq(claims::window_id)))
        .select(ClaimRow::as_select())
        .into_boxed();
    if let Some(window) = f.window_id {
        q = q.filter(claims::window_id.eq(window.to_string()));
    }
    if let Some(id) = f.claim_id {
        q = q.filter(claims::id.eq(id.to_string()));
    }
    if let Some(set) = f.device_set_id {
        q = q.filter(claims::device_set_id.eq(set.to_string()));
    }
    if let Some(org) = f.org_id {
        q = q.filter(claims::org_id.eq(org.to_string()));
    }
    if let Some(after) = after {
        q = q.filter(claims::id.gt(after));
    }
    let rows: Vec<ClaimRow> = q.order(claims::id.asc()).limit(limit).load(conn)?;
    let rows: Vec<_> = rows.into_iter().map(to_claim).collect();
    super::lapse::with_deadlines(conn, rows)
}

/// One claim by id.
pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Claim>> {
    Ok(load(
        conn,
        ClaimFilter {
            claim_id: Some(id),
            ..Default::default()
        },
        None,
        1,
    )?
    .pop())
}

/// The claim on `set_id` in `window_id`, whoever holds it.
pub fn holder(conn: &mut DbConn, window_id: &WindowId, set_id: &DeviceSetId) -> QueryResult<Option<Claim>> {
    Ok(load(
        conn,
        ClaimFilter {
            window_id: Some(window_id),
            device_set_id: Some(set_id),
            ..Default::default()
        },
        None,
        1,
    )?
    .pop())
}

/// Embeds the device sets of a page of claims: two queries, whatever the page size.
pub fn embed_device_sets(conn: &mut DbConn, claims: &mut [Claim]) -> QueryResult<()> {
    let ids: Vec<DeviceSetId> = claims.iter().map(|c| c.device_set_id.clone()).collect();
    let summaries = composition::summaries(conn, &ids)?;
    for claim in claims {
        claim.device_set = summaries.get(&claim.device_set_id).cloned();
    }
    Ok(())
}

/// Marks `org`'s results on (window, set) as lead or not. `lead` is part of a result's
/// representation, so each result whose flag changes gets a new version (and ETag) and keeps
/// its previous revision, as an amendment would: an `If-Match` read before the claim moved
/// is stale after it.
pub fn set_lead(
    conn: &mut DbConn,
    window_id: &WindowId,
    set_id: &DeviceSetId,
    org_id: &OrgId,
    lead: bool,
    user_id: &str,
) -> Result<usize, crate::http::ApiError> {
    let changing: Vec<ResultRow> = results::table
        .filter(
            results::window_id
                .eq(window_id)
                .and(results::device_set_id.eq(set_id))
                .and(results::org_id.eq(org_id))
                .and(results::lead.ne(lead)),
        )
        .select(ResultRow::as_select())
        .load(conn)?;
    let at = now();
    let mut writes = Writes::default();
    for row in &changing {
        let after = ResultRow {
            lead,
            version: row.version + 1,
            updated_at: at,
            ..row.clone()
        };
        writes.amend(row, after, user_id, at, None)?;
    }
    writes.flush(conn)?;
    Ok(changing.len())
}
crate::audit::audited!(Claim, "claim", id, owner = org_id);
