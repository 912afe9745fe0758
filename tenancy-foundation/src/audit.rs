//! Writing the audit trail: one `audit_log` row per mutation, in the mutation's own
//! transaction, plus a `tracing` event carrying the tenant, workspace and resource.
//!
//! The database fills `seq`, `prev_hash` and `row_hash` (see the README's audit log section),
//! so a row written here is part of the tenant's hash chain.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Uuid as SqlUuid};

use crate::models::NewAuditEntry;
use crate::schema::audit_log;
use crate::{
    AuditEntryId, Error, PrincipalId, ResourceId, Result, TenantId, TenantTx, WorkspaceId,
};

/// One thing that happened, about to be recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent<'a> {
    /// Lowercase words separated by dots: `resource.update`, `member.invite`.
    pub action: &'a str,
    /// The workspace concerned.
    pub workspace: Option<WorkspaceId>,
    /// The resource concerned.
    pub resource: Option<ResourceId>,
    /// Anything else worth keeping (ids, old and new values). Never secrets.
    pub details: serde_json::Value,
}

impl<'a> AuditEvent<'a> {
    /// An event with no workspace, resource or details.
    #[must_use]
    pub fn new(action: &'a str) -> Self {
        Self {
            action,
            workspace: None,
            resource: None,
            details: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    /// Sets the workspace.
    #[must_use]
    pub fn workspace(mut self, workspace: WorkspaceId) -> Self {
        self.workspace = Some(workspace);
        self
    }

    /// Sets the resource.
    #[must_use]
    pub fn resource(mut self, resource: ResourceId) -> Self {
        self.resource = Some(resource);
        self
    }

    /// Sets the details.
    #[must_use]
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

fn check_action(action: &str) -> Result<()> {
    let valid = !action.is_empty()
        && action.len() <= 100
        && action.split('.').all(|word| {
            !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        });
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidInput {
            field: "audit action",
            reason: format!(
                "{:?} is not lowercase words separated by dots, such as `resource.update`",
                action.chars().take(100).collect::<String>()
            ),
        })
    }
}

fn trace(tenant: TenantId, actor: Option<PrincipalId>, event: &AuditEvent<'_>, id: AuditEntryId) {
    tracing::info!(
        target: "tenancy::audit",
        tenant_id = %tenant,
        actor = actor.map(tracing::field::display),
        workspace_id = event.workspace.map(tracing::field::display),
        resource_id = event.resource.map(tracing::field::display),
        audit_id = %id,
        action = event.action,
        "audit"
    );
}

/// Appends `event` to the transaction's tenant's audit chain, with the transaction's
/// principal as the actor.
///
/// # Errors
/// [`Error::InvalidInput`] for a malformed action (nothing written), otherwise a database
/// error; the caller's transaction then rolls back with it, so a mutation never commits
/// without its audit row.
pub fn record(tx: &mut TenantTx<'_>, event: &AuditEvent<'_>) -> Result<AuditEntryId> {
    check_action(event.action)?;
    let id = AuditEntryId::new_v7();
    tx.insert(
        audit_log::table,
        NewAuditEntry {
            id,
            actor_principal_id: tx.principal(),
            action: event.action,
            workspace_id: event.workspace,
            resource_id: event.resource,
            details: &event.details,
        },
    )?;
    trace(tx.tenant(), tx.principal(), event, id);
    Ok(id)
}

/// Appends `event` to `tenant`'s chain from an admin connection (control plane); `actor` may
/// be `None` for the system itself.
///
/// # Errors
/// As [`record`].
pub fn record_as_admin(
    conn: &mut PgConnection,
    tenant: TenantId,
    actor: Option<PrincipalId>,
    event: &AuditEvent<'_>,
) -> Result<AuditEntryId> {
    check_action(event.action)?;
    let id = AuditEntryId::new_v7();
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::tenant_id.eq(tenant),
            audit_log::id.eq(id),
            audit_log::actor_principal_id.eq(actor),
            audit_log::action.eq(event.action),
            audit_log::workspace_id.eq(event.workspace),
            audit_log::resource_id.eq(event.resource),
            audit_log::details.eq(&event.details),
        ))
        .execute(conn)?;
    trace(tenant, actor, event, id);
    Ok(id)
}

/// The [`tenancy_schema::AdminAudit`] hook of [`crate::config`]: each use of
/// [`Tenancy::admin`](tenancy_schema::Tenancy::admin) becomes an `admin.escape_hatch` row of
/// the control plane's own chain (the nil tenant), with the reason, the caller and the role.
pub const ESCAPE_HATCH: tenancy_schema::AdminAudit = tenancy_schema::AdminAudit::new(
    "tenancy_foundation::audit::ESCAPE_HATCH",
    record_escape_hatch,
);

fn record_escape_hatch(
    conn: &mut PgConnection,
    admin_use: &tenancy_schema::AdminUse<'_>,
) -> Result<()> {
    let event = AuditEvent::new("admin.escape_hatch").details(serde_json::json!({
        "reason": admin_use.reason,
        "caller": admin_use.caller.to_string(),
        "role": admin_use.role,
    }));
    record_as_admin(conn, TenantId::from_uuid(uuid::Uuid::nil()), None, &event).map(drop)
}

/// What [`verify_chain`] found for one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainStatus {
    /// The tenant.
    pub tenant: TenantId,
    /// Entries in its chain, as far as the connecting role can see them.
    pub entries: i64,
    /// The first entry that does not verify, or `None` when the whole chain verifies.
    pub broken_at: Option<AuditEntryId>,
}

#[derive(QueryableByName)]
struct Entries {
    #[diesel(sql_type = BigInt)]
    entries: i64,
}

#[derive(QueryableByName)]
struct Broken {
    #[diesel(sql_type = Nullable<SqlUuid>)]
    broken: Option<uuid::Uuid>,
}

/// Verifies `tenant`'s audit chain as the connecting role, in one read-only
/// `REPEATABLE READ` transaction (so the count and the verification see the same rows), with
/// `tenancy.tenant_id` set to the tenant: the tables' owner (bound by FORCE row level
/// security) sees the tenant's entries that way, and a superuser or BYPASSRLS role sees them
/// anyway.
///
/// # Errors
/// A database error, such as a missing `tenancy.verify_audit_chain` (migrations not applied).
pub fn verify_chain(conn: &mut PgConnection, tenant: TenantId) -> QueryResult<ChainStatus> {
    conn.build_transaction()
        .read_only()
        .repeatable_read()
        .run(|conn| {
            diesel::sql_query("SELECT set_config('tenancy.tenant_id', $1, true)")
                .bind::<Text, _>(tenant.as_uuid().to_string())
                .execute(conn)?;
            // Two statements: on Citus one query naming `audit_log` runs on the tenant's
            // shard whole, and the function reading the distributed table cannot run there.
            let entries: Entries = diesel::sql_query(
                "SELECT count(*) AS entries FROM public.audit_log WHERE tenant_id = $1",
            )
            .bind::<SqlUuid, _>(tenant)
            .get_result(conn)?;
            let broken: Broken =
                diesel::sql_query("SELECT tenancy.verify_audit_chain($1) AS broken")
                    .bind::<SqlUuid, _>(tenant)
                    .get_result(conn)?;
            Ok(ChainStatus {
                tenant,
                entries: entries.entries,
                broken_at: broken.broken.map(AuditEntryId::from_uuid),
            })
        })
}

#[cfg(test)]
mod tests {
    use super::check_action;

    #[test]
    fn actions_are_dotted_lowercase_words() {
        for ok in ["resource.update", "member.invite", "tenant.purge", "x"] {
            assert!(check_action(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Resource.update",
            "a..b",
            ".a",
            "a.",
            "a b",
            "drop;table",
            &"a".repeat(101),
        ] {
            assert!(check_action(bad).is_err(), "{bad}");
        }
    }
}
