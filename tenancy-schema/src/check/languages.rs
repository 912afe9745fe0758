//! TEN094: a procedural language that runs anything, marked trusted. PostgreSQL lets only
//! superusers write functions in an untrusted language (C, `internal`, the `..u` languages
//! such as plpython3u), because such a function calls any symbol of the server or runs any
//! program as the operating-system user that owns every table's files. Marked trusted, every
//! role with USAGE on it (PUBLIC, by default) and a schema to create in (a temporary one
//! counts) writes such functions.

use diesel::prelude::*;
use diesel::sql_types::Text;

use super::CheckOptions;
use super::catalog::Catalog;
use super::report::Findings;

/// The languages marked trusted that are C, `internal`, or named as untrusted languages are,
/// with a trailing `u`, that one of `$1` may use.
const LANGUAGES_SQL: &str = "
SELECT l.lanname::text AS name
FROM pg_language l
WHERE l.lanpltrusted
  AND (l.lanname IN ('c', 'internal') OR l.lanname ~ 'u$')
  AND EXISTS (SELECT FROM (SELECT oid, rolname::text AS name FROM pg_roles WHERE rolname = ANY ($1)) r
              WHERE has_language_privilege(r.oid, l.oid, 'USAGE'))
ORDER BY 1";

#[derive(QueryableByName)]
struct LanguageRow {
    #[diesel(sql_type = Text)]
    name: String,
}

pub(super) fn check_languages(
    f: &mut Findings,
    conn: &mut PgConnection,
    catalog: &Catalog,
    o: &CheckOptions,
) -> QueryResult<()> {
    for r in catalog.ask_of_reachable::<LanguageRow>(conn, LANGUAGES_SQL)? {
        f.add(
            "TEN094",
            format!("language {}", r.name),
            format!(
                "`{}` runs anything (native code, or programs as the server's operating-system user) yet is marked trusted, and sessions of `{}` may use it: a function written in it reads every table's files past row level security",
                r.name, o.app_role
            ),
            format!(
                "as a superuser: UPDATE pg_language SET lanpltrusted = false WHERE lanname = '{}', and drop the functions in it no superuser wrote",
                r.name
            ),
        );
    }
    Ok(())
}
