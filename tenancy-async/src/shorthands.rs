//! The synchronous transaction's shorthands, on the async one: an explicit tenant filter, and
//! one-call inserts and upserts. Each is spelled out in terms of the builders, so the checks
//! and the statements are the builders' own.

use diesel::Column;
use diesel::insertable::{InsertValues, Insertable};
use diesel::pg::Pg;
use diesel::query_builder::{AsChangeset, QueryFragment, QueryId, ValuesClause};
use diesel_async::methods::{ExecuteDsl, LoadQuery};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy_schema::__private_v0_1::executor::{
    NoReturning, ReturningAll, SingleInsert, TenantEq, TenantInsert, tenant_filter,
    upsert_statement,
};
use tenancy_schema::scope::{ScopedTable, TenantFreeValues};
use tenancy_schema::{ManyRows, OneRow, Result};

use crate::AsyncTenantTx;
use crate::pipeline::run_statement;

impl AsyncTenantTx<'_> {
    /// `table.tenant_id = <this tenant>`, an explicit tenant filter, as
    /// [`tenancy_schema::TenantTx::tenant_filter`]. Sub-queries are scoped automatically; this
    /// remains for conditions you want spelled out.
    #[must_use]
    pub fn tenant_filter<T: ScopedTable>(&self, _table: T) -> TenantEq<T::TenantColumn> {
        tenant_filter::<T>(self.tenant)
    }

    /// Inserts one row (a struct deriving `Insertable`, or a tuple of `column.eq(value)`)
    /// with the tenant column set to this transaction's tenant: short for
    /// `tx.insert_into(table).values(record).execute().await`.
    ///
    /// # Errors
    /// As [`tenancy_schema::TenantTx::insert`].
    pub async fn insert<'s, T, R, V>(&'s mut self, table: T, record: R) -> Result<usize>
    where
        T: ScopedTable,
        T::AllColumns: QueryFragment<Pg>,
        R: Insertable<T, Values = ValuesClause<V, T>>,
        V: TenantFreeValues + InsertValues<Pg, T> + QueryId,
        TenantInsert<T, V>: ExecuteDsl<&'s AsyncPgConnection>,
        SingleInsert<T, V, NoReturning>: ExecuteDsl<&'s AsyncPgConnection>,
    {
        self.insert_into(table)
            .values::<_, V, OneRow>(record)
            .execute()
            .await
    }

    /// Inserts one row and returns it (`RETURNING *`).
    ///
    /// # Errors
    /// As [`AsyncTenantTx::insert`].
    pub async fn insert_returning<'q, 's, T, R, V, U>(
        &'s mut self,
        table: T,
        record: R,
    ) -> Result<U>
    where
        T: ScopedTable,
        T::AllColumns: QueryFragment<Pg>,
        R: Insertable<T, Values = ValuesClause<V, T>>,
        V: TenantFreeValues + InsertValues<Pg, T> + QueryId,
        TenantInsert<T, V>: LoadQuery<'q, &'s AsyncPgConnection, U> + 'q,
        SingleInsert<T, V, ReturningAll>: LoadQuery<'q, &'s AsyncPgConnection, U> + 'q,
        U: Send,
    {
        self.insert_into(table)
            .values::<_, V, OneRow>(record)
            .get_result()
            .await
    }

    /// Inserts many rows in one statement; returns how many were inserted (none sends
    /// nothing).
    ///
    /// # Errors
    /// As [`AsyncTenantTx::insert`].
    pub async fn insert_batch<'s, T, I, V>(&'s mut self, table: T, records: I) -> Result<usize>
    where
        T: ScopedTable,
        T::AllColumns: QueryFragment<Pg>,
        I: IntoIterator,
        I::Item: Insertable<T, Values = ValuesClause<V, T>>,
        V: TenantFreeValues + InsertValues<Pg, T> + QueryId,
        TenantInsert<T, V>: ExecuteDsl<&'s AsyncPgConnection>,
        SingleInsert<T, V, NoReturning>: ExecuteDsl<&'s AsyncPgConnection>,
    {
        let rows: Vec<I::Item> = records.into_iter().collect();
        self.insert_into(table)
            .values::<_, V, ManyRows>(rows)
            .execute()
            .await
    }

    /// `INSERT ... ON CONFLICT (tenant_id, <conflict>) DO UPDATE SET <changes>`, as
    /// [`tenancy_schema::TenantTx::upsert`]: the conflict target always includes the tenant
    /// column, so an upsert can only ever touch a row of this tenant.
    ///
    /// # Errors
    /// As [`tenancy_schema::TenantTx::upsert`].
    pub async fn upsert<'s, T, R, V, C, Ch>(
        &'s mut self,
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
        TenantInsert<T, V, Ch::Changeset>: ExecuteDsl<&'s AsyncPgConnection>,
    {
        let _ = (table, conflict);
        let statement = upsert_statement::<_, _, _, C, _>(self.tenant, record, changes)?;
        run_statement!(self.conn, |conn| statement.execute(conn))
    }
}
