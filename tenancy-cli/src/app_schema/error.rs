//! Why the application's `schema.rs` could not be read.

use std::path::PathBuf;

/// Why the application's `schema.rs` (or the `diesel.toml` naming it) could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppSchemaError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not Rust, or a classified `table!` in it does not parse.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What did not parse.
        message: String,
    },
    /// A classified `table!` (or its attribute) nests deeper than tenancy parses.
    #[error(
        "{path}: the classified table! {table} nests brackets, generics or operators more than {limit} levels deep"
    )]
    TooDeep {
        /// The file.
        path: PathBuf,
        /// The table's name as written, or `?` when it has none.
        table: String,
        /// The limit.
        limit: usize,
    },
    /// `diesel.toml` exists but cannot be read, is not TOML, or its `[print_schema] file` is
    /// not a string.
    #[error("invalid {path}: {message}")]
    Config {
        /// `diesel.toml`.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// `diesel.toml` names a `schema.rs` that is not there.
    #[error("{config} names {path} in [print_schema] file, but it does not exist or is not a file")]
    MissingSchemaRs {
        /// `diesel.toml`.
        config: PathBuf,
        /// The file it names.
        path: PathBuf,
    },
}
