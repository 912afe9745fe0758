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
//! // The application's login (a member of `tenancy_app` only) and a separate admin login.
//! let tenancy = Tenancy::builder(&std::env::var("APP_DATABASE_URL").unwrap_or_default())
//!     .admin_url(&std::env::var("ADMIN_DATABASE_URL").unwrap_or_default())
//!     .max_size(4)
//!     .build()?;
//! let tenant = TenantId::new_v7();
//! let slugs: Vec<String> = tenancy.transaction(tenant, |tx| {
//!     tx.insert_into(posts::table).values((posts::id.eq(1), posts::slug.eq("hello"))).execute()?;
//!     // Every tenant-scoped table in FROM is restricted to `tenant`, whatever the WHERE says.
//!     tx.load(posts::table.or_filter(posts::id.gt(0)).select(posts::slug))
//! })?;
//! # let _ = slugs; Ok(()) }
//! ```
//!
//! `examples/quickstart.rs` runs the same end to end on a throwaway PostgreSQL cluster
//! (`cargo run -p tenancy-schema --example quickstart`). The README lists what is checked at
//! compile time and what only row level security catches.
//!
//! # What is checked where
//!
//! Every query on a tenant-scoped table goes through a [`TenantTx`], which is not a
//! `diesel::Connection`: at compile time the types refuse unclassified tables, Diesel's own
//! statements and `.load(&mut tx)`, insert values carrying the tenant column and tenant tables on
//! the system connection; before a statement is sent, the rendered SQL is read for the tenant
//! tables its sub-queries and raw fragments name (each is scoped, or the statement refused with
//! [`Error::UnsafeSql`]); raw `sql_query` statements are left to row level security. The
//! README's guarantees table lists every path and which layer stops it.
//!
//! # How a statement is scoped
//!
//! Diesel keeps `WHERE` and `ON` private, and a top-level
//! `AND tenant_id = $1` is wrong twice: a raw fragment with a top-level `OR` binds looser than it, and
//! on a `LEFT JOIN` it turns the join into an inner one. Tenancy attaches the filter to the relations
//! instead, with one shadowing common table expression per tenant-scoped table the statement names
//! (found from the `FROM` type and, for sub-queries and raw fragments, from the rendered SQL):
//!
//! ```sql
//! WITH "posts" AS NOT MATERIALIZED (SELECT * FROM "posts" WHERE "posts"."tenant_id" = $1)
//! SELECT … FROM "posts" LEFT OUTER JOIN … WHERE <your clause, untouched>
//! ```
//!
//! PostgreSQL inlines `NOT MATERIALIZED` CTEs, so the plan is that of a hand-written
//! `WHERE tenant_id = $1`: the predicate lands in the index condition of each scan, and on the
//! nullable side of a `LEFT JOIN` it acts as an `ON` predicate. Aliases (`"posts" AS "p2"`) and
//! sub-queries naming the same table see the CTE too. `FOR UPDATE` does not lock through a CTE, so
//! a locking query on one table uses a derived table (`FROM (SELECT … WHERE tenant_id = $1) AS "posts"`)
//! instead; when a sub-query names the locked table too, the sub-query reads the CTE and the derived
//! table names the table with its schema (`FROM "public"."posts"`), which no CTE shadows (the schema
//! is looked up once, when the `Tenancy` is built). A `SELECT` whose tables (one, or an inner join)
//! are named nowhere but in `FROM` (the common case) writes a predicate per table into its own
//! `WHERE` clause instead:
//! `FROM "posts" WHERE (<your clause>) AND "posts"."tenant_id" = $3`. The plan is the same, and
//! PostgreSQL plans it with less work, which counts for every statement with `LIMIT $n`: Diesel binds
//! each `.limit(..)`, so PostgreSQL plans such a statement afresh at every execution. A page (an
//! `ORDER BY` with a `LIMIT` of at most [`scope::INLINED_LIMIT_MAX`] and no `OFFSET`) is spared
//! that: tenancy writes its limit as a number, and PostgreSQL keeps one plan for it. This form is
//! taken only where the SQL lexer confirms that your clause is one parenthesised group (as Diesel
//! writes its operators), so that nothing in it binds looser than the `AND`; anything else keeps the
//! CTE. `UPDATE` and `DELETE` go through tenancy's builders, which hold your predicate and write
//! `WHERE "posts"."tenant_id" = $1 AND (<predicate>)` behind the same CTEs (the target of a write is
//! always the table itself, so a write shadows its own table only where a sub-query names it
//! again). Inserts and upserts write the tenant column themselves, and an upsert's
//! conflict target is always `(tenant_id, <column>)`.
//!
//! Each tenant predicate above is written with a guard behind it,
//! `"posts"."tenant_id" = $1 AND CASE WHEN "posts"."tenant_id" = ANY (ARRAY[$1]) THEN 1 END IS NOT NULL`.
//! PostgreSQL orders the filters of a scan by estimated cost and puts the equality after
//! filters as cheap as itself, so a function in your filter (`set_config`, `to_date`) would
//! otherwise run on other tenants' rows of a table read sequentially, and show them in its
//! value or its error. The guard costs half a comparison, less than any function PostgreSQL
//! ships, so it runs first; it is no index condition and leaves the row estimates alone. A
//! `SELECT` from one table with no join or `HAVING`, whose filter (if it has one) only compares
//! columns with values (`eq`, `lt`, `eq_any`, `is_null`, `between`, joined by `and`, `or` and
//! `not`) goes without it: a comparison tested on another tenant's row yields a boolean the
//! equality then discards, and shows nothing of the row.
//!
//! # Transactions
//!
//! One message opens a transaction: `BEGIN; SELECT tenancy.enter(tenant,
//! principal, counter, mac, check_status)`. The MAC is an HMAC-SHA256, under a key the application
//! holds and the application login cannot read, over the connection's session number (from
//! `tenancy.open_session()` when the pool opens it), a counter that only grows, the tenant and the
//! principal; `enter` refuses anything else, records the context where only it can write, and asks
//! the tenant status hook in the same statement whether the tenant may open one. The hook,
//! `tenancy.tenant_refusal(tenant uuid) RETURNS TABLE (refusal text)`, refuses nothing in the core
//! (which knows no table of tenants); the foundation schema's migrations replace it with one that
//! reads `tenants`, and an application with a table of tenants of its own replaces it in a
//! migration of its own (`'unknown'` or `'deleted'` become [`Error::TenantNotFound`],
//! `'suspended'` [`Error::TenantSuspended`]; keep it a non-strict, `STABLE`, `LANGUAGE sql`
//! function without `SECURITY DEFINER` or `SET`, so that the planner inlines it, and comment it
//! `tenancy: reviewed`: it runs with the migrations' rights, and `tenancy check` reports a
//! version it does not know, TEN072). The closure's `Ok` commits, and `Err`
//! or a panic rolls back (an `Ok` after a statement failed, its error set aside, is
//! [`Error::AbortedTransaction`]: PostgreSQL had aborted the transaction and rolls it back); the message that ends the transaction also resets the session (`RESET ALL;
//! RESET ROLE; DISCARD TEMP`, advisory locks released), so nothing SQL changed reaches the next checkout. Where the database
//! owner switched on the native context (the `tenancy_context` extension, `extension/` in the
//! repository, ADR 0004), the pool opens the transaction and enters it instead with one prepared
//! statement, `tenancy_context.begin(..)` (`BEGIN ISOLATION LEVEL ..; CALL tenancy_context.enter(..)`
//! for a transaction with an isolation level), and the
//! extension refuses to commit any session-level change on the connection, so the transaction ends
//! with a bare `COMMIT`. A connection whose
//! set-up or end failed is discarded; one the server dropped while idle fails its `BEGIN` and the next
//! is tried, so no checkout pays a ping. `Tenancy::inspect_sessions()` reports what every pooled
//! connection carries. [ADR 0002](docs/adr/0002-sealed-tenant-context.md) has the design and what it
//! does not cover: a process that holds the key (the application, or anyone who reads its
//! configuration or the admin login's) can open any tenant's context; raw SQL still reads and writes
//! its own tenant's rows.
//!
//! # The escape hatch
//!
//! `tenancy.admin("reason", |conn| …)` is the one way across tenants: it runs as
//! `tenancy_admin` (BYPASSRLS) on a plain Diesel connection of its own login and pool
//! (`TenancyBuilder::admin_url`; without one it is `Error::AdminNotConfigured`, it never borrows the
//! tenant pool) and logs a `tracing` warning (target `tenancy::admin`) with the reason and the
//! caller's file and line. Grep for `.admin(` to audit it. The control plane's own calls on the
//! admin login (creating tenants and users, invitations) are not your escape hatch: they log at
//! debug level on `tenancy::control` and audit themselves as control-plane actions.
//!
//! # Async
//!
//! Scoping lives in query-fragment types (`tenancy_schema::Scoped`) that any PostgreSQL
//! Diesel connection can execute. The `tenancy-async` crate runs the same statements on
//! diesel-async (`AsyncTenancy`, `AsyncTenantTx` with the same methods, awaited); the way
//! queries are written does not change.
//!
//! # Classifying `diesel print-schema` output
//!
//! `#[tenant_scoped]` accepts print-schema's output as is: a table that already has
//! `tenant_id` and a `(tenant_id, id)` key keeps them, and the attribute only adds the impls.
//! `tenancy print-schema` writes the attributes: it runs `diesel print-schema` (honouring
//! diesel.toml, with `custom_type_derives = ["diesel::query_builder::QueryId"]`) and puts on
//! each table the attribute the database implies (a table with the tenant column is
//! tenant-scoped, with its indexes, unique keys and composite foreign keys; any other is
//! global). Run it after `diesel migration run`, which regenerates the file unclassified.
//!
//! This repository does exactly that: `tenancy-foundation/src/schema.rs` is `tenancy
//! print-schema`'s output. `tenancy-tests/tests/migrations.rs` fails when it drifts from the
//! migrations, twice over: it compares every classified table's columns, Diesel types,
//! nullability, keys, indexes and foreign keys with the catalog of a freshly migrated
//! database, and, with the diesel CLI installed (`.ci/run` installs it), compares what
//! `tenancy print-schema` writes with the file byte for byte. To change the schema: add a
//! migration, run `diesel migration run` and `tenancy print-schema`, commit `schema.rs`.
//!
//! A scoped table's key leads with `tenant_id`, so `joinable!` (which assumes a one-column key)
//! does not apply: join with an explicit `.on(child::parent_id.eq(parent::id))`. The tenant
//! scoping keeps both sides in the tenant.
//!
//! # Roles
//!
//! | Role | Attributes | Used for |
//! |---|---|---|
//! | `tenancy_app` | NOLOGIN, NOSUPERUSER, NOBYPASSRLS, owns nothing | the privileges of tenant transactions and the system connection: DML on tenant tables, SELECT + INSERT on `audit_log`, nothing on `users`, no TEMPORARY |
//! | `tenancy_admin` | NOLOGIN, BYPASSRLS | `Tenancy::admin` only: control plane (creating tenants and users) and cross-tenant jobs; reads the context key |
//! | your application login | LOGIN, INHERIT, member of `tenancy_app` only (`CREATE ROLE app_login LOGIN INHERIT; GRANT tenancy_app TO app_login`) | the tenant pool |
//! | your admin login | LOGIN, member of `tenancy_admin` (`GRANT tenancy_admin TO admin_login`) | the admin pool (`TenancyBuilder::admin_url`) |
//!
//! Admin transactions switch to `tenancy_admin` with `SET LOCAL ROLE`, unless the admin login
//! bypasses row level security by itself (`CREATE ROLE admin_login LOGIN BYPASSRLS INHERIT IN
//! ROLE tenancy_admin`): then they need no role switch, which is what Citus needs (its worker
//! connections log in as the role a `SET ROLE` names, and `tenancy_admin` cannot log in).
//!
//! The migrations create the first two (see above); the logins are yours to create. When a
//! `Tenancy` is built it checks them against `pg_roles` and `pg_auth_members`: the application login
//! must inherit `tenancy_app` and must not be able to become, directly or through any chain of
//! memberships, a superuser, a BYPASSRLS role, a table owner, the owner of a schema holding tables
//! under row level security (which may drop them and put its own there), the owner of tenancy's
//! schema or of a function in it (which may replace `tenancy.current_tenant()`, the reader every
//! policy calls), a CREATEROLE role (which can grant
//! itself any of those), a REPLICATION role (logical decoding reads every change to every table,
//! past every privilege and policy), a role holding another `WITH ADMIN OPTION` (which it may
//! grant to, or take from, any role of the cluster), a predefined role with access to the server's files or shell
//! (`pg_read_server_files`, `pg_write_server_files`, `pg_execute_server_program`) or granted
//! one of their functions (`pg_read_file`, `pg_read_binary_file`, `lo_import`, `lo_export`,
//! adminpack's `pg_file_*`, dblink's `dblink_connect_u`; a table's data file holds every
//! tenant's rows, unfiltered, and `PUBLIC` counts), a role with
//! any privilege on `tenancy.context_key` (`pg_read_all_data` and `pg_write_all_data` included:
//! reading the key seals any tenant's context, writing it puts in a known key) or a role with
//! `TRUNCATE` or `TRIGGER` on a table under row level security, which governs neither, or a role
//! that may create temporary tables (`TEMPORARY` on the database: a temporary table outlives the
//! transaction and shadows the tenant table of its name for whichever tenant next uses the pooled
//! connection; the migrations revoke it from `PUBLIC`). Nor may its sessions start with
//! `session_replication_role = replica`, or be allowed to set it: no foreign key is checked
//! there, and the composite `(tenant_id, ..)` keys are what stops a row pointing into another
//! tenant. Nor may it, a role it can become or `PUBLIC` hold `ALTER SYSTEM` on any setting (a
//! reload applies the change to every session, and `archive_command` runs a program as the
//! server's operating system user), or read other roles' credentials (`pg_authid.rolpassword`,
//! `pg_user_mapping.umoptions`, `pg_subscription.subconninfo`: a way in as a superuser). The
//! admin login must be another login
//! that can become `tenancy_admin`. Anything else is `Error::UnsafeRole`, naming the role, the path
//! and the fix, and `tenancy check` reports it as TEN065. Both role names are configurable
//! (`TenancyConfig::app_role`, `admin_role`). The context key is read through the admin login when
//! the `Tenancy` is built; without one, give it with `TenancyBuilder::context_key` or
//! `TENANCY_CONTEXT_KEY` (`SELECT encode(key, 'hex') FROM tenancy.context_key`, as the owner).

// Generated code names `::tenancy_schema`, also inside this crate (its tests' models).
extern crate self as tenancy_schema;

#[cfg(feature = "check")]
pub mod check;
mod context;
mod error;
mod guard;
mod id;
mod manifest;
pub mod migrations;
mod optional;
pub mod policy;
mod roles;
pub mod scope;
mod session;
mod sql_lexer;
mod tx;

pub use context::ContextKey;
pub use error::{Error, Result};
pub use id::{ParseIdError, PrincipalId, TenantId, TypedId};
pub use manifest::{
    ClassificationConflict, ForeignKey, TableKind, TableManifest,
    conflicts as classification_conflicts, lookup, registry,
};
pub use migrations::run_migrations;
pub use optional::OptionalExt;
pub use scope::{Scoped, TenantFind};
pub use sql_lexer::SqlTextError;
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
    AdminAudit, AdminUse, ColumnTuple, ConflictTarget, InsertInto, InsertRows, ManyRows, OneColumn,
    OneRow, OrFilterOnTenantWrite, PgPool, RawSql, RoleName, ScopedDelete, ScopedDoUpdate,
    ScopedInsert, ScopedOnConflict, ScopedUpdate, ScopedUpdateSet, ScopedUpsert, SessionState,
    SystemConn, Tenancy, TenancyBuilder, TenancyConfig, TenantTx, TransactionBuilder, UntypedSql,
};

/// Re-exports for generated code. Not public API; versioned with the macro crate (which is
/// pinned with `=`), so code generated by one version never compiles against another.
#[doc(hidden)]
pub mod __private_v0_1 {
    pub use crate::id::parse_prefixed;
    pub use crate::manifest::Registration;
    pub use crate::scope::{
        GlobalSource, GlobalTable, JoinKind, NotTenantColumn, ScopeEntry, ScopedTable, TenantFind,
        TenantSource,
    };
    pub use crate::tx::control_plane;
    pub use crate::{ForeignKey, TableKind, TableManifest, TenantId};

    /// What another executor of tenant transactions (`tenancy-async`) shares with the
    /// synchronous one, so that there is one copy of the scoping code and of the SQL that
    /// opens and ends a transaction.
    pub mod executor {
        pub use crate::context::{
            ContextEntry, EnterBlockStatement, EnterStatement, OpenStatement,
        };
        pub use crate::scope::predicate::{and_filter, tenant_filter, tenant_predicate};
        pub use crate::scope::scoped::{scope_exists, scope_query};
        pub use crate::scope::{
            AndThen, NoReturning, OnConflict, Paren, ReturningAll, SingleInsert, TenantEq,
            TenantInsert, TenantParam, WithScope,
        };
        pub use crate::tx::{
            Begin, ConnectionState, INSPECT_SESSION_SQL, SessionEnd, TransactionOptions, UpdateOf,
            admin_direct, admin_setup_sql, begin_failure, begin_with, check_global,
            check_pool_settings, checks_tenant_status, conflict_columns, context_entry,
            context_key, delete_statement, end_sql, has_admin_audit, insert_statement,
            is_connection_loss, log_admin_use, lost_idle_connection, raw_global_sql_only,
            raw_sql_only, record_admin_use, reset_after_commit, setup_sql, single_insert_statement,
            update_statement, upsert_statement,
        };
    }
    pub use diesel;
    pub use inventory;
    pub use serde;
    pub use uuid;
}
