//! Where each tenant-scoped table lives. A row-locking query that also names its table in a
//! sub-query needs the base table under its qualified name: the shadowing CTE takes the bare
//! one (a CTE cannot carry the lock, and inside the statement `"posts"` means the CTE).
//!
//! Also which classified tables share their name with a schema of the database: there
//! `billing.posts` may be the relation `posts` of the schema `billing`, not the column `posts`
//! of the table `billing`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use diesel::sql_types::{Array, Text};
use diesel::{PgConnection, QueryResult, RunQueryDsl};

fn schemas() -> &'static RwLock<HashMap<&'static str, Arc<str>>> {
    static SCHEMAS: OnceLock<RwLock<HashMap<&'static str, Arc<str>>>> = OnceLock::new();
    SCHEMAS.get_or_init(Default::default)
}

#[derive(diesel::QueryableByName)]
struct Located {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    schema: String,
}

/// The schemas of the database named like a classified table.
fn schemas_named_like_tables() -> &'static RwLock<HashSet<String>> {
    static NAMED: OnceLock<RwLock<HashSet<String>>> = OnceLock::new();
    NAMED.get_or_init(Default::default)
}

#[derive(diesel::QueryableByName)]
struct Schema {
    #[diesel(sql_type = Text)]
    name: String,
}

/// Resolves the schema of every registered tenant-scoped table the way the application's
/// login resolves the bare name (its `search_path`), once per process and connection string,
/// and finds the schemas named like a classified table.
pub(crate) fn resolve(conn: &mut PgConnection) -> QueryResult<()> {
    let tables = crate::manifest::tenant_tables();
    let names: Vec<&str> = tables.iter().map(|e| e.table).collect();
    let found: Vec<Located> = diesel::sql_query(
        "SELECT t.name, n.nspname::text AS schema
         FROM unnest($1::text[]) AS t (name)
         JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(pg_catalog.quote_ident(t.name))
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace",
    )
    .bind::<Array<Text>, _>(&names)
    .load(conn)?;
    let mut map = schemas().write().unwrap_or_else(PoisonError::into_inner);
    for located in found {
        if let Some(entry) = tables.iter().find(|e| e.table == located.name) {
            map.insert(entry.table, Arc::from(located.schema));
        }
    }
    drop(map);
    let like_tables: Vec<Schema> = diesel::sql_query(
        "SELECT nspname::text AS name FROM pg_catalog.pg_namespace WHERE nspname = ANY ($1)",
    )
    .bind::<Array<Text>, _>(crate::manifest::table_names())
    .load(conn)?;
    schemas_named_like_tables()
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .extend(like_tables.into_iter().map(|s| s.name));
    Ok(())
}

/// Whether the database has a schema named `name` that is also a classified table's name,
/// as [`resolve`] found it.
pub(super) fn is_schema(name: &str) -> bool {
    schemas_named_like_tables()
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .contains(name)
}

/// The schema `table` was found in, if [`resolve`] found it.
pub(super) fn schema_of(table: &str) -> Option<Arc<str>> {
    schemas()
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(table)
        .cloned()
}
