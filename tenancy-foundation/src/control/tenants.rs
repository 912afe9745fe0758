//! The tenant lifecycle: create, read, rename, suspend, resume, soft-delete and purge. All of
//! it runs on the admin path, because the application role may only read `tenants`, and then
//! only its own tenant's row.

use diesel::prelude::*;

use super::members::add_member;
use super::users::find_or_create_user;
use super::validate::{check_data_region, check_email, check_name, check_slug, conflict};
use crate::audit::{self, AuditEvent};
use crate::models::{
    MemberRole, MemberStatus, NewTenant, PlanTier, Tenant, TenantStatus, WorkspaceKind,
};
use crate::schema::{tenants, workspaces};
use crate::{Error, PrincipalId, Result, Tenancy, TenantId, UserId, WorkspaceId};

/// What [`create_tenant`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTenantSpec<'a> {
    /// Unique slug: lowercase letters, digits, `_` and `-`, 1 to 63 characters, not starting
    /// with `-`.
    pub slug: &'a str,
    /// Display name, 1 to 200 characters.
    pub name: &'a str,
    /// Plan.
    pub plan: PlanTier,
    /// Data region, if it matters: a code such as `eu` or `us-east-1` (lowercase letters,
    /// digits, `_` and `-`, 1 to 63 characters).
    pub data_region: Option<&'a str>,
    /// The owner's email; an existing user (compared case-insensitively) is reused.
    pub owner_email: &'a str,
    /// The owner's display name (used when the user is new, and for the principal).
    pub owner_name: &'a str,
}

/// What [`create_tenant`] created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreatedTenant {
    /// The tenant.
    pub tenant: TenantId,
    /// The owner.
    pub owner: UserId,
    /// The owner's principal in the tenant.
    pub owner_principal: PrincipalId,
    /// The owner's personal workspace.
    pub workspace: WorkspaceId,
}

/// Creates a tenant with its owner in one transaction: the user (found by email or
/// created), the owner's principal, an `owner` membership and a personal workspace, plus a
/// `tenant.create` audit row.
///
/// # Errors
/// [`Error::InvalidInput`] for a bad slug, name, email or data region (nothing written),
/// [`Error::Conflict`] when the slug is taken, or a database error.
pub fn create_tenant(tenancy: &Tenancy, spec: &NewTenantSpec<'_>) -> Result<CreatedTenant> {
    check_slug(spec.slug)?;
    check_name("name", spec.name)?;
    check_name("owner_name", spec.owner_name)?;
    check_email(spec.owner_email)?;
    if let Some(region) = spec.data_region {
        check_data_region(region)?;
    }
    crate::control_plane(tenancy, "control plane: create tenant", |conn| {
        let conn: &mut PgConnection = conn;
        let owner = find_or_create_user(conn, spec.owner_email, spec.owner_name)?;
        let tenant = TenantId::new_v7();
        let (owner_principal, workspace) = insert_tenant_with_owner(
            conn,
            &NewTenant {
                id: tenant,
                slug: spec.slug,
                name: spec.name.trim(),
                plan: spec.plan,
                data_region: spec.data_region,
                personal_user_id: None,
            },
            owner,
            spec.owner_name,
        )?;
        audit::record_as_admin(
            conn,
            tenant,
            None,
            &AuditEvent::new("tenant.create").details(serde_json::json!({
                "slug": spec.slug, "owner": owner, "owner_principal": owner_principal,
            })),
        )?;
        Ok(CreatedTenant {
            tenant,
            owner,
            owner_principal,
            workspace,
        })
    })
}

/// Inserts `tenant` and its owner's principal, `owner` membership and personal workspace
/// (admin path); returns the principal and the workspace.
pub(crate) fn insert_tenant_with_owner(
    conn: &mut PgConnection,
    tenant: &NewTenant<'_>,
    owner: UserId,
    owner_name: &str,
) -> Result<(PrincipalId, WorkspaceId)> {
    diesel::insert_into(tenants::table)
        .values(tenant)
        .execute(conn)
        .map_err(|e| conflict(e, || format!("tenant slug `{}` is taken", tenant.slug)))?;
    let (principal, _) = add_member(
        conn,
        tenant.id,
        owner,
        owner_name,
        MemberRole::Owner,
        MemberStatus::Active,
    )?;
    let workspace = WorkspaceId::new_v7();
    diesel::insert_into(workspaces::table)
        .values((
            workspaces::tenant_id.eq(tenant.id),
            workspaces::id.eq(workspace),
            workspaces::name.eq("Personal"),
            workspaces::kind.eq(WorkspaceKind::Personal),
            workspaces::owner_principal_id.eq(principal),
        ))
        .execute(conn)?;
    Ok((principal, workspace))
}

/// One tenant, deleted or not.
///
/// # Errors
/// [`Error::NotFound`] for an unknown id.
pub fn get_tenant(tenancy: &Tenancy, tenant: TenantId) -> Result<Tenant> {
    crate::control_plane(tenancy, "control plane: get tenant", |conn| {
        tenants::table
            .find(tenant)
            .select(Tenant::as_select())
            .first(conn)
            .optional()?
            .ok_or(Error::NotFound { entity: "tenant" })
    })
}

/// All tenants by slug; soft-deleted ones only when `include_deleted`.
///
/// # Errors
/// A database error.
pub fn list_tenants(tenancy: &Tenancy, include_deleted: bool) -> Result<Vec<Tenant>> {
    crate::control_plane(tenancy, "control plane: list tenants", |conn| {
        let mut query = tenants::table
            .select(Tenant::as_select())
            .order(tenants::slug)
            .into_boxed();
        if !include_deleted {
            query = query.filter(tenants::deleted_at.is_null());
        }
        Ok(query.load(conn)?)
    })
}

/// Applies `change` to the tenant's row (not deleted), then records `action` in its chain.
fn change_tenant<V>(
    tenancy: &Tenancy,
    tenant: TenantId,
    action: &'static str,
    details: serde_json::Value,
    change: V,
) -> Result<()>
where
    V: diesel::AsChangeset<Target = tenants::table>,
    V::Changeset: diesel::query_builder::QueryFragment<diesel::pg::Pg>,
{
    crate::control_plane(tenancy, action, |conn| {
        let conn: &mut PgConnection = conn;
        let n = diesel::update(tenants::table)
            .filter(tenants::id.eq(tenant))
            .filter(tenants::deleted_at.is_null())
            .set(change)
            .execute(conn)?;
        if n == 0 {
            return Err(Error::NotFound { entity: "tenant" });
        }
        audit::record_as_admin(
            conn,
            tenant,
            None,
            &AuditEvent::new(action).details(details),
        )?;
        Ok(())
    })
}

/// Renames a tenant.
///
/// # Errors
/// [`Error::InvalidInput`], [`Error::NotFound`] (unknown or deleted), or a database error.
pub fn rename_tenant(tenancy: &Tenancy, tenant: TenantId, name: &str) -> Result<()> {
    check_name("name", name)?;
    change_tenant(
        tenancy,
        tenant,
        "tenant.rename",
        serde_json::json!({ "name": name.trim() }),
        tenants::name.eq(name.trim()),
    )
}

/// Suspends a tenant: its data stays, but [`Tenancy::transaction`] refuses it with
/// [`Error::TenantSuspended`] (and its API keys stop verifying) until [`resume_tenant`].
///
/// # Errors
/// [`Error::NotFound`] (unknown or deleted), or a database error.
pub fn suspend_tenant(tenancy: &Tenancy, tenant: TenantId) -> Result<()> {
    change_tenant(
        tenancy,
        tenant,
        "tenant.suspend",
        serde_json::json!({}),
        tenants::status.eq(TenantStatus::Suspended),
    )
}

/// Resumes a suspended tenant.
///
/// # Errors
/// [`Error::NotFound`] (unknown or deleted), or a database error.
pub fn resume_tenant(tenancy: &Tenancy, tenant: TenantId) -> Result<()> {
    change_tenant(
        tenancy,
        tenant,
        "tenant.resume",
        serde_json::json!({}),
        tenants::status.eq(TenantStatus::Active),
    )
}

/// Soft-deletes a tenant: the row and its data stay (for [`purge_tenant`] or a restore by
/// hand), tenant transactions are refused with [`Error::TenantNotFound`].
///
/// # Errors
/// [`Error::NotFound`] (unknown or already deleted), or a database error.
pub fn delete_tenant(tenancy: &Tenancy, tenant: TenantId) -> Result<()> {
    change_tenant(
        tenancy,
        tenant,
        "tenant.delete",
        serde_json::json!({}),
        tenants::deleted_at.eq(Some(chrono::Utc::now())),
    )
}

/// Permanently removes a tenant and, by cascade, every row it owns, its audit chain
/// included. The purge itself is recorded in the control plane's chain (the `_default`
/// tenant) as `tenant.purge`, with the tenant's id and slug.
///
/// # Errors
/// [`Error::InvalidInput`] for the `_default` tenant, [`Error::NotFound`] for an unknown
/// one, or a database error.
pub fn purge_tenant(tenancy: &Tenancy, tenant: TenantId) -> Result<()> {
    if tenant.as_uuid().is_nil() {
        return Err(Error::InvalidInput {
            field: "tenant",
            reason:
                "the `_default` tenant holds the control plane's audit chain and cannot be purged"
                    .into(),
        });
    }
    crate::control_plane(tenancy, "control plane: purge tenant", |conn| {
        let conn: &mut PgConnection = conn;
        // The audit log's append-only trigger lets exactly this tenant's rows go, and only
        // as the cascade of its row's delete.
        diesel::sql_query("SELECT set_config('tenancy.purge_tenant', $1, true)")
            .bind::<diesel::sql_types::Text, _>(tenant.as_uuid().to_string())
            .execute(conn)?;
        let slug: Option<String> = diesel::delete(tenants::table.filter(tenants::id.eq(tenant)))
            .returning(tenants::slug)
            .get_result(conn)
            .optional()?;
        let Some(slug) = slug else {
            return Err(Error::NotFound { entity: "tenant" });
        };
        audit::record_as_admin(
            conn,
            TenantId::from_uuid(uuid::Uuid::nil()),
            None,
            &AuditEvent::new("tenant.purge")
                .details(serde_json::json!({ "tenant": tenant, "slug": slug })),
        )?;
        Ok(())
    })
}
