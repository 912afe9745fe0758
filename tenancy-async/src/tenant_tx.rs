//! The async tenant transaction. Like [`tenancy_schema::TenantTx`] it is not a connection:
//! every query passes through one of its methods, which scope it with the core's code and
//! only then hand it to diesel-async.

use diesel::ExpressionMethods;
use diesel::dsl::{Filter, Limit};
use diesel::expression::{AsExpression, Expression};
use diesel::query_dsl::methods::{FilterDsl, LimitDsl};
use diesel_async::methods::{ExecuteDsl, LoadQuery};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy_schema::__private_v0_1::executor::{raw_sql_only, scope_exists, scope_query};
use tenancy_schema::scope::{ScopedExists, TenantQuery};
use tenancy_schema::{PrincipalId, Result, Scoped, TenantId, UntypedSql};

use crate::pipeline::run_statement;
use crate::pool::SessionConn;

/// A transaction bound to one tenant, on an async connection.
///
/// It deliberately does not implement diesel-async's `AsyncConnection`: diesel-async's own
/// `.load(&mut tx)` would run a query without the tenant filter, and does not compile.
pub struct AsyncTenantTx<'c> {
    pub(crate) conn: &'c mut SessionConn,
    pub(crate) tenant: TenantId,
    pub(crate) principal: Option<PrincipalId>,
}

impl std::fmt::Debug for AsyncTenantTx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncTenantTx")
            .field("tenant", &self.tenant)
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

impl AsyncTenantTx<'_> {
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

    /// Wraps `query` with this transaction's tenant without running it, as
    /// [`tenancy_schema::TenantTx::scope`].
    ///
    /// # Errors
    /// As [`tenancy_schema::TenantTx::scope`].
    pub fn scope<Q: TenantQuery>(&self, query: Q) -> Result<Scoped<Q>> {
        scope_query(query, self.tenant)
    }

    /// Runs a `SELECT` and returns every row.
    ///
    /// # Errors
    /// As [`tenancy_schema::TenantTx::load`].
    pub async fn load<'q, 's, Q, U>(&'s mut self, query: Q) -> Result<Vec<U>>
    where
        Q: TenantQuery,
        Scoped<Q>: LoadQuery<'q, &'s AsyncPgConnection, U> + 'q,
        U: Send,
    {
        let scoped = self.scope(query)?;
        run_statement!(self.conn, |conn| scoped.load(conn))
    }

    /// Runs a `SELECT` and returns its first row, or `NotFound`.
    ///
    /// # Errors
    /// As [`tenancy_schema::TenantTx::get_result`].
    pub async fn get_result<'q, 's, Q, U>(&'s mut self, query: Q) -> Result<U>
    where
        Q: TenantQuery,
        Scoped<Q>: LoadQuery<'q, &'s AsyncPgConnection, U> + 'q,
        U: Send,
    {
        let scoped = self.scope(query)?;
        run_statement!(self.conn, |conn| scoped.get_result(conn))
    }

    /// Same as [`AsyncTenantTx::load`].
    ///
    /// # Errors
    /// As [`AsyncTenantTx::load`].
    pub async fn get_results<'q, 's, Q, U>(&'s mut self, query: Q) -> Result<Vec<U>>
    where
        Q: TenantQuery,
        Scoped<Q>: LoadQuery<'q, &'s AsyncPgConnection, U> + 'q,
        U: Send,
    {
        self.load(query).await
    }

    /// Adds `LIMIT 1` and returns the row, or `NotFound`.
    ///
    /// # Errors
    /// As [`AsyncTenantTx::get_result`].
    pub async fn first<'q, 's, Q, U>(&'s mut self, query: Q) -> Result<U>
    where
        Q: LimitDsl,
        Limit<Q>: TenantQuery,
        Scoped<Limit<Q>>: LoadQuery<'q, &'s AsyncPgConnection, U> + 'q,
        U: Send,
    {
        self.get_result(query.limit(1)).await
    }

    /// `SELECT COUNT(*)` of the scoped query.
    ///
    /// # Errors
    /// Database errors.
    pub async fn count<'q, 's, Q>(&'s mut self, query: Q) -> Result<i64>
    where
        Q: diesel::QueryDsl + diesel::query_dsl::methods::SelectDsl<diesel::dsl::CountStar>,
        diesel::dsl::Select<Q, diesel::dsl::CountStar>: TenantQuery,
        Scoped<diesel::dsl::Select<Q, diesel::dsl::CountStar>>:
            LoadQuery<'q, &'s AsyncPgConnection, i64> + 'q,
    {
        self.get_result(query.count()).await
    }

    /// Loads the row of `table` whose (non-tenant) primary key is `key`, or `NotFound` (also
    /// for another tenant's row).
    ///
    /// # Errors
    /// As [`AsyncTenantTx::first`].
    pub async fn find<'q, 's, T, K, U>(&'s mut self, table: T, key: K) -> Result<U>
    where
        T: tenancy_schema::TenantFind,
        T: FilterDsl<diesel::dsl::Eq<T::KeyColumn, K>>,
        <T::KeyColumn as Expression>::SqlType: diesel::sql_types::SqlType,
        K: AsExpression<<T::KeyColumn as Expression>::SqlType>,
        Filter<T, diesel::dsl::Eq<T::KeyColumn, K>>: LimitDsl,
        Limit<Filter<T, diesel::dsl::Eq<T::KeyColumn, K>>>: TenantQuery,
        Scoped<Limit<Filter<T, diesel::dsl::Eq<T::KeyColumn, K>>>>:
            LoadQuery<'q, &'s AsyncPgConnection, U> + 'q,
        U: Send,
    {
        let column = T::KeyColumn::default();
        self.first(table.filter(column.eq(key))).await
    }

    /// `SELECT EXISTS (<scoped query>)`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn exists<'q, 's, Q>(&'s mut self, query: Q) -> Result<bool>
    where
        Q: TenantQuery,
        ScopedExists<Q>: LoadQuery<'q, &'s AsyncPgConnection, bool> + 'q,
    {
        let scoped = scope_exists(query, self.tenant)?;
        run_statement!(self.conn, |conn| scoped.get_result(conn))
    }

    /// Runs raw SQL (`diesel::sql_query`). The compiler cannot see into it: it runs as the
    /// application role with this tenant set, so row level security is what keeps it to the
    /// tenant's rows.
    ///
    /// # Errors
    /// Database errors; [`tenancy_schema::Error::UnsafeSql`] before anything is sent for a
    /// typed Diesel statement (`SqlTextError::NotRawSql`) or SQL that would end the
    /// transaction or open another (`COMMIT`, `ROLLBACK`, `BEGIN`, ...:
    /// `SqlTextError::TransactionControl`).
    pub async fn execute<'s, Q>(&'s mut self, query: Q) -> Result<usize>
    where
        Q: diesel::query_builder::Query
            + ExecuteDsl<&'s AsyncPgConnection>
            + diesel::query_builder::QueryFragment<diesel::pg::Pg>
            + Send,
        Q::SqlType: UntypedSql,
    {
        raw_sql_only(&query)?;
        self.conn.state.raw_sql = true;
        run_statement!(self.conn, |conn| query.execute(conn))
    }

    /// Loads rows from raw SQL (`diesel::sql_query` + `QueryableByName`); like
    /// [`AsyncTenantTx::execute`], only row level security checks it.
    ///
    /// # Errors
    /// Database errors; [`tenancy_schema::Error::UnsafeSql`] before anything is sent for a
    /// typed Diesel statement (`SqlTextError::NotRawSql`) or SQL that would end the
    /// transaction or open another (`COMMIT`, `ROLLBACK`, `BEGIN`, ...:
    /// `SqlTextError::TransactionControl`).
    pub async fn load_sql<'q, 's, Q, U>(&'s mut self, query: Q) -> Result<Vec<U>>
    where
        Q: diesel::query_builder::Query<SqlType = diesel::sql_types::Untyped>
            + LoadQuery<'q, &'s AsyncPgConnection, U>
            + diesel::query_builder::QueryFragment<diesel::pg::Pg>
            + 'q,
        U: Send,
    {
        raw_sql_only(&query)?;
        self.conn.state.raw_sql = true;
        run_statement!(self.conn, |conn| query.load(conn))
    }
}
