//! The driver's prepared statements, which SQL of a transaction can take away.
//!
//! diesel-async prepares each typed statement once per connection and keeps it, by name, in
//! the connection's cache. `DEALLOCATE` drops such statements on the server (also run through
//! PL/pgSQL's `EXECUTE`, so it cannot be found in a statement's text), and with the SQL tenant
//! context nothing refuses it (the native context's guard does): the connection would go back
//! to the pool with a cache naming statements that no longer exist, and every later
//! transaction on it, whichever tenant's, would fail its typed statements (`prepared statement
//! "s3" does not exist`).
//!
//! So, with the SQL context, a transaction that ran raw SQL (`execute`, `load_sql`) ends by
//! emptying its connection's cache: the driver closes what it had prepared (closing a
//! statement that is already gone is no error) and prepares again on next use. And a statement
//! refused because its prepared statement is gone (SQL reached some other way, through a
//! function say) marks its connection, which is then closed instead of pooled.

use diesel::connection::CacheSize;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::AsyncConnection;
use tenancy_schema::__private_v0_1::executor::SessionEnd;

use crate::pool::SessionConn;

/// Whether `result` is the server's refusal of a prepared statement that does not exist.
pub(crate) fn lost<T>(result: &diesel::QueryResult<T>) -> bool {
    matches!(
        result,
        Err(DieselError::DatabaseError(DatabaseErrorKind::Unknown, info))
            if info.message().starts_with("prepared statement \"")
                && info.message().ends_with("\" does not exist")
    )
}

/// Once a transaction on `conn` ended: empties the connection's statement cache when raw SQL
/// ran in it on the SQL context, where nothing refused a `DEALLOCATE`.
pub(crate) fn after_end(conn: &mut SessionConn) {
    if std::mem::take(&mut conn.state.raw_sql) && conn.state.session_end != SessionEnd::Guarded {
        conn.conn
            .set_prepared_statement_cache_size(CacheSize::Disabled);
        conn.conn
            .set_prepared_statement_cache_size(CacheSize::Unbounded);
    }
}
