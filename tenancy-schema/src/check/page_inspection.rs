//! TEN099: functions and views of PostgreSQL's contrib extensions that read a relation's
//! pages, tuples or locks below row level security, open to the application's sessions.
//! `pgstattuple` counts every tenant's live and dead tuples, `pgrowlocks` lists every locked
//! row of a table the caller may SELECT (which row another tenant is updating right now),
//! `pg_visibility`, `pg_freespacemap` and `pg_buffercache` describe each page, `pageinspect`
//! returns the pages' bytes, `pg_walinspect` lists the write-ahead log's records (each
//! tenant's insert, update and delete: the relation, the block, the record's length; from
//! PostgreSQL 16 the block's data). Row level security filters query results, not these: each
//! is TEN087's counters, or more, for whichever tenant table the caller names.

use diesel::prelude::*;

use super::CheckOptions;
use super::catalog::Catalog;
use super::extension_members::open_members;
use super::report::Findings;

/// The extensions whose functions and views read below row level security.
const EXTENSIONS: &[&str] = &[
    "pgstattuple",
    "pgrowlocks",
    "pg_visibility",
    "pg_freespacemap",
    "pg_buffercache",
    "pageinspect",
    // pg_get_wal_record_info, pg_get_wal_records_info, pg_get_wal_stats and, from PostgreSQL
    // 16, pg_get_wal_block_info: every member is reported.
    "pg_walinspect",
];

pub(super) fn check_page_inspection(
    f: &mut Findings,
    conn: &mut PgConnection,
    catalog: &Catalog,
    o: &CheckOptions,
) -> QueryResult<()> {
    if !catalog.role.exists {
        return Ok(());
    }
    for r in open_members(conn, &catalog.reachable, EXTENSIONS, &[])? {
        let revoke = r.revoke();
        f.add(
            "TEN099",
            &r.name,
            format!(
                "{} of extension {} reads a relation's pages, tuples or locks below row level security, and sessions of `{}` may use it: one tenant's SQL learns of every tenant's rows (how many, which are locked, their bytes)",
                r.name, r.extension, o.app_role
            ),
            format!(
                "{revoke} FROM PUBLIC, {} (and its logins); or DROP EXTENSION {} where nobody needs it",
                o.app_role, r.extension
            ),
        );
    }
    Ok(())
}
