//! What the server queued as email, read from its database: the two outboxes (`mail_outbox`
//! for account emails, `notifications` for subscribers) and the end-of-test check that no
//! email was left unsent.
//!
//! Every `TestApp` runs the check when it is dropped at the end of a test that passed: it
//! waits (up to 10 s) while an email is still due to go out or a change still waits for its
//! fan-out to active subscribers, then fails naming every email that did not go out (given up
//! as `dead`, waiting for a retry after a refused attempt, or never taken by a worker). A test
//! whose emails are meant to fail says so first with [`TestApp::allow_unsent_mail_to`].
//!
//! Not checked: that a test read each email it caused. Most tests cause emails they are not
//! about (invitations, notifications to subscribers of what they change); what they send is
//! the business of the tests that read them.

use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use uit_portal::db::schema::{change_events as ce, mail_outbox as mo, notifications as n, subscriptions as s};
use uit_portal::notifications::{NotificationKind, NotificationStatus, SubscriptionStatus};

use crate::helpers::TestApp;

/// How long the check waits for the server to send what is due.
const SETTLE: Duration = Duration::from_secs(10);

/// The outboxes at one moment.
struct Outboxes {
    /// Emails (and changes to fan out) the server's workers should take now.
    due: usize,
    /// Emails that did not go out, described for the failure message.
    unsent: Vec<String>,
}

impl TestApp {
    /// Lets emails to recipients containing `fragment` stay unsent: for the tests of refused
    /// deliveries (the test SMTP server refuses `reject...` and `tempfail...` mailboxes) and of
    /// servers without workers. `""` allows every email.
    pub fn allow_unsent_mail_to(&self, fragment: &str) {
        self.unsent_allowed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(fragment.to_string());
    }

    /// The end-of-test check: panics naming the emails the server queued and did not send,
    /// once none is due any more (or after [`SETTLE`]).
    pub(crate) fn assert_no_mail_left_unsent(&self) {
        let allowed = self.unsent_allowed.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if allowed.iter().any(String::is_empty) {
            return;
        }
        let deadline = Instant::now() + SETTLE;
        let outboxes = loop {
            let outboxes = self.outboxes(&allowed);
            if outboxes.due == 0 || Instant::now() > deadline {
                break outboxes;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(
            outboxes.unsent.is_empty(),
            "{} email(s) the server queued were not sent by the end of the test (a test whose \
             emails are meant to fail calls app.allow_unsent_mail_to first):\n{}",
            outboxes.unsent.len(),
            outboxes.unsent.join("\n")
        );
    }

    fn outboxes(&self, allowed: &[String]) -> Outboxes {
        let fan_out = self.config.notification_workers > 0;
        let now = uit_portal::db::now();
        self.with_db(|conn| {
            let allowed = |recipient: &str| allowed.iter().any(|a| recipient.contains(a.as_str()));
            let mut due = 0;
            let mut unsent = Vec::new();
            type Row = (
                String,
                String,
                String,
                i32,
                NaiveDateTime,
                Option<NaiveDateTime>,
                Option<String>,
            );
            let mail: Vec<Row> = mo::table
                .filter(mo::status.ne("sent"))
                .select((
                    mo::recipient,
                    mo::template,
                    mo::status,
                    mo::attempts,
                    mo::next_attempt_at,
                    mo::locked_until,
                    mo::last_error,
                ))
                .load(conn)
                .expect("read the mail outbox");
            for (recipient, template, status, attempts, next, locked, error) in mail {
                if allowed(&recipient) {
                    continue;
                }
                if status == "pending" && (next <= now || locked.is_some_and(|l| l > now)) {
                    due += 1;
                }
                unsent.push(format!(
                    "  mail_outbox: {template} to {recipient}: {status} after {attempts} attempt(s){}",
                    error.map(|e| format!(" ({e})")).unwrap_or_default()
                ));
            }
            // A digest item is a line of a later digest, not an email: the digest is.
            let finished = [
                NotificationStatus::Sent,
                NotificationStatus::Cancelled,
                NotificationStatus::Digested,
            ]
            .map(NotificationStatus::as_str);
            type Notification = (String, String, String, i32, NaiveDateTime, Option<String>);
            let notifications: Vec<Notification> = n::table
                .filter(n::status.ne_all(finished))
                .filter(n::kind.ne(NotificationKind::DigestItem.as_str()))
                .select((
                    n::recipient,
                    n::kind,
                    n::status,
                    n::attempts,
                    n::next_attempt_at,
                    n::last_error,
                ))
                .load(conn)
                .expect("read the notifications");
            for (recipient, kind, status, attempts, next, error) in notifications {
                if allowed(&recipient) {
                    continue;
                }
                let sending = status == NotificationStatus::Sending.as_str();
                let waiting = status != NotificationStatus::Dead.as_str() && next <= now;
                if fan_out && (sending || waiting) {
                    due += 1;
                }
                unsent.push(format!(
                    "  notifications: {kind} to {recipient}: {status} after {attempts} attempt(s){}",
                    error.map(|e| format!(" ({e})")).unwrap_or_default()
                ));
            }
            // Changes not yet fanned out may still become notifications, if anyone listens.
            if fan_out {
                let listening: bool = diesel::select(diesel::dsl::exists(
                    s::table.filter(s::status.eq(SubscriptionStatus::Active.as_str())),
                ))
                .get_result(conn)
                .expect("read the subscriptions");
                if listening {
                    let waiting: i64 = ce::table
                        .filter(ce::consumed_at.is_null())
                        .count()
                        .get_result(conn)
                        .expect("read the change events");
                    due += waiting as usize;
                }
            }
            Outboxes { due, unsent }
        })
    }
}
