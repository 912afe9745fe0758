//! Idempotent seeding: a user with a personal tenant, as a sign-up flow creates it.

use diesel::prelude::*;

use crate::control::sql::lower;
use crate::control::{check_email, check_name, find_user, insert_tenant_with_owner, insert_user};
use crate::models::{MemberRole, MemberStatus, NewTenant, PlanTier, WorkspaceKind};
use crate::schema::{org_members, tenants, workspaces};
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
/// exists when the user already has them. Runs as one admin transaction (the control plane
/// creates tenants), serialised per email, so concurrent calls create one set of rows.
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
    if let Some(user) = &existing {
        // Only the tenant this function created: an owner of another tenant can invite the
        // address as an owner and give the invited principal a personal workspace, and a
        // sign-up must not land the user's data there. Its slug is made from its id, and the
        // membership is the user's own (active, not an invitation).
        let candidates = org_members::table
            .inner_join(tenants::table.on(tenants::id.eq(org_members::tenant_id)))
            .inner_join(
                workspaces::table.on(workspaces::tenant_id
                    .eq(org_members::tenant_id)
                    .and(workspaces::owner_principal_id.eq(org_members::principal_id))),
            )
            .filter(org_members::user_id.eq(user.id))
            .filter(org_members::role.eq(MemberRole::Owner))
            .filter(org_members::status.eq(MemberStatus::Active))
            .filter(workspaces::kind.eq(WorkspaceKind::Personal))
            .select((
                org_members::tenant_id,
                tenants::slug,
                org_members::principal_id,
                workspaces::id,
            ))
            .order((tenants::created_at, workspaces::created_at, workspaces::id))
            .load::<(TenantId, String, PrincipalId, WorkspaceId)>(conn)?;
        let personal = candidates
            .into_iter()
            .find(|(tenant, slug, _, _)| *slug == personal_slug(*tenant));
        if let Some((tenant, _, principal, workspace)) = personal {
            return Ok(PersonalTenant {
                user: user.id,
                tenant,
                principal,
                workspace,
                created: false,
            });
        }
    }
    let user = match existing {
        Some(user) => user.id,
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

/// The slug of the personal tenant `tenant`: made from its id, so that no other tenant has it.
fn personal_slug(tenant: TenantId) -> String {
    format!("personal-{}", &tenant.as_uuid().simple().to_string()[20..])
}
