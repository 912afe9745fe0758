//! The tenant transaction handed to callers. It is not a Diesel connection, so every query
//! has to pass through one of its methods, which scope it to the transaction's tenant.

use diesel::dsl::{Filter, Limit};
use diesel::expression::{AsExpression, Expression};
use diesel::insertable::{InsertValues, Insertable};
use diesel::pg::Pg;
use diesel::query_builder::{AsChangeset, QueryFragment, QueryId, ValuesClause};
use diesel::query_dsl::LoadQuery;
use diesel::query_dsl::methods::{FilterDsl, LimitDsl};
use diesel::{Column, ExpressionMethods, PgConnection, RunQueryDsl};

use super::{ManyRows, OneRow, RawSql, ScopedDelete, ScopedUpdate, raw_sql_only};
use crate::scope::{
    InsertReturns, OnConflict, ReturningAll, ScopedExists, ScopedTable, SingleInsert, TenantEq,
    TenantFreeValues, TenantInsert, TenantParam, TenantQuery, WriteShape, check_changeset,
    tables_checked,
};
use crate::{Error, PrincipalId, Result, Scoped, TenantId};

/// A transaction bound to one tenant.
///
/// It deliberately does not implement [`diesel::Connection`]: Diesel's own
/// `.load(&mut conn)` would run a query without the tenant filter. Queries are handed to
/// its methods instead, which scope every tenant-scoped table in the `FROM` clause (see
/// the crate docs for what is checked at compile time).
pub struct TenantTx<'c> {
    pub(super) conn: &'c mut PgConnection,
    pub(super) tenant: TenantId,
    pub(super) principal: Option<PrincipalId>,
    /// Set once raw SQL ran ([`super::lifecycle`] then drops Diesel's statements at the end).
    pub(super) raw_sql: &'c std::cell::Cell<bool>,
}

impl std::fmt::Debug for TenantTx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantTx")
            .field("tenant", &self.tenant)
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

impl<'c> TenantTx<'c> {
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

    /// Wraps `query` with this transaction's tenant without running it: every tenant-scoped
    /// table it names (in `FROM`, joins, aliases, sub-queries and raw fragments) is shadowed
    /// by the tenant's rows.
    ///
    /// # Errors
    /// [`Error::UnsafeSql`] for a schema-qualified tenant table in a raw fragment or
    /// unterminated SQL text; a query-builder error for a row lock that cannot be scoped.
    pub fn scope<Q: TenantQuery>(&self, query: Q) -> Result<Scoped<Q>> {
        Scoped::new(query, self.tenant).map_err(Error::from)
    }

    /// `table.tenant_id = <this tenant>`, an explicit tenant filter. Sub-queries are scoped
    /// automatically; this remains for conditions you want spelled out.
    #[must_use]
    pub fn tenant_filter<T: ScopedTable>(&self, _table: T) -> TenantEq<T::TenantColumn> {
        TenantEq::new(T::TenantColumn::default(), self.tenant)
    }

    /// Runs a `SELECT` and returns every row.
    ///
    /// # Errors
    /// Database errors; [`crate::scope::LockingJoinError`] (as a query-builder error) for a
    /// row lock over a join.
    pub fn load<'q, Q, U>(&mut self, query: Q) -> Result<Vec<U>>
    where
        Q: TenantQuery,
        Scoped<Q>: LoadQuery<'q, PgConnection, U>,
    {
        self.scope(query)?.load(self.conn).map_err(Error::from)
    }

    /// Runs a `SELECT` and returns its first row, or `NotFound`.
    ///
    /// # Errors
    /// As [`TenantTx::load`]; `NotFound` when there is no row.
    pub fn get_result<'q, Q, U>(&mut self, query: Q) -> Result<U>
    where
        Q: TenantQuery,
        Scoped<Q>: LoadQuery<'q, PgConnection, U>,
    {
        self.scope(query)?
            .get_result(self.conn)
            .map_err(Error::from)
    }

    /// Same as [`TenantTx::load`].
    ///
    /// # Errors
    /// As [`TenantTx::load`].
    pub fn get_results<'q, Q, U>(&mut self, query: Q) -> Result<Vec<U>>
    where
        Q: TenantQuery,
        Scoped<Q>: LoadQuery<'q, PgConnection, U>,
    {
        self.load(query)
    }

    /// Adds `LIMIT 1` and returns the row, or `NotFound`.
    ///
    /// # Errors
    /// As [`TenantTx::get_result`].
    pub fn first<'q, Q, U>(&mut self, query: Q) -> Result<U>
    where
        Q: LimitDsl,
        Limit<Q>: TenantQuery,
        Scoped<Limit<Q>>: LoadQuery<'q, PgConnection, U>,
    {
        self.get_result(query.limit(1))
    }

    /// Counts the rows `query` returns (`SELECT COUNT(*) FROM (<scoped query>)`).
    ///
    /// # Errors
    /// Database errors.
    pub fn count<'q, Q>(&mut self, query: Q) -> Result<i64>
    where
        Q: diesel::QueryDsl + diesel::query_dsl::methods::SelectDsl<diesel::dsl::CountStar>,
        diesel::dsl::Select<Q, diesel::dsl::CountStar>: TenantQuery,
        Scoped<diesel::dsl::Select<Q, diesel::dsl::CountStar>>: LoadQuery<'q, PgConnection, i64>,
    {
        self.get_result(query.count())
    }

    /// `SELECT EXISTS (<scoped query>)`; the scoped replacement for
    /// `diesel::select(exists(query))`.
    ///
    /// # Errors
    /// Database errors.
    pub fn exists<'q, Q>(&mut self, query: Q) -> Result<bool>
    where
        Q: TenantQuery,
        ScopedExists<Q>: LoadQuery<'q, PgConnection, bool>,
    {
        ScopedExists::new(query, self.tenant)?
            .get_result(self.conn)
            .map_err(Error::from)
    }

    /// Loads the row of `table` whose (non-tenant) primary key is `key`.
    ///
    /// # Errors
    /// `NotFound` when the row does not exist in this tenant.
    pub fn find<'q, T, K, U>(&mut self, table: T, key: K) -> Result<U>
    where
        T: crate::TenantFind,
        T: FilterDsl<diesel::dsl::Eq<T::KeyColumn, K>>,
        <T::KeyColumn as Expression>::SqlType: diesel::sql_types::SqlType,
        K: AsExpression<<T::KeyColumn as Expression>::SqlType>,
        Filter<T, diesel::dsl::Eq<T::KeyColumn, K>>: LimitDsl,
        Limit<Filter<T, diesel::dsl::Eq<T::KeyColumn, K>>>: TenantQuery,
        Scoped<Limit<Filter<T, diesel::dsl::Eq<T::KeyColumn, K>>>>: LoadQuery<'q, PgConnection, U>,
    {
        let column = T::KeyColumn::default();
        self.first(table.filter(column.eq(key)))
    }

    /// Inserts one row (a struct deriving `Insertable`, or a tuple of `column.eq(value)`)
    /// with the tenant column set to this transaction's tenant: short for
    /// `tx.insert_into(table).values(record).execute()`.
    ///
    /// # Errors
    /// [`Error::UnsafeSql`] when a raw value fragment leaves its row (closes it and adds
    /// another, or an `ON CONFLICT` or `RETURNING` of its own); database errors (constraint
    /// violations, RLS).
    pub fn insert<T, R, V>(&mut self, table: T, record: R) -> Result<usize>
    where
        T: ScopedTable,
        T::AllColumns: QueryFragment<Pg>,
        R: Insertable<T, Values = ValuesClause<V, T>>,
        V: TenantFreeValues + InsertValues<Pg, T> + QueryId,
    {
        self.insert_into(table)
            .values::<_, V, OneRow>(record)
            .execute()
    }

    /// Inserts one row and returns it (`RETURNING *`).
    ///
    /// # Errors
    /// As [`TenantTx::insert`].
    pub fn insert_returning<'q, T, R, V, U>(&mut self, table: T, record: R) -> Result<U>
    where
        T: ScopedTable,
        T::AllColumns: QueryFragment<Pg>,
        R: Insertable<T, Values = ValuesClause<V, T>>,
        V: TenantFreeValues + InsertValues<Pg, T> + QueryId,
        TenantInsert<T, V>: LoadQuery<'q, PgConnection, U>,
        SingleInsert<T, V, ReturningAll>: LoadQuery<'q, PgConnection, U>,
    {
        self.insert_into(table)
            .values::<_, V, OneRow>(record)
            .get_result()
    }

    /// Inserts many rows in one statement; returns how many were inserted.
    ///
    /// # Errors
    /// As [`TenantTx::insert`].
    pub fn insert_batch<T, I, V>(&mut self, table: T, records: I) -> Result<usize>
    where
        T: ScopedTable,
        T::AllColumns: QueryFragment<Pg>,
        I: IntoIterator,
        I::Item: Insertable<T, Values = ValuesClause<V, T>>,
        V: TenantFreeValues + InsertValues<Pg, T> + QueryId,
    {
        let rows: Vec<I::Item> = records.into_iter().collect();
        self.insert_into(table)
            .values::<_, V, ManyRows>(rows)
            .execute()
    }

    /// `INSERT ... ON CONFLICT (tenant_id, <conflict>) DO UPDATE SET <changes>`: the conflict
    /// target always includes the tenant column, so an upsert can only ever touch a row of
    /// this tenant. `changes` may use `diesel::upsert::excluded(column)`.
    ///
    /// # Errors
    /// [`Error::TenantColumnInChangeset`] (as a query-builder error) when `changes`
    /// assigns the tenant column; database errors.
    pub fn upsert<T, R, V, C, Ch>(
        &mut self,
        table: T,
        record: R,
        conflict: C,
        changes: Ch,
    ) -> Result<usize>
    where
        T: ScopedTable,
        T::AllColumns: QueryFragment<Pg>,
        R: Insertable<T, Values = ValuesClause<V, T>>,
        V: TenantFreeValues + InsertValues<Pg, T> + QueryId,
        C: Column<Table = T>,
        Ch: AsChangeset<Target = T>,
        Ch::Changeset: QueryFragment<Pg>,
    {
        let _ = (table, conflict);
        upsert_statement::<_, _, _, C, _>(self.tenant, record, changes)?
            .execute(self.conn)
            .map_err(Error::from)
    }

    /// The insert, checked: its changeset (for an upsert) assigns columns of `T` other than
    /// the tenant column, and every tenant-scoped table its values or changes read is shadowed.
    pub(super) fn insert_statement<T, V, Ch>(
        &self,
        rows: Vec<V>,
        conflict: Option<OnConflict<Ch>>,
        returning: bool,
    ) -> Result<TenantInsert<T, V, Ch>>
    where
        T: ScopedTable,
        T::AllColumns: QueryFragment<Pg>,
        V: InsertValues<Pg, T> + QueryId,
        Ch: QueryFragment<Pg>,
    {
        insert_statement(self.tenant, rows, conflict, returning)
    }

    /// Starts a tenant-scoped `UPDATE` of `table`; add `.filter(..)` and `.set(..)`.
    pub fn update<T: ScopedTable>(
        &mut self,
        table: T,
    ) -> ScopedUpdate<'_, 'c, T, TenantParam<T::TenantColumn>> {
        let predicate = crate::scope::predicate::tenant_predicate::<T>();
        ScopedUpdate {
            tx: self,
            table,
            predicate,
        }
    }

    /// Starts a tenant-scoped `DELETE` from `table`; add `.filter(..)` and `.execute()`.
    pub fn delete<T: ScopedTable>(
        &mut self,
        table: T,
    ) -> ScopedDelete<'_, 'c, T, TenantParam<T::TenantColumn>> {
        let predicate = crate::scope::predicate::tenant_predicate::<T>();
        ScopedDelete {
            tx: self,
            table,
            predicate,
        }
    }

    /// Runs raw SQL (`diesel::sql_query`). The compiler cannot see into it: it runs as the
    /// application role with this tenant set, so row level security is what keeps it to the
    /// tenant's rows.
    ///
    /// # Errors
    /// Database errors; [`Error::UnsafeSql`] before anything is sent for a typed Diesel statement
    /// (`SqlTextError::NotRawSql`) or SQL that would end the transaction or open another
    /// (`COMMIT`, `ROLLBACK`, `BEGIN`, ...: `SqlTextError::TransactionControl`).
    pub fn execute<Q: RawSql>(&mut self, query: Q) -> Result<usize> {
        raw_sql_only(&query)?;
        self.raw_sql.set(true);
        query.execute(self.conn).map_err(Error::from)
    }

    /// Loads rows from raw SQL (`diesel::sql_query` + `QueryableByName`); like
    /// [`TenantTx::execute`], only row level security checks it.
    ///
    /// # Errors
    /// Database errors; [`Error::UnsafeSql`] before anything is sent for a typed Diesel statement
    /// (`SqlTextError::NotRawSql`) or SQL that would end the transaction or open another
    /// (`COMMIT`, `ROLLBACK`, `BEGIN`, ...: `SqlTextError::TransactionControl`).
    pub fn load_sql<'q, Q, U>(&mut self, query: Q) -> Result<Vec<U>>
    where
        // Raw SQL is the only untyped query: `sql_query(..)` with or without `.bind(..)`.
        Q: diesel::query_builder::Query<SqlType = diesel::sql_types::Untyped>
            + LoadQuery<'q, PgConnection, U>
            + diesel::query_builder::QueryFragment<diesel::pg::Pg>,
    {
        raw_sql_only(&query)?;
        self.raw_sql.set(true);
        query.load(self.conn).map_err(Error::from)
    }
}

/// The one-row upsert of [`TenantTx::upsert`]: `ON CONFLICT ("tenant_id", <C>) DO UPDATE
/// SET <changes>`, checked as [`insert_statement`] checks it. Shared by every executor through
/// `tenancy_schema::__private_v0_1`.
///
/// # Errors
/// As [`insert_statement`].
#[doc(hidden)]
pub fn upsert_statement<T, R, V, C, Ch>(
    tenant: TenantId,
    record: R,
    changes: Ch,
) -> Result<TenantInsert<T, V, Ch::Changeset>>
where
    T: ScopedTable,
    T::AllColumns: QueryFragment<Pg>,
    R: Insertable<T, Values = ValuesClause<V, T>>,
    V: InsertValues<Pg, T> + QueryId,
    C: Column<Table = T>,
    Ch: AsChangeset<Target = T>,
    Ch::Changeset: QueryFragment<Pg>,
{
    insert_statement(
        tenant,
        vec![record.values().values],
        Some(OnConflict {
            columns: vec![C::NAME],
            update: Some(changes.as_changeset()),
        }),
        false,
    )
}

/// The insert for `tenant`, checked: its changeset (for an upsert) assigns columns of `T` other
/// than the tenant column, and every tenant-scoped table its values or changes read is
/// shadowed. Shared by every executor through `tenancy_schema::__private_v0_1`.
///
/// # Errors
/// [`Error::TenantColumnInChangeset`] and [`Error::UnsafeSql`] for a changeset that assigns
/// the tenant column or reaches outside its list, or a value that leaves its row;
/// query-builder errors.
#[doc(hidden)]
pub fn insert_statement<T, V, Ch>(
    tenant: TenantId,
    rows: Vec<V>,
    conflict: Option<OnConflict<Ch>>,
    returning: bool,
) -> Result<TenantInsert<T, V, Ch>>
where
    T: ScopedTable,
    T::AllColumns: QueryFragment<Pg>,
    V: InsertValues<Pg, T> + QueryId,
    Ch: QueryFragment<Pg>,
{
    let mut statement = TenantInsert {
        rows,
        conflict,
        returning: returning.then(T::all_columns),
        scope: None,
        bind: crate::scope::TenantBind::new(*tenant.as_uuid()),
        sent: None,
    };
    // Without ON CONFLICT the values' type fixes the SQL (up to the number of rows); an upsert
    // takes its conflict columns from a value, so it is checked every time.
    let rows = statement.rows.len();
    let shape = match statement.conflict {
        None => V::query_id()
            .map(|_| WriteShape::new(std::any::TypeId::of::<(T, V::QueryId)>(), returning, rows)),
        Some(_) => None,
    };
    let upsert_changes = statement
        .conflict
        .as_ref()
        .is_some_and(|c| c.update.is_some());
    let known = shape.and_then(WriteShape::checked_tables);
    let tail = crate::sql_lexer::InsertTail {
        conflict: statement.conflict.as_ref().map(|c| c.update.is_some()),
        returning,
    };
    let (tables, sent) = tables_checked(
        &statement.reserved(),
        T::SCOPE.table,
        None,
        shape,
        known,
        &|sql| {
            crate::sql_lexer::check_insert(sql, rows, tail)?;
            if upsert_changes {
                check_changeset::<T>(sql)?;
            }
            Ok(())
        },
    )?;
    let shadowed = !tables.is_empty();
    let plan = crate::scope::ScopePlan::shadowing(*tenant.as_uuid(), tables);
    statement.sent = Some(sent.after(&plan.prefix_text()?));
    if shadowed {
        statement.scope = Some(plan);
    }
    Ok(statement)
}

/// [`insert_statement`] for the common insert, one row without `ON CONFLICT`, typed so that
/// Diesel keeps its prepared statement by type. Shared like [`insert_statement`].
///
/// # Errors
/// As [`insert_statement`].
#[doc(hidden)]
pub fn single_insert_statement<T, V, R>(tenant: TenantId, row: V) -> Result<SingleInsert<T, V, R>>
where
    T: ScopedTable,
    T::AllColumns: QueryFragment<Pg>,
    V: InsertValues<Pg, T> + QueryId,
    R: InsertReturns,
{
    insert_statement::<T, V, ()>(tenant, vec![row], None, R::RETURNING).map(SingleInsert::new)
}
