//! Verifying a presented key before any tenant is known: the prefix lookup through the
//! `SECURITY DEFINER` function, the checks in a fixed order, and the throttled `last_used_at`
//! write. Kept together because the order of these steps is what the security argument rests on.

use chrono::{DateTime, TimeDelta, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Bool, Bytea, Int4, Nullable, Text, Timestamptz};

use super::error::ApiKeyError;
use super::format::parse_key;
use super::hash::hash_matches;
use super::rate_limit::{RateLimitRequest, RateLimiter};
use crate::models::{ApiKeyStatus, TenantStatus};
use crate::schema::api_keys;
use crate::{ApiKeyId, Error, PrincipalId, Result, Tenancy, TenantId};

/// `last_used_at` is rewritten only when it is older than this (or unset).
pub const LAST_USED_INTERVAL: TimeDelta = TimeDelta::seconds(60);

/// Who a verified key authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedKey {
    /// The key's tenant: open tenant transactions for it.
    pub tenant: TenantId,
    /// The principal the key acts as.
    pub principal: PrincipalId,
    /// The key's record id.
    pub key: ApiKeyId,
    /// The key's scopes.
    pub scopes: Vec<String>,
}

impl VerifiedKey {
    /// Whether the key carries `scope` (exact match).
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// One row of `tenancy.api_key_lookup(prefix, hash)`. No `Debug`: it holds the secret's hash.
#[derive(QueryableByName)]
pub(super) struct LookedUpKey {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub(super) tenant_id: TenantId,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub(super) id: ApiKeyId,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    principal_id: PrincipalId,
    #[diesel(sql_type = Bytea)]
    secret_hash: Vec<u8>,
    #[diesel(sql_type = Array<Nullable<Text>>)]
    scopes: Vec<Option<String>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    expires_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Int4>)]
    rate_limit_per_hour: Option<i32>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    last_used_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = crate::schema::sql_types::ApiKeyStatus)]
    status: ApiKeyStatus,
    #[diesel(sql_type = crate::schema::sql_types::TenantStatus)]
    tenant_status: TenantStatus,
    #[diesel(sql_type = Bool)]
    tenant_deleted: bool,
}

/// Maps the refusal of a tenant transaction for the key's tenant (suspended or deleted after
/// the lookup) to the answer verification gives for it.
pub(super) fn tenant_refusal(error: Error) -> Error {
    match error {
        Error::TenantSuspended(_) => ApiKeyError::TenantSuspended.into(),
        Error::TenantNotFound(_) => ApiKeyError::Unknown.into(),
        other => other,
    }
}

fn reject(prefix: &str, reason: ApiKeyError) -> Error {
    tracing::debug!(target: "tenancy::api_keys", prefix, reason = %reason, "api key rejected");
    reason.into()
}

/// Authenticates `key_text` (an `Authorization` header's token, say) and returns who it
/// acts as. In order: parse, look the key up by its prefix and its secret's hash
/// (`tenancy.api_key_lookup`, no tenant needed; a prefix alone finds nothing), compare the
/// secret's hash in constant time, check revocation, expiry and the
/// tenant's status, count the request with `limiter` when the key has a
/// `rate_limit_per_hour`, and touch `last_used_at` when it is unset or older than
/// [`LAST_USED_INTERVAL`] (one conditional `UPDATE`; otherwise nothing is written).
///
/// Times come from this process's clock.
///
/// # Errors
/// An [`ApiKeyError`] (see [`ApiKeyError::of`]): [`ApiKeyError::Malformed`], [`ApiKeyError::Unknown`] (unknown
/// prefix, wrong secret, deleted tenant, a key stored in more than one tenant), [`ApiKeyError::Revoked`], [`ApiKeyError::Expired`],
/// [`ApiKeyError::TenantSuspended`] or [`ApiKeyError::RateLimited`]; pool and database errors.
pub fn verify(tenancy: &Tenancy, key_text: &str, limiter: &dyn RateLimiter) -> Result<VerifiedKey> {
    let parsed = parse_key(key_text)?;
    let presented = parsed.secret_hash();
    let rows: Vec<LookedUpKey> = tenancy.system(|sys| {
        sys.load_sql(
            diesel::sql_query(LOOKUP_SQL)
                .bind::<Text, _>(parsed.prefix)
                .bind::<Bytea, _>(presented.as_slice()),
        )
    })?;
    let now = Utc::now();
    let row = accept(rows, parsed.prefix, &presented, now)?;
    if let Some(request) = rate_limited(&row) {
        limiter
            .check(tenancy, request)
            .map_err(|e| rate_refusal(parsed.prefix, e))?;
    }
    if let Some(cutoff) = touch_due(&row, now) {
        tenancy
            .transaction(row.tenant_id, |tx| {
                tx.update(api_keys::table)
                    .filter(api_keys::id.eq(row.id))
                    .filter(not_used_since(cutoff))
                    .set(api_keys::last_used_at.eq(now))
                    .execute()
            })
            .map_err(tenant_refusal)?;
    }
    Ok(row.verified())
}

/// The lookup verification starts from, on the system connection: `$1` the prefix, `$2` the
/// SHA-256 of the presented secret. Bound where it runs, not built here: a query type without
/// a lifetime (no `BoxedSqlQuery`) keeps the async verification's future `Send`, which an axum
/// resolver requires.
pub(super) const LOOKUP_SQL: &str = "SELECT * FROM tenancy.api_key_lookup($1, $2)";

/// The checks between the lookup and the rate limit, in their order: the one row whose hash
/// matches, then the tenant's deletion, revocation, expiry and the tenant's status.
pub(super) fn accept(
    rows: Vec<LookedUpKey>,
    prefix: &str,
    presented: &[u8; 32],
    now: DateTime<Utc>,
) -> Result<LookedUpKey> {
    // Hash and compare whether or not the prefix exists (see `secret_matches`). Prefixes are
    // unique per tenant only, so another tenant may hold a row with the same prefix (by
    // chance, or planted to block this key): every returned row is compared, and only one
    // whose hash matches counts. Two that match mean a tenant that knew the whole key copied
    // it into its own tenant with raw SQL, to have the key's holder act in that tenant
    // (writing its data there, also after the key is revoked where it was issued): such a
    // key is refused, so its holder notices and replaces it, instead of serving whichever
    // tenant's row came first.
    let mut matching = Vec::new();
    if rows.is_empty() {
        let _ = hash_matches(None, presented);
    }
    for row in rows {
        if hash_matches(Some(row.secret_hash.as_slice()), presented) {
            matching.push(row);
        }
    }
    let row = match <[LookedUpKey; 1]>::try_from(matching) {
        Ok([row]) => row,
        Err(matching) => {
            if matching.len() > 1 {
                tracing::warn!(
                    target: "tenancy::api_keys",
                    prefix,
                    tenants = matching.len(),
                    "api key refused: its prefix and secret are stored in more than one tenant"
                );
            }
            return Err(reject(prefix, ApiKeyError::Unknown));
        }
    };
    if row.tenant_deleted {
        return Err(reject(prefix, ApiKeyError::Unknown));
    }
    if row.status == ApiKeyStatus::Revoked {
        return Err(reject(prefix, ApiKeyError::Revoked));
    }
    if row.expires_at.is_some_and(|at| at <= now) {
        return Err(reject(prefix, ApiKeyError::Expired));
    }
    if row.tenant_status != TenantStatus::Active {
        return Err(reject(prefix, ApiKeyError::TenantSuspended));
    }
    Ok(row)
}

/// The request to count for `row`, when its key has a rate limit.
pub(super) fn rate_limited(row: &LookedUpKey) -> Option<RateLimitRequest> {
    row.rate_limit_per_hour
        .and_then(|l| u32::try_from(l).ok())
        .filter(|l| *l > 0)
        .map(|limit| RateLimitRequest::new(row.tenant_id, row.id, limit))
}

/// A rate limiter's refusal as verification answers it.
pub(super) fn rate_refusal(prefix: &str, error: Error) -> Error {
    let error = tenant_refusal(error);
    match ApiKeyError::of(&error) {
        Some(reason) => reject(prefix, reason.clone()),
        None => error,
    }
}

/// The cutoff below which `last_used_at` is rewritten, when `row`'s is unset or older.
pub(super) fn touch_due(row: &LookedUpKey, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let cutoff = now - LAST_USED_INTERVAL;
    row.last_used_at
        .is_none_or(|at| at < cutoff)
        .then_some(cutoff)
}

/// The filter of the `last_used_at` write: it writes nothing where another request wrote a
/// newer value meanwhile.
pub(super) fn not_used_since(
    cutoff: DateTime<Utc>,
) -> diesel::dsl::Or<
    diesel::dsl::IsNull<api_keys::last_used_at>,
    diesel::dsl::Lt<api_keys::last_used_at, DateTime<Utc>>,
> {
    api_keys::last_used_at
        .is_null()
        .or(api_keys::last_used_at.lt(cutoff))
}

impl LookedUpKey {
    pub(super) fn verified(self) -> VerifiedKey {
        VerifiedKey {
            tenant: self.tenant_id,
            principal: self.principal_id,
            key: self.id,
            scopes: self.scopes.into_iter().flatten().collect(),
        }
    }
}
