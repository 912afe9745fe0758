//! The rate limiter for several processes: counts live in the database, so every process
//! sharing it sees the same count.

use std::fmt;

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{Int4, Timestamptz};

use super::error::{ApiKeyError, invalid};
use super::rate_limit::{
    Clock, RateLimitRequest, RateLimiter, retry_after, system_clock, window_start,
};
use crate::{Error, Result, Tenancy};

/// Fixed hourly windows counted in the `api_key_usage` table, in a tenant transaction of the
/// key's tenant: one `INSERT … ON CONFLICT … DO UPDATE … RETURNING` per request, so every
/// process sharing the database shares the count. A request that opens a new window also
/// deletes the key's older windows, which keeps the table at one row per key.
///
/// Window boundaries come from this process's clock (keep servers in sync with NTP).
#[derive(Clone)]
pub struct PgRateLimiter {
    clock: Clock,
}

impl fmt::Debug for PgRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgRateLimiter").finish_non_exhaustive()
    }
}

impl Default for PgRateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(QueryableByName)]
struct Requests {
    #[diesel(sql_type = Int4)]
    requests: i32,
}

impl PgRateLimiter {
    /// A limiter using the system clock.
    #[must_use]
    pub fn new() -> Self {
        Self::with_clock(system_clock())
    }

    /// A limiter whose windows follow `clock`.
    #[must_use]
    pub fn with_clock(clock: Clock) -> Self {
        Self { clock }
    }

    /// The window `request` falls in by the clock.
    fn window(&self, request: RateLimitRequest) -> Result<Window> {
        let now = (self.clock)();
        let start = window_start(now);
        let start_at = DateTime::<Utc>::from_timestamp(start, 0)
            .ok_or_else(|| invalid("clock", "the rate limiter's clock is out of range"))?;
        Ok(Window {
            now,
            start,
            start_at,
            request,
        })
    }
}

/// Counts the request in its window and returns the window's count so far.
const COUNT_SQL: &str = "INSERT INTO api_key_usage AS u (tenant_id, api_key_id, window_start, requests) \
     VALUES (tenancy.current_tenant(), $1, $2, 1) \
     ON CONFLICT (tenant_id, api_key_id, window_start) \
     DO UPDATE SET requests = LEAST(u.requests, 2147483646) + 1 \
     RETURNING u.requests";

/// Deletes the key's windows older than the one that just opened.
const PRUNE_SQL: &str = "DELETE FROM api_key_usage \
     WHERE tenant_id = tenancy.current_tenant() AND api_key_id = $1 AND window_start < $2";

/// A window of one key, as both statements bind it.
#[derive(Clone, Copy)]
struct Window {
    now: DateTime<Utc>,
    start: i64,
    start_at: DateTime<Utc>,
    request: RateLimitRequest,
}

impl Window {
    fn statement(self, sql: &'static str) -> BoxedSqlQuery<'static, Pg, SqlQuery> {
        diesel::sql_query(sql)
            .into_boxed()
            .bind::<diesel::sql_types::Uuid, _>(self.request.key)
            .bind::<Timestamptz, _>(self.start_at)
    }

    /// The count of the window (1 when the statement returned nothing).
    fn requests(rows: &[Requests]) -> i32 {
        rows.first().map_or(1, |r| r.requests)
    }

    /// Accepts `requests` within the request's limit, or refuses until the window's end.
    fn verdict(self, requests: i32) -> Result<()> {
        if u32::try_from(requests).unwrap_or(u32::MAX) > self.request.limit_per_hour {
            return Err(ApiKeyError::RateLimited {
                retry_after_secs: retry_after(self.start, self.now),
            }
            .into());
        }
        Ok(())
    }
}

impl RateLimiter for PgRateLimiter {
    fn check(&self, tenancy: &Tenancy, request: RateLimitRequest) -> Result<()> {
        let window = self.window(request)?;
        let requests = tenancy.transaction(request.tenant, |tx| {
            let requests = Window::requests(&tx.load_sql(window.statement(COUNT_SQL))?);
            if requests == 1 {
                tx.execute(window.statement(PRUNE_SQL))?;
            }
            Ok::<_, Error>(requests)
        })?;
        window.verdict(requests)
    }
}

#[cfg(feature = "async")]
impl super::rate_limit::AsyncRateLimiter for PgRateLimiter {
    fn check<'a>(
        &'a self,
        tenancy: &'a tenancy_async::AsyncTenancy,
        request: RateLimitRequest,
    ) -> super::rate_limit::CheckFuture<'a> {
        Box::pin(async move {
            let window = self.window(request)?;
            let requests = tenancy
                .transaction(request.tenant, async |tx| {
                    let rows = tx.load_sql(window.statement(COUNT_SQL)).await?;
                    let requests = Window::requests(&rows);
                    if requests == 1 {
                        tx.execute(window.statement(PRUNE_SQL)).await?;
                    }
                    Ok::<_, Error>(requests)
                })
                .await?;
            window.verdict(requests)
        })
    }
}
