//! The foundation schema's migrations: its tables, their policies and keys, the audit chain,
//! the control plane's functions and the tenant status hook that reads `tenants`. They build
//! on the core's (`tenancy_schema::migrations`), and [`MIGRATIONS`] runs both, in version
//! order, as the diesel CLI runs an application's migrations directory after
//! `tenancy init --foundation`.

use diesel::PgConnection;
use tenancy_schema::__tenancy_migration_files as files;
use tenancy_schema::migrations::{CORE, MigrationFiles, MigrationSet};

use crate::Error;

/// The foundation's own migrations as files, oldest first.
pub const FOUNDATION: &[MigrationFiles] = &[
    files!("2026-11-22-100100_control_plane"),
    files!("2026-11-22-100200_tenant_tables"),
    files!("2026-11-22-100300_audit_log"),
    files!("2026-11-22-100400_control_plane_api"),
    files!("2026-11-30-120100_context_owner_reads_own_tenant"),
    files!("2026-12-01-040000_private_global_tables"),
    files!("2026-12-01-050100_foundation_tenant_status"),
    files!("2026-12-01-060100_foundation_on_citus"),
    files!("2026-12-04-150000_api_key_prefix_lookup_reviewed"),
    files!("2026-12-04-230000_members_user_set_by_control_plane"),
    files!("2026-12-04-230100_member_directory_names_by_consent"),
    files!("2026-12-05-010000_sharing_by_owners_joining_by_invitees"),
    files!("2026-12-05-060000_personal_tenant_recorded_and_invitations_held"),
    files!("2026-12-05-130000_api_keys_found_by_prefix_and_hash"),
    files!("2026-12-05-140000_keys_act_for_active_members"),
    files!("2026-12-05-140100_user_principals_made_by_control_plane"),
    files!("2026-12-07-010000_audit_log_goes_only_with_its_tenant"),
];

/// The core's migrations and the foundation's.
pub const MIGRATIONS: MigrationSet = MigrationSet::new(&[CORE, FOUNDATION]);

/// Applies the core's and the foundation's migrations that `conn`'s database does not have
/// yet, in version order, and returns their versions.
///
/// # Errors
/// As `tenancy_schema::migrations::MigrationSet::run`.
pub fn run_migrations(conn: &mut PgConnection) -> Result<Vec<String>, Error> {
    MIGRATIONS.run(conn)
}

/// Reverts every applied core and foundation migration, newest first.
///
/// # Errors
/// As `tenancy_schema::migrations::MigrationSet::revert_all`.
pub fn revert_all_migrations(conn: &mut PgConnection) -> Result<Vec<String>, Error> {
    MIGRATIONS.revert_all(conn)
}
