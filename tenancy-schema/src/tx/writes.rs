//! Tenant-scoped `UPDATE` and `DELETE` builders: kept apart from the transaction because
//! their whole job is to make sure no filter can widen a write beyond the tenant.

use diesel::PgConnection;
use diesel::RunQueryDsl;
use diesel::dsl::Filter;
use diesel::expression::Expression;
use diesel::pg::Pg;
use diesel::query_builder::{AsChangeset, IntoUpdateTarget, QueryFragment, QueryId};
use diesel::query_dsl::LoadQuery;
use diesel::query_dsl::methods::FilterDsl;
use diesel::sql_types::BoolOrNullableBool;

use super::TenantTx;
use crate::scope::{AndThen, Paren, ScopedTable, WithScope, WriteShape, check_changeset};
use crate::{Error, Result, TenantId};

/// Never implemented: the bound behind `.or_filter(..)` on tenant updates and deletes, which
/// would widen the statement beyond the filters already given.
#[diagnostic::on_unimplemented(
    message = "`or_filter` is not available on a tenant write: each `.filter(..)` is ANDed with the tenant filter, and an OR could only widen the write",
    label = "`or_filter` on `tx.update(..)` / `tx.delete(..)`",
    note = "combine the alternatives in one filter: `.filter(a.eq(1).or(b.eq(2)))`; it stays inside its parentheses, ANDed with the tenant filter"
)]
pub trait OrFilterOnTenantWrite: sealed::Never {}

mod sealed {
    /// Implemented by nothing, so that nothing implements [`super::OrFilterOnTenantWrite`].
    pub trait Never {}
}

/// A tenant-scoped `UPDATE` under construction: `WHERE tenant_id = $1 AND (<filters>)`.
#[must_use = "call .set(..) and .execute()"]
pub struct ScopedUpdate<'t, 'c, T, P> {
    pub(super) tx: &'t mut TenantTx<'c>,
    pub(super) table: T,
    pub(super) predicate: P,
}

impl<'t, 'c, T: ScopedTable, P> ScopedUpdate<'t, 'c, T, P> {
    /// Restricts the update further; the predicate is parenthesised and ANDed with the
    /// tenant predicate.
    pub fn filter<F>(self, predicate: F) -> ScopedUpdate<'t, 'c, T, AndThen<P, Paren<F>>>
    where
        F: Expression,
        F::SqlType: BoolOrNullableBool,
    {
        ScopedUpdate {
            tx: self.tx,
            table: self.table,
            predicate: AndThen(self.predicate, Paren(predicate)),
        }
    }

    /// Not available: a tenant update only narrows. See [`OrFilterOnTenantWrite`].
    #[doc(hidden)]
    pub fn or_filter<F: OrFilterOnTenantWrite>(self, _predicate: F) -> Self {
        self
    }

    /// Sets the new values; `changes` must not assign the tenant column.
    pub fn set<Ch: AsChangeset<Target = T>>(
        self,
        changes: Ch,
    ) -> ScopedUpdateSet<'t, 'c, T, P, Ch> {
        ScopedUpdateSet {
            tx: self.tx,
            table: self.table,
            predicate: self.predicate,
            changes,
        }
    }
}

/// A tenant-scoped `UPDATE` ready to run.
#[must_use = "call .execute() or .get_results()"]
pub struct ScopedUpdateSet<'t, 'c, T, P, Ch> {
    tx: &'t mut TenantTx<'c>,
    table: T,
    predicate: P,
    changes: Ch,
}

/// The Diesel statement behind a tenant update.
#[doc(hidden)]
pub type UpdateOf<T, P, Ch> = diesel::dsl::Update<Filter<T, P>, Ch>;

/// A tenant `UPDATE` of `table` for `tenant`, checked: filters stay in their parentheses, the
/// changeset assigns columns of the table other than the tenant column, and sub-queries read
/// only this tenant's rows. `predicate` is the tenant predicate followed by the filters, as
/// the update builders collect it. Shared by every executor through
/// `tenancy_schema::__private_v0_1`.
///
/// # Errors
/// As [`ScopedUpdateSet::execute`].
#[doc(hidden)]
pub fn update_statement<T, P, Ch>(
    tenant: TenantId,
    table: T,
    predicate: P,
    changes: Ch,
) -> Result<WithScope<UpdateOf<T, P, Ch>>>
where
    T: ScopedTable + FilterDsl<P>,
    P: QueryFragment<Pg>,
    Filter<T, P>: IntoUpdateTarget<Table = T>,
    Ch: AsChangeset<Target = T>,
    UpdateOf<T, P, Ch>: QueryFragment<Pg> + QueryId + diesel::query_builder::AsQuery,
{
    filtered_write::<T, P, _>(
        tenant,
        predicate,
        |predicate| diesel::update(table.filter(predicate)).set(changes),
        check_changeset::<T>,
    )
}

/// A tenant `DELETE` from `table` for `tenant`, checked like [`update_statement`]. Shared by
/// every executor through `tenancy_schema::__private_v0_1`.
///
/// # Errors
/// As [`ScopedDelete::execute`].
#[doc(hidden)]
pub fn delete_statement<T, P>(
    tenant: TenantId,
    table: T,
    predicate: P,
) -> Result<WithScope<diesel::dsl::delete<Filter<T, P>>>>
where
    T: ScopedTable + FilterDsl<P>,
    P: QueryFragment<Pg>,
    Filter<T, P>: IntoUpdateTarget,
    diesel::dsl::delete<Filter<T, P>>: QueryFragment<Pg> + QueryId,
{
    filtered_write::<T, P, _>(
        tenant,
        predicate,
        |predicate| diesel::delete(table.filter(predicate)),
        |_| Ok(()),
    )
}

/// The write `build` makes from `predicate`, checked and scoped: the predicate's filters stay
/// in their parentheses, `check` accepts the statement's SQL, and sub-queries read only this
/// tenant's rows. A statement type Diesel gives a static query id (a delete with typed
/// filters) is checked once per process; an update never is, as Diesel gives none to update
/// statements (an `Option` in a changeset changes their SQL).
fn filtered_write<T, P, S>(
    tenant: TenantId,
    predicate: P,
    build: impl FnOnce(P) -> S,
    check: impl Fn(&str) -> Result<()> + Send + Sync + 'static,
) -> Result<WithScope<S>>
where
    T: ScopedTable,
    P: QueryFragment<Pg>,
    S: QueryFragment<Pg> + QueryId,
{
    let known = WriteShape::of::<S>(false).and_then(WriteShape::checked_tables);
    let checked_predicate = match known {
        None => Some(check_predicate::<T, _>(&predicate)?),
        Some(_) => None,
    };
    WithScope::checked(
        build(predicate),
        T::SCOPE.table,
        T::SCOPE.tenant_column,
        *tenant.as_uuid(),
        known,
        move |sql| {
            // The predicate held on its own; it must also be what the statement's `WHERE`
            // clause is once the changeset's values are in front of it.
            if let Some(predicate) = &checked_predicate {
                crate::sql_lexer::check_filtered_write(sql, predicate)?;
            }
            check(sql)
        },
    )
}

/// Checks a tenant write's predicate (`<tenant filter> AND (<f1>) AND (<f2>)...`): every
/// filter, raw fragments included, must stay inside its own parentheses, so that none can
/// add a top-level `OR` to the tenant filter. Returns the predicate's SQL.
fn check_predicate<T: ScopedTable, P: QueryFragment<Pg>>(predicate: &P) -> Result<String> {
    let prefix = crate::scope::render(&crate::scope::predicate::tenant_predicate::<T>())?;
    let sql = crate::scope::render(predicate)?;
    crate::sql_lexer::check_conjunction(&sql, &prefix)?;
    Ok(sql)
}

impl<'t, T, P, Ch> ScopedUpdateSet<'t, '_, T, P, Ch>
where
    T: ScopedTable + FilterDsl<P>,
    P: QueryFragment<Pg>,
    Filter<T, P>: IntoUpdateTarget<Table = T>,
    Ch: AsChangeset<Target = T>,
    UpdateOf<T, P, Ch>: QueryFragment<Pg> + QueryId + diesel::query_builder::AsQuery,
{
    /// The statement, checked: filters stay in their parentheses, the changeset assigns
    /// columns of the table other than the tenant column, and sub-queries read only this
    /// tenant's rows.
    #[allow(clippy::type_complexity)] // reason: the connection and the checked statement
    fn checked(self) -> Result<(&'t mut PgConnection, WithScope<UpdateOf<T, P, Ch>>)> {
        let statement = update_statement(self.tx.tenant, self.table, self.predicate, self.changes)?;
        Ok((&mut *self.tx.conn, statement))
    }

    /// Runs the update; returns the number of rows changed.
    ///
    /// # Errors
    /// [`Error::TenantColumnInChangeset`] when the changeset assigns the tenant column;
    /// [`Error::UnsafeSql`] when a raw fragment reaches outside its parentheses or adds an
    /// assignment; database errors.
    pub fn execute(self) -> Result<usize> {
        let (conn, statement) = self.checked()?;
        statement.execute(conn).map_err(Error::from)
    }

    /// Runs the update and returns the changed rows (`RETURNING *`).
    ///
    /// # Errors
    /// As [`ScopedUpdateSet::execute`].
    pub fn get_results<'q, U>(self) -> Result<Vec<U>>
    where
        WithScope<UpdateOf<T, P, Ch>>: LoadQuery<'q, PgConnection, U>,
    {
        let (conn, statement) = self.checked()?;
        statement.get_results(conn).map_err(Error::from)
    }
}

/// A tenant-scoped `DELETE` under construction: `WHERE tenant_id = $1 AND (<filters>)`.
#[must_use = "call .execute()"]
pub struct ScopedDelete<'t, 'c, T, P> {
    pub(super) tx: &'t mut TenantTx<'c>,
    pub(super) table: T,
    pub(super) predicate: P,
}

impl<'t, 'c, T: ScopedTable, P> ScopedDelete<'t, 'c, T, P> {
    /// Restricts the delete further (parenthesised, ANDed with the tenant predicate).
    pub fn filter<F>(self, predicate: F) -> ScopedDelete<'t, 'c, T, AndThen<P, Paren<F>>>
    where
        F: Expression,
        F::SqlType: BoolOrNullableBool,
    {
        ScopedDelete {
            tx: self.tx,
            table: self.table,
            predicate: AndThen(self.predicate, Paren(predicate)),
        }
    }

    /// Runs the delete; returns the number of rows removed.
    ///
    /// # Errors
    /// [`Error::UnsafeSql`] when a raw fragment reaches outside its parentheses; database
    /// errors.
    pub fn execute(self) -> Result<usize>
    where
        T: FilterDsl<P>,
        P: QueryFragment<Pg>,
        Filter<T, P>: IntoUpdateTarget,
        diesel::dsl::delete<Filter<T, P>>: QueryFragment<Pg> + QueryId,
    {
        delete_statement(self.tx.tenant, self.table, self.predicate)?
            .execute(self.tx.conn)
            .map_err(Error::from)
    }

    /// Not available: a tenant delete only narrows. See [`OrFilterOnTenantWrite`].
    #[doc(hidden)]
    pub fn or_filter<F: OrFilterOnTenantWrite>(self, _predicate: F) -> Self {
        self
    }
}
