//! A ready resolver for the foundation schema's API keys (`Authorization: Bearer tk_…`).
//!
//! ```no_run
//! use axum::{Extension, Json, Router, routing::get};
//! use tenancy_axum::foundation::{ApiKeyResolver, require_scope};
//! use tenancy_axum::{HttpError, TenancyLayer, Tx};
//! use tenancy_foundation::api_keys::VerifiedKey;
//!
//! async fn whoami(Extension(key): Extension<VerifiedKey>, tx: Tx) -> Result<Json<String>, HttpError> {
//!     require_scope(&key, "profile:read")?;
//!     Ok(Json(tx.tenant().to_string()))
//! }
//!
//! # async fn demo(app_url: &str, admin_url: &str) -> Result<(), tenancy_schema::Error> {
//! let tenancy = tenancy_async::AsyncTenancy::builder(app_url)
//!     .admin_url(admin_url)
//!     .config(tenancy_foundation::config())
//!     .build()
//!     .await?;
//! // Keys are verified on the same pool as the handlers' transactions.
//! let app: Router = Router::new()
//!     .route("/whoami", get(whoami))
//!     .layer(TenancyLayer::new(tenancy.clone(), ApiKeyResolver::new(tenancy)));
//! # let _ = app; Ok(()) }
//! ```

use std::sync::Arc;

use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use tenancy_async::AsyncTenancy;
use tenancy_foundation::api_keys::{
    self, ApiKeyError, AsyncRateLimiter, MemoryRateLimiter, VerifiedKey,
};
use tenancy_schema::{PrincipalId, TenantId};

use crate::{HttpError, TenantIdentity, TenantResolver};

/// Resolves a request by its API key, with the foundation's own verification
/// ([`tenancy_foundation::api_keys::verify_async`]: the prefix lookup, the constant-time hash
/// comparison, revocation, expiry, the tenant's status, the rate limit, the throttled
/// `last_used_at` write, the steps and order of the synchronous
/// [`tenancy_foundation::api_keys::verify`], whose code they share), so that an HTTP request
/// is accepted exactly when that function accepts the key. The identity is the
/// [`VerifiedKey`] (tenant, principal, scopes).
///
/// It runs on an [`AsyncTenancy`], usually the layer's own: a request's key check takes a
/// pooled connection for its lookup (and, for a rate-limited key with
/// [`tenancy_foundation::api_keys::PgRateLimiter`] or a key whose `last_used_at` is due, a
/// short transaction) and gives it back before the handler's transaction takes one.
///
/// | refusal | status | `error` |
/// |---|---|---|
/// | no `Authorization` header, or not `Bearer` | 401 | `missing_credentials` |
/// | more than one `Authorization` header | 400 | `ambiguous_credentials` |
/// | malformed, unknown, revoked or expired key | 401 | `invalid_api_key` |
/// | the key's tenant is suspended | 403 | `tenant_suspended` |
/// | over the key's hourly limit | 429 (with `Retry-After`) | `rate_limited` |
#[derive(Clone)]
pub struct ApiKeyResolver {
    tenancy: AsyncTenancy,
    limiter: Arc<dyn AsyncRateLimiter>,
}

impl std::fmt::Debug for ApiKeyResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyResolver").finish_non_exhaustive()
    }
}

impl ApiKeyResolver {
    /// Verifies keys on `tenancy`, counting rate limits in this process's memory
    /// ([`MemoryRateLimiter`]).
    #[must_use]
    pub fn new(tenancy: AsyncTenancy) -> Self {
        Self::with_limiter(tenancy, MemoryRateLimiter::new())
    }

    /// Verifies keys on `tenancy`, counting rate limits with `limiter` (a
    /// [`tenancy_foundation::api_keys::PgRateLimiter`] shares the count between processes).
    pub fn with_limiter(tenancy: AsyncTenancy, limiter: impl AsyncRateLimiter + 'static) -> Self {
        Self {
            tenancy,
            limiter: Arc::new(limiter),
        }
    }
}

impl TenantIdentity for VerifiedKey {
    fn tenant(&self) -> TenantId {
        self.tenant
    }

    fn principal(&self) -> Option<PrincipalId> {
        Some(self.principal)
    }
}

impl TenantResolver for ApiKeyResolver {
    type Identity = VerifiedKey;

    async fn resolve(&self, parts: &Parts) -> Result<VerifiedKey, HttpError> {
        let key = bearer_token(&parts.headers)?;
        api_keys::verify_async(&self.tenancy, key, self.limiter.as_ref())
            .await
            .map_err(HttpError::from)
    }
}

/// The token of an `Authorization: Bearer <token>` header.
///
/// A request with more than one `Authorization` header is refused whatever they hold: HTTP
/// allows the field once, and taking one of several would let the tenant depend on their
/// order, which a proxy in front may read the other way (checking the last while this takes
/// the first).
fn bearer_token(headers: &HeaderMap) -> Result<&str, HttpError> {
    let missing = || {
        HttpError::unauthorized(
            "missing_credentials",
            "send an API key as `Authorization: Bearer tk_…`",
        )
    };
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next().ok_or_else(missing)?;
    if values.next().is_some() {
        return Err(HttpError::new(
            StatusCode::BAD_REQUEST,
            "ambiguous_credentials",
            "send one `Authorization` header",
        ));
    }
    let value = value.to_str().map_err(|_| missing())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(missing());
    }
    Ok(token.trim())
}

/// The answer for a refused key (also when a handler's own key operation fails this way).
pub(crate) fn api_key_rejection(error: &ApiKeyError) -> HttpError {
    match error {
        ApiKeyError::Malformed
        | ApiKeyError::Unknown
        | ApiKeyError::Revoked
        | ApiKeyError::Expired => HttpError::unauthorized("invalid_api_key", error.to_string()),
        ApiKeyError::TenantSuspended => {
            HttpError::forbidden("tenant_suspended", "the tenant is suspended")
        }
        ApiKeyError::RateLimited { retry_after_secs } => HttpError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            error.to_string(),
        )
        .retry_after(*retry_after_secs),
        ApiKeyError::NotFound => HttpError::not_found("api key"),
        _ => {
            tracing::error!(target: "tenancy::http", error = %error, "api key operation failed");
            HttpError::internal()
        }
    }
}

/// 403 `missing_scope` unless `key` carries `scope`.
///
/// # Errors
/// The 403 answer, naming the scope.
pub fn require_scope(key: &VerifiedKey, scope: &str) -> Result<(), HttpError> {
    if key.has_scope(scope) {
        Ok(())
    } else {
        Err(HttpError::forbidden(
            "missing_scope",
            format!("the API key lacks the `{scope}` scope"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_bearer_header_carries_a_token() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers).unwrap_err().status(), 401);
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(
            bearer_token(&headers).unwrap_err().code(),
            "missing_credentials"
        );
        headers.insert(header::AUTHORIZATION, "Bearer tk_1_2".parse().unwrap());
        assert_eq!(bearer_token(&headers).unwrap(), "tk_1_2");
    }

    #[test]
    fn several_authorization_headers_are_refused_whatever_their_order() {
        for [first, second] in [
            ["Bearer tk_1_2", "Bearer tk_3_4"],
            ["Bearer tk_1_2", "Bearer tk_1_2"],
            ["Basic abc", "Bearer tk_1_2"],
            ["Bearer tk_1_2", "garbage"],
        ] {
            let mut headers = HeaderMap::new();
            headers.append(header::AUTHORIZATION, first.parse().unwrap());
            headers.append(header::AUTHORIZATION, second.parse().unwrap());
            let refusal = bearer_token(&headers).unwrap_err();
            assert_eq!(
                (refusal.status().as_u16(), refusal.code()),
                (400, "ambiguous_credentials"),
                "{first} then {second}"
            );
        }
    }

    #[test]
    fn key_refusals_map_to_their_status_codes() {
        assert_eq!(api_key_rejection(&ApiKeyError::Revoked).status(), 401);
        assert_eq!(
            api_key_rejection(&ApiKeyError::TenantSuspended).status(),
            403
        );
        let limited = api_key_rejection(&ApiKeyError::RateLimited {
            retry_after_secs: 7,
        });
        assert_eq!(limited.status(), 429);
        let from_core = HttpError::from(tenancy_schema::Error::from(ApiKeyError::Expired));
        assert_eq!(
            (from_core.status().as_u16(), from_core.code()),
            (401, "invalid_api_key")
        );
    }
}
