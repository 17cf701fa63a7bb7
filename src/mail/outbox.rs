//! The mail outbox: emails are written in the same transaction as the change that causes
//! them, and delivery workers send them with leases, retries and exponential backoff.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lettre::message::Mailbox;
use tokio::sync::Notify;

use super::templates::Rendered;
use super::transport::{build_message, Transport};
use crate::db::schema::mail_outbox as mo;
use crate::db::{new_id, now, write_tx, Db, DbConn};
use crate::http::metrics::Metrics;
use crate::http::ApiError;

// A batch is sent one by one with a 20 s SMTP timeout each, so BATCH * 20 s must stay well
// under the lease, or another worker could take a row that is still being sent.
const LEASE_SECONDS: i64 = 300;
const BATCH: i64 = 5;

/// Queues one email; call inside the transaction of the change that causes it.
pub fn enqueue(conn: &mut DbConn, recipient: &str, email: &Rendered) -> Result<String, ApiError> {
    let id = new_id();
    let now = now();
    diesel::insert_into(mo::table)
        .values((
            mo::id.eq(&id),
            mo::recipient.eq(recipient),
            mo::template.eq(email.template),
            mo::subject.eq(&email.subject),
            mo::body_text.eq(&email.text),
            mo::body_html.eq(&email.html),
            mo::status.eq("pending"),
            mo::attempts.eq(0),
            mo::next_attempt_at.eq(now),
            mo::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Emails waiting to go out.
pub fn depth(conn: &mut DbConn) -> QueryResult<i64> {
    mo::table.filter(mo::status.eq("pending")).count().get_result(conn)
}

#[derive(Debug, Queryable)]
struct Claimed {
    id: String,
    recipient: String,
    subject: String,
    body_text: String,
    body_html: String,
    attempts: i32,
}

/// Leases up to `BATCH` due emails. The conditional update makes a row go to one worker
/// only, also across instances on PostgreSQL (a concurrent claimer re-checks `locked_until`
/// after the first commit and updates nothing).
fn claim(conn: &mut DbConn) -> QueryResult<Vec<Claimed>> {
    write_tx(conn, |conn| {
        let now = now();
        let free = mo::locked_until.is_null().or(mo::locked_until.lt(now));
        let ids: Vec<String> = mo::table
            .filter(mo::status.eq("pending").and(mo::next_attempt_at.le(now)).and(free))
            .order(mo::next_attempt_at)
            .select(mo::id)
            .limit(BATCH)
            .load(conn)?;
        let mut claimed = Vec::new();
        for id in ids {
            let free = mo::locked_until.is_null().or(mo::locked_until.lt(now));
            let n = diesel::update(mo::table.find(&id).filter(free))
                .set((
                    mo::locked_until.eq(now + chrono::Duration::seconds(LEASE_SECONDS)),
                    mo::attempts.eq(mo::attempts + 1),
                ))
                .execute(conn)?;
            if n == 1 {
                claimed.push(
                    mo::table
                        .find(&id)
                        .select((
                            mo::id,
                            mo::recipient,
                            mo::subject,
                            mo::body_text,
                            mo::body_html,
                            mo::attempts,
                        ))
                        .first(conn)?,
                );
            }
        }
        Ok(claimed)
    })
}

fn backoff(attempts: i32) -> chrono::Duration {
    chrono::Duration::seconds((30i64 << attempts.clamp(0, 10)).min(3600))
}

/// What the worker needs.
pub struct Delivery {
    pub db: Db,
    pub transport: Arc<Transport>,
    pub from: Mailbox,
    pub message_domain: String,
    pub max_attempts: i32,
    pub wake: Arc<Notify>,
    pub poll: Duration,
    pub metrics: Arc<Metrics>,
}

impl Delivery {
    /// Delivers due emails until none are left; returns how many were attempted.
    pub fn drain(&self) -> usize {
        let mut attempted = 0;
        loop {
            let batch = match self
                .db
                .pool
                .get()
                .map_err(|e| e.to_string())
                .and_then(|mut c| claim(&mut c).map_err(|e| e.to_string()))
            {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "mail outbox claim failed");
                    return attempted;
                }
            };
            if batch.is_empty() {
                return attempted;
            }
            for email in batch {
                attempted += 1;
                self.deliver(email);
            }
        }
    }

    fn deliver(&self, email: Claimed) {
        let message_id = format!("<{}@{}>", email.id, self.message_domain);
        let result = build_message(
            &self.from,
            &email.recipient,
            &message_id,
            &email.subject,
            email.body_text,
            email.body_html,
        )
        .and_then(|m| self.transport.send(&m));
        let now = now();
        let (outcome, last_error, next_attempt_at, sent_at) = match &result {
            Ok(()) => ("sent", None, now, Some(now)),
            Err(e) if e.permanent || email.attempts >= self.max_attempts => {
                ("dead", Some(e.message.clone()), now, None)
            }
            Err(e) => ("retry", Some(e.message.clone()), now + backoff(email.attempts), None),
        };
        let status = if outcome == "retry" { "pending" } else { outcome };
        let saved = self.db.pool.get().map_err(|e| e.to_string()).and_then(|mut conn| {
            diesel::update(mo::table.find(&email.id))
                .set((
                    mo::status.eq(status),
                    mo::last_error.eq(&last_error),
                    mo::next_attempt_at.eq(next_attempt_at),
                    mo::sent_at.eq(sent_at),
                    mo::locked_until.eq(None::<NaiveDateTime>),
                ))
                .execute(&mut **conn)
                .map_err(|e| e.to_string())
        });
        if let Err(e) = saved {
            // The lease expires and the email is tried again: at-least-once delivery.
            tracing::error!(outbox_id = %email.id, error = %e, "could not record delivery outcome");
            return;
        }
        // Counted once the outcome is stored, so metrics never run ahead of the outbox.
        self.metrics.mail(outcome);
        let error = last_error.as_deref().unwrap_or_default();
        match outcome {
            "sent" => tracing::info!(outbox_id = %email.id, "email sent"),
            "dead" => tracing::error!(outbox_id = %email.id, error, attempts = email.attempts, "email dead"),
            _ => tracing::warn!(outbox_id = %email.id, error, attempts = email.attempts, "email will be retried"),
        }
    }

    /// The worker loop: wake on new mail or every poll interval, then drain.
    pub async fn run(self: Arc<Self>) {
        loop {
            let this = self.clone();
            let span = tracing::info_span!("mail_worker");
            let _ = actix_web::rt::task::spawn_blocking(move || span.in_scope(|| this.drain())).await;
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.poll) => {}
            }
        }
    }
}
