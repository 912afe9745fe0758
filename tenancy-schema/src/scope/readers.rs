//! The routines that read a tenant table's rows, or run SQL no text shows, where the
//! shadowing CTEs do not reach: functions whose body reads a tenant table (directly, through
//! a relation that reaches its rows, or through another such function), aggregates built on
//! them, the views that call them, and the operators, casts and domain checks that run them
//! without naming them. Found together when a `Tenancy` is built, by following the catalog
//! from the tenant tables until nothing new turns up.

use std::collections::{HashMap, HashSet};

use diesel::sql_types::{Array, Bool, Text};
use diesel::{PgConnection, QueryResult, RunQueryDsl};

use super::reaching::Reach;

/// What a routine reads that the tenant filter does not reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reader {
    /// The rows of this tenant-scoped table.
    Table(&'static str),
    /// SQL its text does not show: dynamic `EXECUTE`, a Unicode-escaped name, or a body in a
    /// language tenancy cannot read.
    Hidden,
}

/// Everything [`find`] found, by the name SQL text uses for it.
#[derive(Debug, Default)]
pub(crate) struct Readers {
    pub functions: HashMap<String, Reader>,
    /// Operators, with the function each runs.
    pub operators: HashMap<String, (String, Reader)>,
    /// Types whose casts or domain checks run such a function, with the function.
    pub types: HashMap<String, (String, Reader)>,
    /// Views and materialized views that call such a function.
    pub views: Vec<(String, Reach)>,
    /// Views and materialized views that run SQL no text shows (a function that runs SQL given
    /// as text, a view or function that does) or read a statistics view, with what they use.
    pub hidden_views: HashMap<String, String>,
}

/// One step outward from `$1` (names of relations and functions already known to reach
/// tenant rows; `$2` the tenant table each reaches, empty for hidden SQL; `$3` whether it is a
/// function). Functions outside PostgreSQL's own schemas, unless commented
/// `tenancy: reviewed`:
/// - SQL and PL/pgSQL bodies naming one as a word, and bodies depending on one (SQL-standard
///   bodies record what they use); an extension's own functions only when the one they name
///   runs SQL no text shows (pgTAP's `set_eq` hands its text to a function that runs it);
/// - bodies tenancy cannot read: other languages, PL/pgSQL's `EXECUTE`, `U&"…"` names, and
///   bodies naming a function that runs SQL or reads a table named in text
///   (`$4`, [`crate::sql_lexer::DYNAMIC_SQL`]: `query_to_xml(q, ..)` in a SQL function runs
///   whatever `q` its caller passes) (tenancy's own schema excepted: `tenancy check` verifies
///   its functions);
/// - aggregates with one as a support function;
/// - views and materialized views whose query depends on one;
/// - operators that run one, and types whose casts or domain checks run one.
const STEP_SQL: &str = "\
WITH t (name, base, is_function) AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::bool[])
), hidden (name) AS (
  SELECT * FROM unnest($4::text[])
-- PostgreSQL keeps only a few compiled regular expressions per session: a pattern per name,
-- tried on every function, was compiled again for every function once the names outnumbered
-- that cache (minutes with an extension of a thousand functions installed). So the bodies are
-- cut into their words once, and the names found among them by equality; one pattern names
-- every hidden source, and the pattern per source runs only on the views that name one.
), hidden_any (pattern) AS (
  SELECT '[[:<:]](' || string_agg(h.name, '|') || ')[[:>:]]' FROM hidden h
), own (oid) AS (
  SELECT 'pg_catalog'::pg_catalog.regnamespace::oid
  UNION ALL SELECT 'information_schema'::pg_catalog.regnamespace::oid
), fn AS (
  SELECT p.oid, p.proname::text AS name, p.prokind, l.lanname::text AS lang, p.prosrc,
         n.nspname::text AS schema,
         -- A SQL-standard body (`RETURN`, `BEGIN ATOMIC`) is not in prosrc, and what it
         -- calls of PostgreSQL's own is pinned, so no dependency records it.
         p.prosrc || ' ' || coalesce(pg_catalog.pg_get_function_sqlbody(p.oid), '') AS body,
         -- An extension's functions in other languages are its own code, read by nobody here;
         -- those that build statements at run time are counted all the same.
         EXISTS (SELECT FROM pg_catalog.pg_depend e
                 WHERE e.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
                   AND e.objid = p.oid AND e.deptype = 'e') AS in_extension
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_language l ON l.oid = p.prolang
  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
  WHERE p.pronamespace NOT IN (SELECT oid FROM own)
    AND coalesce(pg_catalog.obj_description(p.oid, 'pg_proc'), '') NOT LIKE 'tenancy: reviewed%'
), dep (classid, objid, name) AS (
  SELECT d.classid, d.objid,
         CASE d.refclassid
           WHEN 'pg_catalog.pg_class'::pg_catalog.regclass THEN
             (SELECT c.relname::text FROM pg_catalog.pg_class c WHERE c.oid = d.refobjid)
           ELSE
             (SELECT p.proname::text FROM pg_catalog.pg_proc p
              WHERE p.oid = d.refobjid AND p.pronamespace NOT IN (SELECT oid FROM own))
         END
  FROM pg_catalog.pg_depend d
  WHERE d.classid IN ('pg_catalog.pg_proc'::pg_catalog.regclass,
                      'pg_catalog.pg_rewrite'::pg_catalog.regclass,
                      'pg_catalog.pg_constraint'::pg_catalog.regclass)
    AND d.refclassid IN ('pg_catalog.pg_class'::pg_catalog.regclass,
                         'pg_catalog.pg_proc'::pg_catalog.regclass)
-- Words as the patterns' word boundaries see them (letters, digits, `_`); a name with a `$`
-- in it is looked for with its own pattern.
), naming AS MATERIALIZED (
  SELECT DISTINCT f.name, f.in_extension, w.word
  FROM fn f
  CROSS JOIN pg_catalog.regexp_split_to_table(pg_catalog.lower(f.prosrc), '[^[:alnum:]_]+') w (word)
  WHERE f.prokind <> 'a' AND f.lang IN ('sql', 'plpgsql')
), viewing AS MATERIALIZED (
  SELECT c.relname::text AS name, pg_catalog.pg_get_viewdef(c.oid) AS definition
  FROM pg_catalog.pg_class c
  WHERE c.relkind IN ('v', 'm') AND c.relnamespace NOT IN (SELECT oid FROM own)
    AND pg_catalog.pg_get_viewdef(c.oid) ~* (SELECT pattern FROM hidden_any)
)
SELECT 'function' AS kind, f.name, t.base, '' AS via
FROM naming f JOIN t ON (NOT f.in_extension OR t.base = '') AND t.name ~ '^[[:alnum:]_]+$'
  AND f.word = pg_catalog.lower(t.name)
UNION
SELECT 'function', f.name, t.base, ''
FROM fn f JOIN t ON (NOT f.in_extension OR t.base = '') AND t.name ~ '^[[:alnum:]_$]*[$][[:alnum:]_$]*$'
  AND f.lang IN ('sql', 'plpgsql')
  AND f.prosrc ~* ('[[:<:]]' || replace(t.name, '$', '[$]') || '[[:>:]]')
WHERE f.prokind <> 'a'
UNION
SELECT 'function', f.name, t.base, ''
FROM fn f
JOIN dep ON dep.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND dep.objid = f.oid
JOIN t ON (NOT f.in_extension OR t.base = '') AND t.name = dep.name
WHERE f.prokind <> 'a'
UNION
SELECT 'function', f.name, '', ''
FROM fn f
WHERE f.prokind <> 'a' AND f.schema NOT IN ('tenancy', 'tenancy_context')
  AND ((f.lang NOT IN ('sql', 'plpgsql', 'internal') AND NOT f.in_extension)
       OR (f.lang = 'plpgsql' AND f.prosrc ~* '[[:<:]]execute[[:>:]]')
       OR f.prosrc ~* 'u&\"'
       OR f.body ~* (SELECT pattern FROM hidden_any))
UNION
SELECT 'function', a.name, t.base, ''
FROM fn a
JOIN pg_catalog.pg_aggregate g ON g.aggfnoid = a.oid
JOIN pg_catalog.pg_proc s
  ON s.oid IN (g.aggtransfn::oid, g.aggfinalfn::oid, g.aggcombinefn::oid, g.aggserialfn::oid,
               g.aggdeserialfn::oid, g.aggmtransfn::oid, g.aggminvtransfn::oid,
               g.aggmfinalfn::oid)
JOIN t ON t.is_function AND t.name = s.proname
UNION
SELECT CASE WHEN t.base = '' THEN 'hidden view' WHEN c.relkind = 'm' THEN 'materialized view'
            ELSE 'view' END, c.relname::text, t.base, t.name
FROM dep
JOIN pg_catalog.pg_rewrite w ON w.oid = dep.objid AND w.rulename = '_RETURN'
JOIN pg_catalog.pg_class c ON c.oid = w.ev_class
JOIN t ON t.name = dep.name AND t.name <> c.relname
WHERE dep.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
UNION
-- Views that call a function running SQL given as text, or read a statistics view (`$4`):
-- PostgreSQL's own are pinned, so no dependency records them; the definition's text does.
SELECT 'hidden view', v.name, '', h.name
FROM viewing v JOIN hidden h ON v.definition ~* ('[[:<:]]' || h.name || '[[:>:]]')
UNION
SELECT 'operator', o.oprname::text, t.base, p.proname::text
FROM pg_catalog.pg_operator o
JOIN pg_catalog.pg_proc p ON p.oid = o.oprcode
JOIN t ON t.is_function AND t.name = p.proname
WHERE o.oprnamespace NOT IN (SELECT oid FROM own)
UNION
SELECT 'type', y.typname::text, t.base, p.proname::text
FROM pg_catalog.pg_cast k
JOIN pg_catalog.pg_proc p ON p.oid = k.castfunc
JOIN t ON t.is_function AND t.name = p.proname
JOIN pg_catalog.pg_type y ON y.oid IN (k.castsource, k.casttarget)
WHERE y.typnamespace NOT IN (SELECT oid FROM own)
UNION
SELECT 'type', y.typname::text, t.base, dep.name
FROM pg_catalog.pg_constraint k
JOIN dep ON dep.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass AND dep.objid = k.oid
JOIN t ON t.is_function AND t.name = dep.name
JOIN pg_catalog.pg_type y ON y.oid = k.contypid
WHERE k.contypid <> 0";

#[derive(diesel::QueryableByName)]
struct StepRow {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    base: String,
    #[diesel(sql_type = Text)]
    via: String,
}

/// Follows the catalog outward from `tables` (the tenant tables) and `relations` (what
/// reaches their rows under another name) until a step finds nothing new.
pub(crate) fn find(
    conn: &mut PgConnection,
    tables: &[&'static str],
    relations: &[(String, Reach)],
) -> QueryResult<Readers> {
    let mut names: Vec<String> = tables.iter().map(|t| (*t).to_owned()).collect();
    let mut bases: Vec<String> = names.clone();
    let mut is_function = vec![false; names.len()];
    for (name, reach) in relations {
        names.push(name.clone());
        bases.push(reach.table.to_owned());
        is_function.push(false);
    }
    let mut readers = Readers::default();
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let hidden_sources: Vec<&str> = crate::sql_lexer::DYNAMIC_SQL
        .iter()
        .chain(crate::sql_lexer::STATISTICS_VIEWS)
        .copied()
        .collect();
    loop {
        let rows: Vec<StepRow> = diesel::sql_query(STEP_SQL)
            .bind::<Array<Text>, _>(&names)
            .bind::<Array<Text>, _>(&bases)
            .bind::<Array<Bool>, _>(&is_function)
            .bind::<Array<Text>, _>(&hidden_sources)
            .load(conn)?;
        let mut grew = false;
        for row in rows {
            let reader = if row.base.is_empty() {
                Reader::Hidden
            } else if let Some(table) = tables.iter().find(|t| **t == row.base) {
                Reader::Table(table)
            } else {
                continue;
            };
            if !seen.insert((row.kind.clone(), row.name.clone())) {
                continue;
            }
            match row.kind.as_str() {
                "operator" => {
                    readers.operators.insert(row.name, (row.via, reader));
                    continue;
                }
                "type" => {
                    readers.types.insert(row.name, (row.via, reader));
                    continue;
                }
                "function" => {
                    readers.functions.insert(row.name.clone(), reader);
                    is_function.push(true);
                }
                "hidden view" => {
                    readers.hidden_views.insert(row.name.clone(), row.via);
                    is_function.push(false);
                }
                kind => {
                    let Reader::Table(table) = reader else {
                        continue;
                    };
                    let kind = super::reaching::kind_named(kind);
                    if tables.contains(&row.name.as_str())
                        || relations.iter().any(|(name, _)| *name == row.name)
                    {
                        continue;
                    }
                    readers
                        .views
                        .push((row.name.clone(), Reach { kind, table }));
                    is_function.push(false);
                }
            }
            names.push(row.name);
            bases.push(row.base);
            grew = true;
        }
        if !grew {
            return Ok(readers);
        }
    }
}
