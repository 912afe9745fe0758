//! API keys: issue, verify, revoke and rate-limit keys that authenticate machine clients.
//!
//! ```no_run
//! use tenancy_foundation::api_keys::{self, MemoryRateLimiter, NewKeySpec};
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
//! **Verification** ([`verify`]; `verify_async` on an async tenancy, feature `async`, the
//! same steps in the same order, with an `AsyncRateLimiter`) runs before any tenant is known.
//! It reads the key through `tenancy.api_key_lookup(prefix, hash)`, a `SECURITY DEFINER`
//! function that answers only for an exact prefix together with the SHA-256 of the key's
//! secret (no pattern, no range, no count, and nothing for a prefix alone, which is no secret:
//! it is shown where keys are listed and travels in logs), so the application role can neither
//! list other tenants' keys nor read one whose prefix it learned. The presented secret's hash
//! is compared again in constant time with each stored one returned, and with a dummy hash
//! when none is, so the work done in the process does not depend on whether the key exists.
//!
//! **`last_used_at`** is written at most once per [`LAST_USED_INTERVAL`] per key, not on every
//! request. **Rate limits** (`rate_limit_per_hour`) are counted by a [`RateLimiter`]:
//! [`PgRateLimiter`] (shared by every process) or [`MemoryRateLimiter`] (one process).

mod error;
mod format;
mod hash;
mod issue;
mod memory_limiter;
mod pg_limiter;
mod rate_limit;
mod revoke;
mod verify;
#[cfg(feature = "async")]
mod verify_async;

pub use error::ApiKeyError;
pub use format::{KEY_TEXT_PREFIX, ParsedKey, SecretKey, parse_key};
pub use issue::{IssuedKey, MAX_SCOPE_LEN, MAX_SCOPES, NewKeySpec, issue};
pub use memory_limiter::MemoryRateLimiter;
pub use pg_limiter::PgRateLimiter;
#[cfg(feature = "async")]
pub use rate_limit::{AsyncRateLimiter, CheckFuture};
pub use rate_limit::{Clock, RateLimitRequest, RateLimiter};
pub use revoke::revoke;
pub use verify::{LAST_USED_INTERVAL, VerifiedKey, verify};
#[cfg(feature = "async")]
pub use verify_async::verify_async;
