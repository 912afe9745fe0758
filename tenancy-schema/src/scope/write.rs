//! Tenant updates and deletes: the prefix that scopes the sub-queries in them, and the check of
//! their `SET` list, which the types alone cannot make once raw value fragments are involved.

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::{QueryResult, RunQueryDsl};
use uuid::Uuid;

use super::plan::{ScopePlan, render, tables_named_in};
use super::traits::ScopedTable;

/// Checks the `SET` list of a rendered tenant write against `T`: every assignment must be
/// `"column" = value` for a column of `T` that is not its tenant column. The assignments are
/// read with the SQL lexer, so a raw value fragment that adds one (`1, tenant_id = '…'`) is
/// seen as the assignment it is.
pub(crate) fn check_changeset<T: ScopedTable>(statement_sql: &str) -> Result<(), crate::Error> {
    let manifest = T::MANIFEST;
    for (column, item) in crate::sql_lexer::set_list_assignments(statement_sql)? {
        match column {
            Some(c) if c == T::SCOPE.tenant_column => {
                return Err(crate::Error::TenantColumnInChangeset {
                    table: T::SCOPE.table,
                    column: T::SCOPE.tenant_column,
                });
            }
            Some(c) if manifest.columns.contains(&c.as_str()) => {}
            _ => {
                return Err(crate::SqlTextError::MalformedChangeset {
                    table: T::SCOPE.table,
                    item,
                }
                .into());
            }
        }
    }
    Ok(())
}

/// A write statement (`UPDATE`, `DELETE`) prefixed with the shadowing CTEs of every
/// tenant-scoped table it names, so that sub-queries in its `SET` list and filters read only
/// the tenant's rows. The target of an `UPDATE`/`DELETE` is always the table itself (a CTE
/// never shadows it), filtered by the explicit tenant predicate.
#[derive(Debug)]
pub struct WithScope<S> {
    plan: ScopePlan,
    statement: S,
    /// The statement as rendered when the plan was made, for the checks made on it.
    sql: String,
}

impl<S: QueryFragment<Pg>> WithScope<S> {
    pub(crate) fn new(statement: S, tenant: Uuid) -> Result<Self, crate::Error> {
        let sql = render(&statement)?;
        let tables = tables_named_in(&sql)?;
        Ok(Self {
            plan: ScopePlan::shadowing(tenant, tables),
            statement,
            sql,
        })
    }

    /// The statement's SQL text (without the prefix).
    pub(crate) fn sql(&self) -> &str {
        &self.sql
    }
}

impl<S: QueryFragment<Pg>> QueryFragment<Pg> for WithScope<S> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.plan.push_prefix(&mut out)?;
        self.statement.walk_ast(out)
    }
}

impl<S> QueryId for WithScope<S> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<S, Conn> RunQueryDsl<Conn> for WithScope<S> {}

/// `UPDATE ... RETURNING` as a query: Diesel adds `RETURNING *` when the statement is turned
/// into a query; the prefix stays in front.
impl<S: diesel::query_builder::AsQuery> diesel::query_builder::AsQuery for WithScope<S> {
    type SqlType = S::SqlType;
    type Query = WithScopeQuery<S::Query>;

    fn as_query(self) -> Self::Query {
        WithScopeQuery(WithScope {
            plan: self.plan,
            statement: self.statement.as_query(),
            sql: self.sql,
        })
    }
}

/// A [`WithScope`] statement that returns rows.
#[derive(Debug)]
pub struct WithScopeQuery<Q>(WithScope<Q>);

impl<Q: Query> Query for WithScopeQuery<Q> {
    type SqlType = Q::SqlType;
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for WithScopeQuery<Q> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(out)
    }
}

impl<Q> QueryId for WithScopeQuery<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q, Conn> RunQueryDsl<Conn> for WithScopeQuery<Q> {}
