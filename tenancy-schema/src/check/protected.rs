//! The tables that hold no tenant column and are still not every tenant's to read: the table
//! of tenants, each row of which is one tenant (its name, slug, status and plan), and the
//! tables marked `tenancy: private`, which the application reaches only through reviewed
//! functions (the foundation's users, every tenant's members' addresses).

use super::CheckOptions;
use super::catalog::Catalog;
use super::report::Findings;
use super::tables::check_policies;

/// TEN010–TEN013 and TEN020–TEN023 on the tenants table, with its key as the tenant column,
/// when the application role may read it: then each tenant must see its own row only.
pub(super) fn check_tenants_table(f: &mut Findings, catalog: &Catalog, o: &CheckOptions) {
    let table = o.tenants_table.as_str();
    let Some(t) = catalog.tables.get(table) else {
        return;
    };
    if !t.app_reads_any {
        return;
    }
    // The tenants' key: what the tenant context holds, and what tenant tables reference.
    let key = catalog
        .keys
        .get(table)
        .and_then(|keys| keys.iter().find(|k| k.kind == "p"))
        .and_then(|k| match k.columns.as_slice() {
            [only] => Some(only.as_str()),
            _ => None,
        })
        .unwrap_or("id");
    let object = format!("table {table}");
    if !t.rls {
        f.add(
            "TEN010",
            &object,
            format!(
                "`{}` may read {table} and row level security is off: every tenant reads every tenant's row (name, slug, status, plan)",
                o.app_role
            ),
            format!(
                "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY, with policies on {key} = tenancy.current_tenant(); or REVOKE SELECT ON {table} FROM {}",
                o.app_role
            ),
        );
    }
    if !t.forced {
        f.add(
            "TEN011",
            &object,
            format!(
                "row level security on {table} is not forced: its owner, and any login that becomes it, reads every tenant's row"
            ),
            format!("ALTER TABLE {table} FORCE ROW LEVEL SECURITY"),
        );
    }
    let policies = catalog.policies.get(table).map_or(&[][..], Vec::as_slice);
    check_policies(f, o, table, key, &object, policies);
}

/// TEN056: a table marked `tenancy: private` that the application role may read or write
/// after all.
pub(super) fn check_private_tables(f: &mut Findings, catalog: &Catalog, o: &CheckOptions) {
    for (table, t) in &catalog.tables {
        if t.private && t.app_can_write {
            f.add(
                "TEN056",
                format!("table {table}"),
                format!(
                    "{table} is marked private (`COMMENT ... IS 'tenancy: private: ..'`), kept from `{}` because it holds rows of every tenant, yet `{}` may write it: SQL in one tenant's transaction changes rows of every tenant (a user's email, say)",
                    o.app_role, o.app_role
                ),
                format!(
                    "REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {table} FROM {app}, PUBLIC, and any column grants (REVOKE INSERT (..), UPDATE (..) ON {table} FROM {app}); write it through the admin path",
                    app = o.app_role
                ),
            );
        }
        if t.private && t.app_reads_any && !t.rls {
            f.add(
                "TEN056",
                format!("table {table}"),
                format!(
                    "{table} is marked private (`COMMENT ... IS 'tenancy: private: ..'`), kept from `{}` because it holds rows of every tenant, yet `{}` may read it, without row level security",
                    o.app_role, o.app_role
                ),
                format!(
                    "REVOKE SELECT ON {table} FROM {app}, PUBLIC, and any column grants (REVOKE SELECT (..) ON {table} FROM {app}); reach it through a reviewed function",
                    app = o.app_role
                ),
            );
        }
    }
}
