//! Tables declared `#[global_table]` whose rows the database ties to tenants: tenancy's tenant
//! policy (`tenant_isolation`, whatever its tenant column is named), a foreign key
//! of one column into the table of tenants (`account_id REFERENCES tenants`, a tenant column
//! named otherwise), or any foreign key into a tenant-scoped table (each row points at one
//! tenant's row). Typed queries and the system connection read a global table with no tenant
//! filter, so such a declaration read every tenant's rows where row level security is off, and
//! a write through the system connection asked the key whether another tenant had a row. The
//! macros cannot see the database; the `Tenancy` refuses such a declaration when it is built
//! (as a global view of tenant rows is), and `tenancy check` reports the foreign keys (TEN051,
//! TEN055).

use diesel::sql_types::{Array, Text};
use diesel::{PgConnection, QueryResult, RunQueryDsl};

use crate::manifest::{TENANTS_TABLE, TableKind};

/// For each global table (`$1`) the database ties to tenants, what ties it: `$2` are the
/// tenant-scoped tables, `$3` the table of tenants.
const TIED_SQL: &str = "
SELECT name, what FROM (
  SELECT g.name,
         coalesce(
           (SELECT 'tenancy''s tenant policy `tenant_isolation`'
            FROM pg_catalog.pg_policy p
            WHERE p.polrelid = c.oid AND p.polname = 'tenant_isolation'
            LIMIT 1),
           (SELECT 'a foreign key of one column into the table of tenants'
            FROM pg_catalog.pg_constraint k
            WHERE k.conrelid = c.oid AND k.contype = 'f'
              AND k.confrelid = pg_catalog.to_regclass(pg_catalog.quote_ident($3))
              AND pg_catalog.array_length(k.conkey, 1) = 1
            LIMIT 1),
           (SELECT 'a foreign key into the tenant-scoped table `' || t.name || '`'
            FROM pg_catalog.pg_constraint k
            JOIN pg_catalog.unnest($2::text[]) AS t (name)
              ON k.confrelid = pg_catalog.to_regclass(pg_catalog.quote_ident(t.name))
            WHERE k.conrelid = c.oid AND k.contype = 'f'
            ORDER BY t.name LIMIT 1)) AS what
  FROM pg_catalog.unnest($1::text[]) AS g (name)
  JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(pg_catalog.quote_ident(g.name))
) tied
WHERE what IS NOT NULL
ORDER BY name";

#[derive(diesel::QueryableByName)]
struct Tied {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    what: String,
}

/// The tables declared global that the database ties to tenants, each with what it is in the
/// database, for the builder to refuse as it refuses global views of tenant rows.
pub(super) fn tied(conn: &mut PgConnection) -> QueryResult<Vec<(String, String)>> {
    let registry = crate::manifest::registry();
    let globals: Vec<&str> = registry
        .iter()
        .filter(|m| m.kind == TableKind::Global && m.table != TENANTS_TABLE)
        .map(|m| m.table)
        .collect();
    if globals.is_empty() {
        return Ok(Vec::new());
    }
    let tenant_tables: Vec<&str> = registry
        .iter()
        .filter(|m| m.kind == TableKind::TenantScoped)
        .map(|m| m.table)
        .collect();
    let tied: Vec<Tied> = diesel::sql_query(TIED_SQL)
        .bind::<Array<Text>, _>(&globals)
        .bind::<Array<Text>, _>(&tenant_tables)
        .bind::<Text, _>(TENANTS_TABLE)
        .load(conn)?;
    Ok(tied
        .into_iter()
        .map(|t| {
            let what = format!(
                "tenant-scoped (in the database it has {}, so its rows belong to tenants)",
                t.what
            );
            (t.name, what)
        })
        .collect())
}
