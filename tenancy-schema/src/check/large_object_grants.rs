//! TEN092: large objects the application's sessions may read or write. Large objects are
//! outside row level security: one has an owner and an ACL, nothing else, and no tenant. A
//! grant on one (or its ownership) to the application role, a role its sessions may become,
//! or PUBLIC, is one every tenant's SQL holds alike; TEN083 keeps the functions that reach
//! them away from the application, and this keeps the objects themselves from being one
//! grant of EXECUTE away from every tenant. The catalog that holds their contents,
//! `pg_largeobject`, readable or writable by them, is every large object at once.

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text};

use super::CheckOptions;
use super::catalog::Catalog;
use super::report::Findings;

/// How many large objects one of `$1` owns, or whose ACL grants it or PUBLIC a privilege.
const OPEN_LARGE_OBJECTS_SQL: &str = "
SELECT count(*) AS n, coalesce(string_agg(m.oid::text, ', ' ORDER BY m.oid), '') AS listed
FROM (SELECT m.oid FROM pg_largeobject_metadata m
      WHERE pg_get_userbyid(m.lomowner) = ANY ($1)
         OR EXISTS (SELECT FROM aclexplode(m.lomacl) a
                    WHERE a.grantee = 0 OR pg_get_userbyid(a.grantee) = ANY ($1))
      ORDER BY m.oid LIMIT 20) m";

/// Whether one of `$1` may read or write `pg_catalog.pg_largeobject` (a column of it too).
const CONTENTS_SQL: &str = "
SELECT count(*) AS n, coalesce(string_agg(r.name, ', ' ORDER BY r.name), '') AS listed
FROM (SELECT oid, rolname::text AS name FROM pg_roles WHERE rolname = ANY ($1)) r
WHERE has_any_column_privilege(r.oid, 'pg_catalog.pg_largeobject', 'SELECT, INSERT, UPDATE')
   OR has_table_privilege(r.oid, 'pg_catalog.pg_largeobject', 'DELETE, TRUNCATE')";

#[derive(QueryableByName)]
struct OpenRow {
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = Text)]
    /// The large objects, or the roles, comma-separated (at most twenty objects).
    listed: String,
}

pub(super) fn check_large_object_grants(
    f: &mut Findings,
    conn: &mut PgConnection,
    catalog: &Catalog,
    o: &CheckOptions,
) -> QueryResult<()> {
    if !catalog.role.exists {
        return Ok(());
    }
    let open: OpenRow = diesel::sql_query(OPEN_LARGE_OBJECTS_SQL)
        .bind::<Array<Text>, _>(&catalog.reachable)
        .get_result(conn)?;
    let contents: OpenRow = diesel::sql_query(CONTENTS_SQL)
        .bind::<Array<Text>, _>(&catalog.reachable)
        .get_result(conn)?;
    if contents.n > 0 {
        f.add(
            "TEN092",
            "table pg_largeobject",
            format!(
                "{} may read or write pg_largeobject, and sessions of `{}` act as them: every large object's contents, whoever owns it and whatever its ACL",
                contents.listed, o.app_role
            ),
            format!(
                "REVOKE ALL ON pg_catalog.pg_largeobject FROM PUBLIC, {} (and each column grant)",
                contents.listed
            ),
        );
    }
    if open.n > 0 {
        f.add(
            "TEN092",
            "large objects",
            format!(
                "large objects {} are owned by, or granted to, `{}`, a role its sessions may become, or PUBLIC: they belong to no tenant and row level security does not cover them, so every tenant's SQL holds the same rights on them",
                open.listed, o.app_role
            ),
            "keep tenant data out of large objects (a bytea column of a tenant table); REVOKE ALL ON LARGE OBJECT <oid> FROM PUBLIC and the application's roles, or ALTER LARGE OBJECT <oid> OWNER TO a role the application cannot become",
        );
    }
    Ok(())
}
