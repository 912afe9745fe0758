//! How a `SELECT` writes itself scoped. Besides the shadowing prefix, a row lock on one table
//! (a CTE cannot carry the lock), a tenant predicate after the statement's own filter and a
//! limit written as a number need the statement taken apart clause by clause, which is why
//! these impls reach into Diesel's select-statement internals.

use diesel::QueryResult;
use diesel::internal::derives::multiconnection::SelectStatementAccessor;
use diesel::internal::table_macro::{BoxedSelectStatement, FromClause, SelectStatement};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::query_source::QuerySource;

use super::entry::ScopeEntry;
use super::limit::{LimitForm, OrderForm};
use super::named::render;
use super::plan::{ScopePlan, push_quoted, push_scoped_body_in};
use super::traits::{GlobalQuery, GlobalSource, TenantQuery, TenantSource};

fn renders_empty<T: QueryFragment<Pg>>(fragment: &T) -> QueryResult<bool> {
    Ok(render(fragment)?.is_empty())
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
    O: QueryFragment<Pg> + OrderForm,
    LOf: QueryFragment<Pg> + LimitForm,
    G: QueryFragment<Pg>,
    H: QueryFragment<Pg>,
    LC: QueryFragment<Pg>,
{
    const INLINES_LIMIT: bool = O::ORDERED && LOf::LIMIT_ALONE;

    fn inlined_limit(&self) -> QueryResult<Option<i64>> {
        if Self::INLINES_LIMIT {
            self.limit_offset_clause().inlined()
        } else {
            Ok(None)
        }
    }

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

    fn own_where(&self) -> QueryResult<Option<bool>> {
        Ok(if F::FILTERS_IN_WHERE {
            Some(!renders_empty(self.where_clause())?)
        } else {
            None
        })
    }

    fn written_from(&self) -> QueryResult<String> {
        render(self.from_clause())
    }

    fn walk_scoped<'b>(
        &'b self,
        plan: &'b ScopePlan,
        mut out: AstPass<'_, 'b, Pg>,
    ) -> QueryResult<()> {
        plan.push_prefix(&mut out)?;
        // The statement taken apart clause by clause: with the tenant predicate after its
        // filter, with its limit as a number ([`super::limit`]), or with a row lock on one
        // table, whose FROM clause becomes a derived table (PostgreSQL pulls it up and locks
        // it; it names the table with its schema when a CTE of the same name shadows its other
        // uses). Otherwise it is written as Diesel writes it.
        let limit = self.inlined_limit()?;
        let locked = match (&plan.filtered, &plan.locked) {
            (None, Some(entry)) => Some(entry),
            (None, None) if limit.is_none() => return self.walk_ast(out),
            _ => None,
        };
        out.push_sql("SELECT ");
        self.distinct_clause().walk_ast(out.reborrow())?;
        self.select_clause().walk_ast(out.reborrow())?;
        if let Some(entry) = locked {
            push_locked_from(plan, entry, &mut out)?;
        } else {
            self.from_clause().walk_ast(out.reborrow())?;
        }
        self.where_clause().walk_ast(out.reborrow())?;
        if let Some(filter) = &plan.filtered {
            ScopePlan::push_own_filter(filter, &mut out)?;
        }
        self.group_by_clause().walk_ast(out.reborrow())?;
        self.having_clause().walk_ast(out.reborrow())?;
        self.order_clause().walk_ast(out.reborrow())?;
        if let Some(limit) = limit {
            out.push_sql(" LIMIT ");
            out.push_sql(&limit.to_string());
        } else {
            self.limit_offset_clause().walk_ast(out.reborrow())?;
        }
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

    fn own_where(&self) -> QueryResult<Option<bool>> {
        // Their clauses are not reachable one by one.
        Ok(None)
    }

    fn written_from(&self) -> QueryResult<String> {
        // Never locked, so never asked.
        Ok(String::new())
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

/// ` FROM (SELECT * FROM [<schema>.]<table> WHERE <table>.<tenant column> = $1) AS <table>`:
/// the `FROM` clause of a statement that locks rows of one table.
pub(super) fn push_locked_from(
    plan: &ScopePlan,
    entry: &ScopeEntry,
    out: &mut AstPass<'_, '_, Pg>,
) -> QueryResult<()> {
    out.push_sql(" FROM (");
    push_scoped_body_in(plan.locked_schema.as_deref(), entry, out)?;
    out.push_sql(") AS ");
    push_quoted(out, entry.table)
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
