//! TEN110: TOAST relations opened to other roles. PostgreSQL keeps each long value of a
//! table (a long `text`, `bytea` or `jsonb`) out of line, in chunks, in the table's TOAST
//! relation in schema `pg_toast`; row level security does not apply there, so whoever may
//! read it reads the chunks of every tenant's long values, and the TOAST relation of
//! `pg_statistic` holds the planner's samples of every tenant's rows. Only superusers may
//! read them as PostgreSQL ships: any grant of USAGE on `pg_toast`, any grant on a relation
//! there, and any view, materialized view or function that reads one (which reads it with
//! its owner's rights) is someone's doing. An extension's are no exception: no extension reads
//! a table's TOAST relation, and a superuser may make any view or function a member of any
//! extension (`ALTER EXTENSION plpgsql ADD VIEW ..`). Only a function's mere mention of the
//! schema (not a name in it) is left to an extension: Citus's leave `pg_toast` out by name.

use diesel::prelude::*;
use diesel::sql_types::Text;

use super::report::Findings;

/// Each opening as the object, what it opens and the statement that closes it.
const OPENINGS_SQL: &str = "
SELECT 'schema pg_toast' AS object,
       format('USAGE on schema pg_toast is granted to %s', string_agg(
         CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END, ', '
         ORDER BY a.grantee)) AS what,
       format('REVOKE USAGE ON SCHEMA pg_toast FROM %s', string_agg(
         CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END, ', '
         ORDER BY a.grantee)) AS fix
FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) a
WHERE n.oid = 'pg_toast'::regnamespace AND a.privilege_type = 'USAGE' AND a.grantee <> n.nspowner
HAVING count(*) > 0
UNION ALL
SELECT format('relation %s', c.oid::regclass),
       format('%s on %s (the TOAST relation of %s) is granted to %s', string_agg(DISTINCT a.privilege_type, ', '),
              c.oid::regclass, coalesce((SELECT o.oid::regclass::text FROM pg_class o WHERE o.reltoastrelid = c.oid), 'no table'),
              string_agg(DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END, ', ')),
       format('REVOKE ALL ON %s FROM %s', c.oid::regclass,
              string_agg(DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END, ', '))
FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
WHERE c.relnamespace = 'pg_toast'::regnamespace AND c.relacl IS NOT NULL
  AND a.grantee <> c.relowner
  AND (a.grantee = 0 OR NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.oid = a.grantee))
GROUP BY c.oid
UNION ALL
-- A view's rule, a materialized view's, or a function with a SQL-standard body records what
-- it reads, but not a relation PostgreSQL pinned (the TOAST relations of its own catalogs):
-- those are known by the text naming the schema, as any other function's are.
SELECT format('%s %s', CASE v.relkind WHEN 'm' THEN 'materialized view' ELSE 'view' END, v.oid::regclass),
       format('%s reads a TOAST relation with its owner''s rights', v.oid::regclass),
       format('DROP %s %s', CASE v.relkind WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'VIEW' END, v.oid::regclass)
FROM pg_class v
WHERE v.relkind IN ('v', 'm') AND v.oid >= 16384
  AND (EXISTS (SELECT FROM pg_rewrite rw JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = rw.oid
               JOIN pg_class t ON d.refclassid = 'pg_class'::regclass AND t.oid = d.refobjid
               WHERE rw.ev_class = v.oid AND t.relnamespace = 'pg_toast'::regnamespace)
       OR pg_get_viewdef(v.oid) ~ '\\mpg_toast\\.')
UNION ALL
SELECT format('function %s', p.oid::regprocedure),
       format('%s reads a TOAST relation', p.oid::regprocedure),
       format('DROP FUNCTION %s', p.oid::regprocedure)
FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
WHERE (EXISTS (SELECT FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid
               WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                 AND d.refclassid = 'pg_class'::regclass AND t.relnamespace = 'pg_toast'::regnamespace)
       OR (l.lanname NOT IN ('c', 'internal')
           AND concat(p.prosrc, ' ', pg_get_function_sqlbody(p.oid)) ~* '\\mpg_toast\"?\\s*\\.')
       -- Any other mention of the schema (as a name to leave out: Citus's
       -- `nspname !~ '^pg_toast'`) but in an extension's function.
       OR (l.lanname NOT IN ('c', 'internal')
           AND concat(p.prosrc, ' ', pg_get_function_sqlbody(p.oid)) ~* 'pg_toast'
           AND NOT EXISTS (SELECT FROM pg_depend x WHERE x.classid = 'pg_proc'::regclass AND x.objid = p.oid
                             AND x.deptype = 'e')))
  AND (p.pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace) OR p.oid >= 16384)
ORDER BY 1";

#[derive(QueryableByName)]
struct Opening {
    #[diesel(sql_type = Text)]
    object: String,
    #[diesel(sql_type = Text)]
    what: String,
    #[diesel(sql_type = Text)]
    fix: String,
}

pub(super) fn check_toast(f: &mut Findings, conn: &mut PgConnection) -> QueryResult<()> {
    for o in diesel::sql_query(OPENINGS_SQL).load::<Opening>(conn)? {
        f.add(
            "TEN110",
            o.object,
            format!(
                "{}: TOAST relations hold the long values of every tenant's rows (and pg_statistic's, the planner's samples of them) in chunks, where row level security does not apply, and only superusers read them as PostgreSQL ships",
                o.what
            ),
            o.fix,
        );
    }
    Ok(())
}
