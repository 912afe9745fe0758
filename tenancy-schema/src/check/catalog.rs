//! The catalog queries. Everything the rules need is read up front, so the rules are plain
//! functions over rows, readable without the SQL and free of round trips.

use std::collections::{BTreeMap, BTreeSet};

use diesel::prelude::*;
use diesel::sql_types::{Array, Bool, Nullable, Text};

use super::CheckOptions;

/// Whether the foreign key `con` has a referential action that writes the referencing table
/// (`CASCADE`, `SET NULL` or `SET DEFAULT`, on delete or on update): PostgreSQL runs it as the
/// owner of that table, whoever deleted or updated the key it points at.
macro_rules! writing_action {
    () => {
        "(con.confdeltype IN ('c', 'n', 'd') OR con.confupdtype IN ('c', 'n', 'd'))"
    };
}
pub(super) use writing_action;

#[derive(QueryableByName)]
#[allow(clippy::struct_excessive_bools)] // reason: one row of catalog flags, read as is
pub(super) struct TableRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    pub(super) owner: String,
    #[diesel(sql_type = Bool)]
    pub(super) rls: bool,
    #[diesel(sql_type = Bool)]
    pub(super) forced: bool,
    #[diesel(sql_type = Bool)]
    pub(super) app_is_owner: bool,
    #[diesel(sql_type = Bool)]
    pub(super) app_in_owner: bool,
    /// Whether the application role may `SELECT` every column of it: on the table, or by
    /// column grants of each of its columns (which, unlike a table grant, leave the system
    /// columns out, TEN111).
    #[diesel(sql_type = Bool)]
    pub(super) app_can_select: bool,
    /// The privileges the application role holds on it that row level security does not
    /// govern: `TRUNCATE` (empties the table for every tenant) and `TRIGGER` (code that runs
    /// in every tenant's writes).
    #[diesel(sql_type = Array<Text>)]
    pub(super) app_unpoliced: Vec<String>,
    /// Whether the application role may INSERT, UPDATE, DELETE or TRUNCATE it.
    #[diesel(sql_type = Bool)]
    pub(super) app_can_write: bool,
    /// Whether the application role may `SELECT` any of its columns (a column grant counts).
    #[diesel(sql_type = Bool)]
    pub(super) app_reads_any: bool,
    /// Its comment starts with `tenancy: private`: kept from the application role on purpose.
    #[diesel(sql_type = Bool)]
    pub(super) private: bool,
    /// For a partition, the table of the checked schema it is a partition of.
    #[diesel(sql_type = Nullable<Text>)]
    pub(super) partition_of: Option<String>,
}

#[derive(QueryableByName)]
pub(super) struct ColumnRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    pub(super) column_name: String,
    #[diesel(sql_type = Text)]
    pub(super) type_name: String,
    /// The type under its domains (`uuid` for a domain over uuid): what comparisons, keys and
    /// policies compare it as.
    #[diesel(sql_type = Text)]
    pub(super) base_type_name: String,
    #[diesel(sql_type = Bool)]
    pub(super) not_null: bool,
}

/// A primary key, unique key or index (constraint-backed or not), or a foreign key.
#[derive(QueryableByName)]
pub(super) struct KeyRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    pub(super) name: String,
    /// `p`, `u` (unique constraint or unique index), `i` (index), `f`, `x` (exclusion
    /// constraint).
    #[diesel(sql_type = Text)]
    pub(super) kind: String,
    #[diesel(sql_type = Array<Text>)]
    pub(super) columns: Vec<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub(super) target: Option<String>,
    #[diesel(sql_type = Nullable<Array<Text>>)]
    pub(super) target_columns: Option<Vec<String>>,
    /// For a foreign key: validated, and every trigger that checks it fires in an ordinary
    /// session (enabled, or enabled ALWAYS). Always true for the other kinds.
    #[diesel(sql_type = Bool)]
    pub(super) enforced: bool,
    /// The key's or index's comment: `tenancy: reviewed: ..` acknowledges an index that
    /// does not lead with the tenant column (TEN031).
    #[diesel(sql_type = Nullable<Text>)]
    pub(super) comment: Option<String>,
    /// For a foreign key, what deleting the referenced row does (`pg_constraint.confdeltype`:
    /// `a` no action, `r` restrict, `c` cascade, `n` set null, `d` set default); empty for the
    /// other kinds.
    #[diesel(sql_type = Text)]
    pub(super) on_delete: String,
    /// For a foreign key, the columns its `ON DELETE` or `ON UPDATE` `SET NULL` / `SET
    /// DEFAULT` sets in the referencing rows; empty otherwise.
    #[diesel(sql_type = Array<Text>)]
    pub(super) cascade_sets: Vec<String>,
}

#[derive(QueryableByName)]
pub(super) struct PolicyRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    pub(super) name: String,
    #[diesel(sql_type = Bool)]
    pub(super) permissive: bool,
    /// `*` all, `r` select, `a` insert, `w` update, `d` delete.
    #[diesel(sql_type = Text)]
    pub(super) cmd: String,
    #[diesel(sql_type = Bool)]
    pub(super) applies_to_app: bool,
    #[diesel(sql_type = Nullable<Text>)]
    pub(super) using: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub(super) check: Option<String>,
    /// The functions with arguments it calls (directly or as an operator's) that are not
    /// LEAKPROOF and not PostgreSQL's own: each sees the rows the policy is evaluated on, and
    /// may show them (a notice, an error, a write). PostgreSQL records no dependency on its own
    /// functions, so of those only a column cast through its text form (whose error quotes the
    /// value) is among them.
    #[diesel(sql_type = Array<Text>)]
    pub(super) leaky_calls: Vec<String>,
}

/// A table of the checked schema under row level security that a role a session of the
/// application may act as, other than the application role, may read or write, with the
/// policies that apply to that role ([`ROLE_POLICIES_SQL`]).
#[derive(QueryableByName)]
pub(super) struct RolePolicyRow {
    #[diesel(sql_type = Text)]
    pub(super) role: String,
    #[diesel(sql_type = Text)]
    pub(super) table_name: String,
    #[diesel(sql_type = Array<Text>)]
    pub(super) policies: Vec<String>,
}

/// A table of the checked schema that a role a session of the application may act as, other
/// than the application role, may read or write ([`ROLE_TABLES_SQL`]).
#[derive(QueryableByName)]
pub(super) struct RoleTableRow {
    #[diesel(sql_type = Text)]
    pub(super) role: String,
    #[diesel(sql_type = Text)]
    pub(super) table_name: String,
    /// It may INSERT, UPDATE, DELETE or TRUNCATE it (column grants count).
    #[diesel(sql_type = Bool)]
    pub(super) can_write: bool,
    /// It may read it, and every row of it ([`OPEN_TO_ROLE`]).
    #[diesel(sql_type = Bool)]
    pub(super) reads_all: bool,
}

/// For the role `$1`, the tables of schema `$2` it may write or read every row of.
const ROLE_TABLES_SQL: &str = "
SELECT * FROM (
  SELECT $1::text AS role, c.relname::text AS table_name,
         has_table_privilege($1, c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')
           OR has_any_column_privilege($1, c.oid, 'INSERT, UPDATE') AS can_write,
         has_any_column_privilege($1, c.oid, 'SELECT') AND OPEN_TO_ROLE AS reads_all
  FROM pg_class c
  WHERE c.relnamespace = quote_ident($2)::regnamespace AND c.relkind IN ('r', 'p')
) t
WHERE t.can_write OR t.reads_all";

/// For the role `$1`, the tables of schema `$2` under row level security it may use, each with
/// the names of the policies that apply to it. PostgreSQL applies a policy to the session's
/// current role when that role has the rights of one the policy names (`has_privs_of_role`:
/// through INHERIT memberships only), which is `pg_has_role(.., 'USAGE')`.
const ROLE_POLICIES_SQL: &str = "
SELECT $1::text AS role, c.relname::text AS table_name,
       ARRAY(SELECT pol.polname::text FROM pg_policy pol
             WHERE pol.polrelid = c.oid
               AND (0 = ANY (pol.polroles)
                    OR EXISTS (SELECT FROM unnest(pol.polroles) pr WHERE pg_has_role($1, pr, 'USAGE')))
             ORDER BY 1) AS policies
FROM pg_class c
WHERE c.relnamespace = quote_ident($2)::regnamespace AND c.relkind IN ('r', 'p') AND c.relrowsecurity
  AND (has_table_privilege($1, c.oid, 'SELECT, INSERT, UPDATE, DELETE')
       OR has_any_column_privilege($1, c.oid, 'SELECT, INSERT, UPDATE'))";

/// A role holding a privilege on a table of the checked schema under row level security (a
/// grant of its own, of a column too, or `PUBLIC`'s), with the policies that apply to it
/// ([`GRANTEE_POLICIES_SQL`]).
#[derive(QueryableByName)]
pub(super) struct GranteePolicyRow {
    /// The grantee, or `PUBLIC`.
    #[diesel(sql_type = Text)]
    pub(super) role: String,
    #[diesel(sql_type = Text)]
    table_name: String,
    /// The privileges it holds (`SELECT`, `INSERT`, ..).
    #[diesel(sql_type = Array<Text>)]
    pub(super) privileges: Vec<String>,
    #[diesel(sql_type = Array<Text>)]
    pub(super) policies: Vec<String>,
}

/// Every role holding a privilege that policies govern (`SELECT`, `INSERT`, `UPDATE`, `DELETE`,
/// on the table or a column of it) on a table of schema `$1` under row level security, and
/// `PUBLIC` when it holds one, with the names of the policies that apply to it (as
/// [`ROLE_POLICIES_SQL`] says). Superusers and roles with BYPASSRLS are left out: no policy
/// applies to them.
const GRANTEE_POLICIES_SQL: &str = "
SELECT CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(g.grantee)::text END AS role,
       c.relname::text AS table_name,
       g.privileges,
       ARRAY(SELECT pol.polname::text FROM pg_policy pol
             WHERE pol.polrelid = c.oid
               AND (0 = ANY (pol.polroles)
                    OR (g.grantee <> 0
                        AND EXISTS (SELECT FROM unnest(pol.polroles) pr WHERE pg_has_role(g.grantee, pr, 'USAGE'))))
             ORDER BY 1) AS policies
FROM pg_class c
CROSS JOIN LATERAL (
  SELECT a.grantee, array_agg(DISTINCT a.privilege_type::text ORDER BY a.privilege_type::text) AS privileges
  FROM (SELECT (aclexplode(c.relacl)).*
        UNION ALL
        SELECT (aclexplode(at.attacl)).* FROM pg_attribute at
        WHERE at.attrelid = c.oid AND at.attnum > 0 AND NOT at.attisdropped) a
  WHERE a.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE')
  GROUP BY a.grantee
) g
WHERE c.relnamespace = quote_ident($1)::regnamespace AND c.relkind IN ('r', 'p') AND c.relrowsecurity
  AND (g.grantee = 0 OR NOT EXISTS (SELECT FROM pg_roles r
                                    WHERE r.oid = g.grantee AND (r.rolsuper OR r.rolbypassrls)))
ORDER BY 2, 1";

#[derive(QueryableByName)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "one row of the application role's flags in pg_roles, read as is"
)]
pub(super) struct RoleRow {
    #[diesel(sql_type = Bool)]
    pub(super) exists: bool,
    #[diesel(sql_type = Bool)]
    pub(super) superuser: bool,
    #[diesel(sql_type = Bool)]
    pub(super) bypassrls: bool,
    /// It may log in itself, besides its members.
    #[diesel(sql_type = Bool)]
    pub(super) login: bool,
}

#[derive(QueryableByName)]
pub(super) struct RoutineRow {
    #[diesel(sql_type = Text)]
    pub(super) name: String,
    /// A role of the session that may run it or fires it: the application role, a login of
    /// it, or a role they may act as ([`Catalog::acting`]).
    #[diesel(sql_type = Text)]
    pub(super) role: String,
    #[diesel(sql_type = Text)]
    pub(super) body: String,
    /// The language it is written in (`sql`, `plpgsql`, `c`, ...).
    #[diesel(sql_type = Text)]
    pub(super) language: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub(super) comment: Option<String>,
    /// It may be called (it is no trigger function) and its owner is a superuser or skips row
    /// level security: whatever it reaches, through any function or view it calls, it reaches
    /// every tenant's rows of.
    #[diesel(sql_type = Bool)]
    pub(super) owner_bypasses: bool,
    /// It may be called (it is no trigger function).
    #[diesel(sql_type = Bool)]
    pub(super) callable: bool,
    /// Its code as it is read for the statements it runs: the source of a body in quotes,
    /// the definition of one in SQL-standard form.
    #[diesel(sql_type = Text)]
    pub(super) source: String,
    /// The relations (outside PostgreSQL's own schemas) its owner may write in any way.
    #[diesel(sql_type = Array<Text>)]
    pub(super) owner_writes: Vec<String>,
}

/// A rewrite rule (other than a view's) on a table the application role writes: its actions
/// run with the rule owner's rights.
#[derive(QueryableByName)]
pub(super) struct RuleRow {
    #[diesel(sql_type = Text)]
    pub(super) name: String,
    #[diesel(sql_type = Text)]
    pub(super) definition: String,
}

/// Code that runs on each row written to a table of the checked schema ([`ROW_CODE_SQL`]): a
/// trigger, or a function a constraint, default or index expression calls, with its body.
#[derive(QueryableByName)]
pub(super) struct TriggerRow {
    /// `trigger <name> on <table>`, or what calls the function and the function.
    #[diesel(sql_type = Text)]
    pub(super) name: String,
    #[diesel(sql_type = Text)]
    pub(super) table_name: String,
    /// `table_name` is a table outside the checked schema, not a partition or child of one of
    /// it, that holds tenant rows (it has the tenant column).
    #[diesel(sql_type = Bool)]
    pub(super) tenant_rows_elsewhere: bool,
    /// The function's code: its source, or for a `BEGIN ATOMIC` body the whole definition.
    #[diesel(sql_type = Text)]
    pub(super) body: String,
    #[diesel(sql_type = Text)]
    pub(super) language: String,
    /// The function is in schema `tenancy`: one of tenancy's own when its migrations create
    /// it (TEN072 compares those).
    #[diesel(sql_type = Bool)]
    pub(super) tenancys: bool,
    /// The function's name, in lower case.
    #[diesel(sql_type = Text)]
    pub(super) function: String,
    /// The trigger's arguments (`EXECUTE FUNCTION f('a', 'b')`); none for the other row code.
    /// A function in C is told by them what to write where (`autoinc(column, sequence)`).
    #[diesel(sql_type = Array<Text>)]
    pub(super) args: Vec<String>,
    /// What it computes may become the written row itself: a `BEFORE ROW` trigger's (it
    /// returns the row) or a column default's.
    #[diesel(sql_type = Bool)]
    pub(super) fills_row: bool,
}

/// What a write into one relation also changes, or shows through another: `from` and `to`
/// by their names ([`WRITE_REACH_SQL`]).
#[derive(QueryableByName)]
pub(super) struct WriteReachRow {
    #[diesel(sql_type = Text)]
    pub(super) from_rel: String,
    #[diesel(sql_type = Text)]
    pub(super) to_rel: String,
    /// `from_rel` is a view, whose rows are `to_rel`'s: its row code (INSTEAD OF triggers,
    /// rules) sees them.
    #[diesel(sql_type = Bool)]
    pub(super) from_view: bool,
}

/// A relation a session of the application writes, and the role it writes it as.
#[derive(QueryableByName)]
pub(super) struct WrittenRow {
    #[diesel(sql_type = Text)]
    pub(super) name: String,
    #[diesel(sql_type = Text)]
    pub(super) role: String,
}

/// Where a write into a relation reaches besides itself, by the relations' names: the
/// relations a view (automatically updatable) or a rule of one (`DO ALSO`, `DO INSTEAD`)
/// writes into; the parents of a partition or an inheritance child, whose readers read its
/// rows; the tables whose foreign keys into it cascade a changed or deleted key (CASCADE,
/// SET NULL, SET DEFAULT); and the table a foreign table names. Row code that writes into one
/// writes into these too.
const WRITE_REACH_SQL: &str = concat!(
    "
SELECT v.relname::text AS from_rel, b.relname::text AS to_rel, v.relkind = 'v' AS from_view
FROM pg_class v
JOIN pg_rewrite r ON r.ev_class = v.oid
JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                 AND d.refclassid = 'pg_class'::regclass
JOIN pg_class b ON b.oid = d.refobjid AND b.oid <> v.oid AND b.relkind IN ('r', 'p', 'v', 'f')
WHERE (r.ev_type <> '1' OR (r.rulename = '_RETURN' AND v.relkind = 'v')) AND v.oid >= 16384
UNION
SELECT c.relname::text, p.relname::text, false
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
UNION
SELECT t.relname::text, f.relname::text, false
FROM pg_constraint con JOIN pg_class t ON t.oid = con.confrelid JOIN pg_class f ON f.oid = con.conrelid
WHERE con.contype = 'f' AND ",
    writing_action!(),
    "
UNION
-- A foreign table writes the table its options name, on whatever server: a loopback one
-- reaches this database with the user mapping's rights.
SELECT c.relname::text, split_part(o, '=', 2), false
FROM pg_foreign_table ft JOIN pg_class c ON c.oid = ft.ftrelid
CROSS JOIN LATERAL unnest(ft.ftoptions) o
WHERE starts_with(o, 'table_name=')"
);

/// A function outside PostgreSQL's own schemas, by its name in lower case, or the function of
/// an operator PostgreSQL did not make, as `operator <name>`: what row code calls runs on each
/// row too.
#[derive(QueryableByName)]
pub(super) struct FunctionRow {
    #[diesel(sql_type = Text)]
    pub(super) name: String,
    #[diesel(sql_type = Text)]
    pub(super) body: String,
    #[diesel(sql_type = Text)]
    pub(super) language: String,
    /// One of tenancy's own functions, which TEN072 compares with its migrations.
    #[diesel(sql_type = Bool)]
    pub(super) tenancys: bool,
}

/// `WITH RECURSIVE` and two common table expressions, for the queries that count a table's
/// partitions and inheritance children, wherever they live, as the table: `up`, each child
/// with every table above it, and `rooted`, the farthest table of schema `$1` it descends
/// from. A query goes on with `, <its own> AS (..)`.
macro_rules! rooted_ctes {
    () => {
        "WITH RECURSIVE up (oid, parent, depth) AS (
  SELECT i.inhrelid, i.inhparent, 1 FROM pg_inherits i
  UNION
  SELECT up.oid, i.inhparent, up.depth + 1 FROM up JOIN pg_inherits i ON i.inhrelid = up.parent
), rooted AS (
  -- The farthest table of schema `$1` each partition or inheritance child descends from.
  SELECT DISTINCT ON (up.oid) up.oid, r.relname::text AS root
  FROM up JOIN pg_class r ON r.oid = up.parent
  WHERE r.relnamespace = quote_ident($1)::regnamespace
  ORDER BY up.oid, up.depth DESC
)"
    };
}
pub(super) use rooted_ctes;

/// The code that runs on each row written to a table of schema `$1` (or to a partition or an
/// inheritance child of one, wherever it is), or to a table of another schema (but
/// PostgreSQL's own) that holds tenant rows, by the tenant column `$2` or a foreign key of one
/// column into the tenants table `$3` of schema `$1`: its triggers, and the functions (outside
/// PostgreSQL's own) that its triggers' WHEN conditions, CHECK constraints, column defaults and
/// generated columns, index expressions, the expressions of its statistics objects and policies
/// and the CHECK constraints of its columns' domains call, directly or as an operator's.
/// `table_name` is the table of schema `$1` the row was written to, or the name of the table
/// elsewhere (`tenant_rows_elsewhere`).
const ROW_CODE_SQL: &str = concat!(
    "\n",
    rooted_ctes!(),
    "
, tables AS (
  SELECT c.oid, CASE WHEN c.relnamespace = quote_ident($1)::regnamespace THEN c.relname::text
                     ELSE coalesce(rooted.root, c.relname::text) END AS table_name,
         c.relnamespace <> quote_ident($1)::regnamespace AND rooted.root IS NULL AS tenant_rows_elsewhere
  FROM pg_class c
  JOIN pg_namespace ns ON ns.oid = c.relnamespace
  LEFT JOIN rooted ON rooted.oid = c.oid
  WHERE c.relnamespace = quote_ident($1)::regnamespace
     OR rooted.root IS NOT NULL
     OR (c.relkind IN ('r', 'p')
         AND ns.nspname NOT IN ('pg_catalog', 'information_schema') AND ns.nspname !~ '^pg_'
         AND (EXISTS (SELECT FROM pg_attribute a
                      WHERE a.attrelid = c.oid AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped)
              OR EXISTS (SELECT FROM pg_constraint t
                         WHERE t.conrelid = c.oid AND t.contype = 'f' AND cardinality(t.conkey) = 1
                           AND t.confrelid = to_regclass(quote_ident($1) || '.' || quote_ident($3)))))
), calls AS (
  -- What a constraint, default, index or trigger condition depends on, as a function.
  SELECT d.classid, d.objid,
         CASE d.refclassid WHEN 'pg_proc'::regclass THEN d.refobjid
              ELSE (SELECT o.oprcode::oid FROM pg_operator o WHERE o.oid = d.refobjid) END AS fn
  FROM pg_depend d
  WHERE d.refclassid IN ('pg_proc'::regclass, 'pg_operator'::regclass)
    AND d.classid IN ('pg_constraint'::regclass, 'pg_attrdef'::regclass, 'pg_class'::regclass,
                      'pg_trigger'::regclass, 'pg_statistic_ext'::regclass, 'pg_policy'::regclass)
)
SELECT format('trigger %I on %s', t.tgname, t.tgrelid::regclass) AS name,
       tables.table_name, tables.tenant_rows_elsewhere,
       FUNCTION_SOURCE AS body,
       l.lanname::text AS language,
       coalesce(p.pronamespace = to_regnamespace('tenancy'), false) AS tenancys,
       lower(p.proname::text) AS function,
       -- Each argument ends in a NUL byte; cut in the hex form at whole bytes, so that a
       -- backslash or a character beyond ASCII comes back as written.
       ARRAY(SELECT convert_from(decode(a.m[1], 'hex'), current_setting('server_encoding'))
             FROM regexp_matches(encode(t.tgargs, 'hex'), '((?:[0-9a-f]{2})*?)00', 'g')
                  WITH ORDINALITY AS a (m, n)
             WHERE a.m[1] <> '' ORDER BY a.n) AS args,
       -- A BEFORE ROW trigger (tgtype bits 1 and 2) returns the row that is written.
       (t.tgtype & 3) = 3 AS fills_row
FROM pg_trigger t
JOIN tables ON tables.oid = t.tgrelid
JOIN pg_proc p ON p.oid = t.tgfoid
JOIN pg_language l ON l.oid = p.prolang
WHERE NOT t.tgisinternal
UNION
SELECT format('%s on %s, which calls %s',
              coalesce('constraint ' || quote_ident(con.conname::text),
                       'the default of column ' || quote_ident(a.attname::text),
                       'index ' || quote_ident(ic.relname::text),
                       'the WHEN condition of trigger ' || quote_ident(tg.tgname::text),
                       'statistics object ' || quote_ident(sx.stxname::text),
                       'policy ' || quote_ident(pol.polname::text)),
              c.oid::regclass, p.oid::regprocedure),
       tables.table_name, tables.tenant_rows_elsewhere,
       FUNCTION_SOURCE,
       l.lanname::text,
       coalesce(p.pronamespace = to_regnamespace('tenancy'), false),
       lower(p.proname::text),
       ARRAY[]::text[],
       d.classid = 'pg_attrdef'::regclass
FROM calls d
JOIN pg_proc p ON p.oid = d.fn
JOIN pg_language l ON l.oid = p.prolang
LEFT JOIN pg_constraint con ON d.classid = 'pg_constraint'::regclass AND con.oid = d.objid
LEFT JOIN pg_attrdef ad ON d.classid = 'pg_attrdef'::regclass AND ad.oid = d.objid
LEFT JOIN pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
LEFT JOIN pg_index ix ON d.classid = 'pg_class'::regclass AND ix.indexrelid = d.objid
LEFT JOIN pg_class ic ON ic.oid = ix.indexrelid
LEFT JOIN pg_trigger tg ON d.classid = 'pg_trigger'::regclass AND tg.oid = d.objid
-- A statistics object's expressions run on every row ANALYZE samples (autovacuum's too), every
-- tenant's, as the table's owner.
LEFT JOIN pg_statistic_ext sx ON d.classid = 'pg_statistic_ext'::regclass AND sx.oid = d.objid
-- A policy's expressions run on every row a tenant's statement reads or writes.
LEFT JOIN pg_policy pol ON d.classid = 'pg_policy'::regclass AND pol.oid = d.objid
JOIN pg_class c ON c.oid = coalesce(con.conrelid, ad.adrelid, ix.indrelid, tg.tgrelid, sx.stxrelid, pol.polrelid)
JOIN tables ON tables.oid = c.oid
WHERE (p.pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace) OR p.oid >= 16384)
  -- A trigger depends on its own function, which the first part reads.
  AND (tg.oid IS NULL OR p.oid <> tg.tgfoid)
UNION
-- A domain's CHECK constraints run on every value written to a column of its type.
SELECT format('constraint %I of domain %s of column %I on %s, which calls %s',
              dc.conname, dc.contypid::regtype, a.attname, c.oid::regclass, p.oid::regprocedure),
       tables.table_name, tables.tenant_rows_elsewhere,
       FUNCTION_SOURCE,
       l.lanname::text,
       coalesce(p.pronamespace = to_regnamespace('tenancy'), false),
       lower(p.proname::text),
       ARRAY[]::text[],
       false
FROM tables
JOIN pg_class c ON c.oid = tables.oid
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_constraint dc ON dc.contype = 'c' AND dc.contypid IN DOMAINS_OF_COLUMN
JOIN calls d ON d.classid = 'pg_constraint'::regclass AND d.objid = dc.oid
JOIN pg_proc p ON p.oid = d.fn
JOIN pg_language l ON l.oid = p.prolang
WHERE (p.pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace) OR p.oid >= 16384)
UNION
-- The expressions themselves, where they call one of PostgreSQL's functions that puts a value
-- where every session of the login sees it (pg_notify, set_config, advisory locks): no
-- dependency on a function of PostgreSQL's own is recorded, so the text is read as code.
SELECT format('%s on %s', e.what, c.oid::regclass), tables.table_name, tables.tenant_rows_elsewhere, e.expr, 'sql', false, '',
       ARRAY[]::text[], e.what LIKE 'the default of column %'
FROM tables
JOIN pg_class c ON c.oid = tables.oid
CROSS JOIN LATERAL (
  SELECT 'constraint ' || quote_ident(con.conname::text), pg_get_constraintdef(con.oid)
  FROM pg_constraint con WHERE con.conrelid = c.oid AND con.contype = 'c'
  UNION ALL
  SELECT 'the default of column ' || quote_ident(a.attname::text), pg_get_expr(ad.adbin, ad.adrelid)
  FROM pg_attrdef ad JOIN pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
  WHERE ad.adrelid = c.oid
  UNION ALL
  SELECT 'index ' || quote_ident(ic.relname::text), pg_get_indexdef(ix.indexrelid)
  FROM pg_index ix JOIN pg_class ic ON ic.oid = ix.indexrelid
  WHERE ix.indrelid = c.oid AND (ix.indexprs IS NOT NULL OR ix.indpred IS NOT NULL)
  UNION ALL
  SELECT 'the WHEN condition of trigger ' || quote_ident(tg.tgname::text), pg_get_triggerdef(tg.oid)
  FROM pg_trigger tg WHERE tg.tgrelid = c.oid AND tg.tgqual IS NOT NULL AND NOT tg.tgisinternal
  UNION ALL
  SELECT 'policy ' || quote_ident(pol.polname::text),
         concat_ws(' ', pg_get_expr(pol.polqual, pol.polrelid), pg_get_expr(pol.polwithcheck, pol.polrelid))
  FROM pg_policy pol WHERE pol.polrelid = c.oid
  UNION ALL
  SELECT format('constraint %I of domain %s of column %I', dc.conname, dc.contypid::regtype, a.attname),
         pg_get_constraintdef(dc.oid)
  FROM pg_attribute a JOIN pg_constraint dc ON dc.contype = 'c' AND dc.contypid IN DOMAINS_OF_COLUMN
  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
) e (what, expr)
WHERE e.expr ~* '(pg_notify|set_config|pg_(try_)?advisory)'"
);

/// `FUNCTION_SOURCE` in the catalog queries: the text of function `p` that the checks read,
/// its source, or for a body in standard SQL (`BEGIN ATOMIC`, where `prosrc` is empty) the
/// definition PostgreSQL prints from the parsed body.
const FUNCTION_SOURCE: &str =
    "CASE WHEN p.prosqlbody IS NULL THEN p.prosrc ELSE pg_get_functiondef(p.oid) END";

/// [`ROW_CODE_SQL`] with its placeholders filled in.
fn row_code_sql() -> String {
    ROW_CODE_SQL
        .replace("DOMAINS_OF_COLUMN", DOMAINS_OF_COLUMN)
        .replace("FUNCTION_SOURCE", FUNCTION_SOURCE)
}

/// `DOMAINS_OF_COLUMN` in [`ROW_CODE_SQL`]: the type of column `a` and every domain under it
/// (a domain over a domain checks the constraints of both), for a column's domain constraints.
const DOMAINS_OF_COLUMN: &str = "(
  WITH RECURSIVE base (oid) AS (
    SELECT a.atttypid
    UNION
    SELECT t.typbasetype FROM pg_type t JOIN base ON t.oid = base.oid WHERE t.typtype = 'd'
  ) SELECT base.oid FROM base)";

/// A table the application role may read outside the checked schema (or a foreign table,
/// in it too), without row level security, or change there past it, with its columns.
#[derive(QueryableByName)]
pub(super) struct ElsewhereRow {
    /// `table`, `materialized view` or `foreign table`.
    #[diesel(sql_type = Text)]
    pub(super) kind: String,
    /// The relation as SQL names it (`archive.gadgets`).
    #[diesel(sql_type = Text)]
    pub(super) relation: String,
    #[diesel(sql_type = Array<Text>)]
    pub(super) columns: Vec<String>,
    /// The application role reads every row.
    #[diesel(sql_type = Bool)]
    pub(super) reads: bool,
    /// What the application role may do to every row (`TRUNCATE`, which no policy stops, or
    /// `INSERT`, `UPDATE`, `DELETE` that no restrictive policy on the tenant bounds), if any.
    #[diesel(sql_type = Nullable<Text>)]
    pub(super) writes: Option<String>,
}

/// A foreign key into a table of the checked schema whose columns a role a session of the
/// application acts as may write ([`PROBING_KEYS_SQL`]).
#[derive(QueryableByName)]
pub(super) struct ProbingKeyRow {
    #[diesel(sql_type = Text)]
    pub(super) name: String,
    /// The referencing table, as SQL names it (`archive.pins`).
    #[diesel(sql_type = Text)]
    pub(super) source: String,
    /// The referencing table's name when it is in the checked schema.
    #[diesel(sql_type = Nullable<Text>)]
    pub(super) source_in_schema: Option<String>,
    /// The referenced table, in the checked schema.
    #[diesel(sql_type = Text)]
    pub(super) target: String,
    #[diesel(sql_type = Array<Text>)]
    pub(super) columns: Vec<String>,
    /// Some referenced column is not a uuid: its values can be guessed (an address, a name),
    /// where a random uuid cannot.
    #[diesel(sql_type = Bool)]
    pub(super) guessable: bool,
    /// The referenced columns.
    #[diesel(sql_type = Array<Text>)]
    pub(super) target_columns: Vec<String>,
    /// The referencing table's columns, which tell whether it holds tenant rows.
    #[diesel(sql_type = Array<Text>)]
    pub(super) source_columns: Vec<String>,
    /// A table of the checked schema the referencing table (kept elsewhere) is a partition or
    /// an inheritance child of, through any number of levels: it holds that table's rows.
    #[diesel(sql_type = Nullable<Text>)]
    pub(super) source_root: Option<String>,
}

/// Every foreign key into a table of the checked schema (`$2`) whose referencing columns the
/// role `$1` may insert or update, from any schema it may use, and whether a referenced column
/// other than the tenant column (`$3`) holds values one can guess. A foreign-key check runs
/// past row level security: writing a value there answers whether the referenced row exists.
/// The columns may be written through a table the referencing one inherits from or is a
/// partition of, wherever either is: a row written through the parent lands in the partition
/// (and an update through it changes an inheritance child's rows), which needs no grant, nor
/// USAGE on its schema, of its own.
const PROBING_KEYS_SQL: &str = "
SELECT con.conname::text AS name, con.conrelid::regclass::text AS source,
       CASE WHEN c.relnamespace = quote_ident($2)::regnamespace THEN c.relname::text END AS source_in_schema,
       t.relname::text AS target,
       ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k (n, o)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.o) AS columns,
       EXISTS (SELECT FROM unnest(con.confkey) k (n)
               JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n
               WHERE a.atttypid <> 'uuid'::regtype
                 -- The tenant column of a composite key is known to every tenant.
                 AND a.attname <> $3) AS guessable,
       ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k (n, o)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.o) AS target_columns,
       ARRAY(SELECT a.attname::text FROM pg_attribute a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) AS source_columns,
       CASE WHEN c.relnamespace <> quote_ident($2)::regnamespace THEN
         (WITH RECURSIVE up (oid, depth) AS (
            SELECT c.oid, 0
            UNION
            SELECT inh.inhparent, up.depth + 1 FROM up JOIN pg_inherits inh ON inh.inhrelid = up.oid
          )
          SELECT p.relname::text FROM up JOIN pg_class p ON p.oid = up.oid
          WHERE p.relnamespace = quote_ident($2)::regnamespace ORDER BY up.depth DESC LIMIT 1)
       END AS source_root
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_class t ON t.oid = con.confrelid
WHERE con.contype = 'f' AND con.conparentid = 0 AND t.relnamespace = quote_ident($2)::regnamespace
  AND EXISTS (WITH RECURSIVE up (oid) AS (
                SELECT c.oid
                UNION
                SELECT inh.inhparent FROM up JOIN pg_inherits inh ON inh.inhrelid = up.oid
              )
              SELECT FROM up
              JOIN pg_class w ON w.oid = up.oid
              CROSS JOIN unnest(con.conkey) k (n)
              JOIN pg_attribute sa ON sa.attrelid = con.conrelid AND sa.attnum = k.n
              JOIN pg_attribute wa ON wa.attrelid = w.oid AND wa.attname = sa.attname AND NOT wa.attisdropped
              WHERE has_schema_privilege($1, w.relnamespace, 'USAGE')
                AND (has_column_privilege($1, w.oid, wa.attnum, 'INSERT')
                     OR has_column_privilege($1, w.oid, wa.attnum, 'UPDATE')))
ORDER BY 2, 1";

/// A unique index or exclusion constraint of a table outside the checked schema that a role a
/// session of the application acts as may write, directly or through a parent
/// ([`KEYS_ELSEWHERE_SQL`]), with the table's columns.
#[derive(QueryableByName)]
pub(super) struct KeyElsewhereRow {
    #[diesel(sql_type = Text)]
    pub(super) name: String,
    #[diesel(sql_type = Text)]
    pub(super) relation: String,
    /// The key's columns (`(expression)` for an expression).
    #[diesel(sql_type = Array<Text>)]
    pub(super) columns: Vec<String>,
    #[diesel(sql_type = Array<Text>)]
    pub(super) table_columns: Vec<String>,
}

/// The unique indexes (keys, unique constraints) and exclusion constraints of tables outside
/// the checked schema (`$2`) that the role `$1` may insert into or update, itself or through a
/// table they inherit from or are a partition of (wherever that is: a row written through the
/// parent lands in the partition, which needs no grant of its own): where they hold tenant
/// rows, a key without the tenant column makes rows of different tenants conflict, and the
/// conflict answers one tenant what another's rows say. A column an exclusion constraint
/// compares by anything but `=` is left out; one compared by an operator class other than its
/// type's default, or by an `=` PostgreSQL did not make, is marked as the keys query marks it.
const KEYS_ELSEWHERE_SQL: &str = "
SELECT i.indexrelid::regclass::text AS name, c.oid::regclass::text AS relation,
       ARRAY(SELECT coalesce(a.attname::text, '(expression)') || ODD_OPCLASS(i.indexrelid)
                    || ODD_OPERATOR(x.conexclop[k.o])
             FROM unnest(i.indkey::int2[]) WITH ORDINALITY k (n, o)
             LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n
             WHERE k.o <= i.indnkeyatts
               AND (x.oid IS NULL
                    OR (SELECT op.oprname FROM pg_operator op WHERE op.oid = x.conexclop[k.o]) = '=')
             ORDER BY k.o) AS columns,
       ARRAY(SELECT a.attname::text FROM pg_attribute a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) AS table_columns
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_constraint x ON x.conindid = i.indexrelid AND x.conrelid = i.indrelid AND x.contype = 'x'
WHERE (i.indisunique OR x.oid IS NOT NULL) AND c.relkind IN ('r', 'p') AND c.relnamespace <> quote_ident($2)::regnamespace
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
  AND EXISTS (WITH RECURSIVE up (oid) AS (
                SELECT c.oid
                UNION
                SELECT inh.inhparent FROM up JOIN pg_inherits inh ON inh.inhrelid = up.oid
              )
              SELECT FROM up JOIN pg_class w ON w.oid = up.oid
              WHERE has_schema_privilege($1, w.relnamespace, 'USAGE')
                AND (has_table_privilege($1, w.oid, 'INSERT') OR has_any_column_privilege($1, w.oid, 'UPDATE')))
ORDER BY 2, 1";

/// A table the application role may read that a table of the checked schema inherits from,
/// directly or through other parents (table inheritance or partitioning).
#[derive(QueryableByName)]
pub(super) struct ParentRow {
    /// The inheriting table, in the checked schema.
    #[diesel(sql_type = Text)]
    pub(super) child: String,
    /// The parent as SQL names it.
    #[diesel(sql_type = Text)]
    pub(super) parent: String,
    /// The parent's name when it is in the checked schema too.
    #[diesel(sql_type = Nullable<Text>)]
    pub(super) parent_in_schema: Option<String>,
}

/// A foreign server the application role or one of its logins may connect through, with the
/// role whose user mapping allows it (`PUBLIC` for a mapping for everyone).
#[derive(QueryableByName)]
pub(super) struct ServerRow {
    #[diesel(sql_type = Text)]
    pub(super) server: String,
    #[diesel(sql_type = Text)]
    pub(super) mapped_for: String,
    /// The foreign tables of the server the role using the mapping may read or write.
    #[diesel(sql_type = Array<Text>)]
    pub(super) foreign_tables: Vec<String>,
    /// The role using the mapping has USAGE on the server (dblink, its own foreign tables).
    #[diesel(sql_type = Bool)]
    pub(super) usable: bool,
}

/// A referential action of a foreign key from a tenant table that a write by the application
/// role or one of its logins sets off on rows of any tenant ([`CASCADES_SQL`]).
#[derive(QueryableByName)]
pub(super) struct CascadeRow {
    #[diesel(sql_type = Text)]
    pub(super) table_name: String,
    #[diesel(sql_type = Text)]
    pub(super) name: String,
    #[diesel(sql_type = Array<Text>)]
    pub(super) columns: Vec<String>,
    #[diesel(sql_type = Text)]
    pub(super) target: String,
    /// `ON DELETE CASCADE`, `ON UPDATE SET NULL`, ..
    #[diesel(sql_type = Text)]
    pub(super) action: String,
    /// `DELETE` or `UPDATE`: what on the target sets the action off.
    #[diesel(sql_type = Text)]
    pub(super) privilege: String,
    /// The roles among the application role and its logins that hold it.
    #[diesel(sql_type = Array<Text>)]
    pub(super) roles: Vec<String>,
}

/// A relation with its kind as SQL names it (`foreign table`, `view`, ..).
#[derive(QueryableByName)]
pub(super) struct KindNameRow {
    #[diesel(sql_type = Text)]
    pub(super) kind: String,
    #[diesel(sql_type = Text)]
    pub(super) name: String,
}

/// A sequence a role a session of the application may act as may read the value of
/// ([`READABLE_SEQUENCES_SQL`]).
#[derive(QueryableByName)]
pub(super) struct SequenceRow {
    /// Its name, as row code names it after the last dot.
    #[diesel(sql_type = Text)]
    pub(super) name: String,
    /// As SQL names it (`public.ticket_seq`).
    #[diesel(sql_type = Text)]
    pub(super) relation: String,
}

/// The sequences the role `$1` may read the value of: `SELECT` reads `last_value`, `USAGE`
/// and `UPDATE` run `nextval`, which answers the value set last plus one. What row code sets
/// there (`setval(.., <a value of the row>)`, or a `nextval` it runs or not by what the row
/// says), every tenant reads.
const READABLE_SEQUENCES_SQL: &str = "
SELECT c.relname::text AS name, c.oid::regclass::text AS relation
FROM pg_class c
WHERE c.relkind = 'S'
  AND (has_sequence_privilege($1, c.oid, 'SELECT') OR has_sequence_privilege($1, c.oid, 'USAGE')
       OR has_sequence_privilege($1, c.oid, 'UPDATE'))";

#[derive(QueryableByName)]
struct NameRow {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
pub(super) struct ViewRow {
    #[diesel(sql_type = Text)]
    pub(super) name: String,
    /// The role of the session that may use it: the application role, a login of it, or a
    /// role they may act as ([`Catalog::acting`]).
    #[diesel(sql_type = Text)]
    pub(super) role: String,
    /// That role may read it (not only write through it).
    #[diesel(sql_type = Bool)]
    pub(super) readable: bool,
    #[diesel(sql_type = Text)]
    pub(super) definition: String,
    #[diesel(sql_type = Bool)]
    pub(super) security_invoker: bool,
    /// The tables, sequences and foreign tables it reads, through any number of views (in the
    /// checked schema by name, elsewhere schema-qualified as `regclass` prints them).
    #[diesel(sql_type = Array<Text>)]
    pub(super) reads: Vec<String>,
    /// The same, each by its name alone, as written (`x.log` for `public."x.log"`).
    #[diesel(sql_type = Array<Text>)]
    pub(super) read_names: Vec<String>,
    /// Of those, the ones outside the checked schema with the tenant column: copies of tenant
    /// rows, whatever the application role may read of them itself.
    #[diesel(sql_type = Array<Text>)]
    pub(super) copies: Vec<String>,
}

#[derive(QueryableByName)]
struct PrivilegeRow {
    #[diesel(sql_type = Bool)]
    writable: bool,
    #[diesel(sql_type = Array<Text>)]
    unguarded: Vec<String>,
    #[diesel(sql_type = Array<Text>)]
    others: Vec<String>,
}

/// What keeps the audit log append-only, as the database has it.
pub(super) struct AuditLog {
    /// The application role may UPDATE, DELETE or TRUNCATE it.
    pub(super) writable: bool,
    /// Its guarding triggers (the hash chain, no UPDATE/DELETE, no TRUNCATE) that are missing
    /// or not enabled ALWAYS, as the migration enables them.
    pub(super) unguarded: Vec<String>,
    /// Its other triggers: one that fires before an insert may drop or change the row, so
    /// that what the application records never reaches the log.
    pub(super) others: Vec<String>,
}

/// An object owned by a role a session of the application may act as (the application role,
/// a login of it, or a role they reach through memberships), whose owner reads every
/// tenant's rows past row level security ([`OWNED_SQL`]).
#[derive(QueryableByName)]
pub(super) struct OwnedRow {
    /// The role of the session (the owner, or a member of it).
    #[diesel(sql_type = Text)]
    pub(super) role: String,
    /// The object, as SQL names it (`domain gadget_name`, `function pg_read_file(text)`).
    #[diesel(sql_type = Text)]
    pub(super) object: String,
    /// Its owner.
    #[diesel(sql_type = Text)]
    pub(super) owner: String,
    /// What owning it opens.
    #[diesel(sql_type = Text)]
    pub(super) opens: String,
    /// The statement that gives it back.
    #[diesel(sql_type = Text)]
    pub(super) fix: String,
}

/// For the role `$1`, what it owns (itself, or as a member of the owner) that reads every
/// tenant's rows whatever the policies:
/// - a domain that a column of a table uses (directly or through a domain over it): its owner
///   may add a CHECK constraint, which PostgreSQL validates against every row of every table
///   using the domain, past row level security, and whose error quotes the value (`CHECK
///   (VALUE::text::int > 0)`);
/// - an enum a column of a table uses: its owner may rename its values, which rewrites what
///   every tenant's rows say (`tenants.status`: every other tenant suspended, its own back);
/// - a function PostgreSQL created (or one of the server's files, or dblink's that connects as
///   any user): its owner may run it and grant it, whatever PostgreSQL keeps it to
///   (`pg_read_binary_file` reads a table's data file), and a relation PostgreSQL created (a
///   catalog), whose owner reads and writes it;
/// - a function, composite or range type, operator or collation a table depends on (a
///   column's type, a default or generated column, an index, a constraint, a policy, a
///   trigger): its owner may drop it with `CASCADE`, which drops the column, index or policy
///   for every tenant at once, rename a composite type's attributes (every row's values change
///   places), or replace a trigger's function.
///
/// Superusers' objects are left out: reaching a superuser is reported already.
const OWNED_SQL: &str = "
WITH RECURSIVE used (typ, rel, att) AS (
  SELECT a.atttypid, a.attrelid, a.attname
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
  WHERE c.relkind IN ('r', 'p', 'm') AND a.attnum > 0 AND NOT a.attisdropped
    AND (c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace) OR c.oid >= 16384)
  UNION
  -- A domain's base type, an array's element type.
  SELECT CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.typelem END, used.rel, used.att
  FROM used JOIN pg_type t ON t.oid = used.typ
  WHERE t.typtype = 'd' OR (t.typcategory = 'A' AND t.typelem <> 0)
)
SELECT * FROM (
  SELECT DISTINCT ON (t.oid) $1::text AS role,
         format(CASE t.typtype WHEN 'd' THEN 'domain %s' ELSE 'type %s' END, t.oid::regtype) AS object,
         o.rolname::text AS owner,
         CASE t.typtype
           WHEN 'd' THEN format('may add a CHECK constraint to it, which PostgreSQL validates against every row of %s (column %I) past row level security, its error quoting the value', used.rel::regclass, used.att)
           ELSE format('may rename its values (ALTER TYPE .. RENAME VALUE), which changes what every row of %s (column %I) says, every tenant''s (swapping two values of a status or a role swaps them in every tenant)', used.rel::regclass, used.att)
         END AS opens,
         format(CASE t.typtype WHEN 'd' THEN 'ALTER DOMAIN %s OWNER TO <the role that runs the migrations>'
                               ELSE 'ALTER TYPE %s OWNER TO <the role that runs the migrations>' END,
                t.oid::regtype) AS fix
  FROM used JOIN pg_type t ON t.oid = used.typ JOIN pg_roles o ON o.oid = t.typowner
  WHERE t.typtype IN ('d', 'e') AND NOT o.rolsuper AND pg_has_role($1, t.typowner, 'MEMBER')
  ORDER BY t.oid, used.rel, used.att
) domains
UNION ALL
SELECT $1::text, format('function %s', p.oid::regprocedure), o.rolname::text,
       'may run it and grant it, whatever PostgreSQL keeps it to (the server''s files, a table''s data file among them, hold every tenant''s rows)',
       format('ALTER FUNCTION %s OWNER TO <a superuser>', p.oid::regprocedure)
FROM pg_proc p JOIN pg_roles o ON o.oid = p.proowner
WHERE NOT o.rolsuper AND pg_has_role($1, p.proowner, 'MEMBER')
  AND (p.oid < 16384
       OR (p.pronamespace = 'pg_catalog'::regnamespace
           AND p.proname IN ('pg_read_file', 'pg_read_binary_file', 'lo_import', 'lo_export'))
       -- A built-in under another name: LANGUAGE internal runs the C code its source names.
       OR p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'internal')
       OR (p.proname IN ('pg_file_write', 'pg_file_sync', 'pg_file_rename', 'pg_file_unlink',
                         'dblink_connect_u')
           AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'c')))
UNION ALL
SELECT $1::text, format('relation %s', c.oid::regclass), o.rolname::text,
       'may read and change it: a catalog PostgreSQL keeps from other roles',
       format('ALTER TABLE %s OWNER TO <a superuser> (with allow_system_table_mods)', c.oid::regclass)
FROM pg_class c JOIN pg_roles o ON o.oid = c.relowner
WHERE c.oid < 16384 AND c.relkind IN ('r', 'v', 'm') AND NOT o.rolsuper
  AND pg_has_role($1, c.relowner, 'MEMBER')
UNION ALL
SELECT * FROM (
  SELECT DISTINCT ON (mine.object) $1::text, mine.object, mine.owner,
         format('may drop it with CASCADE (or replace or rename it), which takes with it or changes what %s (%s) depends on it, for every tenant''s rows at once',
                t.oid::regclass, dep.what),
         mine.fix
  FROM (
    SELECT 'pg_proc'::regclass AS classid, p.oid AS objid, format('function %s', p.oid::regprocedure) AS object,
           o.rolname::text AS owner, format('ALTER FUNCTION %s OWNER TO <the role that runs the migrations>', p.oid::regprocedure) AS fix
    FROM pg_proc p JOIN pg_roles o ON o.oid = p.proowner
    WHERE p.oid >= 16384 AND NOT o.rolsuper AND pg_has_role($1, p.proowner, 'MEMBER')
    UNION ALL
    SELECT 'pg_type'::regclass, ty.oid, format('type %s', ty.oid::regtype), o.rolname::text,
           format('ALTER TYPE %s OWNER TO <the role that runs the migrations>', ty.oid::regtype)
    FROM pg_type ty JOIN pg_roles o ON o.oid = ty.typowner
    WHERE ty.oid >= 16384 AND NOT o.rolsuper AND pg_has_role($1, ty.typowner, 'MEMBER')
      AND (ty.typtype IN ('r', 'm')
           OR (ty.typtype = 'c' AND (SELECT c.relkind FROM pg_class c WHERE c.oid = ty.typrelid) = 'c'))
    UNION ALL
    SELECT 'pg_operator'::regclass, op.oid, format('operator %s', op.oid::regoperator), o.rolname::text,
           format('ALTER OPERATOR %s OWNER TO <the role that runs the migrations>', op.oid::regoperator)
    FROM pg_operator op JOIN pg_roles o ON o.oid = op.oprowner
    WHERE op.oid >= 16384 AND NOT o.rolsuper AND pg_has_role($1, op.oprowner, 'MEMBER')
    UNION ALL
    SELECT 'pg_collation'::regclass, co.oid, format('collation %s', co.oid::regcollation), o.rolname::text,
           format('ALTER COLLATION %s OWNER TO <the role that runs the migrations>', co.oid::regcollation)
    FROM pg_collation co JOIN pg_roles o ON o.oid = co.collowner
    WHERE co.oid >= 16384 AND NOT o.rolsuper AND pg_has_role($1, co.collowner, 'MEMBER')
    UNION ALL
    SELECT 'pg_ts_config'::regclass, cfg.oid, format('text search configuration %s', cfg.oid::regconfig),
           o.rolname::text,
           format('ALTER TEXT SEARCH CONFIGURATION %s OWNER TO <the role that runs the migrations>', cfg.oid::regconfig)
    FROM pg_ts_config cfg JOIN pg_roles o ON o.oid = cfg.cfgowner
    WHERE cfg.oid >= 16384 AND NOT o.rolsuper AND pg_has_role($1, cfg.cfgowner, 'MEMBER')
    UNION ALL
    -- A dictionary: what depends on a configuration that maps to it depends on it too.
    SELECT 'pg_ts_config'::regclass, m.mapcfg,
           format('text search dictionary %s (of configuration %s)', dict.oid::regdictionary, m.mapcfg::regconfig),
           o.rolname::text,
           format('ALTER TEXT SEARCH DICTIONARY %s OWNER TO <the role that runs the migrations>', dict.oid::regdictionary)
    FROM pg_ts_dict dict JOIN pg_roles o ON o.oid = dict.dictowner
    JOIN (SELECT DISTINCT mapcfg, mapdict FROM pg_ts_config_map) m ON m.mapdict = dict.oid
    WHERE dict.oid >= 16384 AND NOT o.rolsuper AND pg_has_role($1, dict.dictowner, 'MEMBER')
  ) mine
  JOIN pg_depend d ON d.refclassid = mine.classid AND d.refobjid = mine.objid AND d.deptype IN ('n', 'a')
  CROSS JOIN LATERAL (
    SELECT CASE d.classid
             WHEN 'pg_class'::regclass THEN
               (SELECT COALESCE(i.indrelid, c.oid) FROM pg_class c LEFT JOIN pg_index i ON i.indexrelid = c.oid
                WHERE c.oid = d.objid)
             WHEN 'pg_attrdef'::regclass THEN (SELECT ad.adrelid FROM pg_attrdef ad WHERE ad.oid = d.objid)
             WHEN 'pg_constraint'::regclass THEN (SELECT cn.conrelid FROM pg_constraint cn WHERE cn.oid = d.objid)
             WHEN 'pg_policy'::regclass THEN (SELECT pl.polrelid FROM pg_policy pl WHERE pl.oid = d.objid)
             WHEN 'pg_trigger'::regclass THEN (SELECT tg.tgrelid FROM pg_trigger tg WHERE tg.oid = d.objid)
           END AS rel,
           CASE d.classid
             WHEN 'pg_class'::regclass THEN
               CASE WHEN d.objsubid <> 0 THEN 'a column''s type' ELSE 'an index or the table' END
             WHEN 'pg_attrdef'::regclass THEN 'a column''s default or generated value'
             WHEN 'pg_constraint'::regclass THEN 'a constraint'
             WHEN 'pg_policy'::regclass THEN 'a policy'
             WHEN 'pg_trigger'::regclass THEN 'a trigger'
           END AS what
  ) dep
  JOIN pg_class t ON t.oid = dep.rel AND t.relkind IN ('r', 'p', 'm')
  ORDER BY mine.object, t.oid
) depended_on";

/// The roles among `$1` (the application role and its members) that log in and whose
/// sessions `tenancy.trusted_session()` trusts: it trusts a session whose login is no member of
/// `tenancy_app` (the admin's), and the SQL context's readers then take the tenant from the
/// plain setting `tenancy.tenant_id`, which any SQL sets. An application role other than
/// `tenancy_app` whose logins are not members of it too hands every session any tenant.
const TRUSTED_LOGINS_SQL: &str = "
SELECT r.rolname::text AS name FROM pg_roles r
WHERE r.rolname = ANY ($1) AND r.rolcanlogin AND NOT r.rolsuper
  AND to_regprocedure('tenancy.trusted_session()') IS NOT NULL
  AND CASE WHEN to_regrole('tenancy_app') IS NULL THEN true
           ELSE NOT pg_has_role(r.oid, to_regrole('tenancy_app'), 'MEMBER') END
ORDER BY 1";

/// A member of the application role that can become a role skipping row level security.
pub(super) struct ReachRow {
    pub(super) login: String,
    pub(super) role: crate::roles::Reachable,
    pub(super) problem: &'static str,
    /// The SECURITY DEFINER function, or the trigger a referential action sets off, whose
    /// owner's rights reach the role, when such code rather than a membership chain of the
    /// login does (its path then starts with it).
    pub(super) through: Option<Via>,
}

#[derive(QueryableByName)]
struct MemberRow {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "one row of CONTEXT_SQL: each column answers a yes-or-no question about the database"
)]
pub(super) struct ContextRow {
    #[diesel(sql_type = Bool)]
    pub(super) temporary: bool,
    #[diesel(sql_type = Bool)]
    pub(super) sealed_function: bool,
    #[diesel(sql_type = Bool)]
    pub(super) has_key: bool,
    /// The policies' readers ask the `tenancy_context` extension, which is not installed.
    #[diesel(sql_type = Bool)]
    pub(super) native_without_extension: bool,
    /// The native context is on with the extension's C readers (1.2 and later), which
    /// `tenancy.enable_native_context()` writes into the policies in place of the SQL readers.
    #[diesel(sql_type = Bool)]
    pub(super) native_readers: bool,
    /// Functions of the `tenancy_context` schema that are not the extension's own C code (a
    /// reader replaced by SQL, taken out of the extension), or that the application role can
    /// replace: the policies would read whatever they return.
    #[diesel(sql_type = Array<Text>)]
    pub(super) foreign_native_functions: Vec<String>,
    #[diesel(sql_type = Array<Text>)]
    pub(super) forgeable_by: Vec<String>,
    /// Triggers and rules on `tenancy.context_key` that are not tenancy's own, as `DROP` names
    /// them (`TRIGGER "name"`, `RULE "name"`): each is handed the key whenever it is installed
    /// or rotated.
    #[diesel(sql_type = Array<Text>)]
    pub(super) key_watchers: Vec<String>,
    /// The body of `tenancy.check_session()`, whitespace folded, if it exists.
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    pub(super) session_check_body: Option<String>,
    /// Whether the application role may execute it.
    #[diesel(sql_type = Bool)]
    pub(super) session_check_executable: bool,
    /// Schemas the application role may create objects in.
    #[diesel(sql_type = Array<Text>)]
    pub(super) creatable_schemas: Vec<String>,
    /// The database, when the application role may create schemas in it (CREATE on the
    /// database, which its owner has too).
    #[diesel(sql_type = Nullable<Text>)]
    pub(super) schema_creating_database: Option<String>,
}

pub(super) struct Catalog {
    pub(super) reach: Vec<ReachRow>,
    /// What a role a session of the application may act as owns that reads every tenant's
    /// rows ([`OWNED_SQL`]).
    pub(super) owned: Vec<OwnedRow>,
    /// Logins of the application role whose sessions `tenancy.trusted_session()` trusts
    /// ([`TRUSTED_LOGINS_SQL`]).
    pub(super) trusted_logins: Vec<String>,
    /// The application role and its logins that may change the server's configuration, each
    /// with the settings (`ALTER SYSTEM`).
    pub(super) alter_system: Vec<(String, String)>,
    pub(super) context: ContextRow,
    pub(super) tables: BTreeMap<String, TableRow>,
    pub(super) columns: BTreeMap<String, Vec<ColumnRow>>,
    pub(super) keys: BTreeMap<String, Vec<KeyRow>>,
    pub(super) policies: BTreeMap<String, Vec<PolicyRow>>,
    /// The tables other roles a session of the application may act as may use, by table.
    pub(super) role_policies: BTreeMap<String, Vec<RolePolicyRow>>,
    /// The tables other roles a session of the application may act as may write, or read
    /// every row of.
    pub(super) role_tables: Vec<RoleTableRow>,
    /// The roles (and `PUBLIC`) holding a privilege on a table under row level security, with
    /// the policies that apply to each, by table.
    pub(super) grantee_policies: BTreeMap<String, Vec<GranteePolicyRow>>,
    pub(super) role: RoleRow,
    pub(super) routines: Vec<RoutineRow>,
    pub(super) views: Vec<ViewRow>,
    pub(super) rules: Vec<RuleRow>,
    pub(super) triggers: Vec<TriggerRow>,
    /// The functions outside PostgreSQL's own schemas, by name in lower case.
    pub(super) functions: BTreeMap<String, Vec<FunctionRow>>,
    /// The application role and the logins (and other roles) that are members of it.
    pub(super) app_and_logins: Vec<String>,
    /// [`Self::app_and_logins`] and every role a session of them may act as (SET ROLE through
    /// any chain of memberships, or the owner of a SECURITY DEFINER function one of them may
    /// run, and so on), but those that skip row level security (TEN065's).
    pub(super) reachable: Vec<String>,
    /// Of [`Self::reachable`], the roles reached through a SECURITY DEFINER function or a
    /// referential action rather than memberships, each with how ([`Via`]).
    pub(super) acting: BTreeMap<String, Via>,
    pub(super) member_creates: Vec<MemberCreateRow>,
    pub(super) elsewhere: Vec<ElsewhereRow>,
    /// Foreign keys into the checked schema that the application may write ([`PROBING_KEYS_SQL`]).
    pub(super) probing_keys: Vec<ProbingKeyRow>,
    /// Unique keys of tables elsewhere that the application may write ([`KEYS_ELSEWHERE_SQL`]).
    pub(super) keys_elsewhere: Vec<KeyElsewhereRow>,
    pub(super) parents: Vec<ParentRow>,
    /// Every table a table of the checked schema inherits from that is not partitioned,
    /// whoever may read it: a view, materialized view or function over it reads its
    /// children's rows with its owner's rights.
    pub(super) plain_parents: Vec<ParentRow>,
    pub(super) servers: Vec<ServerRow>,
    /// Functions not PostgreSQL's own, with arguments, marked LEAKPROOF, that the application
    /// role or one of its logins may run ([`LEAKPROOF_SQL`]).
    pub(super) leakproof: Vec<String>,
    /// The statistics catalogs the application role or one of its logins may read
    /// ([`STATISTICS_SQL`]).
    pub(super) statistics: Vec<String>,
    /// Functions of the large-object interface the application role or one of its logins may
    /// run ([`LARGE_OBJECTS_SQL`]).
    pub(super) large_objects: Vec<String>,
    /// PostgreSQL's counters of one relation, index, function or database the application
    /// role or a role it can become may run ([`STATISTICS_COUNTERS_SQL`]).
    pub(super) statistics_counters: Vec<String>,
    /// The catalogs holding other roles' credentials that the application role or one of its
    /// logins may read ([`crate::roles::server_access`]).
    pub(super) credentials: BTreeSet<String>,
    /// Foreign tables of file_fdw, and views of them, the application role or one of its
    /// logins may read ([`SERVER_FILES_SQL`]).
    pub(super) server_files: Vec<KindNameRow>,
    /// Referential actions a write by the application role sets off on every tenant's rows.
    pub(super) cascades: Vec<CascadeRow>,
    /// Relations the application role may read that no policy covers (row level security
    /// off), and the relations a view or materialized view it may read shows with its owner's
    /// rights: whatever is written there, every tenant reads.
    pub(super) shared: Vec<String>,
    /// Where a write into a relation reaches besides itself ([`WRITE_REACH_SQL`]).
    pub(super) write_reach: Vec<WriteReachRow>,
    /// The relations a session of the application writes itself, as one of the roles it may
    /// act as ([`Self::reachable`]): with a privilege of that role, and those its writes
    /// reach by cascading foreign keys and by inheritance.
    pub(super) written_by_sessions: Vec<WrittenRow>,
    /// Tables with a unique key that a role a session of the application may act as may
    /// insert into or update: whether a value is there, its unique violation tells.
    pub(super) probe_keys: Vec<String>,
    /// The sequences a role a session of the application may act as may read the value of.
    pub(super) readable_sequences: Vec<SequenceRow>,
    pub(super) audit: Option<AuditLog>,
    /// Where sessions of the application role may run with `session_replication_role =
    /// replica` ([`SETTING_DEFAULTS_SQL`]).
    pub(super) replica_sessions: Vec<String>,
    /// Where sessions of the application role start with the extension's
    /// `tenancy_context.allow_explain` on ([`SETTING_DEFAULTS_SQL`]).
    pub(super) explain_sessions: Vec<String>,
    /// Views a role a session of the application may act as may read that are too big for
    /// the check to read ([`super::view_expansion`]): it cannot tell whether one shows a copy
    /// of the context key.
    pub(super) unread_key_views: Vec<String>,
}

impl Catalog {
    /// How a session of the application acts as `role`, for a message: `a login of it, or a
    /// role reached through its memberships ..`, or through the SECURITY DEFINER function
    /// that runs as it.
    pub(super) fn how_acting_as(&self, role: &str) -> String {
        through_definer(&self.acting, role).unwrap_or_else(|| {
            "a login of it, or a role reached through its memberships by SET ROLE or inherited"
                .to_owned()
        })
    }

    /// Who runs what `role` may run, for a message: the application role itself (`role` is it
    /// or one of its logins), or a session of it acting as `role`, and how.
    pub(super) fn run_by(&self, role: &str, app_role: &str) -> String {
        if self.app_and_logins.iter().any(|r| r == role) {
            format!("`{app_role}`")
        } else {
            format!("`{app_role}` as `{role}` ({})", self.how_acting_as(role))
        }
    }

    /// The keys, indexes and foreign keys of `table` ([`KeyRow`]), none for a table the
    /// catalog does not have.
    pub(super) fn keys_of(&self, table: &str) -> &[KeyRow] {
        self.keys.get(table).map(Vec::as_slice).unwrap_or_default()
    }

    /// Whether a session of the application may use `table` by its own name: the
    /// application role, or a role it may act as, holds a privilege on it (`PUBLIC`'s
    /// included) or owns it.
    pub(super) fn used_by_name(&self, table: &str) -> bool {
        self.tables.get(table).is_some_and(|t| {
            t.app_reads_any
                || t.app_can_write
                || !t.app_unpoliced.is_empty()
                || t.app_is_owner
                || t.app_in_owner
        }) || self.role_policies.contains_key(table)
            || self.role_tables.iter().any(|r| r.table_name == table)
    }

    /// Whether `table` is a partition of one of `tenant_tables` that no session of the
    /// application uses by its own name: its rows are read and written through its parent,
    /// under the parent's policies, which PostgreSQL applies in place of the partition's own.
    pub(super) fn partition_reached_through_parent(
        &self,
        table: &str,
        tenant_tables: &BTreeMap<String, String>,
    ) -> bool {
        self.tables
            .get(table)
            .and_then(|t| t.partition_of.as_ref())
            .is_some_and(|parent| tenant_tables.contains_key(parent))
            && !self.used_by_name(table)
    }

    /// Whether the database alone says `table` holds tenant rows: it has the tenant column and
    /// is not the tenants table itself. `check` lints such a table even when no model
    /// classifies it, and `tenancy print-schema` classifies it tenant-scoped.
    pub(super) fn has_tenant_column(&self, table: &str, o: &CheckOptions) -> bool {
        table != o.tenants_table
            && self
                .columns
                .get(table)
                .is_some_and(|cols| cols.iter().any(|c| c.column_name == o.tenant_column))
    }

    /// The rows `sql` gives for `$1`, every role a session of the application's may act as
    /// ([`Self::reachable`]); none when the application role does not exist, since then
    /// TEN060's finding says all there is to say.
    pub(super) fn ask_of_reachable<R>(
        &self,
        conn: &mut PgConnection,
        sql: &str,
    ) -> QueryResult<Vec<R>>
    where
        R: QueryableByName<diesel::pg::Pg> + 'static,
    {
        if !self.role.exists {
            return Ok(Vec::new());
        }
        diesel::sql_query(sql)
            .bind::<Array<Text>, _>(&self.reachable)
            .load(conn)
    }
}

/// How a session of the application acts as `role` when a SECURITY DEFINER function, not a
/// membership, reaches it (`acting`, [`Catalog::acting`]), for a message; `None` for a role
/// reached through memberships alone.
fn through_definer(acting: &BTreeMap<String, Via>, role: &str) -> Option<String> {
    Some(match acting.get(role)? {
        Via::OwnersMembership => "a role that the owner of a SECURITY DEFINER function a session of it may run, or of a table whose trigger its referential actions set off, is a member of: that code has its rights".to_owned(),
        Via::Definer(function) => format!(
            "the owner of SECURITY DEFINER function {function}, which a session of it may run (directly, from another such function, or with no EXECUTE check as a trigger its writes fire, an aggregate's support function or a type's I/O function): its body runs with `{role}`'s rights"
        ),
        Via::CascadeTrigger(trigger) => format!(
            "the owner of the table of {trigger}, which a referential action of its writes sets off: the action, and the trigger's body, run with `{role}`'s rights"
        ),
    })
}

/// Orders two rows about the same object that different roles may use: those of the
/// application role and its logins first, then by role, so that `dedup_by` keeps the row
/// whose role a message can name most directly.
fn app_roles_first(app_and_logins: &[String], a: &str, b: &str) -> std::cmp::Ordering {
    let app = |role: &str| app_and_logins.iter().any(|r| r == role);
    app(b).cmp(&app(a))
}

/// Whether an object's comment says a person reviewed what a lint would report about it
/// (`COMMENT ON .. IS 'tenancy: reviewed: <why>'`).
pub(super) fn reviewed(comment: Option<&str>) -> bool {
    comment.is_some_and(|c| c.starts_with("tenancy: reviewed"))
}

fn group<T>(rows: Vec<T>, key: impl Fn(&T) -> String) -> BTreeMap<String, Vec<T>> {
    let mut out: BTreeMap<String, Vec<T>> = BTreeMap::new();
    for row in rows {
        out.entry(key(&row)).or_default().push(row);
    }
    out
}

/// Every login (or other role) that is a member of the application role, directly or through
/// other roles. What each can become is [`crate::roles::reachable`], the query `Tenancy` checks
/// its own login with. The application role's own attributes are TEN061-64.
/// Functions the planner may run on a row before the policies have filtered it: a qual made
/// only of LEAKPROOF functions may be evaluated ahead of the policies' quals (and is, when it
/// is cheaper), so a function that shows its argument (a NOTICE, an error, a write) shows
/// every tenant's values. Only a superuser marks a function LEAKPROOF; PostgreSQL's own are
/// reviewed for it: on the version whose list tenancy carries
/// ([`super::builtin_leakproof`]), one of its own not on the list was marked later; on
/// others, none of its types' input and output functions is LEAKPROOF. One without arguments
/// sees nothing of a row.
const LEAKPROOF_SQL: &str = "
SELECT p.oid::regprocedure::text AS name
FROM pg_proc p
WHERE p.proleakproof AND p.pronargs > 0
  AND (p.oid >= 16384
       -- PostgreSQL marks none of its types' input and output functions LEAKPROOF: their
       -- errors quote the value (`invalid input syntax for type integer: ..`).
       OR EXISTS (SELECT FROM pg_type t
                  WHERE p.oid IN (t.typinput::oid, t.typoutput::oid, t.typreceive::oid, t.typsend::oid))
       OR (current_setting('server_version_num')::int / 10000 = BUILTIN_MAJOR
           AND NOT p.oid = ANY (BUILTIN_LEAKPROOF)))
  AND EXISTS (SELECT FROM unnest($1::text[]) r (name)
              WHERE has_function_privilege(r.name, p.oid, 'EXECUTE'))
ORDER BY 1";

/// The planner's statistics: sample values of every column of every table, most common values
/// and histograms included, whoever's rows they are. PostgreSQL keeps these catalogs from
/// everyone but superusers and shows them through views that leave out tables under row
/// level security; a grant on the catalogs themselves bypasses that.
/// PostgreSQL's views of them count too when their condition on row level security is gone
/// (a superuser may replace them, with `allow_system_table_mods`): they run with their owner's
/// rights, a superuser's.
const STATISTICS_SQL: &str = "
SELECT c.oid::regclass::text AS name
FROM pg_class c
WHERE c.oid IN ('pg_catalog.pg_statistic'::regclass, 'pg_catalog.pg_statistic_ext_data'::regclass)
  AND EXISTS (SELECT FROM unnest($1::text[]) r (name)
              WHERE has_any_column_privilege(r.name, c.oid, 'SELECT'))
UNION ALL
SELECT 'view ' || c.oid::regclass::text
FROM pg_class c
WHERE c.relnamespace = 'pg_catalog'::regnamespace
  AND c.relname IN ('pg_stats', 'pg_stats_ext', 'pg_stats_ext_exprs') AND c.relkind = 'v'
  AND pg_get_viewdef(c.oid) !~ 'row_security_active'
  AND EXISTS (SELECT FROM unnest($1::text[]) r (name)
              WHERE has_any_column_privilege(r.name, c.oid, 'SELECT'))
ORDER BY 1";

/// The functions of the large-object interface (also what libpq's client interface calls).
/// Large objects are outside row level security and belong to the role that created them:
/// every tenant's transactions run as one login, so one tenant's SQL reads, changes and
/// deletes what another's stored. The migrations take these functions from PUBLIC. A function
/// of LANGUAGE internal whose source names one of theirs (`AS 'be_lo_get'`) is the same C code
/// under another name, and counts as it.
const LARGE_OBJECTS_SQL: &str = "
WITH closed AS (
  SELECT b.oid, b.prosrc FROM pg_proc b
  WHERE b.pronamespace = 'pg_catalog'::regnamespace
    AND b.proname IN ('lo_open', 'lo_close', 'loread', 'lowrite', 'lo_lseek', 'lo_lseek64',
                      'lo_tell', 'lo_tell64', 'lo_truncate', 'lo_truncate64', 'lo_creat',
                      'lo_create', 'lo_unlink', 'lo_import', 'lo_export', 'lo_from_bytea',
                      'lo_get', 'lo_put')
)
SELECT p.oid::regprocedure::text AS name
FROM pg_proc p
WHERE (p.oid IN (SELECT oid FROM closed)
       OR (p.oid >= 16384 AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'internal')
           AND p.prosrc IN (SELECT c.prosrc FROM closed c WHERE c.oid < 16384)))
  AND EXISTS (SELECT FROM unnest($1::text[]) r (name)
              WHERE has_function_privilege(r.name, p.oid, 'EXECUTE'))
ORDER BY 1";

/// PostgreSQL's statistics counters of one object (`pg_stat_get_%(oid)`: a table's, an index's,
/// a function's, a database's, the per-transaction `pg_stat_get_xact_%` among them). They count
/// the index entries and heap tuples a scan read before row level security dropped other
/// tenants' rows: read around a range query, they tell whether another tenant's value falls in
/// the range, and narrowed one character at a time they list every tenant's values of an
/// indexed column. With them `currtid2`, which follows a row version to the newest past row
/// level security, and so counts how often other tenants' rows were updated. The migrations
/// take them from PUBLIC (`tenancy.close_statistics_counters()`).
/// `has_function_privilege` counts PUBLIC's grant and every membership (pg_monitor's too). A
/// function of LANGUAGE internal whose source names one of theirs is the same C code under
/// another name (and a new function is PUBLIC's to run), and counts as it.
const STATISTICS_COUNTERS_SQL: &str = "
WITH closed AS (
  SELECT b.oid, b.prosrc FROM pg_proc b
  WHERE b.pronamespace = 'pg_catalog'::regnamespace
    AND ((starts_with(b.proname, 'pg_stat_get_')
          AND b.pronargs = 1 AND b.proargtypes[0] = 'oid'::regtype)
         OR b.proname IN ('currtid', 'currtid2'))
)
SELECT p.oid::regprocedure::text AS name
FROM pg_proc p
WHERE (p.oid IN (SELECT oid FROM closed)
       OR (p.oid >= 16384 AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'internal')
           AND p.prosrc IN (SELECT c.prosrc FROM closed c WHERE c.oid < 16384)))
  AND EXISTS (SELECT FROM unnest($1::text[]) r (name)
              WHERE has_function_privilege(r.name, p.oid, 'EXECUTE'))
ORDER BY 1";

/// The foreign keys of tenant tables (those with the tenant column `$2`, in schema `$1` or in
/// any other schema but PostgreSQL's own: a partition of a tenant table kept elsewhere, a copy
/// of one; tables elsewhere are named with their schema) whose
/// referential action changes rows (CASCADE, SET NULL, SET DEFAULT) when a role among `$4`
/// deletes or updates a referenced row, unless the key pairs the tenant column with the
/// target's tenant column (then the action stays within the writer's tenant) or the target is
/// the tenants table `$3` (whose writes are TEN053). PostgreSQL runs referential actions as
/// the referencing table's owner, past row level security: one tenant deleting a row of a
/// global table deletes every tenant's rows that point at it. Keys a partition inherits are
/// left out; their parent's is reported.
const CASCADES_SQL: &str = "
SELECT CASE WHEN c.relnamespace = quote_ident($1)::regnamespace THEN c.relname::text ELSE c.oid::regclass::text END AS table_name,
       con.conname::text AS name,
       ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k (n, o)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.o) AS columns,
       con.confrelid::regclass::text AS target,
       e.event || ' ' || CASE e.action WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL'
                                       WHEN 'd' THEN 'SET DEFAULT' WHEN 'r' THEN 'RESTRICT'
                                       ELSE 'NO ACTION' END AS action,
       e.privilege,
       ARRAY(SELECT r.name FROM unnest($4::text[]) r (name)
             WHERE CASE e.privilege
                     WHEN 'DELETE' THEN has_table_privilege(r.name, con.confrelid, 'DELETE')
                     ELSE EXISTS (SELECT FROM unnest(con.confkey) k (n)
                                  WHERE has_column_privilege(r.name, con.confrelid, k.n, 'UPDATE'))
                   END
             ORDER BY 1) AS roles
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace ns ON ns.oid = c.relnamespace
CROSS JOIN LATERAL (VALUES ('ON DELETE', con.confdeltype, 'DELETE'),
                           ('ON UPDATE', con.confupdtype, 'UPDATE')) e (event, action, privilege)
WHERE con.contype = 'f' AND con.conparentid = 0
  AND ns.nspname NOT IN ('pg_catalog', 'information_schema') AND ns.nspname !~ '^pg_'
  -- RESTRICT and NO ACTION too: the key's error answers whether another tenant's rows point
  -- at the row.
  AND e.action IN ('c', 'n', 'd', 'r', 'a')
  -- A tenant table: the tenant column, or a column named otherwise that is a key of its own
  -- into the tenants table (`org_id REFERENCES tenants`).
  AND (EXISTS (SELECT FROM pg_attribute a
               WHERE a.attrelid = c.oid AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped)
       OR EXISTS (SELECT FROM pg_constraint t
                  WHERE t.conrelid = c.oid AND t.contype = 'f' AND cardinality(t.conkey) = 1
                    AND t.confrelid = to_regclass(quote_ident($1) || '.' || quote_ident($3))))
  AND con.confrelid IS DISTINCT FROM to_regclass(quote_ident($1) || '.' || quote_ident($3))
  -- A key between two tenant tables that carries the tenant across stays in the tenant.
  AND NOT EXISTS (SELECT FROM unnest(con.conkey, con.confkey) k (src, dst)
                  JOIN pg_attribute s ON s.attrelid = con.conrelid AND s.attnum = k.src
                  JOIN pg_attribute d ON d.attrelid = con.confrelid AND d.attnum = k.dst
                  WHERE (s.attname = $2 AND d.attname = $2)
                     OR (EXISTS (SELECT FROM pg_constraint ts
                                 WHERE ts.conrelid = con.conrelid AND ts.contype = 'f' AND ts.conkey = ARRAY[k.src]
                                   AND ts.confrelid = to_regclass(quote_ident($1) || '.' || quote_ident($3)))
                         AND EXISTS (SELECT FROM pg_constraint td
                                     WHERE td.conrelid = con.confrelid AND td.contype = 'f' AND td.conkey = ARRAY[k.dst]
                                       AND td.confrelid = to_regclass(quote_ident($1) || '.' || quote_ident($3)))))
ORDER BY 1, 2, 5";

/// `RECURSIVE <name> (oid) AS (..)`, for a `WITH`: the relations `start` selects, and every
/// view or materialized view that reads one of them, directly or through other views (their
/// rewrite rules depend on what they read).
macro_rules! views_reading {
    ($name:literal, $start:literal) => {
        concat!(
            "RECURSIVE ",
            $name,
            " (oid) AS (\n  ",
            $start,
            "\n  UNION\n",
            "  SELECT r.ev_class\n  FROM ",
            $name,
            " k\n",
            "  JOIN pg_depend d ON d.refclassid = 'pg_class'::regclass AND d.refobjid = k.oid\n",
            "                  AND d.classid = 'pg_rewrite'::regclass\n",
            "  JOIN pg_rewrite r ON r.oid = d.objid\n",
            "  WHERE r.ev_class <> k.oid\n)"
        )
    };
}

/// `VIEW_REACH` in the catalog queries: a recursive CTE `reach (view, rel)` of each view or
/// materialized view and every relation it reads, through any number of views (what its
/// rewrite rule depends on).
pub(super) const VIEW_REACH: &str = "reach (view, rel) AS (
  SELECT r.ev_class, d.refobjid
  FROM pg_rewrite r
  JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                  AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> r.ev_class
  UNION
  SELECT reach.view, d.refobjid
  FROM reach
  JOIN pg_rewrite r ON r.ev_class = reach.rel
  JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                  AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> r.ev_class
)";

/// The views and materialized views the role `$1` may use in any way (read, or write through
/// an updatable view; column grants count), outside PostgreSQL's own schemas, with the
/// relations each reads through any number of views: those in schema `$2` by name, others as
/// `regclass` prints them; and those of the others with a column named `$3`.
const VIEWS_SQL: &str = "
WITH RECURSIVE VIEW_REACH
SELECT c.oid::regclass::text AS name, $1::text AS role,
       has_any_column_privilege($1, c.oid, 'SELECT') AS readable,
       pg_get_viewdef(c.oid) AS definition,
       coalesce(c.reloptions::text[] && ARRAY['security_invoker=true', 'security_invoker=on', 'security_invoker=1'], false) AS security_invoker,
       ARRAY(SELECT DISTINCT CASE WHEN b.relnamespace = quote_ident($2)::regnamespace THEN b.relname::text
                                  ELSE b.oid::regclass::text END
             FROM reach JOIN pg_class b ON b.oid = reach.rel
             WHERE reach.view = c.oid AND b.relkind IN ('r', 'p', 'f', 'S', 'm')
             ORDER BY 1) AS reads,
       ARRAY(SELECT DISTINCT b.relname::text
             FROM reach JOIN pg_class b ON b.oid = reach.rel
             WHERE reach.view = c.oid AND b.relkind IN ('r', 'p', 'f', 'S', 'm')
             ORDER BY 1) AS read_names,
       ARRAY(SELECT DISTINCT b.oid::regclass::text
             FROM reach JOIN pg_class b ON b.oid = reach.rel
             WHERE reach.view = c.oid AND b.relkind IN ('r', 'p', 'f', 'm')
               AND b.relnamespace <> quote_ident($2)::regnamespace
               AND EXISTS (SELECT FROM pg_attribute a
                           WHERE a.attrelid = b.oid AND a.attname = $3 AND a.attnum > 0
                             AND NOT a.attisdropped)
             ORDER BY 1) AS copies
FROM pg_class c
WHERE c.relkind IN ('v', 'm')
  AND (c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace) OR c.oid >= 16384)
  AND (has_any_column_privilege($1, c.oid, 'SELECT') OR has_any_column_privilege($1, c.oid, 'INSERT')
       OR has_any_column_privilege($1, c.oid, 'UPDATE') OR has_table_privilege($1, c.oid, 'DELETE'))";

/// Foreign tables served by file_fdw (its handler, whatever the SQL function or the wrapper
/// are called), and the views and materialized views built on them, that a role among `$1`
/// may read: file_fdw reads a file, or runs a program, as the operating system user that owns
/// every table's data files, where each table's rows are every tenant's. Only those who may
/// read the server's files may create one; reading it, or a view of it, needs nothing but
/// SELECT.
const SERVER_FILES_SQL: &str = concat!(
    "WITH ",
    views_reading!(
        "reads",
        "SELECT ft.ftrelid
  FROM pg_foreign_table ft
  JOIN pg_foreign_server s ON s.oid = ft.ftserver
  JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw
  JOIN pg_proc h ON h.oid = w.fdwhandler
  WHERE h.prosrc = 'file_fdw_handler' OR h.probin ~ '(^|/)file_fdw(\\.so)?$'"
    ),
    "
SELECT CASE c.relkind WHEN 'f' THEN 'foreign table' WHEN 'm' THEN 'materialized view'
                      ELSE 'view' END AS kind, c.oid::regclass::text AS name
FROM reads JOIN pg_class c ON c.oid = reads.oid
WHERE EXISTS (SELECT FROM unnest($1::text[]) r (name)
              WHERE has_any_column_privilege(r.name, c.oid, 'SELECT'))
ORDER BY 1"
);

const MEMBERS_SQL: &str = "
WITH RECURSIVE members (oid) AS (
  SELECT oid FROM pg_roles WHERE rolname = $1
  UNION
  SELECT m.member FROM pg_auth_members m JOIN members ON m.roleid = members.oid
)
SELECT r.rolname::text AS name FROM members JOIN pg_roles r ON r.oid = members.oid
WHERE r.rolname <> $1 AND r.rolcanlogin
ORDER BY 1";

/// What the roles among `$2` (the logins of the application role `$1`, and the roles they can
/// become) may create in that the application role itself may not: schemas they may create objects in, and the database
/// when they may create schemas.
const MEMBER_CREATE_SQL: &str = "
SELECT r.rolname::text AS login, 'schema'::text AS kind, n.nspname::text AS object
FROM pg_roles r, pg_namespace n
WHERE r.rolname = ANY ($2) AND has_schema_privilege(r.oid, n.oid, 'CREATE')
  AND NOT has_schema_privilege($1, n.oid, 'CREATE')
  AND n.nspname !~ '^pg_(toast_)?temp_'
UNION ALL
SELECT r.rolname::text, 'database', current_database()::text
FROM pg_roles r
WHERE r.rolname = ANY ($2) AND has_database_privilege(r.oid, current_database(), 'CREATE')
  AND NOT has_database_privilege($1, current_database(), 'CREATE')
ORDER BY 1, 2, 3";

/// A schema or database a login of the application role may create in.
#[derive(QueryableByName)]
pub(super) struct MemberCreateRow {
    #[diesel(sql_type = Text)]
    pub(super) login: String,
    /// `schema` or `database`.
    #[diesel(sql_type = Text)]
    pub(super) kind: String,
    #[diesel(sql_type = Text)]
    pub(super) object: String,
}

/// Whether the tenant context is the sealed one (`tenancy.current_tenant()` is the
/// SECURITY DEFINER reader of what `tenancy.enter()` verified, and the key exists) and which
/// rights would let the application role forge it anyway.
const CONTEXT_SQL: &str = concat!(
    "
-- The views and materialized views that read tenancy.context_key, directly or through others.
WITH ",
    views_reading!(
        "key_readers",
        "SELECT to_regclass('tenancy.context_key')::oid WHERE to_regclass('tenancy.context_key') IS NOT NULL"
    ),
    "
SELECT has_database_privilege($1, current_database(), 'TEMPORARY') AS temporary,
  coalesce((SELECT p.prosecdef FROM pg_proc p
            WHERE p.oid = to_regprocedure('tenancy.verified_context(integer,text)')), false)
  -- The policies' two readers are exactly one of tenancy's forms: the SQL context's, or the
  -- native context's with the SQL context's as its fallback (a CASE, or from extension 1.2
  -- one C function that falls back itself). Anything else (a reader that
  -- also accepts a setting, a constant) lets SQL or nobody decide the tenant.
  AND coalesce((
    SELECT bool_and(coalesce(pg_get_function_sqlbody(p.oid),
                             regexp_replace(btrim(p.prosrc), '\\s+', ' ', 'g')) IN (
             format('RETURN tenancy.verified_context(%s, %L::text)', v.part, v.setting),
             format('SELECT CASE WHEN tenancy_context.entered() THEN tenancy_context.%s() '
                    'ELSE tenancy.verified_context(%s, %L) END', v.native, v.part, v.setting),
             format('SELECT tenancy_context.%s()', v.name)))
    FROM pg_proc p
    JOIN (VALUES ('current_tenant', 'tenant', 1, 'tenancy.tenant_id'),
                 ('current_principal', 'principal', 2, 'tenancy.principal_id'))
         v(name, native, part, setting) ON p.proname = v.name
    WHERE p.pronamespace = to_regnamespace('tenancy') AND p.pronargs = 0
    HAVING count(*) = 2), false) AS sealed_function,
  to_regclass('tenancy.context_key') IS NOT NULL AS has_key,
  (r.native
   -- or the policies name the extension's readers themselves (enable_native_context()), which
   -- without the extension are whatever a schema of that name holds
   OR EXISTS (SELECT FROM pg_policy pol
              WHERE concat(pg_get_expr(pol.polqual, pol.polrelid), ' ',
                           pg_get_expr(pol.polwithcheck, pol.polrelid)) LIKE '%tenancy\\_context.%'))
  AND NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'tenancy_context') AS native_without_extension,
  r.native AND to_regprocedure('tenancy_context.current_tenant()') IS NOT NULL AS native_readers,
  ARRAY(
    SELECT p.oid::regprocedure::text FROM pg_proc p
    WHERE p.pronamespace = to_regnamespace('tenancy_context')
      AND (p.prolang <> (SELECT oid FROM pg_language WHERE lanname = 'c')
           OR pg_has_role($1, p.proowner, 'MEMBER')
           -- Declared IMMUTABLE, a reader is folded into a constant when a statement is
           -- planned: a cached plan keeps one tenant's id for the next.
           OR p.provolatile = 'i' OR p.prosecdef OR p.proconfig IS NOT NULL
           OR NOT EXISTS (SELECT FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
                          WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                            AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
                            AND e.extname = 'tenancy_context'))
    ORDER BY 1) AS foreign_native_functions,
  ARRAY(
    SELECT what FROM (
      -- Reading the key forges MACs; writing it puts in a key the writer knows. Column
      -- grants count: SELECT (key) reads it as well.
      SELECT format('%s on tenancy.context_key', string_agg(p, ', ')) AS what
      FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p
      WHERE to_regclass('tenancy.context_key') IS NOT NULL
        AND (has_table_privilege($1, to_regclass('tenancy.context_key'), p)
             OR (p IN ('SELECT', 'INSERT', 'UPDATE')
                 AND has_any_column_privilege($1, to_regclass('tenancy.context_key'), p)))
      HAVING count(*) > 0
      UNION ALL
      -- SELECT reads a sequence's current value (currval, last_value) as USAGE does.
      SELECT format('USAGE, SELECT or UPDATE on sequence %s', c.oid::regclass)
      FROM pg_class c
      WHERE c.relnamespace = to_regnamespace('tenancy') AND c.relkind = 'S'
        AND (has_sequence_privilege($1, c.oid, 'USAGE') OR has_sequence_privilege($1, c.oid, 'SELECT')
             OR has_sequence_privilege($1, c.oid, 'UPDATE'))
      UNION ALL
      SELECT format('EXECUTE on %s', p.oid::regprocedure)
      FROM pg_proc p
      WHERE p.pronamespace = to_regnamespace('tenancy')
        AND p.proname IN ('install_context_key', 'trusted_session', 'rewrite_policies')
        AND has_function_privilege($1, p.oid, 'EXECUTE')
      UNION ALL
      -- The key read on the application role's behalf: a view that reads it with its
      -- owner's rights, through any number of views, or a materialized copy of it.
      SELECT format('SELECT on %s %s, which reads tenancy.context_key with its owner''s rights',
                    CASE c.relkind WHEN 'm' THEN 'materialized view' ELSE 'view' END,
                    c.oid::regclass)
      FROM key_readers k JOIN pg_class c ON c.oid = k.oid
      WHERE c.relkind IN ('v', 'm') AND has_any_column_privilege($1, c.oid, 'SELECT')
        AND (c.relkind = 'm'
             OR NOT coalesce(c.reloptions::text[] && ARRAY['security_invoker=true', 'security_invoker=on',
                                                           'security_invoker=1'], false))
      UNION ALL
      -- Or a function that runs as its owner and names the key (tenancy.enter() reads it to
      -- check a MAC, and is compared with its migration by TEN072), called or run with no
      -- EXECUTE check (a trigger on a table it writes, an aggregate's support function, ..).
      SELECT format('%s %s, a SECURITY DEFINER function that reads tenancy.context_key',
                    CASE WHEN has_function_privilege($1, p.oid, 'EXECUTE') THEN 'EXECUTE on'
                         ELSE 'a trigger, aggregate, type or event trigger that runs' END,
                    p.oid::regprocedure)
      FROM pg_proc p
      WHERE p.prosecdef AND RUN_BY_ROLE
        AND NOT (p.pronamespace = to_regnamespace('tenancy') AND p.proname = 'enter')
        AND concat(p.prosrc, ' ', pg_get_function_sqlbody(p.oid)) ~* 'context_key'
      UNION ALL
      -- Or one whose owner may read the key, whatever its text names: a helper it calls reads
      -- the key with the same rights. Tenancy's own run as the role that ran the migrations,
      -- which owns the key (TEN072 compares them), and a superuser's are TEN070's.
      SELECT format('%s %s, a SECURITY DEFINER function whose owner %s may read tenancy.context_key',
                    CASE WHEN has_function_privilege($1, p.oid, 'EXECUTE') THEN 'EXECUTE on'
                         ELSE 'a trigger, aggregate, type or event trigger that runs' END,
                    p.oid::regprocedure, o.rolname)
      FROM pg_proc p JOIN pg_roles o ON o.oid = p.proowner
      WHERE p.prosecdef AND RUN_BY_ROLE
        AND to_regclass('tenancy.context_key') IS NOT NULL AND NOT o.rolsuper
        AND p.proowner <> (SELECT c.relowner FROM pg_class c WHERE c.oid = to_regclass('tenancy.context_key'))
        AND has_any_column_privilege(p.proowner, to_regclass('tenancy.context_key'), 'SELECT')
        AND concat(p.prosrc, ' ', pg_get_function_sqlbody(p.oid)) !~* 'context_key'
    ) forgeable
  ) AS forgeable_by,
  ARRAY(
    SELECT w FROM (
      SELECT format('TRIGGER %I', t.tgname) AS w
      FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE t.tgrelid = to_regclass('tenancy.context_key') AND NOT t.tgisinternal
        AND (n.nspname, p.proname) NOT IN (('tenancy', 'context_key_changed'),
                                           ('tenancy_context', 'status_changed'))
      UNION ALL
      SELECT format('RULE %I', r.rulename)
      FROM pg_rewrite r WHERE r.ev_class = to_regclass('tenancy.context_key')
    ) watchers ORDER BY 1
  ) AS key_watchers,
  (SELECT btrim(regexp_replace(p.prosrc, '\\s+', ' ', 'g')) FROM pg_proc p
   WHERE p.oid = to_regprocedure('tenancy.check_session()')) AS session_check_body,
  coalesce((SELECT has_function_privilege($1, p.oid, 'EXECUTE') FROM pg_proc p
            WHERE p.oid = to_regprocedure('tenancy.check_session()')), false)
    AS session_check_executable,
  ARRAY(SELECT n.nspname::text FROM pg_namespace n
        WHERE has_schema_privilege($1, n.oid, 'CREATE')
          AND n.nspname !~ '^pg_(toast_)?temp_'
        ORDER BY 1) AS creatable_schemas,
  CASE WHEN has_database_privilege($1, current_database(), 'CREATE')
       THEN current_database()::text END AS schema_creating_database
-- Whether the SQL readers ask the native context (tenancy.native_context(), which a database
-- on older migrations does not have).
FROM (SELECT coalesce((SELECT p.prosrc LIKE '%tenancy_context.%' FROM pg_proc p
                       WHERE p.pronamespace = to_regnamespace('tenancy')
                         AND p.proname = 'current_tenant' AND p.pronargs = 0), false) AS native) r"
);

/// [`CONTEXT_SQL`] with the test of whether `$1` runs a function written in.
fn context_sql() -> String {
    CONTEXT_SQL.replace("RUN_BY_ROLE", &super::unchecked_runs::runs("$1"))
}

/// The columns of relations (other than the key's own table) that the role `$1` may read
/// where a copy of the key would be: any column whose values can spell it (bytea, text of any
/// kind, json, arrays and composites of them, domains over them), under any name, in any
/// schema but PostgreSQL's own catalogs, TOAST and temporary ones. `named` marks the columns
/// a copy is most likely in (a bytea column named like one of the key's table, anything in
/// schema tenancy), which count as copies when this connection cannot read them to tell.
/// A view that runs as its caller reads only what the caller may, and what it reads is a
/// candidate itself; a view that calls functions other than PostgreSQL's own is not read,
/// since reading it would run them with this connection's rights.
const KEY_COPIES_SQL: &str = "
SELECT c.oid::regclass::text AS relation, quote_ident(a.attname) AS column_name,
       (c.relnamespace = to_regnamespace('tenancy')
        OR (a.atttypid = 'bytea'::regtype
            AND a.attname IN (SELECT k.attname FROM pg_attribute k
                              WHERE k.attrelid = to_regclass('tenancy.context_key') AND k.attnum > 0
                                AND NOT k.attisdropped AND k.atttypid = 'bytea'::regtype))) AS named
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type ty ON ty.oid = a.atttypid
WHERE to_regclass('tenancy.context_key') IS NOT NULL AND c.oid <> to_regclass('tenancy.context_key')
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND NOT (n.nspname IN ('pg_catalog', 'information_schema') AND c.oid < 16384)
  AND n.nspname <> 'pg_toast' AND n.nspname !~ '^pg_(toast_)?temp_'
  AND ty.typcategory IN ('S', 'U', 'A', 'C') AND a.atttypid <> 'uuid'::regtype
  AND NOT (c.relkind = 'v' AND coalesce(c.reloptions::text[] && ARRAY['security_invoker=true',
                                        'security_invoker=on', 'security_invoker=1'], false))
  AND NOT (c.relkind = 'v' AND EXISTS (
        SELECT FROM pg_rewrite r
        JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                        AND d.refclassid = 'pg_proc'::regclass
        WHERE r.ev_class = c.oid AND d.refobjid >= 16384))
  AND has_schema_privilege($1, c.relnamespace, 'USAGE')
  AND has_column_privilege($1, c.oid, a.attnum, 'SELECT')";

/// `NOT_A_LANGUAGE_EXTENSION` in the queries: extension membership `d` (a row of `pg_depend`
/// of type `e`) is not in a procedural language's extension (plpgsql). Such an extension
/// ships only its language's handlers, no event trigger and no function named like a
/// built-in: an object added to it afterwards (`ALTER EXTENSION plpgsql ADD ..`) is hidden
/// there, not shipped.
pub(super) const NOT_A_LANGUAGE_EXTENSION: &str = "NOT EXISTS (SELECT FROM pg_depend l
                    WHERE l.classid = 'pg_language'::regclass AND l.deptype = 'e'
                      AND l.refobjid = d.refobjid)";

/// The key and its padded keys as hex (lower case) and as base64 (without the line breaks
/// `encode` puts in), each an array, as `k.hex` and `k.b64`. A value holds a copy when its
/// text form holds one of them: a bytea's text form is its hex, so the raw bytes count too.
pub(super) const KEY_SPELLINGS: &str = "SELECT array_agg(encode(x, 'hex')) AS hex,
       array_agg(translate(encode(x, 'base64'), E'\\n', '')) AS b64
FROM tenancy.context_key, unnest(ARRAY[key, ipad, opad]) x";

/// Whether the text `VALUE` spells one of [`KEY_SPELLINGS`]' `k`, in hex of either case or in
/// base64 (line breaks and spaces aside).
pub(super) const SPELLS_KEY: &str = "(EXISTS (SELECT FROM unnest(k.hex) h WHERE strpos(lower(VALUE), h) > 0)
     OR EXISTS (SELECT FROM unnest(k.b64) b WHERE strpos(translate(VALUE, E'\\n\\r ', ''), b) > 0))";

#[derive(QueryableByName)]
struct KeyColumnRow {
    #[diesel(sql_type = Text)]
    relation: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    named: bool,
}

#[derive(QueryableByName)]
struct CopyRow {
    #[diesel(sql_type = Text)]
    relation: String,
    #[diesel(sql_type = Array<Text>)]
    columns: Vec<String>,
}

/// One scan of `relation` answering which of `columns` spell the key.
fn copies_in(relation: &str, columns: &[&KeyColumnRow]) -> String {
    let found: Vec<String> = columns
        .iter()
        .map(|c| {
            format!(
                "CASE WHEN bool_or({}) THEN {} END",
                SPELLS_KEY.replace("VALUE", &format!("t.{}::text", c.column_name)),
                quote_literal(&c.column_name)
            )
        })
        .collect();
    format!(
        "SELECT {rel}::text AS relation, array_remove(ARRAY[{}]::text[], NULL) AS columns FROM {relation} t, k",
        found.join(", "),
        rel = quote_literal(relation),
    )
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The copies of the context key among [`KEY_COPIES_SQL`]'s candidates for `roles`: columns
/// whose values spell the key or one of its pads, and the `named` candidates this connection
/// cannot read to tell. Every candidate is read in one statement; when that fails (a relation
/// this connection may not read, a foreign server down), each relation on its own.
///
/// Returns the copies, then the views too big to read ([`super::view_expansion`]) among the
/// candidates: what the check cannot see behind those counts against the roles.
fn key_copies(
    conn: &mut PgConnection,
    roles: &[String],
) -> QueryResult<(Vec<String>, Vec<String>)> {
    let candidates: Vec<KeyColumnRow> = diesel::sql_query(for_each_role(KEY_COPIES_SQL))
        .bind::<Array<Text>, _>(roles)
        .load(conn)?;
    let mut by_relation: BTreeMap<&str, Vec<&KeyColumnRow>> = BTreeMap::new();
    for c in &candidates {
        let columns = by_relation.entry(c.relation.as_str()).or_default();
        if !columns.iter().any(|k| k.column_name == c.column_name) {
            columns.push(c);
        }
    }
    if by_relation.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    // A view too big to plan is not read.
    let mut unread: Vec<String> = Vec::new();
    for view in super::view_expansion::oversized_views(conn)? {
        if by_relation.remove(view.as_str()).is_some() {
            unread.push(view);
        }
    }
    if by_relation.is_empty() {
        return Ok((Vec::new(), unread));
    }
    let mut found: Vec<(String, String)> = Vec::new();
    let read = |conn: &mut PgConnection, scans: Vec<String>| -> QueryResult<Vec<CopyRow>> {
        let mut rows = Vec::new();
        // Rolled back, with a time limit: a relation that cannot be read leaves the
        // connection usable (a savepoint when the caller's transaction is open).
        let looked = conn.transaction::<(), diesel::result::Error, _>(|conn| {
            use diesel::connection::SimpleConnection;
            conn.batch_execute("SET LOCAL statement_timeout = '60s'")?;
            rows = diesel::sql_query(format!(
                "WITH k AS ({KEY_SPELLINGS}) SELECT * FROM ({}) found WHERE cardinality(columns) > 0",
                scans.join("\nUNION ALL\n")
            ))
            .load(conn)?;
            Err(diesel::result::Error::RollbackTransaction)
        });
        match looked {
            Ok(()) | Err(diesel::result::Error::RollbackTransaction) => Ok(rows),
            Err(e) => Err(e),
        }
    };
    let scans: Vec<String> = by_relation
        .iter()
        .map(|(relation, columns)| copies_in(relation, columns))
        .collect();
    if let Ok(rows) = read(conn, scans) {
        for r in rows {
            found.extend(r.columns.into_iter().map(|c| (r.relation.clone(), c)));
        }
    } else {
        for (relation, columns) in &by_relation {
            match read(conn, vec![copies_in(relation, columns)]) {
                Ok(rows) => {
                    for r in rows {
                        found.extend(r.columns.into_iter().map(|c| (r.relation.clone(), c)));
                    }
                }
                Err(_) => found.extend(
                    columns
                        .iter()
                        .filter(|c| c.named)
                        .map(|c| ((*relation).to_owned(), c.column_name.clone())),
                ),
            }
        }
    }
    let mut out: Vec<String> = found
        .into_iter()
        .map(|(relation, column)| {
            format!(
                "SELECT on {relation} (column {column}), which holds a copy of tenancy.context_key"
            )
        })
        .collect();
    out.sort();
    out.dedup();
    Ok((out, unread))
}

#[derive(QueryableByName)]
struct Granted {
    #[diesel(sql_type = diesel::sql_types::Text)]
    what: String,
}

/// The application role `app` and every login that is a member of it, directly or through
/// other roles. A member that cannot log in opens no session: what it may do reaches a session
/// only through a login that is a member of it, which is one of these, and can become it.
fn app_and_logins(conn: &mut PgConnection, app: &str) -> QueryResult<Vec<String>> {
    let members: Vec<MemberRow> = diesel::sql_query(MEMBERS_SQL)
        .bind::<diesel::sql_types::Text, _>(app)
        .load(conn)?;
    Ok(std::iter::once(app.to_owned())
        .chain(members.into_iter().map(|m| m.name))
        .collect())
}

/// Every role a session of `roles` (`$1`) may act as, beyond `roles` themselves: each one they
/// can `SET ROLE` to, through any chain of memberships (a NOINHERIT role in the chain stops the
/// inheritance of rights, not the `SET ROLE`), which also covers every role whose rights they
/// inherit; `pg_database_owner` for the database's owner (a membership no `pg_auth_members`
/// row records); and the owner of every SECURITY DEFINER function one of them may run, whose
/// rights the function's body has, and so on from those owners. A function runs for a role
/// that may EXECUTE it, and for one PostgreSQL never asks ([`super::unchecked_runs`]: a
/// trigger on a table it writes, an aggregate's support function, a type's I/O function, an
/// event trigger's). A role that skips row level security is not walked on from, and comes
/// with `skips`: reached through memberships it is TEN065's already, and everything it may do
/// would be reported again; reached through a function, it is TEN065's as the function's
/// owner. Left out are the owners of tenancy's own functions (those of schema `tenancy` its
/// migrations create, `$2`, or all of that schema when `$3`, the database having run
/// migrations the check was not given), which TEN072 compares with the migrations, and of the
/// functions a person reviewed (`COMMENT .. IS 'tenancy: reviewed: ..'`, as TEN070 has them):
/// their owner, the role that ran the migrations, reads every tenant's rows and the context key
/// by design, and what they do with it is what TEN072 and the reviewer vouch for. `via` says
/// how a role beyond the memberships is reached: a function it owns that a role before it may
/// run, or '' for a role reached through the memberships of such an owner.
const BECOMES_SQL: &str = "
WITH RECURSIVE vetted_any (oid) AS (
  -- SECURITY DEFINER or not: a trigger's function runs as its table's owner when a
  -- referential action sets it off.
  SELECT p.oid FROM pg_proc p
  WHERE (p.pronamespace = to_regnamespace('tenancy') AND ($3 OR p.proname = ANY ($2)))
     OR coalesce(obj_description(p.oid, 'pg_proc'), '') LIKE 'tenancy: reviewed%'
), vetted (oid) AS (
  SELECT p.oid FROM pg_proc p WHERE p.prosecdef AND p.oid IN (SELECT oid FROM vetted_any)
), members (oid) AS (
  SELECT r.oid FROM pg_roles r WHERE r.rolname = ANY ($1)
  UNION
  SELECT n.oid FROM members
  CROSS JOIN LATERAL (
    SELECT m.roleid AS oid FROM pg_auth_members m WHERE m.member = members.oid
    UNION ALL
    SELECT 'pg_database_owner'::regrole::oid FROM pg_database d
    WHERE d.datname = current_database() AND d.datdba = members.oid
  ) n
), up (oid) AS (
  SELECT oid FROM members
  UNION
  SELECT n.oid FROM up
  JOIN pg_roles u ON u.oid = up.oid
  CROSS JOIN LATERAL (
    SELECT m.roleid AS oid FROM pg_auth_members m WHERE m.member = up.oid
    UNION ALL
    SELECT 'pg_database_owner'::regrole::oid FROM pg_database d
    WHERE d.datname = current_database() AND d.datdba = up.oid
    UNION ALL
    -- A superuser may run anything: what it reaches is TEN065's and TEN070's.
    SELECT p.proowner FROM pg_proc p JOIN pg_roles o ON o.oid = p.proowner
    WHERE NOT u.rolsuper AND p.prosecdef AND p.prokind IN ('f', 'p')
      AND NOT o.rolsuper AND NOT o.rolbypassrls
      AND p.oid NOT IN (SELECT oid FROM vetted)
      AND RUN_BY_UP
    UNION ALL
    -- A referential action runs as the owner of the table it changes, and so does the row
    -- code that change sets off there, SECURITY INVOKER or not.
    SELECT c.relowner FROM pg_trigger t
    JOIN pg_class c ON c.oid = t.tgrelid
    JOIN pg_roles o ON o.oid = c.relowner
    WHERE NOT u.rolsuper AND NOT o.rolsuper AND NOT o.rolbypassrls
      AND t.tgfoid NOT IN (SELECT oid FROM vetted_any)
      AND AS_OWNER_BY_UP
  ) n
), skipping (oid) AS (
  -- The owners that skip row level security, not walked on from.
  SELECT p.proowner FROM up
  JOIN pg_roles u ON u.oid = up.oid
  JOIN pg_proc p ON p.prosecdef AND p.prokind IN ('f', 'p')
  JOIN pg_roles o ON o.oid = p.proowner
  WHERE NOT u.rolsuper AND (o.rolsuper OR o.rolbypassrls)
    AND p.oid NOT IN (SELECT oid FROM vetted)
    AND p.proowner NOT IN (SELECT oid FROM members)
    AND RUN_BY_UP
  UNION
  SELECT c.relowner FROM up
  JOIN pg_roles u ON u.oid = up.oid
  CROSS JOIN pg_trigger t
  JOIN pg_class c ON c.oid = t.tgrelid
  JOIN pg_roles o ON o.oid = c.relowner
  WHERE NOT u.rolsuper AND (o.rolsuper OR o.rolbypassrls)
    AND t.tgfoid NOT IN (SELECT oid FROM vetted_any)
    AND c.relowner NOT IN (SELECT oid FROM members)
    AND AS_OWNER_BY_UP
)
SELECT r.rolname::text AS name, d.member, d.function AS via_function,
       -- Asked only of a role no member and no function reaches.
       CASE WHEN NOT d.member AND d.function IS NULL THEN
         (SELECT min(format('trigger %I on %s (%s)',
                            t.tgname, t.tgrelid::regclass, t.tgfoid::regprocedure))
          FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
          WHERE c.relowner = r.oid AND t.tgfoid NOT IN (SELECT oid FROM vetted_any)
            AND EXISTS (SELECT FROM up b JOIN pg_roles br ON br.oid = b.oid
                        WHERE b.oid <> r.oid AND NOT br.rolsuper
                          AND AS_OWNER_BY_B))
       END AS via_trigger,
       r.rolsuper OR r.rolbypassrls AS skips
FROM (SELECT oid FROM up UNION SELECT oid FROM skipping) reached
JOIN pg_roles r ON r.oid = reached.oid
CROSS JOIN LATERAL (
  SELECT r.oid IN (SELECT oid FROM members) AS member,
         CASE WHEN r.oid NOT IN (SELECT oid FROM members) THEN
           (SELECT min(p.oid::regprocedure::text) FROM pg_proc p
            WHERE p.proowner = r.oid AND p.prosecdef AND p.prokind IN ('f', 'p')
              AND p.oid NOT IN (SELECT oid FROM vetted)
              AND EXISTS (SELECT FROM up b JOIN pg_roles br ON br.oid = b.oid
                          WHERE b.oid <> r.oid AND NOT br.rolsuper
                            AND RUN_BY_B))
         END AS function
  -- Kept a sub-query of its own, so that the function is looked for once per role.
  OFFSET 0
) d
WHERE r.rolname <> ALL ($1)
  AND (NOT (r.rolsuper OR r.rolbypassrls) OR r.oid IN (SELECT oid FROM skipping))
ORDER BY 1";

/// [`BECOMES_SQL`] with the test of whether a role may run a function written in.
fn becomes_sql() -> String {
    BECOMES_SQL
        .replace("RUN_BY_UP", &super::unchecked_runs::runs("up.oid"))
        .replace("RUN_BY_B", &super::unchecked_runs::runs("b.oid"))
        .replace(
            "AS_OWNER_BY_UP",
            &super::unchecked_runs::as_table_owner("up.oid"),
        )
        .replace(
            "AS_OWNER_BY_B",
            &super::unchecked_runs::as_table_owner("b.oid"),
        )
}

#[derive(QueryableByName)]
struct BecomesRow {
    #[diesel(sql_type = Text)]
    name: String,
    /// One of the roles asked about, or a role their memberships reach.
    #[diesel(sql_type = Bool)]
    member: bool,
    #[diesel(sql_type = Nullable<Text>)]
    via_function: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    via_trigger: Option<String>,
    /// A superuser or BYPASSRLS role: not among the roles acted as, whose rules would all
    /// report it again.
    #[diesel(sql_type = Bool)]
    skips: bool,
}

impl BecomesRow {
    /// How a session acts as this role; `None` where memberships alone reach it.
    fn via(&self) -> Option<Via> {
        if self.member {
            return None;
        }
        Some(match (&self.via_function, &self.via_trigger) {
            (Some(function), _) => Via::Definer(function.clone()),
            (None, Some(trigger)) => Via::CascadeTrigger(trigger.clone()),
            (None, None) => Via::OwnersMembership,
        })
    }
}

/// How a session of the application comes to act as a role that no membership of its own
/// reaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Via {
    /// The body of this SECURITY DEFINER function (`name(argument types)`), which a session
    /// runs, has the role's rights.
    Definer(String),
    /// This trigger (`trigger <name> on <table> (<function>)`) is on a table the role owns,
    /// and a referential action of the session's writes sets it off: the action, and the row
    /// code it sets off, run as the table's owner.
    CascadeTrigger(String),
    /// The role is reached through the memberships of a role one of the above reaches.
    OwnersMembership,
}

impl Via {
    /// What runs as the role, as a path of memberships from it opens with it: the function,
    /// or the trigger and what sets it off.
    pub(super) fn what_runs(&self) -> String {
        match self {
            Via::Definer(function) => function.clone(),
            Via::CascadeTrigger(trigger) => {
                format!("{trigger}, set off by a referential action,")
            }
            Via::OwnersMembership => {
                "a role reached through the memberships of such an owner".to_owned()
            }
        }
    }
}

/// What a session of `roles` may act as ([`BECOMES_SQL`]).
pub(super) struct Becomes {
    /// `roles` followed by every other role a session of them may act as but those that skip
    /// row level security.
    pub(super) roles: Vec<String>,
    /// Of those, the roles reached through a SECURITY DEFINER function or a referential
    /// action rather than memberships, each with how.
    pub(super) acting: BTreeMap<String, Via>,
    /// The owners of the SECURITY DEFINER functions a session runs, and of the tables whose
    /// triggers its referential actions set off, those that skip row level security included,
    /// each with one such function or trigger: [`crate::roles::reachable`] from each is what
    /// that code may become.
    pub(super) definer_owners: Vec<(String, Via)>,
}

/// [`Becomes`] of `roles`.
fn with_reachable(
    conn: &mut PgConnection,
    roles: &[String],
    vetted: &VettedDefiners,
) -> QueryResult<Becomes> {
    let more: Vec<BecomesRow> = diesel::sql_query(becomes_sql())
        .bind::<Array<Text>, _>(roles)
        .bind::<Array<Text>, _>(&vetted.names)
        .bind::<Bool, _>(vetted.whole_schema)
        .load(conn)?;
    let definer_owners = more
        .iter()
        .filter_map(|r| match r.via() {
            Some(Via::OwnersMembership) | None => None,
            Some(via) => Some((r.name.clone(), via)),
        })
        .collect();
    let more: Vec<BecomesRow> = more.into_iter().filter(|r| !r.skips).collect();
    let acting = more
        .iter()
        .filter_map(|r| r.via().map(|via| (r.name.clone(), via)))
        .collect();
    Ok(Becomes {
        roles: roles
            .iter()
            .cloned()
            .chain(more.into_iter().map(|r| r.name))
            .collect(),
        acting,
        definer_owners,
    })
}

/// tenancy's own SECURITY DEFINER functions, whose owner [`BECOMES_SQL`] does not count among
/// the roles a session acts as: those of schema `tenancy` named `names`, or all of that schema
/// when `whole_schema` ([`super::functions::Tenancys`]).
pub(super) struct VettedDefiners {
    pub(super) names: Vec<String>,
    pub(super) whole_schema: bool,
}

/// `sql`, whose `$1` is one role, asked for every role among a text array `$1` (the
/// application role and its logins: a grant to a login reaches what that login's sessions,
/// the application's, may do), each row once. `OPEN_TO_ROLE` in it stands for
/// [`OPEN_TO_ROLE`].
pub(super) fn for_each_role(sql: &str) -> String {
    format!(
        "SELECT DISTINCT tenancy_each.* FROM unnest($1::text[]) AS tenancy_roles (role) \
         CROSS JOIN LATERAL ({}) tenancy_each",
        sql.replace("OPEN_TO_ROLE", &open_to_role())
            .replace("WRITTEN_BY_ROLE", WRITTEN_BY_ROLE)
            .replace("$1", "tenancy_roles.role")
    )
}

/// `ODD_OPCLASS(index)` in the keys query, for the column at ordinality `k.o` of a unique
/// key: ` (<operator class>)` when the index compares the column with an operator class other
/// than its type's default, which may call any two values equal (two tenants' ids, say), and
/// nothing otherwise. The column then no longer counts as in the key.
const ODD_OPCLASS: &str = "(SELECT coalesce(max(format(' (%s)', opc.opcname)), '')
   FROM pg_index ox JOIN pg_opclass opc ON opc.oid = ox.indclass[k.o - 1]
   WHERE NOT opc.opcdefault AND ox.indexrelid = ";

/// `ODD_OPERATOR(operator)` in the keys queries, for a column of an exclusion constraint that
/// it compares with `operator` (named `=`): ` (operator <operator>)` when the operator is not
/// one of PostgreSQL's own (an operator named `=` anyone may create, in any schema, running
/// `uuid_ne` say), and nothing otherwise, nor for a key that is no exclusion constraint
/// (`operator` NULL). The column then no longer counts as in the key.
const ODD_OPERATOR: &str =
    "(SELECT coalesce(max(format(' (operator %s)', op.oid::regoperator)), '')
   FROM pg_operator op WHERE op.oid >= 16384 AND op.oid = ";

/// The relations the role `$1` writes: those it may insert into, update, delete from or
/// truncate, their partitions, and those a referential action (CASCADE, SET NULL, SET DEFAULT)
/// of a write to one of them changes, which PostgreSQL does whatever the writer's privileges
/// on them, firing their triggers and rules.
/// Every parent, through any number of levels of inheritance or partitioning, of each table in
/// the schema bound as `SCHEMA` (a parameter): the child's name, the parent, and the parent's
/// name when it is in that schema too. Callers add a `WHERE` on the parent `p`.
const PARENTS_SQL: &str = "WITH RECURSIVE up (child, parent) AS (
       SELECT c.relname::text, i.inhparent
       FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
       WHERE c.relnamespace = quote_ident(SCHEMA)::regnamespace
       UNION
       SELECT up.child, i.inhparent FROM up JOIN pg_inherits i ON i.inhrelid = up.parent
     )
     SELECT up.child, p.oid::regclass::text AS parent,
            CASE WHEN p.relnamespace = quote_ident(SCHEMA)::regnamespace THEN p.relname::text END AS parent_in_schema
     FROM up JOIN pg_class p ON p.oid = up.parent";

const WRITTEN_BY_ROLE: &str = concat!(
    "(WITH RECURSIVE written (oid) AS (
  SELECT c.oid FROM pg_class c
  WHERE c.relkind IN ('r', 'p', 'v', 'f')
    AND (has_table_privilege($1, c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')
         OR has_any_column_privilege($1, c.oid, 'INSERT, UPDATE'))
  UNION
  SELECT next.oid FROM written w
  CROSS JOIN LATERAL (
    SELECT con.conrelid AS oid FROM pg_constraint con
    WHERE con.confrelid = w.oid AND con.contype = 'f'
      AND ",
    writing_action!(),
    "
    UNION ALL
    SELECT i.inhrelid FROM pg_inherits i WHERE i.inhparent = w.oid
  ) next
) SELECT written.oid FROM written)"
);

/// A column in `tenant_equality!`: a plain or quoted identifier, or one in parentheses cast
/// to uuid, as PostgreSQL prints a column whose type is a domain over uuid.
macro_rules! tenant_equality_column {
    () => {
        r#"([A-Za-z_][A-Za-z0-9_$]*|"([^"]|"")+"|\(([A-Za-z_][A-Za-z0-9_$]*|"([^"]|"")+")\)::uuid)"#
    };
}

/// The tenant equality inside [`TENANT_BOUNDED`]: a column (`tenant_equality_column!`) and a
/// reader of the context (the call or its once-per-statement form, SQL or native), in either
/// order.
macro_rules! tenant_equality {
    () => {
        concat!(
            "(",
            tenant_equality_column!(),
            " = ",
            r"((tenancy|tenancy_context)\.current_tenant\(\)|\( SELECT (tenancy|tenancy_context)\.current_tenant\(\) AS current_tenant\))",
            r"|((tenancy|tenancy_context)\.current_tenant\(\)|\( SELECT (tenancy|tenancy_context)\.current_tenant\(\) AS current_tenant\))",
            " = ",
            tenant_equality_column!(),
            ")"
        )
    };
}

/// A regular expression (as an SQL string) that a policy expression, as `pg_get_expr` prints
/// it, matches when the tenant predicate on some column (either way round) is the whole of it
/// or the first operand of its top-level AND ([`super::expr::bounded_by_tenant`]): one that
/// merely names the context (`tenancy.current_tenant() IS NULL OR ..`) does not hold a row to
/// the tenant.
const TENANT_BOUNDED: &str = concat!(
    r"'^(\(",
    tenant_equality!(),
    r"\)|\(\(",
    tenant_equality!(),
    r"\) AND\s.*\))$'"
);

/// Whether relation `c` shows the role `$1` every row it reads: row level security is off,
/// or a permissive policy for reading that applies to the role does not read the tenant
/// context (`USING (true)`, say) and no restrictive one that does holds it back. A copy of
/// tenant rows under such a policy is as open as one without row level security.
const OPEN_TO_ROLE: &str = "(NOT c.relrowsecurity OR (
  EXISTS (SELECT FROM pg_policy pol
          WHERE pol.polrelid = c.oid AND pol.polpermissive AND pol.polcmd IN ('r', '*')
            AND (0 = ANY (pol.polroles)
                 OR EXISTS (SELECT FROM unnest(pol.polroles) pr WHERE pg_has_role($1, pr, 'USAGE')))
            AND coalesce(pg_get_expr(pol.polqual, pol.polrelid), 'true') !~ TENANT_BOUNDED)
  AND NOT EXISTS (SELECT FROM pg_policy pol
                  WHERE pol.polrelid = c.oid AND NOT pol.polpermissive AND pol.polcmd IN ('r', '*')
                    AND (0 = ANY (pol.polroles)
                         OR EXISTS (SELECT FROM unnest(pol.polroles) pr WHERE pg_has_role($1, pr, 'USAGE')))
                    AND pg_get_expr(pol.polqual, pol.polrelid) ~ TENANT_BOUNDED)))";

/// [`OPEN_TO_ROLE`] with [`TENANT_BOUNDED`] written in.
pub(super) fn open_to_role() -> String {
    OPEN_TO_ROLE.replace("TENANT_BOUNDED", TENANT_BOUNDED)
}

/// The names `sql` answers for `roles` (its `$1`).
fn names(conn: &mut PgConnection, sql: &str, roles: &[&str]) -> QueryResult<Vec<String>> {
    Ok(diesel::sql_query(sql)
        .bind::<Array<Text>, _>(roles)
        .load::<NameRow>(conn)?
        .into_iter()
        .map(|r| r.name)
        .collect())
}

/// The grants of SET on the extension's settings that reach `app` or another of `roles` (its
/// logins and the roles they can become, by SET ROLE too): one of them is what the leader
/// hands its parallel workers as the context (extension 1.4), which a role allowed to set it
/// could write in a session that had not loaded the extension yet. None where the server has
/// no such grants (`grants`: [`crate::roles::has_parameter_grants`]).
fn parameter_grants(
    conn: &mut PgConnection,
    app: &str,
    roles: &[String],
    grants: bool,
) -> QueryResult<Vec<String>> {
    if !grants {
        return Ok(Vec::new());
    }
    let granted: Vec<Granted> = diesel::sql_query(
        "SELECT DISTINCT format('SET on parameter %s', a.parname) \
                || CASE WHEN r.name = $1 THEN '' \
                        ELSE format(' (granted to %s, a login of it or a role a login may become)', r.name) END AS what \
         FROM pg_catalog.pg_parameter_acl a, unnest($2::text[]) r (name) \
         WHERE a.parname LIKE 'tenancy\\_context.%' AND has_parameter_privilege(r.name, a.parname, 'SET') \
           AND (r.name = $1 OR NOT has_parameter_privilege($1, a.parname, 'SET')) \
         ORDER BY 1",
    )
    .bind::<diesel::sql_types::Text, _>(app)
    .bind::<Array<Text>, _>(roles)
    .load(conn)?;
    Ok(granted.into_iter().map(|g| g.what).collect())
}

/// Where a session of the application role starts with setting `$2` at one of the values
/// `$3` (lower case): a default of the database, of every role, or of the application role
/// (`$1`) or a login of it; or the server's configuration, as this session started from it.
const SETTING_DEFAULTS_SQL: &str = "
SELECT CASE
         WHEN s.setrole = 0 AND s.setdatabase = 0 THEN format('ALTER ROLE ALL SET %s', $2)
         WHEN s.setrole = 0 THEN format('ALTER DATABASE %I SET %s', d.datname, $2)
         WHEN s.setdatabase = 0 THEN format('ALTER ROLE %I SET %s', r.rolname, $2)
         ELSE format('ALTER ROLE %I IN DATABASE %I SET %s', r.rolname, d.datname, $2)
       END AS what
FROM pg_db_role_setting s
LEFT JOIN pg_roles r ON r.oid = s.setrole
LEFT JOIN pg_database d ON d.oid = s.setdatabase
CROSS JOIN LATERAL unnest(s.setconfig) c(setting)
WHERE lower(split_part(c.setting, '=', 1)) = $2
  AND lower(substr(c.setting, strpos(c.setting, '=') + 1)) = ANY ($3)
  AND (s.setdatabase = 0 OR d.datname = current_database())
  AND (s.setrole = 0 OR pg_has_role(s.setrole, $1, 'MEMBER'))
UNION ALL
SELECT format('the server configuration (%s)', source) AS what FROM pg_settings
WHERE name = $2 AND lower(setting) = ANY ($3)
  AND source NOT IN ('session', 'database', 'user', 'database user')
ORDER BY 1";

/// [`SETTING_DEFAULTS_SQL`] for `setting` at any of `values`.
fn setting_defaults(
    conn: &mut PgConnection,
    app: &str,
    setting: &str,
    values: &[&str],
) -> QueryResult<Vec<Granted>> {
    diesel::sql_query(SETTING_DEFAULTS_SQL)
        .bind::<Text, _>(app)
        .bind::<Text, _>(setting)
        .bind::<diesel::sql_types::Array<Text>, _>(values)
        .load(conn)
}

/// Where sessions of the application role get `session_replication_role = replica`, in
/// which no foreign key is checked (their triggers fire in origin and local mode only)
/// ([`SETTING_DEFAULTS_SQL`]), then, where the server has grants of SET on settings (`grants`:
/// [`crate::roles::has_parameter_grants`]; it is superuser-only otherwise), the roles of the
/// application (the role, the roles that are members of it, and `roles`, every role a session
/// of them may act as) that may SET it themselves.
fn replica_sessions(
    conn: &mut PgConnection,
    app: &str,
    roles: &[String],
    grants: bool,
) -> QueryResult<Vec<String>> {
    let mut found = setting_defaults(conn, app, "session_replication_role", &["replica"])?;
    if grants {
        // A role a login reaches by SET ROLE only (through a NOINHERIT role) counts: the
        // setting made after `SET ROLE` outlives `RESET ROLE`.
        found.extend(
            diesel::sql_query(
                "SELECT format('GRANT SET ON PARAMETER session_replication_role TO %I', r.rolname) AS what
                 FROM pg_roles r
                 WHERE (pg_has_role(r.oid, $1, 'MEMBER') OR r.rolname = ANY ($2)) AND NOT r.rolsuper
                   AND has_parameter_privilege(r.oid, 'session_replication_role', 'SET')
                 ORDER BY 1",
            )
            .bind::<Text, _>(app)
            .bind::<Array<Text>, _>(roles)
            .load::<Granted>(conn)?,
        );
    }
    Ok(found.into_iter().map(|g| g.what).collect())
}

#[allow(clippy::too_many_lines)] // reason: one catalog query after another
pub(super) fn load_catalog(
    conn: &mut PgConnection,
    o: &CheckOptions,
    vetted: &VettedDefiners,
) -> QueryResult<Catalog> {
    use diesel::sql_types::Text as T;
    let role: RoleRow = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) AS exists,
                coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = $1), false) AS superuser,
                coalesce((SELECT rolbypassrls FROM pg_roles WHERE rolname = $1), false) AS bypassrls,
                coalesce((SELECT rolcanlogin FROM pg_roles WHERE rolname = $1), false) AS login",
    )
    .bind::<T, _>(&o.app_role)
    .get_result(conn)?;
    // With the role missing, membership tests use a role that exists and has no rights.
    let app = if role.exists {
        o.app_role.clone()
    } else {
        "pg_monitor".to_owned()
    };
    let tables: Vec<TableRow> = diesel::sql_query(
        "SELECT c.relname::text AS name, pg_get_userbyid(c.relowner)::text AS owner,
                c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
                (SELECT oid FROM pg_roles WHERE rolname = $2) = c.relowner AS app_is_owner,
                pg_has_role($2, c.relowner, 'MEMBER') AS app_in_owner,
                (has_table_privilege($2, c.oid, 'SELECT')
                 OR (has_any_column_privilege($2, c.oid, 'SELECT')
                     AND NOT EXISTS (SELECT FROM pg_attribute a
                                     WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                                       AND NOT has_column_privilege($2, c.oid, a.attnum, 'SELECT')))) AS app_can_select,
                ARRAY(SELECT p FROM unnest(ARRAY['TRUNCATE', 'TRIGGER']) p
                      WHERE has_table_privilege($2, c.oid, p)) AS app_unpoliced,
                (has_table_privilege($2, c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')
                 OR has_any_column_privilege($2, c.oid, 'INSERT, UPDATE')) AS app_can_write,
                has_any_column_privilege($2, c.oid, 'SELECT') AS app_reads_any,
                coalesce(obj_description(c.oid, 'pg_class') LIKE 'tenancy: private%', false) AS private,
                (SELECT p.relname::text FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
                 WHERE c.relispartition AND i.inhrelid = c.oid AND p.relnamespace = c.relnamespace) AS partition_of
         FROM pg_class c
         WHERE c.relnamespace = quote_ident($1)::regnamespace AND c.relkind IN ('r', 'p')",
    )
    .bind::<T, _>(&o.schema)
    .bind::<T, _>(&app)
    .load(conn)?;
    let columns: Vec<ColumnRow> = diesel::sql_query(
        "SELECT c.relname::text AS table_name, a.attname::text AS column_name,
                format_type(a.atttypid, a.atttypmod) AS type_name,
                (WITH RECURSIVE under (oid, base) AS (
                   SELECT t.oid, t.typbasetype FROM pg_type t WHERE t.oid = a.atttypid
                   UNION ALL
                   SELECT t.oid, t.typbasetype FROM under JOIN pg_type t ON t.oid = under.base
                 ) SELECT format_type(under.oid, NULL) FROM under WHERE under.base = 0) AS base_type_name,
                a.attnotnull AS not_null
         FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         WHERE c.relnamespace = quote_ident($1)::regnamespace AND c.relkind IN ('r', 'p')
         ORDER BY c.relname, a.attnum",
    )
    .bind::<T, _>(&o.schema)
    .load(conn)?;
    let keys: Vec<KeyRow> = diesel::sql_query(
        "SELECT c.relname::text AS table_name, con.conname::text AS name,
                CASE con.contype WHEN 'p' THEN 'p' WHEN 'u' THEN 'u' WHEN 'x' THEN 'x' ELSE 'f' END AS kind,
                -- The columns that make a row conflict: not an index's INCLUDE columns, nor
                -- those of an exclusion constraint compared by anything but `=` (one of
                -- PostgreSQL's own, or the column no longer counts as in the key).
                ARRAY(SELECT a.attname::text || CASE WHEN con.contype IN ('p', 'u', 'x') THEN ODD_OPCLASS(con.conindid) ELSE '' END
                             || ODD_OPERATOR(con.conexclop[k.o])
                      FROM unnest(con.conkey) WITH ORDINALITY k(n, o)
                      JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n
                      WHERE (con.contype <> 'x'
                             OR (SELECT op.oprname FROM pg_operator op WHERE op.oid = con.conexclop[k.o]) = '=')
                        AND (con.contype = 'f' OR con.conindid = 0
                             OR k.o <= (SELECT i.indnkeyatts FROM pg_index i WHERE i.indexrelid = con.conindid))
                      ORDER BY k.o) AS columns,
                CASE WHEN con.contype = 'f' THEN (SELECT relname::text FROM pg_class WHERE oid = con.confrelid) END AS target,
                CASE WHEN con.contype = 'f' THEN ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, o)
                      JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.o) END AS target_columns,
                con.contype <> 'f' OR (con.convalidated AND NOT EXISTS (
                  SELECT 1 FROM pg_trigger t WHERE t.tgconstraint = con.oid AND t.tgenabled NOT IN ('O', 'A'))) AS enforced,
                obj_description(con.oid, 'pg_constraint') AS comment,
                CASE WHEN con.contype = 'f' THEN con.confdeltype::text ELSE '' END AS on_delete,
                -- What a SET NULL or SET DEFAULT sets: on update every column of the key; on
                -- delete those listed (PostgreSQL 15's column list, read through to_jsonb so
                -- that the query runs on 14 too) or every column of the key.
                ARRAY(SELECT a.attname::text FROM pg_attribute a
                      WHERE con.contype = 'f' AND a.attrelid = con.conrelid AND a.attnum > 0
                        AND ((con.confupdtype IN ('n', 'd') AND a.attnum = ANY (con.conkey))
                             OR (con.confdeltype IN ('n', 'd') AND a.attnum = ANY (
                                 CASE WHEN coalesce(jsonb_typeof(to_jsonb(con) -> 'confdelsetcols'), '') <> 'array'
                                      THEN con.conkey
                                      WHEN jsonb_array_length(to_jsonb(con) -> 'confdelsetcols') = 0
                                      THEN con.conkey
                                      ELSE ARRAY(SELECT jsonb_array_elements_text(to_jsonb(con) -> 'confdelsetcols')::int2) END)))
                      ORDER BY a.attnum) AS cascade_sets
         FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
         WHERE c.relnamespace = quote_ident($1)::regnamespace AND con.contype IN ('p', 'u', 'f', 'x')
         UNION ALL
         SELECT c.relname::text, ic.relname::text, CASE WHEN i.indisunique THEN 'u' ELSE 'i' END,
                ARRAY(SELECT coalesce(a.attname::text, '(expression)') || CASE WHEN i.indisunique THEN ODD_OPCLASS(i.indexrelid) ELSE '' END
                      FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(n, o)
                      LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n
                      WHERE k.o <= i.indnkeyatts ORDER BY k.o),
                NULL, NULL, true, obj_description(i.indexrelid, 'pg_class'), '', '{}'::text[]
         FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid
         WHERE c.relnamespace = quote_ident($1)::regnamespace
           AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid AND con.conrelid = i.indrelid)"
            .replace("ODD_OPCLASS(", ODD_OPCLASS)
            .replace("ODD_OPERATOR(", ODD_OPERATOR),
    )
    .bind::<T, _>(&o.schema)
    .load(conn)?;
    let policies: Vec<PolicyRow> = diesel::sql_query(
        "SELECT c.relname::text AS table_name, p.polname::text AS name, p.polpermissive AS permissive,
                p.polcmd::text AS cmd,
                -- PostgreSQL applies a policy to a role with the rights of one it names (INHERIT
                -- memberships only), not to every member.
                (0 = ANY (p.polroles) OR EXISTS (SELECT 1 FROM unnest(p.polroles) r(oid) WHERE pg_has_role($2, r.oid, 'USAGE'))) AS applies_to_app,
                pg_get_expr(p.polqual, p.polrelid) AS using,
                -- An UPDATE or ALL policy without WITH CHECK checks new rows with its USING.
                pg_get_expr(coalesce(p.polwithcheck,
                                     CASE WHEN p.polcmd IN ('*', 'w') THEN p.polqual END),
                            p.polrelid) AS check,
                ARRAY(SELECT DISTINCT f.oid::regprocedure::text
                      FROM pg_depend d
                      JOIN pg_proc f ON f.oid = CASE d.refclassid
                             WHEN 'pg_proc'::regclass THEN d.refobjid
                             WHEN 'pg_operator'::regclass THEN (SELECT o.oprcode FROM pg_operator o WHERE o.oid = d.refobjid)
                           END
                      WHERE d.classid = 'pg_policy'::regclass AND d.objid = p.oid
                        AND NOT f.proleakproof AND f.pronargs > 0
                      UNION
                      -- A domain the policy casts to runs its CHECK constraints on the value:
                      -- the functions they call see it too.
                      SELECT DISTINCT f.oid::regprocedure::text
                      FROM pg_depend d
                      JOIN pg_constraint dc ON dc.contypid = d.refobjid AND dc.contype = 'c'
                      JOIN pg_depend cd ON cd.classid = 'pg_constraint'::regclass AND cd.objid = dc.oid
                                       AND cd.refclassid = 'pg_proc'::regclass
                      JOIN pg_proc f ON f.oid = cd.refobjid
                      WHERE d.classid = 'pg_policy'::regclass AND d.objid = p.oid
                        AND d.refclassid = 'pg_type'::regclass
                        AND NOT f.proleakproof AND f.pronargs > 0
                      UNION
                      -- PostgreSQL's own functions leave no dependency: those the expression
                      -- calls are read from its node tree. Of them, the ones with side effects
                      -- (VOLATILE: set_config, pg_notify, nextval, ..) carry the value out.
                      SELECT DISTINCT f.oid::regprocedure::text
                      FROM regexp_matches(concat(p.polqual::text, ' ', p.polwithcheck::text),
                                          ':(?:funcid|opfuncid) ([0-9]+)', 'g') m (id)
                      JOIN pg_proc f ON f.oid = m.id[1]::oid
                      WHERE f.oid < 16384 AND f.provolatile = 'v'
                        AND NOT f.proleakproof AND f.pronargs > 0
                      UNION
                      -- A column cast through its text form (`body::integer`): the input
                      -- function's error quotes the value.
                      SELECT 'a cast of a column through its text form'
                      WHERE concat(p.polqual::text, ' ', p.polwithcheck::text)
                            ~ '\\{COERCEVIAIO :arg \\{(VAR|RELABELTYPE :arg \\{VAR) '
                      ORDER BY 1) AS leaky_calls
         FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
         WHERE c.relnamespace = quote_ident($1)::regnamespace",
    )
    .bind::<T, _>(&o.schema)
    .bind::<T, _>(&app)
    .load(conn)?;
    let app_and_logins = app_and_logins(conn, &app)?;
    // The per-role questions are asked of every role a session of the application may act
    // as: a grant to a role its login reaches by SET ROLE is as much the application's.
    let Becomes {
        roles: reachable_roles,
        acting,
        definer_owners,
    } = with_reachable(conn, &app_and_logins, vetted)?;
    let mut routines: Vec<RoutineRow> = diesel::sql_query(for_each_role(
        &"SELECT p.oid::regprocedure::text AS name, $1::text AS role,
                coalesce(pg_get_functiondef(p.oid), p.prosrc) AS body,
                l.lanname::text AS language, obj_description(p.oid, 'pg_proc') AS comment,
                -- Called, not only fired as a trigger (which hands it the caller's own row).
                k.callable
                  AND coalesce((SELECT o.rolsuper OR o.rolbypassrls FROM pg_roles o
                                WHERE o.oid = p.proowner), false) AS owner_bypasses,
                k.callable,
                FUNCTION_SOURCE AS source,
                ARRAY(SELECT w.relname::text FROM pg_class w
                      WHERE w.relkind IN ('r', 'p', 'v', 'f')
                        AND w.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace,
                                                   'pg_toast'::regnamespace)
                        AND (has_table_privilege(p.proowner, w.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')
                             OR has_any_column_privilege(p.proowner, w.oid, 'INSERT, UPDATE'))
                      ORDER BY 1) AS owner_writes
         FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
         CROSS JOIN LATERAL (
           SELECT p.prorettype <> 'trigger'::regtype
                  AND (has_function_privilege($1, p.oid, 'EXECUTE') OR CALLED_UNCHECKED) AS callable
         ) k
         WHERE p.prosecdef AND p.prokind IN ('f', 'p')
           AND (p.pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace) OR p.oid >= 16384)
           AND RUN_FOR_ROLE"
            .replace("CALLED_UNCHECKED", &super::unchecked_runs::called("$1"))
            .replace("RUN_FOR_ROLE", &super::unchecked_runs::runs("$1"))
            .replace("FUNCTION_SOURCE", FUNCTION_SOURCE),
    ))
    .bind::<Array<Text>, _>(&reachable_roles)
    .load(conn)?;
    // One row per function: a role that may call it and one that only fires it differ.
    routines.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then(b.owner_bypasses.cmp(&a.owner_bypasses))
            .then(b.callable.cmp(&a.callable))
            .then_with(|| app_roles_first(&app_and_logins, &a.role, &b.role))
            .then_with(|| a.role.cmp(&b.role))
    });
    routines.dedup_by(|later, first| later.name == first.name);
    let mut views: Vec<ViewRow> =
        diesel::sql_query(for_each_role(&VIEWS_SQL.replace("VIEW_REACH", VIEW_REACH)))
            .bind::<Array<Text>, _>(&reachable_roles)
            .bind::<T, _>(&o.schema)
            .bind::<T, _>(&o.tenant_column)
            .load(conn)?;
    // What a view reads with its owner's rights is read by every role that may read the view
    // (shared below, before the rows are made one per view). Of the roles that may use a
    // view, the application role and its logins are named first, then those that may read it.
    let shared_through_views: Vec<String> = views
        .iter()
        .filter(|v| v.readable && !v.security_invoker)
        .flat_map(|v| v.read_names.iter().cloned())
        .collect();
    views.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then_with(|| app_roles_first(&app_and_logins, &a.role, &b.role))
            .then_with(|| b.readable.cmp(&a.readable))
            .then_with(|| a.role.cmp(&b.role))
    });
    views.dedup_by(|later, first| later.name == first.name);
    let rules: Vec<RuleRow> = diesel::sql_query(for_each_role(
        "SELECT format('rule %I on %s', r.rulename, c.oid::regclass) AS name,
                pg_get_ruledef(r.oid) AS definition
         FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
         WHERE r.rulename <> '_RETURN'
           AND (c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace) OR c.oid >= 16384)
           AND (c.oid IN WRITTEN_BY_ROLE OR has_table_privilege($1, c.oid, 'SELECT'))",
    ))
    .bind::<Array<Text>, _>(&reachable_roles)
    .load(conn)?;
    let triggers: Vec<TriggerRow> = diesel::sql_query(row_code_sql())
        .bind::<T, _>(&o.schema)
        .bind::<T, _>(&o.tenant_column)
        .bind::<T, _>(&o.tenants_table)
        .load(conn)?;
    let functions: Vec<FunctionRow> = diesel::sql_query(
        "SELECT lower(p.proname::text) AS name,
                FUNCTION_SOURCE AS body,
                l.lanname::text AS language,
                coalesce(p.pronamespace = to_regnamespace('tenancy'), false) AS tenancys
         FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
         WHERE (p.pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace) OR p.oid >= 16384)
           AND p.prokind IN ('f', 'p')
         UNION ALL
         -- An operator runs its function wherever code uses it.
         SELECT 'operator ' || o.oprname::text,
                FUNCTION_SOURCE,
                l.lanname::text,
                coalesce(p.pronamespace = to_regnamespace('tenancy'), false)
         FROM pg_operator o JOIN pg_proc p ON p.oid = o.oprcode JOIN pg_language l ON l.oid = p.prolang
         WHERE o.oid >= 16384
         UNION ALL
         -- A cast runs its function wherever code casts to its type, by `::` or CAST.
         SELECT 'cast ' || lower(t.typname::text),
                FUNCTION_SOURCE,
                l.lanname::text,
                p.pronamespace = to_regnamespace('tenancy')
         FROM pg_cast c JOIN pg_type t ON t.oid = c.casttarget
         JOIN pg_proc p ON p.oid = c.castfunc JOIN pg_language l ON l.oid = p.prolang
         WHERE c.oid >= 16384
         UNION ALL
         -- An aggregate calls its transition, combine and final functions.
         SELECT lower(p.proname::text),
                concat_ws('; ', a.aggtransfn::regproc::text || '()',
                          nullif(a.aggfinalfn, 0)::regproc::text || '()',
                          nullif(a.aggcombinefn, 0)::regproc::text || '()',
                          nullif(a.aggmtransfn, 0)::regproc::text || '()',
                          nullif(a.aggmfinalfn, 0)::regproc::text || '()'),
                'sql',
                p.pronamespace = to_regnamespace('tenancy')
         FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
         WHERE p.oid >= 16384"
            .replace("FUNCTION_SOURCE", FUNCTION_SOURCE),
    )
    .load(conn)?;
    let role_policies: Vec<RolePolicyRow> = diesel::sql_query(for_each_role(ROLE_POLICIES_SQL))
        .bind::<Array<Text>, _>(&reachable_roles[1..])
        .bind::<T, _>(&o.schema)
        .load(conn)?;
    let grantee_policies: Vec<GranteePolicyRow> = diesel::sql_query(GRANTEE_POLICIES_SQL)
        .bind::<T, _>(&o.schema)
        .load(conn)?;
    let role_tables: Vec<RoleTableRow> = diesel::sql_query(for_each_role(ROLE_TABLES_SQL))
        .bind::<Array<Text>, _>(&reachable_roles[1..])
        .bind::<T, _>(&o.schema)
        .load(conn)?;
    let elsewhere: Vec<ElsewhereRow> = diesel::sql_query(for_each_role(
        &"SELECT * FROM (
           SELECT CASE c.relkind WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table'
                  ELSE 'table' END AS kind,
                  c.oid::regclass::text AS relation,
                  ARRAY(SELECT a.attname::text FROM pg_attribute a
                        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
                  (OPEN_TO_ROLE AND has_any_column_privilege($1, c.oid, 'SELECT')) AS reads,
                  CASE WHEN c.relkind IN ('r', 'p') AND n.oid <> quote_ident($2)::regnamespace THEN
                    nullif(concat_ws(', ',
                      CASE WHEN has_table_privilege($1, c.oid, 'TRUNCATE') THEN 'TRUNCATE' END,
                      CASE WHEN NOT (c.relrowsecurity AND EXISTS (
                                  SELECT FROM pg_policy pol
                                  WHERE pol.polrelid = c.oid AND NOT pol.polpermissive AND pol.polcmd = '*'
                                    AND (0 = ANY (pol.polroles)
                                         OR EXISTS (SELECT FROM unnest(pol.polroles) pr WHERE pg_has_role($1, pr, 'USAGE')))
                                    AND pg_get_expr(pol.polqual, pol.polrelid) ~ TENANT_BOUNDED
                                    AND coalesce(pg_get_expr(pol.polwithcheck, pol.polrelid),
                                                 pg_get_expr(pol.polqual, pol.polrelid)) ~ TENANT_BOUNDED))
                           THEN nullif(concat_ws(', ',
                                  CASE WHEN has_table_privilege($1, c.oid, 'INSERT') THEN 'INSERT' END,
                                  CASE WHEN has_any_column_privilege($1, c.oid, 'UPDATE') THEN 'UPDATE' END,
                                  CASE WHEN has_table_privilege($1, c.oid, 'DELETE') THEN 'DELETE' END), '') END), '')
                  END AS writes
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind IN ('r', 'p', 'm', 'f')
             -- A materialized view has no row level security, in the checked schema too.
             AND (n.oid <> quote_ident($2)::regnamespace OR c.relkind IN ('f', 'm'))
             AND ((n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_')
                  -- Objects PostgreSQL did not make (FirstNormalObjectId on) are anyone's.
                  OR (n.nspname IN ('pg_catalog', 'information_schema') AND c.oid >= 16384))
             AND has_schema_privilege($1, n.oid, 'USAGE')
         ) r
         WHERE r.reads OR r.writes IS NOT NULL
         ORDER BY 1, 2".replace("TENANT_BOUNDED", TENANT_BOUNDED),
    ))
    .bind::<Array<Text>, _>(&reachable_roles)
    .bind::<T, _>(&o.schema)
    .load(conn)?;
    let probing_keys: Vec<ProbingKeyRow> = diesel::sql_query(for_each_role(PROBING_KEYS_SQL))
        .bind::<Array<Text>, _>(&reachable_roles)
        .bind::<T, _>(&o.schema)
        .bind::<T, _>(&o.tenant_column)
        .load(conn)?;
    let keys_elsewhere: Vec<KeyElsewhereRow> = diesel::sql_query(for_each_role(
        &KEYS_ELSEWHERE_SQL
            .replace("ODD_OPCLASS(", ODD_OPCLASS)
            .replace("ODD_OPERATOR(", ODD_OPERATOR),
    ))
    .bind::<Array<Text>, _>(&reachable_roles)
    .bind::<T, _>(&o.schema)
    .load(conn)?;
    // A query on a parent returns its children's rows under the parent's policies only.
    let parents: Vec<ParentRow> = diesel::sql_query(for_each_role(&format!(
        "{} WHERE has_schema_privilege($1, p.relnamespace, 'USAGE')
              AND has_any_column_privilege($1, p.oid, 'SELECT')
            ORDER BY 1, 2",
        PARENTS_SQL.replace("SCHEMA", "$2")
    )))
    .bind::<Array<Text>, _>(&reachable_roles)
    .bind::<T, _>(&o.schema)
    .load(conn)?;
    let plain_parents: Vec<ParentRow> = diesel::sql_query(format!(
        "{} WHERE p.relkind <> 'p' ORDER BY 1, 2",
        PARENTS_SQL.replace("SCHEMA", "$1")
    ))
    .bind::<T, _>(&o.schema)
    .load(conn)?;
    // dblink and postgres_fdw connect with the user a mapping names; a mapping for PUBLIC
    // serves every role with USAGE on the server, and every role that may use a foreign
    // table of the server, which needs no USAGE on it.
    let servers: Vec<ServerRow> = diesel::sql_query(for_each_role(
        "SELECT s.srvname::text AS server,
                CASE WHEN m.umuser = 0 THEN 'PUBLIC' ELSE m.umuser::regrole::text END AS mapped_for,
                ARRAY(SELECT ft.ftrelid::regclass::text
                      FROM pg_foreign_table ft JOIN pg_class fc ON fc.oid = ft.ftrelid
                      WHERE ft.ftserver = s.oid
                        AND has_schema_privilege(CASE WHEN m.umuser = 0 THEN $1 ELSE pg_get_userbyid(m.umuser)::text END,
                                                 fc.relnamespace, 'USAGE')
                        AND (has_any_column_privilege(CASE WHEN m.umuser = 0 THEN $1 ELSE pg_get_userbyid(m.umuser)::text END,
                                                      fc.oid, 'SELECT, INSERT, UPDATE')
                             OR has_table_privilege(CASE WHEN m.umuser = 0 THEN $1 ELSE pg_get_userbyid(m.umuser)::text END,
                                                    fc.oid, 'DELETE, TRUNCATE'))
                      ORDER BY 1) AS foreign_tables,
                CASE WHEN m.umuser = 0 THEN has_server_privilege($1, s.oid, 'USAGE')
                     ELSE has_server_privilege(m.umuser, s.oid, 'USAGE') END AS usable
         FROM pg_user_mapping m JOIN pg_foreign_server s ON s.oid = m.umserver
         -- The mapping of the role a session runs as (after SET ROLE too) is the one used.
         WHERE (m.umuser = 0
                OR pg_has_role($1, m.umuser, 'MEMBER')
                OR pg_has_role(m.umuser, (SELECT r.oid FROM pg_roles r WHERE r.rolname = $1), 'MEMBER'))
         ORDER BY 1, 2",
    ))
    .bind::<Array<Text>, _>(&reachable_roles)
    .load::<ServerRow>(conn)?
    .into_iter()
    .filter(|s| s.usable || !s.foreign_tables.is_empty())
    .collect();
    let mut shared: Vec<String> = diesel::sql_query(for_each_role(
        "SELECT c.relname::text AS name
         FROM pg_class c
         WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND OPEN_TO_ROLE
           AND (c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace) OR c.oid >= 16384)
           AND has_any_column_privilege($1, c.oid, 'SELECT')",
    ))
    .bind::<Array<Text>, _>(&reachable_roles)
    .load::<NameRow>(conn)?
    .into_iter()
    .map(|r| r.name)
    .collect();
    // A view or materialized view reads what it covers with its owner's rights (a
    // materialized view keeps a copy of it): what is written into those relations, whatever
    // their privileges or policies, every role that may read the view reads.
    shared.extend(shared_through_views);
    shared.sort();
    shared.dedup();
    let write_reach: Vec<WriteReachRow> = diesel::sql_query(WRITE_REACH_SQL).load(conn)?;
    let written_by_sessions: Vec<WrittenRow> = diesel::sql_query(for_each_role(
        "SELECT c.relname::text AS name, $1::text AS role FROM pg_class c
         WHERE c.oid IN WRITTEN_BY_ROLE
           AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)",
    ))
    .bind::<Array<Text>, _>(&reachable_roles)
    .load(conn)?;
    let mut probe_keys: Vec<String> = diesel::sql_query(for_each_role(
        "SELECT c.relname::text AS name
         FROM pg_class c
         WHERE c.relkind IN ('r', 'p')
           AND (c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace) OR c.oid >= 16384)
           AND has_table_privilege($1, c.oid, 'INSERT, UPDATE')
           AND EXISTS (SELECT FROM pg_index x WHERE x.indrelid = c.oid AND x.indisunique)",
    ))
    .bind::<Array<Text>, _>(&reachable_roles)
    .load::<NameRow>(conn)?
    .into_iter()
    .map(|r| r.name)
    .collect();
    probe_keys.sort();
    probe_keys.dedup();
    let mut readable_sequences: Vec<SequenceRow> =
        diesel::sql_query(for_each_role(READABLE_SEQUENCES_SQL))
            .bind::<Array<Text>, _>(&reachable_roles)
            .load(conn)?;
    readable_sequences.sort_by(|a, b| a.relation.cmp(&b.relation));
    readable_sequences.dedup_by(|a, b| a.relation == b.relation);
    let audit = diesel::sql_query(for_each_role(
        "SELECT has_table_privilege($1, c.oid, 'UPDATE') OR has_table_privilege($1, c.oid, 'DELETE')
                OR has_table_privilege($1, c.oid, 'TRUNCATE')
                -- An UPDATE of one column is a changed entry as much.
                OR has_any_column_privilege($1, c.oid, 'UPDATE') AS writable,
                ARRAY(SELECT t FROM unnest(ARRAY['audit_log_chain', 'audit_log_no_update_delete',
                                                 'audit_log_no_truncate']) t
                      -- Enabled ALWAYS, and calling the function of schema tenancy the
                      -- migration names, which still does its part: a guard whose function
                      -- was replaced by one that lets the row through guards nothing, and
                      -- without the foundation's migrations TEN072 cannot compare it. (What
                      -- a body says is read, not run: this catches a guard emptied, not one
                      -- rewritten to look the part.)
                      WHERE NOT EXISTS (SELECT FROM pg_trigger g JOIN pg_proc p ON p.oid = g.tgfoid
                                        WHERE g.tgrelid = c.oid AND g.tgname = t
                                          AND g.tgenabled = 'A'
                                          AND p.pronamespace = to_regnamespace('tenancy')
                                          AND p.proname = CASE t WHEN 'audit_log_chain' THEN 'audit_log_chain'
                                                                 ELSE 'audit_log_append_only' END
                                          AND p.prosrc ~* CASE t WHEN 'audit_log_chain' THEN 'NEW\\.row_hash\\s*:='
                                                                 ELSE 'RAISE\\s+EXCEPTION' END)) AS unguarded,
                ARRAY(SELECT g.tgname::text FROM pg_trigger g
                      WHERE g.tgrelid = c.oid AND NOT g.tgisinternal
                        AND g.tgname NOT IN ('audit_log_chain', 'audit_log_no_update_delete',
                                             'audit_log_no_truncate')
                      ORDER BY 1) AS others
         FROM pg_class c WHERE c.relnamespace = quote_ident($2)::regnamespace AND c.relname = 'audit_log' AND c.relkind = 'r'",
    ))
    .bind::<Array<Text>, _>(&reachable_roles)
    .bind::<T, _>(&o.schema)
    .load::<PrivilegeRow>(conn)?
    .into_iter()
    .reduce(|a, b| PrivilegeRow {
        writable: a.writable || b.writable,
        ..a
    })
    .map(|r| AuditLog {
        writable: r.writable,
        unguarded: r.unguarded,
        others: r.others,
    });
    let member_creates: Vec<MemberCreateRow> = diesel::sql_query(MEMBER_CREATE_SQL)
        .bind::<T, _>(&app)
        .bind::<Array<Text>, _>(&reachable_roles[1..])
        .load(conn)?;
    let reach = super::reach::load_reach(conn, &app, &app_and_logins, &definer_owners)?;
    let owned: Vec<OwnedRow> = diesel::sql_query(for_each_role(OWNED_SQL))
        .bind::<Array<Text>, _>(&reachable_roles)
        .load(conn)?;
    let trusted_logins = names(
        conn,
        TRUSTED_LOGINS_SQL,
        &app_and_logins
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    )?;
    let role_names: Vec<&str> = reachable_roles.iter().map(String::as_str).collect();
    let grants = crate::roles::has_parameter_grants(conn)?;
    let mut alter_system = Vec::new();
    let mut credentials = BTreeSet::new();
    for login in &role_names {
        let access = crate::roles::server_access(conn, login, grants)?;
        if let Some(settings) = access.alter_system {
            alter_system.push(((*login).to_owned(), settings));
        }
        credentials.extend(access.credentials);
    }
    let leakproof = names(
        conn,
        &LEAKPROOF_SQL
            .replace(
                "BUILTIN_MAJOR",
                &super::builtin_leakproof::MAJOR.to_string(),
            )
            .replace(
                "BUILTIN_LEAKPROOF",
                &super::builtin_leakproof::as_sql_array(),
            ),
        &role_names,
    )?;
    let statistics = names(conn, STATISTICS_SQL, &role_names)?;
    let large_objects = names(conn, LARGE_OBJECTS_SQL, &role_names)?;
    let statistics_counters = names(conn, STATISTICS_COUNTERS_SQL, &role_names)?;
    let server_files = diesel::sql_query(SERVER_FILES_SQL)
        .bind::<Array<Text>, _>(&reachable_roles)
        .load(conn)?;
    let cascades = diesel::sql_query(CASCADES_SQL)
        .bind::<T, _>(&o.schema)
        .bind::<T, _>(&o.tenant_column)
        .bind::<T, _>(&o.tenants_table)
        .bind::<Array<Text>, _>(&reachable_roles)
        .load::<CascadeRow>(conn)?
        .into_iter()
        .filter(|c| !c.roles.is_empty())
        .collect();
    let mut context: ContextRow = diesel::sql_query(context_sql())
        .bind::<T, _>(&app)
        .get_result(conn)?;
    context
        .forgeable_by
        .extend(parameter_grants(conn, &app, &reachable_roles, grants)?);
    let (copies, unread_key_views) = key_copies(conn, &reachable_roles)?;
    context.forgeable_by.extend(copies);
    // What a login may do beyond the application role's own rights, granted to it directly.
    for login in &reachable_roles[1..] {
        let of_login: ContextRow = diesel::sql_query(context_sql())
            .bind::<T, _>(login)
            .get_result(conn)?;
        for what in of_login.forgeable_by {
            if !context.forgeable_by.contains(&what) {
                let how = through_definer(&acting, login)
                    .unwrap_or_else(|| "a login of it or a role a login may become".to_owned());
                context
                    .forgeable_by
                    .push(format!("{what} (granted to {login}, {how})"));
            }
        }
    }
    let replica_sessions = replica_sessions(conn, &app, &reachable_roles, grants)?;
    let explain_sessions = setting_defaults(
        conn,
        &app,
        "tenancy_context.allow_explain",
        &["on", "true", "yes", "1"],
    )?
    .into_iter()
    .map(|g| g.what)
    .collect();
    Ok(Catalog {
        reach,
        owned,
        trusted_logins,
        alter_system,
        context,
        tables: tables.into_iter().map(|t| (t.name.clone(), t)).collect(),
        columns: group(columns, |c| c.table_name.clone()),
        keys: group(keys, |k| k.table_name.clone()),
        policies: group(policies, |p| p.table_name.clone()),
        role_policies: group(role_policies, |p| p.table_name.clone()),
        role_tables,
        grantee_policies: group(grantee_policies, |p| p.table_name.clone()),
        role,
        routines,
        views,
        rules,
        triggers,
        functions: group(functions, |f| f.name.clone()),
        app_and_logins,
        reachable: reachable_roles,
        acting,
        member_creates,
        elsewhere,
        probing_keys,
        keys_elsewhere,
        parents,
        plain_parents,
        servers,
        leakproof,
        statistics,
        large_objects,
        statistics_counters,
        credentials,
        server_files,
        cascades,
        shared,
        write_reach,
        written_by_sessions,
        probe_keys,
        readable_sequences,
        audit,
        replica_sessions,
        explain_sessions,
        unread_key_views,
    })
}
