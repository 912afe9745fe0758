//! Tenant transactions, the system connection and the admin escape hatch.
//!
//! One concept per file: the pools and entry points ([`Tenancy`]), how they are configured
//! and built, how a transaction starts and ends, and the three kinds of connection handed to
//! callers. Only the public types are re-exported; the rest stays inside `tx`.

mod admin_audit;
mod build;
mod builder;
mod config;
mod insert_into;
mod lifecycle;
mod pool_settings;
mod raw_sql;
mod role_name;
mod sessions;
mod system;
mod tenancy;
mod tenant_rows_declared_global;
mod tenant_tx;
mod writes;

pub use admin_audit::{AdminAudit, AdminUse};
pub use build::{TransactionBuilder, TransactionOptions};
pub use builder::TenancyBuilder;
pub use config::{TenancyConfig, checks_tenant_status, has_admin_audit};
pub use insert_into::{
    ColumnTuple, ConflictTarget, InsertInto, InsertRows, ManyRows, OneColumn, OneRow,
    ScopedDoUpdate, ScopedInsert, ScopedOnConflict, ScopedUpsert, conflict_columns,
};
pub use lifecycle::{
    Begin, ConnectionState, SessionEnd, admin_setup_sql, begin_failure, begin_with, end_sql,
    is_connection_loss, lost_idle_connection, reset_after_commit, setup_sql,
};
pub use pool_settings::check_pool_settings;
pub use raw_sql::{RawSql, UntypedSql, raw_global_sql_only, raw_sql_only};
pub use role_name::RoleName;
pub use sessions::{INSPECT_SESSION_SQL, SessionState};
pub use system::{SystemConn, check_global};
pub use tenancy::{
    PgPool, Tenancy, admin_direct, context_entry, context_key, control_plane, log_admin_use,
    record_admin_use,
};
pub use tenant_tx::{TenantTx, insert_statement, single_insert_statement, upsert_statement};
pub use writes::{
    OrFilterOnTenantWrite, ScopedDelete, ScopedUpdate, ScopedUpdateSet, UpdateOf, delete_statement,
    update_statement,
};
