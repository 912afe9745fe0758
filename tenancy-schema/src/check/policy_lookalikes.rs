//! TEN107: a policy that calls what only looks like PostgreSQL's or tenancy's own. The rules
//! read policies as PostgreSQL prints them, and PostgreSQL prints an operator or function
//! without its schema wherever the session's `search_path` finds it first: an operator `=` of
//! another schema whose function is `uuid_ne`, printed for a session that searches that schema
//! before `pg_catalog`, reads exactly like the tenant equality while it lets every other
//! tenant's rows through. The check pins its own `search_path` (`pg_catalog` first), so such an
//! operator prints qualified; this rule reports it anyway, from the dependencies PostgreSQL
//! records, whatever the text says: every operator PostgreSQL did not create that a policy
//! uses, and every function outside PostgreSQL's and tenancy's own schemas named like one of
//! theirs. A policy reviewed by a person (`COMMENT ON POLICY .. IS 'tenancy: reviewed: ..'`) is
//! left out.

use diesel::prelude::*;
use diesel::sql_types::{Array, Text};

use super::CheckOptions;
use super::report::Findings;

#[derive(QueryableByName)]
struct LookalikeRow {
    #[diesel(sql_type = Text)]
    policy: String,
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Array<Text>)]
    lookalikes: Vec<String>,
}

/// The policies of the tables of schema `$1` with the operators PostgreSQL did not create
/// and the lookalike functions they depend on (see the module's documentation).
const LOOKALIKES_SQL: &str = "
SELECT * FROM (
  SELECT pol.polname::text AS policy, c.relname::text AS table_name,
         ARRAY(
           SELECT DISTINCT w FROM (
             SELECT format('operator %s (its function %s)', o.oid::regoperator, o.oprcode::regprocedure) AS w
             FROM pg_depend d JOIN pg_operator o ON o.oid = d.refobjid
             WHERE d.classid = 'pg_policy'::regclass AND d.objid = pol.oid
               AND d.refclassid = 'pg_operator'::regclass AND o.oid >= 16384
             UNION ALL
             SELECT format('function %s', p.oid::regprocedure)
             FROM pg_depend d JOIN pg_proc p ON p.oid = d.refobjid
             WHERE d.classid = 'pg_policy'::regclass AND d.objid = pol.oid
               AND d.refclassid = 'pg_proc'::regclass AND p.oid >= 16384
               AND p.pronamespace IS DISTINCT FROM to_regnamespace('tenancy')
               AND p.pronamespace IS DISTINCT FROM to_regnamespace('tenancy_context')
               AND (p.pronamespace IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
                    OR EXISTS (SELECT FROM pg_proc b
                               WHERE b.proname = p.proname AND b.oid <> p.oid
                                 AND (b.oid < 16384
                                      OR b.pronamespace = to_regnamespace('tenancy')
                                      OR b.pronamespace = to_regnamespace('tenancy_context'))))
           ) found ORDER BY 1) AS lookalikes
  FROM pg_policy pol JOIN pg_class c ON c.oid = pol.polrelid
  WHERE c.relnamespace = quote_ident($1)::regnamespace
    AND coalesce(obj_description(pol.oid, 'pg_policy'), '') NOT LIKE 'tenancy: reviewed%'
) p
WHERE cardinality(p.lookalikes) > 0
ORDER BY 2, 1";

pub(super) fn check_policy_lookalikes(
    f: &mut Findings,
    conn: &mut PgConnection,
    o: &CheckOptions,
) -> QueryResult<()> {
    let rows: Vec<LookalikeRow> = diesel::sql_query(LOOKALIKES_SQL)
        .bind::<Text, _>(&o.schema)
        .load(conn)?;
    for r in rows {
        let what = r.lookalikes.join(", ");
        f.add(
            "TEN107",
            format!("policy {} on {}", r.policy, r.table_name),
            format!(
                "policy `{}` uses {what}, which PostgreSQL did not create (or which is named like one of PostgreSQL's or tenancy's own): printed for a session whose search_path finds it first, the policy reads like the one it stands in for (`=`, tenancy.current_tenant()) while it compares what its own function decides, and the tenant predicate may let every tenant's rows through",
                r.policy
            ),
            format!(
                "ALTER POLICY {policy} ON {table} with PostgreSQL's own operators and tenancy's readers (USING ({col} = tenancy.current_tenant()) with OPERATOR(pg_catalog.=) if in doubt), then drop what it used; or, once reviewed, COMMENT ON POLICY {policy} ON {table} IS 'tenancy: reviewed: <why>'",
                policy = r.policy,
                table = r.table_name,
                col = o.tenant_column
            ),
        );
    }
    Ok(())
}
