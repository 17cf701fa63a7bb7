//! Publishing one result and amending it: the rules the API's `POST /results` and
//! `PATCH /results/{id}` share with nothing else (batches and uploads write through
//! [`super::writes`] as these do).

use diesel::prelude::*;

use super::handlers::{described, readable, ResultPatch};
use super::model::{self, ResultInput, TestResult, WriteOutcome};
use crate::audit;
use crate::auth::{AuthContext, Capability};
use crate::db::schema::results as r;
use crate::db::DbConn;
use crate::http::etag::IfMatch;
use crate::http::{ApiError, ErrorCode};

/// Publishes `item` as the caller's organisation's result, with its audit row: the item
/// must validate (422 naming each field), and a current result for the same window, device
/// set, scenario and organisation is 409 `result_exists` with its id.
pub fn publish(conn: &mut DbConn, ctx: &AuthContext, item: &ResultInput) -> Result<TestResult, ApiError> {
    let errors = super::validation::validate(conn, std::slice::from_ref(item))?;
    if !errors.is_empty() {
        return Err(ApiError::validation(super::validation::field_errors(errors, "")));
    }
    let existing: Option<String> = r::table
        .filter(r::window_id.eq(&item.uit_window_id))
        .filter(r::device_set_id.eq(&item.device_set_id))
        .filter(r::scenario_code.eq(&item.scenario))
        .filter(r::org_id.eq(&ctx.org_id))
        .select(r::id)
        .first(conn)
        .optional()?;
    if let Some(id) = existing {
        return Err(ApiError::conflict(
            ErrorCode::ResultExists,
            "Your organisation already has a result for this window, device set and scenario; amend it with PATCH.",
        )
        .with_context(serde_json::json!({ "existing_id": id })));
    }
    let written = model::upsert(conn, ctx, std::slice::from_ref(item))?
        .pop()
        .ok_or_else(|| ApiError::internal("no row"))?;
    let mut result = TestResult::from(written.row);
    super::context::describe(conn, std::slice::from_mut(&mut result), None)?;
    audit::created(conn, ctx, "result.create", &result)?;
    Ok(result)
}

/// Amends a result of the caller's organisation, with its audit row when something changed:
/// 404 for a result the caller may not read, 403 for another organisation's, then `If-Match`,
/// then the fields as a publication validates them (the window cannot change). Returns the
/// new version and the result as `GET` shows it.
pub fn amend(
    conn: &mut DbConn,
    ctx: &AuthContext,
    id: &str,
    if_match: IfMatch,
    patch: ResultPatch,
) -> Result<(i64, TestResult), ApiError> {
    let before = readable(conn, ctx, id)?;
    if before.org_id != ctx.org_id {
        return Err(ApiError::forbidden(
            "Only the publishing organisation may amend a result.",
        ));
    }
    ctx.require(Capability::Participate)?;
    if_match.check(before.version)?;
    let current = TestResult::from(before.clone());
    // An amendment of the one result: what the patch leaves out keeps its value.
    let item = ResultInput {
        uit_window_id: current.uit_window_id.clone(),
        device_set_id: current.device_set_id.clone(),
        scenario: current.scenario.clone(),
        outcome: patch.outcome.unwrap_or(current.outcome),
        executed_at: patch.executed_at,
        notes: patch.notes,
        defect_mask_ids: patch.defect_mask_ids,
        visibility: patch.visibility,
        external_ref: patch.external_ref,
    };
    let errors = super::validation::validate(conn, std::slice::from_ref(&item))?
        .into_iter()
        .filter(|e| e.field != "uit_window_id")
        .collect::<Vec<_>>();
    if !errors.is_empty() {
        return Err(ApiError::validation(super::validation::field_errors(errors, "")));
    }
    let written = model::upsert(conn, ctx, std::slice::from_ref(&item))?
        .pop()
        .ok_or_else(|| ApiError::internal("no row"))?;
    let after = written.row;
    if written.status != WriteOutcome::Unchanged {
        audit::changed(conn, ctx, "result.amend", &current, &TestResult::from(after.clone()))?;
    }
    Ok((after.version, described(conn, after, None)?))
}
