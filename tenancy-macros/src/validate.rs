//! Checks on the parsed input; every problem is reported, each spanned at its own tokens.

use syn::Ident;

use crate::args::{ScopedArgs, push};
use crate::ast::TableDecl;

/// The resolved plan for one tenant-scoped table.
pub struct ScopedTable {
    pub tenant_column: Ident,
    /// Whether the attribute must add the tenant column to the declaration.
    pub add_tenant_column: bool,
    /// The primary key after classification, led by the tenant column.
    pub primary_key: Vec<Ident>,
}

fn columns_list(decl: &TableDecl) -> String {
    decl.columns
        .iter()
        .map(|c| format!("`{}`", c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The longest name PostgreSQL keeps (`NAMEDATALEN - 1` bytes): it cuts a longer one to that
/// length, in a `CREATE TABLE` and in every statement that names it, so the table tenancy
/// registered under the whole name would never be recognised in SQL text.
const LONGEST_NAME: usize = 63;

/// The table's and columns' SQL names longer than PostgreSQL keeps, each spanned at its
/// `#[sql_name]` attribute or its name.
fn names_too_long(decl: &TableDecl, errors: &mut Option<syn::Error>) {
    let too_long = |what: &str, name: &str| {
        format!(
            "the {what} `{name}` is {} bytes long; PostgreSQL keeps only the first {LONGEST_NAME}, so tenancy could not recognise it in SQL: choose a name of at most {LONGEST_NAME} bytes",
            name.len()
        )
    };
    let at = |attrs: &[syn::Attribute], name: &Ident| -> proc_macro2::TokenStream {
        attrs
            .iter()
            .find(|a| a.path().is_ident("sql_name"))
            .map_or_else(|| quote::quote!(#name), |a| quote::quote!(#a))
    };
    let table = decl.sql_name();
    if table.len() > LONGEST_NAME {
        push(
            errors,
            syn::Error::new_spanned(at(&decl.attrs, &decl.name), too_long("table name", &table)),
        );
    }
    for column in &decl.columns {
        let name = column.sql_name();
        if name.len() > LONGEST_NAME {
            push(
                errors,
                syn::Error::new_spanned(
                    at(&column.attrs, &column.name),
                    too_long("column name", &name),
                ),
            );
        }
    }
}

#[allow(clippy::too_many_lines)] // reason: one flat list of independent checks reads best in order
pub fn scoped_table(decl: &TableDecl, args: &ScopedArgs) -> syn::Result<ScopedTable> {
    let mut errors = None;
    names_too_long(decl, &mut errors);
    let tenant_column = args
        .tenant_column
        .clone()
        .unwrap_or_else(|| Ident::new("tenant_id", decl.name.span()));
    if let Some(schema) = &decl.schema {
        push(
            &mut errors,
            syn::Error::new_spanned(
                schema,
                "tenant-scoped tables must be on the search path, not schema-qualified: the tenant filter shadows the table by its unqualified name; drop the `schema.` prefix",
            ),
        );
    }
    let existing = decl.column(&tenant_column);
    if let Some(column) = existing {
        let ty = &column.ty;
        let ty_text = quote::quote!(#ty).to_string().replace(' ', "");
        if !(ty_text == "Uuid" || ty_text.ends_with("::Uuid")) {
            push(
                &mut errors,
                syn::Error::new_spanned(
                    ty,
                    format!(
                        "the tenant column `{tenant_column}` must be `Uuid` (NOT NULL uuid in the database), found `{ty_text}`"
                    ),
                ),
            );
        }
    } else if args.tenant_column.is_some() {
        push(
            &mut errors,
            syn::Error::new_spanned(
                &tenant_column,
                format!(
                    "`tenant_column = {tenant_column}` names no column of `{}`; columns are: {}",
                    decl.name,
                    columns_list(decl)
                ),
            ),
        );
    }

    let declared_pk = decl.primary_key_idents();
    let primary_key = if existing.is_some() {
        if declared_pk.first() != Some(&tenant_column) {
            let span_source = decl
                .primary_key
                .as_ref()
                .and_then(|k| k.first())
                .unwrap_or(&decl.name);
            push(
                &mut errors,
                syn::Error::new_spanned(
                    span_source,
                    format!(
                        "the primary key of a tenant-scoped table must lead with `{tenant_column}`: declare `{} ({tenant_column}, {})` and make the database key composite",
                        decl.name,
                        declared_pk
                            .iter()
                            .filter(|k| **k != tenant_column)
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
            );
        }
        declared_pk
    } else {
        std::iter::once(tenant_column.clone())
            .chain(declared_pk)
            .collect()
    };

    for key in decl.primary_key.iter().flatten() {
        if *key != tenant_column && decl.column(key).is_none() {
            push(
                &mut errors,
                syn::Error::new_spanned(
                    key,
                    format!(
                        "primary key column `{key}` is not a column of `{}`; columns are: {}",
                        decl.name,
                        columns_list(decl)
                    ),
                ),
            );
        }
    }

    let mut seen: Vec<(String, Vec<String>)> = Vec::new();
    for key in args.indexes.iter().chain(&args.uniques) {
        for column in &key.columns {
            if *column == tenant_column {
                push(
                    &mut errors,
                    syn::Error::new_spanned(
                        column,
                        format!(
                            "`{tenant_column}` is added in front of every {} automatically; list only the columns after it",
                            key.keyword
                        ),
                    ),
                );
            } else if decl.column(column).is_none() {
                push(
                    &mut errors,
                    syn::Error::new_spanned(
                        column,
                        format!(
                            "`{}({column})`: `{column}` is not a column of `{}`; columns are: {}",
                            key.keyword,
                            decl.name,
                            columns_list(decl)
                        ),
                    ),
                );
            }
        }
        let signature = (
            key.keyword.to_string(),
            key.columns.iter().map(ToString::to_string).collect(),
        );
        if seen.contains(&signature) {
            push(
                &mut errors,
                syn::Error::new_spanned(
                    &key.keyword,
                    format!(
                        "duplicate `{}({})`: each index and unique key may be declared once",
                        signature.0,
                        signature.1.join(", ")
                    ),
                ),
            );
        } else {
            seen.push(signature);
        }
    }

    for fk in &args.foreign_keys {
        if decl.column(&fk.column).is_none() {
            push(
                &mut errors,
                syn::Error::new_spanned(
                    &fk.column,
                    format!(
                        "`foreign_key({} -> ..)`: `{}` is not a column of `{}`; columns are: {}",
                        fk.column,
                        fk.column,
                        decl.name,
                        columns_list(decl)
                    ),
                ),
            );
        }
    }

    match errors {
        Some(e) => Err(e),
        None => Ok(ScopedTable {
            add_tenant_column: existing.is_none(),
            tenant_column,
            primary_key,
        }),
    }
}

pub fn global_table(decl: &TableDecl) -> syn::Result<()> {
    let mut errors = None;
    names_too_long(decl, &mut errors);
    if let Some(errors) = errors {
        return Err(errors);
    }
    // The SQL name decides: a column renamed with `#[sql_name = "tenant_id"]` is the tenant
    // column all the same, and the table would be read without a tenant filter.
    if let Some(column) = decl.columns.iter().find(|c| c.sql_name() == "tenant_id") {
        let renamed = if column.name == "tenant_id" {
            String::new()
        } else {
            format!(" (`{}` is `tenant_id` in SQL)", column.name)
        };
        return Err(syn::Error::new_spanned(
            &column.name,
            format!(
                "`{}` has a `tenant_id` column{renamed}, so it holds tenant data: classify it with `#[tenant_scoped]` instead of `#[global_table]`",
                decl.name
            ),
        ));
    }
    Ok(())
}
