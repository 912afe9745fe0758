//! TEN054: a relation the application's sessions may read whole that tenancy cannot place.
//! Every other rule keys on the tenant column or a classification, so a copy of tenant rows
//! that left the column out (`CREATE TABLE names AS SELECT name FROM posts`), an export or a
//! cache is invisible to them, wherever it is: in the application's schema, in another one,
//! in `tenancy` beside tenancy's own tables, in `information_schema`. Any column grant reads
//! it, and a grant to a login or to a role a session may become as much as one to the
//! application role. A warning: whether it holds tenants' rows only its author knows.
//!
//! TEN055, an error: such a table whose foreign key points into a tenant table. A row that
//! points at a tenant's row is that tenant's (`widget_tags (widget_id REFERENCES widgets (id),
//! tag)`), whatever the code calls the table: a `#[global_table]` model of it reads every
//! tenant's rows with no filter, and so does raw SQL.

use std::collections::{BTreeMap, BTreeSet};

use diesel::prelude::*;
use diesel::sql_types::{Array, Bool, Text};

use super::CheckOptions;
use super::catalog::{Catalog, for_each_role, open_to_role, reviewed};
use super::report::Findings;
use crate::TableManifest;

/// Whether the relation `REL` (a `pg_class` row) is an extension's own: a member of an
/// extension that is not a procedural language's (`plpgsql` and the like bring no relations),
/// made one no later than the extension's catalog row was last written (`CREATE EXTENSION` or
/// `ALTER EXTENSION .. UPDATE`, whose script's members are recorded in the same transaction).
/// A superuser may make any relation a member of any extension (`ALTER EXTENSION plpgsql ADD
/// TABLE archive.posts`), which hid a copy of tenant rows; such a member is recorded later
/// than the extension's row, and the age of the two rows' `xmin` tells which came first. (One
/// added in the very transaction that created or updated its extension still passes: only a
/// superuser can do that, and only by running `CREATE EXTENSION` or an update for it.)
const EXTENSIONS_OWN: &str = "
EXISTS (SELECT FROM pg_depend e JOIN pg_extension x ON x.oid = e.refobjid
        WHERE e.classid = 'pg_class'::regclass AND e.objid = REL.oid AND e.deptype = 'e'
          AND e.refclassid = 'pg_extension'::regclass
          AND age(e.xmin) >= age(x.xmin)
          AND NOT EXISTS (SELECT FROM pg_depend l
                          WHERE l.refclassid = 'pg_extension'::regclass AND l.refobjid = x.oid
                            AND l.classid = 'pg_language'::regclass AND l.deptype = 'e'))";

/// For the role `$1`: every table, partition, view, materialized view and foreign table it may
/// read (any column) that no policy bounded by the tenant holds for it, but PostgreSQL's own
/// catalogs, TOAST and temporary relations, and what is an extension's own
/// ([`EXTENSIONS_OWN`]); with its columns, the relations it is a partition or child of, and,
/// for a view, the relations it reads through any number of views (those of PostgreSQL's
/// catalogs and extensions' own left out: they hold no tenant's rows).
const READABLE_SQL: &str = "
SELECT * FROM (
WITH RECURSIVE VIEW_REACH, ancestry (rel, parent) AS (
  SELECT i.inhrelid, i.inhparent FROM pg_inherits i
  UNION
  SELECT a.rel, i.inhparent FROM ancestry a JOIN pg_inherits i ON i.inhrelid = a.parent
)
SELECT $1::text AS role,
       CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                      WHEN 'f' THEN 'foreign table' ELSE 'table' END AS kind,
       c.oid::regclass::text AS relation, n.nspname::text AS schema, c.relname::text AS name,
       ARRAY(SELECT a.attname::text FROM pg_attribute a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
       ARRAY(SELECT pn.nspname || '.' || p.relname
             FROM ancestry a JOIN pg_class p ON p.oid = a.parent
             JOIN pg_namespace pn ON pn.oid = p.relnamespace
             WHERE a.rel = c.oid) AS ancestors,
       ARRAY(SELECT DISTINCT bn.nspname || '.' || b.relname
             FROM reach JOIN pg_class b ON b.oid = reach.rel
             JOIN pg_namespace bn ON bn.oid = b.relnamespace
             WHERE reach.view = c.oid AND b.relkind IN ('r', 'p', 'f', 'm')
               AND NOT (bn.nspname IN ('pg_catalog', 'information_schema') AND b.oid < 16384)
               AND NOT EXTENSIONS_OWN(b)) AS reads,
       c.relkind = 'v' AS is_view,
       ARRAY(SELECT DISTINCT tn.nspname || '.' || t.relname
             FROM pg_constraint k JOIN pg_class t ON t.oid = k.confrelid
             JOIN pg_namespace tn ON tn.oid = t.relnamespace
             WHERE k.conrelid = c.oid AND k.contype = 'f') AS points_at,
       obj_description(c.oid, 'pg_class') AS comment
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND NOT (n.nspname IN ('pg_catalog', 'information_schema') AND c.oid < 16384)
  AND n.nspname <> 'pg_toast' AND n.nspname !~ '^pg_(toast_)?temp_'
  AND NOT EXTENSIONS_OWN(c)
  AND has_schema_privilege($1, n.oid, 'USAGE')
  AND has_any_column_privilege($1, c.oid, 'SELECT')
  AND OPEN_TO_ROLE
) readable";

#[derive(QueryableByName)]
struct ReadableRow {
    #[diesel(sql_type = Text)]
    role: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    relation: String,
    #[diesel(sql_type = Text)]
    schema: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Array<Text>)]
    columns: Vec<String>,
    #[diesel(sql_type = Array<Text>)]
    ancestors: Vec<String>,
    #[diesel(sql_type = Array<Text>)]
    reads: Vec<String>,
    #[diesel(sql_type = Bool)]
    is_view: bool,
    /// The tables its foreign keys point at, schema-qualified.
    #[diesel(sql_type = Array<Text>)]
    points_at: Vec<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    comment: Option<String>,
}

/// The relations tenancy's migrations create in schema `tenancy` (`CREATE TABLE
/// tenancy.settings`): anything else there is no more tenancy's than a table of `public`.
pub(super) fn migration_relations(
    migrations: &[&crate::migrations::MigrationFiles],
) -> BTreeSet<String> {
    const SKIPPED: &[&str] = &[
        "or",
        "replace",
        "unlogged",
        "temp",
        "temporary",
        "materialized",
        "foreign",
        "recursive",
    ];
    let mut out = BTreeSet::new();
    for m in migrations {
        let lower = m.up.to_lowercase();
        let tokens: Vec<&str> = lower.split_whitespace().collect();
        for (i, t) in tokens.iter().enumerate() {
            if *t != "create" {
                continue;
            }
            let mut j = i + 1;
            while tokens.get(j).is_some_and(|t| SKIPPED.contains(t)) {
                j += 1;
            }
            if !tokens.get(j).is_some_and(|t| *t == "table" || *t == "view") {
                continue;
            }
            j += 1;
            if tokens.get(j..j + 3) == Some(&["if", "not", "exists"]) {
                j += 3;
            }
            if let Some(name) = tokens.get(j).and_then(|t| t.strip_prefix("tenancy.")) {
                let name: String = name
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        }
    }
    out
}

/// What tenancy knows about the relations of the database: those the code classifies (or the
/// database alone makes tenant tables), the tenants table, the private ones and tenancy's own.
struct Known<'a> {
    catalog: &'a Catalog,
    registry: &'a [&'a TableManifest],
    tenant_tables: &'a BTreeMap<String, String>,
    tenancys: BTreeSet<String>,
    options: &'a CheckOptions,
}

impl Known<'_> {
    /// Whether tenancy places relation `schema.name`.
    fn places(&self, schema: &str, name: &str) -> bool {
        if schema == "tenancy" && self.tenancys.contains(name) {
            return true;
        }
        schema == self.options.schema
            && (name == self.options.tenants_table
                || name == "__diesel_schema_migrations"
                || self.tenant_tables.contains_key(name)
                || self.registry.iter().any(|m| m.table == name)
                || self.catalog.tables.get(name).is_some_and(|t| t.private))
    }

    /// [`Self::places`] for `schema.name` as the query writes it.
    fn places_qualified(&self, qualified: &str) -> bool {
        qualified
            .split_once('.')
            .is_some_and(|(schema, name)| self.places(schema, name))
    }
}

/// `known` is what places a relation: the registry, the tenant tables by name (with their
/// tenant column) and the migrations tenancy knows.
pub(super) fn check_unclassified_readable(
    f: &mut Findings,
    conn: &mut PgConnection,
    catalog: &Catalog,
    known: (
        &[&TableManifest],
        &BTreeMap<String, String>,
        &[&crate::migrations::MigrationFiles],
    ),
    o: &CheckOptions,
) -> QueryResult<()> {
    let (registry, tenant_tables, migrations) = known;
    let known = Known {
        catalog,
        registry,
        tenant_tables,
        tenancys: migration_relations(migrations),
        options: o,
    };
    // A column named like a tenant column makes a relation TEN006's, but a view of the
    // checked schema: its tables with one are tenant tables, and TEN071 follows its views to
    // those; one that shows a relation no rule places (`SELECT owner AS tenant_id ..`) is
    // this rule's.
    let tenant_columns = super::elsewhere::tenant_column_names(catalog, tenant_tables, o);
    let sql = for_each_role(
        &READABLE_SQL
            .replace("OPEN_TO_ROLE", &open_to_role())
            .replace("VIEW_REACH", super::catalog::VIEW_REACH)
            .replace("EXTENSIONS_OWN(b)", &EXTENSIONS_OWN.replace("REL", "b"))
            .replace("EXTENSIONS_OWN(c)", &EXTENSIONS_OWN.replace("REL", "c")),
    );
    let mut rows: Vec<ReadableRow> = catalog.ask_of_reachable(conn, &sql)?;
    // One finding per relation, naming the application role when it is one that reads it.
    rows.sort_by(|a, b| {
        a.relation
            .cmp(&b.relation)
            .then_with(|| (b.role == o.app_role).cmp(&(a.role == o.app_role)))
            .then_with(|| a.role.cmp(&b.role))
    });
    rows.dedup_by(|later, first| later.relation == first.relation);
    for r in rows {
        if child_without_tenant(f, catalog, &r, (tenant_tables, &tenant_columns), o) {
            continue;
        }
        if known.places(&r.schema, &r.name)
            || r.ancestors.iter().any(|a| known.places_qualified(a))
            || (!(r.is_view && r.schema == o.schema)
                && r.columns
                    .iter()
                    .any(|c| tenant_columns.contains(c.as_str())))
            || reviewed(r.comment.as_deref())
        {
            continue;
        }
        // A view shows what it reads: one over tenancy's tables and the classified ones
        // alone is the other rules' (TEN071 follows views to tenant tables).
        let unplaced: Vec<&str> = r
            .reads
            .iter()
            .map(String::as_str)
            .filter(|b| !known.places_qualified(b))
            .collect();
        if r.is_view && unplaced.is_empty() {
            continue;
        }
        let who = if r.role == o.app_role {
            format!("`{}`", o.app_role)
        } else {
            catalog.run_by(&r.role, &o.app_role)
        };
        let shows = if r.is_view {
            format!(" (it shows {})", unplaced.join(", "))
        } else {
            String::new()
        };
        let unknown = if r.schema == o.schema {
            "no model classifies it".to_owned()
        } else if r.schema == "tenancy" {
            "it is in schema `tenancy` but tenancy's migrations did not create it".to_owned()
        } else {
            format!(
                "tenancy classifies only the relations of schema `{}`",
                o.schema
            )
        };
        let classify = if r.schema == o.schema {
            "classify it with #[global_table] in the schema.rs `tenancy check` reads (run it in your application's directory, or pass --schema-rs) when it holds no tenant data".to_owned()
        } else {
            format!(
                "when it holds no tenant data, move it into schema `{}` and classify it with #[global_table], or COMMENT ON {} {} IS 'tenancy: reviewed: <why>'",
                o.schema,
                r.kind.to_uppercase(),
                r.relation
            )
        };
        f.add(
            "TEN054",
            format!("{} {}", r.kind, r.relation),
            format!(
                "{who} may read every row of {} {}{shows}, which no policy bounded by the tenant holds (row level security off, or a policy for reading that does not read the tenant context), and {unknown}: if it holds rows of tenants (a copy or an export that left `{}` out), every tenant reads them all",
                r.kind, r.relation, o.tenant_column
            ),
            format!(
                "{classify}; else REVOKE SELECT ON {} FROM {}, PUBLIC (column grants too), or give it the tenant column and tenancy's policies (ENABLE and FORCE ROW LEVEL SECURITY)",
                r.relation, r.role
            ),
        );
    }
    Ok(())
}

/// TEN055 for the readable table `r` when its keys point into tenant tables and it has no
/// tenant column (nor is one, nor is reviewed); whether it reported.
fn child_without_tenant(
    f: &mut Findings,
    catalog: &Catalog,
    r: &ReadableRow,
    (tenant_tables, tenant_columns): (&BTreeMap<String, String>, &BTreeSet<&str>),
    o: &CheckOptions,
) -> bool {
    let tenant_table = |qualified: &str| {
        qualified
            .split_once('.')
            .is_some_and(|(schema, name)| schema == o.schema && tenant_tables.contains_key(name))
    };
    let targets: Vec<&str> = r
        .points_at
        .iter()
        .map(String::as_str)
        .filter(|t| tenant_table(t))
        .collect();
    if targets.is_empty()
        || r.columns
            .iter()
            .any(|c| tenant_columns.contains(c.as_str()))
        || tenant_table(&r.relation)
        || reviewed(r.comment.as_deref())
    {
        return false;
    }
    let who = if r.role == o.app_role {
        format!("`{}`", o.app_role)
    } else {
        catalog.run_by(&r.role, &o.app_role)
    };
    let col = &o.tenant_column;
    f.add(
        "TEN055",
        format!("table {}", r.relation),
        format!(
            "{who} may read every row of table {}, which has a foreign key into tenant table {} but no tenant column: each of its rows belongs to the tenant of the row it points at, and every tenant reads them all (a #[global_table] model of it reads them with no tenant filter)",
            r.relation,
            targets.join(", ")
        ),
        format!(
            "give {} the column `{col}`, make its key ({col}, ..) REFERENCES {} ({col}, ..), give it tenancy's policies and classify it #[tenant_scoped]; else REVOKE SELECT ON {} FROM {}, PUBLIC (column grants too), or, once reviewed, COMMENT ON TABLE {} IS 'tenancy: reviewed: <why>'",
            r.relation, targets[0], r.relation, r.role, r.relation
        ),
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migrations_relations_are_read_from_their_statements() {
        let files = crate::migrations::MigrationFiles {
            name: "2026-01-01-000000_x",
            up: "CREATE TABLE tenancy.settings (k text);\nCREATE UNLOGGED TABLE IF NOT EXISTS tenancy.cache(v int);\n\
                 CREATE OR REPLACE VIEW tenancy.v AS SELECT 1;\nCREATE TABLE public.other (a int);\n\
                 CREATE SEQUENCE tenancy.seq;",
            down: "",
        };
        let found = migration_relations(&[&files]);
        assert_eq!(
            found.into_iter().collect::<Vec<_>>(),
            ["cache", "settings", "v"]
        );
    }
}
