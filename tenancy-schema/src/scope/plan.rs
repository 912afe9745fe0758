//! Deciding what a statement shadows. This is the one place that reads rendered SQL (for the
//! sub-queries and raw fragments the types do not show) and caches the outcome per statement
//! type, so it is kept apart from the code that writes the statements.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use diesel::QueryResult;
use diesel::pg::{Pg, PgQueryBuilder};
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::result::Error as DieselError;
use diesel::sql_types::Uuid as SqlUuid;
use uuid::Uuid;

use super::error::{LockingJoinError, LockingSelfReferenceError};
use super::traits::{ScopeEntry, TenantQuery};

/// `out.push_identifier(name)` without its copy: Diesel's Postgres builder doubles quotes
/// through `str::replace`, an allocation per identifier, and the shadowing prefix pushes four
/// of them in every statement diesel-async renders. Names of tables and columns rarely hold a
/// `"`; those that do still go through Diesel.
pub(super) fn push_quoted(out: &mut AstPass<'_, '_, Pg>, name: &str) -> QueryResult<()> {
    if name.contains('"') {
        return out.push_identifier(name);
    }
    out.push_sql("\"");
    out.push_sql(name);
    out.push_sql("\"");
    Ok(())
}

fn push_scope_prefix<'b>(
    tables: &[ScopeEntry],
    tenant: &'b Uuid,
    out: &mut AstPass<'_, 'b, Pg>,
) -> QueryResult<()> {
    for (i, entry) in tables.iter().enumerate() {
        out.push_sql(if i == 0 { "WITH " } else { ", " });
        push_quoted(out, entry.table)?;
        out.push_sql(" AS NOT MATERIALIZED (");
        push_scoped_body(entry, tenant, out)?;
        out.push_sql(")");
    }
    if !tables.is_empty() {
        out.push_sql(" ");
    }
    Ok(())
}

fn push_scoped_body<'b>(
    entry: &ScopeEntry,
    tenant: &'b Uuid,
    out: &mut AstPass<'_, 'b, Pg>,
) -> QueryResult<()> {
    push_scoped_body_in(None, entry, tenant, out)
}

/// `SELECT * FROM [<schema>.]<table> WHERE <table>.<tenant column> = $n`.
pub(super) fn push_scoped_body_in<'b>(
    schema: Option<&str>,
    entry: &ScopeEntry,
    tenant: &'b Uuid,
    out: &mut AstPass<'_, 'b, Pg>,
) -> QueryResult<()> {
    out.push_sql("SELECT * FROM ");
    if let Some(schema) = schema {
        push_quoted(out, schema)?;
        out.push_sql(".");
    }
    push_quoted(out, entry.table)?;
    out.push_sql(" WHERE ");
    push_quoted(out, entry.table)?;
    out.push_sql(".");
    push_quoted(out, entry.tenant_column)?;
    out.push_sql(" = ");
    out.push_bind_param::<SqlUuid, _>(tenant)
}

/// What a scoped statement shadows: every tenant-scoped table it names, found from the
/// `FROM` clause's type and from its rendered SQL (sub-queries, raw fragments), each once.
#[derive(Debug, Clone)]
pub struct ScopePlan {
    pub(super) tenant: Uuid,
    /// Tables shadowed by a common table expression.
    ctes: Vec<ScopeEntry>,
    /// The table a single-table row lock is taken on (written as a derived table instead).
    pub(super) locked: Option<ScopeEntry>,
    /// The locked table's schema, when the statement also names the table elsewhere (a
    /// sub-query): then a CTE shadows those uses and the derived table names it qualified.
    pub(super) locked_schema: Option<Arc<str>>,
}

impl ScopePlan {
    /// A plan for `tenant` shadowing `tables` (no row lock).
    pub(crate) fn shadowing(tenant: Uuid, tables: Vec<ScopeEntry>) -> Self {
        Self {
            tenant,
            ctes: tables,
            locked: None,
            locked_schema: None,
        }
    }

    pub(crate) fn push_prefix<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        push_scope_prefix(&self.ctes, &self.tenant, out)
    }
}

fn add_unique(tables: &mut Vec<ScopeEntry>, entry: ScopeEntry) {
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

fn unsafe_sql(e: crate::sql_lexer::SqlTextError) -> DieselError {
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
    let names = crate::sql_lexer::names(sql).map_err(unsafe_sql)?;
    let named_again = relation_uses(&names, target) > 1;
    let mut tables = tables_named(names)?;
    if !named_again {
        tables.retain(|t| t.table != target);
    }
    Ok(tables)
}

/// [`tables_named_in`] for names already read from the SQL text.
fn tables_named(names: Vec<crate::sql_lexer::NameUse>) -> QueryResult<Vec<ScopeEntry>> {
    let scoped = crate::manifest::tenant_tables();
    let mut found = Vec::new();
    for name in names {
        let Some(entry) = scoped.iter().find(|e| e.table == name.name) else {
            continue;
        };
        if let Some(schema) = name.schema {
            // `"posts"."id"` is a column of `posts`, and `"products"."notes"` a column of a
            // global table named like a tenant table: only a name that is not itself a
            // classified table (or a scoped table's alias) before the dot can be a schema.
            // `public` is always taken for the schema that holds the tenant tables.
            let table_qualifier = scoped.iter().any(|e| e.table == schema)
                || (schema != "public"
                    && crate::manifest::table_names().contains(&schema.as_str()));
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
fn relation_uses(names: &[crate::sql_lexer::NameUse], table: &str) -> usize {
    names
        .iter()
        .filter(|n| n.name == table && n.schema.is_none() && !n.qualifies)
        .count()
}

/// What [`plan`] decided for one statement type, without the tenant.
type PlanShape = (Vec<ScopeEntry>, Option<ScopeEntry>, Option<Arc<str>>);

/// Plans already made, by statement type. A type with a static query id renders the same SQL
/// every time (Diesel's own prepared-statement cache relies on this), so its plan is made once
/// per process instead of rendering and reading the SQL on every call. Types without one (raw
/// fragments, boxed queries) are planned every time. Refusals are not kept.
fn plan_cache() -> &'static RwLock<HashMap<TypeId, PlanShape>> {
    static CACHE: OnceLock<RwLock<HashMap<TypeId, PlanShape>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// Plans how to scope `query`: which tables to shadow, and the lock form.
pub(crate) fn plan<Q: TenantQuery>(query: &Q, tenant: Uuid) -> QueryResult<ScopePlan> {
    let id = Q::query_id();
    if let Some(id) = id {
        let cache = plan_cache().read().unwrap_or_else(PoisonError::into_inner);
        if let Some((ctes, locked, locked_schema)) = cache.get(&id) {
            return Ok(ScopePlan {
                tenant,
                ctes: ctes.clone(),
                locked: *locked,
                locked_schema: locked_schema.clone(),
            });
        }
    }
    let plan = plan_uncached(query, tenant)?;
    if let Some(id) = id {
        plan_cache()
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                id,
                (plan.ctes.clone(), plan.locked, plan.locked_schema.clone()),
            );
    }
    Ok(plan)
}

fn plan_uncached<Q: TenantQuery>(query: &Q, tenant: Uuid) -> QueryResult<ScopePlan> {
    let mut own = Vec::new();
    Q::source_tables(&mut own);
    let names = crate::sql_lexer::names(&render(query)?).map_err(unsafe_sql)?;
    let self_references = own
        .first()
        .map(|locked| relation_uses(&names, locked.table));
    let mut unique = Vec::with_capacity(own.len());
    for t in own.iter().copied().chain(tables_named(names)?) {
        add_unique(&mut unique, t);
    }
    match query.locks()? {
        None => Ok(ScopePlan::shadowing(tenant, unique)),
        Some(_) if unique.is_empty() => Ok(ScopePlan::shadowing(tenant, unique)),
        Some(false) => Err(DieselError::QueryBuilderError(Box::new(LockingJoinError))),
        Some(true) => {
            let Some(locked) = own.first().copied() else {
                // A locked global table: nothing of a tenant to shadow in its FROM.
                return Ok(ScopePlan::shadowing(tenant, unique));
            };
            if self_references > Some(1) {
                // Its other uses keep their CTE; the lock needs the table by its full name.
                let Some(schema) = super::schemas::schema_of(locked.table) else {
                    return Err(DieselError::QueryBuilderError(Box::new(
                        LockingSelfReferenceError {
                            table: locked.table,
                        },
                    )));
                };
                return Ok(ScopePlan {
                    tenant,
                    ctes: unique,
                    locked: Some(locked),
                    locked_schema: Some(schema),
                });
            }
            unique.retain(|t| t.table != locked.table);
            Ok(ScopePlan {
                tenant,
                ctes: unique,
                locked: Some(locked),
                locked_schema: None,
            })
        }
    }
}
