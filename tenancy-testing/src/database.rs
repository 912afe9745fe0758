//! The database a test or the quickstart gets, and the one shared per process.

use std::ffi::OsStr;
use std::fmt;
use std::process::Child;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crate::EMBEDDED_DATABASE;
use crate::{
    binaries::find_psql,
    cluster::Cluster,
    error::EmbeddedError,
    sql::{
        connect, create_database, drop_database, quote_ident, quote_literal, unique_database_name,
    },
    stop_mode::StopMode,
    url::{PgUrl, redact},
    watchdog::{WATCHDOG_PRELUDE, spawn_watchdog, stop_watchdog},
};
use diesel::{PgConnection, RunQueryDsl};

/// A `PostgreSQL` database for one test run or quickstart.
///
/// Dropping it stops the private cluster and removes its directory, or drops the database
/// created on the `DATABASE_URL` server. Dropping never panics; failures are logged.
pub struct TestDatabase {
    /// Url parts of the fresh database, logged in as the superuser / owner.
    pub(crate) target: PgUrl,
    /// `target` rendered, returned by [`TestDatabase::url`].
    pub(crate) url: String,
    /// The database's name, returned by [`TestDatabase::database_name`].
    pub(crate) database: String,
    pub(crate) kind: Kind,
    /// Cleans up the created database if this process dies without dropping us (see [`shared`]).
    pub(crate) watchdog: Option<Child>,
}

pub(crate) enum Kind {
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
        let db = Self::in_cluster(Cluster::start()?)?;
        tracing::info!(url = %db.url, "started private PostgreSQL cluster");
        Ok(db)
    }

    /// Creates the database in a freshly started private cluster and takes the cluster over,
    /// so dropping the result stops it.
    pub(crate) fn in_cluster(cluster: Cluster) -> Result<TestDatabase, EmbeddedError> {
        let admin = PgUrl::loopback(cluster.port, "postgres");
        let mut conn = connect(&admin.render())?;
        create_database(&mut conn, EMBEDDED_DATABASE)?;
        drop(conn);
        let target = PgUrl::loopback(cluster.port, EMBEDDED_DATABASE);
        Ok(TestDatabase {
            url: target.render(),
            database: target.database(),
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
        let admin = PgUrl::parse(admin_url)?;
        let name = unique_database_name();
        let mut conn = connect(admin_url)?;
        create_database(&mut conn, &name)?;
        drop(conn);
        let target = admin.with_database(&name);
        tracing::debug!(database = %name, "created test database");
        Ok(TestDatabase {
            url: target.render(),
            database: target.database(),
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
        self.target.with_login(user, password).render()
    }

    /// Name of the fresh database.
    #[must_use]
    pub fn database_name(&self) -> &str {
        &self.database
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

    /// A [`tenancy_schema::Tenancy`] whose tenant transactions log in with `app_url` (from
    /// [`TestDatabase::create_app_login`]) and whose admin path uses this database's shared
    /// admin login `tenancy_test_admin`, created on first use.
    ///
    /// # Errors
    /// As [`TestDatabase::tenancy_builder`] and [`tenancy_schema::TenancyBuilder::build`].
    pub fn tenancy(
        &self,
        app_url: &str,
        max_size: u32,
    ) -> Result<tenancy_schema::Tenancy, tenancy_schema::Error> {
        self.tenancy_builder(app_url)?.max_size(max_size).build()
    }

    /// [`tenancy_schema::Tenancy::builder`] for `app_url` with the admin login set, for tests that
    /// change more than the pool size.
    ///
    /// # Errors
    /// [`tenancy_schema::Error::InvalidInput`] when the admin login cannot be created.
    pub fn tenancy_builder(
        &self,
        app_url: &str,
    ) -> Result<tenancy_schema::TenancyBuilder, tenancy_schema::Error> {
        let admin_url = self
            .create_admin_login("tenancy_test_admin", "test-admin-password")
            .map_err(|e| tenancy_schema::Error::InvalidInput {
                field: "test database admin login",
                reason: e.to_string(),
            })?;
        Ok(tenancy_schema::Tenancy::builder(app_url).admin_url(&admin_url))
    }

    /// Role changes of one process go one at a time: concurrent GRANTs on the same role fail
    /// with "tuple concurrently updated".
    pub(crate) fn create_login(
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

    pub(crate) fn cluster(&self, action: &'static str) -> Result<&Cluster, EmbeddedError> {
        match &self.kind {
            Kind::Embedded(cluster) => Ok(cluster),
            Kind::Created { .. } => Err(EmbeddedError::NotEmbedded { action }),
        }
    }

    /// For a database created on a `DATABASE_URL` server: start a watchdog that drops it once
    /// this process is gone (needs `psql`). Private clusters always have their own watchdog.
    pub(crate) fn guard_against_exit(&mut self) {
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
