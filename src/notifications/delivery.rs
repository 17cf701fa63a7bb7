//! Notification delivery: the `notifications` table as a [`jobs::Queue`]. A claim marks up
//! to `notification_batch_size` rows `sending` under a lease until `now +
//! notification_lease_seconds` (kept in `next_attempt_at`, so an expired lease simply makes the
//! row due again); an attempt renders the change or digest for its subscriber and sends it;
//! each attempt is logged in `notification_deliveries`. Leases, backoff, dead letters and the
//! worker loop are the runner's (`crate::jobs`).

use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable, Text, Timestamp};
use lettre::message::Mailbox;
use sha2::{Digest, Sha256};

use super::changes::Context;
use super::email::{self, Recipient};
use super::{NotificationKind, NotificationStatus, SubscriptionStatus};
use crate::db::schema::notifications as n;
use crate::db::{new_id, write_tx, DbBackend, DbConn};
use crate::jobs::{backoff, Lease, Outcome, Queue, Runner};
use crate::mail::transport::{build_message, Transport};
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

#[derive(Debug, Clone, QueryableByName)]
pub struct Claimed {
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
crate::jobs::leased!(Claimed);

/// The notifications queue: what an attempt needs to render and send.
pub struct Notifications {
    transport: Arc<Transport>,
    from: Mailbox,
    domain: String,
    public_url: String,
}

/// The notification workers' runner.
pub type Delivery = Runner<Notifications>;

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

/// The runner of the notifications queue, with `notification_batch_size` and
/// `notification_lease_seconds`.
pub fn runner(state: &AppState, transport: Arc<Transport>) -> anyhow::Result<Delivery> {
    let config = &state.config;
    let queue = Notifications {
        transport,
        from: config.mail_from.parse()?,
        domain: message_domain(&config.public_url),
        public_url: config.public_url.trim_end_matches('/').to_string(),
    };
    let (batch, lease) = (
        config.notification_batch_size,
        Duration::seconds(config.notification_lease_seconds),
    );
    Ok(Runner::for_email(
        state,
        queue,
        state.notification_wake.clone(),
        batch,
        lease,
    ))
}

impl Queue for Notifications {
    const NAME: &'static str = "notifications";
    const DUE: &'static str = DUE;
    const CLAIM: &'static str = CLAIM;
    type Job = Claimed;
    type Context = Context;

    fn context(&self, conn: &mut DbConn, batch: &[Claimed]) -> QueryResult<Context> {
        let subscriptions = batch.iter().map(|c| c.subscription_id.as_str()).collect();
        let events = batch.iter().filter_map(|c| c.change_event_id.as_deref()).collect();
        let digests = batch
            .iter()
            .filter(|c| c.kind == NotificationKind::Digest)
            .map(|c| c.id.as_str())
            .collect();
        Context::load(conn, subscriptions, events, digests)
    }

    fn attempt(&self, job: &Claimed, context: &Context) -> Outcome {
        self.send_one(job, context)
    }

    fn record(&self, conn: &mut DbConn, lease: &Lease, batch: &[Claimed], outcomes: &[Outcome]) -> QueryResult<()> {
        record(conn, lease, batch, outcomes)
    }
}

impl Notifications {
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
        let sent = build_message(
            &self.from,
            &item.recipient,
            &message_id(&item.id, &item.recipient, &self.domain),
            &rendered.subject,
            rendered.text,
            rendered.html,
            &headers,
        )
        .and_then(|m| self.transport.send(&m));
        Outcome::of_send(sent)
    }
}

/// Writes the outcomes of a batch where the rows still carry `lease`, and logs each attempt.
fn record(conn: &mut DbConn, lease: &Lease, batch: &[Claimed], outcomes: &[Outcome]) -> QueryResult<()> {
    let now = crate::db::now();
    let lease = lease.id.as_str();
    let ids_where = |pick: fn(&Outcome) -> bool| -> Vec<&str> {
        batch
            .iter()
            .zip(outcomes)
            .filter(|(_, o)| pick(o))
            .map(|(c, _)| c.id.as_str())
            .collect()
    };
    let sent = ids_where(|o| matches!(o, Outcome::Done));
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
                Outcome::Done => {
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
}
