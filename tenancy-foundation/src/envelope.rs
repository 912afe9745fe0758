//! The resource envelope: create, read, update, soft-delete and list `resources`, and grant
//! or revoke access to them, inside a tenant transaction as the acting principal.
//!
//! Visibility and ACLs (see [`crate::access`]) are applied twice: in the query built here,
//! and by row level security for `tenancy_app`. A resource the caller cannot see, including
//! any resource of another tenant, is [`Error::NotFound`]; one it can see but not change is
//! [`Error::Forbidden`].
//!
//! Listing is keyset-paginated on `(updated_at, id)`, newest first: a [`Cursor`] names the
//! last row of a page, and the next page starts strictly after it, so rows inserted while a
//! client pages (which are newer) never shift or repeat the pages it has not read yet.
//!
//! ```no_run
//! use tenancy_foundation::envelope::{self, ListRequest, NewResourceSpec};
//! use tenancy_foundation::models::{ResourceKind, ResourceVisibility};
//! # fn demo(tenancy: &tenancy_schema::Tenancy, tenant: tenancy_schema::TenantId,
//! #         me: tenancy_schema::PrincipalId, ws: tenancy_foundation::WorkspaceId)
//! #         -> Result<(), tenancy_schema::Error> {
//! tenancy.transaction_as(tenant, me, |tx| {
//!     envelope::create(tx, &NewResourceSpec {
//!         workspace: ws,
//!         kind: ResourceKind::Prompt,
//!         name: "greeting",
//!         visibility: ResourceVisibility::Workspace,
//!         data: &serde_json::json!({ "text": "hello" }),
//!     })?;
//!     let mut page = envelope::list(tx, &ListRequest::first(50).in_workspace(ws))?;
//!     while let Some(next) = page.next {
//!         page = envelope::list(tx, &ListRequest::first(50).in_workspace(ws).after(next))?;
//!     }
//!     Ok(())
//! })
//! # }
//! ```

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::access;
use crate::audit::{self, AuditEvent};
use crate::authz::{self, Permission};
use crate::control::check_name;
use crate::models::{
    AclPermission, NewAclEntry, NewResource, Resource, ResourceKind, ResourceVisibility,
};
use crate::schema::{resource_acl, resources};
use crate::{Error, PrincipalId, ResourceId, Result, TenantTx, WorkspaceId};

/// What [`create`] needs; the owner is the acting principal.
#[derive(Debug, Clone, PartialEq)]
pub struct NewResourceSpec<'a> {
    /// The workspace it lives in.
    pub workspace: WorkspaceId,
    /// Kind.
    pub kind: ResourceKind,
    /// Name, 1 to 200 characters.
    pub name: &'a str,
    /// Visibility.
    pub visibility: ResourceVisibility,
    /// Payload.
    pub data: &'a serde_json::Value,
}

/// Fields [`update`] changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, AsChangeset)]
#[diesel(table_name = resources)]
pub struct ResourceChanges<'a> {
    /// New name.
    pub name: Option<&'a str>,
    /// New visibility.
    pub visibility: Option<ResourceVisibility>,
    /// New payload.
    pub data: Option<&'a serde_json::Value>,
}

fn acting(tx: &TenantTx<'_>) -> Result<PrincipalId> {
    tx.principal().ok_or(Error::Forbidden {
        permission: "an acting principal",
    })
}

/// Creates a resource owned by the acting principal. Needs `resources.write`.
///
/// # Errors
/// [`Error::InvalidInput`], [`Error::Forbidden`], [`Error::NotFound`] for a workspace the
/// tenant does not have, or a database error.
pub fn create(tx: &mut TenantTx<'_>, spec: &NewResourceSpec<'_>) -> Result<Resource> {
    check_name("resource name", spec.name)?;
    let me = acting(tx)?;
    authz::require(tx, Permission::ResourcesWrite)?;
    let id = ResourceId::new_v7();
    let resource: Resource = tx
        .insert_returning(
            resources::table,
            NewResource {
                id,
                workspace_id: spec.workspace,
                kind: spec.kind,
                name: spec.name.trim(),
                visibility: spec.visibility,
                owner_principal_id: me,
                data: spec.data,
            },
        )
        .map_err(|e| match e {
            Error::Query(DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)) => {
                Error::NotFound {
                    entity: "workspace",
                }
            }
            other => other,
        })?;
    audit::record(
        tx,
        &AuditEvent::new("resource.create")
            .workspace(spec.workspace)
            .resource(id)
            .details(serde_json::json!({ "kind": spec.kind, "name": spec.name.trim() })),
    )?;
    Ok(resource)
}

/// One resource the caller can read (not soft-deleted). Needs `resources.read`.
///
/// # Errors
/// [`Error::NotFound`] when it does not exist, is deleted, belongs to another tenant or is
/// not visible to the caller; [`Error::Forbidden`]; or a database error.
pub fn get(tx: &mut TenantTx<'_>, id: ResourceId) -> Result<Resource> {
    authz::require(tx, Permission::ResourcesRead)?;
    let callers = access::caller_principals(tx)?;
    visible(tx, &callers, id)
}

/// The resource if `callers` can read it and it is not soft-deleted.
fn visible(tx: &mut TenantTx<'_>, callers: &[PrincipalId], id: ResourceId) -> Result<Resource> {
    tx.load(
        access::readable_by(callers)
            .filter(resources::id.eq(id))
            .filter(resources::deleted_at.is_null())
            .select(Resource::as_select()),
    )?
    .into_iter()
    .next()
    .ok_or(Error::NotFound { entity: "resource" })
}

fn writable(
    tx: &mut TenantTx<'_>,
    callers: &[PrincipalId],
    id: ResourceId,
    admin_only: bool,
) -> Result<bool> {
    tx.exists(
        access::writable_by(callers, admin_only)
            .filter(resources::id.eq(id))
            .select(resources::id),
    )
}

/// Changes a resource. Needs `resources.write` and ownership or an ACL grant of `write` or
/// `admin`; changing its visibility, which decides who else reads it as a grant does, needs
/// ownership or an `admin` grant.
///
/// # Errors
/// [`Error::NotFound`] as for [`get`], [`Error::Forbidden`], [`Error::InvalidInput`], or a
/// database error.
pub fn update(
    tx: &mut TenantTx<'_>,
    id: ResourceId,
    changes: &ResourceChanges<'_>,
) -> Result<Resource> {
    if let Some(name) = changes.name {
        check_name("resource name", name)?;
    }
    // Stored as `create` stores it: the length the check counted is the length written.
    let changes = &ResourceChanges {
        name: changes.name.map(str::trim),
        ..changes.clone()
    };
    authz::require_all(tx, &[Permission::ResourcesWrite, Permission::ResourcesRead])?;
    let callers = access::caller_principals(tx)?;
    let before = visible(tx, &callers, id)?;
    if !writable(tx, &callers, id, false)? {
        return Err(Error::Forbidden {
            permission: "write access to this resource",
        });
    }
    if changes
        .visibility
        .is_some_and(|visibility| visibility != before.visibility)
        && !writable(tx, &callers, id, true)?
    {
        return Err(Error::Forbidden {
            permission: "admin access to this resource",
        });
    }
    if changes == &ResourceChanges::default() {
        return Ok(before);
    }
    tx.update(resources::table)
        .filter(resources::id.eq(id))
        .set(changes.clone())
        .execute()?;
    audit::record(
        tx,
        &AuditEvent::new("resource.update")
            .workspace(before.workspace_id)
            .resource(id)
            .details(serde_json::json!({
                "name": changes.name, "visibility": changes.visibility, "data_changed": changes.data.is_some(),
            })),
    )?;
    visible(tx, &callers, id)
}

/// Soft-deletes a resource (sets `deleted_at`). Needs `resources.write` and ownership or an
/// ACL grant of `admin`.
///
/// # Errors
/// As [`update`].
pub fn delete(tx: &mut TenantTx<'_>, id: ResourceId) -> Result<()> {
    authz::require_all(tx, &[Permission::ResourcesWrite, Permission::ResourcesRead])?;
    let callers = access::caller_principals(tx)?;
    let before = visible(tx, &callers, id)?;
    if !writable(tx, &callers, id, true)? {
        return Err(Error::Forbidden {
            permission: "admin access to this resource",
        });
    }
    tx.update(resources::table)
        .filter(resources::id.eq(id))
        .set(resources::deleted_at.eq(Some(Utc::now())))
        .execute()?;
    audit::record(
        tx,
        &AuditEvent::new("resource.delete")
            .workspace(before.workspace_id)
            .resource(id),
    )?;
    Ok(())
}

/// The resource, if the caller can see it and owns it (directly or through a team).
fn owned(tx: &mut TenantTx<'_>, id: ResourceId) -> Result<Resource> {
    authz::require_all(tx, &[Permission::ResourcesAdmin, Permission::ResourcesRead])?;
    let callers = access::caller_principals(tx)?;
    let r = visible(tx, &callers, id)?;
    if callers.contains(&r.owner_principal_id) {
        Ok(r)
    } else {
        Err(Error::Forbidden {
            permission: "ownership of this resource",
        })
    }
}

/// Grants `permission` on a resource to `principal` (replacing an earlier grant). Only the
/// resource's owner (or a member of the owning team) grants; needs `resources.admin`.
///
/// # Errors
/// [`Error::NotFound`] for a resource the caller cannot see or a principal the tenant does
/// not have, [`Error::Forbidden`], or a database error.
pub fn grant(
    tx: &mut TenantTx<'_>,
    resource: ResourceId,
    principal: PrincipalId,
    permission: AclPermission,
) -> Result<()> {
    let r = owned(tx, resource)?;
    let updated = tx
        .update(resource_acl::table)
        .filter(resource_acl::resource_id.eq(resource))
        .filter(resource_acl::principal_id.eq(principal))
        .set(resource_acl::permission.eq(permission))
        .execute()?;
    if updated == 0 {
        tx.insert(
            resource_acl::table,
            NewAclEntry {
                resource_id: resource,
                principal_id: principal,
                permission,
            },
        )
        .map_err(|e| match e {
            Error::Query(DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)) => {
                Error::NotFound {
                    entity: "principal",
                }
            }
            other => other,
        })?;
    }
    audit::record(
        tx,
        &AuditEvent::new("resource.grant")
            .workspace(r.workspace_id)
            .resource(resource)
            .details(serde_json::json!({ "principal": principal, "permission": permission })),
    )?;
    Ok(())
}

/// Revokes `principal`'s grant on a resource. Same rules as [`grant`].
///
/// # Errors
/// As [`grant`]; [`Error::NotFound`] also when there is no such grant.
pub fn revoke(tx: &mut TenantTx<'_>, resource: ResourceId, principal: PrincipalId) -> Result<()> {
    let r = owned(tx, resource)?;
    let n = tx
        .delete(resource_acl::table)
        .filter(resource_acl::resource_id.eq(resource))
        .filter(resource_acl::principal_id.eq(principal))
        .execute()?;
    if n == 0 {
        return Err(Error::NotFound { entity: "grant" });
    }
    audit::record(
        tx,
        &AuditEvent::new("resource.revoke")
            .workspace(r.workspace_id)
            .resource(resource)
            .details(serde_json::json!({ "principal": principal })),
    )?;
    Ok(())
}

/// Where a page ended: the last row's `(updated_at, id)`. Opaque text for clients:
/// `<microseconds since the Unix epoch>.<id>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    updated_at: DateTime<Utc>,
    id: ResourceId,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.updated_at.timestamp_micros(), self.id)
    }
}

impl FromStr for Cursor {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::InvalidInput {
            field: "cursor",
            reason: "not a cursor returned by a previous page".into(),
        };
        let (micros, id) = s.split_once('.').ok_or_else(bad)?;
        let micros: i64 = micros.parse().map_err(|_| bad())?;
        let updated_at = DateTime::from_timestamp_micros(micros)
            // A row's `updated_at` is a time of this era; a time PostgreSQL cannot hold would
            // fail the page's query instead of the cursor.
            .filter(|at| (1..=9999).contains(&at.year()))
            .ok_or_else(bad)?;
        let id = id.parse().map_err(|_| bad())?;
        Ok(Self { updated_at, id })
    }
}

/// What [`list`] returns: up to `limit` resources and, when more follow, the cursor of the
/// next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The resources, newest `updated_at` first (ties by id).
    pub items: Vec<Resource>,
    /// Pass to [`ListRequest::after`] for the next page; `None` on the last page.
    pub next: Option<Cursor>,
}

/// What to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListRequest {
    limit: u32,
    workspace: Option<WorkspaceId>,
    kind: Option<ResourceKind>,
    after: Option<Cursor>,
}

impl ListRequest {
    /// The largest page size [`list`] accepts.
    pub const MAX_LIMIT: u32 = 500;

    /// The first page of at most `limit` resources.
    #[must_use]
    pub fn first(limit: u32) -> Self {
        Self {
            limit,
            workspace: None,
            kind: None,
            after: None,
        }
    }

    /// Only resources of this workspace.
    #[must_use]
    pub fn in_workspace(mut self, workspace: WorkspaceId) -> Self {
        self.workspace = Some(workspace);
        self
    }

    /// Only resources of this kind.
    #[must_use]
    pub fn of_kind(mut self, kind: ResourceKind) -> Self {
        self.kind = Some(kind);
        self
    }

    /// The page after `cursor`.
    #[must_use]
    pub fn after(mut self, cursor: Cursor) -> Self {
        self.after = Some(cursor);
        self
    }
}

/// Lists the resources the caller can read, newest first, one page at a time. Needs
/// `resources.read`.
///
/// # Errors
/// [`Error::InvalidInput`] for a limit of 0 or above [`ListRequest::MAX_LIMIT`],
/// [`Error::Forbidden`], or a database error.
pub fn list(tx: &mut TenantTx<'_>, request: &ListRequest) -> Result<Page> {
    if request.limit == 0 || request.limit > ListRequest::MAX_LIMIT {
        return Err(Error::InvalidInput {
            field: "limit",
            reason: format!("expected 1 to {}", ListRequest::MAX_LIMIT),
        });
    }
    authz::require(tx, Permission::ResourcesRead)?;
    let callers = access::caller_principals(tx)?;
    let mut query = access::readable_by(&callers).filter(resources::deleted_at.is_null());
    if let Some(workspace) = request.workspace {
        query = query.filter(resources::workspace_id.eq(workspace));
    }
    if let Some(kind) = request.kind {
        query = query.filter(resources::kind.eq(kind));
    }
    if let Some(c) = request.after {
        query = query.filter(
            resources::updated_at
                .lt(c.updated_at)
                .or(resources::updated_at
                    .eq(c.updated_at)
                    .and(resources::id.lt(c.id))),
        );
    }
    let mut items: Vec<Resource> = tx.load(
        query
            .order((resources::updated_at.desc(), resources::id.desc()))
            .limit(i64::from(request.limit) + 1)
            .select(Resource::as_select()),
    )?;
    let next = if items.len() > request.limit as usize {
        items.truncate(request.limit as usize);
        items.last().map(|r| Cursor {
            updated_at: r.updated_at,
            id: r.id,
        })
    } else {
        None
    };
    Ok(Page { items, next })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor {
            updated_at: DateTime::from_timestamp_micros(1_732_312_345_123_456).unwrap(),
            id: ResourceId::new_v7(),
        };
        assert_eq!(c.to_string().parse::<Cursor>().unwrap(), c);
        for bad in [
            "",
            ".",
            "x.y",
            "1.",
            ".res_0",
            "99999999999999999999.res_0",
            "1.ten_0190b5a48c3e7c4e9a573f1d2f6b8a10",
            // Years -29719 and 33658: chrono holds them, PostgreSQL's page query did not.
            "-1000000000000000000.res_0190b5a48c3e7c4e9a573f1d2f6b8a10",
            "1000000000000000000.res_0190b5a48c3e7c4e9a573f1d2f6b8a10",
        ] {
            assert!(
                matches!(
                    bad.parse::<Cursor>(),
                    Err(Error::InvalidInput {
                        field: "cursor",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }
}
