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
    /// The tables of a `SELECT` that names them nowhere but in its `FROM` clause, filtered in
    /// the statement's own `WHERE` clause instead of through CTEs ([`OwnFilter`]).
    pub(super) filtered: Option<OwnFilter>,
    /// The table a single-table row lock is taken on (written as a derived table instead).
    pub(super) locked: Option<ScopeEntry>,
    /// The locked table's schema, when the statement also names the table elsewhere (a
    /// sub-query): then a CTE shadows those uses and the derived table names it qualified.
    pub(super) locked_schema: Option<Arc<str>>,
}

/// A `SELECT` on one table, or on an inner join of tables, that carries their tenant
/// predicates in its own `WHERE` clause:
/// `... FROM "posts" WHERE (<filter>) AND "posts"."tenant_id" = $n ...`. The plan is the same
/// as through shadowing CTEs, but PostgreSQL plans it with less work: a CTE is copied,
/// inlined and pulled up again in every custom plan, which is every plan of a statement with
/// `LIMIT $n`, as Diesel writes every `.limit(..)`. Taken only where the SQL lexer confirms
/// that the predicates bind the whole filter ([`crate::sql_lexer::filter_holds`]).
#[derive(Debug, Clone)]
pub(super) struct OwnFilter {
    /// The tables filtered, in the order their predicates are written.
    pub(super) entries: Arc<[ScopeEntry]>,
    /// Whether the statement has a `WHERE` clause of its own (then `AND` joins the predicates).
    pub(super) after_where: bool,
}

impl ScopePlan {
    /// A plan for `tenant` shadowing `tables` (no row lock).
    pub(crate) fn shadowing(tenant: Uuid, tables: Vec<ScopeEntry>) -> Self {
        Self {
            tenant,
            ctes: tables,
            filtered: None,
            locked: None,
            locked_schema: None,
        }
    }

    /// Writes the tenant predicates of the filtered tables after the statement's `WHERE`
    /// clause (`after_where`) or as its `WHERE` clause.
    pub(super) fn push_own_filter<'b>(
        &'b self,
        filter: &'b OwnFilter,
        out: &mut AstPass<'_, 'b, Pg>,
    ) -> QueryResult<()> {
        for (i, entry) in filter.entries.iter().enumerate() {
            out.push_sql(if i > 0 || filter.after_where {
                " AND "
            } else {
                " WHERE "
            });
            push_quoted(out, entry.table)?;
            out.push_sql(".");
            push_quoted(out, entry.tenant_column)?;
            out.push_sql(" = ");
            out.push_bind_param::<SqlUuid, _>(&self.tenant)?;
        }
        Ok(())
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
type PlanShape = (
    Vec<ScopeEntry>,
    Option<OwnFilter>,
    Option<ScopeEntry>,
    Option<Arc<str>>,
);

/// A query with a plan, rendered as it would be sent, for [`plan_uncached`] to check.
struct Planned<'a, Q>(&'a Q, &'a ScopePlan);

impl<Q: TenantQuery> QueryFragment<Pg> for Planned<'_, Q> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_scoped(self.1, out)
    }
}

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
        if let Some((ctes, filtered, locked, locked_schema)) = cache.get(&id) {
            return Ok(ScopePlan {
                tenant,
                ctes: ctes.clone(),
                filtered: filtered.clone(),
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
                (
                    plan.ctes.clone(),
                    plan.filtered.clone(),
                    plan.locked,
                    plan.locked_schema.clone(),
                ),
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
    let own_named_once = !own.is_empty() && own.iter().all(|e| relation_uses(&names, e.table) == 1);
    let mut unique = Vec::with_capacity(own.len());
    for t in own.iter().copied().chain(tables_named(names)?) {
        add_unique(&mut unique, t);
    }
    let locks = query.locks()?;
    if own_named_once
        && Q::HAS_STATIC_QUERY_ID
        && locks != Some(false)
        && let Some(after_where) = query.own_where()?
    {
        // Each table of the `FROM` clause is named there only: their predicates can go into
        // the statement's own `WHERE` clause, if that keeps the filter whole.
        let mut ctes = unique.clone();
        ctes.retain(|t| !own.iter().any(|o| o.table == t.table));
        let candidate = ScopePlan {
            tenant,
            ctes,
            filtered: Some(OwnFilter {
                entries: own.iter().copied().collect(),
                after_where,
            }),
            locked: None,
            locked_schema: None,
        };
        let sql = render(&Planned(query, &candidate))?;
        let predicates: Vec<(&str, &str)> =
            own.iter().map(|e| (e.table, e.tenant_column)).collect();
        if crate::sql_lexer::filter_holds(&sql, &predicates) {
            return Ok(candidate);
        }
    }
    match locks {
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
                    filtered: None,
                    locked: Some(locked),
                    locked_schema: Some(schema),
                });
            }
            unique.retain(|t| t.table != locked.table);
            Ok(ScopePlan {
                tenant,
                ctes: unique,
                filtered: None,
                locked: Some(locked),
                locked_schema: None,
            })
        }
    }
}
