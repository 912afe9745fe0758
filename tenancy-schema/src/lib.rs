//! Multi-tenant isolation for Diesel + PostgreSQL.
//!
//! (Crate documentation is completed below.)

mod error;
mod id;
mod manifest;
pub mod scope;
mod tx;
mod guard;

pub mod embedded;

pub use error::{Error, Result};
pub use id::{ParseIdError, PrincipalId, TenantId};
pub use manifest::{ForeignKey, TableKind, TableManifest, lookup, registry};
pub use scope::{Scoped, TenantFind};
pub use tenancy_macros::{global_table, tenant_scoped};
pub use tx::{
    AdminConn, PgPool, RawSql, ScopedDelete, ScopedUpdate, ScopedUpdateSet, SystemConn, Tenancy,
    TenancyConfig, TenantTx,
};

/// Re-exports for generated code. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::manifest::Registration;
    pub use crate::scope::{
        GlobalSource, GlobalTable, NotTenantColumn, ScopeEntry, ScopedTable, TenantFind,
        TenantSource,
    };
    pub use crate::{ForeignKey, TableKind, TableManifest, TenantId};
    pub use diesel;
    pub use inventory;
}
