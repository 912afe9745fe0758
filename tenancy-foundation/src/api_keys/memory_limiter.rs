//! The rate limiter for a single process: no database round trip, at the price of a count
//! that other processes do not see.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use super::error::ApiKeyError;
use super::rate_limit::{
    Clock, RateLimitRequest, RateLimiter, retry_after, system_clock, window_start,
};
use crate::{ApiKeyId, Result, Tenancy, TenantId};

/// Fixed hourly windows counted in this process's memory: for a single process (each process
/// has its own count). Windows of other hours are dropped as the map grows.
pub struct MemoryRateLimiter {
    clock: Clock,
    state: Mutex<MemoryState>,
}

#[derive(Default)]
struct MemoryState {
    /// `(tenant, key)` → (window start, requests in it).
    windows: HashMap<(TenantId, ApiKeyId), (i64, u32)>,
    /// Prune stale windows when the map grows past this.
    prune_at: usize,
}

impl fmt::Debug for MemoryRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryRateLimiter").finish_non_exhaustive()
    }
}

impl Default for MemoryRateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryRateLimiter {
    const MIN_PRUNE_AT: usize = 1024;

    /// A limiter using the system clock.
    #[must_use]
    pub fn new() -> Self {
        Self::with_clock(system_clock())
    }

    /// A limiter whose windows follow `clock`.
    #[must_use]
    pub fn with_clock(clock: Clock) -> Self {
        Self {
            clock,
            state: Mutex::new(MemoryState {
                windows: HashMap::new(),
                prune_at: Self::MIN_PRUNE_AT,
            }),
        }
    }

    /// Counts `request`: no database, so the sync and async limiters are this one call.
    fn count(&self, request: RateLimitRequest) -> Result<()> {
        let now = (self.clock)();
        let start = window_start(now);
        // A panic elsewhere cannot leave a counter half-written: keep counting.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.windows.len() >= state.prune_at {
            state.windows.retain(|_, (s, _)| *s == start);
            state.prune_at = (state.windows.len() * 2).max(Self::MIN_PRUNE_AT);
        }
        let entry = state
            .windows
            .entry((request.tenant, request.key))
            .or_insert((start, 0));
        if entry.0 != start {
            *entry = (start, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        if entry.1 > request.limit_per_hour {
            return Err(ApiKeyError::RateLimited {
                retry_after_secs: retry_after(start, now),
            }
            .into());
        }
        Ok(())
    }
}

impl RateLimiter for MemoryRateLimiter {
    fn check(&self, _tenancy: &Tenancy, request: RateLimitRequest) -> Result<()> {
        self.count(request)
    }
}

#[cfg(feature = "async")]
impl super::rate_limit::AsyncRateLimiter for MemoryRateLimiter {
    fn check<'a>(
        &'a self,
        _tenancy: &'a tenancy_async::AsyncTenancy,
        request: RateLimitRequest,
    ) -> super::rate_limit::CheckFuture<'a> {
        Box::pin(std::future::ready(self.count(request)))
    }
}
