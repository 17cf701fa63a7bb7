//! Rate limits, kept in the database so that every instance on one database spends the same
//! budget (in-memory limiters gave N instances N times the budget).
//!
//! Each bucket is a sliding-window counter: a row per key and fixed window holds the attempts
//! it allowed, and an attempt is allowed while the current window's count plus the previous
//! window's count, weighted by how much of it still overlaps the sliding window, stays under
//! the limit. The increment is a single conditional upsert (`ON CONFLICT ... DO UPDATE ...
//! WHERE hits < cap`), atomic on both backends, and refused attempts are not counted, so a
//! flood cannot extend a lockout beyond the window. Keys are hashes of bucket and subject:
//! the table holds no email or client address.

use std::net::IpAddr;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};

use super::error::ApiError;
use crate::auth::tokens::hash_secret;
use crate::config::Config;
use crate::db::schema::rate_limit_counters as rl;
use crate::db::{Db, DbConn};

/// What a budget is spent on; each has its own counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// Logins per account (the email as given).
    LoginAccount,
    /// Logins per client address.
    LoginAddress,
    /// Password-reset requests per account.
    ResetAccount,
    /// Password-reset requests per client address.
    ResetAddress,
    /// Spending a single-use token (reset confirmation, invitation acceptance) per client address.
    TokenAddress,
    /// Current-password checks per user (`PATCH /me`).
    PasswordCheck,
    /// Anonymous subscription requests per client address.
    SubscribeAddress,
    /// Anonymous subscription requests per mailbox.
    SubscribeMailbox,
}

impl Bucket {
    fn name(self) -> &'static str {
        match self {
            Bucket::LoginAccount => "login_account",
            Bucket::LoginAddress => "login_address",
            Bucket::ResetAccount => "reset_account",
            Bucket::ResetAddress => "reset_address",
            Bucket::TokenAddress => "token_address",
            Bucket::PasswordCheck => "password_check",
            Bucket::SubscribeAddress => "subscribe_address",
            Bucket::SubscribeMailbox => "subscribe_mailbox",
        }
    }
}

/// `limit` attempts per `window_seconds`.
#[derive(Debug, Clone, Copy)]
struct Quota {
    limit: i64,
    window_seconds: i64,
}

/// One attempt to spend: a bucket and whom it is for.
pub struct Spend {
    bucket: Bucket,
    subject: String,
}

impl Spend {
    pub fn new(bucket: Bucket, subject: impl Into<String>) -> Self {
        Self {
            bucket,
            subject: subject.into(),
        }
    }

    /// Per client address; `None` (no peer address) spends nothing.
    pub fn address(bucket: Bucket, address: Option<IpAddr>) -> Option<Self> {
        address.map(|ip| Self::new(bucket, ip.to_string()))
    }

    /// Per account or mailbox, case-insensitively.
    pub fn account(bucket: Bucket, email: &str) -> Self {
        Self::new(bucket, email.trim().to_ascii_lowercase())
    }
}

pub struct RateLimits {
    db: Db,
    login_account: Quota,
    login_address: Quota,
    reset_account: Quota,
    reset_address: Quota,
    password_check: Quota,
    subscribe_address: Quota,
    subscribe_mailbox: Quota,
}

const MINUTE: i64 = 60;
const HOUR: i64 = 3600;

impl RateLimits {
    pub fn new(config: &Config, db: Db) -> Self {
        let quota = |limit: u32, window_seconds: i64| Quota {
            limit: i64::from(limit.max(1)),
            window_seconds,
        };
        Self {
            db,
            login_account: quota(config.login_rate_per_account_per_minute, MINUTE),
            login_address: quota(config.login_rate_per_address_per_minute, MINUTE),
            reset_account: quota(config.password_reset_rate_per_account_per_hour, HOUR),
            reset_address: quota(config.password_reset_rate_per_address_per_hour, HOUR),
            password_check: quota(config.password_check_rate_per_user_per_hour, HOUR),
            subscribe_address: quota(config.subscription_rate_per_address_per_hour, HOUR),
            subscribe_mailbox: quota(config.subscription_rate_per_mailbox_per_hour, HOUR),
        }
    }

    fn quota(&self, bucket: Bucket) -> Quota {
        match bucket {
            Bucket::LoginAccount => self.login_account,
            // Spending a token is as rare as logging in; the figure is shared, the counter is not.
            Bucket::LoginAddress | Bucket::TokenAddress => self.login_address,
            Bucket::ResetAccount => self.reset_account,
            Bucket::ResetAddress => self.reset_address,
            Bucket::PasswordCheck => self.password_check,
            Bucket::SubscribeAddress => self.subscribe_address,
            Bucket::SubscribeMailbox => self.subscribe_mailbox,
        }
    }

    /// Spends one attempt in every bucket given, in one transaction: 429 (with `Retry-After`)
    /// when any is exhausted, and then none is spent.
    pub async fn check(&self, spends: impl IntoIterator<Item = Option<Spend>>) -> Result<(), ApiError> {
        let spends: Vec<(Spend, Quota)> = spends
            .into_iter()
            .flatten()
            .map(|s| {
                let quota = self.quota(s.bucket);
                (s, quota)
            })
            .collect();
        if spends.is_empty() {
            return Ok(());
        }
        self.db
            .write(move |conn| {
                let now = Utc::now();
                for (spend, quota) in &spends {
                    spend_one(conn, spend, *quota, now)?;
                }
                Ok(())
            })
            .await
    }

    /// Deletes counters no window can read any more.
    pub async fn housekeep(&self) -> Result<usize, ApiError> {
        self.db
            .run(|conn| Ok(diesel::delete(rl::table.filter(rl::expires_at.lt(crate::db::now()))).execute(conn)?))
            .await
    }
}

fn window_start(now: DateTime<Utc>, window_seconds: i64) -> NaiveDateTime {
    let start = now.timestamp().div_euclid(window_seconds) * window_seconds;
    DateTime::from_timestamp(start, 0).unwrap_or(now).naive_utc()
}

fn spend_one(conn: &mut DbConn, spend: &Spend, quota: Quota, now: DateTime<Utc>) -> Result<(), ApiError> {
    let key = hash_secret(&format!("{}:{}", spend.bucket.name(), spend.subject));
    let window = Duration::seconds(quota.window_seconds);
    let start = window_start(now, quota.window_seconds);
    let previous: i64 = rl::table
        .find((&key, start - window))
        .select(rl::hits)
        .first(conn)
        .optional()?
        .unwrap_or(0);
    let elapsed = (now.naive_utc() - start).num_milliseconds() as f64 / (quota.window_seconds * 1000) as f64;
    let carried = previous as f64 * (1.0 - elapsed.clamp(0.0, 1.0));
    // Allowed while carried + current + 1 <= limit, i.e. current < cap.
    let cap = (quota.limit as f64 - carried).floor() as i64;
    let spent = cap > 0 && upsert(conn, &key, start, start + window * 2, cap)?;
    if spent {
        return Ok(());
    }
    let current: i64 = rl::table
        .find((&key, start))
        .select(rl::hits)
        .first(conn)
        .optional()?
        .unwrap_or(0);
    tracing::info!(bucket = spend.bucket.name(), "rate limited");
    Err(ApiError::rate_limited(retry_after(quota, previous, current, elapsed)))
}

/// Adds one hit to the window's row while it holds fewer than `cap`; whether it did.
fn upsert(
    conn: &mut DbConn,
    key: &str,
    start: NaiveDateTime,
    expires_at: NaiveDateTime,
    cap: i64,
) -> Result<bool, ApiError> {
    // One statement, so concurrent instances cannot both take the last attempt. `$n` works
    // on both backends (SQLite numbers named parameters by first use).
    let n = diesel::sql_query(
        "INSERT INTO rate_limit_counters (bucket_key, window_start, hits, expires_at) VALUES ($1, $2, 1, $3) \
         ON CONFLICT (bucket_key, window_start) DO UPDATE SET hits = rate_limit_counters.hits + 1 \
         WHERE rate_limit_counters.hits < $4",
    )
    .bind::<Text, _>(key)
    .bind::<Timestamp, _>(start)
    .bind::<Timestamp, _>(expires_at)
    .bind::<BigInt, _>(cap)
    .execute(conn)?;
    Ok(n == 1)
}

/// Seconds until one more attempt would be allowed, given the previous and current windows'
/// counts and how far (0..1) into the current window `now` is.
fn retry_after(quota: Quota, previous: i64, current: i64, elapsed: f64) -> u64 {
    let limit = quota.limit as f64;
    let window = quota.window_seconds as f64;
    // Later in this window: needs previous * (1 - f) + current + 1 <= limit.
    let room = limit - current as f64 - 1.0;
    let at = if room >= 0.0 && previous > 0 {
        Some(1.0 - room / previous as f64)
    } else {
        None
    };
    let wait = match at {
        Some(f) if f <= 1.0 => (f - elapsed) * window,
        // In the next window the current count is carried: current * (1 - f) + 1 <= limit.
        _ => {
            let f = if current > 0 {
                (1.0 - (limit - 1.0) / current as f64).max(0.0)
            } else {
                0.0
            };
            (1.0 - elapsed + f) * window
        }
    };
    wait.max(0.0).ceil() as u64 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_start_on_their_boundary() {
        let t = DateTime::from_timestamp(3600 * 5 + 61, 0).unwrap();
        assert_eq!(window_start(t, 60).and_utc().timestamp(), 3600 * 5 + 60);
        assert_eq!(window_start(t, 3600).and_utc().timestamp(), 3600 * 5);
    }

    #[test]
    fn retry_after_waits_for_the_carried_count_to_fade() {
        let q = Quota {
            limit: 10,
            window_seconds: 60,
        };
        // All ten spent in this window, nothing before: the next window carries ten, which
        // fades below nine after 10% of it; the wait is the rest of this window plus that.
        assert_eq!(retry_after(q, 0, 10, 0.5), 30 + 6 + 1);
        // Ten carried, none spent now, at 5%: one is allowed at 10%, three seconds later.
        assert_eq!(retry_after(q, 10, 0, 0.05), 3 + 1);
    }
}
