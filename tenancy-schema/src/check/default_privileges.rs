//! TEN088: default privileges (`ALTER DEFAULT PRIVILEGES`) that hand the application's
//! sessions rights on objects not made yet. Every table, sequence, function or schema the
//! migrations create afterwards carries the grant without any statement naming it: TRUNCATE
//! or TRIGGER on the next tenant table, SELECT on the next private table or key table of
//! schema `tenancy`, EXECUTE on the next SECURITY DEFINER function that a migration revokes
//! from PUBLIC only, CREATE on the next schema. The rules that look at each object see it
//! only once it exists, after the deploy that made it reachable.

use diesel::prelude::*;
use diesel::sql_types::{Array, Text};

use super::CheckOptions;
use super::catalog::Catalog;
use super::report::Findings;

/// Each default privilege of a role (`pg_default_acl`) granted to one of `$1` (the
/// application role, its logins and the roles they may become), or to PUBLIC where
/// PostgreSQL itself grants PUBLIC nothing (tables, sequences, schemas): by whom, where, on
/// what kind of object, to whom and which privileges.
const DEFAULT_GRANTS_SQL: &str = "
SELECT format('default privileges of role %s%s on %s', pg_get_userbyid(d.defaclrole),
              CASE WHEN d.defaclnamespace = 0 THEN ''
                   ELSE format(' in schema %s', d.defaclnamespace::regnamespace) END,
              CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences'
                                   WHEN 'f' THEN 'functions' WHEN 'T' THEN 'types'
                                   WHEN 'n' THEN 'schemas' ELSE d.defaclobjtype::text END)
         AS object,
       CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END AS grantee,
       string_agg(DISTINCT a.privilege_type, ', ' ORDER BY a.privilege_type) AS privileges
FROM pg_default_acl d CROSS JOIN LATERAL aclexplode(d.defaclacl) a
WHERE a.grantee <> d.defaclrole
  AND d.defaclobjtype <> 'T'
  AND ((a.grantee = 0 AND d.defaclobjtype IN ('r', 'S', 'n'))
       OR (a.grantee <> 0 AND pg_get_userbyid(a.grantee) = ANY ($1)))
GROUP BY 1, 2
ORDER BY 1, 2";

#[derive(QueryableByName)]
struct DefaultGrantRow {
    #[diesel(sql_type = Text)]
    object: String,
    #[diesel(sql_type = Text)]
    grantee: String,
    #[diesel(sql_type = Text)]
    privileges: String,
}

pub(super) fn check_default_privileges(
    f: &mut Findings,
    conn: &mut PgConnection,
    catalog: &Catalog,
    o: &CheckOptions,
) -> QueryResult<()> {
    let rows: Vec<DefaultGrantRow> = diesel::sql_query(DEFAULT_GRANTS_SQL)
        .bind::<Array<Text>, _>(&catalog.reachable)
        .load(conn)?;
    for r in rows {
        let revoke = r.object.replacen(
            "default privileges of role ",
            "ALTER DEFAULT PRIVILEGES FOR ROLE ",
            1,
        );
        let (head, kind) = revoke.rsplit_once(" on ").unwrap_or((&revoke, ""));
        f.add(
            "TEN088",
            &r.object,
            format!(
                "every {kind} made from now on grants {} to `{}`, and the sessions of `{}` reach that role: the next migration's tenant table comes with those rights (TRUNCATE and TRIGGER are past row level security), its private or key table readable, its SECURITY DEFINER function callable, before any check sees the object",
                r.privileges, r.grantee, o.app_role
            ),
            format!(
                "{head} REVOKE {} ON {} FROM {}; grant each new object what it needs in the migration that makes it",
                r.privileges,
                kind.to_uppercase(),
                if r.grantee == "PUBLIC" { "PUBLIC".to_owned() } else { format!("\"{}\"", r.grantee) }
            ),
        );
    }
    Ok(())
}
