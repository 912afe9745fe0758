//! A tenant transaction with options, in the style of Diesel's `build_transaction()`: the
//! isolation level and access mode go into the `BEGIN` that opens the transaction, in the
//! same message as the context, so they cost no round trip.

use super::{Tenancy, TenantTx};
use crate::{Error, PrincipalId, TenantId};

/// The isolation level of a tenant transaction (PostgreSQL's default is read committed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isolation {
    ReadCommitted,
    RepeatableRead,
    Serializable,
}

/// Options for one tenant transaction, from [`Tenancy::build_transaction`]; [`run`] opens it.
///
/// ```no_run
/// # fn demo(tenancy: &tenancy_schema::Tenancy, tenant: tenancy_schema::TenantId,
/// #         principal: tenancy_schema::PrincipalId) -> Result<(), tenancy_schema::Error> {
/// let acting = tenancy
///     .build_transaction(tenant)
///     .principal(principal)
///     .read_only()
///     .serializable()
///     .run(|tx| Ok::<_, tenancy_schema::Error>(tx.principal()))?;
/// assert_eq!(acting, Some(principal));
/// # Ok(()) }
/// ```
///
/// [`run`]: TransactionBuilder::run
#[derive(Debug, Clone, Copy)]
#[must_use = "a transaction builder does nothing until `run`"]
pub struct TransactionBuilder<'t> {
    tenancy: &'t Tenancy,
    tenant: TenantId,
    principal: Option<PrincipalId>,
    options: TransactionOptions,
}

/// The options of a tenant transaction that shape the message opening it: shared by every
/// executor (the synchronous [`TransactionBuilder`] and the async one built on tenancy), so
/// that both send the same SQL. Not public API: reached through `__private_v0_1`.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransactionOptions {
    isolation: Option<Isolation>,
    read_only: Option<bool>,
}

impl TransactionOptions {
    /// `READ ONLY` (`true`) or read and write (`false`).
    #[must_use]
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = Some(read_only);
        self
    }

    /// `ISOLATION LEVEL READ COMMITTED`.
    #[must_use]
    pub fn read_committed(mut self) -> Self {
        self.isolation = Some(Isolation::ReadCommitted);
        self
    }

    /// `ISOLATION LEVEL REPEATABLE READ`.
    #[must_use]
    pub fn repeatable_read(mut self) -> Self {
        self.isolation = Some(Isolation::RepeatableRead);
        self
    }

    /// `ISOLATION LEVEL SERIALIZABLE`.
    #[must_use]
    pub fn serializable(mut self) -> Self {
        self.isolation = Some(Isolation::Serializable);
        self
    }

    /// The statement that opens the transaction.
    #[must_use]
    pub fn begin_sql(&self) -> String {
        begin_sql(self.isolation)
    }

    /// Whether the transaction is to be read only.
    #[must_use]
    pub fn is_read_only(&self) -> bool {
        self.read_only == Some(true)
    }
}

impl Tenancy {
    /// A tenant transaction with options: an acting principal, the isolation level, read
    /// only. `tenancy.build_transaction(t).run(f)` is [`Tenancy::transaction`].
    pub fn build_transaction(&self, tenant: TenantId) -> TransactionBuilder<'_> {
        TransactionBuilder {
            tenancy: self,
            tenant,
            principal: None,
            options: TransactionOptions::default(),
        }
    }
}

impl TransactionBuilder<'_> {
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

    /// Read and write, the default (undoes [`TransactionBuilder::read_only`]).
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

    /// `ISOLATION LEVEL SERIALIZABLE`: a transaction may then fail with a serialization
    /// error (SQLSTATE 40001) and should be retried.
    pub fn serializable(mut self) -> Self {
        self.options = self.options.serializable();
        self
    }

    /// Runs `f` in the transaction, as [`Tenancy::transaction`] does.
    ///
    /// # Errors
    /// As [`Tenancy::transaction`].
    pub fn run<T, E, F>(self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut TenantTx<'_>) -> Result<T, E>,
        E: From<Error>,
    {
        self.tenancy.run_tenant(
            (&self.options.begin_sql(), self.options.is_read_only()),
            self.tenant,
            self.principal,
            f,
        )
    }
}

/// The `BEGIN` statement for an isolation level (none: the server's default). The isolation
/// level must be set before the transaction's first query, which is the context entry.
fn begin_sql(isolation: Option<Isolation>) -> String {
    match isolation {
        None => super::lifecycle::PLAIN_BEGIN.to_owned(),
        Some(Isolation::ReadCommitted) => "BEGIN ISOLATION LEVEL READ COMMITTED".to_owned(),
        Some(Isolation::RepeatableRead) => "BEGIN ISOLATION LEVEL REPEATABLE READ".to_owned(),
        Some(Isolation::Serializable) => "BEGIN ISOLATION LEVEL SERIALIZABLE".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::{Isolation, TransactionOptions, begin_sql};

    #[test]
    fn begin_statement_carries_the_options() {
        assert_eq!(begin_sql(None), "BEGIN");
        assert_eq!(
            begin_sql(Some(Isolation::Serializable)),
            "BEGIN ISOLATION LEVEL SERIALIZABLE"
        );
        assert_eq!(
            begin_sql(Some(Isolation::RepeatableRead)),
            "BEGIN ISOLATION LEVEL REPEATABLE READ"
        );
        assert!(TransactionOptions::default().read_only(true).is_read_only());
        assert!(
            !TransactionOptions::default()
                .read_only(false)
                .is_read_only()
        );
        assert!(!TransactionOptions::default().is_read_only());
    }
}
