//! [`verify`](super::verify) on an async tenancy: the same steps, each the one
//! [`verify`](super::verify) takes (`verify.rs`), awaited where that one blocks.

use chrono::Utc;
use diesel::ExpressionMethods as _;
use diesel::sql_types::{Bytea, Text};
use tenancy_async::AsyncTenancy;

use super::format::parse_key;
use super::rate_limit::AsyncRateLimiter;
use super::verify::{
    LOOKUP_SQL, LookedUpKey, VerifiedKey, accept, not_used_since, rate_limited, rate_refusal,
    tenant_refusal, touch_due,
};
use crate::Result;
use crate::schema::api_keys;

/// [`verify`](super::verify) on an [`AsyncTenancy`] (feature `async`): the same lookup, the
/// same checks in the same order, the same rate limit and `last_used_at` write, with nothing
/// blocking the runtime's thread. An async service needs no second, synchronous pool for its
/// keys.
///
/// ```no_run
/// use tenancy_foundation::api_keys::{self, MemoryRateLimiter};
/// # async fn demo(tenancy: &tenancy_async::AsyncTenancy, key_text: &str) -> Result<(), tenancy_schema::Error> {
/// let limiter = MemoryRateLimiter::new();
/// let verified = api_keys::verify_async(tenancy, key_text, &limiter).await?;
/// tenancy
///     .transaction_as(verified.tenant, verified.principal, async |tx| {
///         // the request's queries, for the key's tenant
///         # let _ = tx;
///         Ok::<_, tenancy_schema::Error>(())
///     })
///     .await?;
/// # Ok(()) }
/// ```
///
/// # Errors
/// As [`verify`](super::verify).
pub async fn verify_async(
    tenancy: &AsyncTenancy,
    key_text: &str,
    limiter: &dyn AsyncRateLimiter,
) -> Result<VerifiedKey> {
    let parsed = parse_key(key_text)?;
    let presented = parsed.secret_hash();
    let lookup = diesel::sql_query(LOOKUP_SQL)
        .bind::<Text, _>(parsed.prefix.to_owned())
        .bind::<Bytea, _>(presented.to_vec());
    let rows: Vec<LookedUpKey> = tenancy
        .system(async |sys| sys.load_sql(lookup).await)
        .await?;
    let now = Utc::now();
    let row = accept(rows, parsed.prefix, &presented, now)?;
    if let Some(request) = rate_limited(&row) {
        limiter
            .check(tenancy, request)
            .await
            .map_err(|e| rate_refusal(parsed.prefix, e))?;
    }
    if let Some(cutoff) = touch_due(&row, now) {
        tenancy
            .transaction(row.tenant_id, async |tx| {
                tx.update(api_keys::table)
                    .filter(api_keys::id.eq(row.id))
                    .filter(not_used_since(cutoff))
                    .set(api_keys::last_used_at.eq(now))
                    .execute()
                    .await
            })
            .await
            .map_err(tenant_refusal)?;
    }
    Ok(row.verified())
}
