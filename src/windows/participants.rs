//! Organisations taking part in a UIT window.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model;
use super::WindowStatus;
use crate::audit::{self, Actor, Change};
use crate::auth::{AuthContext, Caller, Capability};
use crate::db::schema::{organisations, window_participants as wp};
use crate::db::{now, DbConn, OrgId, UserId, WindowId};
use crate::http::json::Json;
use crate::http::pagination::{keyed, list_page, list_query, Page};
use crate::http::responses::*;
use crate::http::ApiError;
use crate::http::ErrorCode;
use crate::organisations::model as orgs;
use crate::AppState;

/// An organisation's participation in a window.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Participant {
    #[schema(value_type = String)]
    pub uit_window_id: WindowId,
    #[schema(value_type = String)]
    pub org_id: OrgId,
    pub org_name: String,
    pub joined_at: DateTime<Utc>,
}

/// The one rule for becoming a participant, however it happens (joining, claiming, publishing
/// a result): scheduled and open windows accept participants; closed and cancelled ones refuse
/// with 422 `window_not_open_for_joining`.
pub fn accepts_joining(window: &model::WindowRow, at: NaiveDateTime) -> Result<(), ApiError> {
    let status = window.status_at(at);
    if matches!(status, WindowStatus::Closed | WindowStatus::Cancelled) {
        return Err(ApiError::unprocessable(
            ErrorCode::WindowNotOpenForJoining,
            format!(
                "{} is {status}; only scheduled and open windows can be joined.",
                window.name
            ),
        )
        .with_context(serde_json::json!({ "status": status, "uit_window_id": window.id })));
    }
    Ok(())
}

/// Makes `org_id` a participant of the window; `true` when it was not one already.
/// 404 when the window does not exist; 422 `window_not_open_for_joining` when it does not
/// accept participants ([`accepts_joining`]). Call inside the caller's write transaction (a
/// claim and a first result join the window too).
pub fn join(conn: &mut DbConn, window_id: &WindowId, org_id: &OrgId, user_id: &UserId) -> Result<bool, ApiError> {
    let window = model::find(conn, window_id)?.ok_or_else(ApiError::not_found)?;
    accepts_joining(&window, now())?;
    let values = (
        wp::window_id.eq(window_id),
        wp::org_id.eq(org_id),
        wp::joined_at.eq(now()),
        wp::joined_by_user_id.eq(Some(user_id)),
    );
    // ON CONFLICT DO NOTHING makes concurrent joins of one organisation safe; the upsert
    // needs the concrete backend.
    let inserted = crate::on_backend!(conn, c => diesel::insert_into(wp::table)
        .values(values)
        .on_conflict_do_nothing()
        .execute(c)?);
    Ok(inserted == 1)
}

type ParticipantRow = (WindowId, OrgId, String, NaiveDateTime);

fn participant(r: ParticipantRow) -> Participant {
    Participant {
        uit_window_id: r.0,
        org_id: r.1,
        org_name: r.2,
        joined_at: r.3.and_utc(),
    }
}

/// A window's participants, ordered by organisation id, at most `limit`.
pub fn list(conn: &mut DbConn, window_id: &WindowId, limit: i64) -> QueryResult<Vec<Participant>> {
    Ok(participants(conn, window_id, None, None, limit)?
        .into_iter()
        .map(participant)
        .collect())
}

fn participants(
    conn: &mut DbConn,
    window_id: &WindowId,
    only_org: Option<&str>,
    after: Option<String>,
    limit: i64,
) -> QueryResult<Vec<ParticipantRow>> {
    let mut q = wp::table
        .inner_join(organisations::table)
        .filter(wp::window_id.eq(window_id))
        .select((wp::window_id, wp::org_id, organisations::name, wp::joined_at))
        .into_boxed();
    if let Some(org) = only_org {
        q = q.filter(wp::org_id.eq(org.to_string()));
    }
    if let Some(after) = after {
        q = q.filter(wp::org_id.gt(after));
    }
    q.order(wp::org_id.asc()).limit(limit).load(conn)
}

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinWindow {
    /// The organisation to enrol; default the caller's own. Only the operator may name another.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub org_id: Option<OrgId>,
}

/// Join a UIT window
///
/// Enrols the caller's organisation (or, for the operator, the named one) in a scheduled or
/// open window; closed and cancelled windows refuse (422 `window_not_open_for_joining`).
/// Joining again changes nothing and answers 200 with the existing participation.
#[utoipa::path(
    tag = "uit-windows",
    operation_id = "joinUitWindow",
    request_body = JoinWindow,
    params(("id" = String, Path, description = "UIT window id")),
    responses(
        (status = 200, description = "Already a participant", body = Participant),
        (status = 201, description = "Joined", body = Participant),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[post("/uit-windows/{id}/participants")]
pub async fn join_window(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<WindowId>,
    body: Json<JoinWindow>,
) -> Result<HttpResponse, ApiError> {
    let window_id = path.into_inner();
    let asked = body.into_inner().org_id;
    let (joined, participation) = state
        .db
        .write_as(caller, move |conn, ctx| enrol(conn, &ctx, &window_id, asked))
        .await?;
    Ok(if joined {
        HttpResponse::Created().json(participation)
    } else {
        HttpResponse::Ok().json(participation)
    })
}

/// Enrols `asked` (default the caller's own organisation) in the window, with its audit row
/// when it was not a participant yet; `(true, participation)` when it joined now. Only the
/// operator names another organisation (403); the window must exist (404); the organisation
/// must exist and be of a kind that takes part (422 naming `org_id`); the window must accept
/// participants ([`join`]).
pub fn enrol(
    conn: &mut DbConn,
    ctx: &AuthContext,
    window_id: &WindowId,
    asked: Option<OrgId>,
) -> Result<(bool, Participant), ApiError> {
    let org_id = asked.unwrap_or_else(|| ctx.org_id.clone());
    ctx.owner_or_operator(
        &org_id,
        Capability::Participate,
        "Only the operator may enrol another organisation.",
    )?;
    model::find(conn, window_id)?.ok_or_else(ApiError::not_found)?;
    let org =
        orgs::find_org(conn, &org_id)?.ok_or_else(|| ApiError::invalid_field("org_id", "no such organisation"))?;
    let kind = org.kind;
    if !Capability::Participate.allowed_for(kind) {
        return Err(ApiError::invalid_field(
            "org_id",
            format!("organisations of kind {kind} do not take part in windows"),
        ));
    }
    let joined = join(conn, window_id, &org_id, &ctx.user_id)?;
    let found = participants(conn, window_id, Some(&org_id), None, 1)?
        .pop()
        .map(participant)
        .ok_or_else(|| ApiError::internal("participation vanished"))?;
    if joined {
        audit::record(
            conn,
            &Actor::from(ctx),
            Change::new("uit_window.join", "uit_window", window_id)
                .org(&org_id)
                .after(serde_json::to_value(&found)?),
        )?;
    }
    Ok((joined, found))
}

list_query! {
    pub struct ParticipantQuery {
    }
}

/// List a UIT window's participants
///
/// Any signed-in user; ordered by organisation id.
#[utoipa::path(
    tag = "uit-windows",
    operation_id = "listUitWindowParticipants",
    params(("id" = String, Path, description = "UIT window id"), ParticipantQuery),
    responses(
        (status = 200, description = "A page of participants", body = Page<Participant>),
    ),
    security(("bearer" = []))
)]
#[get("/uit-windows/{id}/participants")]
pub async fn list_participants(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<WindowId>,
    query: web::Query<ParticipantQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let window_id = path.into_inner();
    let q = query.into_inner();
    list_page(&state.db, caller, &req, q.page()?, move |conn, _ctx, after, fetch| {
        model::find(conn, &window_id)?.ok_or_else(ApiError::not_found)?;
        let rows = participants(conn, &window_id, None, after, fetch)?;
        Ok(rows.into_iter().map(participant).collect())
    })
    .await
}

keyed!(Participant, org_id);
