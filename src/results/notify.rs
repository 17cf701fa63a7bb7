//! What a write of results tells subscribers of the `results` topic: the new failures and the
//! new known issues among shared results. One change event per window and visibility a write
//! touched (a single result, a batch or a JUnit upload alike), in the write's own transaction,
//! so a batch of 500 makes one email (or one digest line), not 500. Its audience is the
//! results' own readers (`notifications::audience::audience`, entity type `results`); a private
//! result makes no event at all.

use std::collections::{BTreeMap, HashMap};

use diesel::prelude::*;

use super::model::{unique, Outcome, ResultRow, Visibility};
use crate::auth::AuthContext;
use crate::db::schema::{device_sets, organisations, uit_windows};
use crate::db::{DbConn, DeviceSetId, OrgId, ResultId, WindowId};
use crate::defect_masks::model::explaining;
use crate::events::{self, NewEvent, Topic};
use crate::http::ApiError;
use crate::notifications::audience::Audience;

/// Results named one by one in an event; the counts cover the rest.
pub const ITEMS_PER_EVENT: usize = 50;

/// Who may hear of shared results, the rule of `results::visibility::visible_to`: `industry`
/// ones every member (with an account), `participants` ones the window's participants, the
/// operator and the publisher. Private results make no event.
fn audience(visibility: &str, window_id: &WindowId, publisher: &OrgId) -> Audience {
    match Visibility::parse(visibility) {
        Some(Visibility::Industry) => Audience::Members,
        Some(Visibility::Participants) => Audience::WindowParticipants {
            window_id: window_id.clone(),
            org_ids: vec![publisher.clone()],
        },
        _ => Audience::Nobody,
    }
}

/// How widely a visibility shares: private 0, participants 1, industry 2.
fn reach(visibility: Visibility) -> u8 {
    match visibility {
        Visibility::Industry => 2,
        Visibility::Participants => 1,
        Visibility::Private => 0,
    }
}

/// Whether writing `after` (over `before`, for an amendment) makes a failure its readers had
/// not been told of: a shared failure that was no failure before, or was one only for fewer
/// readers (private, or participants before industry).
pub fn newly_failed(before: Option<&ResultRow>, after: &ResultRow) -> bool {
    if after.outcome != Outcome::Fail || reach(after.visibility) == 0 {
        return false;
    }
    match before {
        Some(b) if b.outcome == Outcome::Fail => reach(b.visibility) < reach(after.visibility),
        _ => true,
    }
}

/// Records the events of `failed` (rows [`newly_failed`] picked, as written).
pub fn record(conn: &mut DbConn, ctx: &AuthContext, failed: &[ResultRow]) -> Result<(), ApiError> {
    if failed.is_empty() {
        return Ok(());
    }
    let ids: Vec<ResultId> = failed.iter().map(|r| r.id.clone()).collect();
    let known = explaining(conn, &ids)?;
    let set_ids = unique(failed.iter().map(|r| r.device_set_id.clone()));
    let mut set_names: HashMap<DeviceSetId, String> = HashMap::new();
    for chunk in set_ids.chunks(500) {
        set_names.extend(
            device_sets::table
                .filter(device_sets::id.eq_any(chunk))
                .select((device_sets::id, device_sets::name))
                .load::<(DeviceSetId, String)>(conn)?,
        );
    }
    let products = crate::device_sets::composition::products(conn, &set_ids)?;
    let org_name: String = organisations::table
        .find(&ctx.org_id)
        .select(organisations::name)
        .first(conn)
        .optional()?
        .unwrap_or_else(|| "An organisation".into());
    let mut groups: BTreeMap<(&WindowId, &str), Vec<&ResultRow>> = BTreeMap::new();
    for row in failed {
        groups
            .entry((&row.window_id, row.visibility.as_str()))
            .or_default()
            .push(row);
    }
    for ((window_id, visibility), rows) in groups {
        let window_name: String = uit_windows::table
            .find(window_id)
            .select(uit_windows::name)
            .first(conn)
            .optional()?
            .unwrap_or_else(|| "a UIT window".into());
        let known_issues = rows.iter().filter(|r| known.contains_key(&r.id)).count();
        let failures = rows.len() - known_issues;
        let items: Vec<serde_json::Value> = rows
            .iter()
            .take(ITEMS_PER_EVENT)
            .map(|r| {
                let masks: Vec<&str> = known
                    .get(&r.id)
                    .map(|m| m.iter().map(|m| m.code.as_str()).collect())
                    .unwrap_or_default();
                serde_json::json!({
                    "result_id": r.id,
                    "device_set_id": r.device_set_id,
                    "device_set_name": set_names.get(&r.device_set_id).cloned().unwrap_or_default(),
                    "scenario": r.scenario_code,
                    "known_issue": !masks.is_empty(),
                    "masks": masks,
                })
            })
            .collect();
        let (mut types, mut models, mut makers) = (Vec::new(), Vec::new(), Vec::new());
        for row in &rows {
            for (t, m, o) in products.get(&row.device_set_id).into_iter().flatten() {
                types.push(t.clone());
                models.push(m.clone());
                makers.push(o.clone());
            }
        }
        let summary = format!(
            "{org_name} published {} in UIT window {window_name}",
            counted(failures, known_issues)
        );
        events::record(
            conn,
            NewEvent::new(Topic::Results, "results.failed", "results", window_id, summary)
                .details(serde_json::json!({
                    "uit_window_id": window_id,
                    "window_name": window_name,
                    "org_id": ctx.org_id,
                    "org_name": org_name,
                    "visibility": visibility,
                    "failures": failures,
                    "known_issues": known_issues,
                    "items": items,
                    "more": rows.len().saturating_sub(ITEMS_PER_EVENT),
                }))
                .actor(&ctx.org_id)
                .scope(types, models, makers)
                .windows(vec![window_id.clone()])
                .audience(audience(visibility, window_id, &ctx.org_id)),
        )?;
    }
    Ok(())
}

/// "2 new failures and 1 new known issue".
pub fn counted(failures: usize, known_issues: usize) -> String {
    let n = |count: usize, one: &str, many: &str| format!("{count} {}", if count == 1 { one } else { many });
    match (failures, known_issues) {
        (f, 0) => n(f, "new failure", "new failures"),
        (0, k) => n(k, "new known issue", "new known issues"),
        (f, k) => format!(
            "{} and {}",
            n(f, "new failure", "new failures"),
            n(k, "new known issue", "new known issues")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(outcome: &str, visibility: &str) -> ResultRow {
        ResultRow {
            id: "r".into(),
            window_id: "w".into(),
            device_set_id: "s".into(),
            scenario_code: "c".into(),
            org_id: "o".into(),
            outcome: Outcome::parse(outcome).unwrap(),
            executed_at: None,
            notes: String::new(),
            external_ref: None,
            visibility: Visibility::parse(visibility).unwrap(),
            lead: false,
            defect_mask_ids: crate::db::JsonText(Vec::new()),
            published_by_user_id: None,
            created_at: Default::default(),
            updated_at: Default::default(),
            version: 1,
        }
    }

    #[test]
    fn a_failure_is_news_once_for_each_widening_of_its_readers() {
        assert!(newly_failed(None, &row("fail", "participants")));
        assert!(newly_failed(None, &row("fail", "industry")));
        assert!(!newly_failed(None, &row("fail", "private")), "a private working note");
        assert!(!newly_failed(None, &row("pass", "industry")));
        assert!(newly_failed(Some(&row("pass", "industry")), &row("fail", "industry")));
        assert!(newly_failed(
            Some(&row("fail", "private")),
            &row("fail", "participants")
        ));
        assert!(newly_failed(
            Some(&row("fail", "participants")),
            &row("fail", "industry")
        ));
        assert!(
            !newly_failed(Some(&row("fail", "industry")), &row("fail", "industry")),
            "notes amended"
        );
        assert!(!newly_failed(
            Some(&row("fail", "industry")),
            &row("fail", "participants")
        ));
    }

    #[test]
    fn counts_read_as_words() {
        assert_eq!(counted(1, 0), "1 new failure");
        assert_eq!(counted(0, 2), "2 new known issues");
        assert_eq!(counted(3, 1), "3 new failures and 1 new known issue");
    }
}
