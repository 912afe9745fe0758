//! Relations of the database that hold or show a tenant table's rows under another name: its
//! partitions and inheritance children, the tables it inherits from, foreign tables naming it,
//! and the views and materialized views built on any of them; with [`super::readers`], the
//! routines that read one where no name shows it.
//! SQL text naming one of them reaches every tenant's rows past the shadowing CTEs, which
//! cover the tenant table's own name only; a view run with its owner's rights reaches them past
//! row level security too. So do the tenant tables of the database that the program does not
//! declare (a newer migration's, another service's), which no CTE shadows at all. They are
//! found when the `Tenancy` is built, and refused in SQL text from then on.

use std::collections::{HashMap, HashSet};
use std::sync::{OnceLock, PoisonError, RwLock};

use diesel::sql_types::{Array, Text};
use diesel::{PgConnection, QueryResult, RunQueryDsl};

use super::readers::Reader;
use crate::sql_lexer::{NameUse, SqlTextError, UseKind};

/// What a relation is to the tenant table whose rows it reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reach {
    /// `partition`, `inheritance child`, `parent table`, `view`, `materialized view` or
    /// `foreign table`.
    pub kind: &'static str,
    /// The tenant-scoped table whose rows it reaches.
    pub table: &'static str,
}

/// Every relation and function found by [`resolve`] in any database this process built a
/// `Tenancy` for: a name found in one database is refused in all of them, which can only
/// refuse more.
#[derive(Default)]
struct Found {
    relations: HashMap<String, Reach>,
    /// Functions, operators and types by name, with what they read ([`super::readers`]).
    functions: HashMap<String, Reader>,
    operators: HashMap<String, (String, Reader)>,
    types: HashMap<String, (String, Reader)>,
    /// Views that run SQL no text shows or read a statistics view, with what they use.
    hidden_views: HashMap<String, String>,
    /// Tables with tenancy's tenant policies that this program does not declare.
    undeclared: HashSet<&'static str>,
}

fn found() -> &'static RwLock<Found> {
    static FOUND: OnceLock<RwLock<Found>> = OnceLock::new();
    FOUND.get_or_init(Default::default)
}

#[derive(diesel::QueryableByName)]
struct ReachRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    base: String,
}

/// From each tenant table (the names as the login's `search_path` resolves them): down its
/// inheritance (partitions are children too), up to the tables it inherits from (whose
/// queries return its rows), to the foreign tables that name a relation of the name of any of
/// those (a loopback server reads it as the user mapping's role), and across the views and
/// materialized views that select from any of those, any number of levels deep. A parent's other children are
/// not followed: they hold no rows of the tenant table.
const REACHING_SQL: &str = "\
WITH RECURSIVE edge (parent, child, how) AS (
  SELECT i.inhparent, i.inhrelid, 'down' FROM pg_catalog.pg_inherits i
  UNION ALL
  SELECT i.inhrelid, i.inhparent, 'up' FROM pg_catalog.pg_inherits i
  UNION ALL
  SELECT d.refobjid, w.ev_class, 'view'
  FROM pg_catalog.pg_depend d
  JOIN pg_catalog.pg_rewrite w ON w.oid = d.objid
  WHERE d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
    AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
    AND w.rulename = '_RETURN' AND w.ev_class <> d.refobjid
  UNION ALL
  SELECT c.oid, ft.ftrelid, 'foreign'
  FROM pg_catalog.pg_foreign_table ft
  JOIN pg_catalog.pg_class fc ON fc.oid = ft.ftrelid
  JOIN pg_catalog.pg_class c
    ON c.relname = coalesce((SELECT substr(o, 12) FROM unnest(ft.ftoptions) AS o
                             WHERE starts_with(o, 'table_name=') LIMIT 1), fc.relname)
   AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND c.oid <> ft.ftrelid
), tenant (oid, base) AS (
  SELECT c.oid, t.name
  FROM unnest($1::text[]) AS t (name)
  JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(pg_catalog.quote_ident(t.name))
), reach (oid, base, how) AS (
  SELECT oid, base, 'self' FROM tenant
  UNION
  SELECT e.child, r.base, e.how
  FROM reach r JOIN edge e ON e.parent = r.oid
  WHERE e.how IN ('view', 'foreign') OR r.how IN ('self', e.how)
)
SELECT DISTINCT c.relname::text AS name,
       CASE WHEN c.relkind = 'v' THEN 'view'
            WHEN c.relkind = 'm' THEN 'materialized view'
            WHEN c.relkind = 'f' THEN 'foreign table'
            WHEN r.how = 'up' THEN 'parent table'
            WHEN c.relispartition THEN 'partition'
            ELSE 'inheritance child' END AS kind,
       r.base
FROM reach r
JOIN pg_catalog.pg_class c ON c.oid = r.oid
WHERE r.oid NOT IN (SELECT oid FROM tenant)";

/// The tables of the database that carry tenancy's tenant policies (a `tenant_isolation`
/// policy, which `tenancy.set_rls_mode` finds them by) and that this program does not
/// classify (`$1`): tenant tables it cannot filter. Any schema: a name is refused wherever it
/// points, which can only refuse more.
const UNDECLARED_SQL: &str = "\
SELECT DISTINCT c.relname::text AS name
FROM pg_catalog.pg_policy p
JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
WHERE p.polname = 'tenant_isolation' AND c.relname <> ALL ($1::text[])
ORDER BY 1";

#[derive(diesel::QueryableByName)]
struct NameRow {
    #[diesel(sql_type = Text)]
    name: String,
}

/// `name` for as long as the process runs, kept once however many databases name it: an
/// undeclared tenant table stands where a declared one's `&'static str` does.
fn interned(name: String) -> &'static str {
    static NAMES: OnceLock<RwLock<HashSet<&'static str>>> = OnceLock::new();
    let names = NAMES.get_or_init(Default::default);
    if let Some(kept) = names
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(name.as_str())
    {
        return kept;
    }
    let mut names = names.write().unwrap_or_else(PoisonError::into_inner);
    if let Some(kept) = names.get(name.as_str()) {
        return kept;
    }
    let kept: &'static str = Box::leak(name.into_boxed_str());
    names.insert(kept);
    kept
}

/// Finds the relations that reach the rows of the registered tenant tables and the functions
/// that read them, keeps them for [`refusal`], and returns the relations found in this
/// database, by name, each with what it is (for the classification conflict a global
/// declaration of one of them is).
pub(crate) fn resolve(conn: &mut PgConnection) -> QueryResult<Vec<(String, String)>> {
    let tables = crate::manifest::tenant_tables();
    let undeclared: Vec<&'static str> = diesel::sql_query(UNDECLARED_SQL)
        .bind::<Array<Text>, _>(crate::manifest::table_names())
        .load::<NameRow>(conn)?
        .into_iter()
        .map(|row| interned(row.name))
        .collect();
    // The undeclared tables are bases too: what reaches their rows is refused as well.
    let names: Vec<&'static str> = tables
        .iter()
        .map(|e| e.table)
        .chain(undeclared.iter().copied())
        .collect();
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<ReachRow> = diesel::sql_query(REACHING_SQL)
        .bind::<Array<Text>, _>(&names)
        .load(conn)?;
    let mut here: Vec<(String, Reach)> = rows
        .into_iter()
        .filter_map(|row| {
            let table = *names.iter().find(|name| **name == row.base)?;
            let kind = kind_named(&row.kind);
            Some((row.name, Reach { kind, table }))
        })
        // A relation that is itself classified tenant-scoped is scoped under its own name; an
        // undeclared one is refused as what it is.
        .filter(|(name, _)| !names.iter().any(|base| base == name))
        .collect();
    let readers = super::readers::find(conn, &names, &here)?;
    here.extend(readers.views);
    let mut found = found().write().unwrap_or_else(PoisonError::into_inner);
    found.undeclared.extend(&undeclared);
    for (name, reach) in &here {
        found.relations.insert(name.clone(), reach.clone());
    }
    found.functions.extend(readers.functions);
    found.operators.extend(readers.operators);
    found.types.extend(readers.types);
    let mut described: Vec<(String, String)> = here
        .into_iter()
        .map(|(name, reach)| {
            let what = format!(
                "tenant-scoped (in the database it is a {} of the tenant-scoped table `{}`)",
                reach.kind, reach.table
            );
            (name, what)
        })
        .collect();
    for (name, via) in readers.hidden_views {
        described.push((
            name.clone(),
            format!("a view of every tenant's rows (in the database it uses `{via}`, which tenancy cannot scope)"),
        ));
        found.hidden_views.insert(name, via);
    }
    Ok(described)
}

/// The kind of relation the catalog queries name, as [`Reach::kind`] holds it.
pub(super) fn kind_named(kind: &str) -> &'static str {
    match kind {
        "view" => "view",
        "materialized view" => "materialized view",
        "partition" => "partition",
        "parent table" => "parent table",
        "foreign table" => "foreign table",
        _ => "inheritance child",
    }
}

/// Why SQL text may not use `name` as it does, if it is one of the relations or functions
/// [`resolve`] found: a call of a function whose body reads a tenant table, or a relation used
/// as one (`"posts_2026"."id"` qualifies a column of one already refused, and `name(..)` calls
/// a function of the same name). A name after a dot may be either: `x.reads_posts` calls
/// `reads_posts(x)` in attribute notation.
pub(crate) fn refusal(name: &NameUse) -> Option<SqlTextError> {
    let found = found().read().unwrap_or_else(PoisonError::into_inner);
    if name.kind == UseKind::Operator {
        // PostgreSQL reads `+` and `-` at the end of an operator as a sign of what follows
        // unless the name has one of `~!@#%^&|`?`, so `##>-1` may be `##>` and `-1`.
        let (function, reader) = found
            .operators
            .iter()
            .find(|(op, _)| {
                name.name
                    .strip_prefix(op.as_str())
                    .is_some_and(|rest| rest.bytes().all(|b| b == b'+' || b == b'-'))
            })
            .map(|(_, found)| found)?;
        return Some(SqlTextError::OperatorRunsReader {
            operator: name.name.clone(),
            function: function.clone(),
            table: table_of(*reader),
        });
    }
    if name.calls || name.after_dot {
        if let Some(reader) = found.functions.get(&name.name) {
            return Some(match reader {
                Reader::Table(table) => SqlTextError::FunctionReadsTenantRows {
                    function: name.name.clone(),
                    table,
                },
                Reader::Hidden => SqlTextError::FunctionRunsHiddenSql(name.name.clone()),
            });
        }
        if name.calls {
            return None;
        }
    }
    if name.qualifies {
        return None;
    }
    if found.undeclared.contains(name.name.as_str()) {
        return Some(SqlTextError::UndeclaredTenantTable(name.name.clone()));
    }
    if let Some(reach) = found.relations.get(&name.name) {
        return Some(SqlTextError::ReachesTenantRows {
            name: name.name.clone(),
            kind: reach.kind,
            table: reach.table,
        });
    }
    if let Some(via) = found.hidden_views.get(&name.name) {
        return Some(SqlTextError::HiddenView {
            view: name.name.clone(),
            via: via.clone(),
        });
    }
    let (function, reader) = found.types.get(&name.name)?;
    Some(SqlTextError::TypeRunsReader {
        type_name: name.name.clone(),
        function: function.clone(),
        table: table_of(*reader),
    })
}

fn table_of(reader: Reader) -> Option<&'static str> {
    match reader {
        Reader::Table(table) => Some(table),
        Reader::Hidden => None,
    }
}
