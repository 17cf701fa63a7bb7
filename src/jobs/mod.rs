//! One job runner for the queues that send email: the account-mail outbox (`mail::outbox`)
//! and notifications (`notifications::delivery`).
//!
//! A [`Queue`] says where its jobs are (the SQL that finds and leases due rows), what one
//! attempt does and how outcomes are stored; the [`Runner`] does the rest, the same way for
//! both:
//!
//! - **Claim.** A read first (idle workers poll without taking SQLite's write lock), then one
//!   `UPDATE .. WHERE id IN (SELECT .. LIMIT n) RETURNING ..` that stamps the rows with a fresh
//!   lease id until `now + lease` and counts the attempt. On PostgreSQL the inner select skips
//!   rows other workers have locked (`FOR UPDATE SKIP LOCKED`); on SQLite the write
//!   transaction serialises claims.
//! - **Lease.** The worker stops starting attempts once half the lease has gone and hands the
//!   rest back ([`Outcome::Released`]), so a batch never outlives its lease while the worker
//!   lives. Outcomes are written only where the row still carries the worker's lease. A worker
//!   that dies leaves its rows to be retried when the lease ends: delivery is at least once,
//!   and the duplicates are at most the rows in flight.
//! - **Backoff and dead letters.** A failed attempt is retried after [`backoff`] (30 s,
//!   doubling, at most an hour); a permanent failure, or a failure on the last allowed attempt
//!   (`mail_max_attempts`), is dead: kept with its error for the operator, never retried by
//!   itself.
//! - **Loop.** Drain until nothing is due, then sleep until woken (a change queued something)
//!   or the poll interval passes; stop when the server stops.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use tokio::sync::Notify;

use crate::db::{new_id, now, write_tx, Db, DbBackend, DbConn};
use crate::http::metrics::Metrics;
use crate::mail::transport::SendError;
use crate::AppState;

/// What happened to one claimed job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Failed; retried after [`backoff`].
    Failed(String),
    /// Failed for good (permanent error, or out of attempts): the dead letter.
    Dead(String),
    /// Nothing to do any more (e.g. the subscription ended before it went out).
    Cancelled,
    /// Not attempted (the lease was running out, or the worker is stopping); due again at once.
    Released,
}

impl Outcome {
    /// The outcome of a send: a permanent SMTP error is dead at once.
    pub fn of_send(sent: Result<(), SendError>) -> Self {
        match sent {
            Ok(()) => Outcome::Done,
            Err(SendError {
                permanent: true,
                message,
            }) => Outcome::Dead(message),
            Err(SendError { message, .. }) => Outcome::Failed(message),
        }
    }

    /// The name `/metrics` counts it under, if it counts.
    fn metric(&self) -> Option<&'static str> {
        match self {
            Outcome::Done => Some("sent"),
            Outcome::Failed(_) => Some("retry"),
            Outcome::Dead(_) => Some("dead"),
            Outcome::Cancelled | Outcome::Released => None,
        }
    }
}

/// How long a job waits after its `attempts`-th attempt failed: 30 s, doubling, at most an hour.
pub fn backoff(attempts: i32) -> Duration {
    Duration::seconds((30i64 << (attempts - 1).clamp(0, 10)).min(3600))
}

/// One claim: its id (stamped on the rows), when it was made and until when it holds.
#[derive(Debug, Clone)]
pub struct Lease {
    pub id: String,
    pub now: NaiveDateTime,
    pub until: NaiveDateTime,
}

/// A claimed job as the runner sees it: its row's id and its attempts so far, this one
/// included. [`leased!`] implements it for a row with `id: String` and `attempts: i32`.
pub trait Leased {
    fn id(&self) -> &str;
    fn attempts(&self) -> i32;
}

/// `impl Leased` for a claimed-job row type with the fields `id` and `attempts`.
macro_rules! leased {
    ($job:ty) => {
        impl $crate::jobs::Leased for $job {
            fn id(&self) -> &str {
                &self.id
            }

            fn attempts(&self) -> i32 {
                self.attempts
            }
        }
    };
}
pub(crate) use leased;

/// A table of jobs.
pub trait Queue: Send + Sync + 'static {
    /// For logs: `mail_outbox`, `notifications`.
    const NAME: &'static str;
    /// Whether anything is due: binds `$1` now; any row means yes.
    const DUE: &'static str;
    /// The claim: binds `$1` lease id, `$2` lease end, `$3` now, `$4` batch size; `LOCKING`
    /// stands where the inner select takes its row locks; returns the leased jobs.
    const CLAIM: &'static str;

    type Job: Leased + QueryableByName<DbBackend> + Send + Sync + 'static;
    /// What a batch's attempts read, loaded once per batch.
    type Context;

    fn context(&self, conn: &mut DbConn, batch: &[Self::Job]) -> QueryResult<Self::Context>;
    /// One attempt (an email sent, usually).
    fn attempt(&self, job: &Self::Job, context: &Self::Context) -> Outcome;
    /// Stores the outcomes where the rows still carry `lease`; a `Failed` job is due again at
    /// `lease.now + backoff(attempts)`, a `Released` one at once with its attempt given back.
    fn record(&self, conn: &mut DbConn, lease: &Lease, batch: &[Self::Job], outcomes: &[Outcome]) -> QueryResult<()>;
}

/// How a runner works its queue.
#[derive(Debug, Clone)]
pub struct Settings {
    pub batch: i64,
    pub lease: Duration,
    pub poll: StdDuration,
    pub max_attempts: i32,
}

/// Works one queue; share it (`Arc`) between as many worker loops as wanted.
pub struct Runner<Q: Queue> {
    pub queue: Q,
    pub db: Db,
    pub settings: Settings,
    pub metrics: Arc<Metrics>,
    /// Wakes the workers when something was queued.
    pub wake: Arc<Notify>,
    pub stop: Arc<AtomicBool>,
}

impl<Q: Queue> Runner<Q> {
    /// A runner of one of the email queues on the app's database, metrics and shutdown flag:
    /// polled every `mail_poll_interval_ms` (at least 50 ms), up to `mail_max_attempts`.
    pub fn for_email(state: &AppState, queue: Q, wake: Arc<Notify>, batch: i64, lease: Duration) -> Self {
        let config = &state.config;
        Runner {
            queue,
            db: state.db.clone(),
            settings: Settings {
                batch,
                lease,
                poll: StdDuration::from_millis(config.mail_poll_interval_ms.max(50)),
                max_attempts: config.mail_max_attempts,
            },
            metrics: state.metrics.clone(),
            wake,
            stop: state.stopping.clone(),
        }
    }

    /// Whether the process is shutting down.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The worker loop: drain, then wait for a wake-up or the poll interval.
    pub async fn run(self: Arc<Self>) {
        while !self.stopping() {
            let this = self.clone();
            let span = tracing::info_span!("job_worker", queue = Q::NAME);
            let _ = actix_web::rt::task::spawn_blocking(move || span.in_scope(|| this.drain())).await;
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.settings.poll) => {}
            }
        }
    }

    /// Works due jobs until none are left; returns how many were attempted.
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
                Ok((lease, batch)) => attempted += self.work(&lease, batch),
                Err(error) => {
                    tracing::warn!(%error, queue = Q::NAME, "claim failed");
                    break;
                }
            }
        }
        attempted
    }

    fn claim(&self, conn: &mut DbConn) -> QueryResult<(Lease, Vec<Q::Job>)> {
        let now = now();
        let lease = Lease {
            id: new_id(),
            now,
            until: now + self.settings.lease,
        };
        #[derive(QueryableByName)]
        struct Due {
            #[diesel(sql_type = Text)]
            #[allow(dead_code)]
            id: String,
        }
        let due: Vec<Due> = diesel::sql_query(Q::DUE).bind::<Timestamp, _>(now).load(conn)?;
        if due.is_empty() {
            return Ok((lease, Vec::new()));
        }
        let sql = Q::CLAIM.replace("LOCKING", locking(conn));
        let batch = write_tx(conn, |conn| {
            diesel::sql_query(&sql)
                .bind::<Text, _>(&lease.id)
                .bind::<Timestamp, _>(lease.until)
                .bind::<Timestamp, _>(lease.now)
                .bind::<BigInt, _>(self.settings.batch)
                .load::<Q::Job>(conn)
        })?;
        Ok((lease, batch))
    }

    /// Attempts a claimed batch and records the outcomes; returns how many were attempted.
    fn work(&self, lease: &Lease, batch: Vec<Q::Job>) -> usize {
        let started = Instant::now();
        // Half the lease: an attempt started before it ends well inside the lease.
        let until = started + StdDuration::from_millis((self.settings.lease.num_milliseconds() / 2).max(1) as u64);
        let context = self
            .db
            .pool
            .get()
            .map_err(|e| e.to_string())
            .and_then(|mut conn| self.queue.context(&mut conn, &batch).map_err(|e| e.to_string()));
        let context = match context {
            Ok(c) => c,
            Err(error) => {
                // The lease runs out and the batch is claimed again.
                tracing::warn!(%error, queue = Q::NAME, "could not load what a batch needs");
                return 0;
            }
        };
        let outcomes: Vec<Outcome> = batch
            .iter()
            .map(|job| {
                if Instant::now() >= until || self.stopping() {
                    return Outcome::Released;
                }
                match self.queue.attempt(job, &context) {
                    Outcome::Failed(e) if job.attempts() >= self.settings.max_attempts => Outcome::Dead(e),
                    outcome => outcome,
                }
            })
            .collect();
        let attempted = outcomes.iter().filter(|o| **o != Outcome::Released).count();
        let saved = self.db.pool.get().map_err(|e| e.to_string()).and_then(|mut conn| {
            self.queue
                .record(&mut conn, lease, &batch, &outcomes)
                .map_err(|e| e.to_string())
        });
        match saved {
            Ok(()) => self.report(&batch, &outcomes, started),
            // The lease expires and the batch is tried again: at-least-once delivery.
            Err(error) => tracing::error!(%error, attempted, queue = Q::NAME, "could not record outcomes"),
        }
        attempted
    }

    /// Metrics and logs, once the outcomes are stored (so metrics never run ahead of the table).
    fn report(&self, batch: &[Q::Job], outcomes: &[Outcome], started: Instant) {
        for (job, outcome) in batch.iter().zip(outcomes) {
            if let Some(name) = outcome.metric() {
                self.metrics.mail(name);
            }
            let (id, attempts, queue) = (job.id(), job.attempts(), Q::NAME);
            match outcome {
                Outcome::Failed(error) => tracing::warn!(id, queue, %error, attempts, "job will be retried"),
                Outcome::Dead(error) => tracing::error!(id, queue, %error, attempts, "job dead"),
                Outcome::Done => tracing::debug!(id, queue, "job done"),
                Outcome::Cancelled | Outcome::Released => {}
            }
        }
        tracing::debug!(
            jobs = batch.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            queue = Q::NAME,
            "batch worked"
        );
    }
}

/// The row-locking clause of a claim's inner select on `conn`'s backend.
fn locking(conn: &DbConn) -> &'static str {
    match conn {
        DbConn::Pg(_) => "FOR UPDATE SKIP LOCKED",
        DbConn::Sqlite(_) => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(1), Duration::seconds(30));
        assert_eq!(backoff(2), Duration::seconds(60));
        assert_eq!(backoff(20), Duration::seconds(3600));
    }

    #[test]
    fn a_permanent_send_error_is_dead_at_once() {
        let err = |permanent| SendError {
            permanent,
            message: "550".into(),
        };
        assert_eq!(Outcome::of_send(Err(err(true))), Outcome::Dead("550".into()));
        assert_eq!(Outcome::of_send(Err(err(false))), Outcome::Failed("550".into()));
        assert_eq!(Outcome::of_send(Ok(())), Outcome::Done);
    }
}
