//! The application pool's connections: each carries the session number its tenant contexts
//! are bound to (see [`crate::ContextKey`]).

use diesel::PgConnection;
use diesel::RunQueryDsl;
use diesel::r2d2::{ConnectionManager, ManageConnection};
use diesel::sql_types::BigInt;

/// An r2d2 connection manager that opens a tenancy session on every new connection
/// (`SELECT tenancy.open_session()`). Its connections are private to [`crate::Tenancy`]:
/// nothing outside the crate can run SQL on them.
#[derive(Debug)]
pub struct SessionManager {
    inner: ConnectionManager<PgConnection>,
}

impl SessionManager {
    pub(crate) fn new(database_url: &str) -> Self {
        Self {
            inner: ConnectionManager::new(database_url),
        }
    }
}

/// A pooled connection of the application login, with its tenancy session number.
pub struct SessionConn {
    pub(crate) conn: PgConnection,
    pub(crate) session: i64,
    /// Whether a transaction opened on it before ([`crate::tx::ConnectionState`]).
    pub(crate) opened_before: bool,
}

impl std::fmt::Debug for SessionConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionConn")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

#[derive(diesel::QueryableByName)]
struct Opened {
    #[diesel(sql_type = BigInt)]
    session: i64,
}

impl ManageConnection for SessionManager {
    type Connection = SessionConn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<SessionConn, Self::Error> {
        let mut conn = self.inner.connect()?;
        let opened: Opened =
            diesel::sql_query("SELECT tenancy.open_session() AS session").get_result(&mut conn)?;
        Ok(SessionConn {
            conn,
            session: opened.session,
            opened_before: false,
        })
    }

    fn is_valid(&self, conn: &mut SessionConn) -> Result<(), Self::Error> {
        self.inner.is_valid(&mut conn.conn)
    }

    fn has_broken(&self, conn: &mut SessionConn) -> bool {
        self.inner.has_broken(&mut conn.conn)
    }
}
