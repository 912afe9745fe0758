//! The library behind the `tenancy` command: migration scaffolding for tenant-scoped tables,
//! check report rendering and audit chain verification, usable from your own tools and tests.
//!
//! ```
//! use tenancy_cli::new_table::{self, TableSpec};
//!
//! let mut spec = TableSpec::new("deployments");
//! spec.columns.push("name:text".parse()?);
//! spec.uniques.push(new_table::parse_column_list("name")?);
//! let migration = new_table::render(&spec)?;
//! assert!(migration.up.contains("CONSTRAINT deployments_tenant_name_key UNIQUE (tenant_id, name)"));
//! assert!(migration.up.contains("ALTER TABLE deployments FORCE ROW LEVEL SECURITY;"));
//! # Ok::<(), tenancy_cli::new_table::SpecError>(())
//! ```
//!
//! The binary (`cargo run -p tenancy-cli -- --help`) has these commands:
//!
//! * `tenancy migrate`: apply the foundation schema's migrations;
//! * `tenancy check [--format human|json] [--citus]`: lint a live database
//!   ([`tenancy_schema::check`]), rendered by [`report`];
//! * `tenancy new-table <name> ...`: write a migration pair ([`new_table`]);
//! * `tenancy audit verify [--tenant ID]`: verify the audit hash chains ([`audit`]);
//! * `tenancy quickstart`: a throwaway database showing the isolation end to end.
//!
//! Without `--database-url` or `DATABASE_URL`, the commands that need a database start a
//! throwaway PostgreSQL cluster ([`tenancy_testing::TestDatabase`]).

pub mod app_schema;
pub mod audit;
mod diesel_toml;
pub mod init;
pub mod new_table;
pub mod print_schema;
pub mod report;
