//! The prepared statements that open a transaction or enter its context with the packed entry.

use super::ContextKey;
use super::entry::push_packed;
use crate::{PrincipalId, TenantId};

/// `SELECT WHERE tenancy_context.begin($1, $2) IS NULL`: opens the transaction and enters its
/// context (extension 1.3). A static query id, so that Diesel (and diesel-async) prepare it
/// once per connection and afterwards only bind and run it: the server no longer parses and
/// analyses a `BEGIN` and a `CALL` in every transaction. The call is the statement's one-time
/// filter, run once, and the statement has no column and returns no row (`begin` returns
/// `void`, never NULL): the server then builds no row type, converts no value and sends no
/// row, which a `SELECT tenancy_context.begin(..)` cost it in every transaction. Only for a
/// transaction at the server's default isolation level, because the statement takes the
/// transaction's first snapshot.
#[doc(hidden)]
#[derive(Debug)]
pub struct OpenStatement {
    pub(super) entry: String,
    pub(super) read_only: bool,
}

impl OpenStatement {
    /// The statement for a context on the connection with session number `session`, with a
    /// new counter.
    #[must_use]
    pub fn new(
        key: &ContextKey,
        session: i64,
        tenant: Option<TenantId>,
        principal: Option<PrincipalId>,
        check_status: bool,
        read_only: bool,
    ) -> Self {
        // The same entry as `CALL tenancy_context.enter($1)` binds.
        let EnterStatement { entry } =
            EnterStatement::new(key, session, tenant, principal, check_status);
        Self { entry, read_only }
    }
}

impl diesel::query_builder::QueryId for OpenStatement {
    type QueryId = OpenStatement;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for OpenStatement {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        out.push_sql("SELECT WHERE tenancy_context.begin(");
        out.push_bind_param::<diesel::sql_types::Text, _>(&self.entry)?;
        out.push_sql(", ");
        out.push_bind_param::<diesel::sql_types::Bool, _>(&self.read_only)?;
        out.push_sql(") IS NULL");
        Ok(())
    }
}

impl<Conn> diesel::RunQueryDsl<Conn> for OpenStatement {}

/// `CALL tenancy_context.enter($1)`: the packed entry as the parameter of a prepared statement
/// (extension 1.2 and later), for a transaction whose `BEGIN` goes out in the same write
/// (diesel-async's pipelined opening). Prepared once per connection, as [`OpenStatement`].
#[doc(hidden)]
#[derive(Debug)]
pub struct EnterStatement {
    entry: String,
}

impl EnterStatement {
    /// The statement for a context on the connection with session number `session`, with a
    /// new counter.
    #[must_use]
    pub fn new(
        key: &ContextKey,
        session: i64,
        tenant: Option<TenantId>,
        principal: Option<PrincipalId>,
        check_status: bool,
    ) -> Self {
        let mut entry = String::new();
        push_packed(&mut entry, key, session, tenant, principal, check_status);
        Self { entry }
    }
}

impl diesel::query_builder::QueryId for EnterStatement {
    type QueryId = EnterStatement;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for EnterStatement {
    fn walk_ast<'b>(
        &'b self,
        out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        push_entry_call(out, &self.entry, "CALL tenancy_context.enter(", ")")
    }
}

impl<Conn> diesel::RunQueryDsl<Conn> for EnterStatement {}

impl EnterStatement {
    /// The same entry as the function of extension 1.5 ([`EnterBlockStatement`]).
    #[must_use]
    pub fn in_block(self) -> EnterBlockStatement {
        EnterBlockStatement { entry: self.entry }
    }
}

/// `SELECT WHERE tenancy_context.enter_block($1) IS NULL` (extension 1.5): the entry of
/// [`EnterStatement`] as a function inside an open transaction block, which the server runs
/// for less than the `CALL` (a `CALL` builds an executor state and prepares its arguments again
/// on every call). The statement has no column and returns no row. A refused entry aborts the
/// block, so the statements pipelined behind it are refused.
#[doc(hidden)]
#[derive(Debug)]
pub struct EnterBlockStatement {
    entry: String,
}

impl diesel::query_builder::QueryId for EnterBlockStatement {
    type QueryId = EnterBlockStatement;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for EnterBlockStatement {
    fn walk_ast<'b>(
        &'b self,
        out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        push_entry_call(
            out,
            &self.entry,
            "SELECT WHERE tenancy_context.enter_block(",
            ") IS NULL",
        )
    }
}

impl<Conn> diesel::RunQueryDsl<Conn> for EnterBlockStatement {}

/// The packed entry bound as the one argument of a call: `before`, `$1`, `after`.
fn push_entry_call<'b>(
    mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    entry: &'b String,
    before: &str,
    after: &str,
) -> diesel::QueryResult<()> {
    out.push_sql(before);
    out.push_bind_param::<diesel::sql_types::Text, _>(entry)?;
    out.push_sql(after);
    Ok(())
}
