//! The entry points: every tenant transaction, system connection and admin connection is
//! opened here, on pools no caller can reach, so that there is no other way in.

use std::cell::Cell;
use std::sync::Arc;

use diesel::PgConnection;
use diesel::r2d2::{ConnectionManager, Pool};

use super::lifecycle::{
    Begin, ConnectionState, SessionEnd, admin_setup_sql, begin_transaction, begin_with,
    finish_transaction, lost_idle_connection,
};
use super::{AdminUse, SystemConn, TenancyBuilder, TenancyConfig, TenantTx};
use crate::context::{ContextEntry, ContextKey};
use crate::session::{SessionConn, SessionManager};
use crate::{Error, PrincipalId, Result, TenantId};

/// The r2d2 pool type of the admin login ([`TenancyBuilder::admin_url`]).
pub type PgPool = Pool<ConnectionManager<PgConnection>>;

/// The application login's pool: connections that carry a tenancy session.
type AppPool = Pool<SessionManager>;

/// Opens tenant transactions, system connections and admin connections.
///
/// Tenant transactions and the system connection run on the application login's pool; the
/// admin escape hatch on a separate login's pool. Neither pool is reachable from outside:
/// the only way to run SQL without a tenant scope is [`Tenancy::admin`].
///
/// ```no_run
/// use tenancy_schema::{Tenancy, TenantId};
/// # fn demo(tenant: TenantId) -> Result<(), tenancy_schema::Error> {
/// let tenancy = Tenancy::builder("postgres://app_login@db/app")
///     .admin_url("postgres://admin_login@db/app")
///     .build()?;
/// let n = tenancy.transaction(tenant, |tx| {
///     tx.execute(diesel::sql_query("SELECT 1"))
/// })?;
/// # let _ = n; Ok(()) }
/// ```
#[derive(Clone)]
pub struct Tenancy {
    pub(super) app: AppPool,
    pub(super) admin: Option<PgPool>,
    pub(super) config: TenancyConfig,
    pub(super) key: Arc<ContextKey>,
    pub(super) entry: ContextEntry,
    /// Whether the admin login is an admin by itself (no `SET ROLE`).
    pub(super) admin_direct: bool,
}

impl std::fmt::Debug for Tenancy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenancy")
            .field("config", &self.config)
            .field("pool", &self.app.state())
            .field("admin_pool", &self.admin.as_ref().map(Pool::state))
            .finish_non_exhaustive()
    }
}

impl Tenancy {
    /// Starts building a `Tenancy` whose tenant transactions log in with `app_url`.
    pub fn builder(app_url: &str) -> TenancyBuilder {
        TenancyBuilder {
            app_url: app_url.to_owned(),
            admin_url: None,
            max_size: 10,
            admin_max_size: 2,
            connection_timeout: std::time::Duration::from_secs(30),
            test_on_check_out: false,
            config: TenancyConfig::default(),
            key: None,
        }
    }

    /// A pool of at most `max_size` connections of the application login `app_url`, without
    /// an admin login; the context key comes from `TENANCY_CONTEXT_KEY`. See
    /// [`Tenancy::builder`] for the rest.
    ///
    /// # Errors
    /// As [`TenancyBuilder::build`].
    pub fn connect(app_url: &str, max_size: u32) -> Result<Self, Error> {
        Self::builder(app_url).max_size(max_size).build()
    }

    /// The role configuration.
    #[must_use]
    pub fn config(&self) -> &TenancyConfig {
        &self.config
    }

    /// Connections of the application pool: `(open, idle)`.
    #[must_use]
    pub fn pool_state(&self) -> (u32, u32) {
        let state = self.app.state();
        (state.connections, state.idle_connections)
    }

    /// Runs `f` in a transaction bound to `tenant`, as the application role. Commits when
    /// `f` returns `Ok`, rolls back on `Err` and when `f` panics (the panic continues).
    ///
    /// # Errors
    /// Whatever `f` returns, or [`Error::Pool`] / [`Error::Setup`] / [`Error::Query`]
    /// (commit) converted into `E`.
    pub fn transaction<T, E, F>(&self, tenant: TenantId, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut TenantTx<'_>) -> Result<T, E>,
        E: From<Error>,
    {
        self.build_transaction(tenant).run(f)
    }

    /// Like [`Tenancy::transaction`], with an acting principal exposed to SQL as
    /// `tenancy.current_principal()`.
    ///
    /// # Errors
    /// As [`Tenancy::transaction`].
    pub fn transaction_as<T, E, F>(
        &self,
        tenant: TenantId,
        principal: PrincipalId,
        f: F,
    ) -> Result<T, E>
    where
        F: FnOnce(&mut TenantTx<'_>) -> Result<T, E>,
        E: From<Error>,
    {
        self.build_transaction(tenant).principal(principal).run(f)
    }

    /// Runs `f` in a tenant transaction, with or without an acting principal. `begin` is the
    /// statement that opens the transaction (`BEGIN` with its isolation level) and whether it
    /// is read only, from [`crate::TransactionBuilder`].
    pub(crate) fn run_tenant<T, E, F>(
        &self,
        begin: (&str, bool),
        tenant: TenantId,
        principal: Option<PrincipalId>,
        f: F,
    ) -> Result<T, E>
    where
        F: FnOnce(&mut TenantTx<'_>) -> Result<T, E>,
        E: From<Error>,
    {
        let mut conn = self.begin_app(begin, Some(tenant), principal)?;
        let raw_sql = Cell::new(false);
        finish_transaction(&mut conn.conn, self.entry.session_end(), &raw_sql, |conn| {
            f(&mut TenantTx {
                conn,
                tenant,
                principal,
                raw_sql: &raw_sql,
            })
        })
    }

    /// Runs `f` on a connection for global tables only, as the application role with no
    /// tenant set: even raw SQL through it sees no tenant rows.
    ///
    /// # Errors
    /// As [`Tenancy::transaction`].
    pub fn system<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut SystemConn<'_>) -> Result<T, E>,
        E: From<Error>,
    {
        let mut conn = self.begin_app(("BEGIN", false), None, None)?;
        let raw_sql = Cell::new(false);
        finish_transaction(&mut conn.conn, self.entry.session_end(), &raw_sql, |conn| {
            f(&mut SystemConn {
                conn,
                raw_sql: &raw_sql,
            })
        })
    }

    /// Checks out an application connection and opens a transaction with the context of
    /// `tenant` (none for the system connection). A connection the server dropped while it was
    /// idle in the pool fails its `BEGIN` before anything ran; it is discarded and the next one
    /// tried, up to the pool's size, so a restart costs no failed transaction once the server
    /// is back, and no checkout pays a ping.
    fn begin_app(
        &self,
        begin: (&str, bool),
        tenant: Option<TenantId>,
        principal: Option<PrincipalId>,
    ) -> Result<diesel::r2d2::PooledConnection<SessionManager>, Error> {
        let mut stale = 0;
        loop {
            let mut pooled = self.app.get()?;
            let SessionConn {
                conn,
                session,
                opened_before,
            } = &mut *pooled;
            let opening = begin_with(
                begin,
                self.entry,
                &self.key,
                ConnectionState {
                    session: *session,
                    opened_before: *opened_before,
                },
                tenant,
                principal,
                self.config.check_tenant_status,
            );
            let opened = begin_transaction(
                conn,
                opening,
                &self.config.app_role,
                tenant,
                self.entry.session_end(),
            );
            if lost_idle_connection(&opened, &mut stale, self.app.max_size()) {
                continue;
            }
            opened?;
            *opened_before = true;
            return Ok(pooled);
        }
    }

    /// The escape hatch for cross-tenant and control-plane work: runs `f` on the admin
    /// login's own pool as the admin role (`BYPASSRLS`), on a plain Diesel connection. Every
    /// use is logged as a `tracing` warning on target `tenancy::admin` with the reason and the
    /// caller's source location; grep for `.admin(` to audit the code base.
    ///
    /// # Errors
    /// [`Error::MissingAdminReason`] for an empty reason, [`Error::AdminNotConfigured`]
    /// without an admin login, otherwise as [`Tenancy::transaction`].
    #[track_caller]
    pub fn admin<T, E, F>(&self, reason: &str, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, E>,
        E: From<Error>,
    {
        self.run_admin(reason, Some(std::panic::Location::caller()), f)
    }

    /// Runs `f` on the admin login as the admin role; `caller` is the application's call site
    /// for the escape hatch, `None` for the control plane.
    fn run_admin<T, E, F>(
        &self,
        reason: &str,
        caller: Option<&std::panic::Location<'_>>,
        f: F,
    ) -> Result<T, E>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, E>,
        E: From<Error>,
    {
        if reason.trim().is_empty() {
            return Err(Error::MissingAdminReason.into());
        }
        let Some(admin) = &self.admin else {
            return Err(Error::AdminNotConfigured.into());
        };
        log_admin_use(reason, caller, &self.config.admin_role);
        let mut conn = admin.get().map_err(Error::from)?;
        let sql = admin_setup_sql(&self.config.admin_role, self.admin_direct);
        if let Some(caller) = caller {
            self.audit_admin_use(&mut conn, reason, caller)?;
        }
        begin_transaction(
            &mut conn,
            Begin::Message(sql),
            &self.config.admin_role,
            None,
            SessionEnd::Reset,
        )?;
        finish_transaction(&mut conn, SessionEnd::Reset, &Cell::new(false), f)
    }

    /// Runs the [`AdminAudit`](super::AdminAudit) hook, if one is configured, for a use of the
    /// escape hatch at `caller`, in a transaction of its own on `conn` (an admin connection)
    /// that commits before the admin work starts.
    fn audit_admin_use(
        &self,
        conn: &mut PgConnection,
        reason: &str,
        caller: &std::panic::Location<'_>,
    ) -> Result<(), Error> {
        let Some(audit) = self.config.admin_audit else {
            return Ok(());
        };
        let admin_use = AdminUse {
            reason,
            caller,
            role: &self.config.admin_role,
        };
        begin_transaction(
            conn,
            Begin::Message(admin_setup_sql(&self.config.admin_role, self.admin_direct)),
            &self.config.admin_role,
            None,
            SessionEnd::Reset,
        )?;
        finish_transaction(conn, SessionEnd::Reset, &Cell::new(false), |conn| {
            audit.record(conn, &admin_use)
        })
    }
}

/// Records a use of the escape hatch made through another executor (the async one) with
/// `tenancy`'s [`AdminAudit`](super::AdminAudit) hook, on its admin pool: the hook takes a
/// synchronous connection. Does nothing without a hook. Reached through
/// `tenancy_schema::__private_v0_1`: not public API.
///
/// # Errors
/// As [`Tenancy::admin`] (the hook's failure included).
#[doc(hidden)]
pub fn record_admin_use(
    tenancy: &Tenancy,
    reason: &str,
    caller: &std::panic::Location<'_>,
) -> Result<(), Error> {
    if tenancy.config.admin_audit.is_none() {
        return Ok(());
    }
    let Some(admin) = &tenancy.admin else {
        return Err(Error::AdminNotConfigured);
    };
    let mut conn = admin.get()?;
    tenancy.audit_admin_use(&mut conn, reason, caller)
}

/// The context key of `tenancy`, for another executor built from it. Reached through
/// `tenancy_schema::__private_v0_1`: not public API.
#[doc(hidden)]
#[must_use]
pub fn context_key(tenancy: &Tenancy) -> Arc<ContextKey> {
    Arc::clone(&tenancy.key)
}

/// How `tenancy`'s transactions enter their context (one node or Citus), detected when it was
/// built: another executor built from it enters the same way.
#[doc(hidden)]
#[must_use]
pub fn context_entry(tenancy: &Tenancy) -> ContextEntry {
    tenancy.entry
}

/// Whether `tenancy`'s admin login is an admin by itself, so that its transactions open
/// without `SET ROLE` ([`admin_setup_sql`]).
#[doc(hidden)]
#[must_use]
pub fn admin_direct(tenancy: &Tenancy) -> bool {
    tenancy.admin_direct
}

/// Logs a use of the admin login: the escape hatch (with the caller's location) as a warning on
/// `tenancy::admin`, a control-plane call (no caller) at debug level on `tenancy::control`.
/// Every executor logs through here, so that one grep and one log filter cover them all.
#[doc(hidden)]
pub fn log_admin_use(reason: &str, caller: Option<&std::panic::Location<'_>>, admin_role: &str) {
    if let Some(caller) = caller {
        tracing::warn!(
            target: "tenancy::admin",
            reason,
            caller = %caller,
            role = %admin_role,
            "tenancy admin escape hatch used"
        );
    } else {
        tracing::debug!(
            target: "tenancy::control",
            action = reason,
            role = %admin_role,
            "control-plane call on the admin login"
        );
    }
}

/// Cross-tenant work of a component built on tenancy (the foundation's control plane:
/// creating tenants and users, invitations, seeding) on the admin login. It is not the
/// application's escape hatch: it logs at debug level on target `tenancy::control` instead of
/// the warning, and runs no [`AdminAudit`](super::AdminAudit) hook (each control-plane action
/// audits itself). Reached through `tenancy_schema::__private_v0_1`: not public API.
///
/// # Errors
/// As [`Tenancy::admin`].
#[doc(hidden)]
pub fn control_plane<T, E, F>(tenancy: &Tenancy, action: &str, f: F) -> Result<T, E>
where
    F: FnOnce(&mut PgConnection) -> Result<T, E>,
    E: From<Error>,
{
    tenancy.run_admin(action, None, f)
}
