//! The registry entry the attribute generates for a classified `table!`, built from its tokens
//! the way the attribute builds it (`manifest_data`, which the macro uses too).

use proc_macro2::TokenStream;
use tenancy_macros_parse::manifest::manifest_data;
use tenancy_macros_parse::table::{Column, TableDecl, unraw};
use tenancy_macros_parse::{ScopedArgs, parse_scoped};
use tenancy_schema::{ForeignKey, TableKind, TableManifest};

use super::class::Class;

/// The registry entry of the `table!` with the contents `body`, classified as `class`.
///
/// # Errors
/// The syn error of a body or arguments that do not parse.
pub(super) fn classify(class: Class, body: TokenStream) -> syn::Result<TableManifest> {
    let decl: TableDecl = syn::parse2(body)?;
    Ok(match class {
        Class::Global => manifest(&decl, None, &ScopedArgs::default()),
        Class::Tenant(tokens) => {
            let args = parse_scoped(tokens)?;
            let tenant = args
                .tenant_column
                .as_ref()
                .map_or_else(|| "tenant_id".to_owned(), unraw);
            manifest(&decl, Some(&tenant), &args)
        }
    })
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn leak_list(items: Vec<String>) -> &'static [&'static str] {
    Box::leak(
        items
            .into_iter()
            .map(leak)
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    )
}

/// The registry entry the attribute generates for `decl` (`manifest_data`, which the macro
/// uses too), with the primary key as the attribute resolves it: led by the tenant column,
/// which is added when the declaration leaves it out.
fn manifest(decl: &TableDecl, tenant: Option<&str>, args: &ScopedArgs) -> TableManifest {
    let mut primary_key: Vec<String> = decl
        .primary_key_idents()
        .iter()
        .map(|k| decl.column(k).map_or_else(|| unraw(k), Column::sql_name))
        .collect();
    if let Some(t) = tenant.filter(|t| primary_key.first().map(String::as_str) != Some(*t)) {
        primary_key.insert(0, t.to_owned());
    }
    let data = manifest_data(decl, tenant, &primary_key, args);
    let leak_lists = |lists: Vec<Vec<String>>| -> &'static [&'static [&'static str]] {
        Box::leak(
            lists
                .into_iter()
                .map(leak_list)
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        )
    };
    let foreign_keys: Vec<ForeignKey> = data
        .foreign_keys
        .into_iter()
        .map(|(columns, target)| ForeignKey {
            columns: leak_list(columns),
            references: leak(target),
        })
        .collect();
    TableManifest {
        table: leak(data.table),
        kind: if tenant.is_some() {
            TableKind::TenantScoped
        } else {
            TableKind::Global
        },
        tenant_column: data.tenant_column.map(leak),
        primary_key: leak_list(data.primary_key),
        indexes: leak_lists(data.indexes),
        uniques: leak_lists(data.uniques),
        foreign_keys: Box::leak(foreign_keys.into_boxed_slice()),
        columns: leak_list(data.columns),
        column_types: leak_list(data.column_types),
    }
}
