//! `tenancy init`: the library's migrations written into the application's own migrations
//! directory, so that the diesel CLI runs, redoes and reverts them with the application's
//! (`diesel migration run`, `revert --all`, `diesel database setup`/`reset`), one history.
//! Running it again after a library upgrade writes only the migrations that are new.

use std::path::{Path, PathBuf};

use tenancy_schema::migrations::{MigrationFiles, MigrationSet, has_version, version_of};

/// What `tenancy init` did.
#[derive(Debug, Default)]
pub struct Written {
    /// Migrations written, by directory name.
    pub written: Vec<&'static str>,
    /// Migrations already there (same version), by directory name.
    pub present: Vec<&'static str>,
    /// Migrations there whose `up.sql` differs from the library's: left as they are.
    pub changed: Vec<Differing>,
}

/// A migration directory of the application with the version of one of the library's
/// migrations but another `up.sql`.
#[derive(Debug)]
pub struct Differing {
    /// The library's migration, by directory name.
    pub name: &'static str,
    /// The application's directory, which may be named otherwise.
    pub existing: PathBuf,
}

/// Why `tenancy init` could not write.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// `diesel.toml` exists but cannot be read or parsed, or names the directory with
    /// something other than a string.
    #[error("invalid {path}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A file or directory could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// The migrations directory `diesel.toml` (in `project`) names in `[migrations_directory]`,
/// relative to `project`; `migrations` when there is no `diesel.toml` or it names none.
///
/// # Errors
/// [`InitError::Config`] for a `diesel.toml` that cannot be read or parsed, or whose
/// `[migrations_directory] dir` is not a string: writing into `migrations` instead would put
/// tenancy's migrations where the application's diesel CLI never looks.
pub fn migrations_dir(project: &Path) -> Result<PathBuf, InitError> {
    let invalid = |e: crate::diesel_toml::InvalidConfig| InitError::Config {
        path: e.path,
        message: e.message,
    };
    let config = crate::diesel_toml::read(project).map_err(invalid)?;
    let dir = match &config {
        Some(config) => config
            .string("migrations_directory", "dir")
            .map_err(invalid)?,
        None => None,
    };
    Ok(project.join(dir.unwrap_or("migrations")))
}

/// The migrations `tenancy init` writes: the core's, and the foundation schema's as well when
/// `foundation` is asked for or `dir` already holds one of them (so that running it again
/// after an upgrade brings the foundation's new migrations too).
///
/// # Errors
/// [`InitError::Write`] when `dir` exists but cannot be read.
pub fn chosen_set(dir: &Path, foundation: bool) -> Result<MigrationSet, InitError> {
    let present = existing(dir)?
        .iter()
        .any(|(name, _)| is_foundation_version(&version_of(name)));
    Ok(set_for(foundation || present))
}

/// Whether `version` is one of the foundation schema's migrations.
#[must_use]
pub fn is_foundation_version(version: &str) -> bool {
    has_version(tenancy_foundation::migrations::FOUNDATION, version)
}

/// The core's migrations, with the foundation's when `foundation`.
#[must_use]
pub fn set_for(foundation: bool) -> MigrationSet {
    if foundation {
        tenancy_foundation::migrations::MIGRATIONS
    } else {
        tenancy_schema::migrations::MIGRATIONS
    }
}

/// The entries of `dir` (none when it does not exist), by name and path.
fn existing(dir: &Path) -> Result<Vec<(String, PathBuf)>, InitError> {
    match std::fs::read_dir(dir) {
        Ok(entries) => Ok(entries
            .filter_map(Result::ok)
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(InitError::Write {
            path: dir.to_owned(),
            source,
        }),
    }
}

/// Writes every migration of `set` that `dir` does not have yet (a migration counts as there
/// when a directory of the same version exists).
///
/// # Errors
/// [`InitError::Write`] when a directory or file cannot be written; the migrations written
/// before it stay.
pub fn write_missing(dir: &Path, set: &MigrationSet) -> Result<Written, InitError> {
    let write_error = |path: &Path| {
        let path = path.to_owned();
        move |source| InitError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(write_error(dir))?;
    let existing = existing(dir)?;
    let mut outcome = Written::default();
    for files in set.files() {
        let there = existing
            .iter()
            .find(|(name, _)| version_of(name) == files.version());
        if let Some((_, path)) = there {
            let up = std::fs::read_to_string(path.join("up.sql")).unwrap_or_default();
            if up == files.up {
                outcome.present.push(files.name);
            } else {
                outcome.changed.push(Differing {
                    name: files.name,
                    existing: path.clone(),
                });
            }
        } else {
            write(dir, files)?;
            outcome.written.push(files.name);
        }
    }
    Ok(outcome)
}

fn write(dir: &Path, files: &MigrationFiles) -> Result<(), InitError> {
    let target = dir.join(files.name);
    let error = |path: &Path| {
        let path = path.to_owned();
        move |source| InitError::Write { path, source }
    };
    std::fs::create_dir(&target).map_err(error(&target))?;
    std::fs::write(target.join("up.sql"), files.up).map_err(error(&target.join("up.sql")))?;
    std::fs::write(target.join("down.sql"), files.down).map_err(error(&target.join("down.sql")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_directory_without_a_setting() {
        let project = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            migrations_dir(project.path()).expect("no diesel.toml"),
            project.path().join("migrations")
        );
        std::fs::write(project.path().join("diesel.toml"), "[print_schema]\n").expect("write");
        assert_eq!(
            migrations_dir(project.path()).expect("no [migrations_directory]"),
            project.path().join("migrations")
        );
        std::fs::write(
            project.path().join("diesel.toml"),
            "[migrations_directory]\ndir = \"db/migrations\"\n",
        )
        .expect("write");
        assert_eq!(
            migrations_dir(project.path()).expect("a directory"),
            project.path().join("db/migrations")
        );
    }

    #[test]
    fn a_directory_setting_that_is_not_a_string_is_an_error() {
        let project = tempfile::tempdir().expect("tempdir");
        for text in [
            "[migrations_directory]\ndir = 5\n",
            "[migrations_directory]\ndir = [\"a\"]\n",
            "migrations_directory = \"db\"\n",
            "[migrations_directory\n",
        ] {
            std::fs::write(project.path().join("diesel.toml"), text).expect("write");
            let error = migrations_dir(project.path()).expect_err(text);
            assert!(
                matches!(&error, InitError::Config { path, .. } if path.ends_with("diesel.toml")),
                "{text}: {error:?}"
            );
            assert!(error.to_string().contains("diesel.toml"), "{error}");
        }
    }

    #[test]
    fn a_differing_migration_is_reported_under_the_applications_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = &tenancy_schema::migrations::CORE[0];
        let renamed = dir
            .path()
            .join(format!("{}_renamed_by_the_app", first.version()));
        std::fs::create_dir(&renamed).expect("mkdir");
        std::fs::write(renamed.join("up.sql"), "-- edited\n").expect("write");
        let outcome =
            write_missing(dir.path(), &tenancy_schema::migrations::MIGRATIONS).expect("write");
        assert_eq!(outcome.changed.len(), 1, "{outcome:?}");
        assert_eq!(outcome.changed[0].name, first.name);
        assert_eq!(outcome.changed[0].existing, renamed);
        assert!(
            !dir.path().join(first.name).exists(),
            "tenancy's own directory name is not created next to the application's"
        );
    }
}
