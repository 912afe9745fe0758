//! TEN089: a tenant table (or the table of tenants, or a private table) that grants PUBLIC a
//! privilege. PUBLIC is every role of the cluster, those made later too: a reporting role
//! with BYPASSRLS, the admin role (BYPASSRLS) and its logins, the owner of another database's
//! objects, a role that no policy names and that a permissive policy `TO PUBLIC` lets
//! through. The policies were written for the application role; a grant to everyone is a
//! grant to roles they were never checked against, and no rule looking at the application's
//! roles sees those.

use std::collections::BTreeSet;

use diesel::prelude::*;
use diesel::sql_types::Text;

use super::CheckOptions;
use super::report::Findings;

/// Each relation of schema `$1` whose ACL, or one of whose columns' ACL, grants PUBLIC a
/// privilege, with the privileges.
const PUBLIC_GRANTS_SQL: &str = "
SELECT c.relname::text AS name,
       string_agg(DISTINCT g.privilege, ', ' ORDER BY g.privilege) AS privileges
FROM pg_class c
CROSS JOIN LATERAL (
  SELECT a.privilege_type AS privilege FROM aclexplode(c.relacl) a WHERE a.grantee = 0
  UNION ALL
  SELECT format('%s (%s)', a.privilege_type, att.attname)
  FROM pg_attribute att CROSS JOIN LATERAL aclexplode(att.attacl) a
  WHERE att.attrelid = c.oid AND att.attnum > 0 AND NOT att.attisdropped AND a.grantee = 0
) g
WHERE c.relnamespace = quote_ident($1)::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
GROUP BY 1
ORDER BY 1";

#[derive(QueryableByName)]
struct PublicGrantRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    privileges: String,
}

/// `protected`: the tenant tables, the table of tenants and the private tables.
pub(super) fn check_public_grants(
    f: &mut Findings,
    conn: &mut PgConnection,
    protected: &BTreeSet<String>,
    o: &CheckOptions,
) -> QueryResult<()> {
    let rows: Vec<PublicGrantRow> = diesel::sql_query(PUBLIC_GRANTS_SQL)
        .bind::<Text, _>(&o.schema)
        .load(conn)?;
    for r in rows.into_iter().filter(|r| protected.contains(&r.name)) {
        f.add(
            "TEN089",
            format!("table {}", r.name),
            format!(
                "`{}` grants {} to PUBLIC, every role of the cluster and every role made later: one that skips row level security (the admin role, a reporting role) reads or writes every tenant's rows through it, and one that no policy of `{}` names is held only by the policies written TO PUBLIC",
                r.name, r.privileges, o.app_role
            ),
            format!(
                "REVOKE ALL ON {} FROM PUBLIC (and each column grant: REVOKE .. (column) ON {} FROM PUBLIC); GRANT what the application needs TO {}",
                r.name, r.name, o.app_role
            ),
        );
    }
    Ok(())
}
