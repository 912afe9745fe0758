//! The driver's prepared statements, which SQL of a transaction can take away.
//!
//! diesel-async prepares each typed statement once per connection and keeps it, by name, in
//! the connection's cache, which raw SQL may leave naming statements the server no longer has
//! (`SessionEnd::drops_statements_after_raw_sql` says when and why).
//!
//! So a transaction that ran raw SQL (`execute`, `load_sql`) on such a connection ends by
//! emptying its cache: the driver closes what it had prepared (closing a statement that is
//! already gone is no error) and prepares again on next use. And a statement
//! refused because its prepared statement is gone (SQL reached some other way, through a
//! function say) marks its connection, which is then closed instead of pooled.

use diesel::connection::CacheSize;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::AsyncConnection;

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
/// ran in it where that leaves the statements in doubt.
pub(crate) fn after_end(conn: &mut SessionConn) {
    if std::mem::take(&mut conn.state.raw_sql)
        && conn.state.session_end.drops_statements_after_raw_sql()
    {
        conn.conn
            .set_prepared_statement_cache_size(CacheSize::Disabled);
        conn.conn
            .set_prepared_statement_cache_size(CacheSize::Unbounded);
    }
}
