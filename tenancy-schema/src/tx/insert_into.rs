//! Inserts and upserts in Diesel's shape: `tx.insert_into(table).values(..)`, then
//! `.execute()`, `.get_result()`, or `.on_conflict(..).do_update().set(..)` /
//! `.do_nothing()`. The tenant column is written by tenancy, first, with the transaction's
//! tenant; the conflict target always starts with it, so an upsert can only meet a row of
//! this tenant.

use std::marker::PhantomData;

use diesel::insertable::{InsertValues, Insertable};
use diesel::pg::Pg;
use diesel::query_builder::{AsChangeset, QueryFragment, QueryId, ValuesClause};
use diesel::query_dsl::LoadQuery;
use diesel::{Column, PgConnection, RunQueryDsl};

use super::TenantTx;
use super::tenant_tx::single_insert_statement;
use crate::scope::{
    NoReturning, OnConflict, ReturningAll, ScopedTable, SingleInsert, TenantFreeValues,
    TenantInsert,
};
use crate::{Error, Result};

impl<'c> TenantTx<'c> {
    /// Starts an `INSERT` into `table`, as `diesel::insert_into` does; add `.values(..)`.
    pub fn insert_into<T: ScopedTable>(&mut self, table: T) -> InsertInto<'_, 'c, T> {
        let _ = table;
        InsertInto {
            tx: self,
            table: PhantomData,
        }
    }
}

/// An `INSERT` waiting for its values (from [`TenantTx::insert_into`]).
#[must_use = "an insert does nothing until it has values and is executed"]
pub struct InsertInto<'t, 'c, T> {
    tx: &'t mut TenantTx<'c>,
    table: PhantomData<T>,
}

/// Marks the single-record form of [`InsertRows`].
#[derive(Debug, Clone, Copy)]
pub struct OneRow;
/// Marks the `Vec` form of [`InsertRows`].
#[derive(Debug, Clone, Copy)]
pub struct ManyRows;

/// What `.values(..)` takes: one record (a struct deriving `Insertable`, or a tuple of
/// `column.eq(value)`) or a `Vec` of them. `M` only tells the two forms apart.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be inserted into `{T}` in a tenant transaction",
    label = "not an `Insertable` record of `{T}` (or a `Vec` of them)",
    note = "derive `Insertable` with `#[diesel(table_name = ..)]` for this table, or pass a tuple of `column.eq(value)`; never include the tenant column, tenancy writes it"
)]
pub trait InsertRows<T, V, M> {
    /// The rows' values.
    fn into_rows(self) -> Vec<V>;
}

impl<T, V, R> InsertRows<T, V, OneRow> for R
where
    R: Insertable<T, Values = ValuesClause<V, T>>,
{
    fn into_rows(self) -> Vec<V> {
        vec![self.values().values]
    }
}

impl<T, V, R> InsertRows<T, V, ManyRows> for Vec<R>
where
    R: Insertable<T, Values = ValuesClause<V, T>>,
{
    fn into_rows(self) -> Vec<V> {
        self.into_iter().map(|r| r.values().values).collect()
    }
}

impl<'t, 'c, T> InsertInto<'t, 'c, T>
where
    T: ScopedTable,
    T::AllColumns: QueryFragment<Pg>,
{
    /// The row (or rows) to insert.
    pub fn values<R, V, M>(self, rows: R) -> ScopedInsert<'t, 'c, T, V>
    where
        R: InsertRows<T, V, M>,
        V: TenantFreeValues + InsertValues<Pg, T> + QueryId,
    {
        ScopedInsert {
            tx: self.tx,
            rows: rows.into_rows(),
            table: PhantomData,
        }
    }
}

/// An `INSERT` with its values: run it, or add an `ON CONFLICT` clause.
#[must_use = "an insert does nothing until it is executed"]
pub struct ScopedInsert<'t, 'c, T, V> {
    tx: &'t mut TenantTx<'c>,
    rows: Vec<V>,
    table: PhantomData<T>,
}

impl<'t, 'c, T, V> ScopedInsert<'t, 'c, T, V>
where
    T: ScopedTable,
    T::AllColumns: QueryFragment<Pg>,
    V: TenantFreeValues + InsertValues<Pg, T> + QueryId,
{
    /// Runs the insert; returns how many rows were inserted (an empty `Vec` inserts none and
    /// sends nothing).
    ///
    /// # Errors
    /// Database errors (constraint violations, row level security); refusals of values that
    /// read another tenant table in a way that cannot be scoped, or leave their row
    /// ([`Error::UnsafeSql`]).
    pub fn execute(self) -> Result<usize> {
        let rows = match <[V; 1]>::try_from(self.rows) {
            Ok([row]) => {
                let statement = single_insert_statement::<T, V, NoReturning>(self.tx.tenant, row)?;
                return statement.execute(self.tx.conn).map_err(Error::from);
            }
            Err(rows) if rows.is_empty() => return Ok(0),
            Err(rows) => rows,
        };
        let statement = self.tx.insert_statement::<T, V, ()>(rows, None, false)?;
        statement.execute(self.tx.conn).map_err(Error::from)
    }

    /// Runs the insert with `RETURNING *` and loads the one row it inserted.
    ///
    /// # Errors
    /// As [`ScopedInsert::execute`].
    pub fn get_result<'q, U>(self) -> Result<U>
    where
        TenantInsert<T, V>: LoadQuery<'q, PgConnection, U>,
        SingleInsert<T, V, ReturningAll>: LoadQuery<'q, PgConnection, U>,
    {
        match <[V; 1]>::try_from(self.rows) {
            Ok([row]) => {
                let statement = single_insert_statement::<T, V, ReturningAll>(self.tx.tenant, row)?;
                statement.get_result(self.tx.conn).map_err(Error::from)
            }
            Err(rows) => {
                let statement = self.tx.insert_statement::<T, V, ()>(rows, None, true)?;
                statement.get_result(self.tx.conn).map_err(Error::from)
            }
        }
    }

    /// Runs the insert with `RETURNING *` and loads every row it inserted.
    ///
    /// # Errors
    /// As [`ScopedInsert::execute`].
    pub fn get_results<'q, U>(self) -> Result<Vec<U>>
    where
        TenantInsert<T, V>: LoadQuery<'q, PgConnection, U>,
    {
        if self.rows.is_empty() {
            return Ok(Vec::new());
        }
        let statement = self
            .tx
            .insert_statement::<T, V, ()>(self.rows, None, true)?;
        statement.get_results(self.tx.conn).map_err(Error::from)
    }

    /// `ON CONFLICT ("tenant_id", <target>)`: `target` is one column of the table or a tuple
    /// of up to four; the tenant column is always the first of the target.
    pub fn on_conflict<C, M>(self, target: C) -> ScopedOnConflict<'t, 'c, T, V>
    where
        C: ConflictTarget<T, M> + Copy,
    {
        let _ = target;
        ScopedOnConflict {
            insert: self,
            columns: conflict_columns::<T, C, M>(),
        }
    }
}

/// The columns of the conflict target `C` after the tenant column, which tenancy always puts
/// first. Reached through `tenancy_schema::__private_v0_1`: not public API.
#[doc(hidden)]
#[must_use]
pub fn conflict_columns<T: ScopedTable, C: ConflictTarget<T, M>, M>() -> Vec<&'static str> {
    let mut columns = Vec::new();
    C::columns(&mut columns);
    columns.retain(|c| *c != T::SCOPE.tenant_column);
    columns
}

/// Marks a single column as a [`ConflictTarget`].
#[derive(Debug, Clone, Copy)]
pub struct OneColumn;
/// Marks a tuple of columns as a [`ConflictTarget`].
#[derive(Debug, Clone, Copy)]
pub struct ColumnTuple;

/// The columns of an `ON CONFLICT` target besides the tenant column: one column of `T`, or a
/// tuple of them. `M` only tells the two forms apart.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a conflict target of `{T}`",
    label = "expected a column of `{T}`, or a tuple of up to four of them",
    note = "name the columns of a unique key of the table; tenancy puts the tenant column first itself"
)]
pub trait ConflictTarget<T, M> {
    /// Appends the target's column names.
    fn columns(out: &mut Vec<&'static str>);
}

/// `T` is `U`: a bound that fails with [`ConflictTarget`]'s own message (an equality of
/// associated types would fail with rustc's "type mismatch" instead).
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "the conflict target is a column of `{U}`, not of `{Self}`, the table the insert goes into",
    label = "a column of another table",
    note = "name the columns of a unique key of `{Self}` (one column, or a tuple of up to four); tenancy puts the tenant column first itself"
)]
pub trait SameTable<U> {}
impl<T> SameTable<T> for T {}

impl<T, C: Column> ConflictTarget<T, OneColumn> for C
where
    T: SameTable<C::Table>,
{
    fn columns(out: &mut Vec<&'static str>) {
        out.push(C::NAME);
    }
}

macro_rules! conflict_tuples {
    ($($column:ident)+) => {
        impl<T, $($column: Column),+> ConflictTarget<T, ColumnTuple> for ($($column,)+)
        where
            $(T: SameTable<$column::Table>),+
        {
            fn columns(out: &mut Vec<&'static str>) {
                $(out.push($column::NAME);)+
            }
        }
    };
}

conflict_tuples!(A);
conflict_tuples!(A B);
conflict_tuples!(A B C);
conflict_tuples!(A B C D);

/// An insert with its conflict target: say what a conflict does.
#[must_use = "an upsert does nothing until it is executed"]
pub struct ScopedOnConflict<'t, 'c, T, V> {
    insert: ScopedInsert<'t, 'c, T, V>,
    columns: Vec<&'static str>,
}

impl<'t, 'c, T, V> ScopedOnConflict<'t, 'c, T, V>
where
    T: ScopedTable,
    T::AllColumns: QueryFragment<Pg>,
    V: TenantFreeValues + InsertValues<Pg, T> + QueryId,
{
    /// `DO NOTHING`: a row that conflicts is left as it is and not inserted.
    pub fn do_nothing(self) -> ScopedUpsert<'t, 'c, T, V, ()> {
        ScopedUpsert {
            insert: self.insert,
            conflict: OnConflict {
                columns: self.columns,
                update: None,
            },
        }
    }

    /// `DO UPDATE`: add `.set(..)` with the changes (which may use
    /// `diesel::upsert::excluded(column)`).
    pub fn do_update(self) -> ScopedDoUpdate<'t, 'c, T, V> {
        ScopedDoUpdate { on_conflict: self }
    }
}

/// An upsert waiting for its `SET` list.
#[must_use = "an upsert does nothing until it has its changes and is executed"]
pub struct ScopedDoUpdate<'t, 'c, T, V> {
    on_conflict: ScopedOnConflict<'t, 'c, T, V>,
}

impl<'t, 'c, T, V> ScopedDoUpdate<'t, 'c, T, V>
where
    T: ScopedTable,
    T::AllColumns: QueryFragment<Pg>,
    V: TenantFreeValues + InsertValues<Pg, T> + QueryId,
{
    /// The changes made to the conflicting row. They may not assign the tenant column: that is
    /// checked when the upsert runs ([`Error::TenantColumnInChangeset`]).
    pub fn set<Ch>(self, changes: Ch) -> ScopedUpsert<'t, 'c, T, V, Ch::Changeset>
    where
        Ch: AsChangeset<Target = T>,
        Ch::Changeset: QueryFragment<Pg>,
    {
        ScopedUpsert {
            insert: self.on_conflict.insert,
            conflict: OnConflict {
                columns: self.on_conflict.columns,
                update: Some(changes.as_changeset()),
            },
        }
    }
}

/// An `INSERT … ON CONFLICT …`, ready to run.
#[must_use = "an upsert does nothing until it is executed"]
pub struct ScopedUpsert<'t, 'c, T, V, Ch> {
    insert: ScopedInsert<'t, 'c, T, V>,
    conflict: OnConflict<Ch>,
}

impl<T, V, Ch> ScopedUpsert<'_, '_, T, V, Ch>
where
    T: ScopedTable,
    T::AllColumns: QueryFragment<Pg>,
    V: TenantFreeValues + InsertValues<Pg, T> + QueryId,
    Ch: QueryFragment<Pg>,
{
    /// Runs the upsert; returns how many rows were inserted or updated.
    ///
    /// # Errors
    /// [`Error::TenantColumnInChangeset`] when the changes assign the tenant column; database
    /// errors.
    pub fn execute(self) -> Result<usize> {
        let ScopedInsert { tx, rows, .. } = self.insert;
        if rows.is_empty() {
            return Ok(0);
        }
        let statement = tx.insert_statement::<T, V, Ch>(rows, Some(self.conflict), false)?;
        statement.execute(tx.conn).map_err(Error::from)
    }

    /// Runs the upsert with `RETURNING *`: the rows inserted or updated (with `DO NOTHING`,
    /// a conflicting row is not returned).
    ///
    /// # Errors
    /// As [`ScopedUpsert::execute`].
    pub fn get_results<'q, U>(self) -> Result<Vec<U>>
    where
        TenantInsert<T, V, Ch>: LoadQuery<'q, PgConnection, U>,
    {
        let ScopedInsert { tx, rows, .. } = self.insert;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let statement = tx.insert_statement::<T, V, Ch>(rows, Some(self.conflict), true)?;
        statement.get_results(tx.conn).map_err(Error::from)
    }
}
