//! TEN096: a column of a tenant table named for the key of another tenant table
//! (`gadget_id` beside a table `gadgets`) that no foreign key covers. Without the composite
//! key `(tenant_id, gadget_id) REFERENCES gadgets (tenant_id, id)`, nothing stops a row from
//! naming another tenant's gadget: row level security checks the row's own tenant column,
//! never what the row points at, and every join on the column, by the system connection or
//! the control plane, crosses tenants. TEN041 says the same where a model declares the key;
//! this reads the database alone, so a key dropped from a table no model of this binary
//! describes is seen too.

use std::collections::BTreeMap;

use super::CheckOptions;
use super::catalog::Catalog;
use super::report::Findings;

/// The tenant table a column named `column` (`<name>_id`) refers to by its name, if one of
/// `tables` is named `<name>`, `<name>s` or `<name>es`.
fn referred_table<'a>(column: &str, tables: &'a BTreeMap<String, String>) -> Option<&'a String> {
    let stem = column.strip_suffix("_id")?;
    if stem.is_empty() {
        return None;
    }
    [stem.to_owned(), format!("{stem}s"), format!("{stem}es")]
        .into_iter()
        .find_map(|name| tables.get_key_value(&name).map(|(k, _)| k))
}

/// `tenant_tables`: every tenant table, with its tenant column.
pub(super) fn check_unlinked_references(
    f: &mut Findings,
    catalog: &Catalog,
    tenant_tables: &BTreeMap<String, String>,
    o: &CheckOptions,
) {
    for (table, col) in tenant_tables {
        // The audit log names rows that may since have been deleted, on purpose: a key there
        // would block the delete, or cascade into the log. It is append-only (TEN080).
        if table == "audit_log" {
            continue;
        }
        let Some(columns) = catalog.columns.get(table) else {
            continue;
        };
        let keys = catalog.keys.get(table).map_or(&[][..], Vec::as_slice);
        for c in columns {
            if c.column_name == *col || c.base_type_name != "uuid" {
                continue;
            }
            let Some(target) = referred_table(&c.column_name, tenant_tables) else {
                continue;
            };
            if target == table
                || *target == o.tenants_table
                || keys
                    .iter()
                    .any(|k| k.kind == "f" && k.columns.contains(&c.column_name))
            {
                continue;
            }
            let target_col = &tenant_tables[target];
            f.add(
                "TEN096",
                format!("column {} on {table}", c.column_name),
                format!(
                    "`{table}.{}` is named for a key of the tenant table `{target}` but no foreign key covers it: a row may name another tenant's `{target}` row, which row level security never checks, and a join on it crosses tenants",
                    c.column_name
                ),
                format!(
                    "ALTER TABLE {table} ADD FOREIGN KEY ({col}, {}) REFERENCES {target} ({target_col}, id) (a unique key on ({target_col}, id) first, if it has none)",
                    c.column_name
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::referred_table;

    #[test]
    fn a_column_is_matched_to_the_table_it_is_named_for() {
        let tables: BTreeMap<String, String> = ["gadgets", "boxes", "staff"]
            .map(|t| (t.to_owned(), "tenant_id".to_owned()))
            .into_iter()
            .collect();
        assert_eq!(
            referred_table("gadget_id", &tables).map(String::as_str),
            Some("gadgets")
        );
        assert_eq!(
            referred_table("box_id", &tables).map(String::as_str),
            Some("boxes")
        );
        assert_eq!(
            referred_table("staff_id", &tables).map(String::as_str),
            Some("staff")
        );
        assert_eq!(referred_table("user_id", &tables), None);
        assert_eq!(referred_table("_id", &tables), None);
        assert_eq!(referred_table("gadget", &tables), None);
    }
}
