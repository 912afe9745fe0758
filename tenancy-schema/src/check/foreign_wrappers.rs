//! TEN093: foreign-data wrappers and foreign servers the application's sessions may use.
//! USAGE on a wrapper lets a role create servers of it, and USAGE on a server lets it create a
//! user mapping for itself and foreign tables: a tenant's SQL then opens connections out of
//! the database server (to this very cluster, as any user whose password it learns) or reads
//! through the wrapper whatever it reaches, none of it under row level security. TEN076 is
//! the mapping that already exists; this is the right to make one.

use diesel::prelude::*;
use diesel::sql_types::Text;

use super::CheckOptions;
use super::catalog::Catalog;
use super::report::Findings;

/// Each foreign-data wrapper and foreign server one of `$1` may use, with the roles. (Asked
/// by OID: a role dropped while this runs answers NULL rather than failing the check.)
const USABLE_SQL: &str = "
SELECT format('foreign-data wrapper %s', w.fdwname) AS object,
       string_agg(r.name, ', ' ORDER BY r.name) AS roles
FROM pg_foreign_data_wrapper w CROSS JOIN (SELECT oid, rolname::text AS name FROM pg_roles WHERE rolname = ANY ($1)) r
WHERE has_foreign_data_wrapper_privilege(r.oid, w.oid, 'USAGE')
GROUP BY 1
UNION ALL
SELECT format('server %s', s.srvname), string_agg(r.name, ', ' ORDER BY r.name)
FROM pg_foreign_server s CROSS JOIN (SELECT oid, rolname::text AS name FROM pg_roles WHERE rolname = ANY ($1)) r
WHERE has_server_privilege(r.oid, s.oid, 'USAGE')
GROUP BY 1
ORDER BY 1";

#[derive(QueryableByName)]
struct UsableRow {
    #[diesel(sql_type = Text)]
    object: String,
    #[diesel(sql_type = Text)]
    roles: String,
}

pub(super) fn check_foreign_wrappers(
    f: &mut Findings,
    conn: &mut PgConnection,
    catalog: &Catalog,
    o: &CheckOptions,
) -> QueryResult<()> {
    for r in catalog.ask_of_reachable::<UsableRow>(conn, USABLE_SQL)? {
        let (kind, name) = r.object.rsplit_once(' ').unwrap_or(("", &r.object));
        let sql_kind = if kind == "server" {
            "FOREIGN SERVER"
        } else {
            "FOREIGN DATA WRAPPER"
        };
        f.add(
            "TEN093",
            &r.object,
            format!(
                "{} may use {kind} `{name}` (sessions of `{}` act as them): a tenant's SQL can create its own servers, user mappings or foreign tables and read or connect through them, outside row level security",
                r.roles, o.app_role
            ),
            format!("REVOKE USAGE ON {sql_kind} {name} FROM PUBLIC, {}", r.roles),
        );
    }
    Ok(())
}
