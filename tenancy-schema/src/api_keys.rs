//! API keys: issue, verify, revoke and rate-limit keys that authenticate machine clients.
//!
//! ```no_run
//! use tenancy_schema::api_keys::{self, MemoryRateLimiter, NewKeySpec};
//! # fn demo(
//! #     tenancy: &tenancy_schema::Tenancy,
//! #     tenant: tenancy_schema::TenantId,
//! #     principal: tenancy_schema::PrincipalId,
//! # ) -> Result<(), tenancy_schema::Error> {
//! // Inside a tenant transaction: the key belongs to `tenant` and acts as `principal`.
//! let issued = tenancy.transaction_as(tenant, principal, |tx| {
//!     api_keys::issue(tx, NewKeySpec::new(principal, "deploy bot").scopes(["deploy:write"]))
//! })?;
//! // Show the key text to its owner once: only its prefix and a hash are stored.
//! let key_text = issued.key.expose_secret();
//!
//! // On every request, before any tenant is known:
//! let limiter = MemoryRateLimiter::new();
//! let verified = api_keys::verify(tenancy, key_text, &limiter)?;
//! assert_eq!((verified.tenant, verified.principal), (tenant, principal));
//! assert!(verified.has_scope("deploy:write"));
//! # Ok(()) }
//! ```
//!
//! **Format.** `tk_<prefix>_<secret>`: `prefix` is 16 lowercase hexadecimal digits (64 random
//! bits), `secret` 64 (256 random bits), both from the operating system's CSPRNG. The table
//! keeps the prefix (indexed, for an O(1) lookup) and `SHA-256(secret)`; the key text is
//! returned once by [`issue`] and never stored. A fast hash is right here: the secret has 256
//! bits of entropy, so a slow password hash would only add latency to every request.
//!
//! **Verification** ([`verify`]) runs before any tenant is known. It reads the key through
//! `tenancy.api_key_lookup(prefix)`, a `SECURITY DEFINER` function that answers for one exact
//! prefix only (no pattern, no range, no count), so the application role cannot list other
//! tenants' keys. The presented secret's hash is compared in constant time with the stored
//! one, and with a dummy hash when the prefix is unknown, so the work done does not depend on
//! whether the prefix exists or on how much of the secret matches.
//!
//! **`last_used_at`** is written at most once per [`LAST_USED_INTERVAL`] per key, not on every
//! request. **Rate limits** (`rate_limit_per_hour`) are counted by a [`RateLimiter`]:
//! [`PgRateLimiter`] (shared by every process) or [`MemoryRateLimiter`] (one process).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Bool, Bytea, Int4, Nullable, Text, Timestamptz};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use crate::audit::{self, AuditEvent};
use crate::models::{ApiKeyStatus, NewApiKey, TenantStatus};
use crate::schema::{api_keys, principals};
use crate::{ApiKeyId, Error, PrincipalId, Result, Tenancy, TenantId, TenantTx};

/// What every key text starts with.
pub const KEY_TEXT_PREFIX: &str = "tk_";
/// Hexadecimal digits of the public prefix (64 bits).
const PREFIX_HEX_LEN: usize = 16;
/// Hexadecimal digits of the secret (256 bits).
const SECRET_HEX_LEN: usize = 64;
/// `tk_` + prefix + `_` + secret.
const KEY_TEXT_LEN: usize = KEY_TEXT_PREFIX.len() + PREFIX_HEX_LEN + 1 + SECRET_HEX_LEN;
/// At most this many scopes per key.
pub const MAX_SCOPES: usize = 32;
/// At most this many bytes per scope.
pub const MAX_SCOPE_LEN: usize = 128;
/// `last_used_at` is rewritten only when it is older than this (or unset).
pub const LAST_USED_INTERVAL: TimeDelta = TimeDelta::seconds(60);
/// Length of a rate-limit window in seconds (fixed hourly windows).
const WINDOW_SECS: i64 = 3600;

/// Compared against when the prefix is unknown, so that an unknown prefix costs the same hash
/// and comparison as a known one. No secret hashes to it (that would be a SHA-256 preimage).
const DUMMY_HASH: [u8; 32] = [0x5a; 32];

/// What can go wrong with an API key: why one was not accepted, or could not be issued or
/// revoked. The messages never contain the key text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiKeyError {
    /// The text is not `tk_` + 16 lowercase hexadecimal digits + `_` + 64 lowercase
    /// hexadecimal digits.
    #[error("malformed api key: expected `tk_<16 hex digits>_<64 hex digits>`")]
    Malformed,
    /// No key has this prefix, the secret does not match, or the key's tenant was deleted.
    #[error("unknown api key")]
    Unknown,
    /// The key was revoked.
    #[error("api key revoked")]
    Revoked,
    /// The key's `expires_at` has passed.
    #[error("api key expired")]
    Expired,
    /// The key used up its `rate_limit_per_hour` in the current window.
    #[error("api key rate limit exceeded; retry in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until the current window ends (at least 1).
        retry_after_secs: u64,
    },
    /// The key's tenant is suspended.
    #[error("the api key's tenant is suspended")]
    TenantSuspended,
    /// [`revoke`] was given an id that is not a key of the transaction's tenant (a key of
    /// another tenant gives exactly this answer).
    #[error("no such api key in this tenant")]
    NotFound,
    /// The operating system's random number generator failed; no key was issued.
    #[error("the operating system's random number generator failed")]
    RandomUnavailable,
}

/// The text of an issued key. `Debug` and `Display` show only its public part
/// (`tk_<prefix>_…`); [`SecretKey::expose_secret`] returns the whole text. The memory is
/// overwritten (best effort) when it is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(String);

impl SecretKey {
    /// The full key text, `tk_<prefix>_<secret>`: hand it to the key's owner once.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    fn public_part(&self) -> &str {
        self.0
            .get(..KEY_TEXT_PREFIX.len() + PREFIX_HEX_LEN + 1)
            .unwrap_or(KEY_TEXT_PREFIX)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(\"{}…\")", self.public_part())
    }
}

impl fmt::Display for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}…", self.public_part())
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.fill(0);
        std::hint::black_box(&bytes);
    }
}

/// What a new key may do. Build it with [`NewKeySpec::new`] and the setters, or fill the
/// fields directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKeySpec {
    /// The principal the key acts as; must exist in the transaction's tenant.
    pub principal: PrincipalId,
    /// A name for people (1 to 200 characters, trimmed).
    pub name: String,
    /// Scopes: at most [`MAX_SCOPES`], each 1 to [`MAX_SCOPE_LEN`] bytes of `a-z`, `0-9`,
    /// `_`, `.` and `:`. Duplicates are dropped.
    pub scopes: Vec<String>,
    /// When the key stops being accepted; `None` for never.
    pub expires_at: Option<DateTime<Utc>>,
    /// Requests allowed per hourly window (more than 0); `None` for no limit.
    pub rate_limit_per_hour: Option<u32>,
}

impl NewKeySpec {
    /// A key for `principal` named `name`, without scopes, expiry or rate limit.
    #[must_use]
    pub fn new(principal: PrincipalId, name: impl Into<String>) -> Self {
        Self {
            principal,
            name: name.into(),
            scopes: Vec::new(),
            expires_at: None,
            rate_limit_per_hour: None,
        }
    }

    /// Sets the scopes.
    #[must_use]
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the expiry.
    #[must_use]
    pub fn expires_at(mut self, at: DateTime<Utc>) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// Sets the rate limit.
    #[must_use]
    pub fn rate_limit_per_hour(mut self, limit: u32) -> Self {
        self.rate_limit_per_hour = Some(limit);
        self
    }
}

/// A key [`issue`] created. Its `Debug` output does not contain the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedKey {
    /// The key's record id (not a secret).
    pub id: ApiKeyId,
    /// The public prefix (16 hexadecimal digits; not a secret).
    pub prefix: String,
    /// The principal the key acts as.
    pub principal: PrincipalId,
    /// The key text; [`SecretKey::expose_secret`] returns it. It cannot be shown again.
    pub key: SecretKey,
}

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

fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidInput {
        field,
        reason: reason.into(),
    }
}

fn check_scopes(scopes: Vec<String>) -> Result<Vec<Option<String>>> {
    let mut out: Vec<Option<String>> = Vec::with_capacity(scopes.len().min(MAX_SCOPES));
    for (i, scope) in scopes.into_iter().enumerate() {
        let valid = !scope.is_empty()
            && scope.len() <= MAX_SCOPE_LEN
            && scope.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b':')
            });
        if !valid {
            return Err(invalid(
                "scopes",
                format!(
                    "scope {i} ({:?}) must be 1 to {MAX_SCOPE_LEN} bytes of `a-z`, `0-9`, `_`, `.` and `:`",
                    scope.chars().take(64).collect::<String>()
                ),
            ));
        }
        if !out.iter().flatten().any(|s| *s == scope) {
            if out.len() == MAX_SCOPES {
                return Err(invalid(
                    "scopes",
                    format!("at most {MAX_SCOPES} scopes per key"),
                ));
            }
            out.push(Some(scope));
        }
    }
    Ok(out)
}

fn random_hex<const N: usize>() -> std::result::Result<String, ApiKeyError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| {
        tracing::error!(target: "tenancy::api_keys", error = %e, "getrandom failed");
        ApiKeyError::RandomUnavailable
    })?;
    let text = hex::encode(bytes);
    bytes.fill(0);
    std::hint::black_box(&bytes);
    Ok(text)
}

/// `SHA-256(secret)`, the secret taken as its ASCII hexadecimal text.
fn secret_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

#[cfg(test)]
thread_local! {
    /// How often [`hashes_equal`] ran on this thread (unit tests only).
    static COMPARISONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Constant-time equality of two hashes (`subtle`): the time taken does not depend on where
/// the first differing byte is.
fn hashes_equal(a: &[u8; 32], b: &[u8; 32]) -> Choice {
    #[cfg(test)]
    COMPARISONS.with(|c| c.set(c.get() + 1));
    a.ct_eq(b)
}

/// Whether `secret` hashes to `stored`. Always hashes and compares once, against
/// [`DUMMY_HASH`] when there is no stored hash (unknown prefix) or it has the wrong length.
fn secret_matches(stored: Option<&[u8]>, secret: &str) -> bool {
    let presented = secret_hash(secret);
    let (expected, known) = match stored.and_then(|s| <[u8; 32]>::try_from(s).ok()) {
        Some(hash) => (hash, Choice::from(1)),
        None => (DUMMY_HASH, Choice::from(0)),
    };
    bool::from(hashes_equal(&presented, &expected) & known)
}

/// A key text split into its parts: what [`verify`] checks before it asks the database.
///
/// ```
/// use tenancy_schema::api_keys::{parse_key, ApiKeyError};
///
/// let text = format!("tk_{}_{}", "0123456789abcdef", "ab".repeat(32));
/// let key = parse_key(&text)?;
/// assert_eq!(key.prefix(), "0123456789abcdef");
/// assert!(key.matches_hash(Some(&key.secret_hash())));
/// assert!(!key.matches_hash(None));
/// assert_eq!(parse_key("tk_not-a-key").unwrap_err(), ApiKeyError::Malformed);
/// # Ok::<(), ApiKeyError>(())
/// ```
#[derive(PartialEq, Eq)]
pub struct ParsedKey<'a> {
    prefix: &'a str,
    secret: &'a str,
}

impl ParsedKey<'_> {
    /// The public part (16 lowercase hexadecimal digits), safe to log.
    #[must_use]
    pub fn prefix(&self) -> &str {
        self.prefix
    }

    /// `SHA-256` of the secret part: what `api_keys.secret_hash` stores.
    #[must_use]
    pub fn secret_hash(&self) -> [u8; 32] {
        secret_hash(self.secret)
    }

    /// Whether the secret hashes to `stored`, compared in constant time. `None` (no key has
    /// this prefix) still costs one hash and one comparison, so timing does not tell an
    /// unknown prefix from a wrong secret.
    #[must_use]
    pub fn matches_hash(&self, stored: Option<&[u8]>) -> bool {
        secret_matches(stored, self.secret)
    }
}

impl std::fmt::Debug for ParsedKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret: a parsed key ends up in logs through `{:?}` as easily as any value.
        f.debug_struct("ParsedKey")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Strict parse of `tk_<16 lowercase hex>_<64 lowercase hex>`, without the database. The
/// length is checked first, so arbitrarily large input costs nothing; nothing here can panic.
///
/// # Errors
/// [`ApiKeyError::Malformed`] for any other text.
pub fn parse_key(text: &str) -> std::result::Result<ParsedKey<'_>, ApiKeyError> {
    fn lower_hex(s: &str) -> bool {
        s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }
    if text.len() != KEY_TEXT_LEN {
        return Err(ApiKeyError::Malformed);
    }
    let rest = text
        .strip_prefix(KEY_TEXT_PREFIX)
        .ok_or(ApiKeyError::Malformed)?;
    let prefix = rest.get(..PREFIX_HEX_LEN).ok_or(ApiKeyError::Malformed)?;
    let secret = rest
        .get(PREFIX_HEX_LEN..)
        .and_then(|s| s.strip_prefix('_'))
        .ok_or(ApiKeyError::Malformed)?;
    if prefix.len() == PREFIX_HEX_LEN
        && secret.len() == SECRET_HEX_LEN
        && lower_hex(prefix)
        && lower_hex(secret)
    {
        Ok(ParsedKey { prefix, secret })
    } else {
        Err(ApiKeyError::Malformed)
    }
}

/// Creates a key for `spec.principal` in the transaction's tenant and writes an
/// `api_key.issue` audit row (ids and prefix, never the secret). The returned
/// [`IssuedKey::key`] is the only copy of the key text.
///
/// # Errors
/// [`Error::InvalidInput`] for a blank or too long name, bad scopes, a zero or too large rate
/// limit, or a principal that does not exist in this tenant (nothing written);
/// [`ApiKeyError::RandomUnavailable`] when the OS random source fails; database errors.
pub fn issue(tx: &mut TenantTx<'_>, spec: NewKeySpec) -> Result<IssuedKey> {
    let NewKeySpec {
        principal,
        name,
        scopes,
        expires_at,
        rate_limit_per_hour,
    } = spec;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(invalid("name", "expected 1 to 200 characters"));
    }
    let scopes = check_scopes(scopes)?;
    let rate_limit_per_hour = match rate_limit_per_hour {
        None => None,
        Some(limit) => match i32::try_from(limit) {
            Ok(limit) if limit > 0 => Some(limit),
            _ => {
                return Err(invalid(
                    "rate_limit_per_hour",
                    format!("expected 1 to {}", i32::MAX),
                ));
            }
        },
    };
    if !tx.exists(principals::table.filter(principals::id.eq(principal)))? {
        return Err(invalid(
            "principal",
            format!("{principal} is not a principal of this tenant"),
        ));
    }

    let prefix = random_hex::<{ PREFIX_HEX_LEN / 2 }>()?;
    let secret = random_hex::<{ SECRET_HEX_LEN / 2 }>()?;
    let hash = secret_hash(&secret);
    let key = SecretKey(format!("{KEY_TEXT_PREFIX}{prefix}_{secret}"));
    drop(SecretKey(secret)); // overwrite the loose copy
    let id = ApiKeyId::new_v7();
    tx.insert(
        api_keys::table,
        NewApiKey {
            id,
            principal_id: principal,
            name,
            prefix: &prefix,
            secret_hash: &hash,
            scopes: &scopes,
            expires_at,
            rate_limit_per_hour,
        },
    )?;
    audit::record(
        tx,
        &AuditEvent::new("api_key.issue").details(json!({
            "api_key_id": id,
            "prefix": prefix,
            "principal_id": principal,
            "name": name,
            "scopes": scopes,
            "expires_at": expires_at,
            "rate_limit_per_hour": rate_limit_per_hour,
        })),
    )?;
    Ok(IssuedKey {
        id,
        prefix,
        principal,
        key,
    })
}

/// Revokes key `id` of the transaction's tenant and writes an `api_key.revoke` audit row.
/// Revoking a revoked key succeeds and writes nothing.
///
/// # Errors
/// [`ApiKeyError::NotFound`] when the tenant has no such key (also for another tenant's key);
/// database errors.
pub fn revoke(tx: &mut TenantTx<'_>, id: ApiKeyId) -> Result<()> {
    let changed = tx
        .update(api_keys::table)
        .filter(api_keys::id.eq(id))
        .filter(api_keys::status.eq(ApiKeyStatus::Active))
        .set(api_keys::status.eq(ApiKeyStatus::Revoked))
        .execute()?;
    if changed == 0 {
        return if tx.exists(api_keys::table.filter(api_keys::id.eq(id)))? {
            Ok(())
        } else {
            Err(ApiKeyError::NotFound.into())
        };
    }
    audit::record(
        tx,
        &AuditEvent::new("api_key.revoke").details(json!({ "api_key_id": id })),
    )?;
    Ok(())
}

/// One row of `tenancy.api_key_lookup(prefix)`. No `Debug`: it holds the secret's hash.
#[derive(QueryableByName)]
struct LookedUpKey {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    tenant_id: TenantId,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: ApiKeyId,
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
fn tenant_refusal(error: Error) -> Error {
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
/// acts as. In order: parse, look the prefix up (`tenancy.api_key_lookup`, no tenant
/// needed), compare the secret's hash in constant time, check revocation, expiry and the
/// tenant's status, count the request with `limiter` when the key has a
/// `rate_limit_per_hour`, and touch `last_used_at` when it is unset or older than
/// [`LAST_USED_INTERVAL`] (one conditional `UPDATE`; otherwise nothing is written).
///
/// Times come from this process's clock.
///
/// # Errors
/// [`Error::ApiKey`] with [`ApiKeyError::Malformed`], [`ApiKeyError::Unknown`] (unknown
/// prefix, wrong secret, deleted tenant), [`ApiKeyError::Revoked`], [`ApiKeyError::Expired`],
/// [`ApiKeyError::TenantSuspended`] or [`ApiKeyError::RateLimited`]; pool and database errors.
pub fn verify(tenancy: &Tenancy, key_text: &str, limiter: &dyn RateLimiter) -> Result<VerifiedKey> {
    let parsed = parse_key(key_text)?;
    let rows: Vec<LookedUpKey> = tenancy.system(|sys| {
        sys.load_sql(
            diesel::sql_query("SELECT * FROM tenancy.api_key_lookup($1)")
                .into_boxed()
                .bind::<Text, _>(parsed.prefix),
        )
    })?;
    // Hash and compare whether or not the prefix exists (see `secret_matches`). Prefixes are
    // unique per tenant only, so another tenant may hold a row with the same prefix (by
    // chance, or planted to block this key): every returned row is compared, and only the
    // one whose hash matches counts.
    let mut found = None;
    if rows.is_empty() {
        let _ = secret_matches(None, parsed.secret);
    }
    for row in rows {
        if secret_matches(Some(row.secret_hash.as_slice()), parsed.secret) && found.is_none() {
            found = Some(row);
        }
    }
    let Some(row) = found else {
        return Err(reject(parsed.prefix, ApiKeyError::Unknown));
    };
    if row.tenant_deleted {
        return Err(reject(parsed.prefix, ApiKeyError::Unknown));
    }
    if row.status == ApiKeyStatus::Revoked {
        return Err(reject(parsed.prefix, ApiKeyError::Revoked));
    }
    let now = Utc::now();
    if row.expires_at.is_some_and(|at| at <= now) {
        return Err(reject(parsed.prefix, ApiKeyError::Expired));
    }
    if row.tenant_status != TenantStatus::Active {
        return Err(reject(parsed.prefix, ApiKeyError::TenantSuspended));
    }
    if let Some(limit) = row
        .rate_limit_per_hour
        .and_then(|l| u32::try_from(l).ok())
        .filter(|l| *l > 0)
    {
        let request = RateLimitRequest::new(row.tenant_id, row.id, limit);
        limiter
            .check(tenancy, request)
            .map_err(|e| match tenant_refusal(e) {
                Error::ApiKey(reason) => reject(parsed.prefix, reason),
                other => other,
            })?;
    }
    let cutoff = now - LAST_USED_INTERVAL;
    if row.last_used_at.is_none_or(|at| at < cutoff) {
        tenancy
            .transaction(row.tenant_id, |tx| {
                tx.update(api_keys::table)
                    .filter(api_keys::id.eq(row.id))
                    .filter(
                        api_keys::last_used_at
                            .is_null()
                            .or(api_keys::last_used_at.lt(cutoff)),
                    )
                    .set(api_keys::last_used_at.eq(now))
                    .execute()
            })
            .map_err(tenant_refusal)?;
    }
    Ok(VerifiedKey {
        tenant: row.tenant_id,
        principal: row.principal_id,
        key: row.id,
        scopes: row.scopes.into_iter().flatten().collect(),
    })
}

/// A clock for the rate limiters; tests inject a fixed one.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

fn system_clock() -> Clock {
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

/// Counts requests of rate-limited keys. [`verify`] calls it once per authenticated request
/// of a key that has a `rate_limit_per_hour`.
pub trait RateLimiter: Send + Sync {
    /// Counts `request` and accepts it, or refuses it with [`ApiKeyError::RateLimited`].
    ///
    /// # Errors
    /// [`Error::ApiKey`] with [`ApiKeyError::RateLimited`] over the limit; whatever the
    /// implementation's storage reports.
    fn check(&self, tenancy: &Tenancy, request: RateLimitRequest) -> Result<()>;
}

/// The start of the fixed hourly window holding `now`, as Unix seconds.
fn window_start(now: DateTime<Utc>) -> i64 {
    now.timestamp().div_euclid(WINDOW_SECS) * WINDOW_SECS
}

/// Seconds from `now` to the end of the window that started at `start` (at least 1).
fn retry_after(start: i64, now: DateTime<Utc>) -> u64 {
    u64::try_from(start + WINDOW_SECS - now.timestamp())
        .unwrap_or(1)
        .max(1)
}

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
}

impl RateLimiter for MemoryRateLimiter {
    fn check(&self, _tenancy: &Tenancy, request: RateLimitRequest) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key_text(prefix: &str, secret: &str) -> String {
        format!("tk_{prefix}_{secret}")
    }

    #[test]
    fn parses_exactly_the_key_format() {
        let prefix = "0123456789abcdef";
        let secret = "ab".repeat(32);
        let text = key_text(prefix, &secret);
        assert_eq!(text.len(), KEY_TEXT_LEN);
        let parsed = parse_key(&text).ok();
        assert!(
            parsed
                == Some(ParsedKey {
                    prefix,
                    secret: &secret
                })
        );

        let upper = key_text(&prefix.to_uppercase(), &secret);
        let long_unicode = format!("tk_{prefix}_{}é", "a".repeat(62));
        let multibyte_boundary = format!("tk_{}é_{secret}", "a".repeat(14));
        for bad in [
            String::new(),
            "tk_".to_owned(),
            key_text(prefix, &secret[1..]),
            format!("{text}0"),
            format!("xx_{prefix}_{secret}"),
            format!("tk_{prefix}-{secret}"),
            format!("tk{prefix}__{secret}"),
            upper,
            key_text(prefix, &"g".repeat(64)),
            long_unicode,
            multibyte_boundary,
            format!(" {}", &text[1..]),
            "é".repeat(42),
            "x".repeat(1 << 20),
        ] {
            assert!(parse_key(&bad) == Err(ApiKeyError::Malformed), "{bad:.100}");
        }
    }

    #[test]
    fn hash_comparison_is_subtle_based() {
        let a = secret_hash("one");
        let b = secret_hash("two");
        assert!(bool::from(hashes_equal(&a, &a)));
        assert!(!bool::from(hashes_equal(&a, &b)));
        let mut last_byte_differs = a;
        last_byte_differs[31] ^= 1;
        assert!(!bool::from(hashes_equal(&a, &last_byte_differs)));
        assert_eq!(a, <[u8; 32]>::from(Sha256::digest(b"one")));
    }

    // No timing is measured here or anywhere (timed tests are forbidden in this project:
    // they are flaky and prove little). What is asserted is the structure that makes timing
    // uniform: every verification hashes the presented secret and runs exactly one
    // constant-time comparison, including for unknown prefixes and malformed stored hashes.
    #[test]
    fn unknown_prefixes_are_hashed_and_compared_too() {
        let comparisons = || COMPARISONS.with(std::cell::Cell::get);
        let secret = "cd".repeat(32);
        let stored = secret_hash(&secret);

        let before = comparisons();
        assert!(!secret_matches(None, &secret));
        assert_eq!(comparisons(), before + 1, "unknown prefix: one comparison");

        assert!(!secret_matches(Some(&[1, 2, 3]), &secret));
        assert_eq!(comparisons(), before + 2, "bad stored hash: one comparison");

        assert!(!secret_matches(Some(&secret_hash("other")), &secret));
        assert_eq!(comparisons(), before + 3);

        assert!(secret_matches(Some(&stored), &secret));
        assert_eq!(comparisons(), before + 4);

        // The dummy hash is never accepted, not even for a secret chosen to collide with it
        // in its first bytes.
        assert!(!secret_matches(Some(&DUMMY_HASH), &secret));
    }

    #[test]
    fn secret_key_debug_and_display_hide_the_secret() {
        let secret = "ef".repeat(32);
        let key = SecretKey(key_text("0123456789abcdef", &secret));
        for shown in [format!("{key:?}"), format!("{key}")] {
            assert!(!shown.contains(&secret), "{shown}");
            assert!(shown.contains("tk_0123456789abcdef_"), "{shown}");
        }
        assert!(key.expose_secret().ends_with(&secret));
        let issued = IssuedKey {
            id: ApiKeyId::new_v7(),
            prefix: "0123456789abcdef".into(),
            principal: PrincipalId::new_v7(),
            key,
        };
        assert!(!format!("{issued:?}").contains(&secret));
        assert!(!format!("{issued:#?}").contains(&secret));
    }

    #[test]
    fn scopes_are_validated() {
        let ok = check_scopes(vec!["read".into(), "deploy:write".into(), "a.b_c9".into()]);
        assert_eq!(ok.ok().map(|s| s.len()), Some(3));
        let deduped = check_scopes(vec!["read".into(), "read".into()]);
        assert_eq!(deduped.ok(), Some(vec![Some("read".to_owned())]));
        for bad in [
            "",
            "Read",
            "a b",
            "a/b",
            "é",
            &"a".repeat(MAX_SCOPE_LEN + 1),
        ] {
            assert!(check_scopes(vec![bad.to_owned()]).is_err(), "{bad}");
        }
        let many: Vec<String> = (0..=MAX_SCOPES).map(|i| format!("s{i}")).collect();
        assert!(check_scopes(many[..MAX_SCOPES].to_vec()).is_ok());
        assert!(check_scopes(many).is_err());
        let err = check_scopes(vec!["X".repeat(1 << 20)])
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.len() < 300), "bounded error text");
    }

    #[test]
    fn windows_are_fixed_hours() {
        let at = |s| DateTime::<Utc>::from_timestamp(s, 0).unwrap_or_default();
        assert_eq!(window_start(at(7200)), 7200);
        assert_eq!(window_start(at(10_799)), 7200);
        assert_eq!(retry_after(7200, at(7200)), 3600);
        assert_eq!(retry_after(7200, at(10_799)), 1);
        assert_eq!(window_start(at(-1)), -3600);
    }

    #[test]
    fn random_keys_differ_and_have_the_right_shape() {
        let a = random_hex::<32>().ok();
        let b = random_hex::<32>().ok();
        assert!(a.as_ref().is_some_and(|a| a.len() == 64));
        assert_ne!(a, b);
    }
}
