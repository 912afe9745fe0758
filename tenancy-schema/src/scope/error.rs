//! Refusals of row-locking queries that cannot be scoped without losing the lock. Public types,
//! so that callers can tell them apart inside Diesel's `QueryBuilderError`.

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
