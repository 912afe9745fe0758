//! What a tenant transaction executes for a read: the query with its plan attached, as an
//! ordinary Diesel query, so that any connection type speaking PostgreSQL can run it.

use std::marker::PhantomData;

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::Bool;
use diesel::{QueryResult, RunQueryDsl};

use super::first_bind::{Sent, Statement, TenantBind, walk_sent};
use super::plan::ScopePlan;
use super::planner::plan;
use super::traits::TenantQuery;

/// A query with its tenant attached; what a tenant transaction actually executes.
///
/// It is an ordinary Diesel query fragment, so any Diesel connection type that speaks
/// PostgreSQL (including an async one) can run it.
#[derive(Debug, Clone)]
#[must_use = "a scoped query does nothing until a tenant transaction runs it"]
pub struct Scoped<Q> {
    query: Q,
    plan: ScopePlan,
    bind: TenantBind,
    /// The text the plan was checked on, sent as it is ([`super::first_bind`]).
    sent: Sent,
}

impl<Q: TenantQuery> Scoped<Q> {
    /// Attaches `tenant` to `query`, after finding every tenant-scoped table it names.
    pub(crate) fn new(query: Q, tenant: crate::TenantId) -> QueryResult<Self> {
        let (plan, sent) = plan(&query, *tenant.as_uuid())?;
        Ok(Self {
            query,
            bind: TenantBind::new(plan.tenant),
            plan,
            sent,
        })
    }
}

/// `query` scoped to `tenant`: what every executor runs for a tenant read. Shared through
/// `tenancy_schema::__private_v0_1`; `Scoped` itself keeps no public constructor.
///
/// # Errors
/// As [`crate::TenantTx::scope`].
#[doc(hidden)]
pub fn scope_query<Q: TenantQuery>(query: Q, tenant: crate::TenantId) -> crate::Result<Scoped<Q>> {
    Scoped::new(query, tenant).map_err(crate::Error::from)
}

/// `SELECT EXISTS (<query scoped to tenant>)`. Shared like [`scope_query`].
///
/// # Errors
/// As [`scope_query`].
#[doc(hidden)]
pub fn scope_exists<Q: TenantQuery>(
    query: Q,
    tenant: crate::TenantId,
) -> crate::Result<ScopedExists<Q>> {
    ScopedExists::new(query, tenant).map_err(crate::Error::from)
}

#[doc(hidden)]
pub struct ScopedId<T>(PhantomData<T>);
#[doc(hidden)]
pub struct ExistsId<T>(PhantomData<T>);

impl<Q: TenantQuery> Query for Scoped<Q> {
    type SqlType = Q::SqlType;
}

impl<Q: TenantQuery> QueryId for Scoped<Q> {
    type QueryId = ScopedId<Q::QueryId>;
    // A limit written as a number changes the text with its value.
    const HAS_STATIC_QUERY_ID: bool = Q::HAS_STATIC_QUERY_ID && !Q::INLINES_LIMIT;
}

impl<Q: TenantQuery> QueryFragment<Pg> for Scoped<Q> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        walk_sent(&self.bind, &self.sent, self, out)
    }
}

impl<Q: TenantQuery> Statement for Scoped<Q> {
    fn walk_statement<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.query.walk_scoped(&self.plan, out)
    }
}

impl<Q, Conn> RunQueryDsl<Conn> for Scoped<Q> {}

/// `SELECT EXISTS (<scoped query>)`.
#[derive(Debug, Clone)]
#[must_use = "a scoped query does nothing until a tenant transaction runs it"]
pub struct ScopedExists<Q>(Scoped<Q>);

impl<Q: TenantQuery> ScopedExists<Q> {
    pub(crate) fn new(query: Q, tenant: crate::TenantId) -> QueryResult<Self> {
        Ok(Self(Scoped::new(query, tenant)?))
    }
}

impl<Q: TenantQuery> Query for ScopedExists<Q> {
    type SqlType = Bool;
}

impl<Q: TenantQuery> QueryId for ScopedExists<Q> {
    type QueryId = ExistsId<Q::QueryId>;
    const HAS_STATIC_QUERY_ID: bool = Q::HAS_STATIC_QUERY_ID && !Q::INLINES_LIMIT;
}

impl<Q: TenantQuery> QueryFragment<Pg> for ScopedExists<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("SELECT EXISTS (");
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(")");
        Ok(())
    }
}

impl<Q, Conn> RunQueryDsl<Conn> for ScopedExists<Q> {}
