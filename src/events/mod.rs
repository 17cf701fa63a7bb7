//! Change events: what subscribers care about, recorded in the transaction of the change.
//! The notifications issue consumes them in `(occurred_at, id)` order.

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::db::schema::change_events as ce;
use crate::db::{new_id, now, DbConn, DeviceModelId, JsonText, OrgId, WindowId};
use crate::http::pagination::{keyed, list_page, list_query, Page};
use crate::http::responses::Forbidden;
use crate::http::ApiError;
use crate::notifications::audience::Audience;
use crate::AppState;

crate::text_enum!(
    /// What a change is about, as subscribers choose it.
    Topic {
        Releases => "releases",
        UitWindows => "uit_windows",
        Retirements => "retirements",
        Roadmaps => "roadmaps",
        DefectMasks => "defect_masks",
        UitIssues => "uit_issues",
        Results => "results",
    }
);

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_change_events);
}

/// A change to record. `device_types`, `device_model_ids` and `manufacturer_org_ids` are what
/// subscription filters match against.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub topic: Topic,
    /// Dotted kind, e.g. `window.rescheduled`.
    pub kind: &'static str,
    pub entity_type: &'static str,
    pub entity_id: String,
    /// One human sentence: "UIT-2027-03 now closes 2027-03-28 10:00 UTC, was 2027-03-21 10:00 UTC".
    pub summary: String,
    /// Machine-readable facts, e.g. `{"field": "closes_at", "from": ..., "to": ...}`.
    pub details: serde_json::Value,
    pub device_types: Vec<String>,
    pub device_model_ids: Vec<DeviceModelId>,
    pub manufacturer_org_ids: Vec<OrgId>,
    /// The UIT windows the change is about or within, for the `uit_window_ids` filter. A
    /// change to a window itself needs none: [`record`] takes its `entity_id`.
    pub uit_window_ids: Vec<WindowId>,
    pub actor_org_id: Option<OrgId>,
    /// Makes the event once-only (clock-driven events).
    pub dedupe_key: Option<String>,
    /// Who may hear of it: see [`NewEvent::audience`].
    pub audience: Audience,
}

/// The subjects every reader of the API may read, signed in or not (the catalogue, releases,
/// windows, defect masks): their events reach the whole industry unless the producer says
/// otherwise. Any other subject's producer states its audience ([`NewEvent::audience`]).
const INDUSTRY_SUBJECTS: [&str; 4] = ["release", "uit_window", "firmware", "defect_mask"];

impl NewEvent {
    pub fn new(topic: Topic, kind: &'static str, entity_type: &'static str, entity_id: &str, summary: String) -> Self {
        Self {
            topic,
            kind,
            entity_type,
            entity_id: entity_id.to_string(),
            summary,
            details: serde_json::json!({}),
            device_types: Vec::new(),
            device_model_ids: Vec::new(),
            manufacturer_org_ids: Vec::new(),
            uit_window_ids: Vec::new(),
            actor_org_id: None,
            dedupe_key: None,
            audience: if INDUSTRY_SUBJECTS.contains(&entity_type) {
                Audience::Industry
            } else {
                Audience::Nobody
            },
        }
    }

    /// Who may hear of the event, from what the API shows to whom of its subject: stored with
    /// it, and all the fan-out, the recent-changes list and the pages go by.
    pub fn audience(mut self, audience: Audience) -> Self {
        self.audience = audience;
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }

    pub fn actor(mut self, org_id: &OrgId) -> Self {
        self.actor_org_id = Some(org_id.clone());
        self
    }

    /// Scopes the event to products, for subscription filters.
    pub fn scope(
        mut self,
        device_types: Vec<String>,
        device_model_ids: Vec<DeviceModelId>,
        manufacturers: Vec<OrgId>,
    ) -> Self {
        self.device_types = dedup(device_types);
        self.device_model_ids = dedup(device_model_ids);
        self.manufacturer_org_ids = dedup(manufacturers);
        self
    }

    /// Places the event in UIT windows, for the `uit_window_ids` filter.
    pub fn windows(mut self, window_ids: Vec<WindowId>) -> Self {
        self.uit_window_ids = dedup(window_ids);
        self
    }

    pub fn once(mut self, key: String) -> Self {
        self.dedupe_key = Some(key);
        self
    }
}

fn dedup<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v.dedup();
    v
}

/// A list column's JSON text.
fn list<T: serde::Serialize>(v: &[T]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

/// Records the event; call inside the change's own transaction. An event that states no
/// audience is a programming error: refused (500), so the write it belongs to rolls back.
pub fn record(conn: &mut DbConn, event: NewEvent) -> Result<String, ApiError> {
    if event.audience == Audience::Nobody {
        return Err(ApiError::internal(format!(
            "change event {} about a {} states no audience",
            event.kind, event.entity_type
        )));
    }
    let id = new_id();
    let mut windows = event.uit_window_ids.clone();
    if windows.is_empty() && event.entity_type == "uit_window" {
        windows.push(WindowId::from(event.entity_id.as_str()));
    }
    diesel::insert_into(ce::table)
        .values((
            ce::id.eq(&id),
            ce::occurred_at.eq(now()),
            ce::topic.eq(event.topic),
            ce::kind.eq(event.kind),
            ce::entity_type.eq(event.entity_type),
            ce::entity_id.eq(&event.entity_id),
            ce::summary.eq(&event.summary),
            ce::details_json.eq(event.details.to_string()),
            ce::device_types_json.eq(list(&event.device_types)),
            ce::device_model_ids_json.eq(list(&event.device_model_ids)),
            ce::manufacturer_org_ids_json.eq(list(&event.manufacturer_org_ids)),
            ce::uit_window_ids_json.eq(list(&windows)),
            ce::actor_org_id.eq(&event.actor_org_id),
            ce::dedupe_key.eq(&event.dedupe_key),
            ce::audience.eq(JsonText(event.audience.clone())),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Records an event that carries a dedupe key unless one with that key exists.
/// Returns whether it was recorded.
pub fn record_once(conn: &mut DbConn, event: NewEvent) -> Result<bool, ApiError> {
    let key = event
        .dedupe_key
        .clone()
        .ok_or_else(|| ApiError::internal("record_once without a dedupe key"))?;
    let exists: bool =
        diesel::select(diesel::dsl::exists(ce::table.filter(ce::dedupe_key.eq(&key)))).get_result(conn)?;
    if exists {
        return Ok(false);
    }
    record(conn, event)?;
    Ok(true)
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = ce)]
struct EventRow {
    id: String,
    occurred_at: NaiveDateTime,
    topic: Topic,
    kind: String,
    entity_type: String,
    entity_id: String,
    summary: String,
    details_json: JsonText<serde_json::Value>,
    device_types_json: JsonText<Vec<String>>,
    device_model_ids_json: JsonText<Vec<DeviceModelId>>,
    manufacturer_org_ids_json: JsonText<Vec<OrgId>>,
    uit_window_ids_json: JsonText<Vec<WindowId>>,
    actor_org_id: Option<OrgId>,
    consumed_at: Option<NaiveDateTime>,
}

/// A recorded change.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeEvent {
    pub id: String,
    pub occurred_at: DateTime<Utc>,
    pub topic: Topic,
    pub kind: String,
    pub entity_type: String,
    pub entity_id: String,
    pub summary: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub device_types: Vec<String>,
    #[schema(value_type = Vec<String>)]
    pub device_model_ids: Vec<DeviceModelId>,
    #[schema(value_type = Vec<String>)]
    pub manufacturer_org_ids: Vec<OrgId>,
    /// The UIT windows the change is about or within.
    #[schema(value_type = Vec<String>)]
    pub uit_window_ids: Vec<WindowId>,
    #[schema(value_type = Option<String>)]
    pub actor_org_id: Option<OrgId>,
    /// When the notifications fan-out took it; null while pending.
    pub consumed_at: Option<DateTime<Utc>>,
}

impl From<EventRow> for ChangeEvent {
    fn from(r: EventRow) -> Self {
        Self {
            id: r.id,
            occurred_at: r.occurred_at.and_utc(),
            topic: r.topic,
            kind: r.kind,
            entity_type: r.entity_type,
            entity_id: r.entity_id,
            summary: r.summary,
            details: r.details_json.0,
            device_types: r.device_types_json.0,
            device_model_ids: r.device_model_ids_json.0,
            manufacturer_org_ids: r.manufacturer_org_ids_json.0,
            uit_window_ids: r.uit_window_ids_json.0,
            actor_org_id: r.actor_org_id,
            consumed_at: r.consumed_at.map(|t| t.and_utc()),
        }
    }
}

list_query! {
    pub struct EventQuery {
        pub topic: Option<Topic>,
        pub entity_type: Option<String>,
        pub entity_id: Option<String>,
    }
}

keyed!(ChangeEvent, id);

/// List change events
///
/// Oldest first. Operator users only: these are the raw material of notifications.
#[utoipa::path(
    tag = "change-events",
    operation_id = "listChangeEvents",
    params(EventQuery),
    responses(
        (status = 200, description = "A page of change events", body = Page<ChangeEvent>),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[get("/change-events")]
pub async fn list_change_events(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<EventQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let page = q.page()?;
    list_page(&state.db, caller, &req, page, move |conn, ctx, after, fetch| {
        ctx.require_operator("Change events are for the operator organisation.")?;
        let mut query = ce::table.select(EventRow::as_select()).into_boxed();
        if let Some(topic) = q.topic {
            query = query.filter(ce::topic.eq(topic));
        }
        if let Some(v) = q.entity_type {
            query = query.filter(ce::entity_type.eq(v));
        }
        if let Some(v) = q.entity_id {
            query = query.filter(ce::entity_id.eq(v));
        }
        if let Some(after) = after {
            query = query.filter(ce::id.gt(after));
        }
        let rows: Vec<EventRow> = query.order(ce::id.asc()).limit(fetch).load(conn)?;
        Ok(rows.into_iter().map(ChangeEvent::from).collect())
    })
    .await
}

/// Formats an instant the way emails and summaries show it.
pub fn show(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}
