//! Invitations. Inviting runs on the admin path (it may create a user in the global table), so
//! its permission check is done by hand with an explicit tenant filter; accepting runs in the
//! tenant as the invited principal.

use diesel::prelude::*;

use super::actor::Actor;
use super::members::add_member;
use super::users::find_or_create_user;
use super::validate::{check_email, check_name, conflict};
use crate::audit::{self, AuditEvent};
use crate::authz::Permission;
use crate::models::{MemberRole, MemberStatus, TenantStatus};
use crate::schema::{org_members, role_permissions, tenants};
use crate::{Error, MembershipId, PrincipalId, Result, Tenancy, TenantId, UserId};

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
    crate::control_plane(tenancy, "control plane: invite member", |conn| {
        let conn: &mut PgConnection = conn;
        // The actor's permission first: a principal of another tenant learns nothing of this
        // one, not even whether it is suspended.
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
        tenant_is_active(conn, tenant)?;
        // The name given here is the invitation's (its principal's). A user the invitation
        // creates is named by its address until it signs up: every other tenant it joins would
        // otherwise show it under the name this one chose.
        let email = email.trim();
        let user = find_or_create_user(conn, email, name_from_address(email))?;
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

/// The local part of `email` (checked: it has one), at most as long as a name may be.
fn name_from_address(email: &str) -> &str {
    let local = email.split('@').next().unwrap_or(email);
    local
        .char_indices()
        .nth(200)
        .map_or(local, |(end, _)| &local[..end])
}

/// Accepts an invitation: the invited user's membership becomes `active`. Runs in the tenant
/// as the invited principal.
///
/// # Errors
/// [`Error::NotFound`] when the principal has no pending invitation (also what a principal
/// of another tenant gets, whether the tenant exists, is suspended or not), tenant errors, or
/// a database error.
pub fn accept_invitation(
    tenancy: &Tenancy,
    tenant: TenantId,
    principal: PrincipalId,
) -> Result<()> {
    let outcome = tenancy.transaction_as(tenant, principal, |tx| {
        let n = tx
            .update(org_members::table)
            .filter(org_members::principal_id.eq(principal))
            .filter(org_members::status.eq(MemberStatus::Invited))
            .set(org_members::status.eq(MemberStatus::Active))
            .execute()?;
        if n == 0 {
            return Err(no_invitation());
        }
        audit::record(tx, &AuditEvent::new("member.accept"))?;
        Ok(())
    });
    super::outsider::as_seen_by(tenancy, tenant, principal, outcome, no_invitation)
}

/// What a principal without a pending invitation in the tenant is told.
fn no_invitation() -> Error {
    Error::NotFound {
        entity: "invitation",
    }
}
