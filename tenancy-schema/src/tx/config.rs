//! The role names and checks a `Tenancy` runs with, kept apart so that they can be built,
//! validated and compared without opening a connection.

use super::AdminAudit;
use crate::Error;
// Named by doc links only.
#[cfg(doc)]
use super::{Tenancy, TenancyBuilder};

/// Which database roles tenancy relies on, and what a tenant transaction checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenancyConfig {
    pub(super) app_role: String,
    pub(super) admin_role: String,
    pub(super) check_tenant_status: bool,
    pub(super) admin_audit: Option<AdminAudit>,
}

impl Default for TenancyConfig {
    fn default() -> Self {
        Self {
            app_role: "tenancy_app".to_owned(),
            admin_role: "tenancy_admin".to_owned(),
            check_tenant_status: true,
            admin_audit: None,
        }
    }
}

fn check_role(name: &str) -> Result<String, Error> {
    let mut chars = name.chars();
    let valid_start = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    if valid_start
        && name.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        Ok(name.to_owned())
    } else {
        Err(Error::InvalidRoleName(name.chars().take(80).collect()))
    }
}

impl TenancyConfig {
    /// The non-privileged role whose privileges tenant transactions and the system connection
    /// use (default `tenancy_app`). The application login must inherit it and must not be
    /// able to become any role that skips row level security; [`TenancyBuilder::build`]
    /// checks both.
    ///
    /// # Errors
    /// [`Error::InvalidRoleName`] unless `role` is a plain lowercase SQL identifier.
    pub fn app_role(mut self, role: &str) -> Result<Self, Error> {
        self.app_role = check_role(role)?;
        Ok(self)
    }

    /// The `BYPASSRLS` role used by [`Tenancy::admin`] (default `tenancy_admin`), reached
    /// from the admin login with `SET LOCAL ROLE`.
    ///
    /// # Errors
    /// [`Error::InvalidRoleName`] unless `role` is a plain lowercase SQL identifier.
    pub fn admin_role(mut self, role: &str) -> Result<Self, Error> {
        self.admin_role = check_role(role)?;
        Ok(self)
    }

    /// Whether opening a tenant transaction checks, in the same statement, that the tenant
    /// exists, is not deleted and is not suspended (`tenancy.require_active_tenant()` from the
    /// foundation migrations). On by default; turn it off only for a database without the
    /// foundation schema.
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
