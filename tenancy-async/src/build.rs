//! A tenant transaction with options. The options are the core's own
//! (`TransactionOptions`), so the opening message is the one the synchronous builder sends.

use tenancy_schema::__private_v0_1::executor::TransactionOptions;
use tenancy_schema::{Error, PrincipalId, TenantId};

use crate::{AsyncTenancy, AsyncTenantTx, OwnedTenantTx};

/// Options for one async tenant transaction, from [`AsyncTenancy::build_transaction`];
/// [`run`](AsyncTransactionBuilder::run) opens it. See
/// [`tenancy_schema::TransactionBuilder`].
#[derive(Debug, Clone, Copy)]
#[must_use = "a transaction builder does nothing until `run`"]
pub struct AsyncTransactionBuilder<'t> {
    tenancy: &'t AsyncTenancy,
    tenant: TenantId,
    principal: Option<PrincipalId>,
    options: TransactionOptions,
}

impl<'t> AsyncTransactionBuilder<'t> {
    pub(crate) fn new(tenancy: &'t AsyncTenancy, tenant: TenantId) -> Self {
        Self {
            tenancy,
            tenant,
            principal: None,
            options: TransactionOptions::default(),
        }
    }

    /// The acting principal, exposed to SQL as `tenancy.current_principal()`.
    pub fn principal(mut self, principal: PrincipalId) -> Self {
        self.principal = Some(principal);
        self
    }

    /// `READ ONLY`: every write fails (SQLSTATE 25006).
    pub fn read_only(mut self) -> Self {
        self.options = self.options.read_only(true);
        self
    }

    /// Read and write, the default.
    pub fn read_write(mut self) -> Self {
        self.options = self.options.read_only(false);
        self
    }

    /// `ISOLATION LEVEL READ COMMITTED`, the default.
    pub fn read_committed(mut self) -> Self {
        self.options = self.options.read_committed();
        self
    }

    /// `ISOLATION LEVEL REPEATABLE READ`.
    pub fn repeatable_read(mut self) -> Self {
        self.options = self.options.repeatable_read();
        self
    }

    /// `ISOLATION LEVEL SERIALIZABLE`: retry on a serialization error (SQLSTATE 40001).
    pub fn serializable(mut self) -> Self {
        self.options = self.options.serializable();
        self
    }

    /// Runs `f` in the transaction, as [`AsyncTenancy::transaction`] does.
    ///
    /// # Errors
    /// As [`AsyncTenancy::transaction`].
    pub async fn run<T, E, F>(self, f: F) -> Result<T, E>
    where
        F: AsyncFnOnce(&mut AsyncTenantTx<'_>) -> Result<T, E>,
        E: From<Error>,
    {
        self.tenancy
            .run_tenant(self.options, self.tenant, self.principal, f)
            .await
    }

    /// Opens the transaction and returns it as a value, as [`AsyncTenancy::begin`] does.
    ///
    /// # Errors
    /// As [`AsyncTenancy::begin`].
    pub async fn begin(self) -> Result<OwnedTenantTx, Error> {
        OwnedTenantTx::open(self.tenancy, self.options, self.tenant, self.principal).await
    }
}
