//! The classified `diesel::table!` for the new table.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::{
    column::ColumnType,
    error::SpecError,
    names::GENERATED_COLUMNS,
    rust_names::{column_rust_name, table_identifier, table_rust_name},
    spec::{TableSpec, Target},
};

/// The classified Diesel `table!` for the table, as `diesel print-schema` writes it plus the
/// `#[tenancy_schema::tenant_scoped(...)]` line declaring its indexes, unique keys and
/// foreign keys (`tenancy print-schema` writes the same line from the database). A name that is
/// not a Rust identifier gets the Rust name `diesel print-schema` gives it (`type_` with
/// `#[sql_name = "type"]`), which the attribute's keys use too.
///
/// # Errors
/// The first problem [`TableSpec::validate`] finds.
pub fn diesel_table(spec: &TableSpec) -> Result<String, SpecError> {
    let targets = spec.targets()?;
    let table = table_rust_name(&spec.name);
    let rust = |column: &str| column_rust_name(column, &table);
    let key = |columns: &[String]| {
        columns
            .iter()
            .map(|c| rust(c))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut options = Vec::new();
    options.extend(spec.indexes.iter().map(|k| format!("index({})", key(k))));
    options.extend(spec.uniques.iter().map(|k| format!("unique({})", key(k))));
    for (reference, target) in spec.references.iter().zip(&targets) {
        if matches!(target, Target::Tenant) {
            // `validate` refused the names that cannot be identifiers.
            let referenced = table_identifier(&reference.table).unwrap_or_default();
            options.push(format!(
                "foreign_key({} -> {referenced})",
                rust(&reference.column)
            ));
        }
    }
    let mut out = if spec.global {
        String::from("#[tenancy_schema::global_table]\ndiesel::table! {\n")
    } else {
        let mut out = String::from("#[tenancy_schema::tenant_scoped");
        if !options.is_empty() {
            let _ = write!(out, "({})", options.join(", "));
        }
        out.push_str("]\ndiesel::table! {\n");
        out
    };
    let enums: BTreeSet<String> = spec
        .columns
        .iter()
        .filter(|c| matches!(c.ty, ColumnType::Enum(_)))
        .map(|c| c.ty.diesel())
        .collect();
    if !enums.is_empty() {
        out.push_str("    use diesel::sql_types::*;\n");
        for name in &enums {
            let _ = writeln!(out, "    use super::sql_types::{name};");
        }
        out.push('\n');
    }
    if table != spec.name {
        let _ = writeln!(out, "    #[sql_name = \"{}\"]", spec.name);
    }
    let generated = |name: &str| (name.to_owned(), "Uuid".to_owned());
    let mut columns: Vec<(String, String)> = Vec::new();
    if spec.global {
        let _ = writeln!(out, "    {table} ({}) {{", rust("id"));
    } else {
        let _ = writeln!(
            out,
            "    {table} ({}, {}) {{",
            rust("tenant_id"),
            rust("id")
        );
        columns.push(generated(GENERATED_COLUMNS[0]));
    }
    columns.push(generated(GENERATED_COLUMNS[1]));
    for column in &spec.columns {
        let ty = column.ty.diesel();
        let ty = if column.nullable {
            format!("Nullable<{ty}>")
        } else {
            ty
        };
        columns.push((column.name.clone(), ty));
    }
    for name in &GENERATED_COLUMNS[2..] {
        columns.push(((*name).to_owned(), "Timestamptz".to_owned()));
    }
    for (name, ty) in &columns {
        let rust_name = rust(name);
        if rust_name != *name {
            let _ = writeln!(out, "        #[sql_name = \"{name}\"]");
        }
        let _ = writeln!(out, "        {rust_name} -> {ty},");
    }
    out.push_str("    }\n}\n");
    Ok(out)
}
