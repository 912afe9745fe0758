//! How queries get their tenant filter.
//!
//! This is the only module that touches Diesel internals (`diesel::internal::*` and the
//! third-party-backend API): Diesel is pinned to one minor version in the workspace manifest,
//! and an upgrade only needs to revisit this file.
//!
//! # How a `SELECT` is scoped
//!
//! Diesel does not let a library rewrite a query's `WHERE` or `ON` clause (both are private),
//! and appending `AND tenant_id = $1` at the top level would be wrong twice over: a raw SQL
//! fragment with a top-level `OR` would bind tighter than our predicate, and on a `LEFT JOIN`
//! the predicate would turn the join into an inner one. So the filter is attached to the
//! *relations* instead. For every tenant-scoped table found by walking the `FROM` clause type
//! ([`TenantSource`]), the statement is prefixed with a shadowing common table expression:
//!
//! ```sql
//! WITH "posts" AS NOT MATERIALIZED (SELECT * FROM "posts" WHERE "posts"."tenant_id" = $1)
//! SELECT ... FROM "posts" LEFT OUTER JOIN ... WHERE <the user's clause, untouched>
//! ```
//!
//! Inside a non-recursive `WITH` the CTE's own name still means the base table; everywhere
//! else in the statement (joins, aliases, sub-queries) `"posts"` now means the tenant's rows.
//! `NOT MATERIALIZED` makes PostgreSQL inline it, so the plan is the one of a hand-written
//! `WHERE tenant_id = $1`: the predicate lands in the index condition of the scan, and for a
//! `LEFT JOIN` it restricts the joined side like an `ON` predicate would.
//!
//! Row locks (`FOR UPDATE`) do not apply to CTEs, so a locking query on a single table is
//! written with a derived table instead (`FROM (SELECT * FROM "posts" WHERE ...) AS "posts"`),
//! which PostgreSQL pulls up and locks. A locking query over a join is refused with an error.

use std::marker::PhantomData;

use diesel::backend::Backend;
use diesel::expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping};
use diesel::insertable::{ColumnInsertValue, DefaultableColumnInsertValue};
use diesel::internal::derives::multiconnection::SelectStatementAccessor;
use diesel::internal::table_macro::{
    BoxedSelectStatement, FromClause, Join, JoinOn, SelectStatement,
};
use diesel::pg::{Pg, PgQueryBuilder};
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId, ValuesClause};
use diesel::query_source::{Alias, AliasSource, QuerySource};
use diesel::result::Error as DieselError;
use diesel::sql_types::{Bool, Uuid as SqlUuid};
use diesel::{Column, QueryResult, RunQueryDsl, Table};
use uuid::Uuid;

/// What the scoping layer needs to know about one tenant-scoped table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScopeEntry {
    /// SQL name of the table.
    pub table: &'static str,
    /// SQL name of its tenant column.
    pub tenant_column: &'static str,
}

/// A table classified with `#[tenant_scoped]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a tenant-scoped table",
    label = "expected a table classified with `#[tenant_scoped]`",
    note = "tenant transactions insert into, update and delete from tenant-scoped tables only; classify the table with `#[tenancy_schema::tenant_scoped]` above its `diesel::table!`, or use `Tenancy::system` for global tables"
)]
pub trait ScopedTable:
    Table + QuerySource<FromClause: QueryFragment<Pg>> + QueryId + Copy + 'static
{
    /// The tenant column (`tenant_id`).
    type TenantColumn: Column<Table = Self, SqlType = SqlUuid>
        + Copy
        + Default
        + QueryFragment<Pg>
        + QueryId;
    /// Name, tenant column and keys, for the registry.
    const MANIFEST: &'static crate::TableManifest;
    /// Table and tenant column names, for the query rewriter.
    const SCOPE: ScopeEntry;
}

/// A table classified with `#[global_table]`: it holds no tenant data.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is tenant-scoped (or unclassified) and cannot be queried through the system connection",
    label = "not a global table",
    note = "query tenant-scoped tables inside a tenant transaction: `tenancy.transaction(tenant_id, |tx| ...)`; cross-tenant work goes through `Tenancy::admin(\"reason\", ...)`; an unclassified table needs `#[tenancy_schema::global_table]` or `#[tenancy_schema::tenant_scoped]` above its `diesel::table!`"
)]
pub trait GlobalTable:
    Table + QuerySource<FromClause: QueryFragment<Pg>> + QueryId + Copy + 'static
{
    /// Name, for the registry.
    const MANIFEST: &'static crate::TableManifest;
}

/// A `FROM` source whose tenant-scoped tables are known: a classified table, a join of
/// them, or an alias of one.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not classified for tenancy",
    label = "every table in a tenant transaction must be classified",
    note = "classify the table: put `#[tenancy_schema::tenant_scoped]` (its rows belong to a tenant) or `#[tenancy_schema::global_table]` (it holds no tenant data) above its `diesel::table!` declaration"
)]
pub trait TenantSource {
    /// Whether the source is one table (not a join or alias); row locks need that.
    const SINGLE_TABLE: bool;
    /// Appends the scope entry of every tenant-scoped table in this source.
    fn scoped_tables(out: &mut Vec<ScopeEntry>);
}

/// A `FROM` source made only of global tables.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be queried through the system connection",
    label = "contains a tenant-scoped or unclassified table",
    note = "the system connection is for global tables (`#[global_table]`); run queries on tenant-scoped tables in a tenant transaction: `tenancy.transaction(tenant_id, |tx| ...)`"
)]
pub trait GlobalSource {}

impl<L, R, K> TenantSource for Join<L, R, K>
where
    L: QuerySource + TenantSource,
    R: QuerySource + TenantSource,
{
    const SINGLE_TABLE: bool = false;
    fn scoped_tables(out: &mut Vec<ScopeEntry>) {
        L::scoped_tables(out);
        R::scoped_tables(out);
    }
}

impl<J: TenantSource, On> TenantSource for JoinOn<J, On> {
    const SINGLE_TABLE: bool = false;
    fn scoped_tables(out: &mut Vec<ScopeEntry>) {
        J::scoped_tables(out);
    }
}

// A right-nested join (`a.inner_join(b.inner_join(c))`) has a select statement as its right
// side; Diesel renders it as a parenthesised join, which the shadowing CTEs reach as well.
impl<F, S, D, W, O, LOf, G, H, LC> TenantSource
    for SelectStatement<FromClause<F>, S, D, W, O, LOf, G, H, LC>
where
    F: QuerySource + TenantSource,
{
    const SINGLE_TABLE: bool = false;
    fn scoped_tables(out: &mut Vec<ScopeEntry>) {
        F::scoped_tables(out);
    }
}

impl<F, S, D, W, O, LOf, G, H, LC> GlobalSource
    for SelectStatement<FromClause<F>, S, D, W, O, LOf, G, H, LC>
where
    F: QuerySource + GlobalSource,
{
}

// An alias renders as `"posts" AS "p2"`; the shadowing CTE named `"posts"` therefore scopes it.
impl<S> TenantSource for Alias<S>
where
    S: AliasSource,
    S::Target: TenantSource,
{
    const SINGLE_TABLE: bool = false;
    fn scoped_tables(out: &mut Vec<ScopeEntry>) {
        S::Target::scoped_tables(out);
    }
}

impl<L, R, K> GlobalSource for Join<L, R, K>
where
    L: QuerySource + GlobalSource,
    R: QuerySource + GlobalSource,
{
}
impl<J: GlobalSource, On> GlobalSource for JoinOn<J, On> {}
impl<S> GlobalSource for Alias<S>
where
    S: AliasSource,
    S::Target: GlobalSource,
{
}

/// A `SELECT` that a tenant transaction can scope: it has a `FROM` clause built from
/// classified tables.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be run in a tenant transaction",
    label = "not a scopable SELECT",
    note = "tenant transactions run SELECT queries that have a FROM clause (`table.filter(..)`, joins, aliases, `.into_boxed()`); for `diesel::select(exists(..))` write `tx.exists(query)`, use `tx.insert` / `tx.update` / `tx.delete` / `tx.upsert` instead of Diesel's statements, and `tx.execute(diesel::sql_query(..))` for raw SQL (checked by row level security only)"
)]
pub trait TenantQuery: Query + QueryId + QueryFragment<Pg> + sealed::Sealed {
    /// Appends the tenant-scoped tables of the `FROM` clause.
    fn source_tables(out: &mut Vec<ScopeEntry>);

    /// `Some(single_table)` when the statement locks rows (`FOR UPDATE`/`FOR SHARE`):
    /// whether its `FROM` clause is one table. `None` without a lock.
    ///
    /// # Errors
    /// When the locking clause cannot be rendered.
    fn locks(&self) -> QueryResult<Option<bool>>;

    /// Writes the scoped statement.
    ///
    /// # Errors
    /// Fails when a fragment fails.
    fn walk_scoped<'b>(&'b self, plan: &'b ScopePlan, out: AstPass<'_, 'b, Pg>) -> QueryResult<()>;
}

/// Same as [`TenantQuery`], for the system connection: only global tables.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be run on the system connection",
    label = "not a SELECT over global tables",
    note = "the system connection only reads and writes global tables; run queries on tenant-scoped tables in a tenant transaction: `tenancy.transaction(tenant_id, |tx| ...)`"
)]
pub trait GlobalQuery: sealed::Sealed {}

/// Only Diesel's statement types are scoped or checked: an implementation outside this crate
/// could write any SQL past the scoping.
pub(crate) mod sealed {
    pub trait Sealed {}
}

impl<F: QuerySource, S, D, W, O, LOf, G, H, LC> sealed::Sealed
    for SelectStatement<FromClause<F>, S, D, W, O, LOf, G, H, LC>
{
}
impl<ST, F: QuerySource, GB> sealed::Sealed
    for BoxedSelectStatement<'_, ST, FromClause<F>, Pg, GB>
{
}
impl<T: QuerySource, U, Op, Ret> sealed::Sealed
    for diesel::query_builder::InsertStatement<T, U, Op, Ret>
{
}
impl<T: QuerySource, U, V, Ret> sealed::Sealed
    for diesel::query_builder::UpdateStatement<T, U, V, Ret>
{
}
impl<T: QuerySource, U, Ret> sealed::Sealed for diesel::query_builder::DeleteStatement<T, U, Ret> {}

fn push_scope_prefix<'b>(
    tables: &[ScopeEntry],
    tenant: &'b Uuid,
    out: &mut AstPass<'_, 'b, Pg>,
) -> QueryResult<()> {
    for (i, entry) in tables.iter().enumerate() {
        out.push_sql(if i == 0 { "WITH " } else { ", " });
        out.push_identifier(entry.table)?;
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
    out.push_sql("SELECT * FROM ");
    out.push_identifier(entry.table)?;
    out.push_sql(" WHERE ");
    out.push_identifier(entry.table)?;
    out.push_sql(".");
    out.push_identifier(entry.tenant_column)?;
    out.push_sql(" = ");
    out.push_bind_param::<SqlUuid, _>(tenant)
}

/// What a scoped statement shadows: every tenant-scoped table it names, found from the
/// `FROM` clause's type and from its rendered SQL (sub-queries, raw fragments), each once.
#[derive(Debug, Clone)]
pub struct ScopePlan {
    tenant: Uuid,
    /// Tables shadowed by a common table expression.
    ctes: Vec<ScopeEntry>,
    /// The table a single-table row lock is taken on (written as a derived table instead).
    locked: Option<ScopeEntry>,
}

impl ScopePlan {
    /// A plan for `tenant` shadowing `tables` (no row lock).
    pub(crate) fn shadowing(tenant: Uuid, tables: Vec<ScopeEntry>) -> Self {
        Self {
            tenant,
            ctes: tables,
            locked: None,
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

/// [`tables_named_in`] for names already read from the SQL text.
fn tables_named(names: Vec<crate::sql_lexer::NameUse>) -> QueryResult<Vec<ScopeEntry>> {
    let scoped = crate::manifest::tenant_tables();
    let mut found = Vec::new();
    for name in names {
        let Some(entry) = scoped.iter().find(|e| e.table == name.name) else {
            continue;
        };
        if let Some(schema) = name.schema {
            // `"posts"."id"` is a column of `posts`; only a name that is not itself a
            // scoped table (or alias) before the dot can be a schema.
            if !scoped.iter().any(|e| e.table == schema) {
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
type PlanShape = (Vec<ScopeEntry>, Option<ScopeEntry>);

/// Plans already made, by statement type. A type with a static query id renders the same SQL
/// every time (Diesel's own prepared-statement cache relies on this), so its plan is made once
/// per process instead of rendering and reading the SQL on every call. Types without one (raw
/// fragments, boxed queries) are planned every time. Refusals are not kept.
fn plan_cache() -> &'static std::sync::RwLock<std::collections::HashMap<std::any::TypeId, PlanShape>>
{
    static CACHE: std::sync::OnceLock<
        std::sync::RwLock<std::collections::HashMap<std::any::TypeId, PlanShape>>,
    > = std::sync::OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// Plans how to scope `query`: which tables to shadow, and the lock form.
pub(crate) fn plan<Q: TenantQuery>(query: &Q, tenant: Uuid) -> QueryResult<ScopePlan> {
    let id = Q::query_id();
    if let Some(id) = id {
        let cache = plan_cache()
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((ctes, locked)) = cache.get(&id) {
            return Ok(ScopePlan {
                tenant,
                ctes: ctes.clone(),
                locked: *locked,
            });
        }
    }
    let plan = plan_uncached(query, tenant)?;
    if let Some(id) = id {
        plan_cache()
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, (plan.ctes.clone(), plan.locked));
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
                return Err(DieselError::QueryBuilderError(Box::new(
                    LockingSelfReferenceError {
                        table: locked.table,
                    },
                )));
            }
            unique.retain(|t| t.table != locked.table);
            Ok(ScopePlan {
                tenant,
                ctes: unique,
                locked: Some(locked),
            })
        }
    }
}

fn renders_empty<T: QueryFragment<Pg>>(fragment: &T) -> QueryResult<bool> {
    Ok(render(fragment)?.is_empty())
}

/// A `FOR UPDATE`/`FOR SHARE` over a join cannot be scoped without losing the lock.
#[derive(Debug, thiserror::Error)]
#[error(
    "a row lock (FOR UPDATE/FOR SHARE) on a join of tenant-scoped tables is not supported in a tenant transaction: lock the rows with a single-table query first"
)]
pub struct LockingJoinError;

/// A row lock on a table that the statement also reads through an alias or a sub-query: the
/// locked rows are written as a derived table, and the other reference could not be scoped.
#[derive(Debug, thiserror::Error)]
#[error(
    "a row lock (FOR UPDATE/FOR SHARE) on `{table}` cannot be combined with an alias or a sub-query of `{table}` in a tenant transaction: lock the rows with a query that names `{table}` once"
)]
pub struct LockingSelfReferenceError {
    /// The locked table.
    pub table: &'static str,
}

impl<F, S, D, W, O, LOf, G, H, LC> TenantQuery
    for SelectStatement<FromClause<F>, S, D, W, O, LOf, G, H, LC>
where
    F: QuerySource + TenantSource,
    F::FromClause: QueryFragment<Pg>,
    Self: Query + QueryId + QueryFragment<Pg>,
    S: QueryFragment<Pg>,
    D: QueryFragment<Pg>,
    W: QueryFragment<Pg>,
    O: QueryFragment<Pg>,
    LOf: QueryFragment<Pg>,
    G: QueryFragment<Pg>,
    H: QueryFragment<Pg>,
    LC: QueryFragment<Pg>,
{
    fn source_tables(out: &mut Vec<ScopeEntry>) {
        F::scoped_tables(out);
    }

    fn locks(&self) -> QueryResult<Option<bool>> {
        Ok(if renders_empty(self.locking_clause())? {
            None
        } else {
            Some(F::SINGLE_TABLE)
        })
    }

    fn walk_scoped<'b>(
        &'b self,
        plan: &'b ScopePlan,
        mut out: AstPass<'_, 'b, Pg>,
    ) -> QueryResult<()> {
        plan.push_prefix(&mut out)?;
        let Some(entry) = &plan.locked else {
            return self.walk_ast(out);
        };
        // Row lock on one table: a derived table, which PostgreSQL pulls up and locks.
        out.push_sql("SELECT ");
        self.distinct_clause().walk_ast(out.reborrow())?;
        self.select_clause().walk_ast(out.reborrow())?;
        out.push_sql(" FROM (");
        push_scoped_body(entry, &plan.tenant, &mut out)?;
        out.push_sql(") AS ");
        out.push_identifier(entry.table)?;
        self.where_clause().walk_ast(out.reborrow())?;
        self.group_by_clause().walk_ast(out.reborrow())?;
        self.having_clause().walk_ast(out.reborrow())?;
        self.order_clause().walk_ast(out.reborrow())?;
        self.limit_offset_clause().walk_ast(out.reborrow())?;
        self.locking_clause().walk_ast(out.reborrow())
    }
}

impl<ST, F, GB> TenantQuery for BoxedSelectStatement<'_, ST, FromClause<F>, Pg, GB>
where
    F: QuerySource + TenantSource,
    Self: Query + QueryId + QueryFragment<Pg>,
{
    fn source_tables(out: &mut Vec<ScopeEntry>) {
        F::scoped_tables(out);
    }

    fn locks(&self) -> QueryResult<Option<bool>> {
        // Boxed statements cannot carry a locking clause.
        Ok(None)
    }

    fn walk_scoped<'b>(
        &'b self,
        plan: &'b ScopePlan,
        mut out: AstPass<'_, 'b, Pg>,
    ) -> QueryResult<()> {
        plan.push_prefix(&mut out)?;
        self.walk_ast(out)
    }
}

impl<F, S, D, W, O, LOf, G, H, LC> GlobalQuery
    for SelectStatement<FromClause<F>, S, D, W, O, LOf, G, H, LC>
where
    F: QuerySource + GlobalSource,
{
}
impl<ST, F, GB> GlobalQuery for BoxedSelectStatement<'_, ST, FromClause<F>, Pg, GB> where
    F: QuerySource + GlobalSource
{
}

/// A query with its tenant attached; what a tenant transaction actually executes.
///
/// It is an ordinary Diesel query fragment, so any Diesel connection type that speaks
/// PostgreSQL (including an async one) can run it.
#[derive(Debug, Clone)]
#[must_use = "a scoped query does nothing until a tenant transaction runs it"]
pub struct Scoped<Q> {
    query: Q,
    plan: ScopePlan,
}

impl<Q: TenantQuery> Scoped<Q> {
    /// Attaches `tenant` to `query`, after finding every tenant-scoped table it names.
    pub(crate) fn new(query: Q, tenant: crate::TenantId) -> QueryResult<Self> {
        let plan = plan(&query, *tenant.as_uuid())?;
        Ok(Self { query, plan })
    }
}

#[doc(hidden)]
pub struct ScopedId<T>(PhantomData<T>);
#[doc(hidden)]
pub struct ExistsId<T>(PhantomData<T>);

impl<Q: TenantQuery> Query for Scoped<Q> {
    type SqlType = Q::SqlType;
}

impl<Q: TenantQuery> QueryId for Scoped<Q> {
    type QueryId = ScopedId<Q::QueryId>;
    const HAS_STATIC_QUERY_ID: bool = Q::HAS_STATIC_QUERY_ID;
}

impl<Q: TenantQuery> QueryFragment<Pg> for Scoped<Q> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.query.walk_scoped(&self.plan, out)
    }
}

impl<Q, Conn> RunQueryDsl<Conn> for Scoped<Q> {}

/// `SELECT EXISTS (<scoped query>)`.
#[derive(Debug, Clone)]
#[must_use = "a scoped query does nothing until a tenant transaction runs it"]
pub struct ScopedExists<Q>(Scoped<Q>);

impl<Q: TenantQuery> ScopedExists<Q> {
    pub(crate) fn new(query: Q, tenant: crate::TenantId) -> QueryResult<Self> {
        Ok(Self(Scoped::new(query, tenant)?))
    }
}

impl<Q: TenantQuery> Query for ScopedExists<Q> {
    type SqlType = Bool;
}

impl<Q: TenantQuery> QueryId for ScopedExists<Q> {
    type QueryId = ExistsId<Q::QueryId>;
    const HAS_STATIC_QUERY_ID: bool = Q::HAS_STATIC_QUERY_ID;
}

impl<Q: TenantQuery> QueryFragment<Pg> for ScopedExists<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("SELECT EXISTS (");
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(")");
        Ok(())
    }
}

impl<Q, Conn> RunQueryDsl<Conn> for ScopedExists<Q> {}

/// `<tenant column> = <tenant>`: the predicate tenant updates and deletes start from, and
/// the explicit way to scope a sub-query on a table that is not in the outer `FROM` clause
/// (see [`crate::TenantTx::tenant_filter`]).
#[derive(Debug, Clone, Copy, QueryId)]
pub struct TenantEq<C> {
    column: C,
    tenant: Uuid,
}

impl<C> TenantEq<C> {
    pub(crate) fn new(column: C, tenant: crate::TenantId) -> Self {
        Self {
            column,
            tenant: *tenant.as_uuid(),
        }
    }
}

impl<C> Expression for TenantEq<C> {
    type SqlType = Bool;
}

impl<C: AppearsOnTable<QS>, QS: ?Sized> AppearsOnTable<QS> for TenantEq<C> {}
impl<C: SelectableExpression<QS>, QS: ?Sized> SelectableExpression<QS> for TenantEq<C> {}
impl<C: ValidGrouping<G>, G> ValidGrouping<G> for TenantEq<C> {
    type IsAggregate = C::IsAggregate;
}

impl<C: QueryFragment<Pg>> QueryFragment<Pg> for TenantEq<C> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(" = ");
        out.push_bind_param::<SqlUuid, _>(&self.tenant)
    }
}

/// Parenthesises a user predicate so that nothing in it (a raw `OR`, say) can bind looser
/// than the tenant predicate it is combined with.
#[derive(Debug, Clone, Copy, QueryId)]
pub struct Paren<E>(pub(crate) E);

impl<E: Expression> Expression for Paren<E> {
    type SqlType = E::SqlType;
}
impl<E: AppearsOnTable<QS>, QS: ?Sized> AppearsOnTable<QS> for Paren<E> {}
impl<E: SelectableExpression<QS>, QS: ?Sized> SelectableExpression<QS> for Paren<E> {}
impl<E: ValidGrouping<G>, G> ValidGrouping<G> for Paren<E> {
    type IsAggregate = E::IsAggregate;
}
impl<E: QueryFragment<DB>, DB: Backend> QueryFragment<DB> for Paren<E> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("(");
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(")");
        Ok(())
    }
}

/// `a AND b`, with both sides written as given (callers parenthesise).
#[derive(Debug, Clone, Copy, QueryId)]
pub struct AndThen<A, B>(pub(crate) A, pub(crate) B);

impl<A, B> Expression for AndThen<A, B> {
    type SqlType = Bool;
}
impl<A: AppearsOnTable<QS>, B: AppearsOnTable<QS>, QS: ?Sized> AppearsOnTable<QS>
    for AndThen<A, B>
{
}
impl<A: SelectableExpression<QS>, B: SelectableExpression<QS>, QS: ?Sized> SelectableExpression<QS>
    for AndThen<A, B>
{
}
impl<A: ValidGrouping<()>, B: ValidGrouping<()>> ValidGrouping<()> for AndThen<A, B> {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}
impl<A: QueryFragment<DB>, B: QueryFragment<DB>, DB: Backend> QueryFragment<DB> for AndThen<A, B> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(" AND ");
        self.1.walk_ast(out.reborrow())
    }
}

/// A column that is not the tenant column of its table; generated by `#[tenant_scoped]`
/// for every other column.
#[diagnostic::on_unimplemented(
    message = "`{Self}` must not be given in insert values: the tenant column comes from the tenant transaction",
    label = "remove this column from the insert values or the `Insertable` struct",
    note = "`tx.insert(..)` and `tx.upsert(..)` set the tenant column themselves; a model used for inserts never carries `tenant_id`"
)]
pub trait NotTenantColumn: Column {}

/// Insert values that do not set the tenant column.
#[diagnostic::on_unimplemented(
    message = "the insert values `{Self}` may set the tenant column",
    label = "insert values must not carry the tenant column",
    note = "insert with an `Insertable` struct or a tuple of `column.eq(value)` without `tenant_id`: the tenant transaction supplies it"
)]
pub trait TenantFreeValues {}

impl<C: NotTenantColumn, E> TenantFreeValues for ColumnInsertValue<C, E> {}
impl<V: TenantFreeValues> TenantFreeValues for DefaultableColumnInsertValue<V> {}
impl<V: TenantFreeValues, Tab> TenantFreeValues for ValuesClause<V, Tab> {}

macro_rules! tenant_free_tuples {
    ($($name:ident)+) => {
        impl<$($name: TenantFreeValues),+> TenantFreeValues for ($($name,)+) {}
    };
}
tenant_free_tuples!(A);
tenant_free_tuples!(A B);
tenant_free_tuples!(A B C);
tenant_free_tuples!(A B C D);
tenant_free_tuples!(A B C D E);
tenant_free_tuples!(A B C D E F);
tenant_free_tuples!(A B C D E F G);
tenant_free_tuples!(A B C D E F G H);
tenant_free_tuples!(A B C D E F G H I);
tenant_free_tuples!(A B C D E F G H I J);
tenant_free_tuples!(A B C D E F G H I J K);
tenant_free_tuples!(A B C D E F G H I J K L);
tenant_free_tuples!(A B C D E F G H I J K L M);
tenant_free_tuples!(A B C D E F G H I J K L M N);
tenant_free_tuples!(A B C D E F G H I J K L M N O);
tenant_free_tuples!(A B C D E F G H I J K L M N O P);
tenant_free_tuples!(A B C D E F G H I J K L M N O P Q);
tenant_free_tuples!(A B C D E F G H I J K L M N O P Q R);
tenant_free_tuples!(A B C D E F G H I J K L M N O P Q R S);
tenant_free_tuples!(A B C D E F G H I J K L M N O P Q R S T);
tenant_free_tuples!(A B C D E F G H I J K L M N O P Q R S T U);
tenant_free_tuples!(A B C D E F G H I J K L M N O P Q R S T U V);
tenant_free_tuples!(A B C D E F G H I J K L M N O P Q R S T U V W);
tenant_free_tuples!(A B C D E F G H I J K L M N O P Q R S T U V W X);

/// Checks the `SET` list of a rendered tenant write against `T`: every assignment must be
/// `"column" = value` for a column of `T` that is not its tenant column. The assignments are
/// read with the SQL lexer, so a raw value fragment that adds one (`1, tenant_id = '…'`) is
/// seen as the assignment it is.
pub(crate) fn check_changeset<T: ScopedTable>(statement_sql: &str) -> Result<(), crate::Error> {
    let manifest = T::MANIFEST;
    for (column, item) in crate::sql_lexer::set_list_assignments(statement_sql)? {
        match column {
            Some(c) if c == T::SCOPE.tenant_column => {
                return Err(crate::Error::TenantColumnInChangeset {
                    table: T::SCOPE.table,
                    column: T::SCOPE.tenant_column,
                });
            }
            Some(c) if manifest.columns.contains(&c.as_str()) => {}
            _ => {
                return Err(crate::SqlTextError::MalformedChangeset {
                    table: T::SCOPE.table,
                    item,
                }
                .into());
            }
        }
    }
    Ok(())
}

/// A write statement (`UPDATE`, `DELETE`) prefixed with the shadowing CTEs of every
/// tenant-scoped table it names, so that sub-queries in its `SET` list and filters read only
/// the tenant's rows. The target of an `UPDATE`/`DELETE` is always the table itself (a CTE
/// never shadows it), filtered by the explicit tenant predicate.
#[derive(Debug)]
pub struct WithScope<S> {
    plan: ScopePlan,
    statement: S,
    /// The statement as rendered when the plan was made, for the checks made on it.
    sql: String,
}

impl<S: QueryFragment<Pg>> WithScope<S> {
    pub(crate) fn new(statement: S, tenant: Uuid) -> Result<Self, crate::Error> {
        let sql = render(&statement)?;
        let tables = tables_named_in(&sql)?;
        Ok(Self {
            plan: ScopePlan::shadowing(tenant, tables),
            statement,
            sql,
        })
    }

    /// The statement's SQL text (without the prefix).
    pub(crate) fn sql(&self) -> &str {
        &self.sql
    }
}

impl<S: QueryFragment<Pg>> QueryFragment<Pg> for WithScope<S> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.plan.push_prefix(&mut out)?;
        self.statement.walk_ast(out)
    }
}

impl<S> QueryId for WithScope<S> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<S, Conn> RunQueryDsl<Conn> for WithScope<S> {}

/// `UPDATE ... RETURNING` as a query: Diesel adds `RETURNING *` when the statement is turned
/// into a query; the prefix stays in front.
impl<S: diesel::query_builder::AsQuery> diesel::query_builder::AsQuery for WithScope<S> {
    type SqlType = S::SqlType;
    type Query = WithScopeQuery<S::Query>;

    fn as_query(self) -> Self::Query {
        WithScopeQuery(WithScope {
            plan: self.plan,
            statement: self.statement.as_query(),
            sql: self.sql,
        })
    }
}

/// A [`WithScope`] statement that returns rows.
#[derive(Debug)]
pub struct WithScopeQuery<Q>(WithScope<Q>);

impl<Q: Query> Query for WithScopeQuery<Q> {
    type SqlType = Q::SqlType;
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for WithScopeQuery<Q> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(out)
    }
}

impl<Q> QueryId for WithScopeQuery<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q, Conn> RunQueryDsl<Conn> for WithScopeQuery<Q> {}

/// A tenant-scoped table whose primary key, apart from the tenant column, is one column;
/// [`crate::TenantTx::find`] looks rows up by it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be looked up with `tx.find`",
    label = "needs a tenant-scoped table whose key (besides `tenant_id`) is one column",
    note = "for a composite key use `tx.first(table.filter(a.eq(x)).filter(b.eq(y)))`; for a global table use `tenancy.system(..)`"
)]
pub trait TenantFind: ScopedTable {
    /// The key column next to the tenant column.
    type KeyColumn: Column<Table = Self> + Default + Copy + diesel::ExpressionMethods;
}

/// `INSERT INTO t ("tenant_id", <columns>) VALUES ($tenant, <values>), ...`, optionally with
/// `ON CONFLICT ("tenant_id", <column>) DO UPDATE SET <changes>` and `RETURNING *`.
///
/// Written here rather than through Diesel's `InsertStatement` so that the tenant column is
/// always present, always first, and always this transaction's tenant.
pub struct TenantInsert<T: Table, V, Ch = ()> {
    pub(crate) rows: Vec<V>,
    pub(crate) tenant: Uuid,
    pub(crate) conflict: Option<(&'static str, Ch)>,
    pub(crate) returning: Option<T::AllColumns>,
    /// Tables named in the values or the changes (sub-selects), shadowed by CTEs.
    pub(crate) scope: Option<ScopePlan>,
}

impl<T, V, Ch> QueryFragment<Pg> for TenantInsert<T, V, Ch>
where
    T: ScopedTable,
    T::AllColumns: QueryFragment<Pg>,
    V: diesel::insertable::InsertValues<Pg, T>,
    Ch: QueryFragment<Pg>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let scope = T::SCOPE;
        if let Some(plan) = &self.scope {
            plan.push_prefix(&mut out)?;
        }
        out.push_sql("INSERT INTO ");
        out.push_identifier(scope.table)?;
        out.push_sql(" (");
        out.push_identifier(scope.tenant_column)?;
        let only_tenant = match self.rows.first() {
            Some(first) => first.is_noop(&Pg)?,
            None => true,
        };
        if let (false, Some(first)) = (only_tenant, self.rows.first()) {
            out.push_sql(", ");
            first.column_names(out.reborrow())?;
        }
        out.push_sql(") VALUES ");
        for (i, row) in self.rows.iter().enumerate() {
            out.push_sql(if i == 0 { "(" } else { ", (" });
            out.push_bind_param::<SqlUuid, _>(&self.tenant)?;
            if !only_tenant {
                out.push_sql(", ");
                row.walk_ast(out.reborrow())?;
            }
            out.push_sql(")");
        }
        if let Some((column, changes)) = &self.conflict {
            out.push_sql(" ON CONFLICT (");
            out.push_identifier(scope.tenant_column)?;
            out.push_sql(", ");
            out.push_identifier(column)?;
            out.push_sql(") DO UPDATE SET ");
            changes.walk_ast(out.reborrow())?;
        }
        if let Some(columns) = &self.returning {
            out.push_sql(" RETURNING ");
            columns.walk_ast(out.reborrow())?;
        }
        Ok(())
    }
}

impl<T: Table, V, Ch> QueryId for TenantInsert<T, V, Ch> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<T: Table, V, Ch> Query for TenantInsert<T, V, Ch> {
    type SqlType = <T::AllColumns as Expression>::SqlType;
}

impl<T: Table, V, Ch, Conn> RunQueryDsl<Conn> for TenantInsert<T, V, Ch> {}
