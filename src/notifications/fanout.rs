//! The fan-out: each change event becomes one notification per active subscription that
//! matches it and whose subscriber may read what it is about, written in the transaction
//! that marks the event consumed.
//!
//! Only one fan-out runs at a time: SQLite's write transaction (`BEGIN IMMEDIATE`) serialises
//! it, and on PostgreSQL a transaction-scoped advisory lock does (an instance that does not get
//! it leaves the work to the one that has it), so events are taken strictly in
//! `(occurred_at, id)` order. The unique `(subscription_id, change_event_id)` index and
//! `ON CONFLICT DO NOTHING` make a repeated run harmless all the same.

use std::time::Instant;

use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Date, Nullable, Text, Timestamp};

use super::audience::{open_window_participants, Audience, Participation, Reader};
use super::model::{Filters, SubscriptionRow};
use super::{Mode, NotificationKind, NotificationStatus, SubscriptionStatus};
use crate::auth::{OrgKind, Role};
use crate::db::schema::{change_events as ce, organisations, subscriptions as s, users};
use crate::db::{new_id, now, write_tx, DbBackend, DbConn, OrgId};
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

/// A change event, as the fan-out needs it, as stored: each event is read on its own
/// ([`PendingEvent::decode`]), so that one unreadable row cannot stop the queue.
#[derive(Debug, Clone, Queryable)]
pub struct PendingEvent {
    pub id: String,
    pub occurred_at: NaiveDateTime,
    pub topic: String,
    pub kind: String,
    pub entity_type: String,
    /// Who may hear of it, as its producer stated ([`Audience`]).
    pub audience: String,
    pub device_types_json: String,
    pub device_model_ids_json: String,
    pub manufacturer_org_ids_json: String,
    pub uit_window_ids_json: String,
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
            ce::audience,
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
    let decoded: Vec<Option<Decoded>> = events.iter().map(PendingEvent::decode).collect();
    participation.load_windows(conn, decoded.iter().flatten().map(|d| &d.audience))?;
    let mut rows = Vec::new();
    let mut consumed = Vec::new();
    for (event, decoded) in events.iter().zip(&decoded) {
        if let Some(decoded) = decoded {
            notifications_for(event, decoded, &subscribers, &participation, now, &mut rows);
        }
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

/// What the fan-out reads of a stored change event.
pub struct Decoded {
    topic: Topic,
    audience: Audience,
    lists: [Vec<String>; 4],
}

impl PendingEvent {
    /// The event's topic, audience and lists; `None`, logged as an error, for an event whose
    /// stored topic or JSON does not read (it reaches nobody rather than a guessed audience).
    fn decode(&self) -> Option<Decoded> {
        let read = || -> Result<Decoded, String> {
            let topic = Topic::parse(&self.topic).ok_or_else(|| format!("unknown topic {:?}", self.topic))?;
            let audience: Audience = serde_json::from_str(&self.audience).map_err(|e| format!("audience: {e}"))?;
            let list = |s: &str| serde_json::from_str::<Vec<String>>(s).map_err(|e| format!("list {s:?}: {e}"));
            let lists = [
                list(&self.device_types_json)?,
                list(&self.device_model_ids_json)?,
                list(&self.manufacturer_org_ids_json)?,
                list(&self.uit_window_ids_json)?,
            ];
            Ok(Decoded { topic, audience, lists })
        };
        match read() {
            Ok(d) if d.audience == Audience::Nobody => {
                tracing::warn!(event_id = %self.id, entity_type = %self.entity_type, "change event with no audience reaches nobody");
                None
            }
            Ok(d) => Some(d),
            Err(error) => {
                tracing::error!(event_id = %self.id, %error, "stored change event does not read; it reaches nobody");
                None
            }
        }
    }
}

/// Appends the notifications of `event` for the subscribers it matches.
fn notifications_for(
    event: &PendingEvent,
    decoded: &Decoded,
    subscribers: &[Subscriber],
    participation: &Participation,
    now: NaiveDateTime,
    rows: &mut Vec<NewNotification>,
) {
    let Decoded {
        topic,
        ref audience,
        lists: [ref types, ref models, ref makers, ref windows],
    } = *decoded;
    let today = now.date();
    for sub in subscribers {
        if event.occurred_at < sub.active_since
            || !sub.topics.contains(&topic)
            || !sub.filters.matches(types, models, makers, windows)
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

/// Writes `rows`, skipping any (subscription, event) pair that exists; returns how many it
/// wrote. Multi-row INSERTs with bound values (diesel's batch insert cannot add
/// `ON CONFLICT DO NOTHING` on SQLite).
pub fn insert(conn: &mut DbConn, rows: &[NewNotification]) -> Result<usize, ApiError> {
    let mut written = 0;
    for chunk in rows.chunks(INSERT_CHUNK) {
        let sql = format!(
            "INSERT INTO notifications (id, kind, subscription_id, change_event_id, digest_day, recipient, \
             status, attempts, next_attempt_at, created_at, updated_at) VALUES {} ON CONFLICT DO NOTHING",
            crate::db::sql::values_clause(conn, chunk.len(), 10, Some((7, "0")))
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
    Option<OrgId>,
    Option<Role>,
    Option<OrgKind>,
);

/// Every active subscription with its recipient and, for users, their organisation and role.
pub fn active_subscribers(conn: &mut DbConn) -> QueryResult<Vec<Subscriber>> {
    let rows: Vec<SubscriberRow> = s::table
        .left_join(users::table.left_join(organisations::table))
        .filter(s::status.eq(SubscriptionStatus::Active))
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
                (Some(_), Some(org_id), Some(role), Some(org_kind)) => Some(Reader { org_id, org_kind, role }),
                // A user's subscription without its user: nothing to send.
                (Some(_), ..) => return None,
            };
            let recipient = row.email.clone().or(user_email)?;
            let active_since = row.confirmed_at.unwrap_or(row.created_at);
            Some(Subscriber {
                active_since,
                topics: row.topics(),
                filters: row.filters(),
                mode: row.mode,
                id: row.id,
                recipient,
                reader,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

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
            manufacturer_org_ids: vec!["m1".into()],
            ..Filters::default()
        };
        assert!(both.matches(&v(&["ESME"]), &v(&["p"]), &v(&["m1", "m2"]), &[]));
        assert!(!both.matches(&v(&["ESME"]), &v(&["p"]), &v(&["m2"]), &[]));
        let window = Filters {
            uit_window_ids: vec!["w1".into()],
            ..Filters::default()
        };
        assert!(window.matches(&[], &[], &[], &v(&["w1"])));
        assert!(!window.matches(&[], &[], &[], &v(&["w2"])));
        assert!(!window.matches(&[], &[], &[], &[]), "a release is in no window");
    }
}
