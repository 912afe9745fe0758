//! TEN104: a tenant's SQL may point a row of its own at any row of a private table (every
//! tenant's, kept from the application role), and a SECURITY DEFINER function it may run reads
//! the private table through that pointer. The function's review holds only while the pointer
//! is set by someone else: the foundation's `tenancy.member_directory()` shows the email and
//! registered name of each member's user, which is safe because the control plane, never a
//! tenant, sets `org_members.user_id` (the migration `members_user_set_by_control_plane`
//! revoked INSERT and UPDATE of it). Granted back, SQL in one tenant's transaction adds a
//! membership for any user id it learned (a foreign key to `users` accepts any) and reads
//! that user's details through the directory.

use std::collections::BTreeSet;

use diesel::prelude::*;
use diesel::sql_types::{Array, Text};

use super::CheckOptions;
use super::catalog::Catalog;
use super::report::Findings;

/// For schema `$1`, tenant tables `$2`, private tables `$3` and roles `$4` (the application
/// role, its logins and the roles they may become): each column of a tenant table with a
/// foreign key to a private table that one of the roles may set (INSERT on the table, or
/// UPDATE of the column), with a SECURITY DEFINER function one of them may run that reads both
/// the column and the private table: by the dependencies PostgreSQL records for a body in
/// SQL (`BEGIN ATOMIC`, `RETURN`), or by the names in the text of any other.
const POINTED_SQL: &str = concat!(
    "
SELECT DISTINCT c.relname::text AS table_name, a.attname::text AS column_name,
       t.relname::text AS private_table, p.oid::regprocedure::text AS function,
       r.name AS role
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_class t ON t.oid = con.confrelid
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (con.conkey)
CROSS JOIN unnest($4::text[]) AS r (name)
JOIN pg_proc p ON p.prosecdef
WHERE con.contype = 'f'
  AND c.relnamespace = quote_ident($1)::regnamespace AND c.relname = ANY ($2)
  AND t.relnamespace = quote_ident($1)::regnamespace AND t.relname = ANY ($3)
  AND (has_table_privilege(r.name, c.oid, 'INSERT')
       OR has_column_privilege(r.name, c.oid, a.attnum, 'UPDATE'))
  AND has_function_privilege(r.name, p.oid, 'EXECUTE')
  AND CASE WHEN p.prosqlbody IS NOT NULL THEN
        EXISTS (SELECT FROM pg_depend d
                WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                  AND d.refclassid = 'pg_class'::regclass AND d.refobjid = c.oid
                  AND d.refobjsubid = a.attnum)
        AND EXISTS (SELECT FROM pg_depend d
                    WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                      AND d.refclassid = 'pg_class'::regclass AND d.refobjid = t.oid)
      ELSE p.prosrc ~* ('\\m' || ",
    regex_escaped!("c.relname"),
    " || '\\M')
        AND p.prosrc ~* ('\\m' || ",
    regex_escaped!("a.attname"),
    " || '\\M')
        AND p.prosrc ~* ('\\m' || ",
    regex_escaped!("t.relname"),
    " || '\\M')
      END
ORDER BY 1, 2, 3, 4, 5"
);

#[derive(QueryableByName)]
struct PointedRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    private_table: String,
    #[diesel(sql_type = Text)]
    function: String,
    #[diesel(sql_type = Text)]
    role: String,
}

/// `tenant_tables`: the tenant tables by name.
pub(super) fn check_pointed_references(
    f: &mut Findings,
    conn: &mut PgConnection,
    catalog: &Catalog,
    tenant_tables: &BTreeSet<&str>,
    o: &CheckOptions,
) -> QueryResult<()> {
    let private: Vec<&str> = catalog
        .tables
        .iter()
        .filter(|(_, t)| t.private)
        .map(|(name, _)| name.as_str())
        .collect();
    if private.is_empty() || !catalog.role.exists {
        return Ok(());
    }
    let tenant: Vec<&str> = tenant_tables.iter().copied().collect();
    let rows: Vec<PointedRow> = diesel::sql_query(POINTED_SQL)
        .bind::<Text, _>(&o.schema)
        .bind::<Array<Text>, _>(&tenant)
        .bind::<Array<Text>, _>(&private)
        .bind::<Array<Text>, _>(&catalog.reachable)
        .load(conn)?;
    for r in rows {
        let who = if r.role == o.app_role {
            format!("`{}`", o.app_role)
        } else {
            format!(
                "`{}` (which a session of `{}` can act as)",
                r.role, o.app_role
            )
        };
        f.add(
            "TEN104",
            format!("column {} on {}", r.column_name, r.table_name),
            format!(
                "{who} may set `{t}.{c}` (INSERT, or UPDATE of it), a reference to the private table `{p}`, and may run {fun}, a SECURITY DEFINER function that reads `{p}` through it: SQL in one tenant's transaction points a row of its own at any row of `{p}` (another tenant's user, say) and reads it with the function's owner's rights",
                t = r.table_name,
                c = r.column_name,
                p = r.private_table,
                fun = r.function
            ),
            format!(
                "REVOKE INSERT, UPDATE ON {t} FROM {role}; GRANT UPDATE on the columns tenant transactions change only (not {c}); the control plane sets it through Tenancy::admin",
                t = r.table_name,
                c = r.column_name,
                role = r.role
            ),
        );
    }
    Ok(())
}
