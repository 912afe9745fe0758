//! Background jobs that carry their tenant.
//!
//! There is no ambient or thread-local tenant anywhere in tenancy, so a job that touches
//! tenant data must say whose data it is: a [`TenantJob`] holds the tenant (and optionally the
//! principal it acts for) next to its payload, and the only way to run it is
//! [`TenantJob::run`], which reopens a tenant transaction for that tenant. It serialises with
//! serde, so any queue can carry it.
//!
//! ```no_run
//! use tenancy_foundation::jobs::TenantJob;
//! # fn demo(tenancy: &tenancy_schema::Tenancy, tenant: tenancy_schema::TenantId)
//! #     -> Result<(), tenancy_schema::Error> {
//! let job = TenantJob::new(tenant, serde_json::json!({ "reindex": "prompts" }));
//! let wire = serde_json::to_string(&job).expect("serialise");   // enqueue `wire`
//! // ... later, in a worker:
//! let job: TenantJob<serde_json::Value> = serde_json::from_str(&wire).expect("deserialise");
//! job.run(tenancy, |tx, payload| {
//!     tx.execute(diesel::sql_query("SELECT 1")).map(|_| payload.clone())
//! })?;
//! # Ok(()) }
//! ```

use crate::{Error, PrincipalId, Tenancy, TenantId, TenantTx};

/// A unit of background work bound to one tenant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TenantJob<P> {
    tenant: TenantId,
    principal: Option<PrincipalId>,
    payload: P,
}

impl<P> TenantJob<P> {
    /// A job for `tenant`, run without an acting principal.
    #[must_use]
    pub fn new(tenant: TenantId, payload: P) -> Self {
        Self {
            tenant,
            principal: None,
            payload,
        }
    }

    /// A job for `tenant` acting as `principal` (its permissions, visibility and ACLs apply).
    #[must_use]
    pub fn acting_as(tenant: TenantId, principal: PrincipalId, payload: P) -> Self {
        Self {
            tenant,
            principal: Some(principal),
            payload,
        }
    }

    /// The tenant the job belongs to.
    #[must_use]
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// The principal it acts for, if any.
    #[must_use]
    pub fn principal(&self) -> Option<PrincipalId> {
        self.principal
    }

    /// The payload.
    #[must_use]
    pub fn payload(&self) -> &P {
        &self.payload
    }

    /// Runs `f` in a tenant transaction for the job's tenant (and principal); commits on
    /// `Ok`. A job of a suspended or deleted tenant does not run.
    ///
    /// # Errors
    /// What `f` returns, [`Error::TenantSuspended`] / [`Error::TenantNotFound`], or the
    /// transaction's own errors.
    pub fn run<T, E, F>(&self, tenancy: &Tenancy, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut TenantTx<'_>, &P) -> Result<T, E>,
        E: From<Error>,
    {
        let mut transaction = tenancy.build_transaction(self.tenant);
        if let Some(principal) = self.principal {
            transaction = transaction.principal(principal);
        }
        transaction.run(|tx| f(tx, &self.payload))
    }

    /// [`TenantJob::run`] on an async tenancy (feature `async`): the tenant travels in the job,
    /// so a job handed to `tokio::spawn` runs for its own tenant whatever task or thread picks
    /// it up; nothing is read from a task-local.
    ///
    /// # Errors
    /// As [`TenantJob::run`].
    #[cfg(feature = "async")]
    pub async fn run_async<T, E, F>(
        &self,
        tenancy: &tenancy_async::AsyncTenancy,
        f: F,
    ) -> Result<T, E>
    where
        F: AsyncFnOnce(&mut tenancy_async::AsyncTenantTx<'_>, &P) -> Result<T, E>,
        E: From<Error>,
    {
        let mut transaction = tenancy.build_transaction(self.tenant);
        if let Some(principal) = self.principal {
            transaction = transaction.principal(principal);
        }
        transaction.run(async |tx| f(tx, &self.payload).await).await
    }
}
