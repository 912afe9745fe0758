//! What every rate limiter shares: the request it counts, the trait, the clock and the fixed
//! hourly windows. Kept apart so that both limiters count the same windows the same way.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::{ApiKeyId, Result, Tenancy, TenantId};

/// Length of a rate-limit window in seconds (fixed hourly windows).
const WINDOW_SECS: i64 = 3600;

/// A clock for the rate limiters; tests inject a fixed one.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub(super) fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

/// One request to count against a key's hourly limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimitRequest {
    /// The key's tenant.
    pub tenant: TenantId,
    /// The key.
    pub key: ApiKeyId,
    /// Requests allowed per hourly window.
    pub limit_per_hour: u32,
}

impl RateLimitRequest {
    /// A request of `key` (of `tenant`) limited to `limit_per_hour`.
    #[must_use]
    pub fn new(tenant: TenantId, key: ApiKeyId, limit_per_hour: u32) -> Self {
        Self {
            tenant,
            key,
            limit_per_hour,
        }
    }
}

/// Counts requests of rate-limited keys. [`verify`](super::verify) calls it once per
/// authenticated request of a key that has a `rate_limit_per_hour`.
pub trait RateLimiter: Send + Sync {
    /// Counts `request` and accepts it, or refuses it with
    /// [`ApiKeyError::RateLimited`](super::ApiKeyError::RateLimited).
    ///
    /// # Errors
    /// an [`ApiKeyError`](super::ApiKeyError) ([`ApiKeyError::of`](super::ApiKeyError::of)):
    /// [`ApiKeyError::RateLimited`](super::ApiKeyError::RateLimited) over the limit; whatever
    /// the implementation's storage reports.
    fn check(&self, tenancy: &Tenancy, request: RateLimitRequest) -> Result<()>;
}

/// The future an [`AsyncRateLimiter::check`] returns (boxed, as the trait is used as a
/// `dyn` object).
#[cfg(feature = "async")]
pub type CheckFuture<'a> = std::pin::Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

/// [`RateLimiter`] for [`verify_async`](super::verify_async) (feature `async`): the same
/// count, on an [`AsyncTenancy`](tenancy_async::AsyncTenancy). Both limiters of this crate
/// are one.
#[cfg(feature = "async")]
pub trait AsyncRateLimiter: Send + Sync {
    /// Counts `request` and accepts it, or refuses it, as [`RateLimiter::check`].
    ///
    /// # Errors
    /// As [`RateLimiter::check`].
    fn check<'a>(
        &'a self,
        tenancy: &'a tenancy_async::AsyncTenancy,
        request: RateLimitRequest,
    ) -> CheckFuture<'a>;
}

/// The start of the fixed hourly window holding `now`, as Unix seconds.
pub(super) fn window_start(now: DateTime<Utc>) -> i64 {
    now.timestamp().div_euclid(WINDOW_SECS) * WINDOW_SECS
}

/// Seconds from `now` to the end of the window that started at `start` (at least 1).
pub(super) fn retry_after(start: i64, now: DateTime<Utc>) -> u64 {
    u64::try_from(start + WINDOW_SECS - now.timestamp())
        .unwrap_or(1)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_fixed_hours() {
        let at = |s| DateTime::<Utc>::from_timestamp(s, 0).unwrap_or_default();
        assert_eq!(window_start(at(7200)), 7200);
        assert_eq!(window_start(at(10_799)), 7200);
        assert_eq!(retry_after(7200, at(7200)), 3600);
        assert_eq!(retry_after(7200, at(10_799)), 1);
        assert_eq!(window_start(at(-1)), -3600);
    }
}
