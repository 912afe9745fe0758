//! Memberships: how a user becomes a principal of a tenant, and the changes to it made inside
//! the tenant, under row level security, with the rule that a tenant always keeps an owner.

use diesel::prelude::*;

use super::outsider::as_seen_by;
use crate::audit::{self, AuditEvent};
use crate::authz::{self, Permission};
use crate::models::{ApiKeyStatus, MemberRole, MemberStatus, PrincipalKind};
use crate::schema::{api_keys, audit_log, org_members, principals};
use crate::{ApiKeyId, Error, MembershipId, PrincipalId, Result, Tenancy, TenantId, UserId};

/// Inserts a principal of kind `user` and its membership; returns both ids.
pub(super) fn add_member(
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

/// Fails with [`Error::Conflict`] when `user` is the last active owner of the transaction's
/// tenant: a tenant always keeps an owner.
fn keep_an_owner(tx: &mut crate::TenantTx<'_>, user: UserId) -> Result<()> {
    // Locked: two owners removing (or demoting) each other at once would each see the other
    // still there. The second waits for the first, then reads what it left.
    let owners: Vec<UserId> = tx.load(
        org_members::table
            .filter(org_members::role.eq(MemberRole::Owner))
            .filter(org_members::status.eq(MemberStatus::Active))
            .order(org_members::id)
            .select(org_members::user_id)
            .for_update(),
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
/// [`Error::Conflict`] when it would leave the tenant without an owner, tenant errors
/// ([`Error::TenantSuspended`], [`Error::TenantNotFound`]: only to the tenant's own
/// principals; a principal of another tenant gets [`Error::Forbidden`], as from an active
/// tenant), or a database error.
pub fn change_member_role(
    tenancy: &Tenancy,
    tenant: TenantId,
    by: PrincipalId,
    user: UserId,
    role: MemberRole,
) -> Result<()> {
    let outcome = tenancy.transaction_as(tenant, by, |tx| {
        authz::require(tx, Permission::MembersManage)?;
        // Locked until the transaction ends: a promotion to owner committed meanwhile would
        // otherwise be demoted by a caller allowed to change members but not owners.
        let current: Option<MemberRole> = tx
            .load(
                org_members::table
                    .filter(org_members::user_id.eq(user))
                    .select(org_members::role)
                    .for_update(),
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
    });
    as_seen_by(tenancy, tenant, by, outcome, members_manage)
}

/// What a principal without `members.manage` in the tenant is told.
fn members_manage() -> Error {
    Error::Forbidden {
        permission: Permission::MembersManage.as_str(),
    }
}

/// Removes a member (soft: status `removed`; the principal and its history stay) and revokes
/// the API keys of its principal, which would otherwise still act as it, and those it issued
/// for service principals, whose secrets it holds. Needs
/// `members.manage`; removing an owner needs `tenant.delete`, which only owners hold.
///
/// # Errors
/// As [`change_member_role`].
pub fn remove_member(
    tenancy: &Tenancy,
    tenant: TenantId,
    by: PrincipalId,
    user: UserId,
) -> Result<()> {
    let outcome = tenancy.transaction_as(tenant, by, |tx| {
        authz::require(tx, Permission::MembersManage)?;
        let Some((role, principal)) = tx
            .load::<_, (MemberRole, PrincipalId)>(
                org_members::table
                    .filter(org_members::user_id.eq(user))
                    .filter(org_members::status.ne(MemberStatus::Removed))
                    .select((org_members::role, org_members::principal_id))
                    // Locked, as in `change_member_role`: an owner made meanwhile is not
                    // removed by a caller who may not remove owners.
                    .for_update(),
            )?
            .into_iter()
            .next()
        else {
            return Err(Error::NotFound { entity: "member" });
        };
        if role == MemberRole::Owner {
            authz::require(tx, Permission::TenantDelete)?;
        }
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
        // Its own keys, and those it issued for service principals: it holds their secrets.
        // The audit log, which no one may change, says which it issued.
        let issued: Vec<ApiKeyId> = tx
            .load::<_, serde_json::Value>(
                audit_log::table
                    .filter(audit_log::action.eq("api_key.issue"))
                    .filter(audit_log::actor_principal_id.eq(principal))
                    .select(audit_log::details),
            )?
            .iter()
            .filter_map(|details| details.get("api_key_id")?.as_str()?.parse().ok())
            .collect();
        let revoked = tx
            .update(api_keys::table)
            .filter(
                api_keys::principal_id
                    .eq(principal)
                    .or(api_keys::id.eq_any(issued)),
            )
            .filter(api_keys::status.eq(ApiKeyStatus::Active))
            .set(api_keys::status.eq(ApiKeyStatus::Revoked))
            .execute()?;
        audit::record(
            tx,
            &AuditEvent::new("member.remove")
                .details(serde_json::json!({ "user": user, "api_keys_revoked": revoked })),
        )?;
        Ok(())
    });
    as_seen_by(tenancy, tenant, by, outcome, members_manage)
}
