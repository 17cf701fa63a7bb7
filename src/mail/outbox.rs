//! The mail outbox: account emails (invitations, password resets) are written in the same
//! transaction as the change that causes them; the `mail_outbox` table is a [`Queue`] worked by
//! the job runner (`crate::jobs`: leases, retries with backoff, dead letters, the loop).

use std::sync::Arc;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use lettre::message::Mailbox;

use super::templates::Rendered;
use super::transport::{build_message, Transport};
use crate::db::schema::mail_outbox as mo;
use crate::db::{new_id, now, write_tx, DbConn};
use crate::http::ApiError;
use crate::jobs::{backoff, Lease, Outcome, Queue, Runner};
use crate::AppState;

/// A batch is sent one by one with a 20 s SMTP timeout each; the runner stops starting sends
/// at half the lease and hands the rest back.
const LEASE_SECONDS: i64 = 300;
const BATCH: i64 = 5;

crate::text_enum!(
    /// Where an account email is: `pending` (due at `next_attempt_at`), `sent`, or `dead`
    /// (gave up, or cancelled). The SQL of [`DUE`] and [`CLAIM`] spells `pending` literally.
    MailStatus {
        Pending => "pending",
        Sent => "sent",
        Dead => "dead",
    }
);

/// Due: pending, its retry time come, no live lease.
const DUE: &str = "SELECT id FROM mail_outbox
    WHERE status = 'pending' AND next_attempt_at <= $1 AND (locked_until IS NULL OR locked_until < $1)
    LIMIT 1";

/// The claim (see [`Queue::CLAIM`]): oldest due first.
const CLAIM: &str = "UPDATE mail_outbox
    SET attempts = attempts + 1, lease_id = $1, locked_until = $2
    WHERE id IN (
        SELECT id FROM mail_outbox
        WHERE status = 'pending' AND next_attempt_at <= $3 AND (locked_until IS NULL OR locked_until < $3)
        ORDER BY next_attempt_at
        LIMIT $4 LOCKING)
    RETURNING id, recipient, subject, body_text, body_html, attempts";

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
            mo::status.eq(MailStatus::Pending),
            mo::attempts.eq(0),
            mo::next_attempt_at.eq(now),
            mo::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Emails waiting to go out.
pub fn depth(conn: &mut DbConn) -> QueryResult<i64> {
    mo::table
        .filter(mo::status.eq(MailStatus::Pending))
        .count()
        .get_result(conn)
}

#[derive(Debug, QueryableByName)]
pub struct Claimed {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    recipient: String,
    #[diesel(sql_type = Text)]
    subject: String,
    #[diesel(sql_type = Text)]
    body_text: String,
    #[diesel(sql_type = Text)]
    body_html: String,
    #[diesel(sql_type = Integer)]
    attempts: i32,
}
crate::jobs::leased!(Claimed);

/// The outbox queue: how its emails go out.
pub struct Outbox {
    transport: Arc<Transport>,
    from: Mailbox,
    message_domain: String,
}

/// The mail workers' runner.
pub type Delivery = Runner<Outbox>;

/// The runner of the account-mail outbox over a shared transport.
pub fn runner(state: &AppState, transport: Arc<Transport>) -> anyhow::Result<Delivery> {
    let config = &state.config;
    let queue = Outbox {
        transport,
        from: config.mail_from.parse()?,
        message_domain: crate::notifications::delivery::message_domain(&config.public_url),
    };
    let lease = chrono::Duration::seconds(LEASE_SECONDS);
    Ok(Runner::for_email(state, queue, state.mail_wake.clone(), BATCH, lease))
}

impl Queue for Outbox {
    const NAME: &'static str = "mail_outbox";
    const DUE: &'static str = DUE;
    const CLAIM: &'static str = CLAIM;
    type Job = Claimed;
    type Context = ();

    fn context(&self, _: &mut DbConn, _: &[Claimed]) -> QueryResult<()> {
        Ok(())
    }

    fn attempt(&self, email: &Claimed, _: &()) -> Outcome {
        let message_id = format!("<{}@{}>", email.id, self.message_domain);
        let sent = build_message(
            &self.from,
            &email.recipient,
            &message_id,
            &email.subject,
            email.body_text.clone(),
            email.body_html.clone(),
            &[],
        )
        .and_then(|m| self.transport.send(&m));
        Outcome::of_send(sent)
    }

    /// `sent` and `dead` are final; a failure waits for its backoff; a released email is due
    /// at once with its attempt given back. Only rows still under `lease` are written.
    fn record(&self, conn: &mut DbConn, lease: &Lease, batch: &[Claimed], outcomes: &[Outcome]) -> QueryResult<()> {
        let now = now();
        write_tx(conn, |conn| {
            for (email, outcome) in batch.iter().zip(outcomes) {
                let (status, error, next, sent_at, given_back) = match outcome {
                    Outcome::Done => (MailStatus::Sent, None, now, Some(now), 0),
                    Outcome::Dead(e) => (MailStatus::Dead, Some(e), now, None, 0),
                    Outcome::Failed(e) => (MailStatus::Pending, Some(e), now + backoff(email.attempts), None, 0),
                    Outcome::Cancelled => (MailStatus::Dead, None, now, None, 0),
                    Outcome::Released => (MailStatus::Pending, None, now, None, 1),
                };
                let mine = mo::table.find(&email.id).filter(mo::lease_id.eq(&lease.id));
                diesel::update(mine)
                    .set((
                        mo::status.eq(status),
                        mo::last_error.eq(error),
                        mo::attempts.eq(mo::attempts - given_back),
                        mo::next_attempt_at.eq(next),
                        mo::sent_at.eq(sent_at),
                        mo::locked_until.eq(None::<NaiveDateTime>),
                        mo::lease_id.eq(None::<String>),
                    ))
                    .execute(conn)?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_sql_names_the_pending_status() {
        let pending = format!("status = '{}'", MailStatus::Pending);
        assert!(DUE.contains(&pending));
        assert!(CLAIM.contains(&pending));
    }
}
