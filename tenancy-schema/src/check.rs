//! Checks a live database against the tables classified in this binary, and lints it.
//!
//! `tenancy check` (the CLI) runs this; call it from your own binary or test to check your
//! own models, which `#[tenant_scoped]` registers in [`crate::registry`]:
//!
//! ```no_run
//! use diesel::{Connection, PgConnection};
//! use tenancy_schema::check::{self, CheckOptions};
//! # fn demo() -> Result<(), tenancy_schema::Error> {
//! let mut conn = PgConnection::establish("postgres://owner@localhost/app")
//!     .map_err(|e| tenancy_schema::Error::InvalidInput { field: "url", reason: e.to_string() })?;
//! let report = check::run(&mut conn, &tenancy_schema::registry(), &CheckOptions::default())?;
//! for finding in &report.findings {
//!     eprintln!("{finding}");
//! }
//! assert!(!report.has_errors());
//! # Ok(()) }
//! ```
//!
//! Every finding has a stable id (documented on [`LINTS`]), a severity, the object it is
//! about, a message and a hint saying how to fix it. The ids never change meaning; new lints
//! get new ids.

use std::fmt;

use std::collections::{BTreeMap, BTreeSet};

use diesel::prelude::*;
use diesel::sql_types::{Array, Bool, Nullable, Text};

use crate::{Result, TableKind, TableManifest};

/// How bad a finding is. `tenancy check` exits non-zero when any finding is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Isolation is broken or not enforced by the database.
    Error,
    /// Not a leak by itself, but weakens a layer or will hurt later.
    Warning,
}

/// Which part of the report a finding belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// Tenant isolation in PostgreSQL.
    Isolation,
    /// Readiness for a distributed engine (Citus) distributing on the tenant column; only
    /// with [`CheckOptions::citus`].
    Citus,
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// Stable identifier, such as `TEN010`; see [`LINTS`].
    pub id: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// Report section.
    pub section: Section,
    /// The database object concerned: `table posts`, `policy tenant_access on posts`,
    /// `role tenancy_app`, `function tenancy.f()`.
    pub object: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{severity}[{}] {}: {}\n  hint: {}",
            self.id, self.object, self.message, self.hint
        )
    }
}

/// What [`run`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// Tables checked (classified ones found in the database).
    pub tables_checked: usize,
    /// Every finding, sorted by section, severity, id and object.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Whether any finding is an error.
    #[must_use]
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// The findings with this id.
    pub fn with_id<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Finding> + 'a {
        self.findings.iter().filter(move |f| f.id == id)
    }
}

/// Options of [`run`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOptions {
    /// The schema holding the application's tables (default `public`).
    pub schema: String,
    /// The application role (default `tenancy_app`).
    pub app_role: String,
    /// The tenant column (default `tenant_id`) for tables the registry does not describe.
    pub tenant_column: String,
    /// The tenants table foreign keys must point to (default `tenants`).
    pub tenants_table: String,
    /// Also report readiness for a distributed engine (Citus).
    pub citus: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self {
            schema: "public".to_owned(),
            app_role: "tenancy_app".to_owned(),
            tenant_column: "tenant_id".to_owned(),
            tenants_table: "tenants".to_owned(),
            citus: false,
        }
    }
}

/// Every lint: id, severity, section and what it means.
pub const LINTS: &[(&str, Severity, Section, &str)] = &[
    (
        "TEN001",
        Severity::Error,
        Section::Isolation,
        "a classified table is missing from the database",
    ),
    (
        "TEN002",
        Severity::Error,
        Section::Isolation,
        "a tenant-scoped table has no tenant column",
    ),
    (
        "TEN003",
        Severity::Error,
        Section::Isolation,
        "the tenant column is nullable",
    ),
    (
        "TEN004",
        Severity::Error,
        Section::Isolation,
        "the tenant column is not uuid",
    ),
    (
        "TEN005",
        Severity::Error,
        Section::Isolation,
        "the tenant column has no foreign key to the tenants table",
    ),
    (
        "TEN010",
        Severity::Error,
        Section::Isolation,
        "row level security is not enabled",
    ),
    (
        "TEN011",
        Severity::Error,
        Section::Isolation,
        "row level security is not forced (the owner bypasses it)",
    ),
    (
        "TEN012",
        Severity::Error,
        Section::Isolation,
        "no permissive tenant policy applies to the application role",
    ),
    (
        "TEN013",
        Severity::Error,
        Section::Isolation,
        "no restrictive tenant isolation policy (for all commands, USING and WITH CHECK)",
    ),
    (
        "TEN020",
        Severity::Error,
        Section::Isolation,
        "a tenant predicate contains OR",
    ),
    (
        "TEN021",
        Severity::Error,
        Section::Isolation,
        "a tenant predicate contains a sub-query",
    ),
    (
        "TEN022",
        Severity::Error,
        Section::Isolation,
        "a permissive policy for the application role is always true",
    ),
    (
        "TEN023",
        Severity::Error,
        Section::Isolation,
        "a policy reads the tenant setting directly instead of tenancy.current_tenant()",
    ),
    (
        "TEN030",
        Severity::Error,
        Section::Isolation,
        "a primary or unique key of a tenant table does not include the tenant column",
    ),
    (
        "TEN031",
        Severity::Warning,
        Section::Isolation,
        "an index or unique key of a tenant table does not lead with the tenant column",
    ),
    (
        "TEN032",
        Severity::Error,
        Section::Isolation,
        "an index or unique key declared in the model is missing",
    ),
    (
        "TEN033",
        Severity::Error,
        Section::Isolation,
        "the primary key differs from the model's",
    ),
    (
        "TEN040",
        Severity::Error,
        Section::Isolation,
        "a foreign key between tenant tables does not include the tenant column on both sides",
    ),
    (
        "TEN041",
        Severity::Error,
        Section::Isolation,
        "a foreign key declared in the model is missing",
    ),
    (
        "TEN050",
        Severity::Warning,
        Section::Isolation,
        "a table has a tenant column but no model classifies it",
    ),
    (
        "TEN060",
        Severity::Error,
        Section::Isolation,
        "the application role is missing",
    ),
    (
        "TEN061",
        Severity::Error,
        Section::Isolation,
        "the application role is a superuser",
    ),
    (
        "TEN062",
        Severity::Error,
        Section::Isolation,
        "the application role has BYPASSRLS",
    ),
    (
        "TEN063",
        Severity::Error,
        Section::Isolation,
        "the application role owns a tenant table",
    ),
    (
        "TEN064",
        Severity::Error,
        Section::Isolation,
        "the application role is a member of a tenant table's owner",
    ),
    (
        "TEN065",
        Severity::Error,
        Section::Isolation,
        "a login of the application role can become a role that skips row level security",
    ),
    (
        "TEN066",
        Severity::Warning,
        Section::Isolation,
        "the application role may create temporary tables, which shadow real ones for the rest of a pooled session",
    ),
    (
        "TEN067",
        Severity::Error,
        Section::Isolation,
        "the tenant context is not sealed: SQL running as the application role can set it",
    ),
    (
        "TEN051",
        Severity::Error,
        Section::Isolation,
        "one table is classified twice, in conflicting ways",
    ),
    (
        "TEN070",
        Severity::Error,
        Section::Isolation,
        "a SECURITY DEFINER function the application role can run reads tenant tables",
    ),
    (
        "TEN071",
        Severity::Error,
        Section::Isolation,
        "a view the application role can read covers tenant tables without security_invoker",
    ),
    (
        "TEN080",
        Severity::Error,
        Section::Isolation,
        "the application role may UPDATE, DELETE or TRUNCATE the audit log",
    ),
    (
        "CIT001",
        Severity::Warning,
        Section::Citus,
        "the primary key does not include the distribution column",
    ),
    (
        "CIT002",
        Severity::Warning,
        Section::Citus,
        "a unique key does not include the distribution column",
    ),
    (
        "CIT003",
        Severity::Warning,
        Section::Citus,
        "a foreign key between distributed tables does not include the distribution column",
    ),
    (
        "CIT004",
        Severity::Warning,
        Section::Citus,
        "a policy contains a sub-query",
    ),
];

fn lint(id: &'static str) -> (Severity, Section) {
    LINTS
        .iter()
        .find(|l| l.0 == id)
        .map_or((Severity::Error, Section::Isolation), |l| (l.1, l.2))
}

#[derive(QueryableByName)]
#[allow(clippy::struct_excessive_bools)] // reason: one row of catalog flags, read as is
struct TableRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    owner: String,
    #[diesel(sql_type = Bool)]
    rls: bool,
    #[diesel(sql_type = Bool)]
    forced: bool,
    #[diesel(sql_type = Bool)]
    app_is_owner: bool,
    #[diesel(sql_type = Bool)]
    app_in_owner: bool,
}

#[derive(QueryableByName)]
struct ColumnRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    type_name: String,
    #[diesel(sql_type = Bool)]
    not_null: bool,
}

/// A primary key, unique key or index (constraint-backed or not), or a foreign key.
#[derive(QueryableByName)]
struct KeyRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    name: String,
    /// `p`, `u` (unique constraint or unique index), `i` (index), `f`.
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Array<Text>)]
    columns: Vec<String>,
    #[diesel(sql_type = Nullable<Text>)]
    target: Option<String>,
    #[diesel(sql_type = Nullable<Array<Text>>)]
    target_columns: Option<Vec<String>>,
}

#[derive(QueryableByName)]
struct PolicyRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Bool)]
    permissive: bool,
    /// `*` all, `r` select, `a` insert, `w` update, `d` delete.
    #[diesel(sql_type = Text)]
    cmd: String,
    #[diesel(sql_type = Bool)]
    applies_to_app: bool,
    #[diesel(sql_type = Nullable<Text>)]
    using: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    check: Option<String>,
}

#[derive(QueryableByName)]
struct RoleRow {
    #[diesel(sql_type = Bool)]
    exists: bool,
    #[diesel(sql_type = Bool)]
    superuser: bool,
    #[diesel(sql_type = Bool)]
    bypassrls: bool,
}

#[derive(QueryableByName)]
struct RoutineRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    body: String,
    #[diesel(sql_type = Nullable<Text>)]
    comment: Option<String>,
}

#[derive(QueryableByName)]
struct ViewRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    definition: String,
    #[diesel(sql_type = Bool)]
    security_invoker: bool,
}

#[derive(QueryableByName)]
struct PrivilegeRow {
    #[diesel(sql_type = Bool)]
    writable: bool,
}

/// A member of the application role that can become a role skipping row level security.
struct ReachRow {
    login: String,
    role: crate::roles::Reachable,
    problem: &'static str,
}

#[derive(QueryableByName)]
struct MemberRow {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct ContextRow {
    #[diesel(sql_type = Bool)]
    temporary: bool,
    #[diesel(sql_type = Bool)]
    sealed_function: bool,
    #[diesel(sql_type = Bool)]
    has_key: bool,
    #[diesel(sql_type = Array<Text>)]
    forgeable_by: Vec<String>,
}

struct Catalog {
    reach: Vec<ReachRow>,
    context: ContextRow,
    tables: BTreeMap<String, TableRow>,
    columns: BTreeMap<String, Vec<ColumnRow>>,
    keys: BTreeMap<String, Vec<KeyRow>>,
    policies: BTreeMap<String, Vec<PolicyRow>>,
    role: RoleRow,
    routines: Vec<RoutineRow>,
    views: Vec<ViewRow>,
    audit_writable: Option<bool>,
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
const MEMBERS_SQL: &str = "
WITH RECURSIVE members (oid) AS (
  SELECT oid FROM pg_roles WHERE rolname = $1
  UNION
  SELECT m.member FROM pg_auth_members m JOIN members ON m.roleid = members.oid
)
SELECT r.rolname::text AS name FROM members JOIN pg_roles r ON r.oid = members.oid
WHERE r.rolname <> $1
ORDER BY 1";

/// Whether the tenant context is the sealed one (`tenancy.current_tenant()` is the
/// SECURITY DEFINER reader of what `tenancy.enter()` verified, and the key exists) and which
/// rights would let the application role forge it anyway.
const CONTEXT_SQL: &str = "
SELECT has_database_privilege($1, current_database(), 'TEMPORARY') AS temporary,
  coalesce((SELECT p.prosecdef FROM pg_proc p
            WHERE p.oid = to_regprocedure('tenancy.verified_context(integer,text)')), false)
  AND coalesce((SELECT pg_get_functiondef(p.oid) LIKE '%tenancy.verified_context(1,%' FROM pg_proc p
            WHERE p.pronamespace = to_regnamespace('tenancy') AND p.proname = 'current_tenant'
              AND p.pronargs = 0), false) AS sealed_function,
  to_regclass('tenancy.context_key') IS NOT NULL AS has_key,
  ARRAY(
    SELECT what FROM (
      SELECT 'SELECT on tenancy.context_key' AS what
      WHERE to_regclass('tenancy.context_key') IS NOT NULL
        AND has_table_privilege($1, to_regclass('tenancy.context_key'), 'SELECT')
      UNION ALL
      SELECT format('USAGE or UPDATE on sequence %s', c.oid::regclass)
      FROM pg_class c
      WHERE c.relnamespace = to_regnamespace('tenancy') AND c.relkind = 'S'
        AND (has_sequence_privilege($1, c.oid, 'USAGE') OR has_sequence_privilege($1, c.oid, 'UPDATE'))
      UNION ALL
      SELECT format('EXECUTE on %s', p.oid::regprocedure)
      FROM pg_proc p
      WHERE p.pronamespace = to_regnamespace('tenancy')
        AND p.proname IN ('install_context_key', 'trusted_session', 'rewrite_policies')
        AND has_function_privilege($1, p.oid, 'EXECUTE')
    ) forgeable
  ) AS forgeable_by";

#[allow(clippy::too_many_lines)] // reason: one catalog query after another
fn load_catalog(conn: &mut PgConnection, o: &CheckOptions) -> QueryResult<Catalog> {
    use diesel::sql_types::Text as T;
    let role: RoleRow = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) AS exists,
                coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = $1), false) AS superuser,
                coalesce((SELECT rolbypassrls FROM pg_roles WHERE rolname = $1), false) AS bypassrls",
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
                pg_has_role($2, c.relowner, 'MEMBER') AS app_in_owner
         FROM pg_class c
         WHERE c.relnamespace = $1::regnamespace AND c.relkind IN ('r', 'p')",
    )
    .bind::<T, _>(&o.schema)
    .bind::<T, _>(&app)
    .load(conn)?;
    let columns: Vec<ColumnRow> = diesel::sql_query(
        "SELECT c.relname::text AS table_name, a.attname::text AS column_name,
                format_type(a.atttypid, a.atttypmod) AS type_name, a.attnotnull AS not_null
         FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         WHERE c.relnamespace = $1::regnamespace AND c.relkind IN ('r', 'p')
         ORDER BY c.relname, a.attnum",
    )
    .bind::<T, _>(&o.schema)
    .load(conn)?;
    let keys: Vec<KeyRow> = diesel::sql_query(
        "SELECT c.relname::text AS table_name, con.conname::text AS name,
                CASE con.contype WHEN 'p' THEN 'p' WHEN 'u' THEN 'u' ELSE 'f' END AS kind,
                ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, o)
                      JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.o) AS columns,
                CASE WHEN con.contype = 'f' THEN (SELECT relname::text FROM pg_class WHERE oid = con.confrelid) END AS target,
                CASE WHEN con.contype = 'f' THEN ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, o)
                      JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.o) END AS target_columns
         FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
         WHERE c.relnamespace = $1::regnamespace AND con.contype IN ('p', 'u', 'f')
         UNION ALL
         SELECT c.relname::text, ic.relname::text, CASE WHEN i.indisunique THEN 'u' ELSE 'i' END,
                ARRAY(SELECT coalesce(a.attname::text, '(expression)') FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(n, o)
                      LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o),
                NULL, NULL
         FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid
         WHERE c.relnamespace = $1::regnamespace
           AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid AND con.conrelid = i.indrelid)",
    )
    .bind::<T, _>(&o.schema)
    .load(conn)?;
    let policies: Vec<PolicyRow> = diesel::sql_query(
        "SELECT c.relname::text AS table_name, p.polname::text AS name, p.polpermissive AS permissive,
                p.polcmd::text AS cmd,
                (0 = ANY (p.polroles) OR EXISTS (SELECT 1 FROM unnest(p.polroles) r(oid) WHERE pg_has_role($2, r.oid, 'MEMBER'))) AS applies_to_app,
                pg_get_expr(p.polqual, p.polrelid) AS using,
                pg_get_expr(p.polwithcheck, p.polrelid) AS check
         FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
         WHERE c.relnamespace = $1::regnamespace",
    )
    .bind::<T, _>(&o.schema)
    .bind::<T, _>(&app)
    .load(conn)?;
    let routines: Vec<RoutineRow> = diesel::sql_query(
        "SELECT p.oid::regprocedure::text AS name, coalesce(pg_get_functiondef(p.oid), p.prosrc) AS body,
                obj_description(p.oid, 'pg_proc') AS comment
         FROM pg_proc p
         WHERE p.prosecdef AND p.prokind IN ('f', 'p')
           AND p.pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
           AND has_function_privilege($1, p.oid, 'EXECUTE')",
    )
    .bind::<T, _>(&app)
    .load(conn)?;
    let views: Vec<ViewRow> = diesel::sql_query(
        "SELECT c.oid::regclass::text AS name, pg_get_viewdef(c.oid) AS definition,
                coalesce(c.reloptions::text[] && ARRAY['security_invoker=true', 'security_invoker=on', 'security_invoker=1'], false) AS security_invoker
         FROM pg_class c
         WHERE c.relkind IN ('v', 'm')
           AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
           AND has_table_privilege($1, c.oid, 'SELECT')",
    )
    .bind::<T, _>(&app)
    .load(conn)?;
    let audit_writable = diesel::sql_query(
        "SELECT has_table_privilege($1, c.oid, 'UPDATE') OR has_table_privilege($1, c.oid, 'DELETE')
                OR has_table_privilege($1, c.oid, 'TRUNCATE') AS writable
         FROM pg_class c WHERE c.relnamespace = $2::regnamespace AND c.relname = 'audit_log' AND c.relkind = 'r'",
    )
    .bind::<T, _>(&app)
    .bind::<T, _>(&o.schema)
    .load::<PrivilegeRow>(conn)?
    .into_iter()
    .next()
    .map(|r| r.writable);
    let mut reach = Vec::new();
    let members: Vec<MemberRow> = diesel::sql_query(MEMBERS_SQL)
        .bind::<T, _>(&app)
        .load(conn)?;
    for member in members {
        for role in crate::roles::reachable(conn, &member.name)? {
            if let Some(problem) = role.problem() {
                reach.push(ReachRow {
                    login: member.name.clone(),
                    role,
                    problem,
                });
            }
        }
    }
    let context: ContextRow = diesel::sql_query(CONTEXT_SQL)
        .bind::<T, _>(&app)
        .get_result(conn)?;
    Ok(Catalog {
        reach,
        context,
        tables: tables.into_iter().map(|t| (t.name.clone(), t)).collect(),
        columns: group(columns, |c| c.table_name.clone()),
        keys: group(keys, |k| k.table_name.clone()),
        policies: group(policies, |p| p.table_name.clone()),
        role,
        routines,
        views,
        audit_writable,
    })
}

struct Findings(Vec<Finding>);

impl Findings {
    fn add(
        &mut self,
        id: &'static str,
        object: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        let (severity, section) = lint(id);
        self.0.push(Finding {
            id,
            severity,
            section,
            object: object.into(),
            message: message.into(),
            hint: hint.into(),
        });
    }
}

/// Whether an expression reads the tenant context.
fn reads_tenant_context(expr: &str) -> bool {
    expr.contains("current_tenant()") || expr.contains("'tenancy.tenant_id'")
}

/// `expr` with the once-per-statement form of the context functions written as plain calls.
fn once_per_statement_as_call(expr: &str) -> String {
    expr.replace(
        "( SELECT tenancy.current_tenant() AS current_tenant)",
        "tenancy.current_tenant()",
    )
    .replace(
        "( SELECT tenancy.current_principal() AS current_principal)",
        "tenancy.current_principal()",
    )
}

/// `true`-ish: the whole expression is the constant true.
fn always_true(expr: &str) -> bool {
    let e = expr
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .trim();
    e.eq_ignore_ascii_case("true")
}

fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        boundary(before) && boundary(after)
    })
}

fn policy_applies_to_all_commands_with_tenant_predicate(p: &PolicyRow, tenant_col: &str) -> bool {
    let is_tenant = |e: &Option<String>| {
        e.as_deref()
            .is_some_and(|e| reads_tenant_context(e) && has_word(e, tenant_col))
    };
    p.cmd == "*" && is_tenant(&p.using) && is_tenant(&p.check)
}

/// Checks the database behind `conn` against `registry` and lints it.
///
/// # Errors
/// A database error (the connection needs to read the catalogs; any role can).
pub fn run(
    conn: &mut diesel::PgConnection,
    registry: &[&TableManifest],
    options: &CheckOptions,
) -> Result<Report> {
    let catalog = load_catalog(conn, options)?;
    let mut f = Findings(Vec::new());
    let classified: BTreeMap<&str, &TableManifest> =
        registry.iter().map(|m| (m.table, *m)).collect();

    // Tenant tables: classified tenant-scoped ones, plus any table with the tenant column.
    let mut tenant_tables: BTreeMap<String, String> = BTreeMap::new();
    for m in registry
        .iter()
        .filter(|m| m.kind == TableKind::TenantScoped)
    {
        let col = m.tenant_column.unwrap_or(&options.tenant_column);
        tenant_tables.insert(m.table.to_owned(), col.to_owned());
    }
    for (table, cols) in &catalog.columns {
        if cols.iter().any(|c| c.column_name == options.tenant_column)
            && table != &options.tenants_table
        {
            tenant_tables
                .entry(table.clone())
                .or_insert_with(|| options.tenant_column.clone());
        }
    }

    for m in registry {
        if !catalog.tables.contains_key(m.table) {
            f.add("TEN001", format!("table {}", m.table), format!("`{}` is classified in the code but does not exist in schema `{}`", m.table, options.schema), "run the migrations (`tenancy migrate` or `diesel migration run`), or remove the model");
        }
    }
    let mut checked = 0;
    for (table, col) in &tenant_tables {
        let Some(t) = catalog.tables.get(table) else {
            continue;
        };
        checked += 1;
        check_tenant_table(
            &mut f,
            &catalog,
            options,
            table,
            col,
            t,
            classified.get(table.as_str()).copied(),
        );
    }
    check_role(&mut f, &catalog, options);
    check_reach_and_context(&mut f, &catalog, options);
    check_classification(&mut f, registry);
    check_definers_and_views(&mut f, &catalog, &tenant_tables, options);
    if catalog.audit_writable == Some(true) {
        f.add(
            "TEN080",
            "table audit_log",
            format!(
                "`{}` has UPDATE, DELETE or TRUNCATE on audit_log",
                options.app_role
            ),
            format!(
                "REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM {}, PUBLIC",
                options.app_role
            ),
        );
    }
    let mut findings = f.0;
    if !options.citus {
        findings.retain(|x| x.section != Section::Citus);
    }
    findings.sort_by(|a, b| {
        (a.section, a.severity, a.id, &a.object).cmp(&(b.section, b.severity, b.id, &b.object))
    });
    findings.dedup();
    Ok(Report {
        tables_checked: checked,
        findings,
    })
}

#[allow(clippy::too_many_lines)] // reason: one lint after another, in LINTS order
fn check_tenant_table(
    f: &mut Findings,
    catalog: &Catalog,
    o: &CheckOptions,
    table: &str,
    col: &str,
    t: &TableRow,
    model: Option<&TableManifest>,
) {
    let object = format!("table {table}");
    let columns = catalog
        .columns
        .get(table)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let keys = catalog
        .keys
        .get(table)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let policies = catalog
        .policies
        .get(table)
        .map(Vec::as_slice)
        .unwrap_or_default();

    match columns.iter().find(|c| c.column_name == col) {
        None => f.add("TEN002", &object, format!("tenant-scoped `{table}` has no `{col}` column"), format!("ALTER TABLE {table} ADD COLUMN {col} uuid NOT NULL REFERENCES {} (id), and backfill it", o.tenants_table)),
        Some(c) => {
            if !c.not_null {
                f.add("TEN003", &object, format!("`{table}.{col}` is nullable: a row without a tenant matches no policy and no tenant filter"), format!("ALTER TABLE {table} ALTER COLUMN {col} SET NOT NULL"));
            }
            if c.type_name != "uuid" {
                f.add("TEN004", &object, format!("`{table}.{col}` is {}, not uuid", c.type_name), format!("ALTER TABLE {table} ALTER COLUMN {col} TYPE uuid USING {col}::uuid"));
            }
            let has_fk = keys.iter().any(|k| k.kind == "f" && k.columns == [col] && k.target.as_deref() == Some(o.tenants_table.as_str()));
            if !has_fk {
                f.add("TEN005", &object, format!("`{table}.{col}` has no foreign key to `{}`", o.tenants_table), format!("ALTER TABLE {table} ADD FOREIGN KEY ({col}) REFERENCES {} (id) ON DELETE CASCADE", o.tenants_table));
            }
        }
    }
    if !t.rls {
        f.add(
            "TEN010",
            &object,
            "row level security is not enabled: raw SQL sees every tenant's rows",
            format!("ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"),
        );
    }
    if !t.forced {
        f.add(
            "TEN011",
            &object,
            format!(
                "row level security is not forced: the owner `{}` bypasses the policies",
                t.owner
            ),
            format!("ALTER TABLE {table} FORCE ROW LEVEL SECURITY"),
        );
    }
    let tenant_pred = |e: &Option<String>| {
        e.as_deref()
            .is_some_and(|e| reads_tenant_context(e) && has_word(e, col))
    };
    let permissive = policies.iter().any(|p| {
        p.permissive
            && p.applies_to_app
            && (tenant_pred(&p.using) || (p.cmd == "a" && tenant_pred(&p.check)))
    });
    if !permissive {
        f.add("TEN012", &object, format!("no permissive policy with `{col} = tenancy.current_tenant()` applies to `{}`: it can read nothing (or something else grants access)", o.app_role), format!("CREATE POLICY tenant_access ON {table} FOR ALL TO {} USING ({col} = tenancy.current_tenant()) WITH CHECK ({col} = tenancy.current_tenant())", o.app_role));
    }
    let restrictive = policies.iter().any(|p| {
        !p.permissive
            && p.applies_to_app
            && policy_applies_to_all_commands_with_tenant_predicate(p, col)
    });
    if !restrictive {
        f.add("TEN013", &object, "no RESTRICTIVE tenant isolation policy: a permissive policy added later could widen access across tenants", format!("CREATE POLICY tenant_isolation ON {table} AS RESTRICTIVE FOR ALL TO PUBLIC USING ({col} = tenancy.current_tenant()) WITH CHECK ({col} = tenancy.current_tenant())"));
    }
    for p in policies {
        let pobj = format!("policy {} on {table}", p.name);
        for expr in [&p.using, &p.check].into_iter().flatten() {
            if reads_tenant_context(expr) {
                // The context read once per statement is an init plan, not a sub-query
                // over rows.
                let upper = once_per_statement_as_call(expr).to_ascii_uppercase();
                if has_word(&upper, "OR") {
                    f.add("TEN020", &pobj, format!("the tenant predicate `{expr}` contains OR, which defeats the ({col}, …) indexes and can widen it"), "keep the tenant predicate a single equality; put other rules in a separate (RESTRICTIVE) policy");
                }
                if has_word(&upper, "SELECT") {
                    f.add("TEN021", &pobj, format!("the tenant predicate `{expr}` contains a sub-query"), "compare the column with tenancy.current_tenant() directly; a distributed engine rejects sub-queries in policies");
                }
                if expr.contains("current_setting(") {
                    f.add("TEN023", &pobj, format!("`{expr}` reads the tenant setting directly: SQL in the transaction can change it (`SET`, `set_config`), and a pooled connection reports '' after its first transaction"), "use tenancy.current_tenant(), which returns only the context tenancy.enter() verified");
                }
            }
            if has_word(&expr.to_ascii_uppercase(), "SELECT") {
                f.add("CIT004", &pobj, format!("`{expr}` contains a sub-query"), "a distributed engine rejects sub-queries in policies: move the rule into the application query or a function-free predicate");
            }
        }
        if p.permissive
            && p.applies_to_app
            && [&p.using, &p.check]
                .into_iter()
                .flatten()
                .any(|e| always_true(e))
        {
            f.add(
                "TEN022",
                &pobj,
                format!(
                    "permissive policy `{}` is always true for `{}`: it grants every tenant's rows",
                    p.name, o.app_role
                ),
                format!(
                    "DROP POLICY {} ON {table}, or restrict it to {col} = tenancy.current_tenant()",
                    p.name
                ),
            );
        }
    }

    for k in keys.iter().filter(|k| k.kind != "f") {
        let kobj = format!(
            "{} {} on {table}",
            if k.kind == "i" { "index" } else { "key" },
            k.name
        );
        let includes = k.columns.iter().any(|c| c == col);
        if matches!(k.kind.as_str(), "p" | "u") && !includes {
            f.add("TEN030", &kobj, format!("({}) does not include `{col}`: it is unique across tenants, and one tenant can probe another's values", k.columns.join(", ")), format!("make it ({col}, {})", k.columns.join(", ")));
            f.add(
                if k.kind == "p" { "CIT001" } else { "CIT002" },
                &kobj,
                format!(
                    "({}) does not include the distribution column `{col}`",
                    k.columns.join(", ")
                ),
                format!("make it ({col}, {})", k.columns.join(", ")),
            );
        } else if k.columns.first().map(String::as_str) != Some(col) {
            f.add("TEN031", &kobj, format!("({}) does not lead with `{col}`", k.columns.join(", ")), format!("lead with {col} unless the index serves a lookup made before the tenant is known"));
        }
    }
    for k in keys.iter().filter(|k| k.kind == "f") {
        let target = k.target.as_deref().unwrap_or_default();
        if target == o.tenants_table {
            continue;
        }
        let target_is_tenant = catalog
            .columns
            .get(target)
            .is_some_and(|cols| cols.iter().any(|c| c.column_name == o.tenant_column));
        if !target_is_tenant {
            continue;
        }
        let both = k.columns.iter().any(|c| c == col)
            && k.target_columns
                .as_ref()
                .is_some_and(|t| t.iter().any(|c| c == &o.tenant_column));
        if !both {
            let fobj = format!("foreign key {} on {table}", k.name);
            f.add("TEN040", &fobj, format!("({}) -> {target} does not include the tenant column: foreign-key checks bypass row level security, so a row can point into another tenant", k.columns.join(", ")), format!("FOREIGN KEY ({col}, {}) REFERENCES {target} ({}, id)", k.columns.join(", "), o.tenant_column));
            f.add(
                "CIT003",
                &fobj,
                format!(
                    "({}) -> {target} does not include the distribution column",
                    k.columns.join(", ")
                ),
                format!(
                    "FOREIGN KEY ({col}, {}) REFERENCES {target} ({}, id)",
                    k.columns.join(", "),
                    o.tenant_column
                ),
            );
        }
    }

    match model {
        None => f.add("TEN050", &object, format!("`{table}` has a `{col}` column but no model in this binary classifies it"), "add #[tenant_scoped] to its diesel::table! (or #[global_table] if the column means something else)"),
        Some(m) => {
            let pk: Vec<&str> = keys.iter().find(|k| k.kind == "p").map(|k| k.columns.iter().map(String::as_str).collect()).unwrap_or_default();
            if pk != m.primary_key {
                f.add("TEN033", &object, format!("the primary key is ({}), the model says ({})", pk.join(", "), m.primary_key.join(", ")), "regenerate schema.rs from the database, or migrate the key");
            }
            for (declared, unique) in m.indexes.iter().map(|i| (i, false)).chain(m.uniques.iter().map(|u| (u, true))) {
                let found = keys.iter().any(|k| {
                    k.columns.iter().map(String::as_str).eq(declared.iter().copied())
                        && (if unique { matches!(k.kind.as_str(), "u" | "p") } else { k.kind != "f" })
                });
                if !found {
                    f.add("TEN032", &object, format!("the model declares {} ({}) but the database has none", if unique { "unique key" } else { "index" }, declared.join(", ")), format!("CREATE {}INDEX ON {table} ({})", if unique { "UNIQUE " } else { "" }, declared.join(", ")));
                }
            }
            for fk in m.foreign_keys {
                let found = keys.iter().any(|k| k.kind == "f" && k.columns.iter().map(String::as_str).eq(fk.columns.iter().copied()) && k.target.as_deref() == Some(fk.references));
                if !found {
                    f.add("TEN041", &object, format!("the model declares a foreign key ({}) -> {} but the database has none", fk.columns.join(", "), fk.references), format!("ALTER TABLE {table} ADD FOREIGN KEY ({}) REFERENCES {} ({}, id)", fk.columns.join(", "), fk.references, o.tenant_column));
                }
            }
        }
    }
    if t.app_is_owner {
        f.add("TEN063", &object, format!("`{}` owns `{table}`: owners are exempt from policies unless forced, and can drop them", o.app_role), format!("ALTER TABLE {table} OWNER TO <migration role>"));
    } else if t.app_in_owner {
        f.add(
            "TEN064",
            &object,
            format!(
                "`{}` is a member of `{}`, which owns `{table}`",
                o.app_role, t.owner
            ),
            format!("REVOKE {} FROM {}", t.owner, o.app_role),
        );
    }
}

fn check_role(f: &mut Findings, catalog: &Catalog, o: &CheckOptions) {
    let object = format!("role {}", o.app_role);
    if !catalog.role.exists {
        f.add(
            "TEN060",
            &object,
            format!("role `{}` does not exist", o.app_role),
            "run the migrations, or pass the application role with --app-role",
        );
        return;
    }
    if catalog.role.superuser {
        f.add(
            "TEN061",
            &object,
            "the application role is a superuser: row level security never applies to it",
            format!("ALTER ROLE {} NOSUPERUSER", o.app_role),
        );
    }
    if catalog.role.bypassrls {
        f.add(
            "TEN062",
            &object,
            "the application role has BYPASSRLS: row level security never applies to it",
            format!("ALTER ROLE {} NOBYPASSRLS", o.app_role),
        );
    }
}

fn check_reach_and_context(f: &mut Findings, catalog: &Catalog, o: &CheckOptions) {
    for r in &catalog.reach {
        f.add(
            "TEN065",
            format!("role {}", r.login),
            format!(
                "`{}` is a member of `{}` and can become `{}` ({}), which is {}: tenant transactions on this login are not bound by row level security",
                r.login, o.app_role, r.role.role, r.role.path, r.problem
            ),
            format!(
                "remove the membership chain ({}); give the admin path a login of its own",
                r.role.path
            ),
        );
    }
    let object = format!("role {}", o.app_role);
    if catalog.context.temporary {
        f.add(
            "TEN066",
            &object,
            format!("`{}` may create temporary tables: a temporary table created in one tenant's transaction shadows the real table of the same name for the next tenant on the pooled connection", o.app_role),
            "REVOKE TEMPORARY ON DATABASE <database> FROM PUBLIC; GRANT TEMPORARY ON DATABASE <database> TO <owner>",
        );
    }
    if !catalog.context.sealed_function || !catalog.context.has_key {
        f.add(
            "TEN067",
            "function tenancy.current_tenant()",
            "the policies read a tenant context that SQL running as the application role can set (`SET tenancy.tenant_id`, `set_config`)",
            "run the tenancy migrations (the sealed tenant context: tenancy.enter(), tenancy.context_key)",
        );
    }
    for what in &catalog.context.forgeable_by {
        f.add(
            "TEN067",
            &object,
            format!(
                "`{}` has {what}: with it SQL can forge the tenant context",
                o.app_role
            ),
            format!("revoke it from {} (and PUBLIC)", o.app_role),
        );
    }
}

/// Tables registered more than once in ways that scope them differently.
fn check_classification(f: &mut Findings, registry: &[&TableManifest]) {
    for conflict in crate::manifest::conflicts(registry) {
        f.add(
            "TEN051",
            format!("table {}", conflict.table),
            conflict.to_string(),
            "classify each SQL table once; a second `table!` for the same table must carry the same classification and tenant column",
        );
    }
}

fn check_definers_and_views(
    f: &mut Findings,
    catalog: &Catalog,
    tenant_tables: &BTreeMap<String, String>,
    o: &CheckOptions,
) {
    let reads = |text: &str| -> BTreeSet<&str> {
        tenant_tables
            .keys()
            .map(String::as_str)
            .filter(|t| has_word(text, t))
            .collect()
    };
    for r in &catalog.routines {
        let read = reads(&r.body);
        let reviewed = r
            .comment
            .as_deref()
            .is_some_and(|c| c.starts_with("tenancy: reviewed"));
        if !read.is_empty() && !reviewed {
            f.add("TEN070", format!("function {}", r.name), format!("SECURITY DEFINER, executable by `{}`, reads {}: it runs with its owner's rights, outside the caller's policies", o.app_role, read.into_iter().collect::<Vec<_>>().join(", ")), format!("make it SECURITY INVOKER, or REVOKE EXECUTE from {} — or, once reviewed to return only the current tenant's rows, COMMENT ON FUNCTION {} IS 'tenancy: reviewed: <why it is safe>'", o.app_role, r.name));
        }
    }
    for v in &catalog.views {
        let read = reads(&v.definition);
        if !read.is_empty() && !v.security_invoker {
            f.add("TEN071", format!("view {}", v.name), format!("`{}` can read it and it covers {} with its owner's rights, bypassing their policies", o.app_role, read.into_iter().collect::<Vec<_>>().join(", ")), format!("ALTER VIEW {} SET (security_invoker = true)", v.name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lint_ids_are_unique_and_documented() {
        let ids: BTreeSet<&str> = LINTS.iter().map(|l| l.0).collect();
        assert_eq!(ids.len(), LINTS.len());
        assert!(LINTS.iter().all(|l| !l.3.is_empty()));
    }

    #[test]
    fn expression_helpers() {
        assert!(has_word("a OR b", "OR"));
        assert!(!has_word("ORDER BY", "OR"));
        assert!(has_word("(tenant_id = x)", "tenant_id"));
        assert!(!has_word("other_tenant_id = x", "tenant_id"));
        assert!(always_true("true"));
        assert!(always_true("(true)"));
        assert!(!always_true("(tenant_id = tenancy.current_tenant())"));
        assert!(reads_tenant_context(
            "(tenant_id = tenancy.current_tenant())"
        ));
        assert!(reads_tenant_context(
            "(NULLIF(current_setting('tenancy.tenant_id'::text, true), ''::text))::uuid"
        ));
    }
}
