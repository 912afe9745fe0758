//! Procedural macros for [`tenancy-schema`](https://docs.rs/tenancy-schema); use them through
//! that crate (`tenancy_schema::tenant_scoped`, `tenancy_schema::global_table`).
//!
//! Each macro is a thin wrapper over a `proc_macro2` function so tests can call it; the work
//! is split by phase: `args` → `ast` → `validate` → `expand` (one module each).

// The argument parser is a plain library, so that its fuzz target can use it too.
use tenancy_macros_parse as args;
mod ast;
mod expand;
mod validate;

use proc_macro::TokenStream;

/// Classifies a Diesel `table!` as tenant-scoped, or marks a model struct of one.
/// See `tenancy_schema::tenant_scoped` for the documentation.
#[proc_macro_attribute]
pub fn tenant_scoped(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::tenant_scoped(args.into(), item.into()).into()
}

/// Classifies a Diesel `table!` as global (no tenant data).
/// See `tenancy_schema::global_table` for the documentation.
#[proc_macro_attribute]
pub fn global_table(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::global_table(args.into(), item.into()).into()
}
