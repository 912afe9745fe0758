//! An application's `diesel.toml`, read once for what tenancy needs from it: the migrations
//! directory (`tenancy init`) and the `schema.rs` file (`tenancy check`, `tenancy print-schema`).

use std::path::{Path, PathBuf};

/// A `diesel.toml` that exists but cannot be read or parsed.
#[derive(Debug)]
pub(crate) struct InvalidConfig {
    pub(crate) path: PathBuf,
    pub(crate) message: String,
}

/// The parsed `diesel.toml` in `project`; `None` when there is none.
pub(crate) fn read(project: &Path) -> Result<Option<toml::Table>, InvalidConfig> {
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
    text.parse()
        .map(Some)
        .map_err(|e: toml::de::Error| InvalidConfig {
            path,
            message: e.to_string(),
        })
}

/// `[section] key = "…"` of `config`.
pub(crate) fn string_at<'c>(config: &'c toml::Table, section: &str, key: &str) -> Option<&'c str> {
    config.get(section)?.get(key)?.as_str()
}
