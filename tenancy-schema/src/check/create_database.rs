//! TEN097: the application role, a login of it, or a role they may become, with CREATEDB. No
//! tenant's rows are copied by it (PostgreSQL clones only a template or a database the role
//! owns), so it is a warning; but a tenant's SQL that may create databases creates objects
//! outside everything this check reads, owns them, and may exhaust the server's connections
//! and storage for every tenant. The application needs none of it.

use diesel::prelude::*;
use diesel::sql_types::Text;

use super::CheckOptions;
use super::catalog::Catalog;
use super::report::Findings;

/// Each of `$1` that has CREATEDB.
const CREATEDB_SQL: &str = "
SELECT r.rolname::text AS name FROM pg_roles r
WHERE r.rolcreatedb AND r.rolname = ANY ($1)
ORDER BY 1";

#[derive(QueryableByName)]
struct NameRow {
    #[diesel(sql_type = Text)]
    name: String,
}

pub(super) fn check_create_database(
    f: &mut Findings,
    conn: &mut PgConnection,
    catalog: &Catalog,
    o: &CheckOptions,
) -> QueryResult<()> {
    for r in catalog.ask_of_reachable::<NameRow>(conn, CREATEDB_SQL)? {
        f.add(
            "TEN097",
            format!("role {}", r.name),
            format!(
                "`{}` has CREATEDB and sessions of `{}` act as it: a tenant's SQL may create databases, objects no check reads, and spend the server's storage and connections for every tenant",
                r.name, o.app_role
            ),
            format!("ALTER ROLE \"{}\" NOCREATEDB", r.name),
        );
    }
    Ok(())
}
