//! The common insert, one row without `ON CONFLICT`, as a type of its own: its SQL is fixed by
//! the table, the values' type and whether it returns the row, so it carries a static query id
//! and Diesel keeps its prepared statement by type. A [`TenantInsert`] cannot: its row count,
//! conflict columns and `RETURNING` are values, so Diesel renders and hashes its SQL on every
//! call to find the prepared statement.

use std::marker::PhantomData;

use diesel::expression::Expression;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::{QueryResult, RunQueryDsl, Table};

use super::insert::TenantInsert;

/// Whether a [`SingleInsert`] returns the row it inserted.
pub trait InsertReturns: 'static {
    /// `RETURNING *` or nothing.
    const RETURNING: bool;
}

/// A [`SingleInsert`] that returns the number of rows inserted.
#[derive(Debug, Clone, Copy)]
pub struct NoReturning;

/// A [`SingleInsert`] with `RETURNING *`.
#[derive(Debug, Clone, Copy)]
pub struct ReturningAll;

impl InsertReturns for NoReturning {
    const RETURNING: bool = false;
}

impl InsertReturns for ReturningAll {
    const RETURNING: bool = true;
}

/// A [`TenantInsert`] of exactly one row without `ON CONFLICT`; `R` says whether it returns
/// the row.
pub struct SingleInsert<T: Table, V, R> {
    insert: TenantInsert<T, V>,
    returns: PhantomData<R>,
}

impl<T: Table, V, R: InsertReturns> SingleInsert<T, V, R> {
    /// `insert`, which the caller built for one row, without a conflict clause, and with
    /// `RETURNING *` exactly when `R` asks for it: the SQL its query id stands for.
    pub(crate) fn new(insert: TenantInsert<T, V>) -> Self {
        debug_assert!(
            insert.rows.len() == 1
                && insert.conflict.is_none()
                && insert.returning.is_some() == R::RETURNING,
            "a single insert is one row without a conflict clause"
        );
        Self {
            insert,
            returns: PhantomData,
        }
    }
}

#[doc(hidden)]
pub struct SingleInsertId<T, V, R>(PhantomData<(T, V, R)>);

impl<T, V, R> QueryId for SingleInsert<T, V, R>
where
    T: Table + 'static,
    V: QueryId,
    R: InsertReturns,
{
    type QueryId = SingleInsertId<T, V::QueryId, R>;
    const HAS_STATIC_QUERY_ID: bool = V::HAS_STATIC_QUERY_ID;
}

impl<T: Table, V, R> QueryFragment<Pg> for SingleInsert<T, V, R>
where
    TenantInsert<T, V>: QueryFragment<Pg>,
{
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.insert.walk_ast(out)
    }
}

impl<T: Table, V> Query for SingleInsert<T, V, ReturningAll> {
    type SqlType = <T::AllColumns as Expression>::SqlType;
}

impl<T: Table, V, R, Conn> RunQueryDsl<Conn> for SingleInsert<T, V, R> {}
