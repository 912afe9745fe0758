//! Idempotent seeding: a user with a personal tenant, as a sign-up flow creates it.

use diesel::prelude::*;

use crate::models::{
    MemberRole, MemberStatus, NewTenant, NewUser, PlanTier, PrincipalKind, WorkspaceKind,
};
use crate::schema::{org_members, principals, tenants, users, workspaces};
use crate::{Error, PrincipalId, Result, Tenancy, TenantId, UserId, WorkspaceId};

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
/// let first = tenancy_schema::seed::seed_personal_tenant(tenancy, "ada@example.com", "Ada")?;
/// let again = tenancy_schema::seed::seed_personal_tenant(tenancy, "ADA@example.com", "Ada")?;
/// assert!(first.created && !again.created);
/// assert_eq!(first.tenant, again.tenant);
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`Error::InvalidInput`] for an email without `@` or a blank or too long name (nothing is
/// written), otherwise a database error.
pub fn seed_personal_tenant(
    tenancy: &Tenancy,
    email: &str,
    display_name: &str,
) -> Result<PersonalTenant> {
    let email = email.trim();
    let display_name = display_name.trim();
    if email.len() < 3 || email.len() > 320 || email.find('@').is_none_or(|at| at == 0) {
        return Err(Error::InvalidInput {
            field: "email",
            reason: "expected an address such as ada@example.com (3 to 320 bytes)".into(),
        });
    }
    if display_name.is_empty() || display_name.chars().count() > 200 {
        return Err(Error::InvalidInput {
            field: "display_name",
            reason: "expected 1 to 200 characters".into(),
        });
    }
    tenancy.admin("seed a personal tenant", |conn| {
        let conn: &mut PgConnection = conn;
        conn.transaction(|conn| seed_in(conn, email, display_name))
            .map_err(Error::from)
    })
}

mod sql {
    diesel::define_sql_function!(
        /// SQL `lower(text)`.
        fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text
    );
    diesel::define_sql_function!(
        /// SQL `hashtext(text)`.
        fn hashtext(x: diesel::sql_types::Text) -> diesel::sql_types::Int4
    );
    diesel::define_sql_function!(
        /// SQL `pg_advisory_xact_lock(int4)`: held until the transaction ends.
        fn pg_advisory_xact_lock(x: diesel::sql_types::Int4)
    );
}
use sql::{hashtext, lower, pg_advisory_xact_lock};

fn seed_in(
    conn: &mut PgConnection,
    email: &str,
    display_name: &str,
) -> QueryResult<PersonalTenant> {
    diesel::select(pg_advisory_xact_lock(hashtext(lower(email)))).execute(conn)?;

    let existing_user: Option<UserId> = users::table
        .filter(lower(users::email).eq(lower(email)))
        .select(users::id)
        .first(conn)
        .optional()?;
    let user = if let Some(user) = existing_user {
        let personal = org_members::table
            .inner_join(
                workspaces::table.on(workspaces::tenant_id
                    .eq(org_members::tenant_id)
                    .and(workspaces::owner_principal_id.eq(org_members::principal_id))),
            )
            .filter(org_members::user_id.eq(user))
            .filter(org_members::role.eq(MemberRole::Owner))
            .filter(workspaces::kind.eq(WorkspaceKind::Personal))
            .select((
                org_members::tenant_id,
                org_members::principal_id,
                workspaces::id,
            ))
            .order(workspaces::id)
            .first::<(TenantId, PrincipalId, WorkspaceId)>(conn)
            .optional()?;
        if let Some((tenant, principal, workspace)) = personal {
            return Ok(PersonalTenant {
                user,
                tenant,
                principal,
                workspace,
                created: false,
            });
        }
        user
    } else {
        let user = UserId::new_v7();
        diesel::insert_into(users::table)
            .values(NewUser {
                id: user,
                email,
                display_name,
            })
            .execute(conn)?;
        user
    };

    let tenant = TenantId::new_v7();
    let slug = format!("personal-{}", &tenant.as_uuid().simple().to_string()[20..]);
    diesel::insert_into(tenants::table)
        .values(NewTenant {
            id: tenant,
            slug: &slug,
            name: "Personal Org",
            plan: PlanTier::Free,
            data_region: None,
        })
        .execute(conn)?;
    let principal = PrincipalId::new_v7();
    diesel::insert_into(principals::table)
        .values((
            principals::tenant_id.eq(tenant),
            principals::id.eq(principal),
            principals::kind.eq(PrincipalKind::User),
            principals::user_id.eq(Some(user)),
            principals::display_name.eq(display_name),
        ))
        .execute(conn)?;
    diesel::insert_into(org_members::table)
        .values((
            org_members::tenant_id.eq(tenant),
            org_members::id.eq(crate::MembershipId::new_v7()),
            org_members::user_id.eq(user),
            org_members::principal_id.eq(principal),
            org_members::role.eq(MemberRole::Owner),
            org_members::status.eq(MemberStatus::Active),
        ))
        .execute(conn)?;
    let workspace = WorkspaceId::new_v7();
    diesel::insert_into(workspaces::table)
        .values((
            workspaces::tenant_id.eq(tenant),
            workspaces::id.eq(workspace),
            workspaces::name.eq("Personal"),
            workspaces::kind.eq(WorkspaceKind::Personal),
            workspaces::owner_principal_id.eq(principal),
        ))
        .execute(conn)?;
    Ok(PersonalTenant {
        user,
        tenant,
        principal,
        workspace,
        created: true,
    })
}
