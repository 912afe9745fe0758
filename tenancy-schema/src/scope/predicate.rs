//! The predicates tenant updates and deletes are built from. They are explicit fragments so
//! that the tenant predicate and the caller's filter combine with a fixed precedence, whatever
//! the filter contains.

use diesel::QueryResult;
use diesel::backend::Backend;
use diesel::expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Bool, Uuid as SqlUuid};
use uuid::Uuid;

/// `<tenant column> = <tenant>`: the predicate tenant updates and deletes start from, and
/// the explicit way to scope a sub-query on a table that is not in the outer `FROM` clause
/// (see [`crate::TenantTx::tenant_filter`]).
#[derive(Debug, Clone, Copy, QueryId)]
pub struct TenantEq<C> {
    column: C,
    tenant: Uuid,
}

impl<C> TenantEq<C> {
    pub(crate) fn new(column: C, tenant: crate::TenantId) -> Self {
        Self {
            column,
            tenant: *tenant.as_uuid(),
        }
    }
}

impl<C> Expression for TenantEq<C> {
    type SqlType = Bool;
}

impl<C: AppearsOnTable<QS>, QS: ?Sized> AppearsOnTable<QS> for TenantEq<C> {}
impl<C: SelectableExpression<QS>, QS: ?Sized> SelectableExpression<QS> for TenantEq<C> {}
impl<C: ValidGrouping<G>, G> ValidGrouping<G> for TenantEq<C> {
    type IsAggregate = C::IsAggregate;
}

impl<C: QueryFragment<Pg>> QueryFragment<Pg> for TenantEq<C> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(" = ");
        out.push_bind_param::<SqlUuid, _>(&self.tenant)
    }
}

/// `<tenant column> = $1`: the tenant predicate of tenancy's own writes, naming the tenant the
/// statement binds first instead of binding it again, so that no
/// value a fragment of the statement pushes can take its place.
#[derive(Debug, Clone, Copy, QueryId)]
pub struct TenantParam<C> {
    column: C,
}

impl<C> Expression for TenantParam<C> {
    type SqlType = Bool;
}

impl<C: AppearsOnTable<QS>, QS: ?Sized> AppearsOnTable<QS> for TenantParam<C> {}
impl<C: SelectableExpression<QS>, QS: ?Sized> SelectableExpression<QS> for TenantParam<C> {}
impl<C: ValidGrouping<G>, G> ValidGrouping<G> for TenantParam<C> {
    type IsAggregate = C::IsAggregate;
}

impl<C: QueryFragment<Pg>> QueryFragment<Pg> for TenantParam<C> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        super::plan::push_tenant_predicate(&mut out, |out| self.column.walk_ast(out.reborrow()))
    }
}

/// Parenthesises a user predicate so that nothing in it (a raw `OR`, say) can bind looser
/// than the tenant predicate it is combined with.
#[derive(Debug, Clone, Copy, QueryId)]
pub struct Paren<E>(pub(crate) E);

impl<E: Expression> Expression for Paren<E> {
    type SqlType = E::SqlType;
}
impl<E: AppearsOnTable<QS>, QS: ?Sized> AppearsOnTable<QS> for Paren<E> {}
impl<E: SelectableExpression<QS>, QS: ?Sized> SelectableExpression<QS> for Paren<E> {}
impl<E: ValidGrouping<G>, G> ValidGrouping<G> for Paren<E> {
    type IsAggregate = E::IsAggregate;
}
impl<E: QueryFragment<DB>, DB: Backend> QueryFragment<DB> for Paren<E> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("(");
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(")");
        Ok(())
    }
}

/// `a AND b`, with both sides written as given (callers parenthesise).
#[derive(Debug, Clone, Copy, QueryId)]
pub struct AndThen<A, B>(pub(crate) A, pub(crate) B);

impl<A, B> Expression for AndThen<A, B> {
    type SqlType = Bool;
}
impl<A: AppearsOnTable<QS>, B: AppearsOnTable<QS>, QS: ?Sized> AppearsOnTable<QS>
    for AndThen<A, B>
{
}
impl<A: SelectableExpression<QS>, B: SelectableExpression<QS>, QS: ?Sized> SelectableExpression<QS>
    for AndThen<A, B>
{
}
impl<A: ValidGrouping<()>, B: ValidGrouping<()>> ValidGrouping<()> for AndThen<A, B> {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}
impl<A: QueryFragment<DB>, B: QueryFragment<DB>, DB: Backend> QueryFragment<DB> for AndThen<A, B> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(" AND ");
        self.1.walk_ast(out.reborrow())
    }
}

/// The predicate a tenant update or delete of `T` starts from (`<tenant column> = $1`).
/// Shared by every executor's write builders through `tenancy_schema::__private_v0_1`.
#[doc(hidden)]
#[must_use]
pub fn tenant_predicate<T: super::ScopedTable>() -> TenantParam<T::TenantColumn> {
    TenantParam {
        column: T::TenantColumn::default(),
    }
}

/// `tx.tenant_filter(table)`: `<tenant column> = <tenant>` with its own bind, usable in any
/// sub-query. Shared like [`tenant_predicate`].
#[doc(hidden)]
#[must_use]
pub fn tenant_filter<T: super::ScopedTable>(tenant: crate::TenantId) -> TenantEq<T::TenantColumn> {
    TenantEq::new(T::TenantColumn::default(), tenant)
}

/// `<predicate> AND (<filter>)`: how a write builder's `.filter(..)` narrows its predicate.
/// Shared like [`tenant_predicate`].
#[doc(hidden)]
pub fn and_filter<P, F>(predicate: P, filter: F) -> AndThen<P, Paren<F>> {
    AndThen(predicate, Paren(filter))
}
