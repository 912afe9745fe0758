//! TEN006: tenant rows where the other rules do not look. They read the tables of the schema
//! that holds the application's tables; a copy of a tenant table in another schema (a backup,
//! an export, an archive), or a foreign table anywhere (which may read the same database as
//! another user), that the application role may read, with no policy on it, hands every
//! tenant's rows to any tenant's raw SQL.

use std::collections::{BTreeMap, BTreeSet};

use super::CheckOptions;
use super::catalog::Catalog;
use super::report::Findings;

pub(super) fn check_tenant_rows_elsewhere(
    f: &mut Findings,
    catalog: &Catalog,
    tenant_tables: &BTreeMap<String, String>,
    o: &CheckOptions,
) {
    let tenant_columns: BTreeSet<&str> = tenant_tables
        .values()
        .map(String::as_str)
        .chain([o.tenant_column.as_str()])
        .collect();
    for t in &catalog.elsewhere {
        let Some(column) = t
            .columns
            .iter()
            .find(|c| tenant_columns.contains(c.as_str()))
        else {
            continue;
        };
        let relation = t.name.split_once(' ').map_or(t.name.as_str(), |(_, r)| r);
        f.add(
            "TEN006",
            &t.name,
            format!(
                "it has the tenant column `{column}`, no row level security, and `{}` may read it: every tenant's raw SQL reads every tenant's rows there",
                o.app_role
            ),
            format!(
                "REVOKE SELECT ON {relation} FROM {}, PUBLIC (or give it the tenant policies: ENABLE and FORCE ROW LEVEL SECURITY with tenancy's policies)",
                o.app_role
            ),
        );
    }
}
