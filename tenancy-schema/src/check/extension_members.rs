//! The members of contrib extensions that the application's sessions may use: each function
//! one of the reachable roles may run and each view or table one may read. Lints that find an
//! extension whose members read below row level security (TEN099, TEN112) ask this one
//! question and suggest the same `REVOKE`.

use diesel::prelude::*;
use diesel::sql_types::{Array, Text};

/// Each function of an extension of `$2` one of `$1` may run, and each relation of one it may
/// read, with the extension; members named in `$3` are left out. (Asked by OID: a role dropped
/// while this runs answers NULL.)
const OPEN_SQL: &str = "
WITH roles AS (SELECT oid FROM pg_roles WHERE rolname = ANY ($1)),
members AS (
  SELECT e.extname::text AS extension, d.classid, d.objid
  FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
  WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e' AND e.extname = ANY ($2)
)
SELECT m.extension, format('function %s', m.objid::regprocedure) AS name
FROM members m JOIN pg_proc p ON p.oid = m.objid
WHERE m.classid = 'pg_proc'::regclass
  AND p.proname <> ALL ($3)
  AND EXISTS (SELECT FROM roles r WHERE has_function_privilege(r.oid, m.objid, 'EXECUTE'))
UNION ALL
SELECT m.extension, format('view %s', m.objid::regclass)
FROM members m JOIN pg_class c ON c.oid = m.objid
WHERE m.classid = 'pg_class'::regclass
  AND c.relname <> ALL ($3)
  AND EXISTS (SELECT FROM roles r WHERE has_any_column_privilege(r.oid, m.objid, 'SELECT'))
ORDER BY 1, 2";

/// A member of an extension the application's sessions may use.
#[derive(QueryableByName)]
pub(super) struct OpenMember {
    #[diesel(sql_type = Text)]
    pub(super) extension: String,
    /// `function <signature>` or `view <name>`.
    #[diesel(sql_type = Text)]
    pub(super) name: String,
}

impl OpenMember {
    /// The `REVOKE` that closes this member, up to its `FROM`.
    pub(super) fn revoke(&self) -> String {
        match self.name.split_once(' ') {
            Some(("function", what)) => format!("REVOKE EXECUTE ON FUNCTION {what}"),
            Some((_, what)) => format!("REVOKE SELECT ON {what}"),
            None => format!("REVOKE ALL ON {}", self.name),
        }
    }
}

/// The members of `extensions`, but those named in `except`, that one of `roles` may use.
pub(super) fn open_members(
    conn: &mut PgConnection,
    roles: &[String],
    extensions: &[&str],
    except: &[&str],
) -> QueryResult<Vec<OpenMember>> {
    diesel::sql_query(OPEN_SQL)
        .bind::<Array<Text>, _>(roles)
        .bind::<Array<Text>, _>(extensions)
        .bind::<Array<Text>, _>(except)
        .load(conn)
}
