//! The tenant-scoped tables a statement's rendered SQL names: the sub-queries and raw
//! fragments its types do not show.

use diesel::QueryResult;
use diesel::pg::{Pg, PgQueryBuilder};
use diesel::query_builder::QueryFragment;
use diesel::result::Error as DieselError;

use super::entry::ScopeEntry;

pub(super) fn add_unique(tables: &mut Vec<ScopeEntry>, entry: ScopeEntry) {
    if !tables.iter().any(|t| t.table == entry.table) {
        tables.push(entry);
    }
}

/// Renders `fragment` as SQL text (binds as `$n`), for the checks made before sending it.
pub(crate) fn render<T: QueryFragment<Pg> + ?Sized>(fragment: &T) -> QueryResult<String> {
    let mut builder = PgQueryBuilder::default();
    fragment.to_sql(&mut builder, &Pg)?;
    Ok(diesel::query_builder::QueryBuilder::<Pg>::finish(builder))
}

pub(super) fn unsafe_sql(e: crate::sql_lexer::SqlTextError) -> DieselError {
    DieselError::QueryBuilderError(Box::new(e))
}

/// The tenant-scoped tables `sql` names without a schema, in order of appearance, and a
/// refusal for any it names with one (a shadowing CTE does not reach `public.posts`).
pub(crate) fn tables_named_in(sql: &str) -> QueryResult<Vec<ScopeEntry>> {
    tables_named(crate::sql_lexer::names(sql).map_err(unsafe_sql)?)
}

/// The tenant-scoped tables a write into `target` reads, for its shadowing CTEs: those
/// [`tables_named_in`] finds, less `target` itself unless the statement names it again (a
/// sub-query on it). The table an `INSERT`, `UPDATE` or `DELETE` writes is its own relation,
/// which no CTE shadows, so a CTE of that name would only cost the client its rendering and
/// the server its parsing and a bound parameter.
pub(crate) fn tables_read_by_write(sql: &str, target: &str) -> QueryResult<Vec<ScopeEntry>> {
    let names = crate::sql_lexer::tenant_statement_names(sql).map_err(unsafe_sql)?;
    let named_again = relation_uses(&names, target) > 1;
    let mut tables = tables_named(names)?;
    if !named_again {
        tables.retain(|t| t.table != target);
    }
    Ok(tables)
}

/// [`tables_named_in`] for names already read from the SQL text.
pub(super) fn tables_named(names: Vec<crate::sql_lexer::NameUse>) -> QueryResult<Vec<ScopeEntry>> {
    let scoped = crate::manifest::tenant_tables();
    let mut found = Vec::new();
    for name in names {
        let Some(entry) = scoped.iter().find(|e| e.table == name.name) else {
            // A relation or function that reaches a tenant table's rows under another name.
            if let Some(refusal) = super::reaching::refusal(&name) {
                return Err(unsafe_sql(refusal));
            }
            continue;
        };
        if let Some(schema) = name.schema {
            // `"posts"."id"` is a column of `posts`, and `"products"."notes"` a column of a
            // global table named like a tenant table: only a name that is not itself a
            // classified table (or a scoped table's alias) before the dot can be a schema.
            // `public` is always taken for the schema that holds the tenant tables, and so is
            // a classified table's name that a schema of the database has too (where the
            // server may read `billing.posts` as a relation of the schema `billing`).
            let table_qualifier = !super::schemas::is_schema(&schema)
                && (scoped.iter().any(|e| e.table == schema)
                    || (schema != "public"
                        && crate::manifest::table_names().contains(&schema.as_str())));
            if !table_qualifier {
                return Err(unsafe_sql(
                    crate::sql_lexer::SqlTextError::QualifiedTenantTable {
                        schema,
                        table: name.name,
                    },
                ));
            }
            continue;
        }
        add_unique(&mut found, *entry);
    }
    Ok(found)
}

/// How often `table` is used as a relation (not as a column qualifier) among `names`.
pub(super) fn relation_uses(names: &[crate::sql_lexer::NameUse], table: &str) -> usize {
    names
        .iter()
        .filter(|n| n.name == table && n.schema.is_none() && !n.qualifies)
        .count()
}
