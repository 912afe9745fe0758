//! Tenant updates and deletes: the prefix that scopes the sub-queries in them, and the check of
//! their `SET` list, which the types alone cannot make once raw value fragments are involved.

use std::marker::PhantomData;
use std::sync::Arc;

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::{QueryResult, RunQueryDsl};
use uuid::Uuid;

use super::checked::{WriteShape, tables_checked, unguarded_write};
use super::entry::ScopeEntry;
use super::first_bind::{AsWritten, Reserved, Sent, Statement, TenantBind, walk_sent};
use super::named::tables_read_by_write;
use super::plan::ScopePlan;
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

/// What a write's text must pass, kept to check the text of its `RETURNING` form too.
type WriteCheck = Arc<dyn Fn(&str) -> Result<(), crate::Error> + Send + Sync>;

/// A write statement (`UPDATE`, `DELETE`) prefixed with the shadowing CTEs of every
/// tenant-scoped table its sub-queries name, so that sub-queries in its `SET` list and filters
/// read only the tenant's rows. The target of an `UPDATE`/`DELETE` is always the table itself (a CTE
/// never shadows it), filtered by the explicit tenant predicate. What is sent is the text that
/// was checked.
pub struct WithScope<S> {
    plan: ScopePlan,
    statement: S,
    bind: TenantBind,
    /// The checked text, or why the text of the statement's `RETURNING` form was refused.
    sent: Result<Sent, String>,
    target: &'static str,
    /// The target's tenant column, which the write's tenant predicate filters.
    tenant_column: &'static str,
    check: WriteCheck,
}

impl<S: std::fmt::Debug> std::fmt::Debug for WithScope<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithScope")
            .field("plan", &self.plan)
            .field("statement", &self.statement)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

impl<S: QueryFragment<Pg> + QueryId> WithScope<S> {
    /// `statement`, a write into `target` filtered on its `tenant_column`, with the CTEs of
    /// the tables it reads, once `check` has accepted its SQL text (without the prefix).
    /// `known` is what an earlier statement of the same shape was found to name
    /// ([`WriteShape::checked_tables`]); with it, nothing is rendered or checked.
    pub(crate) fn checked(
        statement: S,
        target: &'static str,
        tenant_column: &'static str,
        tenant: Uuid,
        known: Option<(Vec<ScopeEntry>, Sent)>,
        check: impl Fn(&str) -> Result<(), crate::Error> + Send + Sync + 'static,
    ) -> Result<Self, crate::Error> {
        let bind = TenantBind::new(tenant);
        let (tables, sent) = tables_checked(
            &Reserved(&bind, &AsWritten(&statement)),
            target,
            Some(tenant_column),
            WriteShape::of::<S>(false),
            known,
            &check,
        )?;
        let plan = ScopePlan::shadowing(tenant, tables);
        let sent = sent.after(&plan.prefix_text()?);
        Ok(Self {
            plan,
            statement,
            bind,
            sent: Ok(sent),
            target,
            tenant_column,
            check: Arc::new(check),
        })
    }
}

impl<S: QueryFragment<Pg>> Statement for WithScope<S> {
    fn walk_statement<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.plan.push_prefix(&mut out)?;
        self.statement.walk_ast(out)
    }
}

impl<S: QueryFragment<Pg>> QueryFragment<Pg> for WithScope<S> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let sent = self
            .sent
            .as_ref()
            .map_err(|e| diesel::result::Error::QueryBuilderError(e.clone().into()))?;
        walk_sent(&self.bind, sent, self, out)
    }
}

/// The query id of [`WithScope`]: its prefix follows from the statement's SQL, so a statement
/// type whose SQL is fixed keeps its prepared statement by type.
#[doc(hidden)]
pub struct WithScopeId<T>(PhantomData<T>);

impl<S: QueryId> QueryId for WithScope<S> {
    type QueryId = WithScopeId<S::QueryId>;
    const HAS_STATIC_QUERY_ID: bool = S::HAS_STATIC_QUERY_ID;
}

impl<S, Conn> RunQueryDsl<Conn> for WithScope<S> {}

/// `UPDATE ... RETURNING` as a query: Diesel adds `RETURNING *` when the statement is turned
/// into a query; the prefix stays in front. Its text is checked again as the write's was.
impl<S> diesel::query_builder::AsQuery for WithScope<S>
where
    S: diesel::query_builder::AsQuery,
    S::Query: QueryFragment<Pg>,
{
    type SqlType = S::SqlType;
    type Query = WithScopeQuery<S::Query>;

    fn as_query(self) -> Self::Query {
        let statement = self.statement.as_query();
        let sent = self.sent.and_then(|_| {
            let refused = |e: &dyn std::fmt::Display| e.to_string();
            let sent = Sent::render(&Reserved(&self.bind, &AsWritten(&statement)))
                .map_err(|e| refused(&e))?;
            (self.check)(&sent.sql).map_err(|e| refused(&e))?;
            let tables = tables_read_by_write(&sent.sql, self.target).map_err(|e| refused(&e))?;
            if let Some(t) = tables.iter().find(|t| !self.plan.ctes.contains(t)) {
                return Err(refused(&crate::SqlTextError::ChangedAfterPlanning(
                    t.table.to_owned(),
                )));
            }
            let sent = unguarded_write(sent, &tables, self.target, self.tenant_column);
            Ok(sent.after(&self.plan.prefix_text().map_err(|e| refused(&e))?))
        });
        WithScopeQuery(WithScope {
            plan: self.plan,
            statement,
            bind: self.bind,
            sent,
            target: self.target,
            tenant_column: self.tenant_column,
            check: self.check,
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

impl<Q: QueryId> QueryId for WithScopeQuery<Q> {
    type QueryId = WithScopeId<Q::QueryId>;
    const HAS_STATIC_QUERY_ID: bool = Q::HAS_STATIC_QUERY_ID;
}

impl<Q, Conn> RunQueryDsl<Conn> for WithScopeQuery<Q> {}
