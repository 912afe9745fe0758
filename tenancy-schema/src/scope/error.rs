//! Refusals of row-locking queries that cannot be scoped without losing the lock. Public types,
//! so that callers can tell them apart inside Diesel's `QueryBuilderError`.

/// A `FOR UPDATE`/`FOR SHARE` over a join cannot be scoped without losing the lock.
#[derive(Debug, thiserror::Error)]
#[error(
    "a row lock (FOR UPDATE/FOR SHARE) on a join of tenant-scoped tables is not supported in a tenant transaction: lock the rows with a single-table query first"
)]
pub struct LockingJoinError;

/// A row lock on a table that the statement also reads through a sub-query, when the table's
/// schema is unknown: the locked rows are written as a derived table that has to name the
/// table qualified, and the schema is resolved when the `Tenancy` is built (the table did not
/// exist then, or the application's login could not see it).
#[derive(Debug, thiserror::Error)]
#[error(
    "a row lock (FOR UPDATE/FOR SHARE) on `{table}` combined with a sub-query of `{table}` needs the table's schema, which was not found when the Tenancy was built: create the table before building the Tenancy, or lock the rows with a query that names `{table}` once"
)]
pub struct LockingSelfReferenceError {
    /// The locked table.
    pub table: &'static str,
}
