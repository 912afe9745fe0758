//! TEN114: a function in C or `internal` that PostgreSQL did not ship and no extension
//! installed, which the application's sessions may run. Such a function is a new name for any
//! symbol of the server or of a library in its directory: contrib code that counts every
//! tenant's tuples (pgstattuple's), writes the server's files (adminpack's, `postgresql.auto.conf`
//! among them) or reads them (`pg_read_file`'s), with none of the grants that guard it under
//! its own name. Only a superuser creates one; the rules about extensions (TEN099) and
//! PostgreSQL's own functions (TEN108) see neither the new name nor what it calls.

use diesel::prelude::*;
use diesel::sql_types::Text;

use super::CheckOptions;
use super::catalog::Catalog;
use super::report::Findings;

/// The functions in C or `internal` that are not initdb's (an oid below 16384, PostgreSQL's
/// `FirstNormalObjectId`) nor an extension's member, that one of `$1` may run, with the
/// library and the symbol they call.
const NATIVE_FUNCTIONS_SQL: &str = "
SELECT p.oid::regprocedure::text AS name, l.lanname::text AS language,
       coalesce(p.probin, '') AS library, p.prosrc::text AS symbol
FROM pg_proc p
JOIN pg_language l ON l.oid = p.prolang
WHERE l.lanname IN ('c', 'internal')
  -- An aggregate is `internal` by construction (`aggregate_dummy`); its support functions
  -- are rows of their own.
  AND p.prokind <> 'a'
  AND p.oid >= 16384
  -- The constructors PostgreSQL makes with a range type, part of the type (an internal
  -- dependency on it).
  AND NOT (p.prosrc IN ('range_constructor2', 'range_constructor3', 'multirange_constructor0',
                        'multirange_constructor1', 'multirange_constructor2')
           AND EXISTS (SELECT FROM pg_depend d
                       WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                         AND d.refclassid = 'pg_type'::regclass AND d.deptype = 'i'))
  AND NOT EXISTS (SELECT FROM pg_depend d
                  WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
  AND EXISTS (SELECT FROM (SELECT oid FROM pg_roles WHERE rolname = ANY ($1)) r
              WHERE has_function_privilege(r.oid, p.oid, 'EXECUTE'))
ORDER BY 1";

#[derive(QueryableByName)]
struct NativeFunction {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    language: String,
    #[diesel(sql_type = Text)]
    library: String,
    #[diesel(sql_type = Text)]
    symbol: String,
}

pub(super) fn check_native_code(
    f: &mut Findings,
    conn: &mut PgConnection,
    catalog: &Catalog,
    o: &CheckOptions,
) -> QueryResult<()> {
    for r in catalog.ask_of_reachable::<NativeFunction>(conn, NATIVE_FUNCTIONS_SQL)? {
        let calls = if r.library.is_empty() {
            format!("the server's `{}`", r.symbol)
        } else {
            format!("`{}` of {}", r.symbol, r.library)
        };
        f.add(
            "TEN114",
            format!("function {}", r.name),
            format!(
                "{} is written in {} and calls {}, yet no extension installed it and PostgreSQL did not ship it; sessions of `{}` may run it: native code reads and writes below row level security (every tenant's rows, the server's files) and keeps none of the grants that guard it under its own name",
                r.name, r.language, calls, o.app_role
            ),
            format!(
                "as a superuser: DROP FUNCTION {}; or, where it is wanted, REVOKE EXECUTE ON FUNCTION {} FROM PUBLIC, {} (and its logins)",
                r.name, r.name, o.app_role
            ),
        );
    }
    Ok(())
}
