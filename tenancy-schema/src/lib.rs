//! Multi-tenant isolation for Diesel + PostgreSQL: tenant scoping checked at compile time,
//! row level security behind it.
//!
//! ```no_run
//! use diesel::prelude::*;
//! use tenancy_schema::{Tenancy, TenantId};
//!
//! #[tenancy_schema::tenant_scoped(unique(slug))]
//! diesel::table! {
//!     posts (id) {            // becomes `posts (tenant_id, id)` with `tenant_id -> Uuid`
//!         id -> Int4,
//!         slug -> Text,
//!     }
//! }
//!
//! # fn main() -> Result<(), tenancy_schema::Error> {
//! let tenancy = Tenancy::connect(&std::env::var("DATABASE_URL").unwrap_or_default(), 4)?;
//! let tenant = TenantId::new_v7();
//! let slugs: Vec<String> = tenancy.transaction(tenant, |tx| {
//!     tx.insert(posts::table, (posts::id.eq(1), posts::slug.eq("hello")))?;
//!     // Every tenant-scoped table in FROM is restricted to `tenant`, whatever the WHERE says.
//!     tx.load(posts::table.or_filter(posts::id.gt(0)).select(posts::slug))
//! })?;
//! # let _ = slugs; Ok(()) }
//! ```
//!
//! `examples/quickstart.rs` runs the same end to end on a throwaway PostgreSQL cluster
//! (`cargo run -p tenancy-schema --example quickstart`). The README lists what is checked at
//! compile time and what only row level security catches.

mod error;
mod guard;
mod id;
mod manifest;
pub mod scope;
mod tx;

pub mod embedded;

pub use error::{Error, Result};
pub use id::{ParseIdError, PrincipalId, TenantId};
pub use manifest::{ForeignKey, TableKind, TableManifest, lookup, registry};
pub use scope::{Scoped, TenantFind};
/// Classifies a Diesel `table!` as tenant-scoped, or marks a model struct of one.
///
/// On a table: adds `tenant_id -> Uuid` and makes the primary key `(tenant_id, <key>)` when
/// the column is missing (print-schema output that has both is kept as is), and generates the
/// impls through which tenant transactions scope it. Options: `index(col, ...)`,
/// `unique(col, ...)` (both led by `tenant_id`), `foreign_key(col -> table)`,
/// `tenant_column = name`. On a struct (placed above `#[derive]`): a read model
/// (`Queryable`/`Selectable`) gains `pub tenant_id: TenantId`; a write model
/// (`Insertable`/`AsChangeset`) that declares `tenant_id` is a compile error.
pub use tenancy_macros::tenant_scoped;

/// Classifies a Diesel `table!` as global: it holds no tenant data, and only the system
/// connection ([`Tenancy::system`]) or a tenant transaction's joins may use it.
pub use tenancy_macros::global_table;
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
