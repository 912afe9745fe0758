//! Who a request acts for: the application's answer, from the request's head.

use axum::http::request::Parts;
use tenancy_schema::{PrincipalId, TenantId};

use crate::HttpError;

/// What a resolver found out about a request: at least the tenant, and the acting principal
/// if there is one. The layer stores the whole value in the request's extensions, so a
/// handler can extract it (`Extension<MyIdentity>`) to read what else it carries (a key's
/// scopes, say).
pub trait TenantIdentity: Clone + Send + Sync + 'static {
    /// The tenant whose transaction the request gets.
    fn tenant(&self) -> TenantId;

    /// The acting principal (`tenancy.current_principal()` in SQL), if any.
    fn principal(&self) -> Option<PrincipalId>;
}

/// The plainest identity: a tenant and maybe a principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tenant {
    /// The tenant.
    pub tenant: TenantId,
    /// The acting principal, if any.
    pub principal: Option<PrincipalId>,
}

impl TenantIdentity for Tenant {
    fn tenant(&self) -> TenantId {
        self.tenant
    }

    fn principal(&self) -> Option<PrincipalId> {
        self.principal
    }
}

/// Decides which tenant a request belongs to, before any handler runs. The application
/// supplies it (a session lookup, a verified token, an API key: see
/// `tenancy_axum::foundation::ApiKeyResolver` behind the `foundation` feature); the layer
/// answers a rejection itself, without calling the handler.
///
/// Only the request's head is given: a resolver cannot consume the body the handler needs.
///
/// ```
/// use std::collections::HashMap;
/// use axum::http::{header, request::Parts};
/// use tenancy_axum::{HttpError, Tenant, TenantResolver};
///
/// /// Static bearer tokens, as a test or an internal tool might keep them.
/// struct Tokens(HashMap<String, Tenant>);
///
/// impl TenantResolver for Tokens {
///     type Identity = Tenant;
///
///     async fn resolve(&self, parts: &Parts) -> Result<Tenant, HttpError> {
///         let token = parts
///             .headers
///             .get(header::AUTHORIZATION)
///             .and_then(|v| v.to_str().ok())
///             .and_then(|v| v.strip_prefix("Bearer "))
///             .ok_or_else(|| HttpError::unauthorized("missing_credentials", "no bearer token"))?;
///         self.0
///             .get(token)
///             .copied()
///             .ok_or_else(|| HttpError::unauthorized("invalid_credentials", "unknown token"))
///     }
/// }
/// ```
pub trait TenantResolver: Send + Sync + 'static {
    /// What a resolved request carries.
    type Identity: TenantIdentity;

    /// The identity of the request with head `parts`, or the answer that refuses it (401 for
    /// missing or bad credentials, 403 for a known caller that may not come in).
    fn resolve(
        &self,
        parts: &Parts,
    ) -> impl Future<Output = Result<Self::Identity, HttpError>> + Send;
}
