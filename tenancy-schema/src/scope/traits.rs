//! The traits `#[tenant_scoped]` and `#[global_table]` implement, and the statement types
//! scoping accepts: the compile-time half of isolation. A query over an unclassified table, or
//! a statement type this crate cannot scope, does not type-check; the sealed supertrait keeps
//! code outside the crate from adding a statement that writes its own SQL past the scoping.

use diesel::internal::table_macro::{
    BoxedSelectStatement, FromClause, Inner, Join, JoinOn, LeftOuter, SelectStatement,
};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::query_source::{Alias, AliasSource, QuerySource};
use diesel::sql_types::Uuid as SqlUuid;
use diesel::{Column, QueryResult, Table};

use super::entry::ScopeEntry;
use super::plan::ScopePlan;

/// A table classified with `#[tenant_scoped]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a tenant-scoped table",
    label = "expected a table classified with `#[tenant_scoped]`",
    note = "tenant transactions insert into, update and delete from tenant-scoped tables only; classify the table with `#[tenancy_schema::tenant_scoped]` above its `diesel::table!`, or use `Tenancy::system` for global tables",
    note = "if `diesel migration run` just rewrote your schema.rs, run `tenancy print-schema` to write the classification again"
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
    note = "classify the table: put `#[tenancy_schema::tenant_scoped]` (its rows belong to a tenant) or `#[tenancy_schema::global_table]` (it holds no tenant data) above its `diesel::table!` declaration",
    note = "if `diesel migration run` just rewrote your schema.rs, run `tenancy print-schema` to write the classification again"
)]
pub trait TenantSource {
    /// Whether the source is one table (not a join or alias); row locks need that.
    const SINGLE_TABLE: bool;
    /// Whether a tenant predicate on each of its tables, ANDed to the statement's `WHERE`
    /// clause, keeps exactly the rows a filter on each table itself would: true for a table
    /// and for inner joins of such sources; false for outer joins (the predicate would turn
    /// them into inner ones) and aliases (named otherwise in the statement).
    const FILTERS_IN_WHERE: bool = Self::SINGLE_TABLE;
    /// Appends the scope entry of every tenant-scoped table in this source.
    fn scoped_tables(out: &mut Vec<ScopeEntry>);
}

/// Diesel's join kinds, told apart: an inner join keeps only rows that match on both sides,
/// so a `WHERE` predicate on either side means what it would inside the join.
pub trait JoinKind {
    /// Whether this is an inner join.
    const INNER: bool;
}

impl JoinKind for Inner {
    const INNER: bool = true;
}

impl JoinKind for LeftOuter {
    const INNER: bool = false;
}

/// A `FROM` source made only of global tables.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be queried through the system connection",
    label = "contains a tenant-scoped or unclassified table",
    note = "the system connection is for global tables (`#[global_table]`); run queries on tenant-scoped tables in a tenant transaction: `tenancy.transaction(tenant_id, |tx| ...)`"
)]
pub trait GlobalSource {}

impl<L, R, K: JoinKind> TenantSource for Join<L, R, K>
where
    L: QuerySource + TenantSource,
    R: QuerySource + TenantSource,
{
    const SINGLE_TABLE: bool = false;
    const FILTERS_IN_WHERE: bool = K::INNER && L::FILTERS_IN_WHERE && R::FILTERS_IN_WHERE;
    fn scoped_tables(out: &mut Vec<ScopeEntry>) {
        L::scoped_tables(out);
        R::scoped_tables(out);
    }
}

impl<J: TenantSource, On> TenantSource for JoinOn<J, On> {
    const SINGLE_TABLE: bool = false;
    const FILTERS_IN_WHERE: bool = J::FILTERS_IN_WHERE;
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

    /// `Some(has_where)` when the `FROM` clause is one table, so that its tenant predicate
    /// can join the statement's own `WHERE` clause (`has_where`: whether there is one);
    /// `None` for joins, aliases and boxed statements.
    ///
    /// # Errors
    /// When the `WHERE` clause cannot be rendered.
    fn own_where(&self) -> QueryResult<Option<bool>>;

    /// The `FROM` clause as written (` FROM "posts"`), which a row lock replaces.
    ///
    /// # Errors
    /// When the clause cannot be rendered.
    fn written_from(&self) -> QueryResult<String>;

    /// Writes the scoped statement.
    ///
    /// # Errors
    /// Fails when a fragment fails.
    fn walk_scoped<'b>(&'b self, plan: &'b ScopePlan, out: AstPass<'_, 'b, Pg>) -> QueryResult<()>;

    /// Whether the statement type may write its `LIMIT` as a number (up to [`super::INLINED_LIMIT_MAX`]): then
    /// its text depends on the value, and it must not be cached by its type alone.
    const INLINES_LIMIT: bool = false;

    /// The `LIMIT` this statement writes as a number, if it does.
    ///
    /// # Errors
    /// When the limit's value cannot be serialized.
    fn inlined_limit(&self) -> QueryResult<Option<i64>> {
        Ok(None)
    }
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
