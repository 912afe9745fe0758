//! TEN006, TEN007, TEN030 (elsewhere) and TEN076: tenant rows where the other rules do not look. They read the
//! tables of the schema that holds the application's tables; a copy of a tenant table in
//! another schema (a backup, an export, an archive), or a foreign table anywhere (which may
//! read the same database as another user), that the application role may read, with no policy
//! on it, hands every tenant's rows to any tenant's raw SQL; so does a table a tenant table
//! inherits from, whose queries return the tenant table's rows past its policies.

use std::collections::{BTreeMap, BTreeSet};

use super::CheckOptions;
use super::catalog::Catalog;
use super::report::Findings;

/// The names of tenant columns: the configured one, and each one a tenant table of the
/// checked schema uses, but one that is its table's whole primary key (`tenant_profiles (id
/// REFERENCES tenants)`, one row per tenant), which names nothing else's tenant.
pub(super) fn tenant_column_names<'a>(
    catalog: &Catalog,
    tenant_tables: &'a BTreeMap<String, String>,
    o: &'a CheckOptions,
) -> BTreeSet<&'a str> {
    tenant_tables
        .iter()
        .filter(|(table, column)| {
            !catalog.keys.get(*table).is_some_and(|keys| {
                keys.iter()
                    .any(|k| k.kind == "p" && k.columns.as_slice() == [column.as_str()])
            })
        })
        .map(|(_, column)| column.as_str())
        .chain([o.tenant_column.as_str()])
        .collect()
}

/// Finds, among a table's columns, one named like a tenant column ([`tenant_column_names`]).
pub(super) fn tenant_column_among<'a>(
    catalog: &Catalog,
    tenant_tables: &'a BTreeMap<String, String>,
    o: &'a CheckOptions,
) -> impl Fn(&'a [String]) -> Option<&'a String> {
    let names = tenant_column_names(catalog, tenant_tables, o);
    move |columns| columns.iter().find(|c| names.contains(c.as_str()))
}

pub(super) fn check_tenant_rows_elsewhere(
    f: &mut Findings,
    catalog: &Catalog,
    tenant_tables: &BTreeMap<String, String>,
    o: &CheckOptions,
) {
    let tenant_column_of = tenant_column_among(catalog, tenant_tables, o);
    // One finding per relation, for whatever the roles a session acts as may do there.
    let mut open: BTreeMap<(&str, &str), (&str, bool, BTreeSet<&str>)> = BTreeMap::new();
    for t in &catalog.elsewhere {
        let Some(column) = tenant_column_of(&t.columns) else {
            continue;
        };
        let entry = open
            .entry((t.kind.as_str(), t.relation.as_str()))
            .or_insert((column.as_str(), false, BTreeSet::new()));
        entry.1 |= t.reads;
        entry
            .2
            .extend(t.writes.as_deref().into_iter().flat_map(|w| w.split(", ")));
    }
    for ((kind, relation), (column, reads, writes)) in open {
        let writes: Vec<&str> = writes.into_iter().collect();
        let what = match (reads, writes.is_empty()) {
            (true, true) => format!(
                "no row level security, and `{}` may read it: every tenant's raw SQL reads every tenant's rows there",
                o.app_role
            ),
            (true, false) => format!(
                "no row level security, and `{}` may read it and {} its rows: every tenant's raw SQL reads and changes every tenant's rows there",
                o.app_role,
                writes.join(", ")
            ),
            (false, false) => format!(
                "`{}` may {} its rows past row level security (TRUNCATE, or no restrictive policy on the tenant for every command): every tenant's raw SQL changes every tenant's rows there",
                o.app_role,
                writes.join(", ")
            ),
            (false, true) => continue,
        };
        let privileges = if reads {
            ["SELECT"]
                .into_iter()
                .chain(writes.iter().copied())
                .collect::<Vec<_>>()
        } else {
            writes.clone()
        };
        f.add(
            "TEN006",
            format!("{kind} {relation}"),
            format!("it has the tenant column `{column}`, {what}"),
            format!(
                "REVOKE {} ON {relation} FROM {}, PUBLIC (or give it the tenant policies: ENABLE and FORCE ROW LEVEL SECURITY with tenancy's policies, and no TRUNCATE)",
                privileges.join(", "),
                o.app_role
            ),
        );
    }
}

/// TEN007: a table a tenant table inherits from (or is a partition of) that the application
/// role may read, and that is not a tenant table of the checked schema itself, whose own
/// policies the other rules check. PostgreSQL applies only the parent's policies to the rows a
/// query on the parent returns, the children's included: the tenant table's policies never run.
pub(super) fn check_inherited_tenant_rows(
    f: &mut Findings,
    catalog: &Catalog,
    tenant_tables: &BTreeMap<String, String>,
    o: &CheckOptions,
) {
    let tenant_child_of_another = |p: &&super::catalog::ParentRow| {
        tenant_tables.contains_key(&p.child)
            && !p
                .parent_in_schema
                .as_ref()
                .is_some_and(|parent| tenant_tables.contains_key(parent))
    };
    let mut reported = BTreeSet::new();
    for p in catalog.parents.iter().filter(tenant_child_of_another) {
        reported.insert((&p.child, &p.parent));
        f.add(
            "TEN007",
            format!("table {}", p.parent),
            format!(
                "tenant table `{}` inherits from it and `{}` may read it: a query on {} returns `{}`'s rows of every tenant, under {}'s policies only",
                p.child, o.app_role, p.parent, p.child, p.parent
            ),
            format!(
                "ALTER TABLE {} NO INHERIT {} (or REVOKE SELECT ON {} FROM {}, PUBLIC)",
                p.child, p.parent, p.parent, o.app_role
            ),
        );
    }
    // Whoever may read the parent: a view, materialized view or SECURITY DEFINER function
    // over it reads the tenant table's rows with its owner's rights, past the tenant
    // table's policies. (A partitioned parent is the partitions' table, checked as one.)
    for p in catalog.plain_parents.iter().filter(tenant_child_of_another) {
        if reported.contains(&(&p.child, &p.parent)) {
            continue;
        }
        f.add(
            "TEN007",
            format!("table {}", p.parent),
            format!(
                "tenant table `{}` inherits from it: a query on {} returns `{}`'s rows of every tenant under {}'s privileges and policies, not `{}`'s, and a view, materialized view or function over {} hands them to whoever may use it",
                p.child, p.parent, p.child, p.parent, p.child, p.parent
            ),
            format!("ALTER TABLE {} NO INHERIT {}", p.child, p.parent),
        );
    }
}

/// TEN076: a foreign server the application role (or one of its logins) may connect through.
/// dblink and postgres_fdw log in as the user the mapping names, whom this database's tenant
/// policies may not bind (a superuser, the tables' owner), and hand back what that user reads.
pub(super) fn check_foreign_servers(f: &mut Findings, catalog: &Catalog, o: &CheckOptions) {
    // One finding per mapping, for every role a session acts as.
    let mut mappings: BTreeMap<(&str, &str), (bool, BTreeSet<&str>)> = BTreeMap::new();
    for s in &catalog.servers {
        let entry = mappings
            .entry((s.server.as_str(), s.mapped_for.as_str()))
            .or_default();
        entry.0 |= s.usable;
        entry.1.extend(s.foreign_tables.iter().map(String::as_str));
    }
    for ((server, mapped_for), (usable, tables)) in mappings {
        let tables: Vec<&str> = tables.into_iter().collect();
        let (how, fix) = if usable {
            (
                "connect through it (dblink, postgres_fdw)".to_owned(),
                format!(
                    "DROP USER MAPPING FOR {mapped_for} SERVER {server} (or REVOKE USAGE ON FOREIGN SERVER {server} FROM {mapped_for}, PUBLIC)"
                ),
            )
        } else {
            (
                format!(
                    "read or write its foreign tables {}, which needs no USAGE on the server,",
                    tables.join(", ")
                ),
                format!(
                    "DROP USER MAPPING FOR {mapped_for} SERVER {server} (or REVOKE ALL ON {} FROM {}, PUBLIC)",
                    tables.join(", "),
                    o.app_role
                ),
            )
        };
        f.add(
            "TEN076",
            format!("server {server}"),
            format!(
                "a user mapping for {mapped_for} lets `{}` {how} as the user the mapping names, whom the tenant policies may not bind",
                o.app_role
            ),
            fix,
        );
    }
}

/// TEN030 outside the checked schema: a unique key or exclusion constraint of a table there
/// with a tenant column (a partition of a tenant table kept there among them), which the
/// application role may write, itself or through its parent, that leaves the tenant column out
/// (or compares it by an operator class or operator that may call two tenants equal). Rows of two
/// tenants then conflict, and the conflict, raised past row level security, tells one tenant
/// what another's rows say, however well the table's policies keep its rows apart.
pub(super) fn check_keys_elsewhere(
    f: &mut Findings,
    catalog: &Catalog,
    tenant_tables: &BTreeMap<String, String>,
    o: &CheckOptions,
) {
    let tenant_column_of = tenant_column_among(catalog, tenant_tables, o);
    let mut seen = BTreeSet::new();
    for k in &catalog.keys_elsewhere {
        let Some(column) = tenant_column_of(&k.table_columns) else {
            continue;
        };
        if k.columns.contains(column) || !seen.insert((&k.relation, &k.name)) {
            continue;
        }
        f.add(
            "TEN030",
            format!("key {} on {}", k.name, k.relation),
            format!(
                "({}) does not include `{column}`: it is unique across tenants, and one tenant's SQL that writes into {} learns what another's rows say",
                k.columns.join(", "),
                k.relation
            ),
            format!("make it ({column}, {})", k.columns.join(", ")),
        );
    }
}
