//! Visibility and ACL rules for `resources`, on the Rust side.
//!
//! The same rules are enforced by row level security for `tenancy_app` (policies
//! `resource_read`, `resource_insert`, `resource_update`, `resource_delete` in
//! `migrations/*_tenant_tables/up.sql`). Applying them in the query as well keeps results
//! identical under the admin role (which bypasses RLS) and lets the planner use them.
//!
//! | visibility  | who can read                                                              |
//! |-------------|---------------------------------------------------------------------------|
//! | `private`   | the owner (or a member of the owning team) and principals with an ACL grant |
//! | `workspace` | as `private`, plus whoever can access the workspace: every member of the tenant for an `org` workspace, the owner (or owning team's members) otherwise |
//! | `tenant`    | everyone in the tenant                                                    |
//!
//! Updates need ownership or an ACL grant of `write`/`admin`; deletes ownership or `admin`.
//! "The caller" is the transaction's principal plus the principals of its teams
//! ([`caller_principals`]); a transaction without a principal sees only `tenant` resources.

use diesel::dsl::exists;
use diesel::prelude::*;
use diesel::sql_types::{Array, Uuid as SqlUuid};

use crate::models::{AclPermission, ResourceVisibility, WorkspaceKind};
use crate::schema::{resource_acl, resources, workspaces};
use crate::{PrincipalId, Result, TenantTx};

#[derive(QueryableByName)]
struct Callers {
    #[diesel(sql_type = Array<SqlUuid>)]
    principals: Vec<uuid::Uuid>,
}

/// The acting principal and the principals of its teams, as `tenancy.caller_principals()`
/// computes them in the database.
///
/// # Errors
/// A database error.
pub fn caller_principals(tx: &mut TenantTx<'_>) -> Result<Vec<PrincipalId>> {
    let rows: Vec<Callers> = tx.load_sql(diesel::sql_query(
        "SELECT tenancy.caller_principals() AS principals",
    ))?;
    Ok(rows
        .into_iter()
        .flat_map(|r| r.principals)
        .map(PrincipalId::from_uuid)
        .collect())
}

/// The boxed `resources` query a caller with `principals` may read: the Rust form of the
/// `resource_read` policy.
#[must_use]
pub fn readable_by(principals: &[PrincipalId]) -> resources::BoxedQuery<'static, diesel::pg::Pg> {
    let principals: Vec<PrincipalId> = principals.to_vec();
    let workspace_access = exists(
        workspaces::table
            .filter(workspaces::tenant_id.eq(resources::tenant_id))
            .filter(workspaces::id.eq(resources::workspace_id))
            .filter(
                workspaces::kind
                    .eq(WorkspaceKind::Org)
                    .or(workspaces::owner_principal_id.eq_any(principals.clone())),
            ),
    );
    let granted = exists(
        resource_acl::table
            .filter(resource_acl::tenant_id.eq(resources::tenant_id))
            .filter(resource_acl::resource_id.eq(resources::id))
            .filter(resource_acl::principal_id.eq_any(principals.clone())),
    );
    resources::table.into_boxed().filter(
        resources::visibility
            .eq(ResourceVisibility::Tenant)
            .or(resources::owner_principal_id.eq_any(principals))
            .or(resources::visibility
                .eq(ResourceVisibility::Workspace)
                .and(workspace_access))
            .or(granted),
    )
}

/// The boxed `resources` query a caller with `principals` may update (`admin_only`: delete).
#[must_use]
pub fn writable_by(
    principals: &[PrincipalId],
    admin_only: bool,
) -> resources::BoxedQuery<'static, diesel::pg::Pg> {
    let principals: Vec<PrincipalId> = principals.to_vec();
    let permissions: &[AclPermission] = if admin_only {
        &[AclPermission::Admin]
    } else {
        &[AclPermission::Write, AclPermission::Admin]
    };
    let granted = exists(
        resource_acl::table
            .filter(resource_acl::tenant_id.eq(resources::tenant_id))
            .filter(resource_acl::resource_id.eq(resources::id))
            .filter(resource_acl::principal_id.eq_any(principals.clone()))
            .filter(resource_acl::permission.eq_any(permissions.to_vec())),
    );
    resources::table
        .into_boxed()
        .filter(resources::owner_principal_id.eq_any(principals).or(granted))
}
