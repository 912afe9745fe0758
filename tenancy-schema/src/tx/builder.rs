//! Setting up a `Tenancy`: the pool options, and the checks on the logins and the context
//! key that must pass before any transaction can be opened.

use std::sync::Arc;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, Pool};
use diesel::{Connection, PgConnection, RunQueryDsl};

use super::lifecycle::SessionEnd;
use super::{PgPool, Tenancy, TenancyConfig};
use crate::context::{ContextEntry, ContextKey};
use crate::session::SessionManager;
use crate::{Error, Result};

/// Builds a [`Tenancy`]: the application login's pool, optionally the admin login's pool,
/// the context key and the role configuration. [`TenancyBuilder::build`] verifies the logins.
///
/// ```no_run
/// # fn demo() -> Result<(), tenancy_schema::Error> {
/// let tenancy = tenancy_schema::Tenancy::builder("postgres://app_login@db/app")
///     .admin_url("postgres://admin_login@db/app")
///     .max_size(16)
///     .build()?;
/// # let _ = tenancy; Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "call .build()"]
pub struct TenancyBuilder {
    pub(super) app_url: String,
    pub(super) admin_url: Option<String>,
    pub(super) max_size: u32,
    pub(super) admin_max_size: u32,
    pub(super) connection_timeout: std::time::Duration,
    pub(super) test_on_check_out: bool,
    pub(super) config: TenancyConfig,
    pub(super) key: Option<ContextKey>,
}

impl TenancyBuilder {
    /// The admin login, used by [`Tenancy::admin`] only (and to read the context key when
    /// none is given). It must be a different login from the application's, a member of the
    /// admin role.
    pub fn admin_url(mut self, url: &str) -> Self {
        self.admin_url = Some(url.to_owned());
        self
    }

    /// At most `size` connections of the application login (default 10).
    pub fn max_size(mut self, size: u32) -> Self {
        self.max_size = size;
        self
    }

    /// At most `size` connections of the admin login (default 2).
    pub fn admin_max_size(mut self, size: u32) -> Self {
        self.admin_max_size = size;
        self
    }

    /// How long a transaction waits for a free connection before it fails with
    /// [`Error::Pool`] (default 30 s).
    pub fn connection_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// Whether every checkout pings the connection first (`SELECT 1`, one round trip per
    /// transaction). Off by default: a connection the server dropped fails its `BEGIN` with
    /// [`Error::Query`] and is discarded, and the next transaction gets a fresh one.
    pub fn test_on_check_out(mut self, test: bool) -> Self {
        self.test_on_check_out = test;
        self
    }

    /// The role configuration (default [`TenancyConfig::default`]).
    pub fn config(mut self, config: TenancyConfig) -> Self {
        self.config = config;
        self
    }

    /// The context key (`SELECT encode(key, 'hex') FROM tenancy.context_key`, as the owner
    /// or the admin role). Without it, the key is read through the admin login, or from the
    /// `TENANCY_CONTEXT_KEY` environment variable (64 hexadecimal digits).
    pub fn context_key(mut self, key: ContextKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Opens the pools and verifies the logins: the application login must inherit the
    /// application role and must not be able to become (directly or through memberships) a
    /// superuser, a `BYPASSRLS` role or a table owner; the admin login must be another login
    /// that can become the admin role.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a pool size or connection timeout of zero;
    /// [`Error::ClassificationConflict`] when a table is classified twice in conflicting
    /// ways, or a table declared global is, in the database, a view, partition or parent of a
    /// tenant table, or has tenancy's tenant policy (`tenant_isolation`), a foreign key of one
    /// column into the table of tenants or any into a tenant table; [`Error::Pool`] when no
    /// connection can be opened; [`Error::UnsafeRole`] naming the role and the fix;
    /// [`Error::ContextKeyMissing`] when no key is given or readable.
    pub fn build(self) -> Result<Tenancy, Error> {
        super::check_pool_settings(self.max_size, self.admin_max_size, self.connection_timeout)?;
        if let Some(conflict) = crate::manifest::conflicts(&crate::manifest::all_registrations())
            .into_iter()
            .next()
        {
            return Err(conflict.into());
        }
        let app = Pool::builder()
            .max_size(self.max_size)
            .connection_timeout(self.connection_timeout)
            .test_on_check_out(self.test_on_check_out)
            .build(SessionManager::new(&self.app_url))
            .map_err(|e| Error::Pool(diesel::r2d2::PoolError::from(e)))?;
        let (app_login, entry) = {
            let mut session = app.get()?;
            let login = crate::roles::verify_app_login(&mut session.conn, &self.config.app_role)?;
            crate::scope::resolve_schemas(&mut session.conn)?;
            refuse_global_views_of_tenant_rows(crate::scope::resolve_reaching(&mut session.conn)?)?;
            refuse_global_views_of_tenant_rows(super::tenant_rows_declared_global::tied(
                &mut session.conn,
            )?)?;
            (login, detect_entry(&mut session.conn)?)
        };
        let mut admin_direct = false;
        let admin = match &self.admin_url {
            Some(url) => {
                let pool = Pool::builder()
                    .max_size(self.admin_max_size)
                    .connection_timeout(self.connection_timeout)
                    .build(ConnectionManager::<PgConnection>::new(url))
                    .map_err(|e| Error::Pool(diesel::r2d2::PoolError::from(e)))?;
                let mut conn = pool.get()?;
                admin_direct = crate::roles::verify_admin_login(
                    &mut conn,
                    &self.config.admin_role,
                    &self.config.app_role,
                    &app_login,
                )?;
                Some(pool)
            }
            None => None,
        };
        let key = match (self.key, &admin) {
            (Some(key), _) => key,
            (None, Some(admin)) => read_key(admin, &self.config.admin_role)?,
            (None, None) => match std::env::var("TENANCY_CONTEXT_KEY") {
                Ok(hex) => ContextKey::from_hex(&hex)?,
                Err(_) => return Err(Error::ContextKeyMissing),
            },
        };
        Ok(Tenancy {
            app,
            admin,
            config: self.config,
            key: Arc::new(key),
            entry,
            admin_direct,
        })
    }
}

/// A relation declared `#[global_table]` that, in the database, holds or shows a tenant table's
/// rows (a view, partition, parent, foreign table of it, or a table whose keys tie its rows to
/// tenants): typed queries would read it unscoped.
fn refuse_global_views_of_tenant_rows(found: Vec<(String, String)>) -> Result<(), Error> {
    for (name, what) in found {
        if let Some(global) =
            crate::manifest::lookup(&name).filter(|m| m.kind == crate::manifest::TableKind::Global)
        {
            return Err(crate::ClassificationConflict {
                table: global.table,
                first: "global".to_owned(),
                second: what,
            }
            .into());
        }
    }
    Ok(())
}

#[derive(diesel::QueryableByName)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "one row of DETECT_SQL's answers, each a yes or no about the database"
)]
struct EntryRow {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    citus: bool,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    native: bool,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    packed: bool,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    opens: bool,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    blocks: bool,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    comments: bool,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pipelines: bool,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    session_check: bool,
}

/// Whether the database is a Citus coordinator, whose workers need the context bound to the
/// distributed transaction, or reads the native context.
fn detect_entry(conn: &mut PgConnection) -> Result<ContextEntry, Error> {
    let row: EntryRow = diesel::sql_query(ContextEntry::DETECT_SQL)
        .get_result(conn)
        .map_err(Error::Query)?;
    let entry = ContextEntry::detect(
        row.citus,
        row.native,
        row.packed,
        row.opens,
        row.blocks,
        row.comments,
        row.pipelines,
    );
    // Without it every transaction of the SQL context would fail at its end, and its
    // connection be closed: refuse to start instead.
    if entry.session_end() == SessionEnd::Checked && !row.session_check {
        return Err(Error::MigrationsBehind {
            missing: "tenancy.check_session()".to_owned(),
        });
    }
    Ok(entry)
}

#[derive(diesel::QueryableByName)]
struct KeyRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    key: String,
}

fn read_key(admin: &PgPool, admin_role: &str) -> Result<ContextKey, Error> {
    let mut conn = admin.get()?;
    let row: KeyRow = conn
        .transaction(|conn| {
            conn.batch_execute(&format!("SET LOCAL ROLE \"{admin_role}\""))?;
            diesel::sql_query(
                "SELECT encode(key, 'hex') AS key FROM tenancy.context_key WHERE id = 1",
            )
            .get_result(conn)
        })
        .map_err(|source| Error::Setup {
            role: admin_role.to_owned(),
            source,
        })?;
    ContextKey::from_hex(&row.key)
}
