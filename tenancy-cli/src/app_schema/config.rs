//! Which `schema.rs` the application's `diesel.toml` names.

use std::path::{Path, PathBuf};

use super::error::AppSchemaError;

/// The `schema.rs` that `diesel.toml` in `project` names, when it names one (no `diesel.toml`,
/// or none in `[print_schema] file`, is `None`).
///
/// # Errors
/// [`AppSchemaError::Config`] when `diesel.toml` cannot be read or parsed or the setting is
/// not a string, and [`AppSchemaError::MissingSchemaRs`] when the file it names is not there:
/// `tenancy check` would otherwise pass without the application's tables it was asked to
/// check.
pub fn schema_rs_of(project: &Path) -> Result<Option<PathBuf>, AppSchemaError> {
    let Some((config, path)) = configured(project)? else {
        return Ok(None);
    };
    if path.is_file() {
        Ok(Some(path))
    } else {
        Err(AppSchemaError::MissingSchemaRs { config, path })
    }
}

/// The file `diesel.toml` in `project` names in `[print_schema] file`, whether or not it
/// exists yet.
///
/// # Errors
/// [`AppSchemaError::Config`] when `diesel.toml` cannot be read or parsed or the setting is
/// not a string.
pub fn configured_schema_rs(project: &Path) -> Result<Option<PathBuf>, AppSchemaError> {
    Ok(configured(project)?.map(|(_, path)| path))
}

/// `diesel.toml`'s path and the file it names.
fn configured(project: &Path) -> Result<Option<(PathBuf, PathBuf)>, AppSchemaError> {
    let invalid = |e: crate::diesel_toml::InvalidConfig| AppSchemaError::Config {
        path: e.path,
        message: e.message,
    };
    let Some(config) = crate::diesel_toml::read(project).map_err(invalid)? else {
        return Ok(None);
    };
    let file = config.string("print_schema", "file").map_err(invalid)?;
    Ok(file.map(|file| (config.path.clone(), project.join(file))))
}
