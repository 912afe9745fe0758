//! Role-based permission checks, driven by the `role_permissions` table.
//!
//! A principal's permissions are those of its active membership's role in the transaction's
//! tenant. Operations that need a permission call [`require`], which answers
//! [`Error::Forbidden`]; looking up a row the caller cannot see answers [`Error::NotFound`]
//! instead, so a response never reveals that another tenant's row exists.

use diesel::prelude::*;

use crate::models::MemberStatus;
use crate::schema::{org_members, role_permissions};
use crate::{Error, Result, TenantTx};

/// A permission named in `role_permissions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Permission {
    /// Rename, suspend or resume the tenant.
    TenantManage,
    /// Delete the tenant.
    TenantDelete,
    /// Invite, re-role and remove members.
    MembersManage,
    /// Create teams and manage their members.
    TeamsManage,
    /// Create team and org workspaces.
    WorkspacesManage,
    /// Read resources (subject to visibility and ACLs).
    ResourcesRead,
    /// Create and update resources (subject to ACLs).
    ResourcesWrite,
    /// Delete resources and manage their ACLs (subject to ownership).
    ResourcesAdmin,
    /// Issue and revoke API keys.
    ApiKeysManage,
    /// Read the audit log.
    AuditRead,
}

impl Permission {
    /// The text stored in `role_permissions.permission`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TenantManage => "tenant.manage",
            Self::TenantDelete => "tenant.delete",
            Self::MembersManage => "members.manage",
            Self::TeamsManage => "teams.manage",
            Self::WorkspacesManage => "workspaces.manage",
            Self::ResourcesRead => "resources.read",
            Self::ResourcesWrite => "resources.write",
            Self::ResourcesAdmin => "resources.admin",
            Self::ApiKeysManage => "api_keys.manage",
            Self::AuditRead => "audit.read",
        }
    }
}

/// The permissions of the transaction's principal in its tenant (empty without a principal
/// or without an active membership).
///
/// # Errors
/// A database error.
pub fn permissions(tx: &mut TenantTx<'_>) -> Result<Vec<String>> {
    let Some(principal) = tx.principal() else {
        return Ok(Vec::new());
    };
    permissions_of(tx, principal)
}

/// The permissions `principal` holds through an active membership of the transaction's
/// tenant.
pub(crate) fn permissions_of(
    tx: &mut TenantTx<'_>,
    principal: crate::PrincipalId,
) -> Result<Vec<String>> {
    tx.load(
        org_members::table
            .inner_join(role_permissions::table.on(role_permissions::role.eq(org_members::role)))
            .filter(org_members::principal_id.eq(principal))
            .filter(org_members::status.eq(MemberStatus::Active))
            .select(role_permissions::permission),
    )
}

/// Fails with [`Error::Forbidden`] unless the transaction's principal holds `permission`.
///
/// # Errors
/// [`Error::Forbidden`], or a database error.
pub fn require(tx: &mut TenantTx<'_>, permission: Permission) -> Result<()> {
    require_all(tx, &[permission])
}

/// Like [`require`] for several permissions, reading the principal's permissions once; the
/// first missing one (in the order given) is the one reported.
///
/// # Errors
/// [`Error::Forbidden`], or a database error.
pub fn require_all(tx: &mut TenantTx<'_>, needed: &[Permission]) -> Result<()> {
    let held = permissions(tx)?;
    match needed
        .iter()
        .find(|p| !held.iter().any(|h| h == p.as_str()))
    {
        None => Ok(()),
        Some(missing) => Err(Error::Forbidden {
            permission: missing.as_str(),
        }),
    }
}
