//! TEN111: a global table that a tenant table's foreign key points at, whose system column
//! `xmax` a session of the application may read. PostgreSQL's foreign-key check locks the
//! referenced row `FOR KEY SHARE`, and a row lock is written into the row itself: its `xmax`
//! becomes the writing transaction's id (a multixact when several hold it). Row level
//! security does not hide a global row, so one tenant reading `xmax` of `categories` (with
//! `pg_xact_status(xmax::text::xid8)` or `pg_get_multixact_members(xmax)`) learns which row
//! another tenant's new or updated row points at (a value of that tenant's row) and when.
//!
//! A table-level `SELECT` grant covers the system columns; column grants
//! (`GRANT SELECT (id, name) ON categories`) do not, nor does a view that leaves them out.
//! So the table is reported where a role a session of the application may act as holds
//! `SELECT` on its `xmax` (a table grant, to it or to `PUBLIC`, or a grant of that column),
//! or may read a view that shows it with its owner's rights.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{Array, Text};

use super::CheckOptions;
use super::catalog::Catalog;
use super::report::Findings;

/// For each table (any schema) a foreign key of a tenant table (`$3`, in schema `$2`) points
/// at, but the tenant tables and the tenants table (`$4`), whose rows row level security
/// holds to the tenant: the tenant tables pointing at it, the roles of `$1` that may read its
/// `xmax`, the views readable by one of them that show its `xmax` with their owner's rights,
/// and its columns (for the hint). Only tables with such a reader are returned.
const XMAX_SQL: &str = "
WITH roles AS (SELECT oid, rolname FROM pg_roles WHERE rolname = ANY ($1)),
refs AS (
  SELECT DISTINCT con.confrelid AS target, src.relname::text AS source
  FROM pg_constraint con
  JOIN pg_class src ON src.oid = con.conrelid
  JOIN pg_class tgt ON tgt.oid = con.confrelid
  WHERE con.contype = 'f'
    AND src.relnamespace = quote_ident($2)::regnamespace AND src.relname = ANY ($3)
    AND NOT (tgt.relnamespace = quote_ident($2)::regnamespace
             AND (tgt.relname = ANY ($3) OR tgt.relname = $4))
),
targets AS (
  SELECT r.target, array_agg(r.source ORDER BY r.source) AS sources
  FROM refs r GROUP BY r.target
),
found AS (
  SELECT t.target, t.sources,
         ARRAY(SELECT ro.rolname::text FROM roles ro
               WHERE has_column_privilege(ro.oid, t.target, 'xmax', 'SELECT')
               ORDER BY ro.rolname) AS readers,
         ARRAY(SELECT DISTINCT v.oid::regclass::text
               FROM pg_depend d
               JOIN pg_rewrite rw ON d.classid = 'pg_rewrite'::regclass AND d.objid = rw.oid
               JOIN pg_class v ON v.oid = rw.ev_class AND v.relkind = 'v'
               WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = t.target
                 AND d.refobjsubid = -4 -- xmax
                 AND NOT EXISTS (SELECT FROM unnest(coalesce(v.reloptions, '{}')) opt
                                 WHERE opt ~* '^security_invoker=(true|on|yes|1)$')
                 AND EXISTS (SELECT FROM roles ro
                             WHERE has_any_column_privilege(ro.oid, v.oid, 'SELECT'))) AS views
  FROM targets t
)
SELECT CASE WHEN c.relnamespace = quote_ident($2)::regnamespace THEN c.relname::text
            ELSE c.oid::regclass::text END AS name,
       f.sources, f.readers, f.views,
       ARRAY(SELECT quote_ident(a.attname) FROM pg_attribute a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum) AS columns
FROM found f JOIN pg_class c ON c.oid = f.target
WHERE cardinality(f.readers) > 0 OR cardinality(f.views) > 0
ORDER BY 1";

#[derive(QueryableByName)]
struct LockedRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Array<Text>)]
    sources: Vec<String>,
    #[diesel(sql_type = Array<Text>)]
    readers: Vec<String>,
    #[diesel(sql_type = Array<Text>)]
    views: Vec<String>,
    #[diesel(sql_type = Array<Text>)]
    columns: Vec<String>,
}

pub(super) fn check_key_share_locks(
    f: &mut Findings,
    conn: &mut PgConnection,
    catalog: &Catalog,
    tenant_tables: &BTreeMap<String, String>,
    o: &CheckOptions,
) -> QueryResult<()> {
    if !catalog.role.exists {
        return Ok(());
    }
    let tenant_names: Vec<&str> = tenant_tables.keys().map(String::as_str).collect();
    let rows: Vec<LockedRow> = diesel::sql_query(XMAX_SQL)
        .bind::<Array<Text>, _>(&catalog.reachable)
        .bind::<Text, _>(&o.schema)
        .bind::<Array<Text>, _>(&tenant_names)
        .bind::<Text, _>(&o.tenants_table)
        .load(conn)?;
    for r in rows {
        let sources = r
            .sources
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut how = Vec::new();
        if !r.readers.is_empty() {
            let who = r
                .readers
                .iter()
                .map(|role| catalog.run_by(role, &o.app_role))
                .collect::<Vec<_>>()
                .join("; ");
            how.push(format!(
                "{who} may read its system columns (SELECT on the table, which covers them, or a grant of xmax)"
            ));
        }
        if !r.views.is_empty() {
            how.push(format!(
                "sessions of `{}` may read {}, which show{} its xmax with the owner's rights",
                o.app_role,
                r.views
                    .iter()
                    .map(|v| format!("view {v}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if r.views.len() == 1 { "s" } else { "" }
            ));
        }
        let table = &r.name;
        f.add(
            "TEN111",
            format!("table {table}"),
            format!(
                "foreign keys of tenant table{} {sources} point at global table `{table}`, and PostgreSQL's check of such a key locks the referenced row FOR KEY SHARE, which writes the writing transaction's id into that row's xmax (a multixact when several hold it); {}: one tenant's SQL reads `SELECT xmax, pg_xact_status(xmax::text::xid8) FROM {table}` (or pg_get_multixact_members(xmax)) and learns which `{table}` row another tenant's new or updated row points at, and when",
                if r.sources.len() == 1 { "" } else { "s" },
                how.join(", and ")
            ),
            format!(
                "grant SELECT on its columns only, which leaves the system columns out: REVOKE SELECT ON {table} FROM {role}, PUBLIC (and from the roles its sessions act as); GRANT SELECT ({columns}) ON {table} TO {role}; or read it through a view of its columns{views}",
                role = o.app_role,
                columns = r.columns.join(", "),
                views = if r.views.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; and leave xmax out of {}",
                        r.views.join(", ")
                    )
                }
            ),
        );
    }
    Ok(())
}
