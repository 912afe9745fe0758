//! The core's migrations: the roles, the `tenancy` schema, the sealed tenant context and the
//! tenant status hook. They create no table of their own in `public`: the foundation schema
//! (`tenancy-foundation`) adds its tables, and its status hook, in migrations of its own.
//!
//! The files live in the repository's `migrations/` folder (the diesel CLI's layout, with the
//! foundation's in the same folder), and are embedded here so that `tenancy init` can write
//! them into an application's migrations directory and [`run_migrations`] can apply them from
//! a binary.

mod files;
mod set;

use diesel::PgConnection;

pub use files::{MigrationFiles, has_version, version_of};
pub use set::MigrationSet;

use crate::Error;

/// The core's migrations as files, oldest first.
pub const CORE: &[MigrationFiles] = &[
    crate::__tenancy_migration_files!("2026-11-22-100000_tenancy_roles_and_context"),
    crate::__tenancy_migration_files!("2026-11-30-120000_sealed_tenant_context"),
    crate::__tenancy_migration_files!("2026-12-01-010000_leaner_context_entry"),
    crate::__tenancy_migration_files!("2026-12-01-050000_tenant_status_hook"),
    crate::__tenancy_migration_files!("2026-12-01-060000_distributed_tenant_context"),
    crate::__tenancy_migration_files!("2026-12-01-070000_native_tenant_context"),
    crate::__tenancy_migration_files!("2026-12-01-080000_session_check"),
    crate::__tenancy_migration_files!("2026-12-01-090000_worker_commands_one_statement"),
    crate::__tenancy_migration_files!("2026-12-01-100000_native_status_cache"),
    crate::__tenancy_migration_files!("2026-12-02-010000_native_reader_one_call"),
    crate::__tenancy_migration_files!("2026-12-02-080000_native_policies_read_directly"),
    crate::__tenancy_migration_files!("2026-12-02-130000_native_policies_plain_call"),
    crate::__tenancy_migration_files!("2026-12-04-190000_session_opens_with_unknown_nonce"),
    crate::__tenancy_migration_files!("2026-12-05-020000_citus_worker_activity_hidden"),
    crate::__tenancy_migration_files!("2026-12-05-030000_large_objects_closed"),
    crate::__tenancy_migration_files!("2026-12-05-120000_statistics_counters_closed"),
    crate::__tenancy_migration_files!("2026-12-06-130000_citus_transaction_numbers_hidden"),
    crate::__tenancy_migration_files!("2026-12-06-170000_citus_internals_closed"),
    crate::__tenancy_migration_files!("2026-12-07-120000_policy_guard_reads_policies_as_printed"),
];

/// The core's migrations as a [`MigrationSet`].
pub const MIGRATIONS: MigrationSet = MigrationSet::new(&[CORE]);

/// Applies the core migrations `conn`'s database does not have yet ([`MigrationSet::run`]).
/// An application on the foundation schema runs `tenancy_foundation::run_migrations`
/// instead, which applies these and the foundation's.
///
/// # Errors
/// As [`MigrationSet::run`].
pub fn run_migrations(conn: &mut PgConnection) -> Result<Vec<String>, Error> {
    MIGRATIONS.run(conn)
}

/// Reverts every applied core migration ([`MigrationSet::revert_all`]).
///
/// # Errors
/// As [`MigrationSet::revert_all`].
pub fn revert_all_migrations(conn: &mut PgConnection) -> Result<Vec<String>, Error> {
    MIGRATIONS.revert_all(conn)
}
