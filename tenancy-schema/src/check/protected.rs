//! The tables that hold no tenant column and are still not every tenant's to read: the table
//! of tenants, each row of which is one tenant (its name, slug, status and plan), and the
//! tables marked `tenancy: private`, which the application reaches only through reviewed
//! functions (the foundation's users, every tenant's members' addresses).

use super::CheckOptions;
use super::catalog::Catalog;
use super::catalog::PolicyRow;
use super::expr::bounded_by_tenant;
use super::report::Findings;
use super::tables::check_policies;

/// TEN010–TEN013 and TEN020–TEN023 on the tenants table, with its key as the tenant column,
/// when the application role may read it: then each tenant must see its own row only.
pub(super) fn check_tenants_table(f: &mut Findings, catalog: &Catalog, o: &CheckOptions) {
    let table = o.tenants_table.as_str();
    let sql_table = crate::policy::quote_ident(table);
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
                "ALTER TABLE {sql_table} ENABLE ROW LEVEL SECURITY, with policies on {key} = tenancy.current_tenant(); or REVOKE SELECT ON {sql_table} FROM {}",
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
            format!("ALTER TABLE {sql_table} FORCE ROW LEVEL SECURITY"),
        );
    }
    let policies = catalog.policies.get(table).map_or(&[][..], Vec::as_slice);
    check_policies(f, o, table, key, &object, policies);
}

/// TEN056: a table marked `tenancy: private` that the application role may read or write
/// after all.
pub(super) fn check_private_tables(f: &mut Findings, catalog: &Catalog, o: &CheckOptions) {
    for (table, t) in &catalog.tables {
        let sql_table = crate::policy::quote_ident(table);
        if t.private && t.app_can_write {
            f.add(
                "TEN056",
                format!("table {table}"),
                format!(
                    "{table} is marked private (`COMMENT ... IS 'tenancy: private: ..'`), kept from `{}` because it holds rows of every tenant, yet `{}` may write it: SQL in one tenant's transaction changes rows of every tenant (a user's email, say)",
                    o.app_role, o.app_role
                ),
                format!(
                    "REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {sql_table} FROM {app}, PUBLIC, and any column grants (REVOKE INSERT (..), UPDATE (..) ON {sql_table} FROM {app}); write it through the admin path",
                    app = o.app_role
                ),
            );
        }
        let opened_by = (t.private && t.app_reads_any && t.rls)
            .then(|| opened_to_every_tenant(catalog.policies.get(table.as_str())))
            .flatten();
        if let Some(policy) = opened_by {
            f.add(
                "TEN056",
                format!("table {table}"),
                format!(
                    "{table} is marked private (`COMMENT ... IS 'tenancy: private: ..'`), kept from `{}` because it holds rows of every tenant, yet `{}` may read it, and policy {policy} lets it read rows whatever its tenant",
                    o.app_role, o.app_role
                ),
                format!(
                    "REVOKE SELECT ON {sql_table} FROM {app}, PUBLIC, and any column grants; reach it through a reviewed function (or bound every policy that lets {app} read it by tenancy.current_tenant())",
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
                    "REVOKE SELECT ON {sql_table} FROM {app}, PUBLIC, and any column grants (REVOKE SELECT (..) ON {sql_table} FROM {app}); reach it through a reviewed function",
                    app = o.app_role
                ),
            );
        }
    }
}

/// TEN056 and TEN053 for the other roles a session of the application may act as (its logins,
/// and the roles they reach by SET ROLE or inherit): a private table one of them may write or
/// read every row of, and the tenants table one of them may write.
pub(super) fn check_tables_of_other_roles(f: &mut Findings, catalog: &Catalog, o: &CheckOptions) {
    for r in &catalog.role_tables {
        let Some(t) = catalog.tables.get(&r.table_name) else {
            continue;
        };
        let table = &r.table_name;
        let sql_table = crate::policy::quote_ident(table);
        let how = if t.private && r.can_write {
            "write"
        } else if t.private && r.reads_all {
            "read every row of"
        } else if *table == o.tenants_table && r.can_write {
            "write (suspending, deleting or reactivating any tenant)"
        } else {
            continue;
        };
        f.add(
            if t.private { "TEN056" } else { "TEN053" },
            format!("table {table}"),
            format!(
                "a session of `{}` can act as `{}` ({}), which may {how} `{table}`, kept from `{}` because it holds rows of every tenant",
                o.app_role, r.role, catalog.how_acting_as(&r.role), o.app_role
            ),
            format!(
                "REVOKE ALL ON {sql_table} FROM {} (and any column grants), or the membership or EXECUTE grant that reaches it",
                r.role
            ),
        );
    }
}

/// The permissive policy through which the application role reads a private table's rows
/// whatever its tenant: one not held to the tenant (the tenant equality on some column, alone or
/// opening its top-level AND; naming the context is not enough), when no restrictive policy is
/// either (permissive policies are ORed, restrictive ones ANDed with them). None when every way
/// in is held to the tenant, or none lets the role read.
fn opened_to_every_tenant(policies: Option<&Vec<PolicyRow>>) -> Option<String> {
    let policies = policies.map_or(&[][..], Vec::as_slice);
    let reads = |p: &&PolicyRow| p.applies_to_app && (p.cmd == "*" || p.cmd == "r");
    let bounded = |p: &PolicyRow| p.using.as_deref().is_some_and(bounded_by_tenant);
    if policies
        .iter()
        .filter(reads)
        .any(|p| !p.permissive && bounded(p))
    {
        return None;
    }
    policies
        .iter()
        .filter(reads)
        .find(|p| p.permissive && !bounded(p))
        .map(|p| p.name.clone())
}

/// The tables `migrations` (applied, oldest first) leave marked `tenancy: private`: the last
/// `COMMENT ON TABLE` of each decides. The mark lives in the database, where a later change
/// of the comment would otherwise take the table out of TEN056's sight.
pub(super) fn marked_private(
    migrations: &[&crate::migrations::MigrationFiles],
) -> std::collections::BTreeSet<String> {
    let mut private = std::collections::BTreeSet::new();
    for m in migrations {
        for statement in crate::sql_lexer::statements(m.up) {
            if let Some((table, marked)) = table_comment(statement) {
                if marked {
                    private.insert(table);
                } else {
                    private.remove(&table);
                }
            }
        }
    }
    private
}

/// The table a `COMMENT ON TABLE <name> IS ..` statement comments on (its schema left out), and
/// whether the comment marks it private.
fn table_comment(statement: &str) -> Option<(String, bool)> {
    let mut words = statement[crate::sql_lexer::code_start(statement)..].split_whitespace();
    let head: Vec<String> = words
        .by_ref()
        .take(3)
        .map(str::to_ascii_lowercase)
        .collect();
    if head != ["comment", "on", "table"] {
        return None;
    }
    let name = words.next()?;
    let last = name.rsplit('.').next()?;
    let table = if last.starts_with('"') {
        last.trim_matches('"').to_owned()
    } else {
        last.to_ascii_lowercase()
    };
    if !words.next()?.eq_ignore_ascii_case("is") {
        return None;
    }
    let rest: Vec<&str> = words.collect();
    Some((table, rest.join(" ").starts_with("'tenancy: private")))
}
