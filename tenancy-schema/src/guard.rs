//! Turns Diesel's own `RunQueryDsl` methods on a tenant transaction into tenancy's error.
//!
//! [`TenantTx`] deliberately does not implement [`diesel::Connection`], so
//! `query.load(&mut tx)` never compiles; left alone, rustc reports Diesel's unsatisfied
//! `TenantTx: Connection` / `LoadQuery` bound, which says nothing about what to write instead.
//! The impls below give [`LoadQuery`] (behind `.load()`, `.get_result()`, `.get_results()`,
//! `.first()`) an impl for the query types Diesel builds, whose only requirement is the
//! never-implemented [`DieselRunQueryDslOnTenantTx`]; rustc then reports that trait's message.
//!
//! Coherence accepts them next to Diesel's blanket `LoadQuery` impl because that impl needs
//! `Conn: Connection`, and `TenantTx` is local and does not implement it.
//!
//! Limits: Diesel's `ExecuteDsl` requires `Conn: Connection` in its own definition, so
//! `.execute(&mut tx)` keeps Diesel's message (which names `TenantTx`); and a bare table
//! (`posts::table.load(&mut tx)`) is a type of the user's crate that the orphan rule keeps
//! out of reach here. `BoxedSqlQuery` only runs on a `Connection`, so it needs no impl.

use diesel::QueryResult;
use diesel::internal::table_macro::{BoxedSelectStatement, SelectStatement};
use diesel::query_builder::{DeleteStatement, InsertStatement, SqlQuery, UpdateStatement};
use diesel::query_dsl::LoadQuery;
use diesel::query_source::{Alias, AliasSource, QuerySource};
use diesel::result::Error as DieselError;

use crate::TenantTx;

/// Never implemented: the bound that carries tenancy's message when Diesel's `.load()`,
/// `.get_result()` or `.first()` is handed a tenant transaction.
///
/// Its `Self` is the row type `U`: rustc first looks at `query.load(tx)` before it knows
/// `Conn`, keeps Diesel's blanket impl as "may apply" and would commit to it unless this
/// impl is ambiguous too. With the still-unknown `U` as the bound's `Self` it is, so once
/// `Conn = TenantTx` rules the blanket impl out, this impl is chosen and its bound fails with
/// the message below. With a turbofish (`.load::<T>(tx)`) `U` is known early and rustc
/// reports the unsatisfied `LoadQuery<'_, _, T>` bound instead.
#[diagnostic::on_unimplemented(
    message = "Diesel's `.load()`/`.execute()`/`.get_result()` cannot run on a tenant transaction: they would skip the tenant filter",
    label = "Diesel's `RunQueryDsl` method called with a `TenantTx`",
    note = "write `tx.load(query)`, `tx.get_result(query)`, `tx.first(query)`, or `tx.update(table)...execute()` instead"
)]
pub trait DieselRunQueryDslOnTenantTx<Conn> {}

fn unreachable_load<I>() -> QueryResult<I> {
    // The impls below require `U: DieselRunQueryDslOnTenantTx<TenantTx>`, which never holds.
    Err(DieselError::QueryBuilderError(
        "Diesel's RunQueryDsl cannot run on a tenant transaction".into(),
    ))
}

macro_rules! refuse_load {
    ($([$($params:tt)*] $ty:ty $(where [$($bounds:tt)*])?;)+) => {$(
        impl<'q, 'c, $($params)*, U, B> LoadQuery<'q, TenantTx<'c>, U, B> for $ty
        where
            U: DieselRunQueryDslOnTenantTx<TenantTx<'c>>,
            $($($bounds)*)?
        {
            type RowIter<'conn>
                = std::iter::Empty<QueryResult<U>>
            where
                TenantTx<'c>: 'conn;

            fn internal_load<'conn>(
                self,
                _conn: &'conn mut TenantTx<'c>,
            ) -> QueryResult<Self::RowIter<'conn>> {
                unreachable_load()
            }
        }
    )+};
}

refuse_load! {
    [F, S, D, W, O, LOf, G, H, LC] SelectStatement<F, S, D, W, O, LOf, G, H, LC>;
    ['a, ST, QS, DB, GB] BoxedSelectStatement<'a, ST, QS, DB, GB>;
    [S] Alias<S> where [S: AliasSource];
    [Inner] SqlQuery<Inner>;
    [T, V, Op, Ret] InsertStatement<T, V, Op, Ret> where [T: QuerySource];
    [T, V, W, Ret] UpdateStatement<T, V, W, Ret> where [T: QuerySource];
    [T, W, Ret] DeleteStatement<T, W, Ret> where [T: QuerySource];
    [Q] crate::Scoped<Q>;
    [Q] crate::scope::ScopedExists<Q>;
}
