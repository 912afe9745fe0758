//! Tenant writes on an async transaction: builders in Diesel's shape whose statements are
//! built and checked by the core (`tenancy_schema`'s update, delete and insert statements), so
//! the async side adds no scoping of its own.

use std::marker::PhantomData;

use diesel::dsl::Filter;
use diesel::expression::Expression;
use diesel::insertable::InsertValues;
use diesel::pg::Pg;
use diesel::query_builder::{AsChangeset, AsQuery, IntoUpdateTarget, QueryFragment, QueryId};
use diesel::query_dsl::methods::FilterDsl;
use diesel::sql_types::BoolOrNullableBool;
use diesel_async::methods::{ExecuteDsl, LoadQuery};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy_schema::__private_v0_1::executor::{
    AndThen, NoReturning, OnConflict, Paren, ReturningAll, SingleInsert, TenantInsert, TenantParam,
    UpdateOf, WithScope, and_filter, conflict_columns, delete_statement, insert_statement,
    single_insert_statement, tenant_predicate, update_statement,
};
use tenancy_schema::scope::{ScopedTable, TenantFreeValues};
use tenancy_schema::{ConflictTarget, InsertRows, OrFilterOnTenantWrite, Result};

use crate::AsyncTenantTx;
use crate::pipeline::run_statement;

impl<'c> AsyncTenantTx<'c> {
    /// Starts an `INSERT` into `table`; add `.values(..)`. The tenant column is written by
    /// tenancy, as in [`tenancy_schema::TenantTx::insert_into`].
    pub fn insert_into<T: ScopedTable>(&mut self, table: T) -> AsyncInsertInto<'_, 'c, T> {
        let _ = table;
        AsyncInsertInto {
            tx: self,
            table: PhantomData,
        }
    }

    /// Starts a tenant-scoped `UPDATE` of `table`; add `.filter(..)` and `.set(..)`.
    pub fn update<T: ScopedTable>(
        &mut self,
        table: T,
    ) -> AsyncUpdate<'_, 'c, T, TenantParam<T::TenantColumn>> {
        let predicate = tenant_predicate::<T>();
        AsyncUpdate {
            tx: self,
            table,
            predicate,
        }
    }

    /// Starts a tenant-scoped `DELETE` from `table`; add `.filter(..)` and `.execute()`.
    pub fn delete<T: ScopedTable>(
        &mut self,
        table: T,
    ) -> AsyncDelete<'_, 'c, T, TenantParam<T::TenantColumn>> {
        let predicate = tenant_predicate::<T>();
        AsyncDelete {
            tx: self,
            table,
            predicate,
        }
    }
}

/// An `INSERT` waiting for its values (from [`AsyncTenantTx::insert_into`]).
#[must_use = "an insert does nothing until it has values and is executed"]
pub struct AsyncInsertInto<'t, 'c, T> {
    tx: &'t mut AsyncTenantTx<'c>,
    table: PhantomData<T>,
}

impl<'t, 'c, T> AsyncInsertInto<'t, 'c, T>
where
    T: ScopedTable,
    T::AllColumns: QueryFragment<Pg>,
{
    /// The row (or a `Vec` of rows) to insert; see [`tenancy_schema::InsertRows`].
    pub fn values<R, V, M>(self, rows: R) -> AsyncInsert<'t, 'c, T, V>
    where
        R: InsertRows<T, V, M>,
        V: TenantFreeValues + InsertValues<Pg, T> + QueryId,
    {
        AsyncInsert {
            tx: self.tx,
            rows: rows.into_rows(),
            table: PhantomData,
        }
    }
}

/// An `INSERT` with its values, ready to run.
#[must_use = "an insert does nothing until it is executed"]
pub struct AsyncInsert<'t, 'c, T, V> {
    tx: &'t mut AsyncTenantTx<'c>,
    rows: Vec<V>,
    table: PhantomData<T>,
}

impl<'t, T, V> AsyncInsert<'t, '_, T, V>
where
    T: ScopedTable,
    T::AllColumns: QueryFragment<Pg>,
    V: TenantFreeValues + InsertValues<Pg, T> + QueryId,
{
    /// Runs the insert; returns how many rows were inserted (an empty `Vec` sends nothing).
    ///
    /// # Errors
    /// As [`tenancy_schema::ScopedInsert::execute`].
    pub async fn execute(self) -> Result<usize>
    where
        TenantInsert<T, V>: ExecuteDsl<&'t AsyncPgConnection>,
        SingleInsert<T, V, NoReturning>: ExecuteDsl<&'t AsyncPgConnection>,
    {
        let rows = match <[V; 1]>::try_from(self.rows) {
            Ok([row]) => {
                let statement = single_insert_statement::<T, V, NoReturning>(self.tx.tenant, row)?;
                return run_statement!(self.tx.conn, |conn| statement.execute(conn));
            }
            Err(rows) if rows.is_empty() => return Ok(0),
            Err(rows) => rows,
        };
        let statement = insert_statement::<T, V, ()>(self.tx.tenant, rows, None, false)?;
        run_statement!(self.tx.conn, |conn| statement.execute(conn))
    }

    /// Runs the insert with `RETURNING *` and loads the one row it inserted.
    ///
    /// # Errors
    /// As [`AsyncInsert::execute`].
    pub async fn get_result<'q, U>(self) -> Result<U>
    where
        TenantInsert<T, V>: LoadQuery<'q, &'t AsyncPgConnection, U> + 'q,
        SingleInsert<T, V, ReturningAll>: LoadQuery<'q, &'t AsyncPgConnection, U> + 'q,
        U: Send,
    {
        match <[V; 1]>::try_from(self.rows) {
            Ok([row]) => {
                let statement = single_insert_statement::<T, V, ReturningAll>(self.tx.tenant, row)?;
                run_statement!(self.tx.conn, |conn| statement.get_result(conn))
            }
            Err(rows) => {
                let statement = insert_statement::<T, V, ()>(self.tx.tenant, rows, None, true)?;
                run_statement!(self.tx.conn, |conn| statement.get_result(conn))
            }
        }
    }

    /// Runs the insert with `RETURNING *` and loads every row it inserted.
    ///
    /// # Errors
    /// As [`AsyncInsert::execute`].
    pub async fn get_results<'q, U>(self) -> Result<Vec<U>>
    where
        TenantInsert<T, V>: LoadQuery<'q, &'t AsyncPgConnection, U> + 'q,
        U: Send,
    {
        if self.rows.is_empty() {
            return Ok(Vec::new());
        }
        let statement = insert_statement::<T, V, ()>(self.tx.tenant, self.rows, None, true)?;
        run_statement!(self.tx.conn, |conn| statement.get_results(conn))
    }
}

/// A tenant-scoped `UPDATE` under construction: `WHERE tenant_id = $1 AND (<filters>)`.
#[must_use = "call .set(..) and .execute()"]
pub struct AsyncUpdate<'t, 'c, T, P> {
    tx: &'t mut AsyncTenantTx<'c>,
    table: T,
    predicate: P,
}

impl<'t, 'c, T: ScopedTable, P> AsyncUpdate<'t, 'c, T, P> {
    /// Restricts the update further; the predicate is parenthesised and ANDed with the
    /// tenant predicate.
    pub fn filter<F>(self, predicate: F) -> AsyncUpdate<'t, 'c, T, AndThen<P, Paren<F>>>
    where
        F: Expression,
        F::SqlType: BoolOrNullableBool,
    {
        AsyncUpdate {
            tx: self.tx,
            table: self.table,
            predicate: and_filter(self.predicate, predicate),
        }
    }

    /// Not available: a tenant update only narrows. See [`OrFilterOnTenantWrite`].
    #[doc(hidden)]
    pub fn or_filter<F: OrFilterOnTenantWrite>(self, _predicate: F) -> Self {
        self
    }

    /// Sets the new values; `changes` must not assign the tenant column.
    pub fn set<Ch: AsChangeset<Target = T>>(self, changes: Ch) -> AsyncUpdateSet<'t, 'c, T, P, Ch> {
        AsyncUpdateSet {
            tx: self.tx,
            table: self.table,
            predicate: self.predicate,
            changes,
        }
    }
}

/// A tenant-scoped `UPDATE` ready to run.
#[must_use = "call .execute() or .get_results()"]
pub struct AsyncUpdateSet<'t, 'c, T, P, Ch> {
    tx: &'t mut AsyncTenantTx<'c>,
    table: T,
    predicate: P,
    changes: Ch,
}

impl<'t, T, P, Ch> AsyncUpdateSet<'t, '_, T, P, Ch>
where
    T: ScopedTable + FilterDsl<P>,
    P: QueryFragment<Pg>,
    Filter<T, P>: IntoUpdateTarget<Table = T>,
    Ch: AsChangeset<Target = T>,
    UpdateOf<T, P, Ch>: QueryFragment<Pg> + AsQuery,
{
    /// Runs the update; returns the number of rows changed.
    ///
    /// # Errors
    /// As [`tenancy_schema::ScopedUpdateSet::execute`].
    pub async fn execute(self) -> Result<usize>
    where
        WithScope<UpdateOf<T, P, Ch>>: ExecuteDsl<&'t AsyncPgConnection>,
    {
        let statement = update_statement(self.tx.tenant, self.table, self.predicate, self.changes)?;
        run_statement!(self.tx.conn, |conn| statement.execute(conn))
    }

    /// Runs the update and returns the changed rows (`RETURNING *`).
    ///
    /// # Errors
    /// As [`AsyncUpdateSet::execute`].
    pub async fn get_results<'q, U>(self) -> Result<Vec<U>>
    where
        WithScope<UpdateOf<T, P, Ch>>: LoadQuery<'q, &'t AsyncPgConnection, U> + 'q,
        U: Send,
    {
        let statement = update_statement(self.tx.tenant, self.table, self.predicate, self.changes)?;
        run_statement!(self.tx.conn, |conn| statement.get_results(conn))
    }
}

/// A tenant-scoped `DELETE` under construction: `WHERE tenant_id = $1 AND (<filters>)`.
#[must_use = "call .execute()"]
pub struct AsyncDelete<'t, 'c, T, P> {
    tx: &'t mut AsyncTenantTx<'c>,
    table: T,
    predicate: P,
}

impl<'t, 'c, T: ScopedTable, P> AsyncDelete<'t, 'c, T, P> {
    /// Restricts the delete further (parenthesised, ANDed with the tenant predicate).
    pub fn filter<F>(self, predicate: F) -> AsyncDelete<'t, 'c, T, AndThen<P, Paren<F>>>
    where
        F: Expression,
        F::SqlType: BoolOrNullableBool,
    {
        AsyncDelete {
            tx: self.tx,
            table: self.table,
            predicate: and_filter(self.predicate, predicate),
        }
    }

    /// Not available: a tenant delete only narrows. See [`OrFilterOnTenantWrite`].
    #[doc(hidden)]
    pub fn or_filter<F: OrFilterOnTenantWrite>(self, _predicate: F) -> Self {
        self
    }

    /// Runs the delete; returns the number of rows removed.
    ///
    /// # Errors
    /// As [`tenancy_schema::ScopedDelete::execute`].
    pub async fn execute(self) -> Result<usize>
    where
        T: FilterDsl<P>,
        P: QueryFragment<Pg>,
        Filter<T, P>: IntoUpdateTarget,
        diesel::dsl::delete<Filter<T, P>>: QueryFragment<Pg> + QueryId,
        WithScope<diesel::dsl::delete<Filter<T, P>>>: ExecuteDsl<&'t AsyncPgConnection>,
    {
        let statement = delete_statement(self.tx.tenant, self.table, self.predicate)?;
        run_statement!(self.tx.conn, |conn| statement.execute(conn))
    }
}

impl<'t, 'c, T, V> AsyncInsert<'t, 'c, T, V>
where
    T: ScopedTable,
    T::AllColumns: QueryFragment<Pg>,
    V: TenantFreeValues + InsertValues<Pg, T> + QueryId,
{
    /// `ON CONFLICT ("tenant_id", <target>)`, as [`tenancy_schema::ScopedInsert::on_conflict`].
    pub fn on_conflict<C, M>(self, target: C) -> AsyncOnConflict<'t, 'c, T, V>
    where
        C: ConflictTarget<T, M> + Copy,
    {
        let _ = target;
        AsyncOnConflict {
            insert: self,
            columns: conflict_columns::<T, C, M>(),
        }
    }
}

/// An insert with its conflict target: say what a conflict does.
#[must_use = "an upsert does nothing until it is executed"]
pub struct AsyncOnConflict<'t, 'c, T, V> {
    insert: AsyncInsert<'t, 'c, T, V>,
    columns: Vec<&'static str>,
}

impl<'t, 'c, T, V> AsyncOnConflict<'t, 'c, T, V> {
    /// `DO NOTHING`: a row that conflicts is left as it is and not inserted.
    pub fn do_nothing(self) -> AsyncUpsert<'t, 'c, T, V, ()> {
        AsyncUpsert {
            insert: self.insert,
            conflict: OnConflict::new(self.columns, None),
        }
    }

    /// `DO UPDATE`: add `.set(..)` with the changes (which may use
    /// `diesel::upsert::excluded(column)`).
    pub fn do_update(self) -> AsyncDoUpdate<'t, 'c, T, V> {
        AsyncDoUpdate { on_conflict: self }
    }
}

/// An upsert waiting for its `SET` list.
#[must_use = "an upsert does nothing until it has its changes and is executed"]
pub struct AsyncDoUpdate<'t, 'c, T, V> {
    on_conflict: AsyncOnConflict<'t, 'c, T, V>,
}

impl<'t, 'c, T, V> AsyncDoUpdate<'t, 'c, T, V> {
    /// The changes made to the conflicting row; they may not assign the tenant column (checked
    /// when the upsert runs).
    pub fn set<Ch>(self, changes: Ch) -> AsyncUpsert<'t, 'c, T, V, Ch::Changeset>
    where
        Ch: AsChangeset<Target = T>,
    {
        AsyncUpsert {
            insert: self.on_conflict.insert,
            conflict: OnConflict::new(self.on_conflict.columns, Some(changes.as_changeset())),
        }
    }
}

/// An `INSERT … ON CONFLICT …`, ready to run.
#[must_use = "an upsert does nothing until it is executed"]
pub struct AsyncUpsert<'t, 'c, T, V, Ch> {
    insert: AsyncInsert<'t, 'c, T, V>,
    conflict: OnConflict<Ch>,
}

impl<'t, T, V, Ch> AsyncUpsert<'t, '_, T, V, Ch>
where
    T: ScopedTable,
    T::AllColumns: QueryFragment<Pg>,
    V: TenantFreeValues + InsertValues<Pg, T> + QueryId,
    Ch: QueryFragment<Pg>,
{
    /// Runs the upsert; returns how many rows were inserted or updated.
    ///
    /// # Errors
    /// As [`tenancy_schema::ScopedUpsert::execute`].
    pub async fn execute(self) -> Result<usize>
    where
        TenantInsert<T, V, Ch>: ExecuteDsl<&'t AsyncPgConnection>,
    {
        let AsyncInsert { tx, rows, .. } = self.insert;
        if rows.is_empty() {
            return Ok(0);
        }
        let statement = insert_statement::<T, V, Ch>(tx.tenant, rows, Some(self.conflict), false)?;
        run_statement!(tx.conn, |conn| statement.execute(conn))
    }

    /// Runs the upsert with `RETURNING *`: the rows inserted or updated (with `DO NOTHING`, a
    /// conflicting row is not returned).
    ///
    /// # Errors
    /// As [`AsyncUpsert::execute`].
    pub async fn get_results<'q, U>(self) -> Result<Vec<U>>
    where
        TenantInsert<T, V, Ch>: LoadQuery<'q, &'t AsyncPgConnection, U> + 'q,
        U: Send,
    {
        let AsyncInsert { tx, rows, .. } = self.insert;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let statement = insert_statement::<T, V, Ch>(tx.tenant, rows, Some(self.conflict), true)?;
        run_statement!(tx.conn, |conn| statement.get_results(conn))
    }
}
