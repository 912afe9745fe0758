//! TEN076 through views: a view or materialized view the application's sessions may read that
//! reads a foreign table, directly or through other views, with its owner's rights. A foreign
//! table is read through the user mapping of the role whose rights the query has at that point
//! (the view's owner; a materialized view's owner when it is refreshed), so the owner's mapping,
//! or PUBLIC's, logs in as whoever it names: a loopback postgres_fdw mapping to a superuser
//! reads every tenant's rows, or the context key, and the view hands them out. The mappings of
//! the roles a session acts as itself are [`super::elsewhere::check_foreign_servers`]'s.

use diesel::prelude::*;
use diesel::sql_types::Text;

use super::CheckOptions;
use super::catalog::{Catalog, for_each_role};
use super::report::Findings;

/// For the role `$1`: each view or materialized view it may read, the foreign tables it reads
/// through any chain of views, the role whose rights each is read with, and the server and
/// mapping used. A view that runs as its caller (`security_invoker`) keeps the rights it is
/// read with; any other view, and a materialized view, has its owner's. Mappings for `$1`
/// itself are left out: reading the foreign table directly uses them as much.
const VIEW_MAPPINGS_SQL: &str = "
SELECT * FROM (
WITH RECURSIVE walk (top, rel, runs_as) AS (
  SELECT c.oid, c.oid,
         CASE WHEN c.relkind = 'v' AND coalesce(c.reloptions::text[] && ARRAY['security_invoker=true',
                     'security_invoker=on', 'security_invoker=1'], false)
              THEN (SELECT r.oid FROM pg_roles r WHERE r.rolname = $1) ELSE c.relowner END
  FROM pg_class c
  WHERE c.relkind IN ('v', 'm')
    AND has_schema_privilege($1, c.relnamespace, 'USAGE')
    AND has_any_column_privilege($1, c.oid, 'SELECT')
  UNION
  SELECT w.top, b.oid,
         CASE WHEN b.relkind = 'm' OR (b.relkind = 'v' AND NOT coalesce(b.reloptions::text[] &&
                     ARRAY['security_invoker=true', 'security_invoker=on', 'security_invoker=1'], false))
              THEN b.relowner ELSE w.runs_as END
  FROM walk w
  JOIN pg_rewrite r ON r.ev_class = w.rel
  JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                  AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> w.rel
  JOIN pg_class b ON b.oid = d.refobjid
)
SELECT DISTINCT CASE t.relkind WHEN 'm' THEN 'materialized view' ELSE 'view' END AS kind,
       t.oid::regclass::text AS relation, f.oid::regclass::text AS foreign_table,
       s.srvname::text AS server, pg_get_userbyid(w.runs_as)::text AS runs_as,
       CASE WHEN m.umuser = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(m.umuser)::text END AS mapped_for
FROM walk w
JOIN pg_class t ON t.oid = w.top
JOIN pg_class f ON f.oid = w.rel AND f.relkind = 'f'
JOIN pg_foreign_table ft ON ft.ftrelid = f.oid
JOIN pg_foreign_server s ON s.oid = ft.ftserver
-- PostgreSQL takes the mapping of the user itself, else PUBLIC's.
JOIN pg_user_mapping m ON m.umserver = s.oid
  AND (m.umuser = w.runs_as
       OR (m.umuser = 0 AND NOT EXISTS (SELECT FROM pg_user_mapping u
                                        WHERE u.umserver = s.oid AND u.umuser = w.runs_as)))
WHERE w.runs_as IS DISTINCT FROM (SELECT r.oid FROM pg_roles r WHERE r.rolname = $1)
) found";

#[derive(QueryableByName)]
struct ViewMappingRow {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    relation: String,
    #[diesel(sql_type = Text)]
    foreign_table: String,
    #[diesel(sql_type = Text)]
    server: String,
    #[diesel(sql_type = Text)]
    runs_as: String,
    #[diesel(sql_type = Text)]
    mapped_for: String,
}

pub(super) fn check_view_mappings(
    f: &mut Findings,
    conn: &mut PgConnection,
    catalog: &Catalog,
    o: &CheckOptions,
) -> QueryResult<()> {
    let mut rows =
        catalog.ask_of_reachable::<ViewMappingRow>(conn, &for_each_role(VIEW_MAPPINGS_SQL))?;
    rows.sort_by(|a, b| {
        (&a.relation, &a.foreign_table, &a.server, &a.runs_as).cmp(&(
            &b.relation,
            &b.foreign_table,
            &b.server,
            &b.runs_as,
        ))
    });
    rows.dedup_by(|a, b| {
        (&a.relation, &a.foreign_table, &a.server, &a.runs_as)
            == (&b.relation, &b.foreign_table, &b.server, &b.runs_as)
    });
    for r in rows {
        f.add(
            "TEN076",
            format!("{} {}", r.kind, r.relation),
            format!(
                "`{}` may read {} {}, which reads foreign table {} of server {} with the rights of `{}`: the user mapping for {} connects as the user it names, whom the tenant policies may not bind, and the {} hands what that user reads (every tenant's rows, the context key) to every tenant",
                o.app_role, r.kind, r.relation, r.foreign_table, r.server, r.runs_as, r.mapped_for, r.kind
            ),
            format!(
                "DROP USER MAPPING FOR {} SERVER {} (or REVOKE SELECT ON {} FROM {}, PUBLIC)",
                r.mapped_for, r.server, r.relation, o.app_role
            ),
        );
    }
    Ok(())
}
