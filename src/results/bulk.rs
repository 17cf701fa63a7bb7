//! Many results at once: a JSON batch (here) or a JUnit report (`upload`), in one transaction.
//! Items are upserted by (window, device set, scenario, organisation); an amendment changes only
//! the fields an item sends; identical items change nothing; any invalid item rejects the whole
//! request with per-item errors.

use actix_web::{post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::{self, ResultInput, WriteOutcome};
use crate::audit::{self, Actor, Change};
use crate::auth::{AuthContext, Caller, Capability};
use crate::http::idempotency::{self, IdempotencyKey, StoredResponse};
use crate::http::json::Json;
use crate::http::responses::*;
use crate::http::ApiError;
use crate::AppState;

const MAX_ITEMS: usize = 1000;

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"items": [{"uit_window_id": "0193a1c2-5b7e-7c41-8d2f-3e9a1b6c4d01", "device_set_id": "0193a1c2-4f10-7a88-b1c3-77d0e2f4a9b2", "scenario": "install_and_commission", "outcome": "pass", "executed_at": "2026-12-03T09:05:00Z", "visibility": "industry", "external_ref": "RUN-1040"}, {"uit_window_id": "0193a1c2-5b7e-7c41-8d2f-3e9a1b6c4d01", "device_set_id": "0193a1c2-4f10-7a88-b1c3-77d0e2f4a9b2", "scenario": "prepayment_top_up", "outcome": "pass_with_observations", "notes": "Top-up reached the meter after 95 s.", "visibility": "participants"}]}))]
pub struct ResultBatch {
    /// 1 to 1000 results.
    pub items: Vec<ResultInput>,
}

/// What one item of a batch did.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchItem {
    pub index: usize,
    pub id: String,
    pub status: WriteOutcome,
    /// For an update, the fields it changed, e.g. `["outcome"]`; otherwise empty.
    pub changed: Vec<String>,
}

/// The outcome of a batch: counts and, per item, the result id and what happened.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchOutcome {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub items: Vec<BatchItem>,
}

/// Writes and audits validated `items` in the caller's write transaction.
pub(super) fn write_all(
    conn: &mut crate::db::DbConn,
    ctx: &AuthContext,
    items: &[ResultInput],
    source: &str,
) -> Result<BatchOutcome, ApiError> {
    let written = model::upsert(conn, ctx, items)?;
    let count = |o: WriteOutcome| written.iter().filter(|w| w.status == o).count();
    let outcome = BatchOutcome {
        created: count(WriteOutcome::Created),
        updated: count(WriteOutcome::Updated),
        unchanged: count(WriteOutcome::Unchanged),
        items: written
            .iter()
            .enumerate()
            .map(|(index, w)| BatchItem {
                index,
                id: w.row.id.to_string(),
                status: w.status,
                changed: w.changed.iter().map(|f| f.to_string()).collect(),
            })
            .collect(),
    };
    if outcome.created + outcome.updated > 0 {
        let ids = |o: WriteOutcome| {
            written
                .iter()
                .filter(|w| w.status == o)
                .map(|w| w.row.id.clone())
                .collect::<Vec<_>>()
        };
        audit::record(
            conn,
            &Actor::from(ctx),
            Change::new("result.batch", "result_batch", &crate::db::new_id())
                .org(&ctx.org_id)
                .after(serde_json::json!({
                    "source": source,
                    "created": ids(WriteOutcome::Created),
                    "updated": ids(WriteOutcome::Updated),
                })),
        )?;
    }
    Ok(outcome)
}

pub(super) fn ok(outcome: &BatchOutcome) -> Result<StoredResponse, ApiError> {
    Ok(StoredResponse {
        status: 200,
        body: serde_json::to_string(outcome)?,
        location: None,
        replayed: false,
    })
}

/// Publish results in a batch
///
/// Up to 1000 results in one transaction, created or amended by (window, device set, scenario,
/// organisation). An amendment changes only the fields an item sends (one left out keeps its
/// value; `items[].changed` says what changed); re-submitting identical items changes nothing.
/// One invalid item rejects the whole batch with `errors[].field` like `items[3].scenario`; a
/// body that does not fit the schema is 400 `malformed_body` with the same kind of path
/// (`items[217].outcome`). A first result in a window joins it while it accepts participants
/// (422 `window_not_open_for_joining` otherwise).
#[utoipa::path(
    tag = "results",
    operation_id = "createResultBatch",
    request_body = ResultBatch,
    params(crate::http::idempotency::IdempotencyKeyHeader),
    responses(
        (status = 200, description = "Written", body = BatchOutcome),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[post("/results/batch")]
pub async fn create_batch(
    state: web::Data<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    body: Json<ResultBatch>,
) -> Result<HttpResponse, ApiError> {
    let batch = body.into_inner();
    let idem = key.bind("POST /results/batch", &batch);
    let stored = state
        .db
        .write_as(caller, move |conn, ctx| {
            ctx.require(Capability::Participate)?;
            if batch.items.is_empty() || batch.items.len() > MAX_ITEMS {
                return Err(ApiError::invalid_field(
                    "items",
                    format!("must hold between 1 and {MAX_ITEMS} results"),
                ));
            }
            idempotency::once(conn, idem.as_ref(), &ctx.user_id, |conn| {
                let errors = super::validation::validate(conn, &batch.items)?;
                if !errors.is_empty() {
                    return Err(ApiError::validation(super::validation::field_errors(errors, "items")));
                }
                ok(&write_all(conn, &ctx, &batch.items, "batch")?)
            })
        })
        .await?;
    Ok(stored.into_response())
}
