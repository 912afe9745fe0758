//! What the system connection sends: a statement over global tables, sent as the text that
//! was checked to name no tenant-scoped table ([`super::first_bind`]).

use std::marker::PhantomData;

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::{QueryResult, RunQueryDsl};
use uuid::Uuid;

use super::first_bind::{AsWritten, Reserved, Sent, Statement, TenantBind, walk_sent};

/// A statement for the system connection, checked. It has no tenant: its first parameter is
/// a nil id that its text never names, there only so that the walk for its text and the walk
/// for its binds can be told apart, as in a tenant statement.
#[derive(Debug)]
pub struct Global<Q> {
    query: Q,
    bind: TenantBind,
    sent: Sent,
}

impl<Q: QueryFragment<Pg>> Global<Q> {
    /// `statement`, refused when its text names a tenant-scoped table anywhere (a sub-query,
    /// an `INSERT ... SELECT`, a raw fragment).
    pub(crate) fn checked(statement: Q) -> Result<Self, crate::Error> {
        let bind = TenantBind::new(Uuid::nil());
        let sent = Sent::render(&Reserved(&bind, &AsWritten(&statement)))?;
        refuse_tenant_tables(&sent.sql)?;
        Ok(Self {
            query: statement,
            bind,
            sent,
        })
    }
}

/// Refuses SQL for the system connection that names a tenant-scoped table anywhere, or that
/// the lexer cannot read (SQL run from text, escaped names): the system connection has no
/// tenant, and where row level security is off nothing else would keep tenant rows from it.
pub(crate) fn refuse_tenant_tables(sql: &str) -> Result<(), crate::Error> {
    if let Some(table) = super::named::tables_named_in(sql)?.first() {
        return Err(
            crate::SqlTextError::TenantTableOnSystemConnection(table.table.to_owned()).into(),
        );
    }
    Ok(())
}

impl<Q: QueryFragment<Pg>> Statement for Global<Q> {
    fn walk_statement<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.query.walk_ast(out)
    }
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Global<Q> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        walk_sent(&self.bind, &self.sent, self, out)
    }
}

#[doc(hidden)]
pub struct GlobalId<T>(PhantomData<T>);

impl<Q: QueryId> QueryId for Global<Q> {
    type QueryId = GlobalId<Q::QueryId>;
    const HAS_STATIC_QUERY_ID: bool = Q::HAS_STATIC_QUERY_ID;
}

impl<Q: Query> Query for Global<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, Conn> RunQueryDsl<Conn> for Global<Q> {}
