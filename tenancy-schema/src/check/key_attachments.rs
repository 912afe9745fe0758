//! TEN067: what is attached to `tenancy.context_key` besides its triggers and rules (which
//! [`super::roles`] reports): a table it inherits from or is a partition of, whose queries
//! return the key's row under that table's privileges and policies; and code PostgreSQL runs
//! on the key's values whenever it is installed, rotated or analysed, with the rights of the
//! role that does so: a CHECK constraint, an index on an expression, with a predicate or an
//! operator class PostgreSQL did not make, an extended statistics object, a generated column,
//! a column of a domain (whose CHECK runs on each value), a column's default (which runs when the
//! key is installed). And a foreign key of another table into the key's columns: that table's
//! rows hold key values, and `ON UPDATE CASCADE` writes every new key there. The migrations
//! create the table with its primary key and two CHECK constraints of PostgreSQL's own
//! functions only; anything else may copy the key where SQL of any tenant reads it.

use diesel::prelude::*;
use diesel::sql_types::Text;

use super::report::Findings;

/// Each attachment as `what` (named as its `DROP` names it), why it hands out the key, and the
/// statement that takes it off.
const ATTACHMENTS_SQL: &str = "
WITH k AS (SELECT to_regclass('tenancy.context_key')::oid AS oid
           WHERE to_regclass('tenancy.context_key') IS NOT NULL)
SELECT format('table %s', i.inhparent::regclass) AS what,
       CASE WHEN c.relispartition
            THEN 'tenancy.context_key is a partition of it: a query on it returns the key''s row, under its privileges and policies, not the key''s'
            ELSE 'tenancy.context_key inherits from it: a query on it (or on a view over it) returns the key''s row, under its privileges and policies, not the key''s' END AS why,
       CASE WHEN c.relispartition
            THEN format('ALTER TABLE %s DETACH PARTITION tenancy.context_key', i.inhparent::regclass)
            ELSE format('ALTER TABLE tenancy.context_key NO INHERIT %s', i.inhparent::regclass) END AS fix
FROM k JOIN pg_class c ON c.oid = k.oid JOIN pg_inherits i ON i.inhrelid = k.oid
UNION ALL
-- A CHECK constraint runs on each new row, NOT VALID ones too.
SELECT format('CHECK constraint %I', con.conname),
       format('%s runs on the key each time it is installed or rotated', pg_get_constraintdef(con.oid)),
       format('ALTER TABLE tenancy.context_key DROP CONSTRAINT %I', con.conname)
FROM k JOIN pg_constraint con ON con.conrelid = k.oid
WHERE con.contype = 'c'
  AND (pg_get_constraintdef(con.oid) NOT IN ('CHECK ((id = 1))', 'CHECK ((length(key) = 32))')
       OR EXISTS (SELECT FROM pg_depend d
                  WHERE d.classid = 'pg_constraint'::regclass AND d.objid = con.oid
                    AND d.refclassid IN ('pg_proc'::regclass, 'pg_operator'::regclass)
                    AND d.refobjid >= 16384))
UNION ALL
SELECT format('index %s', x.indexrelid::regclass),
       'its expressions, predicate or operator classes run on the key each time it is installed or rotated',
       format('DROP INDEX %s', x.indexrelid::regclass)
FROM k JOIN pg_index x ON x.indrelid = k.oid
WHERE x.indexprs IS NOT NULL OR x.indpred IS NOT NULL
   OR EXISTS (SELECT FROM unnest(x.indclass::oid[]) oc WHERE oc >= 16384)
UNION ALL
-- ANALYZE (autovacuum's, as the table's owner) computes each expression on the key.
SELECT format('statistics object %I.%I', n.nspname, s.stxname),
       'ANALYZE (autovacuum''s too) runs its expressions on the key and keeps what it samples',
       format('DROP STATISTICS %I.%I', n.nspname, s.stxname)
FROM k JOIN pg_statistic_ext s ON s.stxrelid = k.oid JOIN pg_namespace n ON n.oid = s.stxnamespace
UNION ALL
SELECT format('column %I', a.attname),
       CASE WHEN a.attgenerated <> ''
            THEN 'it is generated from the other columns: its expression runs on the key, and its value is kept beside it'
            ELSE format('its type %s is a domain, whose CHECK runs on the key each time it is installed or rotated',
                        format_type(a.atttypid, a.atttypmod)) END,
       CASE WHEN a.attgenerated <> ''
            THEN format('ALTER TABLE tenancy.context_key DROP COLUMN %I', a.attname)
            ELSE format('ALTER TABLE tenancy.context_key ALTER COLUMN %I TYPE %s', a.attname,
                        format_type(t.typbasetype, t.typtypmod)) END
FROM k JOIN pg_attribute a ON a.attrelid = k.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attgenerated <> '' OR t.typtype = 'd'
UNION ALL
-- A generated column's expression is stored as a default too: the branch above has those.
SELECT format('default of column %I', a.attname),
       format('%s runs each time the key is installed', pg_get_expr(d.adbin, d.adrelid)),
       format('ALTER TABLE tenancy.context_key ALTER COLUMN %I DROP DEFAULT', a.attname)
FROM k JOIN pg_attrdef d ON d.adrelid = k.oid
JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum AND a.attgenerated = ''
UNION ALL
SELECT format('foreign key %I of %s', con.conname, con.conrelid::regclass),
       format('its rows hold values of the key''s columns%s',
              CASE WHEN con.confupdtype = 'c' THEN ', and ON UPDATE CASCADE writes each new key there'
                   ELSE '' END),
       format('ALTER TABLE %s DROP CONSTRAINT %I', con.conrelid::regclass, con.conname)
FROM k JOIN pg_constraint con ON con.confrelid = k.oid AND con.contype = 'f'
WHERE EXISTS (SELECT FROM unnest(con.confkey) c (attnum)
              JOIN pg_attribute a ON a.attrelid = k.oid AND a.attnum = c.attnum
              WHERE a.attname <> 'id')
ORDER BY 1";

#[derive(QueryableByName)]
struct Attachment {
    #[diesel(sql_type = Text)]
    what: String,
    #[diesel(sql_type = Text)]
    why: String,
    #[diesel(sql_type = Text)]
    fix: String,
}

pub(super) fn check_key_attachments(f: &mut Findings, conn: &mut PgConnection) -> QueryResult<()> {
    let found: Vec<Attachment> = diesel::sql_query(ATTACHMENTS_SQL).load(conn)?;
    for a in found {
        f.add(
            "TEN067",
            "table tenancy.context_key",
            format!(
                "{} on tenancy.context_key is not tenancy's own: {}; whatever it hands the key to, SQL may read, and with the key SQL can forge any tenant's context",
                a.what, a.why
            ),
            format!(
                "{}, then rotate the key (SELECT tenancy.install_context_key(<32 random bytes>)) and give the application the new one",
                a.fix
            ),
        );
    }
    Ok(())
}
