//! A set of embedded migrations that diesel's migration harness runs, reverts and lists.

use std::fmt;

use diesel::PgConnection;
use diesel::connection::BoxableConnection;
use diesel::migration::{
    Migration, MigrationMetadata, MigrationName, MigrationSource, MigrationVersion,
};
use diesel::pg::Pg;
use diesel_migrations::MigrationHarness;

use super::MigrationFiles;
use crate::Error;

/// Migrations embedded in the binary, from one or more lists (the core's, then a component's
/// such as the foundation schema's), run in version order like the diesel CLI runs a
/// migrations directory. It is a [`MigrationSource`], so `diesel_migrations`'
/// `MigrationHarness` methods take it as they take `embed_migrations!`'s output.
#[derive(Debug, Clone, Copy)]
pub struct MigrationSet {
    parts: &'static [&'static [MigrationFiles]],
}

impl MigrationSet {
    /// The migrations of every list in `parts`.
    #[must_use]
    pub const fn new(parts: &'static [&'static [MigrationFiles]]) -> Self {
        Self { parts }
    }

    /// Every migration of the set as files, oldest first: what `tenancy init` writes into an
    /// application's migrations directory so that the diesel CLI runs, redoes and reverts them
    /// with the application's own.
    #[must_use]
    pub fn files(&self) -> Vec<&'static MigrationFiles> {
        let mut files: Vec<&'static MigrationFiles> =
            self.parts.iter().flat_map(|part| part.iter()).collect();
        files.sort_by_key(|f| f.version());
        files
    }
}

impl MigrationSource<Pg> for MigrationSet {
    fn migrations(&self) -> diesel::migration::Result<Vec<Box<dyn Migration<Pg>>>> {
        Ok(self
            .files()
            .into_iter()
            .map(|files| {
                Box::new(Embedded {
                    files,
                    name: Name {
                        name: files.name,
                        version: files.version(),
                    },
                }) as Box<dyn Migration<Pg>>
            })
            .collect())
    }
}

struct Embedded {
    files: &'static MigrationFiles,
    name: Name,
}

struct Name {
    name: &'static str,
    version: String,
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl MigrationName for Name {
    fn version(&self) -> MigrationVersion<'_> {
        MigrationVersion::from(self.version.as_str())
    }
}

/// Every migration runs in a transaction of its own, as the diesel CLI runs one without a
/// `metadata.toml`.
struct InTransaction;

impl MigrationMetadata for InTransaction {}

impl Migration<Pg> for Embedded {
    fn run(&self, conn: &mut dyn BoxableConnection<Pg>) -> diesel::migration::Result<()> {
        conn.batch_execute(self.files.up)?;
        Ok(())
    }

    fn revert(&self, conn: &mut dyn BoxableConnection<Pg>) -> diesel::migration::Result<()> {
        conn.batch_execute(self.files.down)?;
        Ok(())
    }

    fn metadata(&self) -> &dyn MigrationMetadata {
        &InTransaction
    }

    fn name(&self) -> &dyn MigrationName {
        &self.name
    }
}

impl MigrationSet {
    /// Applies the migrations of the set that `conn`'s database does not have yet and returns
    /// their versions (empty when it is up to date). Run it as the role that should own the
    /// tables, never as `tenancy_app`; the first run also needs the right to create roles (see
    /// the README).
    ///
    /// # Errors
    /// [`Error::Migration`] naming the failing migration; each migration runs in its own
    /// transaction, so a failure leaves the database at the last one that succeeded.
    pub fn run(&self, conn: &mut PgConnection) -> Result<Vec<String>, Error> {
        let applied = conn
            .run_pending_migrations(*self)
            .map_err(|source| Error::Migration { source })?;
        Ok(applied.into_iter().map(|v| v.to_string()).collect())
    }

    /// Reverts every applied migration, newest first, and returns their versions. Roles the
    /// migrations created are dropped unless another database of the cluster still uses them;
    /// pre-existing roles are kept.
    ///
    /// # Errors
    /// [`Error::Migration`] naming the failing migration, or an applied version the set does
    /// not have (a migration of another set or of the application).
    pub fn revert_all(&self, conn: &mut PgConnection) -> Result<Vec<String>, Error> {
        let reverted = conn
            .revert_all_migrations(*self)
            .map_err(|source| Error::Migration { source })?;
        Ok(reverted.into_iter().map(|v| v.to_string()).collect())
    }
}
