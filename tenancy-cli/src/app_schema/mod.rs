//! The tables an application classifies, read from its `schema.rs` (the file `diesel.toml`'s
//! `[print_schema] file` names), so that `tenancy check` run in the application's directory
//! knows them without the application writing any code: every `diesel::table!` carrying
//! `#[tenant_scoped(..)]` or `#[global_table]` becomes the same registry entry the attribute
//! generates when the application compiles.
//!
//! The file is bad input like any other: it is only tokenized and walked (iteratively), and
//! only the classified `table!`s are parsed, after `nesting` bounds how deep that recurses,
//! on a thread with a stack sized for that bound. A file nested too deep is an error, never a
//! stack overflow.

mod class;
mod config;
mod error;
mod items;
mod manifest;
mod nesting;
mod read;
#[cfg(test)]
mod tests;

pub use config::{configured_schema_rs, schema_rs_of};
pub use error::AppSchemaError;
pub use read::classified_tables;
