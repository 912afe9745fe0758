//! What [`Tenancy::admin`] records before its work runs. The core knows no audit table: a
//! schema that has one installs a hook (the foundation's writes an `admin.escape_hatch` row
//! into its audit chain).

use std::fmt;

use diesel::PgConnection;

use crate::Error;
// Named by doc links only.
#[cfg(doc)]
use super::{Tenancy, TenancyConfig};

/// One use of the escape hatch, as an [`AdminAudit`] hook sees it.
#[derive(Debug, Clone, Copy)]
pub struct AdminUse<'a> {
    /// The reason given to [`Tenancy::admin`].
    pub reason: &'a str,
    /// The application's call site.
    pub caller: &'a std::panic::Location<'a>,
    /// The role the admin work runs as.
    pub role: &'a str,
}

/// Records each use of [`Tenancy::admin`] (installed with [`TenancyConfig::admin_audit`]).
/// The hook runs in a transaction of its own on the admin login, as the admin role, and that
/// transaction commits before the admin work starts, so that failed attempts are recorded
/// too; when the hook fails, the admin work does not run.
#[derive(Clone, Copy)]
pub struct AdminAudit {
    name: &'static str,
    record: fn(&mut PgConnection, &AdminUse<'_>) -> Result<(), Error>,
}

impl AdminAudit {
    /// A hook named `name` (for `Debug` output and comparisons) that calls `record`.
    #[must_use]
    pub const fn new(
        name: &'static str,
        record: fn(&mut PgConnection, &AdminUse<'_>) -> Result<(), Error>,
    ) -> Self {
        Self { name, record }
    }

    /// The hook's name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    pub(super) fn record(
        &self,
        conn: &mut PgConnection,
        admin_use: &AdminUse<'_>,
    ) -> Result<(), Error> {
        (self.record)(conn, admin_use)
    }
}

impl fmt::Debug for AdminAudit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AdminAudit").field(&self.name).finish()
    }
}

// Hooks compare by name: function pointers have no reliable identity.
impl PartialEq for AdminAudit {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for AdminAudit {}
