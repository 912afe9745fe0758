//! A tenant transaction that is a value rather than a closure, for code whose transaction has
//! to outlive one call: a web framework's layer that begins it for a handler and ends it once
//! the response is known.
//!
//! It opens and ends exactly as [`AsyncTenancy::transaction`] does (the same message, the same
//! in-flight mark), so dropping it without [`OwnedTenantTx::commit`] or
//! [`OwnedTenantTx::rollback`] (a request cancelled, a panic) hands the pool a connection that
//! is still marked, and the pool closes it instead of keeping it.

use tenancy_schema::__private_v0_1::executor::TransactionOptions;
use tenancy_schema::{Error, PrincipalId, TenantId};

use crate::tenancy::{Pooled, end_transaction};
use crate::{AsyncTenancy, AsyncTenantTx};

/// An open tenant transaction that owns its pooled connection, from [`AsyncTenancy::begin`]
/// or [`crate::AsyncTransactionBuilder::begin`].
///
/// Queries go through [`OwnedTenantTx::tx`], which lends the same [`AsyncTenantTx`] the
/// closure API passes. End it with [`OwnedTenantTx::commit`] or [`OwnedTenantTx::rollback`];
/// dropped otherwise, its connection is closed and PostgreSQL rolls the transaction back.
#[must_use = "an open transaction is rolled back (and its connection closed) unless committed"]
pub struct OwnedTenantTx {
    conn: Pooled<'static>,
    tenant: TenantId,
    principal: Option<PrincipalId>,
}

impl std::fmt::Debug for OwnedTenantTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnedTenantTx")
            .field("tenant", &self.tenant)
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

impl OwnedTenantTx {
    pub(crate) async fn open(
        tenancy: &AsyncTenancy,
        options: TransactionOptions,
        tenant: TenantId,
        principal: Option<PrincipalId>,
    ) -> Result<Self, Error> {
        let conn = tenancy.open_tenant(options, tenant, principal).await?;
        Ok(Self {
            conn,
            tenant,
            principal,
        })
    }

    /// The tenant this transaction is bound to.
    #[must_use]
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// The acting principal, if one was given.
    #[must_use]
    pub fn principal(&self) -> Option<PrincipalId> {
        self.principal
    }

    /// The transaction's query methods (reads, writes, raw SQL), borrowed for as long as the
    /// returned value lives.
    pub fn tx(&mut self) -> AsyncTenantTx<'_> {
        AsyncTenantTx {
            conn: &mut self.conn,
            tenant: self.tenant,
            principal: self.principal,
        }
    }

    /// Commits, and resets the session in the same message; the connection goes back to the
    /// pool only once that succeeded.
    ///
    /// # Errors
    /// Database errors (a deferred constraint, a serialization failure, a statement cancelled
    /// by another session): nothing was committed, and the connection is closed. A connection
    /// lost while the `COMMIT` was on its way, or this future dropped after it was sent, leaves
    /// the outcome unknown, as with any client.
    pub async fn commit(mut self) -> Result<(), Error> {
        end_transaction(&mut self.conn, "COMMIT").await
    }

    /// Rolls back, and resets the session in the same message.
    ///
    /// # Errors
    /// Database errors; the transaction is rolled back all the same (the connection is closed).
    pub async fn rollback(mut self) -> Result<(), Error> {
        end_transaction(&mut self.conn, "ROLLBACK").await
    }
}

impl AsyncTenancy {
    /// Opens a transaction bound to `tenant` (acting as `principal`, if given) and returns it
    /// as a value, for code that cannot keep it inside one closure. The opening is
    /// [`AsyncTenancy::transaction`]'s, in one round trip.
    ///
    /// # Errors
    /// As [`AsyncTenancy::transaction`] when it opens: [`Error::TenantSuspended`],
    /// [`Error::TenantNotFound`], [`Error::Setup`], a [`crate::PoolError`] in
    /// [`Error::Component`].
    pub async fn begin(
        &self,
        tenant: TenantId,
        principal: Option<PrincipalId>,
    ) -> Result<OwnedTenantTx, Error> {
        OwnedTenantTx::open(self, TransactionOptions::default(), tenant, principal).await
    }
}
