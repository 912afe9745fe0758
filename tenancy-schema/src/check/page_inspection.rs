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
use diesel::sql_types::{Array, Text};

use super::CheckOptions;
use super::catalog::Catalog;
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

/// Each function of an extension of `$2` one of `$1` may run, and each relation of one it may
/// read, with the extension. (Asked by OID: a role dropped while this runs answers NULL.)
const OPEN_SQL: &str = "
WITH roles AS (SELECT oid FROM pg_roles WHERE rolname = ANY ($1)),
members AS (
  SELECT e.extname::text AS extension, d.classid, d.objid
  FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
  WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e' AND e.extname = ANY ($2)
)
SELECT m.extension, format('function %s', m.objid::regprocedure) AS name
FROM members m
WHERE m.classid = 'pg_proc'::regclass
  AND EXISTS (SELECT FROM roles r WHERE has_function_privilege(r.oid, m.objid, 'EXECUTE'))
UNION ALL
SELECT m.extension, format('view %s', m.objid::regclass)
FROM members m
WHERE m.classid = 'pg_class'::regclass
  AND EXISTS (SELECT FROM roles r WHERE has_any_column_privilege(r.oid, m.objid, 'SELECT'))
ORDER BY 1, 2";

#[derive(QueryableByName)]
struct OpenRow {
    #[diesel(sql_type = Text)]
    extension: String,
    #[diesel(sql_type = Text)]
    name: String,
}

pub(super) fn check_page_inspection(
    f: &mut Findings,
    conn: &mut PgConnection,
    catalog: &Catalog,
    o: &CheckOptions,
) -> QueryResult<()> {
    if !catalog.role.exists {
        return Ok(());
    }
    let rows: Vec<OpenRow> = diesel::sql_query(OPEN_SQL)
        .bind::<Array<Text>, _>(&catalog.reachable)
        .bind::<Array<Text>, _>(EXTENSIONS)
        .load(conn)?;
    for r in rows {
        let revoke = match r.name.split_once(' ') {
            Some(("function", what)) => format!("REVOKE EXECUTE ON FUNCTION {what}"),
            Some((_, what)) => format!("REVOKE SELECT ON {what}"),
            None => format!("REVOKE ALL ON {}", r.name),
        };
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
