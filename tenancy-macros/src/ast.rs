//! The items the attributes accept: a Diesel `table!` invocation or a model struct.

use proc_macro2::TokenStream;
use syn::{ItemMacro, ItemStruct, LitStr};

pub use tenancy_macros_parse::table::{Column, TableDecl, unraw};

/// What an attribute was put on.
pub enum Item {
    Table(Box<TableItem>),
    Struct(Box<ItemStruct>),
}

/// `#[attrs] path! { uses; #[attrs] [schema.]name (pk) { columns } }`.
pub struct TableItem {
    pub outer: ItemMacro,
    pub decl: TableDecl,
}

/// Parses what the attribute was put on.
pub fn parse_item(tokens: TokenStream) -> syn::Result<Item> {
    let item: syn::Item = syn::parse2(tokens)?;
    match item {
        syn::Item::Macro(outer)
            if outer
                .mac
                .path
                .segments
                .last()
                .is_some_and(|s| s.ident == "table") =>
        {
            let decl = outer.mac.parse_body::<TableDecl>()?;
            Ok(Item::Table(Box::new(TableItem { outer, decl })))
        }
        syn::Item::Struct(s) => Ok(Item::Struct(Box::new(s))),
        other => Err(syn::Error::new_spanned(
            other,
            "expected a `diesel::table!` declaration or a model struct (`#[derive(Queryable)]`, `#[derive(Insertable)]`, ...)",
        )),
    }
}

/// A string literal for the table's SQL name, spanned at the table name.
pub fn lit(value: &str, span: proc_macro2::Span) -> LitStr {
    LitStr::new(value, span)
}
