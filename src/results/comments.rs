//! Comments on results. A comment has no visibility of its own: it is read through its result
//! with the results domain's one rule ([`super::handlers::readable`], i.e. `model::may_read`),
//! so it is visible to exactly those who may read the result now, and follows the result when
//! its visibility narrows or widens. A result the caller may not read is the same 404 as a
//! missing one, for reads and writes alike.
//!
//! Anyone who may read a result may comment on it, reviewers included (reviewing shared results
//! is what they are for); viewers only read. The author, or an admin of the author's
//! organisation, deletes a comment: softly, so the thread keeps its shape (the comment lists
//! as deleted, without its body) and the audit row keeps what it said.

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::handlers::readable;
use super::model::ResultRow;
use crate::audit;
use crate::auth::{AuthContext, Caller, Role};
use crate::db::schema::{organisations, result_comments as rc, users};
use crate::db::{new_id, now, DbConn, OrgId, ResultId, UserId};
use crate::http::etag::write_no_content;
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::json::Json;
use crate::http::pagination::{keyed, list_page, list_query, Page};
use crate::http::responses::*;
use crate::http::validate::Validator;
use crate::http::ApiError;
use crate::http::ErrorCode;
use crate::AppState;

/// The most characters a comment may have.
pub const MAX_BODY: usize = 4000;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = rc)]
struct CommentRow {
    id: String,
    result_id: ResultId,
    org_id: OrgId,
    author_user_id: UserId,
    author_name: String,
    body: String,
    created_at: NaiveDateTime,
    deleted_at: Option<NaiveDateTime>,
}

/// A comment on a result.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Comment {
    pub id: String,
    #[schema(value_type = String)]
    pub result_id: ResultId,
    #[schema(value_type = String)]
    pub author_user_id: UserId,
    /// The author's name when the comment was posted.
    pub author_name: String,
    /// The author's organisation.
    #[schema(value_type = String)]
    pub org_id: OrgId,
    pub org_name: String,
    /// The text; null once the comment is deleted.
    pub body: Option<String>,
    pub created_at: DateTime<Utc>,
    pub deleted: bool,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl Comment {
    fn from_row(row: CommentRow, org_name: String) -> Self {
        Self {
            body: row.deleted_at.is_none().then_some(row.body),
            deleted: row.deleted_at.is_some(),
            deleted_at: row.deleted_at.map(|t| t.and_utc()),
            id: row.id,
            result_id: row.result_id,
            author_user_id: row.author_user_id,
            author_name: row.author_name,
            org_id: row.org_id,
            org_name,
            created_at: row.created_at.and_utc(),
        }
    }
}

/// The comments of result `result_id` by id after `after`, at most `fetch`, oldest first.
fn load(conn: &mut DbConn, result_id: &ResultId, after: Option<String>, fetch: i64) -> QueryResult<Vec<Comment>> {
    let mut query = rc::table
        .inner_join(organisations::table)
        .filter(rc::result_id.eq(result_id))
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(rc::id.gt(after));
    }
    let rows: Vec<(CommentRow, String)> = query
        .select((CommentRow::as_select(), organisations::name))
        .order(rc::id.asc())
        .limit(fetch)
        .load(conn)?;
    Ok(rows.into_iter().map(|(row, org)| Comment::from_row(row, org)).collect())
}

/// Comment `id` of result `result_id`, deleted or not.
fn find(conn: &mut DbConn, result_id: &ResultId, id: &str) -> QueryResult<Option<Comment>> {
    rc::table
        .inner_join(organisations::table)
        .filter(rc::id.eq(id).and(rc::result_id.eq(result_id)))
        .select((CommentRow::as_select(), organisations::name))
        .first::<(CommentRow, String)>(conn)
        .optional()
        .map(|found| found.map(|(row, org)| Comment::from_row(row, org)))
}

/// Whether `ctx` may see an audited comment's snapshot: it names its result, and the reader
/// must be able to read that result now, as for the comment itself.
pub fn snapshot_readable(conn: &mut DbConn, ctx: &AuthContext, snapshot: &serde_json::Value) -> Result<bool, ApiError> {
    let Some(result_id) = snapshot.get("result_id").and_then(|v| v.as_str()) else {
        return Ok(false);
    };
    match readable(conn, ctx, result_id) {
        Ok(_) => Ok(true),
        Err(e) if e.code == ErrorCode::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// The comments of result `result_id` by id after `after`, at most `fetch`, oldest first, if
/// `ctx` may read the result (404 alike when it is missing or hidden).
pub fn read(
    conn: &mut DbConn,
    ctx: &AuthContext,
    result_id: &ResultId,
    after: Option<String>,
    fetch: i64,
) -> Result<Vec<Comment>, ApiError> {
    readable(conn, ctx, result_id)?;
    Ok(load(conn, result_id, after, fetch)?)
}

/// What posting `body` on result `result_id` needs: a result `ctx` may read (404 otherwise),
/// a role that writes, a body of 1-4000 characters. Returns the result.
fn check_post(conn: &mut DbConn, ctx: &AuthContext, result_id: &ResultId, body: &str) -> Result<ResultRow, ApiError> {
    let result = readable(conn, ctx, result_id)?;
    may_write(ctx)?;
    let mut v = Validator::new();
    v.text("body", body, MAX_BODY);
    v.finish()?;
    Ok(result)
}

/// Stores the comment and its audit row, after [`check_post`].
fn insert(conn: &mut DbConn, ctx: &AuthContext, result_id: &ResultId, body: &str) -> Result<Comment, ApiError> {
    let author_name: String = users::table.find(&ctx.user_id).select(users::name).first(conn)?;
    let comment_id = new_id();
    diesel::insert_into(rc::table)
        .values((
            rc::id.eq(&comment_id),
            rc::result_id.eq(result_id),
            rc::org_id.eq(&ctx.org_id),
            rc::author_user_id.eq(&ctx.user_id),
            rc::author_name.eq(&author_name),
            rc::body.eq(body.trim()),
            rc::created_at.eq(now()),
        ))
        .execute(conn)?;
    let comment = find(conn, result_id, &comment_id)?.ok_or_else(ApiError::not_found)?;
    audit::created(conn, ctx, "result_comment.create", &comment)?;
    Ok(comment)
}

/// Posts a comment on result `result_id` as `ctx` (the rules of `POST /results/{id}/comments`;
/// the result page's form calls it); returns the result commented on.
pub fn post(conn: &mut DbConn, ctx: &AuthContext, result_id: &ResultId, body: &str) -> Result<ResultRow, ApiError> {
    let result = check_post(conn, ctx, result_id, body)?;
    insert(conn, ctx, result_id, body)?;
    Ok(result)
}

/// Viewers read; every other role of every organisation kind may comment.
pub fn may_write(ctx: &AuthContext) -> Result<(), ApiError> {
    if ctx.role == Role::Viewer {
        return Err(ApiError::forbidden("Viewers have read-only access."));
    }
    Ok(())
}

list_query! {
    pub struct CommentQuery {
    }
}

/// List a result's comments
///
/// Oldest first. Visible to exactly those who may read the result now; a result the caller
/// may not read is the same 404 as a missing one. Deleted comments stay in the list, marked
/// `deleted`, without their body.
#[utoipa::path(
    tag = "results",
    operation_id = "listResultComments",
    params(("id" = String, Path, description = "Result id"), CommentQuery),
    responses(
        (status = 200, description = "A page of comments", body = Page<Comment>),
    ),
    security(("bearer" = []))
)]
#[get("/results/{id}/comments")]
pub async fn list_comments(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<ResultId>,
    query: web::Query<CommentQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let q = query.into_inner();
    list_page(&state.db, caller, &req, q.page()?, move |conn, ctx, after, fetch| {
        read(conn, &ctx, &id, after, fetch)
    })
    .await
}

keyed!(Comment, id);

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"body": "Seen on our ESME too: the top-up lands after the hub reboots. Is DM-0042 meant to cover it?"}))]
pub struct NewComment {
    /// 1-4000 characters; stored without leading and trailing whitespace.
    #[schema(min_length = 1, max_length = 4000)]
    pub body: String,
}

/// Comment on a result
///
/// Anyone who may read the result, reviewers included; viewers only read (403). A result the
/// caller may not read is the same 404 as a missing one.
#[utoipa::path(
    tag = "results",
    operation_id = "createResultComment",
    request_body = NewComment,
    params(
        ("id" = String, Path, description = "Result id"),
        crate::http::idempotency::IdempotencyKeyHeader,
    ),
    responses(
        (status = 201, description = "Posted", body = Comment),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[post("/results/{id}/comments")]
pub async fn create_comment(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<ResultId>,
    key: IdempotencyKey,
    body: Json<NewComment>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let new = body.into_inner();
    let idem = key.bind(&format!("POST /results/{id}/comments"), &new);
    idempotency::create_as(&state.db, caller, idem, move |conn, ctx, once| {
        // Visibility first, also for a replay: a result that narrowed since is 404.
        check_post(conn, &ctx, &id, &new.body)?;
        once.create(conn, |conn| insert(conn, &ctx, &id, &new.body))
    })
    .await
}

/// Delete a comment
///
/// The author, or an admin of the author's organisation, while they may read the result. The
/// comment stays in the list, marked `deleted`, without its body; the audit log keeps what it
/// said. Deleting a deleted comment changes nothing (204).
#[utoipa::path(
    tag = "results",
    operation_id = "deleteResultComment",
    params(
        ("id" = String, Path, description = "Result id"),
        ("comment_id" = String, Path, description = "Comment id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[delete("/results/{id}/comments/{comment_id}")]
pub async fn delete_comment(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(ResultId, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, comment_id) = path.into_inner();
    write_no_content(&state.db, caller, move |conn, ctx| {
        readable(conn, &ctx, &id)?;
        let before = find(conn, &id, &comment_id)?.ok_or_else(ApiError::not_found)?;
        may_write(&ctx)?;
        let author_admin = ctx.org_id == before.org_id && ctx.role == Role::Admin;
        if before.author_user_id != ctx.user_id && !author_admin {
            return Err(ApiError::forbidden(
                "Only the author or an admin of the author's organisation may delete a comment.",
            ));
        }
        if before.deleted {
            return Ok(());
        }
        diesel::update(rc::table.find(&comment_id))
            .set((
                rc::body.eq(""),
                rc::deleted_at.eq(Some(now())),
                rc::deleted_by_user_id.eq(Some(&ctx.user_id)),
            ))
            .execute(conn)?;
        let after = find(conn, &id, &comment_id)?.ok_or_else(ApiError::not_found)?;
        audit::changed(conn, &ctx, "result_comment.delete", &before, &after)
    })
    .await
}
crate::audit::audited!(Comment, "result_comment", id, owner = org_id);
crate::http::idempotency::located!(Comment);
