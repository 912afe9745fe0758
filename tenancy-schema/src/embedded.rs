//! Throwaway `PostgreSQL` databases for tests and the quickstart.
//!
//! [`TestDatabase::start`] decides which database to use:
//!
//! * with `DATABASE_URL` set, it connects to that server and creates a fresh, uniquely named
//!   database, dropped again when the [`TestDatabase`] is dropped;
//! * otherwise it starts a private `PostgreSQL` cluster (`initdb` + `pg_ctl`) in a temporary
//!   directory, listening on a free port on `127.0.0.1`, and removes it again on drop.
//!
//! [`shared`] hands out one database per process, for test binaries whose tests should share
//! a cluster. Because statics are never dropped, every private cluster is guarded by a small
//! watchdog shell process that stops the server and removes its directory once this process
//! is gone (also when it is killed).

use std::ffi::{OsStr, OsString};
use std::fmt::{self, Write as _};
use std::fs;
use std::io;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{self, Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use diesel::{Connection, PgConnection, RunQueryDsl};
use tempfile::TempDir;

/// Oldest supported `PostgreSQL` major version.
const MIN_MAJOR: u32 = 14;
/// How long to wait for a freshly started server to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How often to retry starting the server on a new port when the port was taken meanwhile.
const START_ATTEMPTS: u32 = 5;
/// Lines of the server log quoted in errors.
const LOG_TAIL_LINES: usize = 30;
/// Where Debian/Ubuntu install the versioned server binaries (`<root>/<version>/bin`).
const LIB_ROOT: &str = "/usr/lib/postgresql";
/// OS user that runs the server when this process is root.
const OS_USER: &str = "postgres";
/// Bootstrap superuser of a private cluster.
const SUPERUSER: &str = "postgres";
/// Name of the database created in a private cluster.
const EMBEDDED_DATABASE: &str = "tenancy";
/// Fallback directories searched for system tools (`runuser`, `su`, `useradd`).
const SYSTEM_DIRS: [&str; 4] = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

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

    /// [`TestDatabase::stop`], [`TestDatabase::start_again`] or [`TestDatabase::restart`] was
    /// called on a database created on the `DATABASE_URL` server: that server is shared with
    /// whoever else uses it, so tests never stop it.
    #[error(
        "cannot {action} the database server: this database was created on the DATABASE_URL server, not in a private cluster started by this process; use TestDatabase::start_embedded() for tests that stop or restart the server"
    )]
    NotEmbedded {
        /// What was asked: `stop`, `start` or `restart`.
        action: &'static str,
    },
}

/// How [`TestDatabase::stop`] shuts a private cluster down (`pg_ctl stop -m <mode>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StopMode {
    /// `-m fast`: open transactions are rolled back, clients are disconnected and a
    /// checkpoint is written; a planned restart (deploy, failover drill).
    #[default]
    Fast,
    /// `-m immediate`: every server process quits at once without a checkpoint, so the next
    /// start runs crash recovery from the WAL; as close to a power cut as a test can get
    /// without losing the operating system's page cache. The cluster runs with
    /// `synchronous_commit=off` for speed, so commits acknowledged in the last few hundred
    /// milliseconds may be lost unless the session set `synchronous_commit = on` (for
    /// example with `ALTER ROLE <login> SET synchronous_commit = on`).
    Immediate,
}

impl StopMode {
    fn pg_ctl_name(self) -> &'static str {
        match self {
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        }
    }
}

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> EmbeddedError {
    let context = context.into();
    move |source| EmbeddedError::Io { context, source }
}

/// A `PostgreSQL` database for one test run or quickstart.
///
/// Dropping it stops the private cluster and removes its directory, or drops the database
/// created on the `DATABASE_URL` server. Dropping never panics; failures are logged.
pub struct TestDatabase {
    /// Url parts of the fresh database, logged in as the superuser / owner.
    target: UrlParts,
    /// `target` rendered, returned by [`TestDatabase::url`].
    url: String,
    kind: Kind,
    /// Cleans up the created database if this process dies without dropping us (see [`shared`]).
    watchdog: Option<Child>,
}

enum Kind {
    /// A private cluster started by us; its `Drop` stops it.
    Embedded(Cluster),
    /// A database created on an existing server.
    Created {
        /// Url used to create (and later drop) the database.
        admin_url: String,
        name: String,
    },
}

impl TestDatabase {
    /// With `DATABASE_URL` unset: start a private throwaway cluster and return a database in it.
    /// With `DATABASE_URL` set: connect to that server and create a fresh, uniquely named
    /// database (`tenancy_test_<pid>_<nanos>_<counter>`), dropped again on drop.
    ///
    /// # Errors
    ///
    /// See [`TestDatabase::start_embedded`] and [`TestDatabase::create_in`].
    pub fn start() -> Result<TestDatabase, EmbeddedError> {
        match std::env::var("DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => Self::create_in(url.trim()),
            Ok(_) | Err(std::env::VarError::NotPresent) => Self::start_embedded(),
            Err(std::env::VarError::NotUnicode(_)) => Err(EmbeddedError::InvalidDatabaseUrl {
                reason: "it is not valid unicode".to_owned(),
            }),
        }
    }

    /// Always start a private throwaway cluster, ignoring `DATABASE_URL`.
    ///
    /// # Errors
    ///
    /// [`EmbeddedError::BinariesNotFound`] when no `PostgreSQL` >= 14 server is installed; other
    /// variants when creating the cluster, starting the server or creating the database fails.
    pub fn start_embedded() -> Result<TestDatabase, EmbeddedError> {
        let cluster = Cluster::start()?;
        let admin = UrlParts::loopback(cluster.port, "postgres");
        let mut conn = connect(&admin.render())?;
        create_database(&mut conn, EMBEDDED_DATABASE)?;
        drop(conn);
        let target = UrlParts::loopback(cluster.port, EMBEDDED_DATABASE);
        tracing::info!(url = %target.render(), "started private PostgreSQL cluster");
        Ok(TestDatabase {
            url: target.render(),
            target,
            kind: Kind::Embedded(cluster),
            watchdog: None,
        })
    }

    /// Connect to the server at `admin_url` and create a fresh, uniquely named database there,
    /// owned by the url's user and dropped again (`WITH (FORCE)`) when the result is dropped.
    ///
    /// # Errors
    ///
    /// [`EmbeddedError::InvalidDatabaseUrl`] for a url that is not `postgres://...`,
    /// [`EmbeddedError::Connect`] / [`EmbeddedError::Query`] when connecting or creating fails.
    pub fn create_in(admin_url: &str) -> Result<TestDatabase, EmbeddedError> {
        let admin = UrlParts::parse(admin_url)?;
        let name = unique_database_name();
        let mut conn = connect(admin_url)?;
        create_database(&mut conn, &name)?;
        drop(conn);
        let target = admin.with_database(&name);
        tracing::debug!(database = %name, "created test database");
        Ok(TestDatabase {
            url: target.render(),
            target,
            kind: Kind::Created {
                admin_url: admin_url.to_owned(),
                name,
            },
            watchdog: None,
        })
    }

    /// Connection URL for a superuser / owner (the cluster's bootstrap superuser `postgres`, or
    /// the `DATABASE_URL` user) on the fresh database.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// URL for the same database, logging in as `user` with `password` (both percent-encoded).
    #[must_use]
    pub fn url_for(&self, user: &str, password: &str) -> String {
        let userinfo = format!("{}:{}", percent_encode(user), percent_encode(password));
        self.target.render_as(Some(&userinfo))
    }

    /// Name of the fresh database.
    #[must_use]
    pub fn database_name(&self) -> &str {
        &self.target.database
    }

    /// Creates, unless it exists, the login an application (or a test) runs tenant
    /// transactions as: `LOGIN NOSUPERUSER NOBYPASSRLS INHERIT`, a member of `tenancy_app`
    /// only (which the migrations create, so run them first); a membership in `tenancy_admin`
    /// left from an older set-up is revoked. Returns the URL that logs in as it.
    ///
    /// # Errors
    /// [`EmbeddedError::Connect`] / [`EmbeddedError::Query`].
    pub fn create_app_login(&self, role: &str, password: &str) -> Result<String, EmbeddedError> {
        self.create_login(role, password, "INHERIT", "tenancy_app", "tenancy_admin")
    }

    /// Creates, unless it exists, a login for the admin escape hatch: a member of
    /// `tenancy_admin` only, reached with `SET LOCAL ROLE`. Returns the URL that logs in as it.
    ///
    /// # Errors
    /// [`EmbeddedError::Connect`] / [`EmbeddedError::Query`].
    pub fn create_admin_login(&self, role: &str, password: &str) -> Result<String, EmbeddedError> {
        self.create_login(role, password, "NOINHERIT", "tenancy_admin", "tenancy_app")
    }

    /// A [`crate::Tenancy`] whose tenant transactions log in with `app_url` (from
    /// [`TestDatabase::create_app_login`]) and whose admin path uses this database's shared
    /// admin login `tenancy_test_admin`, created on first use.
    ///
    /// # Errors
    /// As [`TestDatabase::tenancy_builder`] and [`crate::TenancyBuilder::build`].
    pub fn tenancy(&self, app_url: &str, max_size: u32) -> Result<crate::Tenancy, crate::Error> {
        self.tenancy_builder(app_url)?.max_size(max_size).build()
    }

    /// [`crate::Tenancy::builder`] for `app_url` with the admin login set, for tests that
    /// change more than the pool size.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] when the admin login cannot be created.
    pub fn tenancy_builder(&self, app_url: &str) -> Result<crate::TenancyBuilder, crate::Error> {
        let admin_url = self
            .create_admin_login("tenancy_test_admin", "test-admin-password")
            .map_err(|e| crate::Error::InvalidInput {
                field: "test database admin login",
                reason: e.to_string(),
            })?;
        Ok(crate::Tenancy::builder(app_url).admin_url(&admin_url))
    }

    /// Role changes of one process go one at a time: concurrent GRANTs on the same role fail
    /// with "tuple concurrently updated".
    fn create_login(
        &self,
        role: &str,
        password: &str,
        inherit: &str,
        member_of: &str,
        never_of: &str,
    ) -> Result<String, EmbeddedError> {
        use diesel::connection::SimpleConnection;
        #[derive(diesel::QueryableByName)]
        struct Exists {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            exists: bool,
        }
        static ROLE_CHANGES: Mutex<()> = Mutex::new(());
        let query_error = |source| EmbeddedError::Query {
            context: format!("could not create the login role `{role}`"),
            source,
        };
        let _one_at_a_time = ROLE_CHANGES.lock().unwrap_or_else(PoisonError::into_inner);
        let mut conn = connect(&self.url)?;
        let exists = |conn: &mut PgConnection| {
            diesel::sql_query("SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1) AS exists")
                .bind::<diesel::sql_types::Text, _>(role)
                .get_result::<Exists>(conn)
                .map(|e| e.exists)
        };
        let ident = quote_ident(role);
        if !exists(&mut conn).map_err(query_error)? {
            let created = conn.batch_execute(&format!(
                "CREATE ROLE {ident} LOGIN NOSUPERUSER NOBYPASSRLS {inherit} PASSWORD {}",
                quote_literal(password)
            ));
            // Another process may have created it in the meantime.
            if let Err(source) = created
                && !exists(&mut conn).map_err(query_error)?
            {
                return Err(query_error(source));
            }
        }
        conn.batch_execute(&format!(
            "ALTER ROLE {ident} {inherit}; GRANT {member_of} TO {ident}; REVOKE {never_of} FROM {ident}"
        ))
        .map_err(query_error)?;
        Ok(self.url_for(role, password))
    }

    /// `true` when this is a private cluster started by us.
    #[must_use]
    pub fn is_embedded(&self) -> bool {
        matches!(self.kind, Kind::Embedded(_))
    }

    /// Stops the private cluster's server, for fault-injection tests: clients see their
    /// connections fail until [`TestDatabase::start_again`]. The data directory, port and
    /// urls stay, and dropping a stopped database still removes everything. Stopping a
    /// stopped server does nothing.
    ///
    /// Do not call it on [`shared`]: every test of the process uses that server.
    ///
    /// # Errors
    ///
    /// [`EmbeddedError::NotEmbedded`] for a database on the `DATABASE_URL` server;
    /// [`EmbeddedError::CommandFailed`] / [`EmbeddedError::Io`] when `pg_ctl stop` fails (the
    /// server is then treated as still running).
    pub fn stop(&self, mode: StopMode) -> Result<(), EmbeddedError> {
        self.cluster("stop")?.stop_server(mode)
    }

    /// Starts the server of a private cluster stopped with [`TestDatabase::stop`] again, on the
    /// same port and data directory, so every url handed out before works again; returns once
    /// it accepts connections (after crash recovery, for [`StopMode::Immediate`]). Starting a
    /// running server does nothing.
    ///
    /// # Errors
    ///
    /// [`EmbeddedError::NotEmbedded`] for a database on the `DATABASE_URL` server;
    /// [`EmbeddedError::CommandFailed`] (with the server log tail, which says so when another
    /// process took the port meanwhile) or [`EmbeddedError::NotReady`] when the server does
    /// not come back.
    pub fn start_again(&self) -> Result<(), EmbeddedError> {
        self.cluster("start")?.start_stopped_server()
    }

    /// [`TestDatabase::stop`] with `mode`, then [`TestDatabase::start_again`]: the database
    /// restarts under its clients, as in a deploy (`Fast`) or a crash (`Immediate`).
    ///
    /// # Errors
    ///
    /// As [`TestDatabase::stop`] and [`TestDatabase::start_again`].
    pub fn restart(&self, mode: StopMode) -> Result<(), EmbeddedError> {
        let cluster = self.cluster("restart")?;
        cluster.stop_server(mode)?;
        cluster.start_stopped_server()
    }

    /// `true` while the server accepts (or may accept) connections: always for a database on
    /// the `DATABASE_URL` server, and for a private cluster unless it was stopped.
    #[must_use]
    pub fn is_running(&self) -> bool {
        match &self.kind {
            Kind::Embedded(cluster) => *cluster.lock_running(),
            Kind::Created { .. } => true,
        }
    }

    fn cluster(&self, action: &'static str) -> Result<&Cluster, EmbeddedError> {
        match &self.kind {
            Kind::Embedded(cluster) => Ok(cluster),
            Kind::Created { .. } => Err(EmbeddedError::NotEmbedded { action }),
        }
    }

    /// For a database created on a `DATABASE_URL` server: start a watchdog that drops it once
    /// this process is gone (needs `psql`). Private clusters always have their own watchdog.
    fn guard_against_exit(&mut self) {
        let Kind::Created { admin_url, name } = &self.kind else {
            return;
        };
        let Some(psql) = find_psql() else {
            tracing::warn!(
                database = %name,
                "psql not found: the shared test database will not be dropped at exit"
            );
            return;
        };
        let script = format!(
            "{WATCHDOG_PRELUDE}\
             while alive; do sleep 1; done\n\
             \"$TENANCY_PSQL\" -X -q -d \"$TENANCY_ADMIN_URL\" -c \"$TENANCY_DROP_SQL\" >/dev/null 2>&1\n"
        );
        let drop_sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name));
        self.watchdog = spawn_watchdog(
            &script,
            &[
                ("TENANCY_PSQL", psql.as_os_str()),
                ("TENANCY_ADMIN_URL", OsStr::new(admin_url)),
                ("TENANCY_DROP_SQL", OsStr::new(&drop_sql)),
            ],
        );
    }
}

impl fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDatabase")
            .field("url", &redact(&self.url))
            .field("embedded", &self.is_embedded())
            .field(
                "cluster_dir",
                &match &self.kind {
                    Kind::Embedded(cluster) => Some(cluster.root()),
                    Kind::Created { .. } => None,
                },
            )
            .finish_non_exhaustive()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        stop_watchdog(&mut self.watchdog);
        if let Kind::Created { admin_url, name } = &self.kind {
            drop_database(admin_url, name);
        }
        // `Kind::Embedded`: the cluster's own `Drop` stops the server and removes the directory.
    }
}

/// One database shared by every caller in this process, started on first use (with
/// [`TestDatabase::start`], so `DATABASE_URL` is honoured).
///
/// It is never dropped; a watchdog process stops the cluster and removes its directory (or
/// drops the created database, using `psql`) once this process has exited or was killed.
///
/// # Errors
///
/// The error of the first start attempt, shared by all callers; later calls do not retry.
pub fn shared() -> Result<&'static TestDatabase, Arc<EmbeddedError>> {
    static SHARED: OnceLock<Result<TestDatabase, Arc<EmbeddedError>>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let mut db = TestDatabase::start().map_err(Arc::new)?;
            db.guard_against_exit();
            Ok(db)
        })
        .as_ref()
        .map_err(Arc::clone)
}

// ---------------------------------------------------------------------------------------------
// Private cluster
// ---------------------------------------------------------------------------------------------

/// A private cluster: being set up, running, or stopped by [`TestDatabase::stop`]. Dropping
/// it stops the server if it may be running, then the `dir` field's own drop removes the
/// directory.
struct Cluster {
    bins: PgBinaries,
    run_as: RunAs,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    log_path: PathBuf,
    port: u16,
    /// Whether the server may be running: a `pg_ctl start` was attempted and no stop
    /// succeeded since, so drop must stop it. The lock also serialises stop and start.
    running: Mutex<bool>,
    watchdog: Option<Child>,
    /// Declared last: removed after `Drop::drop` stopped the server.
    dir: TempDir,
}

impl Cluster {
    fn start() -> Result<Cluster, EmbeddedError> {
        let bins = PgBinaries::locate()?;
        let run_as = RunAs::detect()?;
        let base = match run_as {
            // The server user must be able to reach the directory; /tmp is world-traversable.
            RunAs::Current => std::env::temp_dir(),
            RunAs::Runuser(_) | RunAs::Su(_) => PathBuf::from("/tmp"),
        };
        let dir = tempfile::Builder::new()
            .prefix("tenancy-pg-")
            .tempdir_in(&base)
            .map_err(io_error(format!(
                "could not create a temporary directory in {}",
                base.display()
            )))?;
        let root = dir.path().to_path_buf();
        let socket_dir = root.join("socket");
        fs::create_dir(&socket_dir).map_err(io_error(format!(
            "could not create socket directory {}",
            socket_dir.display()
        )))?;
        run_as.give_ownership(&root)?;

        let mut cluster = Cluster {
            data_dir: root.join("data"),
            log_path: root.join("server.log"),
            socket_dir,
            port: 0,
            running: Mutex::new(false),
            watchdog: None,
            bins,
            run_as,
            dir,
        };
        cluster.watchdog = cluster.spawn_watchdog();
        cluster.initdb()?;
        cluster.start_server()?;
        cluster.wait_ready()?;
        Ok(cluster)
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A command for a server binary, run as the server's OS user, inside the cluster directory.
    fn server_command(&self, tool: &str, args: &[OsString]) -> Command {
        let mut cmd = self.run_as.command(&self.bins.tool(tool), args);
        cmd.current_dir(self.root());
        cmd
    }

    fn initdb(&self) -> Result<(), EmbeddedError> {
        let args: Vec<OsString> = vec![
            "-D".into(),
            (&self.data_dir).into(),
            "-A".into(),
            "trust".into(),
            "-U".into(),
            SUPERUSER.into(),
            "-E".into(),
            "UTF8".into(),
            "--locale=C".into(),
            "--no-sync".into(),
        ];
        let cmd = self.server_command("initdb", &args);
        run_checked(cmd, &describe("initdb", &args))?;
        Ok(())
    }

    fn start_server(&mut self) -> Result<(), EmbeddedError> {
        for attempt in 1..=START_ATTEMPTS {
            let port = free_port()?;
            self.port = port;
            self.log_path = self.root().join(format!("server-{port}.log"));
            *self
                .running
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner) = true;
            let (what, output) = self.pg_ctl_start()?;
            if output.status.success() {
                tracing::debug!(port, dir = %self.root().display(), "PostgreSQL server started");
                return Ok(());
            }
            let tail = log_tail(&self.log_path);
            if attempt < START_ATTEMPTS && port_in_use(&tail) {
                tracing::debug!(
                    port,
                    attempt,
                    "port taken meanwhile, retrying on another port"
                );
                continue;
            }
            return Err(server_command_failed(what, &output, &tail));
        }
        // Unreachable: the last attempt always returns.
        Err(EmbeddedError::NotReady {
            waited_secs: READY_TIMEOUT.as_secs(),
            log_tail: log_tail(&self.log_path),
        })
    }

    /// `pg_ctl start` on `self.port`, logging to `self.log_path` (appending, so a restarted
    /// server's log follows the earlier one). Returns the command line and its output.
    fn pg_ctl_start(&self) -> Result<(String, Output), EmbeddedError> {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=100 \
             -c shared_buffers=128MB",
            self.port,
            sh_quote(self.socket_dir.as_os_str())
        );
        let args: Vec<OsString> = vec![
            "start".into(),
            "-D".into(),
            (&self.data_dir).into(),
            "-l".into(),
            (&self.log_path).into(),
            "-w".into(),
            "-t".into(),
            READY_TIMEOUT.as_secs().to_string().into(),
            "-o".into(),
            options.into(),
        ];
        let what = describe("pg_ctl", &args);
        let output = self
            .server_command("pg_ctl", &args)
            .stdin(Stdio::null())
            .output()
            .map_err(io_error(format!("could not run `{what}`")))?;
        Ok((what, output))
    }

    fn lock_running(&self) -> MutexGuard<'_, bool> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Backs [`TestDatabase::stop`].
    fn stop_server(&self, mode: StopMode) -> Result<(), EmbeddedError> {
        let mut running = self.lock_running();
        if !*running {
            return Ok(());
        }
        let args = self.stop_args(mode);
        let what = describe("pg_ctl", &args);
        let output = self
            .server_command("pg_ctl", &args)
            .stdin(Stdio::null())
            .output()
            .map_err(io_error(format!("could not run `{what}`")))?;
        if !output.status.success() {
            return Err(server_command_failed(
                what,
                &output,
                &log_tail(&self.log_path),
            ));
        }
        *running = false;
        tracing::debug!(
            port = self.port,
            mode = mode.pg_ctl_name(),
            "PostgreSQL server stopped"
        );
        Ok(())
    }

    /// Backs [`TestDatabase::start_again`]: the same port, so urls handed out stay valid.
    fn start_stopped_server(&self) -> Result<(), EmbeddedError> {
        let mut running = self.lock_running();
        if *running {
            return Ok(());
        }
        let (what, output) = self.pg_ctl_start()?;
        if !output.status.success() {
            // A server that got as far as writing its pid file may still be starting up:
            // leave it to drop to stop it.
            *running = self.data_dir.join("postmaster.pid").exists();
            return Err(server_command_failed(
                what,
                &output,
                &log_tail(&self.log_path),
            ));
        }
        *running = true;
        self.wait_ready()?;
        tracing::debug!(port = self.port, "PostgreSQL server started again");
        Ok(())
    }

    fn wait_ready(&self) -> Result<(), EmbeddedError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let pg_isready = self.bins.tool("pg_isready");
        let use_pg_isready = is_executable(&pg_isready);
        let url = UrlParts::loopback(self.port, "postgres").render();
        loop {
            let ready = if use_pg_isready {
                Command::new(&pg_isready)
                    .args([
                        "-q",
                        "-h",
                        "127.0.0.1",
                        "-U",
                        SUPERUSER,
                        "-d",
                        "postgres",
                        "-p",
                    ])
                    .arg(self.port.to_string())
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|status| status.success())
            } else {
                PgConnection::establish(&url).is_ok()
            };
            if ready {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(EmbeddedError::NotReady {
                    waited_secs: READY_TIMEOUT.as_secs(),
                    log_tail: log_tail(&self.log_path),
                });
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop_args(&self, mode: StopMode) -> Vec<OsString> {
        vec![
            "stop".into(),
            "-D".into(),
            (&self.data_dir).into(),
            "-m".into(),
            mode.pg_ctl_name().into(),
            "-w".into(),
            "-t".into(),
            READY_TIMEOUT.as_secs().to_string().into(),
        ]
    }

    /// Watchdog: once this process is gone (or the directory was removed by a regular drop),
    /// stop the server and remove the directory.
    fn spawn_watchdog(&self) -> Option<Child> {
        let stop = self
            .run_as
            .argv(
                &self.bins.tool("pg_ctl"),
                &self.stop_args(StopMode::Immediate),
            )
            .iter()
            .map(|arg| sh_quote(arg))
            .collect::<Vec<_>>()
            .join(" ");
        let script = format!(
            "{WATCHDOG_PRELUDE}\
             while alive && [ -d \"$TENANCY_CLUSTER_DIR\" ]; do sleep 1; done\n\
             if [ -d \"$TENANCY_CLUSTER_DIR\" ]; then\n\
             {stop} >/dev/null 2>&1\n\
             rm -rf \"$TENANCY_CLUSTER_DIR\"\n\
             fi\n"
        );
        spawn_watchdog(&script, &[("TENANCY_CLUSTER_DIR", self.root().as_os_str())])
    }

    /// Best effort, for drop: stop the server at once, falling back to a signal.
    fn force_stop(&self) {
        let args = self.stop_args(StopMode::Immediate);
        let result = self
            .server_command("pg_ctl", &args)
            .stdin(Stdio::null())
            .output();
        match result {
            Ok(output) if output.status.success() => return,
            Ok(output) => tracing::warn!(
                status = %output.status,
                output = %output_text(&output),
                "pg_ctl stop failed; signalling the postmaster directly"
            ),
            Err(err) => {
                tracing::warn!(%err, "could not run pg_ctl stop; signalling the postmaster directly");
            }
        }
        // Fallback: SIGQUIT (immediate shutdown) to the pid in postmaster.pid.
        let pid = fs::read_to_string(self.data_dir.join("postmaster.pid"))
            .ok()
            .and_then(|text| text.lines().next().map(str::trim).map(str::to_owned));
        if let Some(pid) = pid.filter(|pid| pid.parse::<u32>().is_ok()) {
            let signalled = Command::new("kill")
                .args(["-QUIT", &pid])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if !signalled.is_ok_and(|status| status.success()) {
                tracing::warn!(pid, "could not stop the PostgreSQL server");
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        stop_watchdog(&mut self.watchdog);
        // Not after a successful `TestDatabase::stop`: `pg_ctl stop` would fail and warn.
        if *self
            .running
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
        {
            self.force_stop();
        }
        // `self.dir` (TempDir) is dropped after this and removes the directory.
    }
}

/// Find a free TCP port on 127.0.0.1 (bind port 0, read it, release it).
fn free_port() -> Result<u16, EmbeddedError> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .map_err(io_error("could not bind a TCP port on 127.0.0.1"))?;
    let addr = listener
        .local_addr()
        .map_err(io_error("could not read the bound TCP port"))?;
    Ok(addr.port())
}

fn port_in_use(log: &str) -> bool {
    log.contains("Address already in use")
        || log.contains("could not bind")
        || log.contains("could not create any TCP/IP sockets")
}

// ---------------------------------------------------------------------------------------------
// Watchdog
// ---------------------------------------------------------------------------------------------

/// Shell prelude defining `alive`: true while the process `$TENANCY_WATCHED_PID` that spawned
/// the watchdog still runs. Uses the watchdog's parent pid (which changes when the parent dies,
/// even before it is reaped), falling back to `kill -0`.
const WATCHDOG_PRELUDE: &str = "trap '' HUP INT\n\
alive() {\n\
  if [ -r /proc/$$/stat ]; then\n\
    read -r _pid _comm _state ppid _rest < /proc/$$/stat || return 1\n\
    [ \"$ppid\" = \"$TENANCY_WATCHED_PID\" ]\n\
  else\n\
    kill -0 \"$TENANCY_WATCHED_PID\" 2>/dev/null\n\
  fi\n\
}\n";

/// Spawn `sh -c script` in its own process group (so Ctrl-C on the test run does not kill it)
/// with all stdio closed. Failure is logged, not fatal.
fn spawn_watchdog(script: &str, env: &[(&str, &OsStr)]) -> Option<Child> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .env("TENANCY_WATCHED_PID", process::id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    for (key, value) in env {
        cmd.env(key, value);
    }
    match cmd.spawn() {
        Ok(child) => Some(child),
        Err(err) => {
            tracing::warn!(%err, "could not start cleanup watchdog; a killed test run may leave a server behind");
            None
        }
    }
}

fn stop_watchdog(watchdog: &mut Option<Child>) {
    if let Some(mut child) = watchdog.take() {
        // Errors only mean it already exited; wait() reaps it either way.
        let _ = child.kill();
        let _ = child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Binaries
// ---------------------------------------------------------------------------------------------

/// A directory holding `initdb`, `pg_ctl` and `postgres` of one major version.
#[derive(Debug, Clone)]
struct PgBinaries {
    dir: PathBuf,
    major: u32,
}

impl PgBinaries {
    fn locate() -> Result<PgBinaries, EmbeddedError> {
        find_binaries(
            std::env::var_os("PATH").as_deref(),
            &[PathBuf::from(LIB_ROOT)],
        )
    }

    fn tool(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// Directories `<root>/*/bin` for each root, then the `PATH` entries (each preceded by the real
/// directory of a symlinked `pg_ctl`, so wrappers resolve to the versioned directory).
fn candidate_dirs(path_var: Option<&OsStr>, lib_roots: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for root in lib_roots {
        if let Ok(entries) = fs::read_dir(root) {
            let mut versioned: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|entry| entry.path().join("bin"))
                .collect();
            versioned.sort();
            dirs.extend(versioned);
        }
    }
    if let Some(path_var) = path_var {
        for dir in std::env::split_paths(path_var) {
            if dir.as_os_str().is_empty() {
                continue;
            }
            if let Some(parent) = fs::canonicalize(dir.join("pg_ctl"))
                .ok()
                .and_then(|real| real.parent().map(Path::to_path_buf))
            {
                dirs.push(parent);
            }
            dirs.push(dir);
        }
    }
    dirs
}

/// Pick the highest major version >= [`MIN_MAJOR`] among the candidate directories that hold
/// all of `initdb`, `pg_ctl` and `postgres`; ties go to the earlier (versioned) directory.
fn find_binaries(
    path_var: Option<&OsStr>,
    lib_roots: &[PathBuf],
) -> Result<PgBinaries, EmbeddedError> {
    let mut best: Option<PgBinaries> = None;
    let mut seen: Vec<PathBuf> = Vec::new();
    for dir in candidate_dirs(path_var, lib_roots) {
        let key = fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        if !["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|tool| is_executable(&dir.join(tool)))
        {
            continue;
        }
        let Some(major) = server_major_version(&dir.join("postgres")) else {
            tracing::debug!(dir = %dir.display(), "could not determine PostgreSQL version");
            continue;
        };
        if major < MIN_MAJOR {
            tracing::debug!(dir = %dir.display(), major, "PostgreSQL too old, need >= {MIN_MAJOR}");
            continue;
        }
        if best.as_ref().is_none_or(|found| major > found.major) {
            best = Some(PgBinaries { dir, major });
        }
    }
    best.ok_or(EmbeddedError::BinariesNotFound)
}

fn server_major_version(postgres: &Path) -> Option<u32> {
    let output = Command::new(postgres)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    parse_major(&String::from_utf8_lossy(&output.stdout))
}

/// Major version from `postgres (PostgreSQL) 15.18 (Debian ...)` or `pg_ctl (PostgreSQL) 16beta1`.
fn parse_major(version_output: &str) -> Option<u32> {
    let after_name = version_output
        .split_once("(PostgreSQL)")
        .map_or(version_output, |(_, rest)| rest);
    let token = after_name
        .split_whitespace()
        .find(|token| token.starts_with(|c: char| c.is_ascii_digit()))?;
    let digits: String = token.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Search `PATH` and the usual system directories for an executable.
fn find_program(name: &str) -> Option<PathBuf> {
    let path_dirs = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    path_dirs
        .into_iter()
        .chain(SYSTEM_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn find_psql() -> Option<PathBuf> {
    find_program("psql").or_else(|| {
        candidate_dirs(None, &[PathBuf::from(LIB_ROOT)])
            .into_iter()
            .rev()
            .map(|dir| dir.join("psql"))
            .find(|candidate| is_executable(candidate))
    })
}

// ---------------------------------------------------------------------------------------------
// Running as the `postgres` OS user
// ---------------------------------------------------------------------------------------------

/// How server commands are run: `PostgreSQL` refuses to run as root.
#[derive(Debug, Clone)]
enum RunAs {
    /// We are not root: run directly.
    Current,
    /// `runuser -u postgres -- ...`
    Runuser(PathBuf),
    /// `su -s /bin/sh -c '...' postgres`
    Su(PathBuf),
}

impl RunAs {
    fn detect() -> Result<RunAs, EmbeddedError> {
        if effective_uid()? != 0 {
            return Ok(RunAs::Current);
        }
        ensure_os_user(OS_USER)?;
        if let Some(runuser) = find_program("runuser") {
            Ok(RunAs::Runuser(runuser))
        } else if let Some(su) = find_program("su") {
            Ok(RunAs::Su(su))
        } else {
            Err(EmbeddedError::OsUser(format!(
                "running as root, but neither `runuser` nor `su` was found to run PostgreSQL as the `{OS_USER}` user; install util-linux or run the tests as a non-root user"
            )))
        }
    }

    fn argv(&self, program: &Path, args: &[OsString]) -> Vec<OsString> {
        let mut words: Vec<OsString> = Vec::with_capacity(args.len() + 6);
        match self {
            RunAs::Current => {
                words.push(program.into());
                words.extend(args.iter().cloned());
            }
            RunAs::Runuser(runuser) => {
                words.extend([runuser.into(), "-u".into(), OS_USER.into(), "--".into()]);
                words.push(program.into());
                words.extend(args.iter().cloned());
            }
            RunAs::Su(su) => {
                let mut line = format!("exec {}", sh_quote(program.as_os_str()));
                for arg in args {
                    line.push(' ');
                    line.push_str(&sh_quote(arg));
                }
                words.extend([
                    su.into(),
                    "-s".into(),
                    "/bin/sh".into(),
                    "-c".into(),
                    line.into(),
                    OS_USER.into(),
                ]);
            }
        }
        words
    }

    fn command(&self, program: &Path, args: &[OsString]) -> Command {
        let words = self.argv(program, args);
        let (first, rest) = words
            .split_first()
            .map_or((program.as_os_str(), &[][..]), |(first, rest)| {
                (first.as_os_str(), rest)
            });
        let mut cmd = Command::new(first);
        cmd.args(rest);
        cmd
    }

    /// Hand the cluster directory to the server's OS user.
    fn give_ownership(&self, dir: &Path) -> Result<(), EmbeddedError> {
        if matches!(self, RunAs::Current) {
            return Ok(());
        }
        let owner = format!("{OS_USER}:");
        let mut cmd = Command::new("chown");
        cmd.arg("-R").arg(&owner).arg(dir);
        run_checked(cmd, &format!("chown -R {owner} {}", dir.display()))?;
        Ok(())
    }
}

/// Effective uid, from `/proc/self/status` or `id -u`.
fn effective_uid() -> Result<u32, EmbeddedError> {
    let from_proc = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1))
                .and_then(|euid| euid.parse().ok())
        });
    if let Some(uid) = from_proc {
        return Ok(uid);
    }
    let output = Command::new("id")
        .arg("-u")
        .stdin(Stdio::null())
        .output()
        .map_err(io_error(
            "could not run `id -u` to determine the current user",
        ))?;
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .map_err(|_| {
            EmbeddedError::OsUser(format!(
                "could not determine the current user id (`id -u` printed {:?})",
                String::from_utf8_lossy(&output.stdout).trim()
            ))
        })
}

fn os_user_exists(user: &str) -> Result<bool, EmbeddedError> {
    let status = Command::new("id")
        .arg("-u")
        .arg(user)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(io_error(format!("could not run `id -u {user}`")))?;
    Ok(status.success())
}

/// Make sure the OS user exists, creating it with `useradd` if needed (we are root).
fn ensure_os_user(user: &str) -> Result<(), EmbeddedError> {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    if os_user_exists(user)? {
        return Ok(());
    }
    let hint = format!(
        "PostgreSQL refuses to run as root; create the user (`useradd --system --user-group {user}`) or run the tests as a non-root user"
    );
    let Some(useradd) = find_program("useradd") else {
        return Err(EmbeddedError::OsUser(format!(
            "the `{user}` os user does not exist and `useradd` was not found; {hint}"
        )));
    };
    tracing::info!(user, "creating os user to run PostgreSQL");
    let result = Command::new(&useradd)
        .args(["--system", "--no-create-home", "--user-group", user])
        .stdin(Stdio::null())
        .output();
    if os_user_exists(user)? {
        return Ok(());
    }
    let detail = match result {
        Ok(output) => format!("{}: {}", output.status, output_text(&output)),
        Err(err) => err.to_string(),
    };
    Err(EmbeddedError::OsUser(format!(
        "the `{user}` os user does not exist and `useradd` failed ({detail}); {hint}"
    )))
}

// ---------------------------------------------------------------------------------------------
// Commands and logs
// ---------------------------------------------------------------------------------------------

/// Run `cmd` (stdin closed), returning its output or a [`EmbeddedError::CommandFailed`].
fn run_checked(mut cmd: Command, what: &str) -> Result<Output, EmbeddedError> {
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(io_error(format!("could not run `{what}`")))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(EmbeddedError::CommandFailed {
            command: what.to_owned(),
            status: output.status.to_string(),
            output: output_text(&output),
        })
    }
}

fn describe(program: &str, args: &[OsString]) -> String {
    let mut line = program.to_owned();
    for arg in args {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

fn output_text(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    match (stderr.trim(), stdout.trim()) {
        ("", "") => "(no output)".to_owned(),
        (err, "") => err.to_owned(),
        ("", out) => out.to_owned(),
        (err, out) => format!("{err}\n{out}"),
    }
}

/// A failed `pg_ctl` run, with what it printed and the server log's tail (which says why the
/// server would not start or stop).
fn server_command_failed(command: String, output: &Output, tail: &str) -> EmbeddedError {
    EmbeddedError::CommandFailed {
        command,
        status: output.status.to_string(),
        output: format!("{}\nserver log tail:\n{tail}", output_text(output)),
    }
}

fn log_tail(path: &Path) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(LOG_TAIL_LINES);
            if lines.is_empty() {
                "(server log is empty)".to_owned()
            } else {
                lines[start..].join("\n")
            }
        }
        Err(err) => format!("(could not read server log {}: {err})", path.display()),
    }
}

/// Single-quote for `sh`.
fn sh_quote(arg: &OsStr) -> String {
    format!("'{}'", arg.to_string_lossy().replace('\'', r"'\''"))
}

// ---------------------------------------------------------------------------------------------
// Database helpers
// ---------------------------------------------------------------------------------------------

fn connect(url: &str) -> Result<PgConnection, EmbeddedError> {
    PgConnection::establish(url).map_err(|source| EmbeddedError::Connect {
        url: redact(url),
        source,
    })
}

fn create_database(conn: &mut PgConnection, name: &str) -> Result<(), EmbeddedError> {
    diesel::sql_query(format!("CREATE DATABASE {}", quote_ident(name)))
        .execute(conn)
        .map_err(|source| EmbeddedError::Query {
            context: format!("could not create database `{name}`"),
            source,
        })?;
    Ok(())
}

/// Best effort: drop `name` on the server at `admin_url`, logging failures.
fn drop_database(admin_url: &str, name: &str) {
    let mut conn = match PgConnection::establish(admin_url) {
        Ok(conn) => conn,
        Err(err) => {
            tracing::warn!(database = name, %err, "could not connect to drop test database");
            return;
        }
    };
    let ident = quote_ident(name);
    let forced = diesel::sql_query(format!("DROP DATABASE IF EXISTS {ident} WITH (FORCE)"))
        .execute(&mut conn);
    if forced.is_err() {
        // Servers before 13 lack WITH (FORCE).
        if let Err(err) =
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {ident}")).execute(&mut conn)
        {
            tracing::warn!(database = name, %err, "could not drop test database");
        }
    }
}

fn unique_database_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    let counter = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("tenancy_test_{}_{nanos}_{counter}", process::id())
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A SQL string literal; `E''`-free, so only single quotes need doubling (the server runs
/// with `standard_conforming_strings` on, the default since PostgreSQL 9.1).
fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

// ---------------------------------------------------------------------------------------------
// URLs
// ---------------------------------------------------------------------------------------------

/// `scheme://[userinfo@]host[/database][?query]`, split the way libpq splits it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct UrlParts {
    scheme: String,
    userinfo: Option<String>,
    host: String,
    database: String,
    query: Option<String>,
}

impl UrlParts {
    fn loopback(port: u16, database: &str) -> UrlParts {
        UrlParts {
            scheme: "postgres".to_owned(),
            userinfo: Some(SUPERUSER.to_owned()),
            host: format!("127.0.0.1:{port}"),
            database: database.to_owned(),
            query: None,
        }
    }

    fn parse(url: &str) -> Result<UrlParts, EmbeddedError> {
        let invalid = |reason: &str| EmbeddedError::InvalidDatabaseUrl {
            reason: reason.to_owned(),
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| invalid("it does not start with postgres://"))?;
        if scheme != "postgres" && scheme != "postgresql" {
            return Err(invalid("the scheme must be postgres:// or postgresql://"));
        }
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let (before_query, query) = match rest.split_once('?') {
            Some((before, query)) => (before, Some(query.to_owned())),
            None => (rest, None),
        };
        // Like libpq: user credentials end at the first '@' before any '/'.
        let authority_end = before_query.find('/').unwrap_or(before_query.len());
        let (userinfo, after_userinfo) = match before_query[..authority_end].find('@') {
            Some(at) => (Some(before_query[..at].to_owned()), &before_query[at + 1..]),
            None => (None, before_query),
        };
        let (host, database) = after_userinfo
            .split_once('/')
            .unwrap_or((after_userinfo, ""));
        Ok(UrlParts {
            scheme: scheme.to_owned(),
            userinfo,
            host: host.to_owned(),
            database: database.to_owned(),
            query,
        })
    }

    fn with_database(&self, database: &str) -> UrlParts {
        UrlParts {
            database: database.to_owned(),
            ..self.clone()
        }
    }

    fn render(&self) -> String {
        self.render_as(self.userinfo.as_deref())
    }

    fn render_as(&self, userinfo: Option<&str>) -> String {
        let mut url = format!("{}://", self.scheme);
        if let Some(userinfo) = userinfo {
            url.push_str(userinfo);
            url.push('@');
        }
        url.push_str(&self.host);
        url.push('/');
        url.push_str(&self.database);
        if let Some(query) = &self.query {
            url.push('?');
            url.push_str(query);
        }
        url
    }
}

/// The url with any password replaced by `***` (for messages and logs).
fn redact(url: &str) -> String {
    match UrlParts::parse(url) {
        Ok(parts) => match parts
            .userinfo
            .as_deref()
            .and_then(|info| info.split_once(':'))
        {
            Some((user, _)) => parts.render_as(Some(&format!("{user}:***"))),
            None => parts.render(),
        },
        Err(_) => "<unparseable database url>".to_owned(),
    }
}

/// Percent-encode everything but RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Integer, Text};

    #[test]
    fn quoting_doubles_the_quote_character() {
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }

    fn select_one(url: &str) -> i32 {
        let mut conn = PgConnection::establish(url).expect("connect");
        diesel::select(sql::<Integer>("1"))
            .get_result(&mut conn)
            .expect("SELECT 1")
    }

    fn database_exists(admin_url: &str, name: &str) -> bool {
        let mut conn = PgConnection::establish(admin_url).expect("connect");
        diesel::select(
            sql::<Bool>("EXISTS (SELECT 1 FROM pg_database WHERE datname = ")
                .bind::<Text, _>(name)
                .sql(")"),
        )
        .get_result(&mut conn)
        .expect("query pg_database")
    }

    #[test]
    fn embedded_cluster_answers_select_one() {
        let db = TestDatabase::start_embedded().expect("start embedded cluster");
        assert!(db.is_embedded());
        assert!(db.url().starts_with("postgres://postgres@127.0.0.1:"));
        assert!(db.url().ends_with("/tenancy"));
        assert_eq!(select_one(db.url()), 1);
    }

    #[test]
    fn url_for_logs_in_as_another_role() {
        let db = TestDatabase::start_embedded().expect("start embedded cluster");
        let mut conn = PgConnection::establish(db.url()).expect("connect");
        diesel::sql_query("CREATE ROLE app_user LOGIN PASSWORD 'p@ss:w/rd?'")
            .execute(&mut conn)
            .expect("create role");
        let mut app = PgConnection::establish(&db.url_for("app_user", "p@ss:w/rd?"))
            .expect("connect as app_user");
        let (user, is_super): (String, bool) = diesel::select((
            sql::<Text>("current_user::text"),
            sql::<Bool>("(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"),
        ))
        .get_result(&mut app)
        .expect("current_user");
        assert_eq!(user, "app_user");
        assert!(!is_super);
    }

    #[test]
    fn two_clusters_run_at_once_and_drop_cleans_up() {
        let first = thread::spawn(TestDatabase::start_embedded);
        let second = TestDatabase::start_embedded().expect("start second cluster");
        let first = first.join().expect("thread").expect("start first cluster");
        assert_ne!(first.url(), second.url());
        assert_eq!(select_one(first.url()), 1);
        assert_eq!(select_one(second.url()), 1);

        let Kind::Embedded(cluster) = &first.kind else {
            panic!("expected an embedded cluster");
        };
        let dir = cluster.root().to_path_buf();
        let url = first.url().to_owned();
        assert!(dir.exists());
        drop(first);
        assert!(!dir.exists(), "cluster directory removed on drop");
        assert!(
            PgConnection::establish(&url).is_err(),
            "server stopped on drop"
        );
        assert_eq!(select_one(second.url()), 1);
    }

    #[test]
    fn create_in_makes_fresh_databases_and_drops_them() {
        let server = TestDatabase::start_embedded().expect("start embedded cluster");
        let admin = server.url();
        let a = TestDatabase::create_in(admin).expect("create first database");
        let b = TestDatabase::create_in(admin).expect("create second database");
        assert!(!a.is_embedded());
        assert_ne!(a.database_name(), b.database_name());
        assert!(a.database_name().starts_with("tenancy_test_"));
        assert!(a.url().ends_with(&format!("/{}", a.database_name())));
        assert_eq!(select_one(a.url()), 1);
        assert!(database_exists(admin, a.database_name()));
        assert!(database_exists(admin, b.database_name()));

        // An open connection must not prevent the drop (WITH (FORCE)).
        let _open = PgConnection::establish(a.url()).expect("connect");
        let (name_a, name_b) = (a.database_name().to_owned(), b.database_name().to_owned());
        drop(a);
        assert!(!database_exists(admin, &name_a));
        assert!(database_exists(admin, &name_b));
        drop(b);
        assert!(!database_exists(admin, &name_b));
    }

    #[test]
    fn a_stopped_cluster_starts_again_on_the_same_url_with_its_data() {
        use diesel::connection::SimpleConnection;
        let db = TestDatabase::start_embedded().expect("start embedded cluster");
        let created = TestDatabase::create_in(db.url()).expect("create database");
        let err = created.restart(StopMode::Fast).expect_err("not embedded");
        assert!(
            matches!(err, EmbeddedError::NotEmbedded { action: "restart" }),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("cannot restart the database server")
        );
        assert!(matches!(
            created.stop(StopMode::Fast),
            Err(EmbeddedError::NotEmbedded { action: "stop" })
        ));
        assert!(created.is_running());
        drop(created);

        let count = || -> i64 {
            let mut conn = PgConnection::establish(db.url()).expect("connect");
            diesel::select(sql::<diesel::sql_types::BigInt>(
                "(SELECT count(*) FROM kept)",
            ))
            .get_result(&mut conn)
            .expect("count")
        };
        PgConnection::establish(db.url())
            .expect("connect")
            .batch_execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (1), (2)")
            .expect("write");
        db.stop(StopMode::Fast).expect("stop");
        assert!(!db.is_running());
        db.stop(StopMode::Fast)
            .expect("stopping a stopped server does nothing");
        assert!(PgConnection::establish(db.url()).is_err(), "server is down");
        db.start_again().expect("start again");
        db.start_again()
            .expect("starting a running server does nothing");
        assert!(db.is_running());
        assert_eq!(count(), 2);
        db.restart(StopMode::Immediate)
            .expect("restart after a crash");
        assert_eq!(count(), 2, "crash recovery kept the checkpointed rows");

        // Drop cleans up a stopped cluster too.
        db.stop(StopMode::Immediate).expect("stop");
        let Kind::Embedded(cluster) = &db.kind else {
            panic!("expected an embedded cluster");
        };
        let dir = cluster.root().to_path_buf();
        drop(db);
        assert!(!dir.exists(), "cluster directory removed on drop");
    }

    #[test]
    fn create_in_rejects_non_postgres_urls() {
        let err = TestDatabase::create_in("mysql://localhost/db").expect_err("must fail");
        assert!(
            matches!(err, EmbeddedError::InvalidDatabaseUrl { .. }),
            "{err}"
        );
    }

    #[test]
    fn shared_returns_one_instance() {
        let a = shared().expect("shared database");
        let b = shared().expect("shared database");
        assert!(std::ptr::eq(a, b));
        assert_eq!(select_one(a.url()), 1);
    }

    #[test]
    fn missing_binaries_give_binaries_not_found() {
        let empty = tempfile::tempdir().expect("tempdir");
        let err = find_binaries(
            Some(empty.path().as_os_str()),
            &[empty.path().to_path_buf()],
        )
        .expect_err("nothing to find");
        assert!(matches!(err, EmbeddedError::BinariesNotFound));
        assert!(err.to_string().contains("apt-get install postgresql"));
        let err = find_binaries(None, &[]).expect_err("nothing to find");
        assert!(matches!(err, EmbeddedError::BinariesNotFound));
    }

    #[test]
    fn too_old_binaries_are_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        for tool in ["initdb", "pg_ctl", "postgres"] {
            let path = dir.path().join(tool);
            fs::write(&path, "#!/bin/sh\necho 'postgres (PostgreSQL) 13.4'\n").expect("write");
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        let err = find_binaries(Some(dir.path().as_os_str()), &[]).expect_err("too old");
        assert!(matches!(err, EmbeddedError::BinariesNotFound));
    }

    #[test]
    fn installed_binaries_are_found() {
        let bins = PgBinaries::locate().expect("PostgreSQL installed");
        assert!(bins.major >= MIN_MAJOR);
        assert!(is_executable(&bins.tool("postgres")));
    }

    #[test]
    fn run_as_switches_to_the_postgres_user_when_root() {
        if effective_uid().expect("uid") != 0 {
            return;
        }
        ensure_os_user(OS_USER).expect("postgres os user");
        let id = find_program("id").expect("id");
        let switchers = [
            find_program("runuser").map(RunAs::Runuser),
            find_program("su").map(RunAs::Su),
        ];
        for run_as in switchers.into_iter().flatten() {
            let output = run_checked(run_as.command(&id, &["-un".into()]), "id -un")
                .expect("run id as postgres");
            assert_eq!(
                String::from_utf8_lossy(&output.stdout).trim(),
                OS_USER,
                "{run_as:?}"
            );
        }
    }

    #[test]
    fn parses_major_versions() {
        assert_eq!(
            parse_major("postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n"),
            Some(15)
        );
        assert_eq!(parse_major("pg_ctl (PostgreSQL) 16beta1"), Some(16));
        assert_eq!(parse_major("postgres (PostgreSQL) 9.6.24"), Some(9));
        assert_eq!(parse_major("no version here"), None);
    }

    #[test]
    fn parses_and_renders_urls() {
        let parts = UrlParts::parse("postgres://me:se%40cret@db.example:5433/app?sslmode=disable")
            .expect("parse");
        assert_eq!(parts.userinfo.as_deref(), Some("me:se%40cret"));
        assert_eq!(parts.host, "db.example:5433");
        assert_eq!(parts.database, "app");
        assert_eq!(
            parts.with_database("other").render(),
            "postgres://me:se%40cret@db.example:5433/other?sslmode=disable"
        );
        assert_eq!(
            parts.render_as(Some("u:p")),
            "postgres://u:p@db.example:5433/app?sslmode=disable"
        );
        let socket = UrlParts::parse("postgresql:///app?host=/run/postgresql").expect("parse");
        assert_eq!(socket.userinfo, None);
        assert_eq!(socket.host, "");
        assert_eq!(socket.render(), "postgresql:///app?host=/run/postgresql");
        assert_eq!(
            redact("postgres://me:secret@h/db"),
            "postgres://me:***@h/db"
        );
        assert_eq!(percent_encode("a b@c:d/é"), "a%20b%40c%3Ad%2F%C3%A9");
        assert_eq!(sh_quote(OsStr::new("it's")), r"'it'\''s'");
    }
}
