//! TEN057 and TEN053 beyond the application role's own grants: every way a session of the
//! application writes a global table (or the tenants table) that every tenant reads. Its
//! writes reach further than the relations it may write: a view or a rule writes the table
//! under it with its owner's rights, a trigger or a constraint's function runs on what it
//! writes, a cascading foreign key changes the tables that reference it, a parent's rows are
//! its children's, a foreign table writes the table it names; and a SECURITY DEFINER function
//! it may call, or that a trigger runs on its writes, writes with its owner's rights. It may
//! also act as other roles (its logins' own grants, roles it may `SET ROLE` to). One tenant's
//! SQL that reaches a shared table by any of these changes rows every tenant reads, as a grant
//! of the table would.

use std::collections::{BTreeMap, BTreeSet};

use super::CheckOptions;
use super::catalog::{Catalog, reviewed};
use super::functions::Tenancys;
use super::report::Findings;
use super::triggers::{Reach, Removals, reach, with_their_row_code};
use crate::{TableKind, TableManifest};

/// What leads a session's writes to a shared table.
#[derive(Default)]
struct Ways {
    /// Relations it writes, as they are named in a message.
    relations: BTreeSet<String>,
    /// SECURITY DEFINER functions, and whether it may call each (or only fires it).
    definers: BTreeMap<String, bool>,
}

pub(super) fn check_shared_writes(
    f: &mut Findings,
    catalog: &Catalog,
    registry: &[&TableManifest],
    protected: &BTreeSet<String>,
    o: &CheckOptions,
    tenancys: &Tenancys,
) {
    // What every tenant reads: the global tables (those reached only through reviewed
    // functions aside), and the tenants table, whose rows decide which tenants may work. A
    // table the application role may write itself is reported with its grant (TEN057, TEN053).
    let shared: BTreeSet<&str> = registry
        .iter()
        .filter(|m| m.kind == TableKind::Global)
        .map(|m| m.table)
        .chain([o.tenants_table.as_str()])
        .filter(|t| {
            catalog
                .tables
                .get(*t)
                .is_some_and(|t| !t.private && !t.app_can_write)
        })
        .collect();
    let mut ways: BTreeMap<&str, Ways> = BTreeMap::new();
    let mut starts: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for w in &catalog.written_by_sessions {
        starts.entry(w.name.as_str()).or_default().insert(&w.role);
    }
    for (start, roles) in &starts {
        let from = Reach::writing(start);
        let (_, written) =
            with_their_row_code(from, catalog, protected, tenancys, Removals::Counted);
        let acting: Vec<&str> = roles
            .iter()
            .copied()
            .filter(|r| !catalog.app_and_logins.iter().any(|a| a == r))
            .collect();
        for table in shared.iter().filter(|t| written.contains(**t)) {
            // A shared table among the relations it writes: by a grant of a role it acts as,
            // as the child or partition of one it writes, or through a key that cascades.
            let itself = if start == table { " itself" } else { "" };
            let way = if roles.len() == acting.len() {
                format!("`{start}`{itself} (as `{}`)", acting.join("`, `"))
            } else {
                format!("`{start}`{itself}")
            };
            ways.entry(table).or_default().relations.insert(way);
        }
    }
    for r in &catalog.routines {
        if reviewed(r.comment.as_deref()) {
            continue;
        }
        // What it writes itself, with its owner's rights, and what those writes reach.
        let own = reach(
            &r.source,
            &r.language,
            &catalog.functions,
            tenancys,
            Removals::Counted,
        );
        let itself = own.written.clone();
        let (_, written) =
            with_their_row_code(own, catalog, protected, tenancys, Removals::Counted);
        for table in shared.iter().filter(|t| written.contains(**t)) {
            if itself.contains(*table) && !r.owner_writes.iter().any(|w| w == table) {
                // Its owner may not: the write fails.
                continue;
            }
            ways.entry(table)
                .or_default()
                .definers
                .insert(r.name.clone(), r.callable);
        }
    }
    for (table, ways) in ways {
        report(f, catalog, o, table, &ways);
    }
}

fn report(f: &mut Findings, catalog: &Catalog, o: &CheckOptions, table: &str, ways: &Ways) {
    let (id, what) = if table == o.tenants_table {
        (
            "TEN053",
            "SQL in one tenant's transaction can suspend, delete or reactivate another tenant",
        )
    } else {
        (
            "TEN057",
            "SQL in one tenant's transaction changes rows every tenant reads",
        )
    };
    if !ways.relations.is_empty() {
        let relations = ways
            .relations
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        f.add(
            id,
            format!("table {table}"),
            format!(
                "a session of `{}` writes `{table}` by writing {relations} (through the views, rules, triggers, constraints, cascading foreign keys, inheritance or foreign tables in between, and the roles it acts as): {what}",
                o.app_role
            ),
            format!(
                "revoke the writes on {relations} (from `{}`, its logins and the roles they act as), or take out what carries them to `{table}`; write `{table}` through Tenancy::admin",
                o.app_role
            ),
        );
    }
    for (name, callable) in &ways.definers {
        let Some(r) = catalog.routines.iter().find(|r| &r.name == name) else {
            continue;
        };
        let by = catalog.run_by(&r.role, &o.app_role);
        let how = if *callable {
            format!("callable by {by}")
        } else {
            format!("fired as a trigger by the writes of {by}")
        };
        f.add(
            id,
            format!("function {name}"),
            format!(
                "SECURITY DEFINER, {how}, writes `{table}` with the rights of its owner (itself, through a function it calls, or through what the tables it writes run): {what}"
            ),
            format!(
                "REVOKE EXECUTE ON FUNCTION {name} FROM PUBLIC, {role} and write `{table}` through Tenancy::admin — or, once reviewed to write only what any tenant may, COMMENT ON FUNCTION {name} IS 'tenancy: reviewed: <why it is safe>'",
                role = o.app_role
            ),
        );
    }
}
