//! Throwaway PostgreSQL databases for tenancy's tests, benchmarks, examples and quickstart,
//! and for an application's own isolation tests.
//!
//! ```no_run
//! use diesel::{Connection, PgConnection};
//! use tenancy_testing::TestDatabase;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A fresh database: in a private cluster, or on the server DATABASE_URL names.
//! let db = TestDatabase::start()?;
//! let mut owner = PgConnection::establish(db.url())?;
//! tenancy_schema::run_migrations(&mut owner)?;
//! // The application's login (a member of `tenancy_app` only) and a Tenancy on it.
//! let app_url = db.create_app_login("my_app_login", "secret")?;
//! let tenancy = db.tenancy(&app_url, 4)?;
//! # let _ = tenancy; Ok(()) }
//! ```
//!
//! [`TestDatabase::start`] decides which database to use:
//!
//! * with `DATABASE_URL` set, it connects to that server and creates a fresh, uniquely named
//!   database, dropped again when the [`TestDatabase`] is dropped;
//! * otherwise it starts a private `PostgreSQL` cluster (`initdb` + `pg_ctl`) in a temporary
//!   directory, listening on a free port on `127.0.0.1`, and removes it again on drop. Run as
//!   root, the server runs as the `postgres` OS user the PostgreSQL packages create.
//!
//! [`shared`] hands out one database per process, for test binaries whose tests should share
//! a cluster. Because statics are never dropped, every private cluster is guarded by a small
//! watchdog shell process that stops the server and removes its directory once this process
//! is gone (also when it is killed).
//!
//! [`CitusCluster`] starts a coordinator and two workers, each a private cluster preloading
//! Citus, for tests of distributed tables; [`CitusCluster::coordinator`] is a
//! [`TestDatabase`] on the coordinator, so the usual helpers work against it. It needs the
//! Citus extension built for the installed server (`bash ../shared/citus/build.sh` from the
//! project root); tests check [`citus_available`] to skip where it is not.
//!
//! This crate is for tests and tools only: an application depends on it as a
//! dev-dependency, and `tenancy-schema` itself never does at run time.

mod binaries;
mod citus;
mod cluster;
mod database;
mod diesel_cli;
mod error;
mod latency;
mod lattice;
mod native;
mod process;
mod run_as;
mod sql;
mod stop_mode;
#[cfg(test)]
mod tests;
mod url;
mod watchdog;

pub use citus::{CitusCluster, citus_available};
pub use database::{TestDatabase, shared};
pub use diesel_cli::{diesel_cli_for_test, find_diesel_cli, scratch_diesel_config};
pub use error::EmbeddedError;
pub use latency::LatencyProxy;
pub use lattice::membership_lattice;
pub use native::{REQUIRE_NATIVE_ENV, enable_native_context, native_context_available};
pub use stop_mode::StopMode;

use std::time::Duration;

/// Oldest supported `PostgreSQL` major version.
pub(crate) const MIN_MAJOR: u32 = 14;
/// How long to wait for a freshly started server to accept connections.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How often to retry starting the server on a new port when the port was taken meanwhile.
pub(crate) const START_ATTEMPTS: u32 = 5;
/// Lines of the server log quoted in errors.
pub(crate) const LOG_TAIL_LINES: usize = 30;
/// Where Debian/Ubuntu install the versioned server binaries (`<root>/<version>/bin`).
pub(crate) const LIB_ROOT: &str = "/usr/lib/postgresql";
/// Where Debian/Ubuntu install each version's share directory (`<root>/<version>`).
pub(crate) const SHARE_ROOT: &str = "/usr/share/postgresql";
/// OS user that runs the server when this process is root.
pub(crate) const OS_USER: &str = "postgres";
/// Bootstrap superuser of a private cluster.
pub(crate) const SUPERUSER: &str = "postgres";
/// Name of the database created in a private cluster.
pub(crate) const EMBEDDED_DATABASE: &str = "tenancy";
/// Fallback directories searched for system tools (`runuser`, `su`).
pub(crate) const SYSTEM_DIRS: [&str; 4] = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];
