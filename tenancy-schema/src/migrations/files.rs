//! One migration as the diesel CLI lays it out on disk.

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

/// Whether one of `files` has the version `version` (as diesel records it).
#[must_use]
pub fn has_version(files: &[MigrationFiles], version: &str) -> bool {
    files.iter().any(|f| f.version() == version)
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

/// A [`MigrationFiles`] for the directory `$name` of the `migrations/` folder next to the
/// calling crate's manifest, read at compile time (Cargo rebuilds when a file changes).
#[doc(hidden)]
#[macro_export]
macro_rules! __tenancy_migration_files {
    ($name:literal) => {
        $crate::migrations::MigrationFiles {
            name: $name,
            up: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../migrations/",
                $name,
                "/up.sql"
            )),
            down: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../migrations/",
                $name,
                "/down.sql"
            )),
        }
    };
}
