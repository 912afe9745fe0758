//! TEN084: unqualified names that resolve elsewhere. Diesel and tenancy write table names
//! unqualified (`"posts"`), and PostgreSQL looks them up along the session's `search_path`,
//! which starts with `"$user"`: a schema named like the application's login, or one that a
//! `search_path` default for its sessions puts first, holding a relation named like a table of
//! the checked schema, takes every statement on that name, with whatever policies (or none) it
//! has. One tenant's rows written there are read by the next tenant. `pg_catalog`, searched
//! before all of them unless the path names it, counts too for what PostgreSQL did not put there.
//! TEN086 is the same for functions, operators and casts: what was added to `pg_catalog` (or
//! between PostgreSQL's own types) is what every name and expression there resolves to.

use diesel::prelude::*;
use diesel::sql_types::{Array, Text};

use super::CheckOptions;
use super::catalog::{Catalog, NOT_A_LANGUAGE_EXTENSION};
use super::report::Findings;

/// Where a `search_path` for sessions of one of `$1` (the application role and its logins) is
/// set, and to what: defaults of the database or of every database, for one of those roles or
/// every role, and the server's own.
const PATHS_SQL: &str = "
SELECT format('%s, %s',
              CASE WHEN s.setdatabase = 0 THEN 'every database' ELSE 'this database' END,
              CASE WHEN s.setrole = 0 THEN 'every role' ELSE 'role ' || pg_get_userbyid(s.setrole) END)
         AS place,
       substr(cfg, length('search_path=') + 1) AS path
FROM pg_db_role_setting s, unnest(s.setconfig) cfg
WHERE cfg LIKE 'search\\_path=%'
  AND s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
  AND (s.setrole = 0 OR pg_get_userbyid(s.setrole) = ANY ($1))
UNION ALL
SELECT 'the server''s configuration', reset_val FROM pg_settings WHERE name = 'search_path'";

/// The relations of the schemas `$1` that one of `$3` may use and that are named like a
/// relation of schema `$2`.
const SHADOWS_SQL: &str = "
SELECT n.nspname::text AS schema, c.relname::text AS name
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY ($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  -- Of pg_catalog, only what PostgreSQL did not make (FirstNormalObjectId on).
  AND (n.nspname <> 'pg_catalog' OR c.oid >= 16384)
  AND EXISTS (SELECT FROM pg_class t
              WHERE t.relnamespace = quote_ident($2)::regnamespace AND t.relname = c.relname
                AND t.relkind IN ('r', 'p', 'v', 'm', 'f'))
  AND EXISTS (SELECT FROM unnest($3::text[]) r (name)
              WHERE has_schema_privilege(r.name, n.oid, 'USAGE'))
ORDER BY 1, 2";

/// What PostgreSQL did not make (FirstNormalObjectId on), where every name is looked up first,
/// or that changes what an expression of its own types means: functions (aggregates too) and
/// operators in `pg_catalog`, which every session finds before any schema of its `search_path`
/// (an overload there wins over the built-in the code meant, tenancy's readers included), and
/// casts between PostgreSQL's own types (a cast from text to uuid turns the reader's `::uuid`
/// into a function of anyone's choosing).
///
/// What an extension brought is left out, but for what stands in for a built-in in the code
/// tenancy's readers run: a superuser may add any object to any extension (`ALTER EXTENSION
/// plpgsql ADD FUNCTION pg_catalog.currval(text)`), so membership says nothing of who made it.
/// So an extension's function in `pg_catalog` named like a built-in (one initdb made) that a
/// function of schema `tenancy` or `tenancy_context` calls by name (read from their bodies: they
/// run with `search_path = pg_catalog, pg_temp`, and PostgreSQL resolves their calls again in
/// every session, so an overload that fits an untyped literal better, `currval(text)` for
/// `currval('tenancy.nonce_hi')`, runs instead), an extension's operator in `pg_catalog` named
/// like a built-in over PostgreSQL's own types only, and an extension's cast between
/// PostgreSQL's own types are reported all the same. (Citus overloads built-ins in `pg_catalog`
/// that tenancy never calls, `pg_cancel_backend(bigint)`, and its operators compare types of its
/// own.)
const CATALOG_ADDITIONS_SQL: &str = "
WITH called AS (
  SELECT DISTINCT lower(m[1]) AS name
  FROM pg_proc t CROSS JOIN LATERAL regexp_matches(t.prosrc, '([A-Za-z_][A-Za-z0-9_$]*)\\s*\\(', 'g') m
  WHERE t.pronamespace IN (SELECT oid FROM pg_namespace WHERE nspname IN ('tenancy', 'tenancy_context'))
    AND t.prolang IN (SELECT oid FROM pg_language WHERE lanname IN ('sql', 'plpgsql'))
)
SELECT format('function %s', p.oid::regprocedure) AS name
FROM pg_proc p
WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.oid >= 16384
  AND (NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                     AND d.objid = p.oid AND d.deptype = 'e')
       OR (p.proname IN (SELECT name FROM called)
           AND EXISTS (SELECT FROM pg_proc b WHERE b.pronamespace = 'pg_catalog'::regnamespace
                         AND b.oid < 16384 AND b.proname = p.proname)))
UNION ALL
SELECT format('operator %s', o.oid::regoperator)
FROM pg_operator o
WHERE o.oprnamespace = 'pg_catalog'::regnamespace AND o.oid >= 16384
  AND (NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_operator'::regclass
                     AND d.objid = o.oid AND d.deptype = 'e')
       OR (o.oprleft < 16384 AND o.oprright < 16384
           AND EXISTS (SELECT FROM pg_operator b WHERE b.oprnamespace = 'pg_catalog'::regnamespace
                         AND b.oid < 16384 AND b.oprname = o.oprname)))
UNION ALL
SELECT format('cast (%s AS %s)', format_type(c.castsource, NULL), format_type(c.casttarget, NULL))
FROM pg_cast c
WHERE c.oid >= 16384 AND c.castsource < 16384 AND c.casttarget < 16384
ORDER BY 1";

/// The functions (aggregates and procedures too) and operators of the schemas `$1` that one of
/// `$3` may use, that no extension brought (a procedural language's extension ships none: one
/// added to it afterwards is hidden, not brought), and that are named like a function or operator of
/// `pg_catalog` or (outside schema `$2`) of schema `$2`: a session whose `search_path` puts
/// their schema first finds them as it finds the real one, and PostgreSQL weighs every
/// function of a name along the path alike, so an overload that fits the arguments better (or the same one, ahead of
/// `pg_catalog` when the path names it later) runs instead, seeing what the statement hands
/// it, and may keep it for whichever tenant the pooled connection serves next.
const SHADOW_ROUTINES_SQL: &str = "
SELECT format('function %s', p.oid::regprocedure) AS name
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = ANY ($1) AND n.nspname <> 'pg_catalog'
  AND EXISTS (SELECT FROM pg_proc q
              WHERE (q.pronamespace = 'pg_catalog'::regnamespace
                     OR (q.pronamespace = quote_ident($2)::regnamespace AND n.nspname <> $2))
                AND q.proname = p.proname)
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                    AND d.objid = p.oid AND d.deptype = 'e'
                    AND NOT_A_LANGUAGE_EXTENSION)
  AND EXISTS (SELECT FROM unnest($3::text[]) r (name)
              WHERE has_schema_privilege(r.name, n.oid, 'USAGE'))
UNION ALL
SELECT format('operator %s', o.oid::regoperator)
FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
WHERE n.nspname = ANY ($1) AND n.nspname <> 'pg_catalog'
  AND EXISTS (SELECT FROM pg_operator q
              WHERE (q.oprnamespace = 'pg_catalog'::regnamespace
                     OR (q.oprnamespace = quote_ident($2)::regnamespace AND n.nspname <> $2))
                AND q.oprname = o.oprname)
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_operator'::regclass
                    AND d.objid = o.oid AND d.deptype = 'e'
                    AND NOT_A_LANGUAGE_EXTENSION)
  AND EXISTS (SELECT FROM unnest($3::text[]) r (name)
              WHERE has_schema_privilege(r.name, n.oid, 'USAGE'))
ORDER BY 1";

#[derive(QueryableByName)]
struct NameRow {
    #[diesel(sql_type = Text)]
    name: String,
}

/// TEN086: [`CATALOG_ADDITIONS_SQL`].
fn check_catalog_additions(f: &mut Findings, conn: &mut PgConnection) -> QueryResult<()> {
    let found: Vec<NameRow> = diesel::sql_query(CATALOG_ADDITIONS_SQL).load(conn)?;
    for n in found {
        let (drop, how) = match n.name.split_once(' ') {
            Some(("function", what)) => (
                format!("DROP ROUTINE pg_catalog.{what}"),
                "every session looks functions up in pg_catalog before any schema of its search_path, so it wins over the built-in a call meant whenever it fits the arguments better",
            ),
            Some(("operator", what)) => (
                format!("DROP OPERATOR pg_catalog.{what}"),
                "every session looks operators up in pg_catalog before any schema of its search_path, so it wins over the built-in an expression meant whenever it fits the operands better",
            ),
            _ => (
                format!("DROP {}", n.name.replacen("cast", "CAST", 1)),
                "every conversion between these types runs it, where PostgreSQL had its own or none",
            ),
        };
        f.add(
            "TEN086",
            &n.name,
            format!(
                "{} is not PostgreSQL's own: {how}; tenancy's context readers and the policies call built-ins, and a stand-in for one may answer another tenant",
                n.name
            ),
            format!("{drop} (put functions and operators of your own in a schema of your own)"),
        );
    }
    Ok(())
}

#[derive(QueryableByName)]
struct PathRow {
    #[diesel(sql_type = Text)]
    place: String,
    #[diesel(sql_type = Text)]
    path: String,
}

#[derive(QueryableByName)]
struct ShadowRow {
    #[diesel(sql_type = Text)]
    schema: String,
    #[diesel(sql_type = Text)]
    name: String,
}

pub(super) fn check_search_path(
    f: &mut Findings,
    conn: &mut PgConnection,
    catalog: &Catalog,
    o: &CheckOptions,
) -> QueryResult<()> {
    check_catalog_additions(f, conn)?;
    // Without the role, the catalog asked a stand-in's questions.
    if !catalog.role.exists {
        return Ok(());
    }
    let roles = &catalog.app_and_logins;
    let paths: Vec<PathRow> = diesel::sql_query(PATHS_SQL)
        .bind::<Array<Text>, _>(roles)
        .load(conn)?;
    let shadow_routines_sql =
        SHADOW_ROUTINES_SQL.replace("NOT_A_LANGUAGE_EXTENSION", NOT_A_LANGUAGE_EXTENSION);
    for p in paths {
        let ahead = ahead_of(&p.path, &o.schema, roles);
        check_schemas_ahead(f, &p, &ahead, roles, o);
        if ahead.is_empty() && !schema_before_catalog(&p.path, &o.schema) {
            continue;
        }
        let shadows: Vec<ShadowRow> = diesel::sql_query(SHADOWS_SQL)
            .bind::<Array<Text>, _>(&ahead)
            .bind::<Text, _>(&o.schema)
            .bind::<Array<Text>, _>(roles)
            .load(conn)?;
        for s in shadows {
            f.add(
                "TEN084",
                format!("relation {}.{}", s.schema, s.name),
                format!(
                    "sessions of `{}` look names up along `search_path = {}` ({}), so an unqualified `{}` is {}.{}, not {}.{}: tenancy's statements and raw SQL read and write it with its policies, or none",
                    o.app_role, p.path, p.place, s.name, s.schema, s.name, o.schema, s.name
                ),
                format!(
                    "DROP or rename {}.{} (or the schema), or set search_path so that {} comes first",
                    s.schema, s.name, o.schema
                ),
            );
        }
        // The checked schema too when the path names pg_catalog after it: its functions
        // named like built-ins are then found first.
        let mut searched = ahead.clone();
        if schema_before_catalog(&p.path, &o.schema) {
            searched.push(o.schema.clone());
        }
        let routines: Vec<NameRow> = diesel::sql_query(&shadow_routines_sql)
            .bind::<Array<Text>, _>(&searched)
            .bind::<Text, _>(&o.schema)
            .bind::<Array<Text>, _>(roles)
            .load(conn)?;
        for r in routines {
            f.add(
                "TEN086",
                &r.name,
                format!(
                    "sessions of `{}` look names up along `search_path = {}` ({}), which searches the schema of {} ahead of {} or of pg_catalog's built-ins: it is named like one of theirs, and PostgreSQL runs whichever function or operator of a name fits the arguments best (of the same arguments, the one earliest on the path), so it may stand in for the one a statement meant, see what the statement hands it and keep it for the next tenant on the pooled connection",
                    o.app_role, p.path, p.place, r.name, o.schema
                ),
                format!(
                    "DROP {} (or the schema), or set search_path so that no schema comes before {} and pg_catalog is named first or not at all",
                    r.name.replacen("function", "ROUTINE", 1).replacen("operator", "OPERATOR", 1),
                    o.schema
                ),
            );
        }
    }
    Ok(())
}

/// TEN098: the schemas a `search_path` default puts ahead of the checked schema besides
/// `pg_catalog` and the `"$user"` schemas (whose relations TEN084 reads whatever path names
/// them): nothing there shadows a table today, or TEN084 would say so, but a relation created
/// there tomorrow takes every unqualified statement on its name, by whoever may create in it.
fn check_schemas_ahead(
    f: &mut Findings,
    p: &PathRow,
    ahead: &[String],
    roles: &[String],
    o: &CheckOptions,
) {
    if p.place.starts_with("the server") {
        return;
    }
    let named: Vec<&String> = ahead
        .iter()
        .filter(|s| *s != "pg_catalog" && !roles.contains(s))
        .collect();
    if named.is_empty() {
        return;
    }
    let list = named
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    f.add(
        "TEN098",
        format!("search_path {}", p.path),
        format!(
            "sessions of `{}` look names up along `search_path = {}` ({}), which searches {list} before {}: a table or function created there later takes every unqualified statement on its name, with its own policies or none",
            o.app_role, p.path, p.place, o.schema
        ),
        format!(
            "RESET search_path where it is set, or put {} first (pg_catalog, \"$user\" and {} are what the application needs)",
            o.schema, o.schema
        ),
    );
}

/// The schemas `path` (a `search_path` value as stored) puts before `schema`, with `"$user"`
/// read as each of `roles`; all of them when `schema` is not in it. PostgreSQL searches
/// `pg_catalog` first unless the path names it elsewhere.
fn ahead_of(path: &str, schema: &str, roles: &[String]) -> Vec<String> {
    let entries = split_path(path);
    let mut out = Vec::new();
    if !entries.iter().any(|e| e == "pg_catalog") {
        out.push("pg_catalog".to_owned());
    }
    for entry in entries {
        if entry == schema {
            break;
        }
        if entry == "$user" {
            out.extend(roles.iter().cloned());
        } else if entry != "pg_temp" {
            out.push(entry);
        }
    }
    out
}

/// Whether `path` (a `search_path` value as stored) names `schema` and, later, `pg_catalog`.
fn schema_before_catalog(path: &str, schema: &str) -> bool {
    let entries = split_path(path);
    let at = |name: &str| entries.iter().position(|e| e == name);
    matches!((at(schema), at("pg_catalog")), (Some(s), Some(c)) if s < c)
}

/// The schema names of a `search_path` value: comma-separated, each quoted (as written) or
/// folded to lower case.
fn split_path(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                current.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut current)),
            c if quoted => current.push(c),
            c if c.is_whitespace() => {}
            c => current.extend(c.to_lowercase()),
        }
    }
    out.push(current);
    out.retain(|s| !s.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::{ahead_of, schema_before_catalog, split_path};

    #[test]
    fn search_paths_split_as_postgresql_reads_them() {
        assert_eq!(split_path("\"$user\", public"), ["$user", "public"]);
        assert_eq!(
            split_path("Shadow,\"We,ird\" , public"),
            ["shadow", "We,ird", "public"]
        );
        let roles = ["app".to_owned(), "app_login".to_owned()];
        assert_eq!(
            ahead_of("\"$user\", public", "public", &roles),
            ["pg_catalog", "app", "app_login"]
        );
        assert_eq!(ahead_of("public, shadow", "public", &roles), ["pg_catalog"]);
        assert_eq!(
            ahead_of("public, pg_catalog", "public", &roles),
            Vec::<String>::new()
        );
        assert_eq!(
            ahead_of("shadow, pg_catalog", "public", &roles),
            ["shadow", "pg_catalog"]
        );
        assert!(schema_before_catalog("public, pg_catalog", "public"));
        assert!(!schema_before_catalog("pg_catalog, public", "public"));
        assert!(!schema_before_catalog("\"$user\", public", "public"));
    }
}
