//! Idempotent seeding: a user with a personal tenant, as a sign-up flow creates it.

use diesel::prelude::*;

use crate::control::sql::lower;
use crate::control::{check_email, check_name, find_user, insert_tenant_with_owner, insert_user};
use crate::models::{MemberRole, MemberStatus, NewTenant, PlanTier, WorkspaceKind};
use crate::schema::{org_members, tenants, users, workspaces};
use crate::{PrincipalId, Result, Tenancy, TenantId, UserId, WorkspaceId};

/// What [`seed_personal_tenant`] found or created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PersonalTenant {
    /// The user.
    pub user: UserId,
    /// The user's personal tenant ("Personal Org").
    pub tenant: TenantId,
    /// The user's principal in that tenant.
    pub principal: PrincipalId,
    /// The user's personal workspace.
    pub workspace: WorkspaceId,
    /// `false` when everything already existed and nothing was written.
    pub created: bool,
}

/// Creates the user `email` (case-insensitive) with a personal tenant named "Personal Org",
/// the user's principal and owner membership in it, and a personal workspace; returns what
/// exists when the user already has them. The personal tenant is the one this function created
/// for the user (`tenants.personal_user_id`), never another tenant the user is an owner of,
/// and only while the user is still its active owner; otherwise a new one is created. An
/// existing user gets `display_name` as its name when its personal tenant is created. Runs as
/// one admin transaction (the control plane creates tenants), serialised per email, so
/// concurrent calls create one set of rows.
///
/// ```no_run
/// # fn demo(tenancy: &tenancy_schema::Tenancy) -> Result<(), tenancy_schema::Error> {
/// let first = tenancy_foundation::seed::seed_personal_tenant(tenancy, "ada@example.com", "Ada")?;
/// let again = tenancy_foundation::seed::seed_personal_tenant(tenancy, "ADA@example.com", "Ada")?;
/// assert!(first.created && !again.created);
/// assert_eq!(first.tenant, again.tenant);
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`crate::Error::InvalidInput`] for a malformed email or a blank or too long name (nothing is
/// written), otherwise a database error.
pub fn seed_personal_tenant(
    tenancy: &Tenancy,
    email: &str,
    display_name: &str,
) -> Result<PersonalTenant> {
    let email = email.trim();
    let display_name = display_name.trim();
    check_email(email)?;
    check_name("display_name", display_name)?;
    crate::control_plane(tenancy, "seed a personal tenant", |conn| {
        let conn: &mut PgConnection = conn;
        conn.transaction(|conn| seed_in(conn, email, display_name))
    })
}

mod sql {
    diesel::define_sql_function!(
        /// SQL `hashtext(text)`.
        fn hashtext(x: diesel::sql_types::Text) -> diesel::sql_types::Int4
    );
    diesel::define_sql_function!(
        /// SQL `pg_advisory_xact_lock(int4)`: held until the transaction ends.
        fn pg_advisory_xact_lock(x: diesel::sql_types::Int4)
    );
}
use sql::{hashtext, pg_advisory_xact_lock};

fn seed_in(conn: &mut PgConnection, email: &str, display_name: &str) -> Result<PersonalTenant> {
    diesel::select(pg_advisory_xact_lock(hashtext(lower(email)))).execute(conn)?;

    let existing = find_user(conn, email)?;
    if let Some(user) = &existing
        && let Some(found) = personal_tenant_of(conn, user.id)?
    {
        return Ok(found);
    }
    let user = match existing {
        Some(user) => {
            // The user's own sign-up names the user: a user an invitation created is named
            // by its address until now.
            diesel::update(users::table.find(user.id))
                .set(users::display_name.eq(display_name.trim()))
                .execute(conn)?;
            user.id
        }
        None => insert_user(conn, email, display_name)?,
    };
    let tenant = TenantId::new_v7();
    let slug = personal_slug(tenant);
    let (principal, workspace) = insert_tenant_with_owner(
        conn,
        &NewTenant {
            id: tenant,
            slug: &slug,
            name: "Personal Org",
            plan: PlanTier::Free,
            data_region: None,
            personal_user_id: Some(user),
        },
        user,
        display_name,
    )?;
    Ok(PersonalTenant {
        user,
        tenant,
        principal,
        workspace,
        created: true,
    })
}

/// The personal tenant recorded for `user` (`tenants.personal_user_id`, which no tenant
/// transaction writes; what is inside tenants, such as memberships and workspaces, another
/// tenant's SQL can make look like a personal tenant's), while the user is still its active
/// owner with a personal workspace there. Otherwise the tenant is released and the caller
/// creates a new one, as the user's first sign-up did: the user's data must not land where
/// another owner removed or demoted the user.
fn personal_tenant_of(conn: &mut PgConnection, user: UserId) -> Result<Option<PersonalTenant>> {
    let Some((tenant, principal, role, status)) = tenants::table
        .inner_join(
            org_members::table.on(org_members::tenant_id
                .eq(tenants::id)
                .and(org_members::user_id.eq(user))),
        )
        .filter(tenants::personal_user_id.eq(user))
        .select((
            tenants::id,
            org_members::principal_id,
            org_members::role,
            org_members::status,
        ))
        .first::<(TenantId, PrincipalId, MemberRole, MemberStatus)>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let workspace = if (role, status) == (MemberRole::Owner, MemberStatus::Active) {
        workspaces::table
            .filter(workspaces::tenant_id.eq(tenant))
            .filter(workspaces::owner_principal_id.eq(principal))
            .filter(workspaces::kind.eq(WorkspaceKind::Personal))
            .order((workspaces::created_at, workspaces::id))
            .select(workspaces::id)
            .first::<WorkspaceId>(conn)
            .optional()?
    } else {
        None
    };
    let Some(workspace) = workspace else {
        diesel::update(tenants::table.find(tenant))
            .set(tenants::personal_user_id.eq(None::<UserId>))
            .execute(conn)?;
        return Ok(None);
    };
    Ok(Some(PersonalTenant {
        user,
        tenant,
        principal,
        workspace,
        created: false,
    }))
}

/// The slug of the personal tenant `tenant`: made from its id, so that no other tenant has it.
fn personal_slug(tenant: TenantId) -> String {
    format!("personal-{}", &tenant.as_uuid().simple().to_string()[20..])
}
