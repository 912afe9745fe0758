//! The admin connection: deliberately unscoped, so it lives alone and stays easy to audit.

use diesel::PgConnection;

// Named by doc links only.
#[cfg(doc)]
use super::Tenancy;

/// A connection running as the admin role (`BYPASSRLS`), from [`Tenancy::admin`]. It is a
/// plain Diesel connection: nothing is scoped, which is the point of the escape hatch.
pub struct AdminConn<'c> {
    pub(super) conn: &'c mut PgConnection,
}

impl std::fmt::Debug for AdminConn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConn").finish_non_exhaustive()
    }
}

impl std::ops::Deref for AdminConn<'_> {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        self.conn
    }
}

impl std::ops::DerefMut for AdminConn<'_> {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.conn
    }
}
