//! The rules for one tenant table: its tenant column, row level security, policies, keys and
//! foreign keys, what its model declares, and who owns it. The Citus lints sit next to the
//! isolation lints they mirror, since both read the same key or policy.

use std::collections::BTreeMap;

use super::CheckOptions;
use super::catalog::{Catalog, KeyRow, PolicyRow, TableRow, reviewed};
use super::expr::{
    always_true, bounded_by_tenant, carries_tenant_predicate, has_keyword, has_word,
    once_per_statement_as_call, policy_applies_to_all_commands_with_tenant_predicate,
    reads_tenant_context,
};
use super::report::Findings;
use crate::{TableKind, TableManifest};

/// The policy form a fix suggests: the plain call where a distributed engine is expected
/// (it refuses sub-queries in policies), the once-per-statement read otherwise.
fn context_read(o: &CheckOptions) -> crate::policy::ContextRead {
    if o.citus {
        crate::policy::ContextRead::Call
    } else {
        crate::policy::ContextRead::OncePerStatement
    }
}

pub(super) fn check_tenant_table(
    f: &mut Findings,
    (catalog, tenant_tables): (&Catalog, &BTreeMap<String, String>),
    o: &CheckOptions,
    table: &str,
    col: &str,
    t: &TableRow,
    model: Option<&TableManifest>,
) {
    let sql_table = crate::policy::quote_ident(table);
    let object = format!("table {table}");
    let keys = catalog.keys_of(table);
    let policies = catalog
        .policies
        .get(table)
        .map(Vec::as_slice)
        .unwrap_or_default();

    check_tenant_column(f, catalog, o, table, col);
    if !t.rls {
        f.add(
            "TEN010",
            &object,
            "row level security is not enabled: raw SQL sees every tenant's rows",
            format!("ALTER TABLE {sql_table} ENABLE ROW LEVEL SECURITY"),
        );
    }
    if !t.forced {
        f.add(
            "TEN011",
            &object,
            format!(
                "row level security is not forced: the owner `{}` bypasses the policies",
                t.owner
            ),
            format!("ALTER TABLE {sql_table} FORCE ROW LEVEL SECURITY"),
        );
    }
    check_policies(f, o, table, col, &object, policies);
    if t.rls {
        check_policies_of_other_roles(f, catalog, o, table, col, policies);
        check_isolation_of_grantees(f, catalog, o, table, col, policies);
    }
    if catalog.context.native_readers {
        check_native_readers(f, table, policies);
    }

    check_keys(f, tenant_tables, o, table, col, keys);

    match model {
        // The code reads and writes it unscoped (the system connection too), as rows of no tenant.
        Some(m) if m.kind == TableKind::Global => f.add(
            "TEN051",
            &object,
            format!("`{table}` is classified #[global_table] in the code, but its rows each belong to a tenant through `{col}`: typed queries read and write it unscoped, every tenant's rows, wherever row level security is off"),
            format!("classify it #[tenant_scoped(tenant_column = {col})] (`tenancy print-schema` writes it), or drop `{col}` if its rows belong to no tenant"),
        ),
        None => f.add("TEN050", &object, format!("`{table}` has a `{col}` column but no model in this binary classifies it"), "add #[tenant_scoped] to its diesel::table! (or #[global_table] if the column means something else)"),
        Some(m) => {
            let pk: Vec<&str> = keys.iter().find(|k| k.kind == "p").map(|k| k.columns.iter().map(String::as_str).collect()).unwrap_or_default();
            if pk != m.primary_key {
                f.add("TEN033", &object, format!("the primary key is ({}), the model says ({})", pk.join(", "), m.primary_key.join(", ")), "regenerate schema.rs from the database, or migrate the key");
            }
            for (declared, unique) in m.indexes.iter().map(|i| (i, false)).chain(m.uniques.iter().map(|u| (u, true))) {
                let found = keys.iter().any(|k| {
                    k.columns.iter().map(String::as_str).eq(declared.iter().copied())
                        && (if unique { matches!(k.kind.as_str(), "u" | "p") } else { k.kind != "f" })
                });
                if !found {
                    f.add("TEN032", &object, format!("the model declares {} ({}) but the database has none", if unique { "unique key" } else { "index" }, declared.join(", ")), format!("CREATE {}INDEX ON {sql_table} ({})", if unique { "UNIQUE " } else { "" }, declared.join(", ")));
                }
            }
            for fk in m.foreign_keys {
                let found = keys.iter().any(|k| k.kind == "f" && k.columns.iter().map(String::as_str).eq(fk.columns.iter().copied()) && k.target.as_deref() == Some(fk.references));
                if !found {
                    f.add("TEN041", &object, format!("the model declares a foreign key ({}) -> {} but the database has none", fk.columns.join(", "), fk.references), format!("ALTER TABLE {sql_table} ADD FOREIGN KEY ({}) REFERENCES {} ({}, id)", fk.columns.join(", "), fk.references, o.tenant_column));
                }
            }
        }
    }
    check_rights(f, o, table, &object, t);
}

/// The tenant column of `table`: there, NOT NULL, uuid (under its domains), and a foreign key
/// to the tenants table.
fn check_tenant_column(
    f: &mut Findings,
    catalog: &Catalog,
    o: &CheckOptions,
    table: &str,
    col: &str,
) {
    let sql_table = crate::policy::quote_ident(table);
    let sql_col = crate::policy::quote_ident(col);
    let object = format!("table {table}");
    let columns = catalog
        .columns
        .get(table)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let keys = catalog.keys_of(table);
    match columns.iter().find(|c| c.column_name == col) {
        None => f.add("TEN002", &object, format!("tenant-scoped `{table}` has no `{col}` column"), format!("ALTER TABLE {sql_table} ADD COLUMN {sql_col} uuid NOT NULL REFERENCES {} (id), and backfill it", o.tenants_table)),
        Some(c) => {
            if !c.not_null {
                f.add("TEN003", &object, format!("`{table}.{col}` is nullable: a row without a tenant matches no policy and no tenant filter"), format!("ALTER TABLE {sql_table} ALTER COLUMN {sql_col} SET NOT NULL"));
            }
            if c.base_type_name != "uuid" {
                f.add("TEN004", &object, format!("`{table}.{col}` is {}, not uuid", c.type_name), format!("ALTER TABLE {sql_table} ALTER COLUMN {sql_col} TYPE uuid USING {sql_col}::uuid"));
            }
            let has_fk = keys.iter().any(|k| k.kind == "f" && k.columns == [col] && k.target.as_deref() == Some(o.tenants_table.as_str()));
            // An application on the core alone may have no table of tenants to point to.
            let has_tenants_table = catalog.tables.contains_key(&o.tenants_table);
            if !has_fk && has_tenants_table {
                f.add("TEN005", &object, format!("`{table}.{col}` has no foreign key to `{}`", o.tenants_table), format!("ALTER TABLE {sql_table} ADD FOREIGN KEY ({sql_col}) REFERENCES {} (id) ON DELETE CASCADE", o.tenants_table));
            }
        }
    }
}

/// A partition of a tenant table that no session of the application names
/// ([`Catalog::partition_reached_through_parent`]): its parent's policies and model cover it,
/// but a key or foreign key of its own holds for the rows written through the parent too.
pub(super) fn check_partition_reached_through_parent(
    f: &mut Findings,
    (catalog, tenant_tables): (&Catalog, &BTreeMap<String, String>),
    o: &CheckOptions,
    table: &str,
    col: &str,
) {
    check_tenant_column(f, catalog, o, table, col);
    check_keys(f, tenant_tables, o, table, col, catalog.keys_of(table));
}

/// What the application role may do to `table` besides reading and writing its own
/// tenant's rows: own it, or hold privileges that row level security does not govern.
fn check_rights(f: &mut Findings, o: &CheckOptions, table: &str, object: &str, t: &TableRow) {
    let sql_table = crate::policy::quote_ident(table);
    if !t.app_unpoliced.is_empty() {
        let granted = t.app_unpoliced.join(" and ");
        f.add(
            "TEN014",
            object,
            format!(
                "`{}` holds {granted} on `{table}`: TRUNCATE empties it for every tenant and a trigger runs in every tenant's writes, and row level security governs neither",
                o.app_role
            ),
            format!("REVOKE {} ON {sql_table} FROM {}, PUBLIC", t.app_unpoliced.join(", "), o.app_role),
        );
    }
    if t.app_is_owner {
        f.add("TEN063", object, format!("`{}` owns `{table}`: owners are exempt from policies unless forced, and can drop them", o.app_role), format!("ALTER TABLE {sql_table} OWNER TO <migration role>"));
    } else if t.app_in_owner {
        f.add(
            "TEN064",
            object,
            format!(
                "`{}` is a member of `{}`, which owns `{table}`",
                o.app_role, t.owner
            ),
            format!("REVOKE {} FROM {}", t.owner, o.app_role),
        );
    }
}

/// The tenant policies of `table`: a permissive and a RESTRICTIVE one on the tenant
/// predicate, and nothing in any policy that widens or weakens it.
pub(super) fn check_policies(
    f: &mut Findings,
    o: &CheckOptions,
    table: &str,
    col: &str,
    object: &str,
    policies: &[PolicyRow],
) {
    let sql_table = crate::policy::quote_ident(table);
    let sql_col = crate::policy::quote_ident(col);
    let tenant_pred = |e: &Option<String>| {
        e.as_deref()
            .is_some_and(|e| reads_tenant_context(e) && has_word(e, col))
    };
    let permissive = policies.iter().any(|p| {
        p.permissive
            && p.applies_to_app
            && (tenant_pred(&p.using) || (p.cmd == "a" && tenant_pred(&p.check)))
    });
    if !permissive {
        f.add("TEN012", object, format!("no permissive policy with `{col} = tenancy.current_tenant()` applies to `{}`: it can read nothing (or something else grants access)", o.app_role), crate::policy::access_policy_as(context_read(o), &crate::policy::quote_ident(table), &crate::policy::quote_ident(col), &o.app_role));
    }
    // A restrictive policy only narrows, so one tenant isolation policy isolates whatever else
    // exists.
    let restrictive = policies.iter().any(|p| is_tenant_isolation_policy(p, col));
    check_evaluated_before_the_tenant(f, table, col, policies);
    if !restrictive {
        f.add("TEN013", object, "no RESTRICTIVE tenant isolation policy: a permissive policy added later could widen access across tenants", crate::policy::isolation_policy_as(context_read(o), &crate::policy::quote_ident(table), &crate::policy::quote_ident(col)));
    }
    for p in policies {
        let pobj = format!("policy {} on {table}", p.name);
        if !(carries_tenant_predicate(p.using.as_deref(), col)
            && carries_tenant_predicate(p.check.as_deref(), col))
        {
            f.add("CIT005", &pobj, "does not begin with the tenant predicate: Citus copies policies to the shards without AS RESTRICTIVE, so there it ORs with the others and widens access across tenants", format!("begin USING and WITH CHECK with ({sql_col} = tenancy.current_tenant()) AND (...)"));
        }
        for expr in [&p.using, &p.check].into_iter().flatten() {
            if reads_tenant_context(expr) {
                // The context read once per statement is an init plan, not a sub-query
                // over rows.
                // What follows a leading tenant equality (`(t = ..) AND (..)`) narrows it,
                // whatever it holds.
                let as_calls = once_per_statement_as_call(expr);
                let leads = carries_tenant_predicate(Some(expr.as_str()), col);
                if !leads && has_keyword(&as_calls, "or") {
                    f.add("TEN020", &pobj, format!("the tenant predicate `{expr}` contains OR, which defeats the ({col}, …) indexes and can widen it"), "keep the tenant predicate a single equality; put other rules in a separate (RESTRICTIVE) policy");
                }
                if !leads && has_keyword(&as_calls, "select") {
                    f.add("TEN021", &pobj, format!("the tenant predicate `{expr}` contains a sub-query"), "compare the column with tenancy.current_tenant() directly; a distributed engine rejects sub-queries in policies");
                }
                if expr.contains("current_setting(") {
                    f.add("TEN023", &pobj, format!("`{expr}` reads the tenant setting directly: SQL in the transaction can change it (`SET`, `set_config`), and a pooled connection reports '' after its first transaction"), "use tenancy.current_tenant(), which returns only the context tenancy.enter() verified");
                }
            }
            if has_keyword(expr, "select") {
                f.add("CIT004", &pobj, format!("`{expr}` contains a sub-query"), "a distributed engine rejects sub-queries in policies: move the rule into the application query or a function-free predicate");
            }
        }
        // A permissive policy ORs with the tenant's own: one that does not hold its rows to
        // the tenant (the tenant equality on some column, alone or opening its top-level AND)
        // lets them through for every tenant, and only the restrictive isolation policy is
        // left between them (one DROP POLICY, or an ALTER that makes it permissive). Merely
        // naming the context (`'tenancy.tenant_id' IS NOT NULL`, `tenancy.current_tenant()
        // IS NOT NULL`) holds nothing. For a role other than the application's, TEN022's
        // always-true form counts too: TEN022 is the application role's alone.
        if p.permissive
            && [&p.using, &p.check]
                .into_iter()
                .flatten()
                // TEN022 already reports the application role's always-true ones.
                .any(|e| !(bounded_by_tenant(e) || (p.applies_to_app && always_true(e))))
        {
            let whom = if p.applies_to_app {
                format!("`{}`", o.app_role)
            } else {
                format!("roles other than `{}`", o.app_role)
            };
            f.add(
                "TEN095",
                &pobj,
                format!(
                    "permissive policy `{}` for {whom} does not hold its rows to the tenant (no `<tenant column> = tenancy.current_tenant()` opening its USING and WITH CHECK; naming the context is not comparing with it): it lets the rows it matches through for every tenant, and only the restrictive isolation policy keeps tenants apart",
                    crate::policy::quote_ident(&p.name)
                ),
                format!(
                    "DROP POLICY {} ON {sql_table}; or begin it with ({sql_col} = tenancy.current_tenant()) AND (...), or make it AS RESTRICTIVE if it is a further rule",
                    crate::policy::quote_ident(&p.name)
                ),
            );
        }
        if p.permissive
            && p.applies_to_app
            && [&p.using, &p.check]
                .into_iter()
                .flatten()
                .any(|e| always_true(e))
        {
            f.add(
                "TEN022",
                &pobj,
                format!(
                    "permissive policy `{}` is always true for `{}`: it grants every tenant's rows",
                    p.name, o.app_role
                ),
                format!(
                    "DROP POLICY {} ON {sql_table}, or restrict it to {sql_col} = tenancy.current_tenant()",
                    crate::policy::quote_ident(&p.name)
                ),
            );
        }
    }
}

/// TEN085: the roles a session of the application may act as besides the application role
/// (its logins, and every role they reach by SET ROLE or inherit the rights of) are each held
/// to the tenant by the policies that apply to them, not by those of the application role: a
/// role that may use `table`, that no tenant isolation policy applies to, and that a
/// permissive policy not on the tenant predicate lets through, reads or writes every tenant's
/// rows.
fn check_policies_of_other_roles(
    f: &mut Findings,
    catalog: &Catalog,
    o: &CheckOptions,
    table: &str,
    col: &str,
    policies: &[PolicyRow],
) {
    let sql_table = crate::policy::quote_ident(table);
    // Held to the tenant: the tenant equality opens it (naming the context is not enough).
    let tenant_pred = |e: &String| bounded_by_tenant(e) && has_word(e, col);
    for r in catalog.role_policies.get(table).into_iter().flatten() {
        let applying: Vec<&PolicyRow> = policies
            .iter()
            .filter(|p| r.policies.contains(&p.name))
            .collect();
        if applying.iter().any(|p| isolates(p, col)) {
            continue;
        }
        let Some(open) = applying.iter().find(|p| {
            p.permissive
                && [&p.using, &p.check]
                    .into_iter()
                    .flatten()
                    .any(|e| !tenant_pred(e))
        }) else {
            continue;
        };
        f.add(
            "TEN085",
            format!("table {table} as role {}", r.role),
            format!(
                "a session of `{}` can act as `{}` ({}), which may use `{table}`: no tenant isolation policy applies to `{}`, and permissive policy `{}` lets it through, so it reads or writes every tenant's rows",
                o.app_role, r.role, catalog.how_acting_as(&r.role), r.role, open.name
            ),
            format!(
                "make the tenant isolation policy apply to every role (ALTER POLICY <isolation policy> ON {sql_table} TO PUBLIC), and DROP POLICY {} ON {sql_table}; or REVOKE ALL ON {sql_table} FROM {}, or the membership (or EXECUTE on the SECURITY DEFINER function) that reaches it",
                crate::policy::quote_ident(&open.name), r.role
            ),
        );
    }
}

/// TEN013 for the other roles that may use `table`: every role holding a privilege on it that
/// policies govern (and `PUBLIC`, when it holds one) must be held to the tenant by a
/// restrictive isolation policy that applies to it (one for `PUBLIC`, or for a role it has the
/// rights of). One narrowed to the application role leaves every other grantee with only the
/// permissive policies between it and every tenant's rows, and a permissive policy for it
/// that merely names the context lets them all through. The application role's own is the
/// table's TEN013.
fn check_isolation_of_grantees(
    f: &mut Findings,
    catalog: &Catalog,
    o: &CheckOptions,
    table: &str,
    col: &str,
    policies: &[PolicyRow],
) {
    let sql_table = crate::policy::quote_ident(table);
    for g in catalog.grantee_policies.get(table).into_iter().flatten() {
        if g.role == o.app_role {
            continue;
        }
        let isolated = policies
            .iter()
            .any(|p| g.policies.contains(&p.name) && isolates(p, col));
        if isolated {
            continue;
        }
        let isolation: Vec<&str> = policies
            .iter()
            .filter(|p| isolates(p, col))
            .map(|p| p.name.as_str())
            .collect();
        let (found, fix) = match isolation.as_slice() {
            [] => (
                "there is no restrictive tenant isolation policy at all".to_owned(),
                crate::policy::isolation_policy_as(
                    context_read(o),
                    &crate::policy::quote_ident(table),
                    &crate::policy::quote_ident(col),
                ),
            ),
            names => (
                format!(
                    "{} {} not apply to it",
                    names
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    if names.len() == 1 { "does" } else { "do" }
                ),
                format!(
                    "ALTER POLICY {} ON {sql_table} TO PUBLIC (the isolation policy must apply to every role that may use the table); or REVOKE ALL ON {sql_table} FROM {}",
                    crate::policy::quote_ident(names[0]),
                    g.role
                ),
            ),
        };
        f.add(
            "TEN013",
            format!("table {table} as role {}", g.role),
            format!(
                "`{}` holds {} on `{table}`, and no restrictive tenant isolation policy applies to it ({found}): only the permissive policies that apply to it stand between it and every tenant's rows, and one that does not hold rows to the tenant (or merely names the context) lets them all through",
                g.role,
                g.privileges.join(", ")
            ),
            fix,
        );
    }
}

/// [`is_tenant_isolation_policy`] whoever it applies to.
fn isolates(p: &PolicyRow, col: &str) -> bool {
    !p.permissive
        && policy_applies_to_all_commands_with_tenant_predicate(p, col)
        && p.using.is_some()
        && p.check.is_some()
        && carries_tenant_predicate(p.using.as_deref(), col)
        && carries_tenant_predicate(p.check.as_deref(), col)
}

/// A RESTRICTIVE policy for every command that applies to the application role and whose USING
/// and WITH CHECK each are the tenant equality (or open an AND with it): it isolates whatever
/// else exists. A predicate that merely mentions the column and the context (`<>`,
/// `IS DISTINCT FROM`, `coalesce(.., true)`) does not.
fn is_tenant_isolation_policy(p: &PolicyRow, col: &str) -> bool {
    p.applies_to_app && isolates(p, col)
}

/// TEN024: PostgreSQL applies the RESTRICTIVE policies one after the other in the order of
/// their names, each to the rows the ones before it let through, and within one policy it
/// evaluates the cheapest condition first. A function in a restrictive policy that sorts before
/// the tenant isolation policy, or in that policy's own AND, therefore runs on every tenant's
/// rows (in psql, a notice in such a function printed the other tenant's values, with the
/// tenant predicate written first). Permissive policies come after all of them.
fn check_evaluated_before_the_tenant(
    f: &mut Findings,
    table: &str,
    col: &str,
    policies: &[PolicyRow],
) {
    let sql_table = crate::policy::quote_ident(table);
    let sql_col = crate::policy::quote_ident(col);
    let mut restrictive: Vec<&PolicyRow> = policies
        .iter()
        .filter(|p| !p.permissive && p.applies_to_app)
        .collect();
    restrictive.sort_by(|a, b| a.name.cmp(&b.name));
    for p in restrictive {
        let tenant_policy = is_tenant_isolation_policy(p, col);
        if !p.leaky_calls.is_empty() {
            f.add(
                "TEN024",
                format!("policy {} on {table}", p.name),
                format!(
                    "restrictive policy `{}` calls {}, which {}: {} runs on every tenant's rows before the tenant predicate filters them, so whatever it shows (a notice, an error, a row it writes) shows other tenants' rows",
                    p.name,
                    p.leaky_calls.join(", "),
                    if p.leaky_calls.len() == 1 { "is not LEAKPROOF" } else { "are not LEAKPROOF" },
                    if tenant_policy {
                        "within the tenant policy, PostgreSQL evaluates the cheapest condition first, and it"
                    } else {
                        "restrictive policies apply in the order of their names, and this one comes before the tenant isolation policy (or there is none): it"
                    }
                ),
                format!(
                    "keep the tenant isolation policy on {sql_table} exactly ({sql_col} = tenancy.current_tenant()), and move other conditions into the permissive policy, which PostgreSQL applies after every restrictive one, or into a restrictive policy whose name sorts after the tenant isolation policy's"
                ),
            );
        }
        if tenant_policy {
            break;
        }
    }
}

/// Where the native context is on, the policies call its C readers: a policy written by hand
/// after `tenancy.enable_native_context()` ran (a scaffolded table's migration runs it again)
/// still calls `tenancy.current_tenant()`, a SQL function that PostgreSQL inlines, parsing its
/// body again, whenever it plans a statement on the table. Isolation is the same either way.
fn check_native_readers(f: &mut Findings, table: &str, policies: &[PolicyRow]) {
    for p in policies {
        let calls_sql_reader = [&p.using, &p.check].into_iter().flatten().any(|e| {
            has_word(e, "tenancy.current_tenant()") || has_word(e, "tenancy.current_principal()")
        });
        if calls_sql_reader {
            f.add(
                "TEN074",
                format!("policy {} on {table}", p.name),
                "calls tenancy.current_tenant() (or current_principal()), the SQL reader, while the native context is on: PostgreSQL parses its body again whenever it plans a statement on the table",
                "SELECT tenancy.enable_native_context() (as the tables' owner) again: it makes every policy call the extension's C readers",
            );
        }
    }
}

/// The keys of `table`: every unique key and index led by the tenant column, every foreign
/// key composite with it.
fn check_keys(
    f: &mut Findings,
    tenant_tables: &BTreeMap<String, String>,
    o: &CheckOptions,
    table: &str,
    col: &str,
    keys: &[KeyRow],
) {
    let sql_table = crate::policy::quote_ident(table);
    let sql_col = crate::policy::quote_ident(col);
    for k in keys.iter().filter(|k| k.kind != "f") {
        let kobj = format!(
            "{} {} on {table}",
            if k.kind == "i" { "index" } else { "key" },
            k.name
        );
        let includes = k.columns.iter().any(|c| c == col);
        if k.kind == "x" && !includes {
            // An exclusion constraint compares each new row with every tenant's rows, past
            // row level security, as a unique key does.
            f.add("TEN030", &kobj, format!("the exclusion constraint on ({}) does not include `{col}`: rows of different tenants conflict, and one tenant can probe another's values (a time slot taken, say)", k.columns.join(", ")), format!("add `{sql_col} WITH =` to it"));
        } else if matches!(k.kind.as_str(), "p" | "u") && !includes {
            f.add("TEN030", &kobj, format!("({}) does not include `{col}`: it is unique across tenants, and one tenant can probe another's values", k.columns.join(", ")), format!("make it ({sql_col}, {})", k.columns.join(", ")));
            f.add(
                if k.kind == "p" { "CIT001" } else { "CIT002" },
                &kobj,
                format!(
                    "({}) does not include the distribution column `{col}`",
                    k.columns.join(", ")
                ),
                format!("make it ({sql_col}, {})", k.columns.join(", ")),
            );
        } else if k.columns.first().map(String::as_str) != Some(col)
            && !reviewed(k.comment.as_deref())
        {
            let comment_on = if k.kind == "i" {
                format!("INDEX {}", k.name)
            } else {
                format!("CONSTRAINT {} ON {table}", k.name)
            };
            f.add("TEN031", &kobj, format!("({}) does not lead with `{col}`", k.columns.join(", ")), format!("lead with {sql_col}; or, where it serves a lookup made before the tenant is known, COMMENT ON {comment_on} IS 'tenancy: reviewed: <the lookup>'"));
        }
    }
    for k in keys.iter().filter(|k| k.kind == "f") {
        let target = k.target.as_deref().unwrap_or_default();
        if target == o.tenants_table {
            check_key_to_tenants(f, o, table, col, k);
        }
        // The target's own tenant column (a tenant table may name it otherwise, `org_id`):
        // every table of the schema with the tenant column is among the tenant tables.
        let target_column = tenant_tables
            .get(target)
            .filter(|_| target != o.tenants_table)
            .map(String::as_str);
        // Only the keys that tie a row to its tenant: to the tenants table, or between tenant
        // tables. A key to a global table says nothing about tenants.
        if !k.enforced && (target_column.is_some() || target == o.tenants_table) {
            f.add(
                "TEN042",
                format!("foreign key {} on {table}", k.name),
                format!("({}) -> {target} is not enforced: it is NOT VALID (the rows from before it were never checked) or a trigger that checks it is disabled, so a row can point into another tenant or to no tenant", k.columns.join(", ")),
                format!("ALTER TABLE {sql_table} ENABLE TRIGGER ALL; ALTER TABLE {target} ENABLE TRIGGER ALL; ALTER TABLE {sql_table} VALIDATE CONSTRAINT {}", k.name),
            );
        }
        let Some(target_column) = target_column else {
            continue;
        };
        // The tenant column has to reference the target's tenant column, not merely appear
        // on both sides: PostgreSQL matches the referenced columns to a unique key in any
        // order, so `(tenant_id, x) REFERENCES t (id, tenant_id)` is accepted too.
        let both = k.columns.iter().position(|c| c == col).is_some_and(|i| {
            k.target_columns
                .as_ref()
                .and_then(|t| t.get(i))
                .is_some_and(|c| c == target_column)
        });
        if both && k.cascade_sets.iter().any(|c| c == col) {
            // A composite key whose SET DEFAULT (or SET NULL) sets the tenant column: deleting
            // (or re-keying) the referenced row moves the referencing rows to whichever tenant
            // the column's default names, past row level security, which a cascade skips.
            f.add(
                "TEN045",
                format!("foreign key {} on {table}", k.name),
                format!(
                    "({}) -> {target} sets `{col}` on delete or update (SET DEFAULT or SET NULL): a tenant's delete moves its rows to whichever tenant the column's default names",
                    k.columns.join(", ")
                ),
                format!(
                    "recreate it with ON DELETE CASCADE, RESTRICT or NO ACTION, or with SET NULL / SET DEFAULT on its other columns only (PostgreSQL 15: ON DELETE SET NULL ({}))",
                    k.columns
                        .iter()
                        .filter(|c| *c != col)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        if !both {
            let fobj = format!("foreign key {} on {table}", k.name);
            f.add("TEN040", &fobj, format!("({}) -> {target} does not include the tenant column: foreign-key checks bypass row level security, so a row can point into another tenant", k.columns.join(", ")), format!("FOREIGN KEY ({sql_col}, {}) REFERENCES {target} ({}, id)", k.columns.join(", "), target_column));
            f.add(
                "CIT003",
                &fobj,
                format!(
                    "({}) -> {target} does not include the distribution column",
                    k.columns.join(", ")
                ),
                format!(
                    "FOREIGN KEY ({sql_col}, {}) REFERENCES {target} ({}, id)",
                    k.columns.join(", "),
                    target_column
                ),
            );
        }
    }
}

/// TEN045: a foreign key from a tenant table into the tenants table other than the tenant key
/// itself, or a tenant key whose delete moves rows. Foreign-key checks bypass row level
/// security: a key on another column of `tenants` (its slug, say) answers to any tenant
/// whether a value names another tenant, and holds that tenant's deletion up; a tenant key
/// `ON DELETE SET DEFAULT` (or `SET NULL`) moves a deleted tenant's rows to whichever tenant
/// the column's default names.
fn check_key_to_tenants(f: &mut Findings, o: &CheckOptions, table: &str, col: &str, k: &KeyRow) {
    let sql_table = crate::policy::quote_ident(table);
    let sql_col = crate::policy::quote_ident(col);
    let fobj = format!("foreign key {} on {table}", k.name);
    let tenant_key = k.columns == [col]
        && k.target_columns
            .as_deref()
            .is_some_and(|t| t.len() == 1 && t[0] == "id");
    if !tenant_key {
        f.add(
            "TEN045",
            &fobj,
            format!(
                "({}) -> {} ({}) is not the tenant key: foreign-key checks bypass row level security, so one tenant learns whether a value names another tenant and holds its deletion up",
                k.columns.join(", "),
                o.tenants_table,
                k.target_columns.as_deref().unwrap_or_default().join(", ")
            ),
            format!(
                "ALTER TABLE {sql_table} DROP CONSTRAINT {}; keep `{sql_col}` -> {} (id) as the only key into it",
                k.name, o.tenants_table
            ),
        );
    } else if matches!(k.on_delete.as_str(), "n" | "d") {
        f.add(
            "TEN045",
            &fobj,
            format!(
                "the tenant key is ON DELETE {}: deleting a tenant moves its rows to whichever tenant the column's default names (or leaves them without one)",
                if k.on_delete == "d" { "SET DEFAULT" } else { "SET NULL" }
            ),
            format!(
                "ALTER TABLE {sql_table} DROP CONSTRAINT {}, ADD FOREIGN KEY ({sql_col}) REFERENCES {} (id) ON DELETE CASCADE",
                k.name, o.tenants_table
            ),
        );
    }
}
