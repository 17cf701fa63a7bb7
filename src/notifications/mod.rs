//! Email notifications: subscriptions, the fan-out of change events into a notification
//! outbox, delivery workers, daily digests, reminders and one-click unsubscribe.
//!
//! The flow: a change records a change event in its own transaction (`events`). The fan-out
//! takes pending events in `(occurred_at, id)` order and, in one transaction per batch, writes
//! one notification per matching subscriber who may read the subject and marks the events
//! consumed, so a crash loses or doubles nothing. Delivery workers lease due notifications in
//! batches, render them from templates and send them over the shared (pooled) transport.
//! Daily-digest subscribers' notifications wait until their day is over and go out as one
//! email. Unsubscribing cancels whatever was not sent yet.

pub mod audience;
pub mod changes;
pub mod delivery;
pub mod digest;
pub mod email;
pub mod fanout;
pub mod model;
pub mod operator;
pub mod recent;
pub mod reminders;
pub mod subscriptions;
pub mod unsubscribe;
pub mod wording;

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;

use crate::AppState;

crate::text_enum!(
    /// When a subscriber hears of a change: at once, or in one email the day after.
    Mode {
        Immediate => "immediate",
        DailyDigest => "daily_digest",
    }
);

crate::text_enum!(
    /// `pending` until an address without an account confirms; `unsubscribed` for good.
    SubscriptionStatus {
        Pending => "pending",
        Active => "active",
        Unsubscribed => "unsubscribed",
    }
);

crate::text_enum!(
    /// Where a notification is: `pending` (due at `next_attempt_at`), `sending` (leased by a
    /// worker), `sent`, `failed` (the last attempt failed; retried with backoff), `dead` (gave
    /// up), `cancelled` (its subscription ended first), `digested` (folded into a digest).
    NotificationStatus {
        Pending => "pending",
        Sending => "sending",
        Sent => "sent",
        Failed => "failed",
        Dead => "dead",
        Cancelled => "cancelled",
        Digested => "digested",
    }
);

crate::text_enum!(
    /// `event`: one change, sent at once; `digest_item`: one change waiting for its daily
    /// digest; `digest`: a day of changes in one email.
    NotificationKind {
        Event => "event",
        DigestItem => "digest_item",
        Digest => "digest",
    }
);

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(subscriptions::create_subscription)
        .service(subscriptions::list_subscriptions)
        .service(subscriptions::confirm_subscription)
        .service(subscriptions::get_subscription)
        .service(subscriptions::update_subscription)
        .service(subscriptions::delete_subscription)
        .service(unsubscribe::unsubscribe_page)
        .service(unsubscribe::unsubscribe)
        .service(operator::list_notifications)
        .service(operator::retry_notification);
}

/// Starts, on this instance, the fan-out and digest loop and `notification_workers` delivery
/// workers (none of them when it is 0), plus the retirement reminder clock.
pub fn start(state: &web::Data<AppState>, transport: Arc<crate::mail::transport::Transport>) -> anyhow::Result<()> {
    reminders::start(state);
    let workers = state.config.notification_workers;
    if workers == 0 {
        return Ok(());
    }
    let delivery = Arc::new(delivery::runner(state, transport)?);
    actix_web::rt::spawn(pump(state.clone(), delivery.clone()));
    for _ in 0..workers {
        actix_web::rt::spawn(delivery.clone().run());
    }
    Ok(())
}

/// The fan-out and digest loop: looks for pending change events and due digests every
/// `mail_poll_interval_ms`, and wakes the delivery workers when it queued something.
async fn pump(state: web::Data<AppState>, delivery: Arc<delivery::Delivery>) {
    let poll = Duration::from_millis(state.config.mail_poll_interval_ms.max(50));
    let hour = state.config.notification_digest_hour;
    loop {
        if delivery.stopping() {
            return;
        }
        let db = state.db.clone();
        let span = tracing::info_span!("notification_pump");
        let queued = actix_web::rt::task::spawn_blocking(move || {
            span.in_scope(|| {
                let mut conn = match db.pool.get() {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "notification pump: no database connection");
                        return 0;
                    }
                };
                let mut queued = 0;
                match fanout::run(&mut conn) {
                    Ok(n) => queued += n,
                    Err(e) => tracing::warn!(error = %e, "fan-out failed; retrying next tick"),
                }
                match digest::assemble(&mut conn, crate::db::now(), hour) {
                    Ok(n) => queued += n,
                    Err(e) => tracing::warn!(error = %e, "digest assembly failed; retrying next tick"),
                }
                queued
            })
        })
        .await
        .unwrap_or(0);
        if queued > 0 {
            delivery.wake.notify_waiters();
        }
        tokio::time::sleep(poll).await;
    }
}
