//! TEN108: a function or view PostgreSQL ships was changed after this database was created.
//! tenancy's context functions and policies, and the catalog views PostgreSQL filters by row
//! level security (`pg_stats`), rest on PostgreSQL's own functions and views doing what they
//! did when `initdb` made them. A superuser can replace one in place (`CREATE OR REPLACE
//! FUNCTION pg_catalog.sha256`), change what the planner may assume of it (`ALTER FUNCTION
//! pg_catalog.currval IMMUTABLE`, which freezes a context read into a cached plan), or
//! redefine a system view (`pg_roles`, `pg_stats`): its oid stays PostgreSQL's, so the checks
//! of functions and operators PostgreSQL did not create do not see it.
//!
//! A row PostgreSQL made at `initdb` was copied into this database when it was created, with
//! the transaction id that wrote it; a row changed since carries a newer one. A function whose
//! row changed with its privileges untouched (`proacl` still empty: a GRANT or REVOKE, which
//! hardening scripts run on built-ins, always writes them) had its definition changed; a view's
//! rewrite rule only changes with its definition. A warning, not an error: the row stays newer
//! once the definition is put back, and only a reviewer can tell a restored function from a
//! replaced one.

use diesel::prelude::*;
use diesel::sql_types::Text;

use super::report::Findings;

/// The functions and views below the first oid an ordinary object gets whose catalog rows were
/// written after the database was (both ages from the same current transaction).
const CHANGED_SQL: &str = "
SELECT 'function pg_catalog.' || p.oid::regprocedure::text AS object, 'function' AS kind
  FROM pg_proc p, pg_database d
 WHERE d.datname = current_database() AND p.oid < 16384 AND p.proacl IS NULL
   AND age(p.xmin) < age(d.xmin)
UNION ALL
SELECT DISTINCT 'view ' || r.ev_class::regclass::text, 'view'
  FROM pg_rewrite r, pg_database d
 WHERE d.datname = current_database() AND r.ev_class < 16384
   AND age(r.xmin) < age(d.xmin)
ORDER BY 1";

#[derive(QueryableByName)]
struct Changed {
    #[diesel(sql_type = Text)]
    object: String,
    #[diesel(sql_type = Text)]
    kind: String,
}

pub(super) fn check_shipped_objects(f: &mut Findings, conn: &mut PgConnection) -> QueryResult<()> {
    let changed: Vec<Changed> = diesel::sql_query(CHANGED_SQL).load(conn)?;
    for c in changed {
        let (what, fix) = if c.kind == "function" {
            (
                "its definition, volatility, strictness or leakproofness was changed after this database was created: tenancy's context functions, its policies and PostgreSQL's own views call PostgreSQL's functions as initdb made them, and a replaced one can answer another tenant's context or rows",
                "find who changed it; restore PostgreSQL's definition (as in a database created from template0, `CREATE DATABASE .. TEMPLATE template0`), or move the data to a new database",
            )
        } else {
            (
                "its definition was changed after this database was created: PostgreSQL's views filter what they show (pg_stats by row level security, pg_roles the superuser flag tenancy trusts), and a redefined one shows or claims what initdb's does not",
                "find who changed it; restore PostgreSQL's definition (as in a database created from template0), or move the data to a new database",
            )
        };
        f.add("TEN108", &c.object, format!("{} {what}", c.object), fix);
    }
    Ok(())
}
