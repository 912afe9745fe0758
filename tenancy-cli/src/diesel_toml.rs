//! An application's `diesel.toml`, read once for what tenancy needs from it: the migrations
//! directory (`tenancy init`) and the `schema.rs` file (`tenancy check`, `tenancy print-schema`).

use std::path::{Path, PathBuf};

/// A `diesel.toml` that exists but cannot be read or parsed, or has a setting of the wrong
/// type.
#[derive(Debug)]
pub(crate) struct InvalidConfig {
    pub(crate) path: PathBuf,
    pub(crate) message: String,
}

/// A parsed `diesel.toml`, with its path for error messages.
#[derive(Debug)]
pub(crate) struct DieselToml {
    pub(crate) path: PathBuf,
    table: toml::Table,
}

/// The parsed `diesel.toml` in `project`; `None` when there is none.
pub(crate) fn read(project: &Path) -> Result<Option<DieselToml>, InvalidConfig> {
    let path = project.join("diesel.toml");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(InvalidConfig {
                path,
                message: e.to_string(),
            });
        }
    };
    match text.parse() {
        Ok(table) => Ok(Some(DieselToml { path, table })),
        Err(e) => {
            let e: toml::de::Error = e;
            Err(InvalidConfig {
                path,
                message: e.to_string(),
            })
        }
    }
}

impl DieselToml {
    /// `[section] key = "…"`; `None` when the section or the key is absent. A value of another
    /// type is an error rather than absent: falling back to a default would make tenancy act on
    /// a directory or file the application did not name.
    pub(crate) fn string(&self, section: &str, key: &str) -> Result<Option<&str>, InvalidConfig> {
        let invalid = |message: String| InvalidConfig {
            path: self.path.clone(),
            message,
        };
        let Some(value) = self.table.get(section) else {
            return Ok(None);
        };
        let Some(table) = value.as_table() else {
            return Err(invalid(format!(
                "`{section}` must be a table ([{section}]), not a {}",
                value.type_str()
            )));
        };
        match table.get(key) {
            None => Ok(None),
            Some(toml::Value::String(text)) => Ok(Some(text)),
            Some(other) => Err(invalid(format!(
                "`{key}` in [{section}] must be a string (a path), not {} `{other}`",
                other.type_str()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> (tempfile::TempDir, Result<Option<DieselToml>, InvalidConfig>) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("diesel.toml"), text).expect("write");
        let read = read(dir.path());
        (dir, read)
    }

    #[test]
    fn no_file_is_no_config() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(matches!(read(dir.path()), Ok(None)));
    }

    #[test]
    fn a_syntax_error_names_the_file() {
        let (dir, read) =
            parsed("[print_schema]\nfile = \"src/schema.rs\"\n[migrations_directory\n");
        let error = read.expect_err("unclosed table header");
        assert_eq!(error.path, dir.path().join("diesel.toml"));
        assert!(!error.message.is_empty());
    }

    #[test]
    fn a_setting_of_another_type_is_an_error_not_absent() {
        let (_dir, read) = parsed("[migrations_directory]\ndir = 5\n");
        let config = read.expect("valid TOML").expect("a file");
        let error = config
            .string("migrations_directory", "dir")
            .expect_err("an integer");
        assert!(
            error.message.contains("must be a string"),
            "{}",
            error.message
        );
        assert!(error.message.contains("integer `5`"), "{}", error.message);

        let (_dir, read) = parsed("print_schema = \"src/schema.rs\"\n");
        let error = read
            .expect("valid TOML")
            .expect("a file")
            .string("print_schema", "file")
            .expect_err("not a table");
        assert!(
            error.message.contains("must be a table"),
            "{}",
            error.message
        );
    }

    #[test]
    fn absent_settings_are_none() {
        let (_dir, read) = parsed("[print_schema]\nwith_docs = true\n");
        let config = read.expect("valid TOML").expect("a file");
        assert!(matches!(config.string("print_schema", "file"), Ok(None)));
        assert!(matches!(
            config.string("migrations_directory", "dir"),
            Ok(None)
        ));
    }
}
