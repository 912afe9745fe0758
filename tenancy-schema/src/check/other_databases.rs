//! TEN113: other databases of the server that the application role or a login of it may
//! connect to. PostgreSQL grants CONNECT on every database to PUBLIC, and the application's
//! login takes it to a second database as readily as to its own: what a session there reaches
//! is outside everything this check reads, and reaches back (a `postgres_fdw` foreign table
//! whose user mapping for PUBLIC logs in as a superuser reads this database's tenant tables,
//! every tenant's rows). A warning: the check reads only this database, and cannot say what
//! the others hold.

use diesel::prelude::*;
use diesel::sql_types::{Array, Text};

use super::CheckOptions;
use super::catalog::Catalog;
use super::report::Findings;

/// Each database but this one and the templates PostgreSQL makes (those that accept
/// connections) that one of `$1` may connect to, with those roles. (Asked by OID: a role or
/// database dropped while this runs answers NULL.)
const OTHER_DATABASES_SQL: &str = "
SELECT d.datname::text AS name, quote_ident(d.datname) AS ident,
       array_agg(r.rolname::text ORDER BY r.rolname) AS roles
FROM pg_database d CROSS JOIN pg_roles r
WHERE d.datname <> current_database() AND d.datname NOT IN ('template0', 'template1')
  AND d.datallowconn
  AND r.rolname = ANY ($1)
  AND has_database_privilege(r.oid, d.oid, 'CONNECT')
GROUP BY d.datname
ORDER BY 1";

#[derive(QueryableByName)]
struct DatabaseRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    ident: String,
    #[diesel(sql_type = Array<Text>)]
    roles: Vec<String>,
}

pub(super) fn check_other_databases(
    f: &mut Findings,
    conn: &mut PgConnection,
    catalog: &Catalog,
    o: &CheckOptions,
) -> QueryResult<()> {
    if !catalog.role.exists {
        return Ok(());
    }
    let rows: Vec<DatabaseRow> = diesel::sql_query(OTHER_DATABASES_SQL)
        .bind::<Array<Text>, _>(&catalog.app_and_logins)
        .load(conn)?;
    for d in rows {
        let who = d
            .roles
            .iter()
            .map(|r| format!("`{r}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let database = &d.ident;
        f.add(
            "TEN113",
            format!("database {}", d.name),
            format!(
                "{who} (the application role `{}` or its logins) may connect to database {database} of the same server (PUBLIC holds CONNECT on every database unless revoked): what a session there can reach is outside this check, and may reach back into this database past its policies (a postgres_fdw foreign table whose user mapping logs in as another role, dblink)",
                o.app_role
            ),
            format!(
                "REVOKE CONNECT ON DATABASE {database} FROM PUBLIC, {} (and its logins), granting it back to the roles that use that database; or check that database too",
                o.app_role
            ),
        );
    }
    Ok(())
}
