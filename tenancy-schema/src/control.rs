//! The control plane: tenant lifecycle, users and memberships.
//!
//! Creating tenants and users, and everything that reads `users` (a global table with other
//! tenants' people in it), runs on the admin path ([`Tenancy::admin`], `BYPASSRLS`), with
//! every query filtered by tenant explicitly. Work inside one tenant (changing a member's
//! role, removing a member) runs in that tenant's transaction as the acting principal, under
//! row level security and [`authz::require`]. Every mutation writes an audit row in the same
//! transaction.
//!
//! ```no_run
//! use tenancy_schema::control::{self, Actor, NewTenantSpec};
//! use tenancy_schema::models::{MemberRole, PlanTier};
//! # fn demo(tenancy: &tenancy_schema::Tenancy) -> Result<(), tenancy_schema::Error> {
//! let acme = control::create_tenant(tenancy, &NewTenantSpec {
//!     slug: "acme",
//!     name: "Acme Inc.",
//!     plan: PlanTier::Pro,
//!     data_region: None,
//!     owner_email: "ada@acme.test",
//!     owner_name: "Ada",
//! })?;
//! control::invite_member(
//!     tenancy,
//!     acme.tenant,
//!     Actor::Principal(acme.owner_principal),
//!     "bob@acme.test",
//!     "Bob",
//!     MemberRole::Member,
//! )?;
//! control::suspend_tenant(tenancy, acme.tenant)?;
//! # Ok(()) }
//! ```

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::audit::{self, AuditEvent};
use crate::authz::{self, Permission};
use crate::models::{
    MemberRole, MemberStatus, NewTenant, NewUser, PlanTier, PrincipalKind, Tenant, TenantStatus,
    User, WorkspaceKind,
};
use crate::schema::{org_members, principals, role_permissions, tenants, users, workspaces};
use crate::{Error, MembershipId, PrincipalId, Result, Tenancy, TenantId, UserId, WorkspaceId};

/// Who asks for a control-plane change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The platform itself (sign-up flows, operators): no permission check, no actor in the
    /// audit row.
    System,
    /// A principal of the tenant concerned: needs the operation's permission there.
    Principal(PrincipalId),
}

impl Actor {
    fn principal(self) -> Option<PrincipalId> {
        match self {
            Self::System => None,
            Self::Principal(p) => Some(p),
        }
    }
}

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
    /// Data region, if it matters.
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

/// What [`invite_member`] created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invitation {
    /// The invited user (existing or new).
    pub user: UserId,
    /// The user's new principal in the tenant.
    pub principal: PrincipalId,
    /// The membership, with status `invited`.
    pub membership: MembershipId,
}

pub(crate) fn check_slug(slug: &str) -> Result<()> {
    let mut bytes = slug.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    let rest_ok =
        bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if first_ok && rest_ok && slug.len() <= 63 {
        Ok(())
    } else {
        Err(Error::InvalidInput {
            field: "slug",
            reason: "expected 1 to 63 lowercase letters, digits, `_` or `-`, not starting with `-`"
                .into(),
        })
    }
}

pub(crate) fn check_name(field: &'static str, name: &str) -> Result<()> {
    let n = name.trim().chars().count();
    if (1..=200).contains(&n) {
        Ok(())
    } else {
        Err(Error::InvalidInput {
            field,
            reason: "expected 1 to 200 characters".into(),
        })
    }
}

pub(crate) fn check_email(email: &str) -> Result<()> {
    if email.len() >= 3
        && email.len() <= 320
        && email.trim() == email
        && email
            .find('@')
            .is_some_and(|at| at > 0 && at + 1 < email.len())
    {
        Ok(())
    } else {
        Err(Error::InvalidInput {
            field: "email",
            reason: "expected an address such as ada@example.com (3 to 320 bytes, no surrounding spaces)".into(),
        })
    }
}

/// A unique violation becomes [`Error::Conflict`] with `what`; anything else passes through.
pub(crate) fn conflict(err: DieselError, what: impl FnOnce() -> String) -> Error {
    match err {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            Error::Conflict { what: what() }
        }
        other => Error::Query(other),
    }
}

pub(crate) mod sql {
    diesel::define_sql_function!(
        /// SQL `lower(text)`.
        fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text
    );
}
use sql::lower;

pub(crate) fn find_user(conn: &mut PgConnection, email: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(lower(users::email).eq(lower(email)))
        .select(User::as_select())
        .first(conn)
        .optional()
}

pub(crate) fn find_or_create_user(
    conn: &mut PgConnection,
    email: &str,
    name: &str,
) -> QueryResult<UserId> {
    match find_user(conn, email)? {
        Some(user) => Ok(user.id),
        None => insert_user(conn, email, name),
    }
}

pub(crate) fn insert_user(conn: &mut PgConnection, email: &str, name: &str) -> QueryResult<UserId> {
    let id = UserId::new_v7();
    diesel::insert_into(users::table)
        .values(NewUser {
            id,
            email,
            display_name: name.trim(),
        })
        .execute(conn)?;
    Ok(id)
}

/// Creates a tenant with its owner in one transaction: the user (found by email or
/// created), the owner's principal, an `owner` membership and a personal workspace, plus a
/// `tenant.create` audit row.
///
/// # Errors
/// [`Error::InvalidInput`] for a bad slug, name or email (nothing written),
/// [`Error::Conflict`] when the slug is taken, or a database error.
pub fn create_tenant(tenancy: &Tenancy, spec: &NewTenantSpec<'_>) -> Result<CreatedTenant> {
    check_slug(spec.slug)?;
    check_name("name", spec.name)?;
    check_name("owner_name", spec.owner_name)?;
    check_email(spec.owner_email)?;
    tenancy.admin("control plane: create tenant", |conn| {
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

/// Inserts a principal of kind `user` and its membership; returns both ids.
fn add_member(
    conn: &mut PgConnection,
    tenant: TenantId,
    user: UserId,
    name: &str,
    role: MemberRole,
    status: MemberStatus,
) -> QueryResult<(PrincipalId, MembershipId)> {
    let principal = PrincipalId::new_v7();
    diesel::insert_into(principals::table)
        .values((
            principals::tenant_id.eq(tenant),
            principals::id.eq(principal),
            principals::kind.eq(PrincipalKind::User),
            principals::user_id.eq(Some(user)),
            principals::display_name.eq(name.trim()),
        ))
        .execute(conn)?;
    let membership = MembershipId::new_v7();
    diesel::insert_into(org_members::table)
        .values((
            org_members::tenant_id.eq(tenant),
            org_members::id.eq(membership),
            org_members::user_id.eq(user),
            org_members::principal_id.eq(principal),
            org_members::role.eq(role),
            org_members::status.eq(status),
        ))
        .execute(conn)?;
    Ok((principal, membership))
}

/// One tenant, deleted or not.
///
/// # Errors
/// [`Error::NotFound`] for an unknown id.
pub fn get_tenant(tenancy: &Tenancy, tenant: TenantId) -> Result<Tenant> {
    tenancy.admin("control plane: get tenant", |conn| {
        tenants::table
            .find(tenant)
            .select(Tenant::as_select())
            .first(&mut **conn)
            .optional()?
            .ok_or(Error::NotFound { entity: "tenant" })
    })
}

/// All tenants by slug; soft-deleted ones only when `include_deleted`.
///
/// # Errors
/// A database error.
pub fn list_tenants(tenancy: &Tenancy, include_deleted: bool) -> Result<Vec<Tenant>> {
    tenancy.admin("control plane: list tenants", |conn| {
        let mut query = tenants::table
            .select(Tenant::as_select())
            .order(tenants::slug)
            .into_boxed();
        if !include_deleted {
            query = query.filter(tenants::deleted_at.is_null());
        }
        Ok(query.load(&mut **conn)?)
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
    tenancy.admin(action, |conn| {
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
    tenancy.admin("control plane: purge tenant", |conn| {
        let conn: &mut PgConnection = conn;
        // The audit log's append-only trigger lets exactly this tenant's rows go.
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

/// Creates a user.
///
/// # Errors
/// [`Error::InvalidInput`], [`Error::Conflict`] when the email is taken (case-insensitively),
/// or a database error.
pub fn create_user(tenancy: &Tenancy, email: &str, display_name: &str) -> Result<User> {
    check_email(email)?;
    check_name("display_name", display_name)?;
    tenancy.admin("control plane: create user", |conn| {
        diesel::insert_into(users::table)
            .values(NewUser {
                id: UserId::new_v7(),
                email,
                display_name: display_name.trim(),
            })
            .returning(User::as_returning())
            .get_result(&mut **conn)
            .map_err(|e| conflict(e, || "a user with this email exists".to_owned()))
    })
}

/// The user with this email, compared case-insensitively.
///
/// # Errors
/// A database error.
pub fn find_user_by_email(tenancy: &Tenancy, email: &str) -> Result<Option<User>> {
    tenancy.admin("control plane: find user", |conn| {
        Ok(find_user(conn, email.trim())?)
    })
}

/// Whether `principal` holds `permission` in `tenant` (admin path: explicit tenant filter).
fn holds(
    conn: &mut PgConnection,
    tenant: TenantId,
    principal: PrincipalId,
    permission: Permission,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        org_members::table
            .inner_join(role_permissions::table.on(role_permissions::role.eq(org_members::role)))
            .filter(org_members::tenant_id.eq(tenant))
            .filter(org_members::principal_id.eq(principal))
            .filter(org_members::status.eq(MemberStatus::Active))
            .filter(role_permissions::permission.eq(permission.as_str())),
    ))
    .get_result(conn)
}

fn tenant_is_active(conn: &mut PgConnection, tenant: TenantId) -> Result<()> {
    let status: Option<(TenantStatus, Option<chrono::DateTime<chrono::Utc>>)> = tenants::table
        .find(tenant)
        .select((tenants::status, tenants::deleted_at))
        .first(conn)
        .optional()?;
    match status {
        None | Some((_, Some(_))) => Err(Error::TenantNotFound(tenant)),
        Some((TenantStatus::Suspended, None)) => Err(Error::TenantSuspended(tenant)),
        Some((TenantStatus::Active, None)) => Ok(()),
    }
}

/// Invites a user (found by email or created) to `tenant` with `role`: a principal and a
/// membership with status `invited`, and a `member.invite` audit row.
///
/// # Errors
/// [`Error::InvalidInput`], [`Error::TenantNotFound`] / [`Error::TenantSuspended`],
/// [`Error::Forbidden`] when the actor lacks `members.manage`, [`Error::Conflict`] when the
/// user is already a member, or a database error.
pub fn invite_member(
    tenancy: &Tenancy,
    tenant: TenantId,
    by: Actor,
    email: &str,
    display_name: &str,
    role: MemberRole,
) -> Result<Invitation> {
    check_email(email)?;
    check_name("display_name", display_name)?;
    tenancy.admin("control plane: invite member", |conn| {
        let conn: &mut PgConnection = conn;
        tenant_is_active(conn, tenant)?;
        if let Actor::Principal(p) = by {
            if !holds(conn, tenant, p, Permission::MembersManage)? {
                return Err(Error::Forbidden {
                    permission: Permission::MembersManage.as_str(),
                });
            }
            // Only an owner makes owners.
            if role == MemberRole::Owner && !holds(conn, tenant, p, Permission::TenantDelete)? {
                return Err(Error::Forbidden {
                    permission: Permission::TenantDelete.as_str(),
                });
            }
        }
        let user = find_or_create_user(conn, email.trim(), display_name)?;
        let (principal, membership) = add_member(
            conn,
            tenant,
            user,
            display_name,
            role,
            MemberStatus::Invited,
        )
        .map_err(|e| {
            conflict(e, || {
                "the user is already a member of this tenant".to_owned()
            })
        })?;
        audit::record_as_admin(
            conn,
            tenant,
            by.principal(),
            &AuditEvent::new("member.invite").details(serde_json::json!({
                "user": user, "principal": principal, "role": role,
            })),
        )?;
        Ok(Invitation {
            user,
            principal,
            membership,
        })
    })
}

/// Fails with [`Error::Conflict`] when `user` is the last active owner of the transaction's
/// tenant: a tenant always keeps an owner.
fn keep_an_owner(tx: &mut crate::TenantTx<'_>, user: UserId) -> Result<()> {
    let owners: Vec<UserId> = tx.load(
        org_members::table
            .filter(org_members::role.eq(MemberRole::Owner))
            .filter(org_members::status.eq(MemberStatus::Active))
            .select(org_members::user_id),
    )?;
    if owners == [user] {
        return Err(Error::Conflict {
            what: "the tenant's last owner cannot be removed or demoted".to_owned(),
        });
    }
    Ok(())
}

/// Changes a member's role, as `by` inside the tenant (needs `members.manage`; making or
/// unmaking an owner needs `tenant.delete`, which only owners hold).
///
/// # Errors
/// [`Error::Forbidden`], [`Error::NotFound`] when the user is not a member of this tenant,
/// [`Error::Conflict`] when it would leave the tenant without an owner, tenant errors, or a
/// database error.
pub fn change_member_role(
    tenancy: &Tenancy,
    tenant: TenantId,
    by: PrincipalId,
    user: UserId,
    role: MemberRole,
) -> Result<()> {
    tenancy.transaction_as(tenant, by, |tx| {
        authz::require(tx, Permission::MembersManage)?;
        let current: Option<MemberRole> = tx
            .load(
                org_members::table
                    .filter(org_members::user_id.eq(user))
                    .select(org_members::role),
            )?
            .into_iter()
            .next();
        let Some(current) = current else {
            return Err(Error::NotFound { entity: "member" });
        };
        if current == MemberRole::Owner || role == MemberRole::Owner {
            authz::require(tx, Permission::TenantDelete)?;
        }
        if current == MemberRole::Owner && role != MemberRole::Owner {
            keep_an_owner(tx, user)?;
        }
        tx.update(org_members::table)
            .filter(org_members::user_id.eq(user))
            .set(org_members::role.eq(role))
            .execute()?;
        audit::record(
            tx,
            &AuditEvent::new("member.change_role").details(serde_json::json!({
                "user": user, "from": current, "to": role,
            })),
        )?;
        Ok(())
    })
}

/// Removes a member (soft: status `removed`; the principal and its history stay).
///
/// # Errors
/// As [`change_member_role`].
pub fn remove_member(
    tenancy: &Tenancy,
    tenant: TenantId,
    by: PrincipalId,
    user: UserId,
) -> Result<()> {
    tenancy.transaction_as(tenant, by, |tx| {
        authz::require(tx, Permission::MembersManage)?;
        keep_an_owner(tx, user)?;
        let n = tx
            .update(org_members::table)
            .filter(org_members::user_id.eq(user))
            .filter(org_members::status.ne(MemberStatus::Removed))
            .set(org_members::status.eq(MemberStatus::Removed))
            .execute()?;
        if n == 0 {
            return Err(Error::NotFound { entity: "member" });
        }
        audit::record(
            tx,
            &AuditEvent::new("member.remove").details(serde_json::json!({ "user": user })),
        )?;
        Ok(())
    })
}

/// Accepts an invitation: the invited user's membership becomes `active`. Runs in the tenant
/// as the invited principal.
///
/// # Errors
/// [`Error::NotFound`] when the principal has no pending invitation, tenant errors, or a
/// database error.
pub fn accept_invitation(
    tenancy: &Tenancy,
    tenant: TenantId,
    principal: PrincipalId,
) -> Result<()> {
    tenancy.transaction_as(tenant, principal, |tx| {
        let n = tx
            .update(org_members::table)
            .filter(org_members::principal_id.eq(principal))
            .filter(org_members::status.eq(MemberStatus::Invited))
            .set(org_members::status.eq(MemberStatus::Active))
            .execute()?;
        if n == 0 {
            return Err(Error::NotFound {
                entity: "invitation",
            });
        }
        audit::record(tx, &AuditEvent::new("member.accept"))?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_checks() {
        for ok in ["acme", "a", "_default", "acme-2", "x_y"] {
            assert!(check_slug(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-acme", "Acme", "a b", "ä", &"a".repeat(64), "a;drop"] {
            assert!(
                matches!(
                    check_slug(bad),
                    Err(Error::InvalidInput { field: "slug", .. })
                ),
                "{bad}"
            );
        }
        for ok in ["a@b", "ada@example.com"] {
            assert!(check_email(ok).is_ok(), "{ok}");
        }
        for bad in ["", "@b", "a@", "ab", " a@b", "plain"] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
        assert!(check_name("name", "  ").is_err());
        assert!(check_name("name", &"n".repeat(201)).is_err());
        assert!(check_name("name", "Ada").is_ok());
    }
}
