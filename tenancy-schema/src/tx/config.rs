//! The role names and checks a `Tenancy` runs with, kept apart so that they can be built,
//! validated and compared without opening a connection.

use super::{AdminAudit, RoleName};
// Named by doc links only.
#[cfg(doc)]
use super::{Tenancy, TenancyBuilder};

/// Which database roles tenancy relies on, and what a tenant transaction checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenancyConfig {
    pub(super) app_role: RoleName,
    pub(super) admin_role: RoleName,
    pub(super) check_tenant_status: bool,
    pub(super) admin_audit: Option<AdminAudit>,
}

impl Default for TenancyConfig {
    fn default() -> Self {
        Self {
            app_role: RoleName::known("tenancy_app"),
            admin_role: RoleName::known("tenancy_admin"),
            check_tenant_status: true,
            admin_audit: None,
        }
    }
}

impl TenancyConfig {
    /// The non-privileged role whose privileges tenant transactions and the system connection
    /// use (default `tenancy_app`). The application login must inherit it and must not be
    /// able to become any role that skips row level security; [`TenancyBuilder::build`]
    /// checks both.
    #[must_use]
    pub fn app_role(mut self, role: RoleName) -> Self {
        self.app_role = role;
        self
    }

    /// The `BYPASSRLS` role used by [`Tenancy::admin`] (default `tenancy_admin`), reached
    /// from the admin login with `SET LOCAL ROLE`.
    #[must_use]
    pub fn admin_role(mut self, role: RoleName) -> Self {
        self.admin_role = role;
        self
    }

    /// Whether opening a tenant transaction asks the tenant status hook, in the same
    /// statement, whether the tenant may open one (`tenancy.tenant_refusal`, see the crate
    /// docs: the foundation's refuses a tenant that does not exist, is deleted or suspended;
    /// the core's refuses none). On by default.
    #[must_use]
    pub fn check_tenant_status(mut self, check: bool) -> Self {
        self.check_tenant_status = check;
        self
    }

    /// A hook that records every use of [`Tenancy::admin`] before its work runs (none by
    /// default: the core has no audit table). The foundation schema has one that writes an
    /// `admin.escape_hatch` row into its audit chain.
    #[must_use]
    pub fn admin_audit(mut self, audit: AdminAudit) -> Self {
        self.admin_audit = Some(audit);
        self
    }

    /// The application role.
    #[must_use]
    pub fn app_role_name(&self) -> &str {
        &self.app_role
    }

    /// The admin role.
    #[must_use]
    pub fn admin_role_name(&self) -> &str {
        &self.admin_role
    }
}

/// Whether tenant transactions of `config` check the tenant's status when they open (see
/// [`TenancyConfig::check_tenant_status`]). Reached through `tenancy_schema::__private_v0_1`:
/// not public API.
#[doc(hidden)]
#[must_use]
pub fn checks_tenant_status(config: &TenancyConfig) -> bool {
    config.check_tenant_status
}

/// Whether `config` has an [`AdminAudit`] hook. Reached through
/// `tenancy_schema::__private_v0_1`: not public API.
#[doc(hidden)]
#[must_use]
pub fn has_admin_audit(config: &TenancyConfig) -> bool {
    config.admin_audit.is_some()
}
