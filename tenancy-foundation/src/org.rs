//! Teams, team membership and workspaces, inside a tenant transaction.
//!
//! Every function takes the tenant transaction of the acting principal: row level security
//! and the compile-time scoping keep it inside the tenant, [`authz::require`] checks the role,
//! and each mutation writes its audit row in the same transaction.
//!
//! ```no_run
//! use tenancy_foundation::models::{TeamRole, WorkspaceKind};
//! # fn demo(tenancy: &tenancy_schema::Tenancy, tenant: tenancy_schema::TenantId,
//! #         me: tenancy_schema::PrincipalId) -> Result<(), tenancy_schema::Error> {
//! tenancy.transaction_as(tenant, me, |tx| {
//!     let team = tenancy_foundation::org::create_team(tx, "Platform")?;
//!     tenancy_foundation::org::add_team_member(tx, team.id, me, TeamRole::Maintainer)?;
//!     tenancy_foundation::org::create_workspace(tx, "Platform", WorkspaceKind::Team, team.principal_id)?;
//!     Ok(())
//! })
//! # }
//! ```

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::audit::{self, AuditEvent};
use crate::authz::{self, Permission};
use crate::control::{check_name, conflict};
use crate::models::{
    NewTeam, NewTeamMember, NewWorkspace, PrincipalKind, Team, TeamRole, Workspace, WorkspaceKind,
};
use crate::schema::{principals, team_members, teams, workspaces};
use crate::{Error, PrincipalId, Result, TeamId, TenantTx, WorkspaceId};

/// A foreign-key violation means an id the tenant does not have: report it as not found.
fn not_found_on_fk(err: Error, entity: &'static str) -> Error {
    match err {
        Error::Query(DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)) => {
            Error::NotFound { entity }
        }
        other => other,
    }
}

fn acting(tx: &TenantTx<'_>) -> Result<PrincipalId> {
    tx.principal().ok_or(Error::Forbidden {
        permission: "an acting principal",
    })
}

/// Creates a team and its principal (kind `team`). Needs `teams.manage`.
///
/// # Errors
/// [`Error::InvalidInput`], [`Error::Forbidden`], [`Error::Conflict`] for a taken name, or a
/// database error.
pub fn create_team(tx: &mut TenantTx<'_>, name: &str) -> Result<Team> {
    check_name("team name", name)?;
    authz::require(tx, Permission::TeamsManage)?;
    let name = name.trim();
    let principal = PrincipalId::new_v7();
    tx.insert(
        principals::table,
        (
            principals::id.eq(principal),
            principals::kind.eq(PrincipalKind::Team),
            principals::display_name.eq(name),
        ),
    )?;
    let id = TeamId::new_v7();
    let team: Team = tx
        .insert_returning(
            teams::table,
            NewTeam {
                id,
                name,
                principal_id: principal,
            },
        )
        .map_err(|e| match e {
            Error::Query(q) => conflict(q, || format!("a team named `{name}` exists")),
            other => other,
        })?;
    audit::record(
        tx,
        &AuditEvent::new("team.create")
            .details(serde_json::json!({ "team": id, "principal": principal, "name": name })),
    )?;
    Ok(team)
}

/// Adds `principal` to `team` (or changes its role there). Needs `teams.manage`.
///
/// # Errors
/// [`Error::Forbidden`], [`Error::NotFound`] for a team or principal the tenant does not
/// have, or a database error.
pub fn add_team_member(
    tx: &mut TenantTx<'_>,
    team: TeamId,
    principal: PrincipalId,
    role: TeamRole,
) -> Result<()> {
    authz::require(tx, Permission::TeamsManage)?;
    let updated = tx
        .update(team_members::table)
        .filter(team_members::team_id.eq(team))
        .filter(team_members::principal_id.eq(principal))
        .set(team_members::role.eq(role))
        .execute()?;
    if updated == 0 {
        tx.insert(
            team_members::table,
            NewTeamMember {
                team_id: team,
                principal_id: principal,
                role,
            },
        )
        .map_err(|e| not_found_on_fk(e, "team or principal"))?;
    }
    audit::record(
        tx,
        &AuditEvent::new("team.add_member")
            .details(serde_json::json!({ "team": team, "principal": principal, "role": role })),
    )?;
    Ok(())
}

/// Removes `principal` from `team`. Needs `teams.manage`.
///
/// # Errors
/// [`Error::Forbidden`], [`Error::NotFound`] when it is not a member, or a database error.
pub fn remove_team_member(
    tx: &mut TenantTx<'_>,
    team: TeamId,
    principal: PrincipalId,
) -> Result<()> {
    authz::require(tx, Permission::TeamsManage)?;
    let n = tx
        .delete(team_members::table)
        .filter(team_members::team_id.eq(team))
        .filter(team_members::principal_id.eq(principal))
        .execute()?;
    if n == 0 {
        return Err(Error::NotFound {
            entity: "team member",
        });
    }
    audit::record(
        tx,
        &AuditEvent::new("team.remove_member")
            .details(serde_json::json!({ "team": team, "principal": principal })),
    )?;
    Ok(())
}

/// Creates a workspace owned by `owner`. A personal workspace is the acting principal's own
/// and needs no permission; team and org workspaces need `workspaces.manage`.
///
/// # Errors
/// [`Error::InvalidInput`], [`Error::Forbidden`] (also for a personal workspace of someone
/// else), [`Error::NotFound`] for an owner the tenant does not have, or a database error.
pub fn create_workspace(
    tx: &mut TenantTx<'_>,
    name: &str,
    kind: WorkspaceKind,
    owner: PrincipalId,
) -> Result<Workspace> {
    check_name("workspace name", name)?;
    let me = acting(tx)?;
    if kind == WorkspaceKind::Personal {
        if owner != me {
            return Err(Error::Forbidden {
                permission: Permission::WorkspacesManage.as_str(),
            });
        }
    } else {
        authz::require(tx, Permission::WorkspacesManage)?;
    }
    let id = WorkspaceId::new_v7();
    let workspace: Workspace = tx
        .insert_returning(
            workspaces::table,
            NewWorkspace {
                id,
                name: name.trim(),
                kind,
                owner_principal_id: owner,
            },
        )
        .map_err(|e| not_found_on_fk(e, "owner principal"))?;
    audit::record(
        tx,
        &AuditEvent::new("workspace.create")
            .workspace(id)
            .details(serde_json::json!({ "name": name.trim(), "kind": kind, "owner": owner })),
    )?;
    Ok(workspace)
}

/// The tenant's workspaces, by name.
///
/// # Errors
/// A database error.
pub fn list_workspaces(tx: &mut TenantTx<'_>) -> Result<Vec<Workspace>> {
    tx.load(
        workspaces::table
            .select(Workspace::as_select())
            .order((workspaces::name, workspaces::id)),
    )
}
