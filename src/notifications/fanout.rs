//! The fan-out: each change event becomes one notification per active subscription that
//! matches it and whose subscriber may read what it is about, written in the transaction
//! that marks the event consumed.
//!
//! Only one fan-out runs at a time: SQLite's write transaction (`BEGIN IMMEDIATE`) serialises
//! it, and on PostgreSQL a transaction-scoped advisory lock does (an instance that does not get
//! it leaves the work to the one that has it), so events are taken strictly in
//! `(occurred_at, id)` order. The unique `(subscription_id, change_event_id)` index and
//! `ON CONFLICT DO NOTHING` make a repeated run harmless all the same.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Date, Nullable, Text, Timestamp};

use super::model::{Filters, SubscriptionRow};
use super::{Mode, NotificationKind, NotificationStatus, SubscriptionStatus};
use crate::auth::{OrgKind, Role};
use crate::db::schema::{
    change_events as ce, organisations, subscriptions as s, uit_windows, users, window_participants as wp,
};
use crate::db::{new_id, now, write_tx, DbBackend, DbConn};
use crate::events::Topic;
use crate::http::ApiError;

/// The PostgreSQL advisory lock key held by the fan-out transaction ("UITN").
const FANOUT_LOCK: i64 = 0x5549_544E;

/// Events taken per transaction.
const EVENTS_PER_TX: i64 = 200;

/// Once a transaction has this many notifications, it takes no further event.
const ROWS_PER_TX: usize = 20_000;

/// Rows per INSERT statement (10 bound values each; well inside SQLite's 32,766 variables).
const INSERT_CHUNK: usize = 1_000;

/// A change event, as the fan-out needs it.
#[derive(Debug, Clone, Queryable)]
pub struct PendingEvent {
    pub id: String,
    pub occurred_at: NaiveDateTime,
    pub topic: String,
    pub kind: String,
    pub entity_type: String,
    pub details_json: String,
    pub device_types_json: String,
    pub device_model_ids_json: String,
    pub manufacturer_org_ids_json: String,
    pub uit_window_ids_json: String,
}

/// The reader behind a user's subscription.
#[derive(Debug, Clone)]
pub struct Reader {
    pub org_id: String,
    pub org_kind: OrgKind,
    pub role: Role,
}

/// An active subscription with what decides what it may hear of.
#[derive(Debug, Clone)]
pub struct Subscriber {
    pub id: String,
    pub topics: Vec<Topic>,
    pub filters: Filters,
    pub mode: Mode,
    pub recipient: String,
    /// `None` for an address without an account: it hears of industry-visible changes only.
    pub reader: Option<Reader>,
    /// When it became active (confirmed, for an address without an account): it hears of
    /// changes that occurred from then on only, never of the past.
    pub active_since: NaiveDateTime,
}

/// Who may read an event's subject, beyond the topic and filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// Every signed-in user and every confirmed address.
    Industry,
    /// Every signed-in user, no address without an account (industry-visible results: the API
    /// shows them to every organisation, but only with a token).
    Members,
    /// Users of the owner, of the operator and of organisations in a UIT window open now.
    Participants { owner_org_id: String },
    /// Users of the owner organisation only.
    Owner { owner_org_id: String },
    /// Admin users of the owner organisation only.
    OwnerAdmins { owner_org_id: String },
    /// Users of the operator, of `org_ids` and of every organisation that joined UIT window
    /// `window_id` (a UIT issue: participants-level visibility, plus the organisations that
    /// raised it and resolve it; the rule of `uit_issues::model::visible_to`).
    WindowParticipants { window_id: String, org_ids: Vec<String> },
    /// Nobody (an event the fan-out does not know how to scope).
    Nobody,
}

/// Who may hear of `event`, from what the API shows to whom. Roadmap events carry the item's
/// `visibility` and `owner_org_id`. A private item is told to its owner organisation only,
/// although the operator could read it: "private" is the manufacturer's own plan. Stale
/// library-contact reminders are an action for the manufacturer's admins. Unknown kinds of
/// subject reach nobody rather than risk telling someone what they could not read.
pub fn audience(entity_type: &str, details: &serde_json::Value) -> Audience {
    let owner = |key: &str| details.get(key).and_then(|v| v.as_str()).map(str::to_string);
    match entity_type {
        "release" | "uit_window" | "firmware" | "defect_mask" => Audience::Industry,
        "roadmap_item" => match (
            details.get("visibility").and_then(|v| v.as_str()),
            owner("owner_org_id"),
        ) {
            (Some("industry"), _) => Audience::Industry,
            (Some("participants"), Some(owner_org_id)) => Audience::Participants { owner_org_id },
            (Some("private"), Some(owner_org_id)) => Audience::Owner { owner_org_id },
            _ => Audience::Nobody,
        },
        "library_contact" => match owner("manufacturer_org_id") {
            Some(owner_org_id) => Audience::OwnerAdmins { owner_org_id },
            None => Audience::Nobody,
        },
        // New failures and known issues of shared results: `industry` ones reach every
        // member, `participants` ones the rule of `results::model::visible_to` (the window's
        // participants, the operator, the publisher). Private results make no event.
        "results" => match (
            details.get("visibility").and_then(|v| v.as_str()),
            owner("uit_window_id"),
            owner("org_id"),
        ) {
            (Some("industry"), Some(_), Some(_)) => Audience::Members,
            (Some("participants"), Some(window_id), Some(publisher)) => Audience::WindowParticipants {
                window_id,
                org_ids: vec![publisher],
            },
            _ => Audience::Nobody,
        },
        "uit_issue" => match (
            owner("uit_window_id"),
            owner("raised_by_org_id"),
            owner("resolving_org_id"),
        ) {
            (Some(window_id), Some(raiser), Some(resolver)) => Audience::WindowParticipants {
                window_id,
                org_ids: vec![raiser, resolver],
            },
            _ => Audience::Nobody,
        },
        _ => Audience::Nobody,
    }
}

/// Who takes part where, as far as the audiences of a batch of events need it.
#[derive(Debug, Clone, Default)]
pub struct Participation {
    /// Organisations taking part in a UIT window open now.
    pub open: HashSet<String>,
    /// Organisations that joined each window, for the windows the events name.
    pub windows: HashMap<String, HashSet<String>>,
}

impl Participation {
    /// Loads the participants of the windows among `audiences` not loaded yet.
    pub fn load_windows<'a>(
        &mut self,
        conn: &mut DbConn,
        audiences: impl Iterator<Item = &'a Audience>,
    ) -> QueryResult<()> {
        let mut wanted: Vec<String> = audiences
            .filter_map(Audience::window_id)
            .filter(|w| !self.windows.contains_key(*w))
            .map(str::to_string)
            .collect();
        wanted.sort();
        wanted.dedup();
        for chunk in wanted.chunks(INSERT_CHUNK) {
            let rows: Vec<(String, String)> = wp::table
                .filter(wp::window_id.eq_any(chunk))
                .select((wp::window_id, wp::org_id))
                .load(conn)?;
            for w in chunk {
                self.windows.entry(w.clone()).or_default();
            }
            for (w, org) in rows {
                self.windows.entry(w).or_default().insert(org);
            }
        }
        Ok(())
    }
}

impl Audience {
    /// The window whose participants decide this audience, if any.
    pub fn window_id(&self) -> Option<&str> {
        match self {
            Audience::WindowParticipants { window_id, .. } => Some(window_id),
            _ => None,
        }
    }

    /// Whether `reader` (`None`: no account) is in it, given who takes part where.
    pub fn admits(&self, reader: Option<&Reader>, participation: &Participation) -> bool {
        match (self, reader) {
            (Audience::Industry, _) => true,
            (Audience::Nobody, _) | (_, None) => false,
            (Audience::Members, Some(_)) => true,
            (Audience::Participants { owner_org_id }, Some(r)) => {
                r.org_kind == OrgKind::Operator || r.org_id == *owner_org_id || participation.open.contains(&r.org_id)
            }
            (Audience::WindowParticipants { window_id, org_ids }, Some(r)) => {
                r.org_kind == OrgKind::Operator
                    || org_ids.contains(&r.org_id)
                    || participation
                        .windows
                        .get(window_id)
                        .is_some_and(|orgs| orgs.contains(&r.org_id))
            }
            (Audience::Owner { owner_org_id }, Some(r)) => r.org_id == *owner_org_id,
            (Audience::OwnerAdmins { owner_org_id }, Some(r)) => r.org_id == *owner_org_id && r.role == Role::Admin,
        }
    }
}

/// Fans out every pending event, a transaction at a time; returns how many notifications it
/// wrote. Returns early when another instance holds the fan-out.
pub fn run(conn: &mut DbConn) -> Result<usize, ApiError> {
    let mut total = 0;
    loop {
        // A cheap read first, so an idle tick does not take SQLite's write lock.
        let pending: bool =
            diesel::select(diesel::dsl::exists(ce::table.filter(ce::consumed_at.is_null()))).get_result(conn)?;
        if !pending {
            return Ok(total);
        }
        let started = Instant::now();
        let (events, written) = write_tx(conn, |conn| fan_out_batch(conn, now()))?;
        if events == 0 {
            return Ok(total);
        }
        tracing::info!(
            events,
            notifications = written,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "fanned out change events"
        );
        total += written;
    }
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// One transaction's worth: takes pending events in order, writes their notifications and
/// marks them consumed. Returns (events consumed, notifications written).
pub fn fan_out_batch(conn: &mut DbConn, now: NaiveDateTime) -> Result<(usize, usize), ApiError> {
    if matches!(conn, DbConn::Pg(_)) {
        let lock: Locked = diesel::sql_query("SELECT pg_try_advisory_xact_lock($1) AS locked")
            .bind::<BigInt, _>(FANOUT_LOCK)
            .get_result(conn)?;
        if !lock.locked {
            return Ok((0, 0));
        }
    }
    let events: Vec<PendingEvent> = ce::table
        .filter(ce::consumed_at.is_null())
        .order((ce::occurred_at.asc(), ce::id.asc()))
        .select((
            ce::id,
            ce::occurred_at,
            ce::topic,
            ce::kind,
            ce::entity_type,
            ce::details_json,
            ce::device_types_json,
            ce::device_model_ids_json,
            ce::manufacturer_org_ids_json,
            ce::uit_window_ids_json,
        ))
        .limit(EVENTS_PER_TX)
        .load(conn)?;
    if events.is_empty() {
        return Ok((0, 0));
    }
    let subscribers = active_subscribers(conn)?;
    let mut participation = Participation::default();
    if events.iter().any(|e| e.entity_type == "roadmap_item") {
        participation.open = open_window_participants(conn, now)?;
    }
    let audiences: Vec<Audience> = events
        .iter()
        .map(|e| {
            audience(
                &e.entity_type,
                &serde_json::from_str(&e.details_json).unwrap_or_default(),
            )
        })
        .collect();
    participation.load_windows(conn, audiences.iter())?;
    let mut rows = Vec::new();
    let mut consumed = Vec::new();
    for event in &events {
        notifications_for(event, &subscribers, &participation, now, &mut rows);
        consumed.push(event.id.clone());
        if rows.len() >= ROWS_PER_TX {
            break;
        }
    }
    let written = insert(conn, &rows)?;
    // When the work was done, so `consumed_at - occurred_at` is the fan-out's latency.
    let done = crate::db::now();
    for chunk in consumed.chunks(INSERT_CHUNK) {
        diesel::update(ce::table.filter(ce::id.eq_any(chunk)))
            .set(ce::consumed_at.eq(done))
            .execute(conn)?;
    }
    Ok((consumed.len(), written))
}

/// A notification to write.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub id: String,
    pub kind: &'static str,
    pub subscription_id: String,
    pub change_event_id: Option<String>,
    pub digest_day: Option<NaiveDate>,
    pub recipient: String,
    pub status: &'static str,
    pub next_attempt_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

/// The end of `day` (UTC), which is what a waiting digest item's `next_attempt_at` holds; its
/// digest goes out `notification_digest_hour` hours later (see [`super::digest`]), so changing
/// the hour needs no rewrite of waiting rows.
pub fn day_end(day: NaiveDate) -> NaiveDateTime {
    (day + Duration::days(1)).and_hms_opt(0, 0, 0).unwrap_or_default()
}

/// Appends the notifications of `event` for the subscribers it matches.
fn notifications_for(
    event: &PendingEvent,
    subscribers: &[Subscriber],
    participation: &Participation,
    now: NaiveDateTime,
    rows: &mut Vec<NewNotification>,
) {
    let Some(topic) = Topic::parse(&event.topic) else {
        return;
    };
    let details: serde_json::Value = serde_json::from_str(&event.details_json).unwrap_or_default();
    let audience = audience(&event.entity_type, &details);
    if audience == Audience::Nobody {
        tracing::warn!(event_id = %event.id, entity_type = %event.entity_type, "change event of an unknown kind reaches nobody");
        return;
    }
    let list = |s: &str| serde_json::from_str::<Vec<String>>(s).unwrap_or_default();
    let (types, models, makers, windows) = (
        list(&event.device_types_json),
        list(&event.device_model_ids_json),
        list(&event.manufacturer_org_ids_json),
        list(&event.uit_window_ids_json),
    );
    let today = now.date();
    for sub in subscribers {
        if event.occurred_at < sub.active_since
            || !sub.topics.contains(&topic)
            || !sub.filters.matches(&types, &models, &makers, &windows)
            || !audience.admits(sub.reader.as_ref(), participation)
        {
            continue;
        }
        let digest = sub.mode == Mode::DailyDigest;
        rows.push(NewNotification {
            id: new_id(),
            kind: if digest {
                NotificationKind::DigestItem.as_str()
            } else {
                NotificationKind::Event.as_str()
            },
            subscription_id: sub.id.clone(),
            change_event_id: Some(event.id.clone()),
            digest_day: digest.then_some(today),
            recipient: sub.recipient.clone(),
            status: NotificationStatus::Pending.as_str(),
            next_attempt_at: if digest { day_end(today) } else { now },
            created_at: now,
        });
    }
}

/// `count` rows of `width` placeholders, for a multi-row INSERT: `$n` numbered in order on
/// PostgreSQL, plain `?` on SQLite (whose named-parameter lookup grows with the square of the
/// parameter count: 10,000 rows took seconds with `$n`). `fixed` puts literal SQL after the
/// given number of placeholders in each row.
pub fn values_clause(conn: &DbConn, count: usize, width: usize, fixed: Option<(usize, &str)>) -> String {
    let pg = matches!(conn, DbConn::Pg(_));
    let mut sql = String::with_capacity(count * width * 6);
    let mut n = 0;
    for row in 0..count {
        if row > 0 {
            sql.push(',');
        }
        sql.push('(');
        for col in 0..width {
            if col > 0 {
                sql.push(',');
            }
            if let Some((at, literal)) = fixed {
                if col == at {
                    sql.push_str(literal);
                    sql.push(',');
                }
            }
            n += 1;
            if pg {
                sql.push('$');
                sql.push_str(&n.to_string());
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    sql
}

/// Writes `rows`, skipping any (subscription, event) pair that exists; returns how many it
/// wrote. Multi-row INSERTs with bound values (diesel's batch insert cannot add
/// `ON CONFLICT DO NOTHING` on SQLite).
pub fn insert(conn: &mut DbConn, rows: &[NewNotification]) -> Result<usize, ApiError> {
    let mut written = 0;
    for chunk in rows.chunks(INSERT_CHUNK) {
        let sql = format!(
            "INSERT INTO notifications (id, kind, subscription_id, change_event_id, digest_day, recipient, \
             status, attempts, next_attempt_at, created_at, updated_at) VALUES {} ON CONFLICT DO NOTHING",
            values_clause(conn, chunk.len(), 10, Some((7, "0")))
        );
        let mut query = diesel::sql_query(sql).into_boxed::<DbBackend>();
        for r in chunk {
            query = query
                .bind::<Text, _>(r.id.clone())
                .bind::<Text, _>(r.kind)
                .bind::<Text, _>(r.subscription_id.clone())
                .bind::<Nullable<Text>, _>(r.change_event_id.clone())
                .bind::<Nullable<Date>, _>(r.digest_day)
                .bind::<Text, _>(r.recipient.clone())
                .bind::<Text, _>(r.status)
                .bind::<Timestamp, _>(r.next_attempt_at)
                .bind::<Timestamp, _>(r.created_at)
                .bind::<Timestamp, _>(r.created_at);
        }
        written += query.execute(conn)?;
    }
    Ok(written)
}

type SubscriberRow = (
    SubscriptionRow,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Every active subscription with its recipient and, for users, their organisation and role.
pub fn active_subscribers(conn: &mut DbConn) -> QueryResult<Vec<Subscriber>> {
    let rows: Vec<SubscriberRow> = s::table
        .left_join(users::table.left_join(organisations::table))
        .filter(s::status.eq(SubscriptionStatus::Active.as_str()))
        .select((
            SubscriptionRow::as_select(),
            users::email.nullable(),
            users::org_id.nullable(),
            users::role.nullable(),
            organisations::kind.nullable(),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(row, user_email, org_id, role, kind)| {
            let reader = match (&row.user_id, org_id, role, kind) {
                (None, ..) => None,
                (Some(_), Some(org_id), Some(role), Some(kind)) => Some(Reader {
                    org_id,
                    org_kind: OrgKind::parse(&kind)?,
                    role: Role::parse(&role)?,
                }),
                // A user's subscription without its user: nothing to send.
                (Some(_), ..) => return None,
            };
            let recipient = row.email.clone().or(user_email)?;
            let active_since = row.confirmed_at.unwrap_or(row.created_at);
            Some(Subscriber {
                active_since,
                topics: row.topics(),
                filters: row.filters(),
                mode: row.mode(),
                id: row.id,
                recipient,
                reader,
            })
        })
        .collect())
}

/// Organisations that joined a UIT window open at `now`.
pub(crate) fn open_window_participants(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<HashSet<String>> {
    let orgs: Vec<String> = wp::table
        .inner_join(uit_windows::table)
        .filter(uit_windows::cancelled_at.is_null())
        .filter(uit_windows::opens_at.le(now))
        .filter(uit_windows::closes_at.gt(now))
        .select(wp::org_id)
        .distinct()
        .load(conn)?;
    Ok(orgs.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reader(org: &str, kind: OrgKind, role: Role) -> Reader {
        Reader {
            org_id: org.into(),
            org_kind: kind,
            role,
        }
    }

    #[test]
    fn roadmap_visibility_decides_who_hears() {
        let owner = reader("maker", OrgKind::Manufacturer, Role::Member);
        let operator = reader("dcc", OrgKind::Operator, Role::Admin);
        let joined = reader("supplier-a", OrgKind::Supplier, Role::Viewer);
        let other = reader("supplier-b", OrgKind::Supplier, Role::Admin);
        let participants = Participation {
            open: HashSet::from(["supplier-a".to_string()]),
            ..Participation::default()
        };
        let item = |visibility: &str| {
            audience(
                "roadmap_item",
                &json!({ "visibility": visibility, "owner_org_id": "maker" }),
            )
        };
        let hears = |a: &Audience, r: Option<&Reader>| a.admits(r, &participants);

        let private = item("private");
        assert!(hears(&private, Some(&owner)));
        for r in [&operator, &joined, &other] {
            assert!(!hears(&private, Some(r)), "{r:?}");
        }
        assert!(!hears(&private, None));

        let shared = item("participants");
        assert!(hears(&shared, Some(&owner)) && hears(&shared, Some(&operator)) && hears(&shared, Some(&joined)));
        assert!(!hears(&shared, Some(&other)) && !hears(&shared, None));

        let public = item("industry");
        assert!(hears(&public, None) && hears(&public, Some(&other)));

        assert_eq!(audience("roadmap_item", &json!({})), Audience::Nobody);
        assert_eq!(audience("something_new", &json!({})), Audience::Nobody);
        assert_eq!(audience("uit_window", &json!({})), Audience::Industry);
    }

    #[test]
    fn stale_contacts_reach_the_manufacturers_admins_only() {
        let a = audience("library_contact", &json!({ "manufacturer_org_id": "maker" }));
        let none = Participation::default();
        assert!(a.admits(Some(&reader("maker", OrgKind::Manufacturer, Role::Admin)), &none));
        assert!(!a.admits(Some(&reader("maker", OrgKind::Manufacturer, Role::Member)), &none));
        assert!(!a.admits(Some(&reader("dcc", OrgKind::Operator, Role::Admin)), &none));
        assert!(!a.admits(None, &none));
    }

    #[test]
    fn uit_issues_reach_the_windows_participants_the_operator_the_raiser_and_the_resolver() {
        let a = audience(
            "uit_issue",
            &json!({ "uit_window_id": "w1", "raised_by_org_id": "supplier-a", "resolving_org_id": "maker" }),
        );
        assert_eq!(a.window_id(), Some("w1"));
        let participation = Participation {
            // Taking part in an open window is not enough: it must be this window.
            open: HashSet::from(["supplier-c".to_string()]),
            windows: HashMap::from([
                (
                    "w1".to_string(),
                    HashSet::from(["supplier-a".to_string(), "supplier-b".to_string()]),
                ),
                ("w2".to_string(), HashSet::from(["supplier-c".to_string()])),
            ]),
        };
        let hears = |r: &Reader| a.admits(Some(r), &participation);
        assert!(
            hears(&reader("supplier-b", OrgKind::Supplier, Role::Viewer)),
            "a participant of w1"
        );
        assert!(
            hears(&reader("supplier-a", OrgKind::Supplier, Role::Member)),
            "the raiser"
        );
        assert!(
            hears(&reader("maker", OrgKind::Manufacturer, Role::Admin)),
            "the resolver"
        );
        assert!(hears(&reader("dcc", OrgKind::Operator, Role::Viewer)), "the operator");
        assert!(
            !hears(&reader("supplier-c", OrgKind::Supplier, Role::Admin)),
            "another window's participant"
        );
        assert!(!hears(&reader("secas", OrgKind::Reviewer, Role::Admin)), "a reviewer");
        assert!(!a.admits(None, &participation), "an address without an account");
        // Participants of a window the fan-out did not load hear nothing rather than too much.
        assert!(!a.admits(
            Some(&reader("supplier-b", OrgKind::Supplier, Role::Member)),
            &Participation::default()
        ));
        assert_eq!(
            audience("uit_issue", &json!({ "uit_window_id": "w1" })),
            Audience::Nobody
        );
    }

    #[test]
    fn shared_results_reach_whoever_may_read_them() {
        let of = |visibility: &str| {
            audience(
                "results",
                &json!({ "visibility": visibility, "uit_window_id": "w1", "org_id": "supplier-a" }),
            )
        };
        let participation = Participation {
            windows: HashMap::from([("w1".to_string(), HashSet::from(["supplier-b".to_string()]))]),
            ..Participation::default()
        };
        let reviewer = reader("secas", OrgKind::Reviewer, Role::Viewer);
        let joined = reader("supplier-b", OrgKind::Supplier, Role::Viewer);
        let publisher = reader("supplier-a", OrgKind::Supplier, Role::Member);
        let other = reader("supplier-c", OrgKind::Supplier, Role::Admin);

        let industry = of("industry");
        assert_eq!(industry, Audience::Members);
        assert!(industry.admits(Some(&reviewer), &participation) && industry.admits(Some(&other), &participation));
        assert!(!industry.admits(None, &participation), "results need an account");

        let shared = of("participants");
        assert_eq!(shared.window_id(), Some("w1"));
        assert!(shared.admits(Some(&joined), &participation) && shared.admits(Some(&publisher), &participation));
        assert!(shared.admits(Some(&reader("dcc", OrgKind::Operator, Role::Viewer)), &participation));
        assert!(!shared.admits(Some(&reviewer), &participation) && !shared.admits(Some(&other), &participation));
        assert!(!shared.admits(None, &participation));

        assert_eq!(of("private"), Audience::Nobody, "a private result is nobody's news");
    }

    #[test]
    fn filters_match_when_every_named_list_shares_an_entry() {
        use crate::catalogue::model::DeviceType;
        let v = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let all = Filters::default();
        assert!(all.matches(&[], &[], &[], &[]));
        let esme = Filters {
            device_types: vec![DeviceType::Esme],
            ..Filters::default()
        };
        assert!(esme.matches(&v(&["CHF", "ESME"]), &[], &[], &[]));
        assert!(!esme.matches(&v(&["CHF"]), &[], &[], &[]));
        assert!(
            !esme.matches(&[], &[], &[], &[]),
            "an unscoped change is not about ESMEs"
        );
        let both = Filters {
            device_types: vec![DeviceType::Esme],
            manufacturer_org_ids: v(&["m1"]),
            ..Filters::default()
        };
        assert!(both.matches(&v(&["ESME"]), &v(&["p"]), &v(&["m1", "m2"]), &[]));
        assert!(!both.matches(&v(&["ESME"]), &v(&["p"]), &v(&["m2"]), &[]));
        let window = Filters {
            uit_window_ids: v(&["w1"]),
            ..Filters::default()
        };
        assert!(window.matches(&[], &[], &[], &v(&["w1"])));
        assert!(!window.matches(&[], &[], &[], &v(&["w2"])));
        assert!(!window.matches(&[], &[], &[], &[]), "a release is in no window");
    }
}

#[cfg(test)]
mod values_tests {
    #[test]
    fn placeholders_with_a_fixed_literal() {
        // Only the SQLite form can be built without a connection here; see values_clause.
        let conn = crate::db::DbTarget::parse("sqlite://:memory:", "normal")
            .unwrap()
            .connect()
            .unwrap();
        assert_eq!(super::values_clause(&conn, 2, 3, Some((1, "0"))), "(?,0,?,?),(?,0,?,?)");
        assert_eq!(super::values_clause(&conn, 1, 2, None), "(?,?)");
    }
}
