//! Login and token-request rate limits, per account and per client address.
//!
//! The limits are per process (governor's in-memory keyed limiters): behind a load balancer
//! with N instances an attacker gets at most N times the budget, which the defaults allow for.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::error::ApiError;

pub struct RateLimits {
    per_account: DefaultKeyedRateLimiter<String>,
    per_address: DefaultKeyedRateLimiter<IpAddr>,
}

impl RateLimits {
    /// `per_account` and `per_address` are attempts per minute (bursts of the same size).
    pub fn new(per_account: u32, per_address: u32) -> Self {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).expect("non-zero"));
        Self {
            per_account: RateLimiter::keyed(quota(per_account)),
            per_address: RateLimiter::keyed(quota(per_address)),
        }
    }

    /// Spends one attempt for the address and, when given, the account; 429 when exhausted.
    pub fn check(&self, address: Option<IpAddr>, account: Option<&str>) -> Result<(), ApiError> {
        if let Some(ip) = address {
            if let Err(not_until) = self.per_address.check_key(&ip) {
                return Err(ApiError::rate_limited(
                    not_until.wait_time_from(DefaultClock::default().now()).as_secs() + 1,
                ));
            }
        }
        if let Some(account) = account {
            if let Err(not_until) = self.per_account.check_key(&account.to_ascii_lowercase()) {
                return Err(ApiError::rate_limited(
                    not_until.wait_time_from(DefaultClock::default().now()).as_secs() + 1,
                ));
            }
        }
        Ok(())
    }

    /// Drops idle keys so the maps do not grow without bound.
    pub fn housekeep(&self) {
        self.per_account.retain_recent();
        self.per_address.retain_recent();
    }
}
