//! The async system connection: global tables only, checked by the types and by the core's
//! check of the rendered SQL, as [`tenancy_schema::SystemConn`].

use diesel::dsl::Limit;
use diesel::pg::Pg;
use diesel::query_builder::QueryFragment;
use diesel::query_dsl::methods::LimitDsl;
use diesel_async::methods::{ExecuteDsl, LoadQuery};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy_schema::__private_v0_1::executor::{check_global, raw_global_sql_only};
use tenancy_schema::Result;
use tenancy_schema::scope::{Global, GlobalQuery};

use crate::pipeline::{TxState, watched};

/// A connection for global tables, from [`crate::AsyncTenancy::system`]. Queries touching a
/// tenant-scoped table do not compile, or are refused before they are sent.
pub struct AsyncSystemConn<'c> {
    pub(crate) conn: &'c mut AsyncPgConnection,
    /// The transaction's marks ([`TxState`]).
    pub(crate) state: &'c mut TxState,
}

impl std::fmt::Debug for AsyncSystemConn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncSystemConn").finish_non_exhaustive()
    }
}

impl AsyncSystemConn<'_> {
    /// Runs a `SELECT` over global tables.
    ///
    /// # Errors
    /// As [`tenancy_schema::SystemConn::load`].
    pub async fn load<'q, Q, U>(&mut self, query: Q) -> Result<Vec<U>>
    where
        Q: GlobalQuery + QueryFragment<Pg>,
        Global<Q>: LoadQuery<'q, AsyncPgConnection, U> + 'q,
        U: Send,
    {
        let query = check_global(query)?;
        watched(self.state, query.load(&mut *self.conn)).await
    }

    /// Runs a `SELECT` over global tables and returns the first row, or `NotFound`.
    ///
    /// # Errors
    /// As [`AsyncSystemConn::load`].
    pub async fn get_result<'q, Q, U>(&mut self, query: Q) -> Result<U>
    where
        Q: GlobalQuery + QueryFragment<Pg>,
        Global<Q>: LoadQuery<'q, AsyncPgConnection, U> + 'q,
        U: Send,
    {
        let query = check_global(query)?;
        watched(self.state, query.get_result(&mut *self.conn)).await
    }

    /// [`AsyncSystemConn::load`] under Diesel's other name.
    ///
    /// # Errors
    /// As [`AsyncSystemConn::load`].
    pub async fn get_results<'q, Q, U>(&mut self, query: Q) -> Result<Vec<U>>
    where
        Q: GlobalQuery + QueryFragment<Pg>,
        Global<Q>: LoadQuery<'q, AsyncPgConnection, U> + 'q,
        U: Send,
    {
        self.load(query).await
    }

    /// Adds `LIMIT 1` and returns the row, or `NotFound`.
    ///
    /// # Errors
    /// As [`AsyncSystemConn::load`].
    pub async fn first<'q, Q, U>(&mut self, query: Q) -> Result<U>
    where
        Q: LimitDsl,
        Limit<Q>: GlobalQuery + QueryFragment<Pg>,
        Global<Limit<Q>>: LoadQuery<'q, AsyncPgConnection, U> + 'q,
        U: Send,
    {
        self.get_result(query.limit(1)).await
    }

    /// `SELECT COUNT(*)` of the query.
    ///
    /// # Errors
    /// As [`AsyncSystemConn::load`].
    pub async fn count<'q, Q>(&mut self, query: Q) -> Result<i64>
    where
        Q: diesel::QueryDsl + diesel::query_dsl::methods::SelectDsl<diesel::dsl::CountStar>,
        diesel::dsl::Select<Q, diesel::dsl::CountStar>: GlobalQuery + QueryFragment<Pg>,
        Global<diesel::dsl::Select<Q, diesel::dsl::CountStar>>:
            LoadQuery<'q, AsyncPgConnection, i64> + 'q,
    {
        self.get_result(query.count()).await
    }

    /// `SELECT EXISTS (<query>)`.
    ///
    /// # Errors
    /// As [`AsyncSystemConn::load`].
    pub async fn exists<'q, Q>(&mut self, query: Q) -> Result<bool>
    where
        Q: GlobalQuery + QueryFragment<Pg> + diesel::query_builder::QueryId + Send,
        diesel::dsl::exists<Q>: diesel::expression::Expression<SqlType = diesel::sql_types::Bool>
            + QueryFragment<Pg>
            + diesel::query_builder::QueryId
            + diesel::expression::ValidGrouping<()>
            + diesel::expression::SelectableExpression<diesel::query_builder::NoFromClause>
            + Send,
        diesel::helper_types::select<diesel::dsl::exists<Q>>: QueryFragment<Pg> + Send,
        Global<diesel::helper_types::select<diesel::dsl::exists<Q>>>:
            LoadQuery<'q, AsyncPgConnection, bool> + 'q,
    {
        let query = check_global(diesel::select(diesel::dsl::exists(query)))?;
        watched(self.state, query.get_result(&mut *self.conn)).await
    }

    /// Runs an `INSERT`, `UPDATE` or `DELETE` on a global table.
    ///
    /// # Errors
    /// As [`tenancy_schema::SystemConn::execute`].
    pub async fn execute<Q>(&mut self, statement: Q) -> Result<usize>
    where
        Q: GlobalQuery + QueryFragment<Pg> + Send,
        Global<Q>: ExecuteDsl<AsyncPgConnection>,
    {
        let statement = check_global(statement)?;
        watched(self.state, statement.execute(&mut *self.conn)).await
    }

    /// Loads rows from raw SQL over global tables. Like the typed statements here, it may not
    /// name a tenant-scoped table anywhere; it runs as the application role with no tenant set,
    /// so row level security also hides every tenant row from it.
    ///
    /// # Errors
    /// Database errors; [`tenancy_schema::Error::UnsafeSql`] before anything is sent for a
    /// typed Diesel statement (`SqlTextError::NotRawSql`), SQL naming a tenant table
    /// (`SqlTextError::TenantTableOnSystemConnection`) or that the lexer refuses (SQL run from
    /// text, escaped names), or SQL that would end the transaction or open another (`COMMIT`,
    /// `ROLLBACK`, `BEGIN`, ...: `SqlTextError::TransactionControl`).
    pub async fn load_sql<'q, Q, U>(&mut self, query: Q) -> Result<Vec<U>>
    where
        Q: diesel::query_builder::Query<SqlType = diesel::sql_types::Untyped>
            + LoadQuery<'q, AsyncPgConnection, U>
            + diesel::query_builder::QueryFragment<diesel::pg::Pg>
            + 'q,
        U: Send,
    {
        raw_global_sql_only(&query)?;
        self.state.raw_sql = true;
        watched(self.state, query.load(&mut *self.conn)).await
    }
}
