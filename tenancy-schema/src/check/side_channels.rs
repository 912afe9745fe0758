//! TEN077 to TEN079, TEN082, TEN083 and TEN087: tenant data read without reading a tenant
//! table, past row level security rather than through a hole in it. Each comes from a
//! superuser's change (a function marked LEAKPROOF, a grant on a catalog PostgreSQL keeps to
//! superusers, a file_fdw foreign table, EXPLAIN allowed on the application's connections) or
//! from a default the migrations change (the large-object functions and the statistics
//! counters, which PUBLIC may run), and each was shown to hand one tenant's SQL the other
//! tenants' values with every policy in place.

use super::CheckOptions;
use super::catalog::Catalog;
use super::report::Findings;

pub(super) fn check_side_channels(f: &mut Findings, catalog: &Catalog, o: &CheckOptions) {
    for function in &catalog.leakproof {
        f.add(
            "TEN077",
            format!("function {function}"),
            format!(
                "`{function}` is marked LEAKPROOF and `{}` may run it: the planner may run it on every tenant's rows before the policies filter them, so whatever it shows of its arguments (a notice, an error) shows other tenants' values",
                o.app_role
            ),
            format!(
                "ALTER FUNCTION {function} NOT LEAKPROOF (as a superuser), unless it has been reviewed to show nothing of its arguments in any way"
            ),
        );
    }
    for what in &catalog.explain_sessions {
        f.add(
            "TEN082",
            "setting tenancy_context.allow_explain",
            format!(
                "{what}: sessions of `{}` may run EXPLAIN, whose row estimates come from statistics over every tenant's rows (range conditions rebuild another tenant's frequent values and ids) and whose ANALYZE counts the rows of other tenants a scan dropped",
                o.app_role
            ),
            "RESET it where it is set (ALTER DATABASE/ROLE .. RESET tenancy_context.allow_explain); allow EXPLAIN only on a login the application does not use",
        );
    }
    for catalog_table in &catalog.statistics {
        if let Some(view) = catalog_table.strip_prefix("view ") {
            f.add(
                "TEN078",
                format!("view {view}"),
                format!(
                    "{view}, PostgreSQL's view of the planner's samples of every column's values, no longer leaves out tables under row level security, and `{}` may read it: it runs with its owner's rights and shows every tenant's most common values and histograms",
                    o.app_role
                ),
                format!(
                    "put PostgreSQL's definition of {view} back (as a superuser, with allow_system_table_mods; pg_upgrade or initdb's system_views.sql has it)"
                ),
            );
            continue;
        }
        f.add(
            "TEN078",
            format!("table {catalog_table}"),
            format!(
                "`{}` may read {catalog_table}, the planner's sample of every column's values (most common values, histograms) for every table and so every tenant; PostgreSQL shows it to others only through views that leave out tables under row level security",
                o.app_role
            ),
            format!(
                "REVOKE SELECT ON {catalog_table} FROM {}, PUBLIC (and from its logins); read pg_stats instead",
                o.app_role
            ),
        );
    }
    if !catalog.large_objects.is_empty() {
        let functions = catalog.large_objects.join(", ");
        f.add(
            "TEN083",
            "large objects",
            format!(
                "`{}` may run the large-object functions ({functions}): large objects are outside row level security and belong to the login that created them, which every tenant's transactions share, so one tenant's SQL lists, reads, overwrites and deletes the large objects another tenant's SQL stored",
                o.app_role
            ),
            format!(
                "as a superuser, SELECT tenancy.close_large_objects() (the migrations run it; run as another role it changes nothing), and REVOKE EXECUTE on them from {} and its logins (DROP a copy of one under another name, LANGUAGE internal); keep what a tenant stores in a tenant table (bytea)",
                o.app_role
            ),
        );
    }
    for relation in &catalog.server_files {
        let name = &relation.name;
        f.add(
            "TEN079",
            format!("{} {name}", relation.kind),
            format!(
                "`{}` may read {name}, a foreign table of file_fdw or a view of one: file_fdw reads a file or runs a program as the operating system user that owns the data files of every table, and a tenant table's data file holds every tenant's rows (in psql, `strings` of one through file_fdw showed both tenants' secrets to a role that row level security showed none)",
                o.app_role
            ),
            format!(
                "REVOKE SELECT ON {name} FROM {}, PUBLIC (and from its logins); load what the file holds into a table in a job of its own",
                o.app_role
            ),
        );
    }
    check_statistics_counters(f, catalog, o);
}

/// TEN087.
fn check_statistics_counters(f: &mut Findings, catalog: &Catalog, o: &CheckOptions) {
    // A few by name: as PostgreSQL ships them, all of some seventy are open.
    const SHOWN: usize = 6;
    if catalog.statistics_counters.is_empty() {
        return;
    }
    let counters = &catalog.statistics_counters;
    let mut functions = counters[..counters.len().min(SHOWN)].join(", ");
    if counters.len() > SHOWN {
        functions = format!("{functions} and {} more", counters.len() - SHOWN);
    }
    f.add(
        "TEN087",
        "statistics counters",
        format!(
            "`{}` may run PostgreSQL's statistics counters of a table, index, function or database ({functions}): they count the index entries and rows a scan read before row level security dropped other tenants' rows, so one tenant's SQL that reads `pg_stat_get_xact_tuples_returned` of an index around a range query learns whether another tenant's value falls in the range, and range by range lists every tenant's values of the indexed column (slugs, API key prefixes); currtid2 follows a row version to the newest past row level security, and tells which of other tenants' rows were updated and how often",
            o.app_role
        ),
        format!(
            "as a superuser, SELECT tenancy.close_statistics_counters() (the migrations run it; run as another role it changes nothing; monitoring keeps them through pg_read_all_stats and pg_monitor), and REVOKE EXECUTE on them from {} and the roles its logins can become, or take those roles out of pg_read_all_stats and pg_monitor (DROP a copy of one under another name, LANGUAGE internal)",
            o.app_role
        ),
    );
}
