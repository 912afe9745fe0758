//! The attribute that classifies a table: `tenant_scoped` (with its arguments) or
//! `global_table`, under any path (`tenancy_schema::tenant_scoped`, a `use`d name).

use proc_macro2::{TokenStream, TokenTree};

use super::items::Attr;

/// How a table is classified.
pub(super) enum Class {
    /// `#[tenant_scoped(…)]`, with the arguments.
    Tenant(TokenStream),
    /// `#[global_table]`.
    Global,
}

/// The classification the first classifying attribute of `attrs` gives; `None` when none
/// classifies.
///
/// # Errors
/// A message when `tenant_scoped` is followed by something other than its arguments.
pub(super) fn class_of(attrs: &[Attr]) -> Result<Option<Class>, String> {
    let Some(attr) = attrs
        .iter()
        .find(|a| a.name == "tenant_scoped" || a.name == "global_table")
    else {
        return Ok(None);
    };
    if attr.name == "global_table" {
        return Ok(Some(Class::Global));
    }
    match attr.rest.as_slice() {
        [] => Ok(Some(Class::Tenant(TokenStream::new()))),
        [TokenTree::Group(arguments)] => Ok(Some(Class::Tenant(arguments.stream()))),
        _ => Err(
            "#[tenant_scoped …] takes its arguments in parentheses: #[tenant_scoped(unique(name), …)]"
                .to_owned(),
        ),
    }
}
