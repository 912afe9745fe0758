//! The rate limiter for several processes: counts live in the database, so every process
//! sharing it sees the same count.

use std::fmt;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
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
}

impl RateLimiter for PgRateLimiter {
    fn check(&self, tenancy: &Tenancy, request: RateLimitRequest) -> Result<()> {
        let now = (self.clock)();
        let start = window_start(now);
        let window = DateTime::<Utc>::from_timestamp(start, 0)
            .ok_or_else(|| invalid("clock", "the rate limiter's clock is out of range"))?;
        let requests = tenancy.transaction(request.tenant, |tx| {
            let rows: Vec<Requests> = tx.load_sql(
                diesel::sql_query(
                    "INSERT INTO api_key_usage AS u (tenant_id, api_key_id, window_start, requests) \
                     VALUES (tenancy.current_tenant(), $1, $2, 1) \
                     ON CONFLICT (tenant_id, api_key_id, window_start) \
                     DO UPDATE SET requests = LEAST(u.requests, 2147483646) + 1 \
                     RETURNING u.requests",
                )
                .into_boxed()
                .bind::<diesel::sql_types::Uuid, _>(request.key)
                .bind::<Timestamptz, _>(window),
            )?;
            let requests = rows.first().map_or(1, |r| r.requests);
            if requests == 1 {
                tx.execute(
                    diesel::sql_query(
                        "DELETE FROM api_key_usage \
                         WHERE tenant_id = tenancy.current_tenant() AND api_key_id = $1 AND window_start < $2",
                    )
                    .into_boxed()
                    .bind::<diesel::sql_types::Uuid, _>(request.key)
                    .bind::<Timestamptz, _>(window),
                )?;
            }
            Ok::<_, Error>(requests)
        })?;
        if u32::try_from(requests).unwrap_or(u32::MAX) > request.limit_per_hour {
            return Err(ApiKeyError::RateLimited {
                retry_after_secs: retry_after(start, now),
            }
            .into());
        }
        Ok(())
    }
}
