//! Subscription rows, their filters and the queries the handlers and workers share.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Mode, NotificationStatus, SubscriptionStatus};
use crate::catalogue::model::DeviceType;
use crate::db::schema::{device_models, notifications as n, organisations, subscriptions as s, uit_windows};
use crate::db::{now, DbConn, DeviceModelId, JsonText, OrgId, UserId, WindowId};
use crate::events::Topic;
use crate::http::validate::Validator;
use crate::http::ApiError;

/// Most entries in one filter list.
pub const MAX_FILTER_ITEMS: usize = 100;

/// Unsubscribe tokens start with this, so a leaked one is recognisable.
pub const UNSUBSCRIBE_TOKEN_PREFIX: &str = "uitu_";

/// Confirmation tokens (double opt-in) start with this.
pub const CONFIRM_TOKEN_PREFIX: &str = "uitn_";

/// What a subscription narrows changes to. Each list that is not empty must share an entry
/// with the change; an empty list matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Filters {
    /// Device types, e.g. `ESME`; empty: every type.
    #[schema(max_items = 100)]
    pub device_types: Vec<DeviceType>,
    /// Device model (product) ids; empty: every product.
    #[schema(value_type = Vec<String>, max_items = 100)]
    pub device_model_ids: Vec<DeviceModelId>,
    /// Manufacturer organisation ids; empty: every manufacturer.
    #[schema(value_type = Vec<String>, max_items = 100)]
    pub manufacturer_org_ids: Vec<OrgId>,
    /// UIT window ids: changes within these windows (the windows themselves, their UIT issues
    /// and results); empty: every window. A change within no window (a release, a roadmap
    /// item, firmware) does not pass a list that is not empty.
    #[schema(value_type = Vec<String>, max_items = 100)]
    pub uit_window_ids: Vec<WindowId>,
}

/// Whether a filter (`wanted`, empty: anything) lets through a change scoped to `scoped`.
fn passes<T>(wanted: &[T], scoped: &[String], text: impl Fn(&T) -> &str) -> bool {
    wanted.is_empty() || wanted.iter().any(|w| scoped.iter().any(|x| x == text(w)))
}

/// Ids trimmed, sorted and without repeats.
fn tidy<T: Ord + From<String> + AsRef<str>>(list: &mut Vec<T>) {
    for id in list.iter_mut() {
        *id = T::from(id.as_ref().trim().to_string());
    }
    list.sort();
    list.dedup();
}

impl Filters {
    /// Sorted and without repeats, so equal filters compare and store equal.
    pub fn normalised(mut self) -> Self {
        self.device_types.sort_by_key(|t| t.as_str());
        self.device_types.dedup();
        tidy(&mut self.device_model_ids);
        tidy(&mut self.manufacturer_org_ids);
        tidy(&mut self.uit_window_ids);
        self
    }

    /// Whether a change scoped to these types, products, manufacturers and windows passes.
    pub fn matches(
        &self,
        device_types: &[String],
        device_model_ids: &[String],
        manufacturers: &[String],
        windows: &[String],
    ) -> bool {
        passes(&self.device_types, device_types, |t| t.as_str())
            && passes(&self.device_model_ids, device_model_ids, |m| m.as_str())
            && passes(&self.manufacturer_org_ids, manufacturers, |m| m.as_str())
            && passes(&self.uit_window_ids, windows, |w| w.as_str())
    }

    /// Shape checks that need no database.
    pub fn check(&self, v: &mut Validator) {
        let lists: [(&str, usize); 4] = [
            ("filters.device_types", self.device_types.len()),
            ("filters.device_model_ids", self.device_model_ids.len()),
            ("filters.manufacturer_org_ids", self.manufacturer_org_ids.len()),
            ("filters.uit_window_ids", self.uit_window_ids.len()),
        ];
        for (field, len) in lists {
            if len > MAX_FILTER_ITEMS {
                v.error(field, format!("must have at most {MAX_FILTER_ITEMS} entries"));
            }
        }
    }

    /// Adds field errors for ids that name no product, no organisation or no UIT window.
    pub fn check_references(&self, conn: &mut DbConn, v: &mut Validator) -> Result<(), ApiError> {
        if !self.device_model_ids.is_empty() {
            let found: Vec<String> = device_models::table
                .filter(device_models::id.eq_any(&self.device_model_ids))
                .select(device_models::id)
                .load(conn)?;
            if found.len() != self.device_model_ids.len() {
                v.error("filters.device_model_ids", "names a device model that does not exist");
            }
        }
        if !self.manufacturer_org_ids.is_empty() {
            let found: Vec<String> = organisations::table
                .filter(organisations::id.eq_any(&self.manufacturer_org_ids))
                .select(organisations::id)
                .load(conn)?;
            if found.len() != self.manufacturer_org_ids.len() {
                v.error(
                    "filters.manufacturer_org_ids",
                    "names an organisation that does not exist",
                );
            }
        }
        if !self.uit_window_ids.is_empty() {
            let found: Vec<String> = uit_windows::table
                .filter(uit_windows::id.eq_any(&self.uit_window_ids))
                .select(uit_windows::id)
                .load(conn)?;
            if found.len() != self.uit_window_ids.len() {
                v.error("filters.uit_window_ids", "names a UIT window that does not exist");
            }
        }
        Ok(())
    }

    /// "all products", or what the filter names, for emails and the unsubscribe page.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.device_types.is_empty() {
            let types: Vec<&str> = self.device_types.iter().map(|t| t.as_str()).collect();
            parts.push(format!("device types {}", types.join(", ")));
        }
        let count = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        if !self.device_model_ids.is_empty() {
            parts.push(count(self.device_model_ids.len(), "product", "products"));
        }
        if !self.manufacturer_org_ids.is_empty() {
            parts.push(count(self.manufacturer_org_ids.len(), "manufacturer", "manufacturers"));
        }
        if !self.uit_window_ids.is_empty() {
            parts.push(count(self.uit_window_ids.len(), "UIT window", "UIT windows"));
        }
        if parts.is_empty() {
            "all products".into()
        } else {
            parts.join("; ")
        }
    }
}

/// Whether hearing of `topic` needs an account: UIT issues and results are read with a token
/// only, so an address without one would hear of nothing (and is refused them).
pub fn needs_account(topic: Topic) -> bool {
    matches!(topic, Topic::UitIssues | Topic::Results)
}

/// Topics without repeats, in their declared order.
pub fn normalise_topics(topics: &[Topic]) -> Vec<Topic> {
    Topic::ALL.iter().copied().filter(|t| topics.contains(t)).collect()
}

/// The topics as people call them, e.g. "Releases, UIT windows".
pub fn describe_topics(topics: &[Topic]) -> String {
    topics
        .iter()
        .map(|t| super::email::topic_label(*t))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = s)]
pub struct SubscriptionRow {
    pub id: String,
    pub user_id: Option<UserId>,
    pub email: Option<String>,
    /// The topics, normalised ([`topics_json`]).
    pub topics_json: JsonText<Vec<Topic>>,
    /// The filters, normalised ([`filters_json`]).
    pub filters_json: JsonText<Filters>,
    pub mode: Mode,
    pub status: SubscriptionStatus,
    pub confirm_token_hash: Option<String>,
    pub confirmation_sent_at: Option<NaiveDateTime>,
    pub confirmed_at: Option<NaiveDateTime>,
    pub unsubscribe_token: String,
    pub unsubscribed_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
}

impl SubscriptionRow {
    pub fn topics(&self) -> Vec<Topic> {
        self.topics_json.0.clone()
    }

    pub fn filters(&self) -> Filters {
        self.filters_json.0.clone()
    }
}

/// The stored form of a subscription's topics: sorted, without repeats, so that equal
/// subscriptions store equal text.
pub fn topics_json(topics: &[Topic]) -> JsonText<Vec<Topic>> {
    JsonText(normalise_topics(topics))
}

/// The stored form of a subscription's filters (callers pass them normalised).
pub fn filters_json(filters: &Filters) -> JsonText<Filters> {
    JsonText(filters.clone())
}

/// A subscription, as its owner sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Subscription {
    pub id: String,
    /// Where the emails go: the signed-in user's address, or the confirmed one.
    #[schema(example = "planner@example.org")]
    pub email: String,
    pub topics: Vec<Topic>,
    pub filters: Filters,
    pub mode: Mode,
    pub status: SubscriptionStatus,
    /// When an address without an account confirmed it; null for users' own subscriptions.
    pub confirmed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The one-click unsubscribe link every email carries (`GET` shows a page, `POST` acts).
    #[schema(
        example = "https://uit.example.org/api/v1/unsubscribe?token=uitu_q3JzZ0cH1mB2xQ0yWcVt8nKf5dLr9aEu7iO4pS6hTjM"
    )]
    pub unsubscribe_url: String,
}

/// The unsubscribe link of a token.
pub fn unsubscribe_url(public_url: &str, token: &str) -> String {
    format!("{}/api/v1/unsubscribe?token={token}", public_url.trim_end_matches('/'))
}

impl Subscription {
    /// `email` is the row's own address or, for a user's subscription, the user's.
    pub fn new(row: SubscriptionRow, email: String, public_url: &str) -> Self {
        Self {
            topics: row.topics(),
            filters: row.filters(),
            mode: row.mode,
            status: row.status,
            email,
            confirmed_at: row.confirmed_at.map(|t| t.and_utc()),
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
            unsubscribe_url: unsubscribe_url(public_url, &row.unsubscribe_token),
            id: row.id,
        }
    }
}

/// Who reads a subscription through the API: the user it belongs to, nobody else (an address
/// without an account reaches its own through the links in its emails only).
fn owned_by(user_id: &UserId) -> diesel::dsl::Eq<s::user_id, String> {
    s::user_id.eq(user_id.to_string())
}

/// Whether the user may read the subscription `id` (ended ones included), e.g. in the audit log.
pub fn readable_by(conn: &mut DbConn, user_id: &UserId, id: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        s::table.filter(s::id.eq(id)).filter(owned_by(user_id)),
    ))
    .get_result(conn)
}

/// A user's subscription that has not ended, or `None` (also for another user's id).
pub fn find_own(conn: &mut DbConn, user_id: &UserId, id: &str) -> QueryResult<Option<SubscriptionRow>> {
    s::table
        .filter(s::id.eq(id))
        .filter(owned_by(user_id))
        .filter(s::status.ne(SubscriptionStatus::Unsubscribed))
        .select(SubscriptionRow::as_select())
        .first(conn)
        .optional()
}

/// A page of a user's subscriptions that have not ended, by id.
pub fn list_own(
    conn: &mut DbConn,
    user_id: &UserId,
    after: Option<String>,
    limit: i64,
) -> QueryResult<Vec<SubscriptionRow>> {
    let mut q = s::table
        .filter(owned_by(user_id))
        .filter(s::status.ne(SubscriptionStatus::Unsubscribed))
        .select(SubscriptionRow::as_select())
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(s::id.gt(after));
    }
    q.order(s::id.asc()).limit(limit).load(conn)
}

pub fn find_by_unsubscribe_token(conn: &mut DbConn, token: &str) -> QueryResult<Option<SubscriptionRow>> {
    s::table
        .filter(s::unsubscribe_token.eq(token))
        .select(SubscriptionRow::as_select())
        .first(conn)
        .optional()
}

/// Saves the editable fields and status of `row` if it is still at `row.version`; bumps the
/// version. Returns false when another change came first.
pub fn update(conn: &mut DbConn, row: &SubscriptionRow) -> QueryResult<bool> {
    let n = diesel::update(s::table.find(&row.id).filter(s::version.eq(row.version)))
        .set((
            s::topics_json.eq(&row.topics_json),
            s::filters_json.eq(&row.filters_json),
            s::mode.eq(&row.mode),
            s::status.eq(&row.status),
            s::confirmed_at.eq(row.confirmed_at),
            s::unsubscribed_at.eq(row.unsubscribed_at),
            s::updated_at.eq(now()),
            s::version.eq(row.version + 1),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<SubscriptionRow>> {
    s::table
        .find(id)
        .select(SubscriptionRow::as_select())
        .first(conn)
        .optional()
}

/// Ends a subscription at once: no further notifications are written for it and the ones not
/// yet sent (pending, failed, waiting for a digest) are cancelled. Returns whether it was live.
pub fn end(conn: &mut DbConn, row: &SubscriptionRow) -> Result<bool, ApiError> {
    if row.status == SubscriptionStatus::Unsubscribed {
        return Ok(false);
    }
    let mut ended = row.clone();
    ended.status = SubscriptionStatus::Unsubscribed;
    ended.unsubscribed_at = Some(now());
    if !update(conn, &ended)? {
        return Err(ApiError::precondition_failed());
    }
    cancel_unsent(conn, &row.id)?;
    Ok(true)
}

/// Cancels the notifications of a subscription that were not handed to a worker.
pub fn cancel_unsent(conn: &mut DbConn, subscription_id: &str) -> QueryResult<usize> {
    let unsent = [
        NotificationStatus::Pending.as_str(),
        NotificationStatus::Failed.as_str(),
    ];
    diesel::update(
        n::table
            .filter(n::subscription_id.eq(subscription_id))
            .filter(n::status.eq_any(unsent)),
    )
    .set((n::status.eq(NotificationStatus::Cancelled), n::updated_at.eq(now())))
    .execute(conn)
}
