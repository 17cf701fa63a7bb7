//! Many results at once: a JSON batch or a JUnit report, in one transaction. Items are upserted
//! by (window, device set, scenario, organisation); identical items change nothing; any invalid
//! item rejects the whole request with per-item errors.

use actix_web::http::header;
use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::junit;
use super::model::{self, ResultInput, Visibility, WriteOutcome};
use crate::audit::{self, Actor, Change};
use crate::auth::{AuthContext, Capability};
use crate::http::idempotency::{self, IdempotencyKey, StoredResponse};
use crate::http::json::Json;
use crate::http::responses::*;
use crate::http::ApiError;
use crate::AppState;

const MAX_ITEMS: usize = 1000;

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
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
}

/// The outcome of a batch: counts and, per item, the result id and what happened.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchOutcome {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub items: Vec<BatchItem>,
}

/// Validates, writes and audits `items` in the caller's write transaction.
fn write_all(
    conn: &mut crate::db::DbConn,
    ctx: &AuthContext,
    items: &[ResultInput],
    source: &str,
) -> Result<BatchOutcome, ApiError> {
    let errors = model::validate(conn, items, "items")?;
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let written = model::upsert(conn, ctx, items)?;
    let count = |o: WriteOutcome| written.iter().filter(|(w, _)| *w == o).count();
    let outcome = BatchOutcome {
        created: count(WriteOutcome::Created),
        updated: count(WriteOutcome::Updated),
        unchanged: count(WriteOutcome::Unchanged),
        items: written
            .iter()
            .enumerate()
            .map(|(index, (status, row))| BatchItem {
                index,
                id: row.id.clone(),
                status: *status,
            })
            .collect(),
    };
    if outcome.created + outcome.updated > 0 {
        let ids = |o: WriteOutcome| {
            written
                .iter()
                .filter(|(w, _)| *w == o)
                .map(|(_, r)| r.id.clone())
                .collect::<Vec<_>>()
        };
        audit::record(
            conn,
            &Actor::from(ctx),
            Change {
                action: "result.batch",
                entity_type: "result_batch",
                entity_id: &crate::db::new_id(),
                org_id: Some(&ctx.org_id),
                before: None,
                after: Some(serde_json::json!({
                    "source": source,
                    "created": ids(WriteOutcome::Created),
                    "updated": ids(WriteOutcome::Updated),
                })),
            },
        )?;
    }
    Ok(outcome)
}

fn ok(outcome: &BatchOutcome) -> Result<StoredResponse, ApiError> {
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
/// organisation). Re-submitting identical items changes nothing. One invalid item rejects the
/// whole batch with `errors[].field` like `items[3].scenario`.
#[utoipa::path(
    tag = "results",
    operation_id = "createResultBatch",
    request_body = ResultBatch,
    params((
            "Idempotency-Key" = Option<String>, Header, nullable = false,
            min_length = 1, max_length = 255, pattern = "^[!-~]+$",
            description = "1-255 visible ASCII characters; replays return the original response for 24 hours"
        )),
    responses(
        (status = 200, description = "Written", body = BatchOutcome),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Unprocessable),
    ),
    security(("bearer" = []))
)]
#[post("/results/batch")]
pub async fn create_batch(
    state: web::Data<AppState>,
    ctx: AuthContext,
    key: IdempotencyKey,
    body: Json<ResultBatch>,
) -> Result<HttpResponse, ApiError> {
    ctx.require(Capability::Participate)?;
    let batch = body.into_inner();
    if batch.items.is_empty() || batch.items.len() > MAX_ITEMS {
        return Err(ApiError::invalid_field(
            "items",
            format!("must hold between 1 and {MAX_ITEMS} results"),
        ));
    }
    let idem = key.bind(&ctx.user_id, "POST /results/batch", &batch);
    let stored = state
        .db
        .write(move |conn| {
            idempotency::once(conn, idem.as_ref(), |conn| {
                ok(&write_all(conn, &ctx, &batch.items, "batch")?)
            })
        })
        .await?;
    Ok(stored.into_response())
}

#[derive(Debug, Deserialize, Serialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JunitQuery {
    pub uit_window_id: String,
    pub device_set_id: String,
    /// Default `private`.
    pub visibility: Option<Visibility>,
}

/// Upload a JUnit report
///
/// The body is JUnit XML (`application/xml`). Each `testcase` name is a scenario code of the
/// window; `failure` or `error` makes it `fail`, `skipped` `not_run`, otherwise `pass`; failure
/// messages become notes. Same upsert rules as the batch. Documents with a DOCTYPE are refused.
#[utoipa::path(
    tag = "results",
    operation_id = "uploadJunit",
    params(JunitQuery, (
            "Idempotency-Key" = Option<String>, Header, nullable = false,
            min_length = 1, max_length = 255, pattern = "^[!-~]+$",
            description = "1-255 visible ASCII characters; replays return the original response for 24 hours"
        )),
    request_body(content = String, content_type = "application/xml", description = "A JUnit XML report"),
    responses(
        (status = 200, description = "Written", body = BatchOutcome),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Unprocessable),
    ),
    security(("bearer" = []))
)]
#[post("/results/junit")]
pub async fn upload_junit(
    state: web::Data<AppState>,
    ctx: AuthContext,
    key: IdempotencyKey,
    query: web::Query<JunitQuery>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    ctx.require(Capability::Participate)?;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if !matches!(mime.as_str(), "application/xml" | "text/xml" | "application/junit+xml") {
        return Err(ApiError::new(
            actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "The request body must be JUnit XML (application/xml).",
        ));
    }
    let text =
        std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("invalid_junit", "The report must be UTF-8."))?;
    let cases = junit::parse(text)
        .map_err(|m| ApiError::bad_request("invalid_junit", format!("The JUnit report is invalid: {m}.")))?;
    let q = query.into_inner();
    let items: Vec<ResultInput> = cases
        .into_iter()
        .map(|c| ResultInput {
            uit_window_id: q.uit_window_id.clone(),
            device_set_id: q.device_set_id.clone(),
            scenario: c.scenario,
            outcome: c.outcome,
            executed_at: c.executed_at,
            notes: c.notes,
            defect_mask_ids: Vec::new(),
            visibility: q.visibility,
            external_ref: None,
        })
        .collect();
    let idem = key.bind(&ctx.user_id, "POST /results/junit", &(&q, &items));
    let stored = state
        .db
        .write(move |conn| idempotency::once(conn, idem.as_ref(), |conn| ok(&write_all(conn, &ctx, &items, "junit")?)))
        .await?;
    Ok(stored.into_response())
}
