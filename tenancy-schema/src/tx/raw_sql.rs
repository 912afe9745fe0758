//! What the methods for raw SQL accept: `diesel::sql_query(..)`, with or without `.bind(..)`,
//! boxed or not, and no typed Diesel statement, which would run unscoped.

use diesel::PgConnection;
use diesel::RunQueryDsl;
use diesel::pg::{Pg, PgQueryBuilder};
use diesel::query_builder::{QueryBuilder, QueryFragment};
use diesel::query_dsl::methods::ExecuteDsl;

use crate::{Error, Result, SqlTextError};

/// Raw SQL statements a tenant transaction accepts (checked by row level security only):
/// `diesel::sql_query(..)`, with or without `.bind(..)`, boxed or not. They are the only
/// queries whose SQL type is [`diesel::sql_types::Untyped`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be executed in a tenant transaction",
    label = "Diesel statements carry no tenant filter",
    note = "use `tx.insert(table, rows)`, `tx.update(table).filter(..).set(..).execute()`, `tx.delete(table).filter(..).execute()` or `tx.upsert(..)`; `tx.execute` takes raw `diesel::sql_query(..)` only"
)]
pub trait RawSql: ExecuteDsl<PgConnection> + RunQueryDsl<PgConnection> + QueryFragment<Pg> {}

// One impl for every untyped query: `sql_query(..).bind(..)` returns a type Diesel does not
// export, so it cannot be named in an impl of its own.
impl<Q> RawSql for Q
where
    Q: diesel::query_builder::Query
        + ExecuteDsl<PgConnection>
        + RunQueryDsl<PgConnection>
        + QueryFragment<Pg>,
    Q::SqlType: UntypedSql,
{
}

/// The SQL type of raw SQL; a typed Diesel query is not raw SQL.
#[diagnostic::on_unimplemented(
    message = "a typed Diesel query cannot be executed in a tenant transaction",
    label = "its rows are typed as `{Self}`",
    note = "load it with `tx.load(query)` (or `tx.first`/`tx.get_result`), which scopes it to the tenant; `tx.execute` takes raw `diesel::sql_query(..)` only"
)]
pub trait UntypedSql {}
impl UntypedSql for diesel::sql_types::Untyped {}

/// Where Diesel defines `sql_query`'s types: `SqlQuery`, what `.bind(..)` returns (a type it
/// does not export, so no bound can name it) and `BoxedSqlQuery`.
const SQL_QUERY_TYPES: &str = "diesel::query_builder::sql_query::";

/// Refuses a typed Diesel statement handed to a method for raw SQL, and raw SQL that ends or
/// opens a transaction.
///
/// The bounds of those methods take any query whose SQL type is `Untyped`, as only
/// `sql_query`'s were meant to be; a typed statement whose select list or `RETURNING` clause
/// is a raw `sql::<Untyped>(..)` fragment has that SQL type too, and nothing would scope it.
/// Only Diesel's `sql_query` module constructs its types, and what `.bind(..)` and
/// `.into_boxed()` wrap is always one of them, so the outermost type's path decides. A
/// compiler that wrote type names another way would refuse raw SQL here, not let a statement
/// through.
///
/// Tenancy opens the transaction and ends it when the closure returns; raw `COMMIT`,
/// `ROLLBACK` and the like would leave what follows outside it, without the tenant's context
/// (`SqlTextError::TransactionControl`).
///
/// # Errors
/// [`Error::UnsafeSql`] with [`SqlTextError::NotRawSql`] or
/// [`SqlTextError::TransactionControl`]; a bind that fails to render its SQL.
#[doc(hidden)]
pub fn raw_sql_only<Q: QueryFragment<Pg>>(query: &Q) -> Result<String> {
    let name = std::any::type_name::<Q>();
    if !name.starts_with(SQL_QUERY_TYPES) {
        let statement = name.split('<').next().unwrap_or(name);
        return Err(Error::UnsafeSql(SqlTextError::NotRawSql(
            statement.to_owned(),
        )));
    }
    let mut text = PgQueryBuilder::default();
    query.to_sql(&mut text, &Pg)?;
    let text = text.finish();
    crate::sql_lexer::check_raw_statement(&text).map_err(Error::UnsafeSql)?;
    Ok(text)
}

/// [`raw_sql_only`] for the system connection, which also refuses raw SQL naming a
/// tenant-scoped table anywhere, as its typed statements are
/// (`SqlTextError::TenantTableOnSystemConnection`): raw SQL there has no tenant, and where row
/// level security is off (shadow mode) nothing else would keep every tenant's rows from it.
///
/// # Errors
/// As [`raw_sql_only`], and [`Error::UnsafeSql`] for a tenant table or SQL the lexer refuses
/// (SQL run from text, escaped names).
#[doc(hidden)]
pub fn raw_global_sql_only<Q: QueryFragment<Pg>>(query: &Q) -> Result<()> {
    let text = raw_sql_only(query)?;
    crate::scope::refuse_tenant_tables(&text)
}

#[cfg(test)]
mod tests {
    use diesel::sql_types::{Integer, Text};

    use super::raw_sql_only;

    fn of<Q: diesel::query_builder::QueryFragment<diesel::pg::Pg>>(q: &Q) -> crate::Result<()> {
        raw_sql_only(q).map(drop)
    }

    #[test]
    fn only_sql_query_and_its_binds_are_raw_sql() {
        let plain = diesel::sql_query("SELECT 1");
        let bound = diesel::sql_query("SELECT $1, $2")
            .bind::<Integer, _>(1)
            .bind::<Text, _>("x");
        let boxed = diesel::sql_query("SELECT $1")
            .into_boxed::<diesel::pg::Pg>()
            .bind::<Integer, _>(1);
        let bound_boxed = diesel::sql_query("SELECT $1")
            .bind::<Integer, _>(1)
            .into_boxed::<diesel::pg::Pg>();
        assert!(of(&plain).is_ok());
        assert!(of(&bound).is_ok());
        assert!(of(&boxed).is_ok());
        assert!(of(&bound_boxed).is_ok());
        let typed = diesel::select(diesel::dsl::sql::<diesel::sql_types::Untyped>("1"));
        let refused = of(&typed).unwrap_err().to_string();
        assert!(
            refused.contains("diesel::query_builder::select_statement::SelectStatement"),
            "{refused}"
        );
    }

    #[test]
    fn raw_sql_that_ends_or_opens_a_transaction_is_refused() {
        for text in [
            "COMMIT",
            "commit and chain",
            "/* a */ END",
            "-- a\nROLLBACK",
            "rollback work",
            "ROLLBACK PREPARED 'x'",
            "ABORT",
            "PREPARE TRANSACTION 'x'",
            "BEGIN",
            "start transaction",
            "; COMMIT",
            "COMMIT; SELECT U&\"x\"",
        ] {
            let refused = of(&diesel::sql_query(text)).unwrap_err().to_string();
            assert!(
                refused.contains("may not end or open a transaction"),
                "{text}: {refused}"
            );
        }
        for text in [
            "SELECT 1",
            "ROLLBACK TO SAVEPOINT s",
            "rollback to s",
            "ROLLBACK WORK TO s",
            "SAVEPOINT s",
            "RELEASE SAVEPOINT s",
            "SELECT 'COMMIT'",
            "SELECT 1 AS \"commit\"",
            "\"commit\"",
            "SELECT U&\"a\"",
            "PREPARE p AS SELECT 1",
            "DO $$ BEGIN PERFORM 1; END $$",
            // The server refuses a second command in one prepared statement.
            "SELECT 1; COMMIT",
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END",
        ] {
            assert!(of(&diesel::sql_query(text)).is_ok(), "{text}");
        }
    }

    #[test]
    fn raw_sql_that_runs_merge_is_refused() {
        for text in [
            "MERGE INTO posts USING (SELECT 1) s ON true WHEN MATCHED THEN DELETE",
            "WITH s AS (SELECT 1) merge into posts USING s ON true WHEN MATCHED THEN DELETE",
            "DO $$ BEGIN MERGE INTO posts USING (SELECT 1) s ON true WHEN MATCHED THEN DELETE; END $$",
        ] {
            let refused = of(&diesel::sql_query(text)).unwrap_err().to_string();
            assert!(refused.contains("may not run MERGE"), "{text}: {refused}");
        }
        assert!(of(&diesel::sql_query("SELECT merge FROM t")).is_ok());
    }
}
