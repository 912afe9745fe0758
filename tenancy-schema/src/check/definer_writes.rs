//! TEN057 and TEN053 through a SECURITY DEFINER function: one that the application role may
//! call, or that a trigger runs on its writes, and that writes a global table (or the tenants
//! table) with its owner's rights hands that write to every tenant's SQL, as a grant of the
//! table would. The grant rules look at the application role's own privileges only.

use std::collections::BTreeSet;

use super::CheckOptions;
use super::catalog::{Catalog, reviewed};
use super::definers::helpers;
use super::functions::Tenancys;
use super::report::Findings;
use super::triggers::changed_tables;
use crate::{TableKind, TableManifest};

pub(super) fn check_definer_writes(
    f: &mut Findings,
    catalog: &Catalog,
    registry: &[&TableManifest],
    o: &CheckOptions,
    tenancys: &Tenancys,
) {
    // What every tenant reads: the global tables (those reached only through reviewed
    // functions aside), and the tenants table, whose rows decide which tenants may work.
    let shared: BTreeSet<&str> = registry
        .iter()
        .filter(|m| m.kind == TableKind::Global)
        .map(|m| m.table)
        .chain([o.tenants_table.as_str()])
        .filter(|t| catalog.tables.get(*t).is_some_and(|t| !t.private))
        .collect();
    for r in &catalog.routines {
        if reviewed(r.comment.as_deref()) {
            continue;
        }
        // A helper it calls (SECURITY INVOKER) writes with the definer's owner's rights too.
        let mut changed: BTreeSet<String> =
            changed_tables(&r.source, &r.language).into_iter().collect();
        for helper in helpers(&r.source, &catalog.functions, tenancys) {
            changed.extend(changed_tables(&helper.body, &helper.language));
        }
        for table in changed
            .iter()
            .filter(|t| shared.contains(t.as_str()) && r.owner_writes.iter().any(|w| w == *t))
        {
            let (id, what) = if *table == o.tenants_table {
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
            let by = catalog.run_by(&r.role, &o.app_role);
            let how = if r.callable {
                format!("callable by {by}")
            } else {
                format!("fired as a trigger by the writes of {by}")
            };
            f.add(
                id,
                format!("function {}", r.name),
                format!(
                    "SECURITY DEFINER, {how}, writes `{table}` with the rights of its owner, who may write it: {what}"
                ),
                format!(
                    "REVOKE EXECUTE ON FUNCTION {name} FROM PUBLIC, {role} and write `{table}` through Tenancy::admin — or, once reviewed to write only what any tenant may, COMMENT ON FUNCTION {name} IS 'tenancy: reviewed: <why it is safe>'",
                    name = r.name,
                    role = o.app_role
                ),
            );
        }
    }
}
