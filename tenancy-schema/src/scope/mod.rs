//! How queries get their tenant filter.
//!
//! This module, the `scope/` folder, is the only place that touches Diesel internals
//! (`diesel::internal::*` and the third-party-backend API): Diesel is pinned to one minor
//! version in the workspace manifest, and an upgrade only needs to revisit this folder.
//!
//! # How a `SELECT` is scoped
//!
//! Diesel does not let a library rewrite a query's `WHERE` or `ON` clause (both are private),
//! and appending `AND tenant_id = $1` at the top level would be wrong twice over: a raw SQL
//! fragment with a top-level `OR` would bind tighter than our predicate, and on a `LEFT JOIN`
//! the predicate would turn the join into an inner one. So the filter is attached to the
//! *relations* instead. For every tenant-scoped table found by walking the `FROM` clause type
//! ([`TenantSource`]), the statement is prefixed with a shadowing common table expression:
//!
//! ```sql
//! WITH "posts" AS NOT MATERIALIZED (SELECT * FROM "posts" WHERE "posts"."tenant_id" = $1)
//! SELECT ... FROM "posts" LEFT OUTER JOIN ... WHERE <the user's clause, untouched>
//! ```
//!
//! Inside a non-recursive `WITH` the CTE's own name still means the base table; everywhere
//! else in the statement (joins, aliases, sub-queries) `"posts"` now means the tenant's rows.
//! `NOT MATERIALIZED` makes PostgreSQL inline it, so the plan is the one of a hand-written
//! `WHERE tenant_id = $1`: the predicate lands in the index condition of the scan, and for a
//! `LEFT JOIN` it restricts the joined side like an `ON` predicate would.
//!
//! A `SELECT` whose `FROM` clause is one table that the statement names nowhere else (no
//! join, sub-query or raw fragment on it), and whose filter only compares columns with
//! values, does without the CTE: the predicate follows the statement's own filter,
//! `WHERE (<filter>) AND "posts"."tenant_id" = $1`, which PostgreSQL
//! plans with less work (a CTE is copied, inlined and pulled up in every custom plan, and
//! Diesel's bound `LIMIT $n` makes every plan custom, but for a page's, which is written as a
//! number: `limit`). Only for statement types whose SQL is
//! fixed (no raw fragments), and only where the lexer confirms on the whole statement that
//! the filter is one parenthesised group; otherwise the CTE form is used.
//!
//! Every other tenant predicate (in a CTE, a write's or a locked derived table's) is written
//! with a guard behind it that PostgreSQL runs ahead of the statement's own filters
//! (`plan::push_tenant_predicate`), so no function of the caller's sees another tenant's row
//! before the predicate drops it. PostgreSQL orders a scan's filters by cost and keeps the
//! written order between filters of the same cost, so the guard is always written ahead of
//! the caller's filters: a filter that costs what the guard costs (a one-element `= ANY`)
//! runs behind it. A filter that only compares columns with values needs no guard, as a
//! comparison shows nothing of the row it is tested on (a row, `("a", "b")`, is no such
//! value: it compares as a record, which fails where the two sides' column types differ). So
//! the `SELECT` above goes without it, and so does a tenant `UPDATE` or `DELETE` whose filters
//! only compare and that reads no other tenant table (`checked::unguarded_write`): its `SET`
//! values and `RETURNING` list are computed only for the rows its whole `WHERE` clause passed.
//! A column of a type of the application's own (a composite, perhaps) counts as no such value
//! either (`crate::manifest` knows the types).
//!
//! Row locks (`FOR UPDATE`) do not apply to CTEs, so a locking query on a single table is
//! written with a derived table instead (`FROM (SELECT * FROM "posts" WHERE ...) AS "posts"`),
//! which PostgreSQL pulls up and locks. When the statement also names the locked table in a
//! sub-query, those uses are shadowed by the CTE as usual and the derived table names the
//! base table with its schema (`FROM "public"."posts"`), which a CTE never shadows; the
//! schema is resolved once, when the `Tenancy` is built. A locking query over a join is
//! refused with an error.

mod checked;
mod entry;
mod error;
mod first_bind;
mod global;
mod insert;
mod like;
mod limit;
mod named;
mod plan;
mod planner;
pub(crate) mod predicate;
mod reaching;
mod readers;
mod schemas;
pub(crate) mod scoped;
mod select;
mod single_insert;
mod traits;
mod write;

pub(crate) use checked::{WriteShape, tables_checked};
pub use entry::ScopeEntry;
pub use error::{LockingJoinError, LockingSelfReferenceError};
pub use first_bind::{Sent, TenantBind};
pub(crate) use global::refuse_tenant_tables;
pub use global::{Global, GlobalId};
pub use insert::{NotTenantColumn, OnConflict, TenantFreeValues, TenantInsert};
pub use limit::{INLINED_LIMIT_MAX, LimitForm, OrderForm};
pub(crate) use named::render;
pub use plan::ScopePlan;
pub use predicate::{AndThen, Paren, TenantEq, TenantParam};
pub(crate) use reaching::resolve as resolve_reaching;
pub(crate) use schemas::resolve as resolve_schemas;
pub use scoped::{ExistsId, Scoped, ScopedExists, ScopedId};
pub use single_insert::{InsertReturns, NoReturning, ReturningAll, SingleInsert, SingleInsertId};
pub use traits::{
    GlobalQuery, GlobalSource, GlobalTable, JoinKind, ScopedTable, TenantFind, TenantQuery,
    TenantSource,
};
pub(crate) use write::check_changeset;
pub use write::{WithScope, WithScopeId, WithScopeQuery};
