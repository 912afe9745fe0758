//! Reading the classified tables of a `schema.rs`.

use std::path::Path;

use proc_macro2::TokenStream;
use tenancy_schema::TableManifest;

use super::class::{Class, class_of};
use super::error::AppSchemaError;
use super::{items, manifest, nesting};

/// The stack of the thread that parses: syn's recursion within [`nesting::LIMIT`] needs a few
/// MiB in a debug build, more than a test thread's 2 MiB, and the margin costs only address
/// space.
pub(crate) const PARSER_STACK: usize = 64 << 20;

/// The tables `path` classifies, as registry entries. The entries live as long as the
/// process (the registry's entries are `'static`, and `tenancy check` runs once).
///
/// # Errors
/// [`AppSchemaError::Read`] when the file cannot be read, [`AppSchemaError::Parse`] when it is
/// not Rust tokens or a classified table does not parse, and [`AppSchemaError::TooDeep`] when
/// a classified table nests deeper than tenancy parses.
pub fn classified_tables(path: &Path) -> Result<Vec<&'static TableManifest>, AppSchemaError> {
    let read_error = |source| AppSchemaError::Read {
        path: path.to_owned(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(read_error)?;
    let owned = path.to_owned();
    let parser = std::thread::Builder::new()
        .name("schema.rs parser".to_owned())
        .stack_size(PARSER_STACK)
        .spawn(move || tables_in(&owned, &text))
        .map_err(read_error)?;
    parser
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn tables_in(path: &Path, text: &str) -> Result<Vec<&'static TableManifest>, AppSchemaError> {
    let parse_error = |message: String| AppSchemaError::Parse {
        path: path.to_owned(),
        message,
    };
    let file: TokenStream = text.parse().map_err(|e: proc_macro2::LexError| {
        parse_error(format!(
            "not Rust ({e}): look for an unclosed bracket, string or comment"
        ))
    })?;
    let mut found = Vec::new();
    for table in items::table_macros(file) {
        let Some(class) = class_of(&table.attrs).map_err(parse_error)? else {
            continue;
        };
        let arguments_within = match &class {
            Class::Tenant(arguments) => nesting::within_limit(arguments),
            Class::Global => true,
        };
        if !arguments_within || !nesting::within_limit(&table.body) {
            return Err(AppSchemaError::TooDeep {
                path: path.to_owned(),
                table: table.name(),
                limit: nesting::LIMIT,
            });
        }
        let entry =
            manifest::classify(class, table.body).map_err(|e| parse_error(e.to_string()))?;
        found.push(&*Box::leak(Box::new(entry)));
    }
    Ok(found)
}
