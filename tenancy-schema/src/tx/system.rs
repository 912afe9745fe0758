//! The system connection: global tables only, checked both by the types and by the SQL text,
//! since a statement's type shows its target but not what its sub-queries read.

use diesel::PgConnection;
use diesel::RunQueryDsl as _;
use diesel::dsl::Limit;
use diesel::pg::Pg;
use diesel::query_builder::{InsertStatement, QueryFragment};
use diesel::query_dsl::LoadQuery;
use diesel::query_dsl::methods::ExecuteDsl;
use diesel::query_dsl::methods::LimitDsl;

use crate::scope::{Global, GlobalQuery, GlobalTable};
use crate::{Error, Result};

/// A connection for global tables. Queries touching a tenant-scoped table do not compile.
pub struct SystemConn<'c> {
    pub(super) conn: &'c mut PgConnection,
    /// Set once raw SQL ran ([`super::lifecycle`] then drops Diesel's statements at the end).
    pub(super) raw_sql: &'c std::cell::Cell<bool>,
}

impl std::fmt::Debug for SystemConn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemConn").finish_non_exhaustive()
    }
}

/// A statement for the system connection, refused when it names a tenant-scoped table
/// anywhere (a sub-query, an `INSERT ... SELECT`, a raw fragment): the types only show its
/// target. What is sent is the text that was checked. Shared with the async executor through
/// `tenancy_schema::__private_v0_1`.
///
/// # Errors
/// [`Error::UnsafeSql`] naming the tenant table.
#[doc(hidden)]
pub fn check_global<Q: QueryFragment<Pg>>(statement: Q) -> Result<Global<Q>> {
    Global::checked(statement)
}

impl SystemConn<'_> {
    /// Runs a `SELECT` over global tables.
    ///
    /// # Errors
    /// [`Error::UnsafeSql`] when it names a tenant-scoped table anywhere (a sub-query, a raw
    /// fragment); database errors.
    pub fn load<'q, Q, U>(&mut self, query: Q) -> Result<Vec<U>>
    where
        Q: GlobalQuery + QueryFragment<Pg>,
        Global<Q>: LoadQuery<'q, PgConnection, U>,
    {
        check_global(query)?.load(self.conn).map_err(Error::from)
    }

    /// Runs a `SELECT` over global tables and returns the first row, or `NotFound`.
    ///
    /// # Errors
    /// As [`SystemConn::load`].
    pub fn get_result<'q, Q, U>(&mut self, query: Q) -> Result<U>
    where
        Q: GlobalQuery + QueryFragment<Pg>,
        Global<Q>: LoadQuery<'q, PgConnection, U>,
    {
        check_global(query)?
            .get_result(self.conn)
            .map_err(Error::from)
    }

    /// Runs a `SELECT` over global tables and returns all rows ([`SystemConn::load`] under
    /// Diesel's other name).
    ///
    /// # Errors
    /// As [`SystemConn::load`].
    pub fn get_results<'q, Q, U>(&mut self, query: Q) -> Result<Vec<U>>
    where
        Q: GlobalQuery + QueryFragment<Pg>,
        Global<Q>: LoadQuery<'q, PgConnection, U>,
    {
        self.load(query)
    }

    /// Adds `LIMIT 1` and returns the row, or `NotFound`.
    ///
    /// # Errors
    /// As [`SystemConn::load`].
    pub fn first<'q, Q, U>(&mut self, query: Q) -> Result<U>
    where
        Q: LimitDsl,
        Limit<Q>: GlobalQuery + QueryFragment<Pg>,
        Global<Limit<Q>>: LoadQuery<'q, PgConnection, U>,
    {
        self.get_result(query.limit(1))
    }

    /// Counts the rows `query` returns.
    ///
    /// # Errors
    /// As [`SystemConn::load`].
    pub fn count<'q, Q>(&mut self, query: Q) -> Result<i64>
    where
        Q: diesel::QueryDsl + diesel::query_dsl::methods::SelectDsl<diesel::dsl::CountStar>,
        diesel::dsl::Select<Q, diesel::dsl::CountStar>: GlobalQuery + QueryFragment<Pg>,
        Global<diesel::dsl::Select<Q, diesel::dsl::CountStar>>: LoadQuery<'q, PgConnection, i64>,
    {
        self.get_result(query.count())
    }

    /// `SELECT EXISTS (<query>)`.
    ///
    /// # Errors
    /// As [`SystemConn::load`].
    pub fn exists<'q, Q>(&mut self, query: Q) -> Result<bool>
    where
        Q: GlobalQuery + QueryFragment<Pg> + diesel::query_builder::QueryId,
        diesel::dsl::exists<Q>: diesel::expression::Expression<SqlType = diesel::sql_types::Bool>
            + QueryFragment<Pg>
            + diesel::query_builder::QueryId
            + diesel::expression::ValidGrouping<()>
            + diesel::expression::SelectableExpression<diesel::query_builder::NoFromClause>,
        diesel::helper_types::select<diesel::dsl::exists<Q>>: QueryFragment<Pg>,
        Global<diesel::helper_types::select<diesel::dsl::exists<Q>>>:
            LoadQuery<'q, PgConnection, bool>,
    {
        check_global(diesel::select(diesel::dsl::exists(query)))?
            .get_result(self.conn)
            .map_err(Error::from)
    }

    /// Runs an `INSERT`, `UPDATE` or `DELETE` on a global table.
    ///
    /// # Errors
    /// As [`SystemConn::load`]: an `INSERT ... SELECT` must read global tables only.
    pub fn execute<Q>(&mut self, statement: Q) -> Result<usize>
    where
        Q: GlobalQuery + QueryFragment<Pg>,
        Global<Q>: ExecuteDsl<PgConnection>,
    {
        ExecuteDsl::execute(check_global(statement)?, self.conn).map_err(Error::from)
    }

    /// Loads rows from raw SQL over global tables. Like the typed statements here, it may not
    /// name a tenant-scoped table anywhere; it runs as the application role with no tenant set,
    /// so row level security also hides every tenant row from it.
    ///
    /// # Errors
    /// Database errors; [`Error::UnsafeSql`] before anything is sent for a typed Diesel statement
    /// (`SqlTextError::NotRawSql`), SQL naming a tenant table
    /// (`SqlTextError::TenantTableOnSystemConnection`) or that the lexer refuses (SQL run from
    /// text, escaped names), or SQL that would end the transaction or open another (`COMMIT`,
    /// `ROLLBACK`, `BEGIN`, ...: `SqlTextError::TransactionControl`).
    pub fn load_sql<'q, Q, U>(&mut self, query: Q) -> Result<Vec<U>>
    where
        // Raw SQL is the only untyped query: `sql_query(..)` with or without `.bind(..)`.
        Q: diesel::query_builder::Query<SqlType = diesel::sql_types::Untyped>
            + LoadQuery<'q, PgConnection, U>
            + QueryFragment<Pg>,
    {
        super::raw_global_sql_only(&query)?;
        self.raw_sql.set(true);
        query.load(self.conn).map_err(Error::from)
    }
}

impl<T: GlobalTable, U, Op, Ret> GlobalQuery for InsertStatement<T, U, Op, Ret> {}
impl<T: GlobalTable, U, V, Ret> GlobalQuery
    for diesel::query_builder::UpdateStatement<T, U, V, Ret>
{
}
impl<T: GlobalTable, U, Ret> GlobalQuery for diesel::query_builder::DeleteStatement<T, U, Ret> {}
