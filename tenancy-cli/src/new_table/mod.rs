//! `tenancy new-table`: the migration pair for a new tenant-scoped table.
//!
//! [`render`] is a pure function from a [`TableSpec`] to a [`Migration`]; it validates the
//! spec first ([`TableSpec::validate`]) and never produces SQL from a name or type it did not
//! check. The generated table follows the foundation schema's rules, so `tenancy check`
//! passes on it untouched:
//!
//! * `tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE` first (without the
//!   reference for an application on tenancy's core alone, which has no `tenants`), and
//!   `id uuid NOT NULL DEFAULT tenancy.uuid_v7()`, with `PRIMARY KEY (tenant_id, id)`;
//! * every unique key and index led by `tenant_id`, every foreign key to another tenant table
//!   composite: `(tenant_id, col) REFERENCES other (tenant_id, id)`;
//! * `created_at`/`updated_at` kept by the `tenancy.touch_updated_at()` trigger;
//! * ENABLE + FORCE row level security, the permissive `tenant_access` policy (for
//!   `tenancy_app` and the migrating role) and the RESTRICTIVE `tenant_isolation` policy (for
//!   everyone), both on `tenant_id = (SELECT tenancy.current_tenant())`, written by
//!   `tenancy_schema::policy`; on a database switched to the native tenant context,
//!   `tenancy.enable_native_context()` then makes them call its C readers, as it did the others;
//! * `SELECT, INSERT, UPDATE, DELETE` granted to `tenancy_app` and `tenancy_admin`.
//!
//! ```
//! use tenancy_cli::new_table::{self, TableSpec};
//!
//! let mut spec = TableSpec::new("deployments");
//! spec.columns.push("workspace_id:uuid".parse()?);
//! spec.columns.push("name:text".parse()?);
//! spec.columns.push("status:enum:deployment_status".parse()?);
//! spec.columns.push("config:jsonb:null".parse()?);
//! spec.indexes.push(new_table::parse_column_list("name")?);
//! spec.references.push("workspace_id:workspaces".parse()?);
//!
//! let migration = new_table::render(&spec)?;
//! assert_eq!(migration.name, "create_deployments");
//! assert!(migration.up.contains("PRIMARY KEY (tenant_id, id)"));
//! assert!(migration.up.contains(
//!     "FOREIGN KEY (tenant_id, workspace_id) REFERENCES workspaces (tenant_id, id)"
//! ));
//! assert_eq!(migration.down.lines().last(), Some("DROP TABLE deployments;"));
//! # Ok::<(), tenancy_cli::new_table::SpecError>(())
//! ```

mod column;
mod diesel_table;
mod error;
mod existing;
mod migration;
mod names;
mod rust_names;
mod spec;
#[cfg(test)]
mod tests;

pub use column::{Column, ColumnType, Reference};
pub use diesel_table::diesel_table;
pub use error::SpecError;
pub use existing::{core_alone_in, global_tables_in};
pub use migration::{Migration, WriteError, render};
pub use names::{
    FOUNDATION_TABLES, GENERATED_COLUMNS, MAX_IDENTIFIER_LEN, MAX_TABLE_NAME_LEN, SYSTEM_COLUMNS,
    parse_column_list, validate_column_name, validate_enum_name, validate_identifier,
    validate_table_name,
};
pub use spec::TableSpec;
