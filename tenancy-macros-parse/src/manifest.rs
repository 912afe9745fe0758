//! The registry entry a classified `table!` gets, as plain data: `#[tenant_scoped]` and
//! `#[global_table]` write it as tokens, and `tenancy check` builds it from an application's
//! `schema.rs`, so the two cannot disagree about what a declaration means.

use syn::Ident;

use crate::ScopedArgs;
use crate::table::{Column, TableDecl, type_name, unraw};

/// What `tenancy_schema::TableManifest` records for one table, with owned strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestData {
    /// The table's SQL name.
    pub table: String,
    /// The tenant column (`None` for a global table).
    pub tenant_column: Option<String>,
    /// The primary key's columns.
    pub primary_key: Vec<String>,
    /// The declared indexes, each led by the tenant column.
    pub indexes: Vec<Vec<String>>,
    /// The declared unique keys, each led by the tenant column.
    pub uniques: Vec<Vec<String>>,
    /// The declared foreign keys: referencing columns (led by the tenant column) and table.
    pub foreign_keys: Vec<(Vec<String>, String)>,
    /// Every column, the tenant column first when the declaration leaves it out.
    pub columns: Vec<String>,
    /// The Diesel type of each column ([`type_name`]).
    pub column_types: Vec<String>,
}

/// The entry for `decl` with the tenant column `tenant` (`None`: global), the resolved
/// `primary_key` and the attribute's `args`.
#[must_use]
pub fn manifest_data(
    decl: &TableDecl,
    tenant: Option<&str>,
    primary_key: &[String],
    args: &ScopedArgs,
) -> ManifestData {
    let sql_of = |ident: &Ident| {
        decl.column(ident)
            .map_or_else(|| unraw(ident), Column::sql_name)
    };
    let led = |columns: &[Ident]| -> Vec<String> {
        tenant
            .map(str::to_owned)
            .into_iter()
            .chain(columns.iter().map(sql_of))
            .collect()
    };
    let mut columns: Vec<String> = decl.columns.iter().map(Column::sql_name).collect();
    let mut column_types: Vec<String> = decl.columns.iter().map(|c| type_name(&c.ty)).collect();
    if let Some(t) = tenant.filter(|t| !columns.iter().any(|c| c == t)) {
        columns.insert(0, t.to_owned());
        column_types.insert(0, "Uuid".to_owned());
    }
    ManifestData {
        table: decl.sql_name(),
        tenant_column: tenant.map(str::to_owned),
        primary_key: primary_key.to_vec(),
        indexes: args.indexes.iter().map(|k| led(&k.columns)).collect(),
        uniques: args.uniques.iter().map(|k| led(&k.columns)).collect(),
        foreign_keys: args
            .foreign_keys
            .iter()
            .map(|fk| (led(std::slice::from_ref(&fk.column)), unraw(&fk.target)))
            .collect(),
        columns,
        column_types,
    }
}
