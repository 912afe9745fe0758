//! Why setting up a throwaway database failed.

use std::io;

/// Errors from setting up a test/quickstart database.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// No `PostgreSQL` server binaries (`initdb`, `pg_ctl`, `postgres`) of version >= 14 were found.
    #[error(
        "no PostgreSQL server binaries found (looked for initdb/pg_ctl on PATH and under /usr/lib/postgresql/*/bin): install the `postgresql` package (Debian/Ubuntu: `apt-get install postgresql`), or set DATABASE_URL to an existing server"
    )]
    BinariesNotFound,

    /// An external command (`initdb`, `pg_ctl`, `chown`, ...) exited unsuccessfully.
    #[error("`{command}` failed ({status}); output:\n{output}")]
    CommandFailed {
        /// The command line that failed.
        command: String,
        /// Its exit status.
        status: String,
        /// Captured stderr/stdout, plus the server log tail where relevant.
        output: String,
    },

    /// An I/O operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// The server was started but did not accept connections in time.
    #[error(
        "the PostgreSQL server did not accept connections within {waited_secs}s; server log tail:\n{log_tail}"
    )]
    NotReady {
        /// How long we waited.
        waited_secs: u64,
        /// The last lines of the server log.
        log_tail: String,
    },

    /// Connecting to the server failed.
    #[error(
        "could not connect to {url}: {source}; check that the server is running and the url (DATABASE_URL) is right"
    )]
    Connect {
        /// The url, with any password redacted.
        url: String,
        /// The underlying error.
        #[source]
        source: diesel::ConnectionError,
    },

    /// A statement (e.g. `CREATE DATABASE`) failed.
    #[error("{context}: {source}")]
    Query {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: diesel::result::Error,
    },

    /// `DATABASE_URL` could not be used.
    #[error(
        "DATABASE_URL is not a usable postgres url ({reason}); use postgres://user:password@host:port/database, or unset it to start a private server"
    )]
    InvalidDatabaseUrl {
        /// What is wrong with it.
        reason: String,
    },

    /// Looking up, creating or switching to the OS user that runs the server failed.
    #[error("os user setup failed: {0}")]
    OsUser(String),

    /// [`CitusCluster::start`](crate::CitusCluster::start) found no Citus extension for the
    /// located `PostgreSQL` server (no `citus.control` in its extension directory).
    #[error(
        "Citus is not installed for PostgreSQL {major} (no citus.control in {looked_in}): install it with `bash ../shared/citus/build.sh` from the project root (needs root), or skip the tests that need it"
    )]
    CitusMissing {
        /// Major version of the located server, which Citus has to be built for.
        major: u32,
        /// The extension directories searched, comma-separated.
        looked_in: String,
    },

    /// The `tenancy_context` extension is not installed and `TENANCY_REQUIRE_NATIVE=1` asks
    /// for it ([`crate::native_context_available`]).
    #[error(
        "the tenancy_context extension is not installed on the test server: `make -C extension install` from the project root (needs root and the server's development headers), or unset TENANCY_REQUIRE_NATIVE"
    )]
    NativeContextMissing,

    /// A database could not be switched to the native tenant context
    /// ([`crate::enable_native_context`]).
    #[error(
        "could not switch the database to the native tenant context: {reason} (the tenancy_context extension installs with `make -C extension install` from the project root, as root, with the server's development headers)"
    )]
    NativeContextNotEnabled {
        /// What stood in the way.
        reason: String,
    },

    /// [`TestDatabase::stop`](crate::TestDatabase::stop),
    /// [`TestDatabase::start_again`](crate::TestDatabase::start_again) or
    /// [`TestDatabase::restart`](crate::TestDatabase::restart) was called on a database
    /// created on the `DATABASE_URL` server: that server is shared with whoever else uses it,
    /// so tests never stop it.
    #[error(
        "cannot {action} the database server: this database was created on the DATABASE_URL server, not in a private cluster started by this process; use TestDatabase::start_embedded() for tests that stop or restart the server"
    )]
    NotEmbedded {
        /// What was asked: `stop`, `start` or `restart`.
        action: &'static str,
    },
}

pub(crate) fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> EmbeddedError {
    let context = context.into();
    move |source| EmbeddedError::Io { context, source }
}
