use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::model::{self, Outcome, ResultInput, ResultRow, TestResult, Visibility};
use super::publish;
use crate::auth::{AuthContext, Caller, Capability};
use crate::catalogue::nullable;
use crate::db::schema::{result_revisions as rr, results as r};
use crate::db::{DbConn, DefectMaskId, DeviceSetId, OrgId, ResultId, UserId, WindowId};
use crate::device_sets::composition::Embed;
use crate::http::etag::{tagged, IfMatch};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::json::Json;
use crate::http::pagination::{keyed, list_page, list_query, page_response, Page};
use crate::http::responses::*;
use crate::http::ApiError;
use crate::AppState;

/// Publish a result
///
/// One current result per (window, device set, scenario, organisation): a second POST is 409
/// with the existing id (amend it with PATCH, or use the batch endpoint to upsert). `lead` is
/// set when the organisation holds the claim. A first result in a window joins it, as `POST
/// /uit-windows/{id}/participants` would: a closed or cancelled window refuses (422
/// `window_not_open_for_joining`); an organisation that already takes part may still publish.
#[utoipa::path(
    tag = "results",
    operation_id = "createResult",
    request_body = ResultInput,
    params(crate::http::idempotency::IdempotencyKeyHeader),
    responses(
        (status = 201, description = "Published", body = TestResult),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    ),
    security(("bearer" = []))
)]
#[post("/results")]
pub async fn create_result(
    state: web::Data<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    body: Json<ResultInput>,
) -> Result<HttpResponse, ApiError> {
    let item = body.into_inner();
    let idem = key.bind("POST /results", &item);
    idempotency::create_as(&state.db, caller, idem, move |conn, ctx, once| {
        ctx.require(Capability::Participate)?;
        once.create(conn, |conn| publish::publish(conn, &ctx, &item))
    })
    .await
}

list_query! {
    pub struct ResultQuery {
        #[param(value_type = Option<String>)]
        pub uit_window_id: Option<WindowId>,
        #[param(value_type = Option<String>)]
        pub device_set_id: Option<DeviceSetId>,
        pub scenario: Option<String>,
        pub outcome: Option<Outcome>,
        #[param(value_type = Option<String>)]
        pub org_id: Option<OrgId>,
        pub visibility: Option<Visibility>,
        /// `device_set` embeds each result's device set (name, prevalence, composition).
        pub embed: Option<Embed>,
    }
}

/// List results
///
/// Only what the caller may read: its own organisation's results, `industry` ones, and
/// `participants` ones of windows it joined (the operator reads those of every window).
#[utoipa::path(
    tag = "results",
    operation_id = "listResults",
    params(ResultQuery),
    responses(
        (status = 200, description = "A page of results", body = Page<TestResult>),
    ),
    security(("bearer" = []))
)]
#[get("/results")]
pub async fn list_results(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ResultQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    list_page(&state.db, caller, &req, q.page()?, move |conn, ctx, after, fetch| {
        list(conn, &ctx, q, after, fetch)
    })
    .await
}

keyed!(TestResult, id);

/// The results `ctx` may read matching `q` (its paging fields aside), by id after `after`, at
/// most `fetch`, described (names, known-issue masks): the API's list and the pages' one read.
pub fn list(
    conn: &mut DbConn,
    ctx: &AuthContext,
    q: ResultQuery,
    after: Option<String>,
    fetch: i64,
) -> Result<Vec<TestResult>, ApiError> {
    let mut query = super::visibility::visible_to(ctx);
    if let Some(v) = q.uit_window_id {
        query = query.filter(r::window_id.eq(v));
    }
    if let Some(v) = q.device_set_id {
        query = query.filter(r::device_set_id.eq(v));
    }
    if let Some(v) = q.scenario {
        query = query.filter(r::scenario_code.eq(v));
    }
    if let Some(v) = q.outcome {
        query = query.filter(r::outcome.eq(v));
    }
    if let Some(v) = q.org_id {
        query = query.filter(r::org_id.eq(v));
    }
    if let Some(v) = q.visibility {
        query = query.filter(r::visibility.eq(v));
    }
    if let Some(after) = after {
        query = query.filter(r::id.gt(after));
    }
    let rows: Vec<ResultRow> = query
        .select(ResultRow::as_select())
        .order(r::id.asc())
        .limit(fetch)
        .load(conn)?;
    let mut items: Vec<TestResult> = rows.into_iter().map(TestResult::from).collect();
    super::context::describe(conn, &mut items, q.embed)?;
    Ok(items)
}

/// The row, when `ctx` may read it; otherwise the same 404 as a missing id. The one check of
/// every read of a single result and of what hangs off it (revisions, comments).
pub fn readable(conn: &mut DbConn, ctx: &AuthContext, id: &str) -> Result<ResultRow, ApiError> {
    let row: ResultRow = r::table
        .find(id)
        .select(ResultRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(ApiError::not_found)?;
    if !super::visibility::may_read(conn, ctx, &row.org_id, row.visibility.as_str(), &row.window_id)? {
        return Err(ApiError::not_found());
    }
    Ok(row)
}

/// Get a result
///
/// A result the caller may not read is the same 404 as a missing one.
#[utoipa::path(
    tag = "results",
    operation_id = "getResult",
    params(("id" = String, Path, description = "Result id"), ResultEmbedQuery),
    responses(
        (status = 200, description = "The result", body = TestResult, headers(("ETag" = String))),
    ),
    security(("bearer" = []))
)]
#[get("/results/{id}")]
pub async fn get_result(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<ResultId>,
    query: web::Query<ResultEmbedQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let embed = query.into_inner().embed;
    let (version, result) = state
        .db
        .read_as(caller, move |conn, ctx| {
            let row = readable(conn, &ctx, &id)?;
            Ok((row.version, described(conn, row, embed)?))
        })
        .await?;
    Ok(tagged(version, &result))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ResultEmbedQuery {
    /// `device_set` embeds the result's device set (name, prevalence, composition).
    pub embed: Option<Embed>,
}

/// The API view of one row, with names and known-issue masks.
pub(super) fn described(conn: &mut DbConn, row: ResultRow, embed: Option<Embed>) -> Result<TestResult, ApiError> {
    let mut result = TestResult::from(row);
    super::context::describe(conn, std::slice::from_mut(&mut result), embed)?;
    Ok(result)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"outcome": "pass", "notes": "Passed on re-run after the HAN interference was fixed.", "external_ref": "RUN-1057"}))]
pub struct ResultPatch {
    pub outcome: Option<Outcome>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub executed_at: Option<Option<DateTime<Utc>>>,
    pub notes: Option<String>,
    #[schema(value_type = Option<Vec<String>>)]
    pub defect_mask_ids: Option<Vec<DefectMaskId>>,
    pub visibility: Option<Visibility>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub external_ref: Option<Option<String>>,
}

/// Amend a result
///
/// The publishing organisation only. Fields left out keep their values. The previous revision
/// is kept (`GET /results/{id}/revisions`, which says what each amendment changed); an
/// amendment that changes nothing keeps the revision.
#[utoipa::path(
    tag = "results",
    operation_id = "updateResult",
    request_body = ResultPatch,
    params(
        ("id" = String, Path, description = "Result id"),
        crate::http::etag::IfMatchHeader,
    ),
    responses(
        (status = 200, description = "Amended", body = TestResult, headers(("ETag" = String))),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[patch("/results/{id}")]
pub async fn update_result(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<ResultId>,
    if_match: IfMatch,
    body: Json<ResultPatch>,
) -> Result<HttpResponse, ApiError> {
    let (id, patch) = (path.into_inner(), body.into_inner());
    let row = state
        .db
        .write_as(caller, move |conn, ctx| {
            publish::amend(conn, &ctx, &id, if_match, patch)
        })
        .await?;
    Ok(tagged(row.0, &row.1))
}

/// A result as it was before an amendment.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revision {
    pub revision: i64,
    /// When the next revision replaced it.
    pub replaced_at: DateTime<Utc>,
    #[schema(value_type = Option<String>)]
    pub replaced_by_user_id: Option<UserId>,
    /// The fields the amendment that replaced this revision changed, e.g. `["outcome", "notes"]`.
    pub changed: Vec<String>,
    pub result: TestResult,
}

list_query! {
    pub struct RevisionQuery {
    }
}

/// List a result's earlier revisions
///
/// Oldest first. Each revision keeps the visibility it had: one that was private is shown
/// only to its organisation even if the result is shared now.
#[utoipa::path(
    tag = "results",
    operation_id = "listResultRevisions",
    params(("id" = String, Path, description = "Result id"), RevisionQuery),
    responses(
        (status = 200, description = "Earlier revisions", body = Page<Revision>),
    ),
    security(("bearer" = []))
)]
#[get("/results/{id}/revisions")]
pub async fn list_revisions(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<ResultId>,
    query: web::Query<RevisionQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let q = query.into_inner();
    let page = q.page()?;
    let (after, fetch) = (page.after.clone(), page.fetch());
    let items = state
        .db
        .read_as(caller, move |conn, ctx| revisions(conn, &ctx, &id, after, fetch))
        .await?;
    let page = page.finish(items, |(rev_id, _)| rev_id);
    let revisions: Vec<&Revision> = page.items.iter().map(|(_, r)| r).collect();
    Ok(page_response(
        &req,
        &Page {
            items: revisions,
            next_cursor: page.next_cursor,
        },
    ))
}

/// The earlier revisions of result `id` that `ctx` may read (each by its own visibility),
/// oldest first, keyed by revision id, after `after`, at most `fetch`; 404 when `ctx` may not
/// read the result.
pub fn revisions(
    conn: &mut DbConn,
    ctx: &AuthContext,
    id: &str,
    after: Option<String>,
    fetch: i64,
) -> Result<Vec<(String, Revision)>, ApiError> {
    let current = readable(conn, ctx, id)?;
    // A result has few revisions: filter by each revision's own visibility, then page.
    let rows: Vec<(String, i32, String, String, NaiveDateTime, Option<UserId>)> = rr::table
        .filter(rr::result_id.eq(id))
        .select((
            rr::id,
            rr::revision,
            rr::snapshot_json,
            rr::visibility,
            rr::replaced_at,
            rr::replaced_by_user_id,
        ))
        .order(rr::id.asc())
        .load(conn)?;
    let snapshots = rows
        .iter()
        .map(|row| serde_json::from_str::<TestResult>(&row.2))
        .collect::<Result<Vec<_>, _>>()?;
    let now = TestResult::from(current.clone());
    let mut out = Vec::new();
    for (i, (rev_id, revision, _, visibility, at, by)) in rows.into_iter().enumerate() {
        if after.as_ref().is_some_and(|a| rev_id <= *a) {
            continue;
        }
        if super::visibility::may_read(conn, ctx, &current.org_id, &visibility, &current.window_id)? {
            let result = snapshots[i].clone();
            let next = snapshots.get(i + 1).unwrap_or(&now);
            out.push((
                rev_id,
                Revision {
                    revision: revision as i64,
                    replaced_at: at.and_utc(),
                    replaced_by_user_id: by,
                    changed: model::changed_fields(&result, next)
                        .into_iter()
                        .map(String::from)
                        .collect(),
                    result,
                },
            ));
        }
        if out.len() as i64 >= fetch {
            break;
        }
    }
    Ok(out)
}
