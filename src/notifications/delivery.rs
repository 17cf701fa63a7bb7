//! Delivery workers: lease a batch of due notifications, render and send them, record each
//! outcome and the attempt in the delivery log.
//!
//! A claim marks up to `notification_batch_size` rows `sending` under a fresh lease id until
//! `now + notification_lease_seconds` (kept in `next_attempt_at`, so an expired lease simply
//! makes the row due again). On PostgreSQL the claim skips rows other workers have locked
//! (`FOR UPDATE SKIP LOCKED`); on SQLite the write transaction serialises claims. A worker
//! stops starting sends once half the lease has gone and hands the rest back, so a batch
//! never outlives its lease while the worker lives; outcomes are written only where the row
//! still carries the worker's lease. A worker that dies leaves its rows to be retried when the
//! lease ends: delivery is at least once, and the duplicates are at most the rows in flight.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, NaiveDate};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamp};
use lettre::message::Mailbox;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use super::changes::Context;
use super::email::{self, Recipient};
use super::{NotificationKind, NotificationStatus, SubscriptionStatus};
use crate::db::schema::notifications as n;
use crate::db::{new_id, now, write_tx, Db, DbBackend, DbConn};
use crate::http::metrics::Metrics;
use crate::mail::transport::{build_message_with_headers, SendError, Transport};
use crate::AppState;

/// The claim: due rows (pending, failed and retry-due, or `sending` with an expired lease),
/// oldest due first. The literal status and kind terms match the `notifications_due` partial
/// index, which both planners then use.
const CLAIM: &str = "UPDATE notifications
    SET status = 'sending', attempts = attempts + 1, lease_id = $1, next_attempt_at = $2, updated_at = $3
    WHERE id IN (
        SELECT id FROM notifications
        WHERE status IN ('pending','failed','sending') AND kind <> 'digest_item' AND next_attempt_at <= $3
        ORDER BY next_attempt_at
        LIMIT $4 LOCKING)
    RETURNING id, kind, subscription_id, change_event_id, digest_day, recipient, attempts";

/// Whether anything is due, by the same partial index.
const DUE: &str = "SELECT id FROM notifications
    WHERE status IN ('pending','failed','sending') AND kind <> 'digest_item' AND next_attempt_at <= $1
    LIMIT 1";

#[derive(QueryableByName)]
struct DueRow {
    #[diesel(sql_type = Text)]
    #[allow(dead_code)]
    id: String,
}

#[derive(Debug, Clone, QueryableByName)]
struct Claimed {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    kind: NotificationKind,
    #[diesel(sql_type = Text)]
    subscription_id: String,
    #[diesel(sql_type = Nullable<Text>)]
    change_event_id: Option<String>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Date>)]
    digest_day: Option<NaiveDate>,
    #[diesel(sql_type = Text)]
    recipient: String,
    #[diesel(sql_type = Integer)]
    attempts: i32,
}

/// What happened to one claimed notification.
#[derive(Debug)]
enum Outcome {
    Sent,
    /// Failed; retried after a backoff.
    Failed(String),
    /// Failed for good (permanent SMTP error, or out of attempts).
    Dead(String),
    /// Its subscription ended before it went out.
    Cancelled,
    /// Not attempted (the lease was running out, or the worker is stopping); due again at once.
    Released,
}

/// Everything the workers share.
pub struct Delivery {
    db: Db,
    transport: Arc<Transport>,
    from: Mailbox,
    domain: String,
    public_url: String,
    max_attempts: i32,
    batch: i64,
    lease: Duration,
    poll: StdDuration,
    metrics: Arc<Metrics>,
    /// Wakes the workers when the fan-out or a retry queued something.
    pub wake: Arc<Notify>,
    stop: Arc<AtomicBool>,
}

/// The host part of the public URL: Message-ID and List-Id domain.
pub fn message_domain(public_url: &str) -> String {
    public_url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', ':']).next())
        .filter(|h| !h.is_empty())
        .unwrap_or("uit-portal.localhost")
        .to_string()
}

/// The Message-ID of a notification to a recipient: the same on every attempt, so a resend
/// is recognisable as one.
pub fn message_id(notification_id: &str, recipient: &str, domain: &str) -> String {
    let digest = Sha256::digest(recipient.trim().to_ascii_lowercase().as_bytes());
    format!("<n.{notification_id}.{}@{domain}>", &hex::encode(digest)[..12])
}

/// Notifications due or in flight, for `/metrics`.
pub fn depth(conn: &mut DbConn) -> QueryResult<i64> {
    n::table
        .filter(n::status.eq_any([
            NotificationStatus::Pending.as_str(),
            NotificationStatus::Failed.as_str(),
            NotificationStatus::Sending.as_str(),
        ]))
        .count()
        .get_result(conn)
}

fn backoff(attempts: i32) -> Duration {
    Duration::seconds((30i64 << (attempts - 1).clamp(0, 10)).min(3600))
}

impl Delivery {
    pub fn new(state: &AppState, transport: Arc<Transport>) -> anyhow::Result<Self> {
        let config = &state.config;
        Ok(Self {
            db: state.db.clone(),
            transport,
            from: config.mail_from.parse()?,
            domain: message_domain(&config.public_url),
            public_url: config.public_url.trim_end_matches('/').to_string(),
            max_attempts: config.mail_max_attempts,
            batch: config.notification_batch_size,
            lease: Duration::seconds(config.notification_lease_seconds),
            poll: StdDuration::from_millis(config.mail_poll_interval_ms.max(50)),
            metrics: state.metrics.clone(),
            wake: state.notification_wake.clone(),
            stop: state.stopping.clone(),
        })
    }

    /// Whether the process is shutting down.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The worker loop: drain, then wait for a wake-up or the poll interval.
    pub async fn run(self: Arc<Self>) {
        loop {
            if self.stopping() {
                return;
            }
            let this = self.clone();
            let span = tracing::info_span!("notification_worker");
            let _ = actix_web::rt::task::spawn_blocking(move || span.in_scope(|| this.drain())).await;
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.poll) => {}
            }
        }
    }

    /// Delivers due notifications until none are left; returns how many were attempted.
    pub fn drain(&self) -> usize {
        let mut attempted = 0;
        while !self.stopping() {
            let claimed = self
                .db
                .pool
                .get()
                .map_err(|e| e.to_string())
                .and_then(|mut conn| self.claim(&mut conn).map_err(|e| e.to_string()));
            match claimed {
                Ok((_, batch)) if batch.is_empty() => break,
                Ok((lease, batch)) => attempted += self.deliver(&lease, batch),
                Err(e) => {
                    tracing::warn!(error = %e, "notification claim failed");
                    break;
                }
            }
        }
        attempted
    }

    fn claim(&self, conn: &mut DbConn) -> QueryResult<(String, Vec<Claimed>)> {
        let lease = new_id();
        let now = now();
        // A read first: idle workers poll without taking SQLite's write lock.
        let due: Vec<DueRow> = diesel::sql_query(DUE).bind::<Timestamp, _>(now).load(conn)?;
        if due.is_empty() {
            return Ok((lease, Vec::new()));
        }
        let sql = match conn {
            DbConn::Pg(_) => CLAIM.replace("LOCKING", "FOR UPDATE SKIP LOCKED"),
            DbConn::Sqlite(_) => CLAIM.replace("LOCKING", ""),
        };
        let batch = write_tx(conn, |conn| {
            diesel::sql_query(&sql)
                .bind::<Text, _>(&lease)
                .bind::<Timestamp, _>(now + self.lease)
                .bind::<Timestamp, _>(now)
                .bind::<BigInt, _>(self.batch)
                .load::<Claimed>(conn)
        })?;
        Ok((lease, batch))
    }

    /// Sends a claimed batch and records the outcomes; returns how many were attempted.
    fn deliver(&self, lease: &str, batch: Vec<Claimed>) -> usize {
        let started = Instant::now();
        // Half the lease: a send started before it ends well inside the lease.
        let send_until = started + StdDuration::from_millis((self.lease.num_milliseconds() / 2).max(1) as u64);
        let context = match self.db.pool.get().map_err(|e| e.to_string()).and_then(|mut conn| {
            let subscriptions = batch.iter().map(|c| c.subscription_id.as_str()).collect();
            let events = batch.iter().filter_map(|c| c.change_event_id.as_deref()).collect();
            let digests = batch
                .iter()
                .filter(|c| c.kind == NotificationKind::Digest)
                .map(|c| c.id.as_str())
                .collect();
            Context::load(&mut conn, subscriptions, events, digests).map_err(|e| e.to_string())
        }) {
            Ok(c) => c,
            Err(e) => {
                // The lease runs out and the batch is claimed again.
                tracing::warn!(error = %e, "could not load what a notification batch needs");
                return 0;
            }
        };
        let mut outcomes = Vec::with_capacity(batch.len());
        for item in &batch {
            if Instant::now() >= send_until || self.stopping() {
                outcomes.push(Outcome::Released);
                continue;
            }
            outcomes.push(self.send_one(item, &context));
        }
        let attempted = outcomes.iter().filter(|o| !matches!(o, Outcome::Released)).count();
        let saved = self
            .db
            .pool
            .get()
            .map_err(|e| e.to_string())
            .and_then(|mut conn| record(&mut conn, lease, &batch, &outcomes).map_err(|e| e.to_string()));
        match saved {
            Ok(()) => {
                for outcome in &outcomes {
                    match outcome {
                        Outcome::Sent => self.metrics.mail("sent"),
                        Outcome::Failed(_) => self.metrics.mail("retry"),
                        Outcome::Dead(_) => self.metrics.mail("dead"),
                        Outcome::Cancelled | Outcome::Released => {}
                    }
                }
                tracing::debug!(
                    attempted,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "notification batch delivered"
                );
            }
            // The lease expires and the batch is tried again: at-least-once delivery.
            Err(e) => tracing::error!(error = %e, attempted, "could not record notification outcomes"),
        }
        attempted
    }

    fn send_one(&self, item: &Claimed, context: &Context) -> Outcome {
        let Some(sub) = context.subscriptions.get(&item.subscription_id) else {
            return Outcome::Cancelled;
        };
        if sub.status != SubscriptionStatus::Active {
            return Outcome::Cancelled;
        }
        let recipient = Recipient {
            topics: sub.topics(),
            filters: sub.filters(),
            mode: sub.mode,
            unsubscribe_token: sub.unsubscribe_token.clone(),
        };
        let rendered = match item.kind {
            NotificationKind::Digest => {
                let changes = context.digests.get(&item.id).map(Vec::as_slice).unwrap_or_default();
                if changes.is_empty() {
                    return Outcome::Cancelled;
                }
                let day = item.digest_day.unwrap_or_else(|| changes[0].occurred_at.date());
                email::render_digest(&self.public_url, &recipient, day, changes)
            }
            _ => match item.change_event_id.as_ref().and_then(|id| context.changes.get(id)) {
                Some(change) => email::render_change(&self.public_url, &recipient, change),
                None => return Outcome::Dead("the change event is gone".into()),
            },
        };
        let unsubscribe = super::model::unsubscribe_url(&self.public_url, &sub.unsubscribe_token);
        let headers = [
            (
                "List-Id",
                format!("UIT Portal notifications <notifications.{}>", self.domain),
            ),
            ("List-Unsubscribe", format!("<{unsubscribe}>")),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click".to_string()),
            ("Auto-Submitted", "auto-generated".to_string()),
        ];
        let sent = build_message_with_headers(
            &self.from,
            &item.recipient,
            &message_id(&item.id, &item.recipient, &self.domain),
            &rendered.subject,
            rendered.text,
            rendered.html,
            &headers,
        )
        .and_then(|m| self.transport.send(&m));
        match sent {
            Ok(()) => Outcome::Sent,
            Err(SendError {
                permanent: true,
                message,
            }) => Outcome::Dead(message),
            Err(SendError { message, .. }) if item.attempts >= self.max_attempts => Outcome::Dead(message),
            Err(SendError { message, .. }) => Outcome::Failed(message),
        }
    }
}

/// Writes the outcomes of a batch where the rows still carry `lease`, and logs each attempt.
fn record(conn: &mut DbConn, lease: &str, batch: &[Claimed], outcomes: &[Outcome]) -> QueryResult<()> {
    let now = now();
    let ids_where = |pick: fn(&Outcome) -> bool| -> Vec<&str> {
        batch
            .iter()
            .zip(outcomes)
            .filter(|(_, o)| pick(o))
            .map(|(c, _)| c.id.as_str())
            .collect()
    };
    let sent = ids_where(|o| matches!(o, Outcome::Sent));
    let cancelled = ids_where(|o| matches!(o, Outcome::Cancelled));
    let released = ids_where(|o| matches!(o, Outcome::Released));
    write_tx(conn, |conn| {
        let leased = n::lease_id.eq(lease);
        if !sent.is_empty() {
            diesel::update(n::table.filter(n::id.eq_any(&sent)).filter(leased))
                .set((
                    n::status.eq(NotificationStatus::Sent),
                    n::sent_at.eq(now),
                    n::last_error.eq(None::<String>),
                    n::lease_id.eq(None::<String>),
                    n::next_attempt_at.eq(now),
                    n::updated_at.eq(now),
                ))
                .execute(conn)?;
        }
        if !cancelled.is_empty() {
            diesel::update(n::table.filter(n::id.eq_any(&cancelled)).filter(leased))
                .set((
                    n::status.eq(NotificationStatus::Cancelled),
                    n::lease_id.eq(None::<String>),
                    n::next_attempt_at.eq(now),
                    n::updated_at.eq(now),
                ))
                .execute(conn)?;
        }
        if !released.is_empty() {
            diesel::update(n::table.filter(n::id.eq_any(&released)).filter(leased))
                .set((
                    n::status.eq(NotificationStatus::Pending),
                    n::attempts.eq(n::attempts - 1),
                    n::lease_id.eq(None::<String>),
                    n::next_attempt_at.eq(now),
                    n::updated_at.eq(now),
                ))
                .execute(conn)?;
        }
        let mut log = Vec::new();
        for (item, outcome) in batch.iter().zip(outcomes) {
            let (status, error, next) = match outcome {
                Outcome::Failed(e) => (NotificationStatus::Failed, e, now + backoff(item.attempts)),
                Outcome::Dead(e) => (NotificationStatus::Dead, e, now),
                Outcome::Sent => {
                    log.push((item, "sent", None));
                    continue;
                }
                Outcome::Cancelled => {
                    log.push((item, "cancelled", None));
                    continue;
                }
                Outcome::Released => continue,
            };
            diesel::update(n::table.find(&item.id).filter(n::lease_id.eq(lease)))
                .set((
                    n::status.eq(status),
                    n::last_error.eq(error),
                    n::lease_id.eq(None::<String>),
                    n::next_attempt_at.eq(next),
                    n::updated_at.eq(now),
                ))
                .execute(conn)?;
            log.push((item, status.as_str(), Some(error.as_str())));
        }
        for chunk in log.chunks(500) {
            // One multi-row INSERT per chunk.
            let sql = format!(
                "INSERT INTO notification_deliveries (id, notification_id, attempt, attempted_at, outcome, error) \
                 VALUES {}",
                crate::db::sql::values_clause(conn, chunk.len(), 6, None)
            );
            let mut query = diesel::sql_query(sql).into_boxed::<DbBackend>();
            for (item, outcome, error) in chunk {
                query = query
                    .bind::<Text, _>(new_id())
                    .bind::<Text, _>(item.id.clone())
                    .bind::<Integer, _>(item.attempts)
                    .bind::<Timestamp, _>(now)
                    .bind::<Text, _>(*outcome)
                    .bind::<Nullable<Text>, _>(error.map(str::to_string));
            }
            query.execute(conn)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_stable_per_notification_and_recipient() {
        let a = message_id("n1", "A@Example.org", "uit.example.org");
        assert_eq!(a, message_id("n1", "a@example.org ", "uit.example.org"));
        assert_ne!(a, message_id("n1", "b@example.org", "uit.example.org"));
        assert_ne!(a, message_id("n2", "a@example.org", "uit.example.org"));
        assert!(a.starts_with("<n.n1.") && a.ends_with("@uit.example.org>"));
        assert_eq!(message_domain("https://uit.example.org:8443/base"), "uit.example.org");
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(1), Duration::seconds(30));
        assert_eq!(backoff(2), Duration::seconds(60));
        assert_eq!(backoff(20), Duration::seconds(3600));
    }
}
