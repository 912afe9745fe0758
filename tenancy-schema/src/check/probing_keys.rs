//! TEN046: a foreign key that answers one tenant what it may not read. A foreign-key check
//! runs past row level security: a value written into the referencing columns is accepted
//! when the referenced row exists and refused when it does not, so whoever may write them
//! learns whether a row exists where it cannot look, and holds that row's deletion up. Keys
//! between the checked schema's tenant tables that carry the tenant are TEN040's, keys into
//! the tenants table TEN045's; this is every other key into a tenant table (from a global
//! table, or a table in another schema, whose rows no tenant policy bounds) and every key into
//! a table the application role may not read (a private one such as the foundation's users),
//! where the application role may write the referencing columns and the referenced key holds
//! values one can guess (an address, a name; not a uuid, nor the tenant column beside one).

use std::collections::BTreeMap;

use super::CheckOptions;
use super::catalog::{Catalog, ProbingKeyRow};
use super::report::Findings;

pub(super) fn check_probing_keys(
    f: &mut Findings,
    catalog: &Catalog,
    tenant_tables: &BTreeMap<String, String>,
    o: &CheckOptions,
) {
    let tenant_column_of = super::elsewhere::tenant_column_among(catalog, tenant_tables, o);
    for k in &catalog.probing_keys {
        let from_tenant_table = k
            .source_in_schema
            .as_ref()
            .is_some_and(|s| tenant_tables.contains_key(s));
        // A table elsewhere holding tenant rows (a partition or child of a tenant table kept in
        // another schema, or a table there with the tenant column): its keys into the tenants
        // table are TEN045's, as those of a tenant table of the checked schema are.
        if k.source_in_schema.is_none() && k.target == o.tenants_table {
            let column = k
                .source_root
                .as_ref()
                .and_then(|r| tenant_tables.get(r))
                .or_else(|| tenant_column_of(&k.source_columns));
            if let Some(column) = column {
                key_to_tenants_elsewhere(f, k, column, o);
            }
            continue;
        }
        // A random uuid is not guessed: asking whether one exists tells nothing of a row whose
        // key the caller does not already hold.
        if !k.guessable {
            continue;
        }
        let hidden = catalog
            .tables
            .get(&k.target)
            .is_some_and(|t| t.private || !t.app_reads_any);
        let what = if tenant_tables.contains_key(&k.target) && !from_tenant_table {
            format!(
                "`{}` has no tenant policies, so any tenant's SQL that writes ({}) learns whether a row of `{}` exists in another tenant",
                k.source,
                k.columns.join(", "),
                k.target
            )
        } else if hidden && k.target != o.tenants_table {
            format!(
                "`{}` may not read `{}`, yet writing ({}) of `{}` answers whether a value exists there",
                o.app_role,
                k.target,
                k.columns.join(", "),
                k.source
            )
        } else {
            continue;
        };
        f.add(
            "TEN046",
            format!("foreign key {} on {}", k.name, k.source),
            format!(
                "{what}, since foreign-key checks run past row level security, and holds that row's deletion up"
            ),
            format!(
                "REVOKE INSERT, UPDATE ({}) ON {} FROM {}, PUBLIC (and from the roles its sessions act as), or drop the key",
                k.columns.join(", "),
                k.source,
                o.app_role
            ),
        );
    }
}

/// TEN045 for a table outside the checked schema that holds tenant rows: a foreign key into the
/// tenants table other than the tenant key answers any tenant that may write its columns
/// (through a parent too) whether a value names another tenant.
fn key_to_tenants_elsewhere(f: &mut Findings, k: &ProbingKeyRow, column: &str, o: &CheckOptions) {
    if k.columns == [column] && k.target_columns == ["id"] {
        return;
    }
    f.add(
        "TEN045",
        format!("foreign key {} on {}", k.name, k.source),
        format!(
            "({}) -> {} ({}) is not the tenant key of `{}`, which holds tenant rows: foreign-key checks bypass row level security, so one tenant learns whether a value names another tenant and holds its deletion up",
            k.columns.join(", "),
            o.tenants_table,
            k.target_columns.join(", "),
            k.source
        ),
        format!(
            "ALTER TABLE {} DROP CONSTRAINT {}; keep `{column}` -> {} (id) as the only key into it",
            k.source, k.name, o.tenants_table
        ),
    );
}
