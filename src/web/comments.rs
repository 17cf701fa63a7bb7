//! Comments on results, for people: the cell page (`/windows/{id}/cell`) shows each result's
//! thread, and its form posts here (`POST /results/{id}/comments`, then 303 back to the cell).
//! Reads and writes go through `results::comments::{read, post}`, the API's own functions:
//! a thread is visible to exactly those who may read its result.

use actix_web::web;
use serde::Deserialize;

use super::member::{Member, MemberForm};
use super::pages::human_time;
use super::see_other_or_error;
use crate::auth::AuthContext;
use crate::db::{DbConn, ResultId};
use crate::http::ApiError;
use crate::results::comments::{self, Comment};
use crate::AppState;

type Page = Result<actix_web::HttpResponse, ApiError>;

/// Comments shown per result on the cell page (the oldest first).
const MAX_COMMENTS: i64 = 200;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/results/{id}/comments").route(web::post().to(comment)));
}

/// A comment as the cell page shows it.
pub struct CommentView {
    pub author: String,
    pub org: String,
    pub when: String,
    /// `None` once deleted.
    pub body: Option<String>,
}

impl From<Comment> for CommentView {
    fn from(c: Comment) -> Self {
        Self {
            author: c.author_name,
            org: c.org_name,
            when: human_time(c.created_at),
            body: c.body,
        }
    }
}

/// The thread of a result `ctx` may read.
pub fn thread(conn: &mut DbConn, ctx: &AuthContext, result_id: &ResultId) -> Result<Vec<CommentView>, ApiError> {
    Ok(comments::read(conn, ctx, result_id, None, MAX_COMMENTS)?
        .into_iter()
        .map(CommentView::from)
        .collect())
}

/// Whether the member may comment (the API's rule: viewers read only), so the page shows the
/// form only then.
pub fn may_comment(member: &Member) -> bool {
    comments::may_write(&member.auth).is_ok()
}

#[derive(Deserialize)]
pub struct CommentForm {
    body: String,
}

/// The comment form: posts, then 303 to the result's cell, at its thread.
pub async fn comment(
    state: web::Data<AppState>,
    MemberForm { member, form }: MemberForm<CommentForm>,
    path: web::Path<ResultId>,
) -> Page {
    let id = path.into_inner();
    let ctx = member.auth;
    let posted = state
        .db
        .write(move |conn| comments::post(conn, &ctx, &id, &form.body))
        .await;
    see_other_or_error(posted, |r| {
        format!(
            "/windows/{}/cell?device_set={}&scenario={}#r-{}",
            r.window_id, r.device_set_id, r.scenario_code, r.id
        )
    })
}
