//! The classified `diesel::table!` for the new table.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::{
    column::ColumnType,
    error::SpecError,
    spec::{TableSpec, Target},
};

/// The classified Diesel `table!` for the table, as `diesel print-schema` writes it plus the
/// `#[tenancy_schema::tenant_scoped(...)]` line declaring its indexes, unique keys and
/// foreign keys (`tenancy print-schema` writes the same line from the database).
///
/// # Errors
/// The first problem [`TableSpec::validate`] finds.
pub fn diesel_table(spec: &TableSpec) -> Result<String, SpecError> {
    let targets = spec.targets()?;
    let mut options = Vec::new();
    options.extend(
        spec.indexes
            .iter()
            .map(|k| format!("index({})", k.join(", "))),
    );
    options.extend(
        spec.uniques
            .iter()
            .map(|k| format!("unique({})", k.join(", "))),
    );
    for (reference, target) in spec.references.iter().zip(&targets) {
        if matches!(target, Target::Tenant) {
            options.push(format!(
                "foreign_key({} -> {})",
                reference.column, reference.table
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
    if spec.global {
        let _ = writeln!(out, "    {} (id) {{", spec.name);
        out.push_str("        id -> Uuid,\n");
    } else {
        let _ = writeln!(out, "    {} (tenant_id, id) {{", spec.name);
        out.push_str("        tenant_id -> Uuid,\n        id -> Uuid,\n");
    }
    for column in &spec.columns {
        let ty = column.ty.diesel();
        if column.nullable {
            let _ = writeln!(out, "        {} -> Nullable<{ty}>,", column.name);
        } else {
            let _ = writeln!(out, "        {} -> {ty},", column.name);
        }
    }
    out.push_str("        created_at -> Timestamptz,\n        updated_at -> Timestamptz,\n");
    out.push_str("    }\n}\n");
    Ok(out)
}
