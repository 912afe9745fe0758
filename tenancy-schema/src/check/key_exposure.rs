//! TEN067: the context key written out where every role reads PostgreSQL's catalogs. Whoever
//! holds the key or one of its padded keys makes a context entry for any tenant, and no grant
//! guards what the catalogs show: comments, setting defaults of databases and roles, the
//! source of functions, the definitions of views, column defaults, constraints, policies,
//! rules and triggers, the options of foreign servers and tables, and the server's
//! configuration. Copies in relations the application may read are read in
//! [`super::catalog`] with the other ways to the key.

use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

use super::catalog::{KEY_SPELLINGS, SPELLS_KEY};
use super::report::Findings;

/// Each place in the catalogs whose text spells the key or one of its pads, as `object` (what
/// holds it) and `place` (where in it, for the message and the fix).
const PLACES_SQL: &str = "
WITH k AS (KEY_SPELLINGS),
places (object, place, body) AS (
  SELECT pg_describe_object(d.classoid, d.objoid, d.objsubid), 'its comment', d.description
  FROM pg_description d
  UNION ALL
  SELECT pg_describe_object(s.classoid, s.objoid, 0), 'its comment', s.description
  FROM pg_shdescription s
  UNION ALL
  SELECT CASE WHEN s.setrole = 0 AND s.setdatabase = 0 THEN 'every role in every database'
              WHEN s.setrole = 0 THEN format('database %I', d.datname)
              WHEN s.setdatabase = 0 THEN format('role %I', r.rolname)
              ELSE format('role %I in database %I', r.rolname, d.datname) END,
         format('a setting default (%s)', split_part(c.setting, '=', 1)), c.setting
  FROM pg_db_role_setting s
  LEFT JOIN pg_roles r ON r.oid = s.setrole
  LEFT JOIN pg_database d ON d.oid = s.setdatabase
  CROSS JOIN LATERAL unnest(s.setconfig) c (setting)
  UNION ALL
  SELECT format('function %s', p.oid::regprocedure), 'its source or settings',
         concat_ws(' ', p.prosrc, p.probin, pg_get_function_sqlbody(p.oid),
                   array_to_string(p.proconfig, ' '), pg_get_function_arguments(p.oid))
  FROM pg_proc p WHERE p.oid >= 16384
  UNION ALL
  SELECT format('%s %s', CASE c.relkind WHEN 'm' THEN 'materialized view' ELSE 'view' END, c.oid::regclass),
         'its definition', pg_get_viewdef(c.oid)
  FROM pg_class c WHERE c.relkind IN ('v', 'm') AND c.oid >= 16384
  UNION ALL
  SELECT format('column %I of %s', a.attname, a.attrelid::regclass), 'its default',
         pg_get_expr(ad.adbin, ad.adrelid)
  FROM pg_attrdef ad JOIN pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
  UNION ALL
  SELECT format('constraint %I', con.conname), 'its definition', pg_get_constraintdef(con.oid)
  FROM pg_constraint con WHERE con.contype = 'c'
  UNION ALL
  SELECT format('policy %I on %s', pol.polname, pol.polrelid::regclass), 'its expressions',
         concat_ws(' ', pg_get_expr(pol.polqual, pol.polrelid), pg_get_expr(pol.polwithcheck, pol.polrelid))
  FROM pg_policy pol
  UNION ALL
  SELECT format('rule %I on %s', r.rulename, r.ev_class::regclass), 'its definition', pg_get_ruledef(r.oid)
  FROM pg_rewrite r WHERE r.rulename <> '_RETURN'
  UNION ALL
  SELECT format('trigger %I on %s', t.tgname, t.tgrelid::regclass), 'its definition', pg_get_triggerdef(t.oid)
  FROM pg_trigger t WHERE NOT t.tgisinternal
  UNION ALL
  SELECT format('server %I', s.srvname), 'its options', array_to_string(s.srvoptions, ' ')
  FROM pg_foreign_server s
  UNION ALL
  SELECT format('foreign table %s', ft.ftrelid::regclass), 'its options', array_to_string(ft.ftoptions, ' ')
  FROM pg_foreign_table ft
  UNION ALL
  SELECT 'the server configuration', format('setting %s', s.name), s.setting
  FROM pg_settings s WHERE s.source NOT IN ('session', 'default', 'override')
)
SELECT DISTINCT p.object, p.place
FROM places p, k
WHERE p.body IS NOT NULL AND k.hex IS NOT NULL AND SPELLS_KEY
ORDER BY 1, 2";

#[derive(QueryableByName)]
struct Readable {
    #[diesel(sql_type = Bool)]
    readable: bool,
}

#[derive(QueryableByName)]
struct PlaceRow {
    #[diesel(sql_type = Text)]
    object: String,
    #[diesel(sql_type = Text)]
    place: String,
}

pub(super) fn check_key_in_catalogs(f: &mut Findings, conn: &mut PgConnection) -> QueryResult<()> {
    let readable: Readable = diesel::sql_query(
        "SELECT coalesce(has_table_privilege(to_regclass('tenancy.context_key'), 'SELECT'), false) AS readable",
    )
    .get_result(conn)?;
    if !readable.readable {
        return Ok(());
    }
    let sql = PLACES_SQL
        .replace("KEY_SPELLINGS", KEY_SPELLINGS)
        .replace("SPELLS_KEY", &SPELLS_KEY.replace("VALUE", "p.body"));
    for p in diesel::sql_query(sql).load::<PlaceRow>(conn)? {
        f.add(
            "TEN067",
            &p.object,
            format!(
                "{} holds the tenant context's key or one of its padded keys (as hex or base64), which every role reads in PostgreSQL's catalogs: with it SQL can make a context entry for any tenant",
                p.place
            ),
            "take it out (COMMENT .. IS NULL, ALTER .. RESET, CREATE OR REPLACE without it), then, as whoever read it may keep it, install a new key: as the migrations' role, SELECT tenancy.install_context_key(<32 random bytes>) and give the application the new key",
        );
    }
    Ok(())
}
