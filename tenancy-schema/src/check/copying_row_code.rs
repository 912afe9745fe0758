//! TEN075, from the other side: row code on a table that holds no tenant rows (a global table
//! of the checked schema) that reads a tenant table, or the context key, and puts what it read
//! where every tenant reads. It runs with the rights of whoever writes its table: a session of
//! the application copies its own tenant's rows out, and the admin path, the control plane or
//! the table's owner copies every tenant's, past the policies. So does a foreign key's action,
//! which PostgreSQL runs as the owner of the referencing table, and an index expression, which
//! ANALYZE (autovacuum's too) runs as the table's owner. Where it puts them: a table of
//! `catalog.shared` it writes, itself or through the row code of what it writes, or, for a
//! `BEFORE ROW` trigger or a column's default, the row of its own table when that table is one.

use std::collections::BTreeSet;

use super::CheckOptions;
use super::catalog::{Catalog, TriggerRow};
use super::definers::helpers;
use super::expr::has_word;
use super::functions::Tenancys;
use super::named_tables::named_tables;
use super::report::Findings;
use super::triggers::{
    Removals, on_tenant_rows, row_code_reach, shared_tables, shared_written, with_their_row_code,
};

pub(super) fn check_copying_row_code(
    f: &mut Findings,
    catalog: &Catalog,
    protected: &BTreeSet<String>,
    o: &CheckOptions,
    tenancys: &Tenancys,
) {
    let shared = shared_tables(catalog, protected);
    for t in &catalog.triggers {
        if on_tenant_rows(t, catalog, protected) {
            continue;
        }
        let Some(reach) = row_code_reach(t, catalog, tenancys, Removals::Left) else {
            continue;
        };
        let read = what_it_reads(t, catalog, protected, tenancys);
        if read.is_empty() {
            continue;
        }
        let (reach, written) =
            with_their_row_code(reach, catalog, protected, tenancys, Removals::Left);
        let mut sinks = shared_written(&reach, &written, &shared);
        // A BEFORE ROW trigger (the row it returns) and a column's default put what they
        // compute into the row of their own table.
        if t.fills_row && shared.contains(t.table_name.as_str()) {
            sinks.insert(t.table_name.clone());
        }
        if sinks.is_empty() {
            continue;
        }
        let read = read.into_iter().collect::<Vec<_>>().join(", ");
        let sinks = sinks.into_iter().collect::<Vec<_>>().join(", ");
        f.add(
            "TEN075",
            &t.name,
            format!(
                "it reads {read} (itself or through a function it calls) and {} {sinks}, which no policy keeps to a tenant and which `{}` may read: whoever writes `{}` copies what it reads there, a session of the application its own tenant's rows, the admin path or the table's owner every tenant's (a foreign key's action runs as the referencing table's owner, ANALYZE as the table's owner)",
                if reach.dynamic {
                    "builds statements at run time, which may write into"
                } else {
                    "writes (itself, through a function it calls, or through the row code of a table it writes, or as the value of its own row) into"
                },
                o.app_role,
                t.table_name
            ),
            format!(
                "take the read of {read} out of the row code, or give {sinks} the tenant column and the tenant policies (or REVOKE SELECT ON {sinks} FROM {}, PUBLIC, and from the roles its sessions act as)",
                o.app_role
            ),
        );
    }
}

/// The tenant tables (and the context key) row code `t` names, itself or in the functions it
/// calls; text that cannot be read may name any of them.
fn what_it_reads<'a>(
    t: &TriggerRow,
    catalog: &Catalog,
    protected: &'a BTreeSet<String>,
    tenancys: &Tenancys,
) -> BTreeSet<&'a str> {
    let mut bodies = vec![t.body.as_str()];
    bodies.extend(
        helpers(&t.body, &catalog.functions, tenancys)
            .into_iter()
            .map(|h| h.body.as_str()),
    );
    let mut read = BTreeSet::new();
    for body in bodies {
        match named_tables(body, protected) {
            Ok(named) => read.extend(named),
            Err(_) => read.extend(protected.iter().map(String::as_str)),
        }
        if has_word(&body.to_ascii_lowercase(), "context_key") {
            read.insert("tenancy.context_key");
        }
    }
    read
}
