//! Async tenant transactions for tenancy, on diesel-async: the same scoping, the same sealed
//! tenant context and the same checks as [`tenancy_schema::Tenancy`], for tokio services.
//!
//! ```no_run
//! use diesel::prelude::*;
//! use tenancy_async::AsyncTenancy;
//! use tenancy_schema::TenantId;
//!
//! #[tenancy_schema::tenant_scoped]
//! diesel::table! {
//!     posts (id) {            // becomes `posts (tenant_id, id)` with `tenant_id -> Uuid`
//!         id -> Int4,
//!         slug -> Text,
//!     }
//! }
//!
//! # async fn demo(tenant: TenantId) -> Result<(), tenancy_schema::Error> {
//! let tenancy = AsyncTenancy::builder("postgres://app_login@db/app")
//!     .admin_url("postgres://admin_login@db/app")
//!     .max_size(8)
//!     .build()
//!     .await?;
//! let slugs: Vec<String> = tenancy
//!     .transaction(tenant, async |tx| {
//!         tx.insert_into(posts::table)
//!             .values((posts::id.eq(1), posts::slug.eq("hello")))
//!             .execute()
//!             .await?;
//!         // Every tenant-scoped table the query names is restricted to `tenant`.
//!         tx.load(posts::table.select(posts::slug)).await
//!     })
//!     .await?;
//! # let _ = slugs; Ok(()) }
//! # fn main() {}
//! ```
//!
//! # What is shared with the synchronous API
//!
//! Everything that decides what reaches the database: the scoping of reads and writes
//! (`Scoped`, the update, delete and insert statements and their checks), the message that
//! opens a transaction (`BEGIN` with its options and `SELECT tenancy.enter(..)`, one round
//! trip), the message that ends it (`COMMIT`/`ROLLBACK` and the session reset, one round trip),
//! what a refused opening means, the login checks and the admin warning. This crate only
//! awaits them on an `AsyncPgConnection`. [`AsyncTenantTx`] is not an `AsyncConnection`, so
//! diesel-async's own `.load(&mut tx)` does not compile.
//!
//! # Pool
//!
//! bb8, with a connection manager of this crate's own. bb8 asks the manager synchronously,
//! when a connection is handed back (also when the future holding it is dropped), whether the
//! connection is broken, before it reaches the idle queue; deadpool only looks when the
//! connection is next checked out, so a connection dropped mid-transaction would sit in the
//! pool in the meantime. diesel-async's own bb8 manager is not used: it would not open the
//! tenancy session and pings on checkout.
//!
//! Checkouts are not pinged (`SELECT 1` would cost a round trip per transaction): a
//! connection the server dropped while idle fails its `BEGIN` with a connection-loss error
//! before anything ran, and the next connection is tried, as the synchronous pool does.
//!
//! # Cancellation
//!
//! A future dropped at any await point (a timeout, a client that went away) never returns a
//! connection to the pool inside a transaction or with a tenant context: the connection is
//! marked in flight before the opening message is sent and unmarked only once the ending
//! message (with the session reset) succeeded, and the pool closes a marked connection
//! instead of keeping it. PostgreSQL rolls back the transaction of a closed session. The same
//! holds for a panic inside the closure. [`AsyncTenancy::inspect_sessions`] reports what every
//! pooled connection carries.
//!
//! [`AsyncTenancy::begin`] returns the transaction as a value ([`OwnedTenantTx`]) for code
//! that cannot keep it inside one closure, such as a web framework's layer that ends it once
//! the response is known. It opens and ends with the same messages and carries the same
//! mark: dropped without `commit` or `rollback`, its connection is closed.
//!
//! # Futures are `Send`
//!
//! The futures of [`AsyncTenancy::transaction`] and of the transaction's methods are `Send`
//! when the closure's are, so a transaction can run in `tokio::spawn`; the tenant travels in
//! the value (the call's argument), never in a task-local.
//!
//! # Pipelining the opening (optional)
//!
//! With [`AsyncTenancyBuilder::pipeline`], a tenant transaction's opening message goes out in
//! the same write as its first statement, so the transaction costs one round trip less than a
//! plain diesel-async transaction, which waits for its `BEGIN` before the first query. The
//! opening is queued before the statement's future exists, and PostgreSQL runs a connection's
//! messages in order: the statement runs inside the transaction and its context, or, when the
//! opening is refused, in an aborted transaction that refuses it too. A refused opening is sent
//! again in front of the next statement, so no statement of the transaction runs without it.
//! Refusals (a suspended tenant, say) then come from the first statement instead of from
//! [`AsyncTenancy::transaction`]; a transaction with no statement sends its opening when it
//! commits. The cancellation guarantees above hold unchanged; a transaction dropped before its
//! first statement sent nothing and keeps its connection. The statements run on a shared
//! reference to the connection (diesel-async pipelines through `&AsyncPgConnection`), which is
//! why the query methods' bounds name `&'s AsyncPgConnection`. On the native context the opening
//! is, from a connection's second transaction on, the `BEGIN` that carries the entry in a
//! comment (extension 1.7, which also fails the statement behind a refused one: a refused
//! entry fails its `BEGIN`, which leaves no transaction to abort); otherwise `BEGIN` and the
//! prepared `SELECT WHERE tenancy_context.enter_block($1) IS NULL` (extension 1.5;
//! `CALL tenancy_context.enter($1)` before). Without pipelining, a connection's first
//! transaction opens with the prepared `SELECT WHERE tenancy_context.begin($1, $2) IS NULL`
//! (extension 1.3), which loads the extension's library, and the later ones with the
//! comment-carrying `BEGIN` (extension 1.6).

mod build;
mod owned;
mod pipeline;
mod pool;
mod shorthands;
mod statements;
mod system;
mod tenancy;
mod tenant_tx;
mod writes;

pub use build::AsyncTransactionBuilder;
pub use owned::OwnedTenantTx;
pub use pool::PoolError;
pub use system::AsyncSystemConn;
pub use tenancy::{AsyncTenancy, AsyncTenancyBuilder};
pub use tenant_tx::AsyncTenantTx;
pub use writes::{
    AsyncDelete, AsyncDoUpdate, AsyncInsert, AsyncInsertInto, AsyncOnConflict, AsyncUpdate,
    AsyncUpdateSet, AsyncUpsert,
};
