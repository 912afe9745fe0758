//! TEN101: an index of a tenant table (or of the tenants table, or of a private one; or of a
//! partition or child of one, or a table with the tenant column, in another schema) whose
//! operator class (or range type) compares keys with a function someone wrote in SQL or a
//! procedural language. An index holds every tenant's keys, and row level security filters rows, not
//! index entries: each insert descends the index comparing the new key with the keys of the
//! pages it passes (other tenants' among them), each unique check compares it with its
//! neighbours, and each index scan compares the searched value with the entries it reads. The
//! comparison runs as the tenant's session, so a function that shows its arguments (a
//! `RAISE NOTICE`, an error message, a write) hands that tenant the other tenants' keys: in
//! psql, one insert of a row of tenant A into a table indexed with such a class printed nine of
//! tenant B's values. PostgreSQL's own classes, and those of extensions written in C
//! (`btree_gist`, `pg_trgm`), show nothing.

use std::collections::BTreeSet;

use diesel::prelude::*;
use diesel::sql_types::{Array, Text};

use super::CheckOptions;
use super::report::Findings;

/// Each index of a table of schema `$1` named in `$2` (or of a partition or inheritance child
/// of one, wherever it is, named by the table of `$1` it descends from), or of a table of
/// another schema (but PostgreSQL's own) with the tenant column `$3`, named with its schema,
/// with what of its columns compares keys with functions in
/// a language other than C (`internal` and `c`), and those functions, by signature: an
/// operator class whose family holds such a support function, or an operator whose function
/// is; a range type whose `subtype_diff` or canonical function is (GiST calls them on the
/// entries an insert passes, to choose where the new one goes).
const LEAKY_CLASSES_SQL: &str = concat!(
    "\n",
    super::catalog::rooted_ctes!(),
    "
, tables AS (
  SELECT c.oid, CASE WHEN c.relnamespace = quote_ident($1)::regnamespace THEN c.relname::text
                     ELSE coalesce(rooted.root, c.oid::regclass::text) END AS table_name,
         c.relnamespace <> quote_ident($1)::regnamespace AND rooted.root IS NULL AS elsewhere
  FROM pg_class c
  JOIN pg_namespace ns ON ns.oid = c.relnamespace
  LEFT JOIN rooted ON rooted.oid = c.oid
  WHERE c.relkind IN ('r', 'p')
    AND (c.relnamespace = quote_ident($1)::regnamespace
         OR rooted.root IS NOT NULL
         OR (ns.nspname NOT IN ('pg_catalog', 'information_schema') AND ns.nspname !~ '^pg_'
             AND EXISTS (SELECT FROM pg_attribute a
                         WHERE a.attrelid = c.oid AND a.attname = $3 AND a.attnum > 0 AND NOT a.attisdropped)))
), family_code AS (
  SELECT ap.amprocfamily AS family, ap.amproc::oid AS fn FROM pg_amproc ap
  UNION
  SELECT ao.amopfamily, o.oprcode::oid FROM pg_amop ao JOIN pg_operator o ON o.oid = ao.amopopr
), index_code AS (
  SELECT ix.indexrelid, format('operator class %s', opc.opcname) AS what, fc.fn
  FROM pg_index ix
  CROSS JOIN LATERAL unnest(ix.indclass::oid[]) AS k (opclass)
  JOIN pg_opclass opc ON opc.oid = k.opclass
  JOIN family_code fc ON fc.family = opc.opcfamily
  UNION
  SELECT ix.indexrelid, format('range type %s', a.atttypid::regtype), f.fn
  FROM pg_index ix
  JOIN pg_attribute a ON a.attrelid = ix.indexrelid AND a.attnum > 0
  JOIN pg_range rg ON rg.rngtypid = a.atttypid
  CROSS JOIN LATERAL (VALUES (rg.rngsubdiff::oid), (rg.rngcanonical::oid)) AS f (fn)
  WHERE f.fn <> 0
)
SELECT tables.table_name, format('index %I on %s', ic.relname, c.oid::regclass) AS index_name,
       code.what AS operator_class,
       array_agg(DISTINCT p.oid::regprocedure::text ORDER BY p.oid::regprocedure::text) AS functions
FROM tables
JOIN pg_class c ON c.oid = tables.oid
JOIN pg_index ix ON ix.indrelid = c.oid
JOIN pg_class ic ON ic.oid = ix.indexrelid
JOIN index_code code ON code.indexrelid = ix.indexrelid
JOIN pg_proc p ON p.oid = code.fn
JOIN pg_language l ON l.oid = p.prolang
WHERE (tables.table_name = ANY ($2) OR tables.elsewhere) AND l.lanname NOT IN ('internal', 'c')
GROUP BY tables.table_name, ic.relname, c.oid, code.what
ORDER BY 1, 2, 3"
);

#[derive(QueryableByName)]
struct LeakyClassRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    index_name: String,
    #[diesel(sql_type = Text)]
    operator_class: String,
    #[diesel(sql_type = Array<Text>)]
    functions: Vec<String>,
}

/// `protected`: the tenant tables, the tenants table and the private tables.
pub(super) fn check_index_operator_classes(
    f: &mut Findings,
    conn: &mut PgConnection,
    protected: &BTreeSet<String>,
    o: &CheckOptions,
) -> QueryResult<()> {
    let tables: Vec<&str> = protected.iter().map(String::as_str).collect();
    let rows: Vec<LeakyClassRow> = diesel::sql_query(LEAKY_CLASSES_SQL)
        .bind::<Text, _>(&o.schema)
        .bind::<Array<Text>, _>(&tables)
        .bind::<Text, _>(&o.tenant_column)
        .load(conn)?;
    for r in rows {
        let functions = r.functions.join(", ");
        f.add(
            "TEN101",
            &r.index_name,
            format!(
                "{} (holding the keys of every tenant's rows of `{}`) uses {}, which compares keys with {functions}: each insert, unique check and index scan of one tenant's transaction runs it on other tenants' keys, before row level security sees a row, so whatever it shows of its arguments (a notice, an error, a write) shows other tenants' values",
                r.index_name, r.table_name, r.operator_class
            ),
            "drop the index and create it again with PostgreSQL's own operator class for each column (or one of an extension written in C); order or compare by a custom rule in the application, or in an expression index over a built-in type",
        );
    }
    Ok(())
}
