//! The foundation schema's migrations, embedded at compile time from `migrations/`.

use diesel::PgConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::Error;

/// Every migration in the repository's `migrations/` folder, in order.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

/// One migration as files: its directory name (`YYYY-MM-DD-HHMMSS_name`, as the diesel CLI
/// names them) and its `up.sql` and `down.sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationFiles {
    /// The directory name.
    pub name: &'static str,
    /// `up.sql`.
    pub up: &'static str,
    /// `down.sql`.
    pub down: &'static str,
}

impl MigrationFiles {
    /// The version diesel records for it (see [`version_of`]).
    #[must_use]
    pub fn version(&self) -> String {
        version_of(self.name)
    }
}

/// The version diesel reads from a migration directory's name: the digits of the date and
/// time before the first `_` (`2026-11-22-100000_roles` is `20261122100000`).
#[must_use]
pub fn version_of(directory_name: &str) -> String {
    directory_name
        .split('_')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_digit)
        .collect()
}

/// The same migrations as [`MIGRATIONS`], as files, oldest first: what `tenancy init` writes
/// into an application's migrations directory so that the diesel CLI runs, redoes and reverts
/// them with the application's own.
pub const FILES: &[MigrationFiles] = include!(concat!(env!("OUT_DIR"), "/migration_files.rs"));

/// Applies the migrations `conn`'s database does not have yet and returns their versions
/// (empty when it is up to date). Run it as the role that should own the tables, never as
/// `tenancy_app`; the first run also needs the right to create roles (see the README).
///
/// # Errors
/// [`Error::Migration`] naming the failing migration; each migration runs in its own
/// transaction, so a failure leaves the database at the last one that succeeded.
pub fn run_migrations(conn: &mut PgConnection) -> Result<Vec<String>, Error> {
    let applied = conn
        .run_pending_migrations(MIGRATIONS)
        .map_err(|source| Error::Migration { source })?;
    Ok(applied.into_iter().map(|v| v.to_string()).collect())
}

/// Reverts every applied tenancy migration, newest first, and returns their versions. Roles
/// the migrations created are dropped unless another database of the cluster still uses
/// them; pre-existing roles are kept.
///
/// # Errors
/// [`Error::Migration`] naming the failing migration.
pub fn revert_all_migrations(conn: &mut PgConnection) -> Result<Vec<String>, Error> {
    let reverted = conn
        .revert_all_migrations(MIGRATIONS)
        .map_err(|source| Error::Migration { source })?;
    Ok(reverted.into_iter().map(|v| v.to_string()).collect())
}
