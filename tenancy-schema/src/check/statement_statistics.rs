//! TEN112: the `pg_stat_statements` extension's statistics open to the application's
//! sessions. Its view and the function behind it (`pg_stat_statements(boolean)`) are granted
//! to PUBLIC when the extension is created, and show a role every counter of the statements
//! its own role ran (text, calls, rows, time), whichever session ran them. Every tenant's
//! session is the same login, so one tenant reads the `calls` and `rows` of the very
//! normalised statements another tenant runs: whether that tenant's lookup found a row, how
//! many rows its list returned, how often it ran. `pg_stat_statements_info` (deallocations,
//! the last reset) tells nothing of a statement, and `pg_stat_statements_reset` is kept from
//! PUBLIC by the extension: neither is reported.

use diesel::prelude::*;
use diesel::sql_types::{Array, Text};

use super::CheckOptions;
use super::catalog::Catalog;
use super::report::Findings;

/// Each function of extension pg_stat_statements (but `_info` and `_reset`) one of `$1` may
/// run, and each view of it one may read.
const OPEN_SQL: &str = "
WITH roles AS (SELECT oid FROM pg_roles WHERE rolname = ANY ($1)),
members AS (
  SELECT d.classid, d.objid
  FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
  WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
    AND e.extname = 'pg_stat_statements'
)
SELECT format('function %s', m.objid::regprocedure) AS name
FROM members m JOIN pg_proc p ON p.oid = m.objid
WHERE m.classid = 'pg_proc'::regclass
  AND p.proname NOT IN ('pg_stat_statements_info', 'pg_stat_statements_reset')
  AND EXISTS (SELECT FROM roles r WHERE has_function_privilege(r.oid, m.objid, 'EXECUTE'))
UNION ALL
SELECT format('view %s', m.objid::regclass)
FROM members m JOIN pg_class c ON c.oid = m.objid
WHERE m.classid = 'pg_class'::regclass
  AND c.relname <> 'pg_stat_statements_info'
  AND EXISTS (SELECT FROM roles r WHERE has_any_column_privilege(r.oid, m.objid, 'SELECT'))
ORDER BY 1";

#[derive(QueryableByName)]
struct OpenRow {
    #[diesel(sql_type = Text)]
    name: String,
}

pub(super) fn check_statement_statistics(
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
        .load(conn)?;
    for r in rows {
        let revoke = match r.name.split_once(' ') {
            Some(("function", what)) => format!("REVOKE EXECUTE ON FUNCTION {what}"),
            Some((_, what)) => format!("REVOKE SELECT ON {what}"),
            None => format!("REVOKE ALL ON {}", r.name),
        };
        f.add(
            "TEN112",
            &r.name,
            format!(
                "{} of extension pg_stat_statements is open to sessions of `{}`: it counts each normalised statement per role, and every tenant runs as the same login, so one tenant reads the calls and rows of the statements another tenant runs (whether its lookup found a row, how many rows its list returned, how often)",
                r.name, o.app_role
            ),
            format!(
                "REVOKE SELECT ON pg_stat_statements FROM PUBLIC, {role}; REVOKE EXECUTE ON FUNCTION pg_stat_statements(boolean) FROM PUBLIC, {role} (here: {revoke} FROM PUBLIC, {role}, and from its logins and the roles they act as); read it as a monitoring role the application cannot become",
                role = o.app_role
            ),
        );
    }
    Ok(())
}
