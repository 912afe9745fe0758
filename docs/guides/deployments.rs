// The worked example of docs/guides/new-tenant-model.md, compiled and run by
// tenancy-cli/tests/guide_deployments.rs (which also checks that the guide quotes this file).

use diesel::prelude::*;
use tenancy_foundation::WorkspaceId;
use tenancy_schema::{Error, TenantTx};

pub mod schema {
    pub mod sql_types {
        #[derive(diesel::query_builder::QueryId, diesel::sql_types::SqlType)]
        #[diesel(postgres_type(name = "deployment_status"))]
        pub struct DeploymentStatus;
    }

    // As `diesel print-schema` writes it, classified by the attribute (which
    // `tenancy print-schema` writes in a real project).
    #[tenancy_schema::tenant_scoped(
        index(name),
        unique(name),
        foreign_key(workspace_id -> workspaces)
    )]
    diesel::table! {
        use diesel::sql_types::*;
        use super::sql_types::DeploymentStatus;

        deployments (tenant_id, id) {
            tenant_id -> Uuid,
            id -> Uuid,
            workspace_id -> Uuid,
            name -> Text,
            status -> DeploymentStatus,
            config -> Jsonb,
            created_at -> Timestamptz,
            updated_at -> Timestamptz,
        }
    }
}

use schema::deployments;

#[derive(Debug, Clone, Copy, PartialEq, Eq, diesel_derive_enum::DbEnum)]
#[ExistingTypePath = "crate::schema::sql_types::DeploymentStatus"]
pub enum DeploymentStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
}

/// Read model: `#[tenant_scoped]` adds `pub tenant_id: TenantId`.
#[tenancy_schema::tenant_scoped]
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = deployments, check_for_backend(diesel::pg::Pg))]
pub struct Deployment {
    pub id: uuid::Uuid,
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub status: DeploymentStatus,
    pub config: serde_json::Value,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// Write model: never carries `tenant_id`; the transaction supplies it.
#[tenancy_schema::tenant_scoped]
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = deployments)]
pub struct NewDeployment<'a> {
    pub id: uuid::Uuid,
    pub workspace_id: WorkspaceId,
    pub name: &'a str,
    pub status: DeploymentStatus,
    pub config: &'a serde_json::Value,
}

/// Starts a deployment in the transaction's tenant.
///
/// # Errors
/// A taken name, a workspace of another tenant (composite foreign key), or a database error.
pub fn start(
    tx: &mut TenantTx<'_>,
    workspace: WorkspaceId,
    name: &str,
    config: &serde_json::Value,
) -> Result<Deployment, Error> {
    tx.insert_returning(
        deployments::table,
        NewDeployment {
            id: uuid::Uuid::now_v7(),
            workspace_id: workspace,
            name,
            status: DeploymentStatus::Pending,
            config,
        },
    )
}

/// The tenant's deployments in one state, by name.
///
/// # Errors
/// A database error.
pub fn in_state(tx: &mut TenantTx<'_>, status: DeploymentStatus) -> Result<Vec<Deployment>, Error> {
    tx.load(
        deployments::table
            .filter(deployments::status.eq(status))
            .order(deployments::name)
            .select(Deployment::as_select()),
    )
}
