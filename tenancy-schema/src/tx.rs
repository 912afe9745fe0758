//! Tenant transactions, the system connection and the admin escape hatch.

use std::sync::Arc;

use crate::Result;
use diesel::connection::{
    AnsiTransactionManager, SimpleConnection, TransactionManager, TransactionManagerStatus,
};
use diesel::dsl::{Filter, Limit};
use diesel::expression::{AsExpression, Expression};
use diesel::insertable::{InsertValues, Insertable};
use diesel::pg::Pg;
use diesel::query_builder::{
    AsChangeset, InsertStatement, IntoUpdateTarget, QueryFragment, QueryId, ValuesClause,
};
use diesel::query_dsl::LoadQuery;
use diesel::query_dsl::methods::{ExecuteDsl, FilterDsl, LimitDsl};
use diesel::r2d2::{ConnectionManager, Pool};
use diesel::sql_types::BoolOrNullableBool;
use diesel::{Column, Connection, ExpressionMethods, PgConnection, RunQueryDsl};

use crate::context::{ContextKey, push_enter};
use crate::scope::{
    AndThen, GlobalQuery, GlobalTable, Paren, ScopedExists, ScopedTable, TenantEq,
    TenantFreeValues, TenantInsert, TenantQuery, WithScope, check_changeset,
};
use crate::session::{SessionConn, SessionManager};
use crate::{Error, PrincipalId, Scoped, TenantId};

/// The r2d2 pool type of the admin login ([`TenancyBuilder::admin_url`]).
pub type PgPool = Pool<ConnectionManager<PgConnection>>;

/// The application login's pool: connections that carry a tenancy session.
type AppPool = Pool<SessionManager>;

/// Which database roles tenancy relies on, and what a tenant transaction checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenancyConfig {
    app_role: String,
    admin_role: String,
    check_tenant_status: bool,
    audit_admin: bool,
}

impl Default for TenancyConfig {
    fn default() -> Self {
        Self {
            app_role: "tenancy_app".to_owned(),
            admin_role: "tenancy_admin".to_owned(),
            check_tenant_status: true,
            audit_admin: true,
        }
    }
}

fn check_role(name: &str) -> Result<String, Error> {
    let mut chars = name.chars();
    let valid_start = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    if valid_start
        && name.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        Ok(name.to_owned())
    } else {
        Err(Error::InvalidRoleName(name.chars().take(80).collect()))
    }
}

impl TenancyConfig {
    /// The non-privileged role whose privileges tenant transactions and the system connection
    /// use (default `tenancy_app`). The application login must inherit it and must not be
    /// able to become any role that skips row level security; [`TenancyBuilder::build`]
    /// checks both.
    ///
    /// # Errors
    /// [`Error::InvalidRoleName`] unless `role` is a plain lowercase SQL identifier.
    pub fn app_role(mut self, role: &str) -> Result<Self, Error> {
        self.app_role = check_role(role)?;
        Ok(self)
    }

    /// The `BYPASSRLS` role used by [`Tenancy::admin`] (default `tenancy_admin`), reached
    /// from the admin login with `SET LOCAL ROLE`.
    ///
    /// # Errors
    /// [`Error::InvalidRoleName`] unless `role` is a plain lowercase SQL identifier.
    pub fn admin_role(mut self, role: &str) -> Result<Self, Error> {
        self.admin_role = check_role(role)?;
        Ok(self)
    }

    /// Whether opening a tenant transaction checks, in the same statement, that the tenant
    /// exists, is not deleted and is not suspended (`tenancy.require_active_tenant()` from the
    /// foundation migrations). On by default; turn it off only for a database without the
    /// foundation schema.
    #[must_use]
    pub fn check_tenant_status(mut self, check: bool) -> Self {
        self.check_tenant_status = check;
        self
    }

    /// Whether every use of [`Tenancy::admin`] is also recorded as an `admin.escape_hatch`
    /// row in the control plane's audit chain (the `_default` tenant), committed before the
    /// admin work runs so that failed attempts are recorded too. On by default; needs the
    /// foundation migrations.
    #[must_use]
    pub fn audit_admin(mut self, audit: bool) -> Self {
        self.audit_admin = audit;
        self
    }

    /// The application role.
    #[must_use]
    pub fn app_role_name(&self) -> &str {
        &self.app_role
    }

    /// The admin role.
    #[must_use]
    pub fn admin_role_name(&self) -> &str {
        &self.admin_role
    }
}

/// What a finished transaction sends: the end of the transaction, then the session back to
/// its defaults, in the same message. SQL inside the transaction may have changed session
/// state (`set_config(.., false)`, `SET SESSION ..`, `SET ROLE`); none of it reaches the next
/// checkout. `RESET ALL` also undoes the two settings Diesel makes when it connects, so they
/// are made again.
const SESSION_RESET: &str =
    "RESET ALL; RESET ROLE; DISCARD TEMP; SET TIME ZONE 'UTC'; SET CLIENT_ENCODING TO 'UTF8'";

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
    app_url: String,
    admin_url: Option<String>,
    max_size: u32,
    admin_max_size: u32,
    connection_timeout: std::time::Duration,
    test_on_check_out: bool,
    config: TenancyConfig,
    key: Option<ContextKey>,
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
    /// [`Error::ClassificationConflict`] when a table is classified twice in conflicting
    /// ways; [`Error::Pool`] when no connection can be opened; [`Error::UnsafeRole`] naming
    /// the role and the fix; [`Error::ContextKeyMissing`] when no key is given or readable.
    pub fn build(self) -> Result<Tenancy, Error> {
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
        let app_login =
            crate::roles::verify_app_login(&mut app.get()?.conn, &self.config.app_role)?;
        let admin = match &self.admin_url {
            Some(url) => {
                let pool = Pool::builder()
                    .max_size(self.admin_max_size)
                    .connection_timeout(self.connection_timeout)
                    .build(ConnectionManager::<PgConnection>::new(url))
                    .map_err(|e| Error::Pool(diesel::r2d2::PoolError::from(e)))?;
                let mut conn = pool.get()?;
                crate::roles::verify_admin_login(
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
        })
    }
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
    app: AppPool,
    admin: Option<PgPool>,
    config: TenancyConfig,
    key: Arc<ContextKey>,
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

    /// Checks out every connection of the application pool at once (waiting for busy ones up
    /// to the connection timeout) and reports the session state each carries between
    /// transactions, without changing it: what a health check or a test asserts is clean.
    ///
    /// # Errors
    /// [`Error::Pool`] when not every connection can be checked out; database errors.
    pub fn inspect_sessions(&self) -> Result<Vec<SessionState>, Error> {
        let mut held = Vec::new();
        for _ in 0..self.app.max_size() {
            held.push(self.app.get()?);
        }
        held.iter_mut()
            .map(|conn| {
                let in_transaction = matches!(
                    AnsiTransactionManager::transaction_manager_status_mut(&mut conn.conn)
                        .transaction_depth(),
                    Ok(Some(_)) | Err(_)
                );
                let mut state: SessionState = diesel::sql_query(
                    "SELECT current_user::text AS current_user, session_user::text AS session_user,
                            NULLIF(current_setting('tenancy.context', true), '') AS context,
                            NULLIF(current_setting('tenancy.tenant_id', true), '') AS tenant_setting,
                            NULLIF(current_setting('tenancy.principal_id', true), '') AS principal_setting,
                            tenancy.current_tenant() AS tenant,
                            false AS in_transaction",
                )
                .get_result(&mut conn.conn)?;
                state.in_transaction = in_transaction;
                Ok(state)
            })
            .collect()
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
        self.run_tenant(tenant, None, f)
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
        self.run_tenant(tenant, Some(principal), f)
    }

    /// Runs `f` in a tenant transaction, with or without an acting principal.
    pub(crate) fn run_tenant<T, E, F>(
        &self,
        tenant: TenantId,
        principal: Option<PrincipalId>,
        f: F,
    ) -> Result<T, E>
    where
        F: FnOnce(&mut TenantTx<'_>) -> Result<T, E>,
        E: From<Error>,
    {
        let mut conn = self.begin_app(Some(tenant), principal)?;
        finish_transaction(&mut conn.conn, |conn| {
            f(&mut TenantTx {
                conn,
                tenant,
                principal,
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
        let mut conn = self.begin_app(None, None)?;
        finish_transaction(&mut conn.conn, |conn| f(&mut SystemConn { conn }))
    }

    /// Checks out an application connection and opens a transaction with the context of
    /// `tenant` (none for the system connection). A connection the server dropped while it was
    /// idle in the pool fails its `BEGIN` before anything ran; it is discarded and the next one
    /// tried, up to the pool's size, so a restart costs no failed transaction once the server
    /// is back, and no checkout pays a ping.
    fn begin_app(
        &self,
        tenant: Option<TenantId>,
        principal: Option<PrincipalId>,
    ) -> Result<diesel::r2d2::PooledConnection<SessionManager>, Error> {
        let mut stale = 0;
        loop {
            let mut pooled = self.app.get()?;
            let SessionConn { conn, session } = &mut *pooled;
            let mut sql = String::from("BEGIN; ");
            push_enter(
                &mut sql,
                &self.key,
                *session,
                tenant,
                principal,
                tenant.is_some() && self.config.check_tenant_status,
            );
            match begin_transaction(conn, &sql, &self.config.app_role, tenant) {
                Ok(()) => return Ok(pooled),
                Err(Error::Query(e)) if is_connection_loss(&e) && stale < self.app.max_size() => {
                    stale += 1;
                }
                Err(e) => return Err(e),
            }
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
        F: FnOnce(&mut AdminConn<'_>) -> Result<T, E>,
        E: From<Error>,
    {
        let caller = std::panic::Location::caller();
        if reason.trim().is_empty() {
            return Err(Error::MissingAdminReason.into());
        }
        let Some(admin) = &self.admin else {
            return Err(Error::AdminNotConfigured.into());
        };
        tracing::warn!(
            target: "tenancy::admin",
            reason,
            caller = %caller,
            role = %self.config.admin_role,
            "tenancy admin escape hatch used"
        );
        let mut conn = admin.get().map_err(Error::from)?;
        let sql = format!("BEGIN; SET LOCAL ROLE \"{}\"", self.config.admin_role);
        if self.config.audit_admin {
            let event =
                crate::audit::AuditEvent::new("admin.escape_hatch").details(serde_json::json!({
                    "reason": reason,
                    "caller": caller.to_string(),
                    "role": self.config.admin_role,
                }));
            begin_transaction(&mut conn, &sql, &self.config.admin_role, None)?;
            finish_transaction(&mut conn, |conn| {
                crate::audit::record_as_admin(
                    conn,
                    TenantId::from_uuid(uuid::Uuid::nil()),
                    None,
                    &event,
                )
            })?;
        }
        begin_transaction(&mut conn, &sql, &self.config.admin_role, None)?;
        finish_transaction(&mut conn, |conn| f(&mut AdminConn { conn }))
    }
}

/// What one pooled connection carries between transactions ([`Tenancy::inspect_sessions`]).
#[derive(Debug, Clone, PartialEq, Eq, diesel::QueryableByName)]
#[non_exhaustive]
pub struct SessionState {
    /// `current_user`: the login unless a `SET ROLE` survived.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub current_user: String,
    /// `session_user`: the login.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub session_user: String,
    /// `tenancy.context`, if set.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub context: Option<String>,
    /// `tenancy.tenant_id`, if set (SQL may set it; nothing reads it for this login).
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub tenant_setting: Option<String>,
    /// `tenancy.principal_id`, if set.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub principal_setting: Option<String>,
    /// What `tenancy.current_tenant()` answers outside a transaction (must be `None`).
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    pub tenant: Option<uuid::Uuid>,
    /// Whether a transaction is open (Diesel's transaction manager follows the server's
    /// status after every message).
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub in_transaction: bool,
}

impl SessionState {
    /// No role switched, no tenancy setting, no tenant, no open transaction.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.current_user == self.session_user
            && self.context.is_none()
            && self.tenant_setting.is_none()
            && self.principal_setting.is_none()
            && self.tenant.is_none()
            && !self.in_transaction
    }
}

/// Whether the server connection itself is gone (as opposed to a statement failing on it).
fn is_connection_loss(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error as DieselError};
    matches!(
        e,
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _
        )
    )
}

/// Opens a transaction with `setup_sql` (see [`finish_transaction`] for the rest); the message
/// that ends the transaction later puts the session back to its defaults.
///
/// A connection whose set-up failed, or whose end failed, is marked broken so that r2d2
/// discards it instead of handing out a connection stuck in a transaction or carrying
/// session state.
fn begin_transaction(
    conn: &mut PgConnection,
    setup_sql: &str,
    role: &str,
    tenant: Option<TenantId>,
) -> Result<(), Error> {
    if let Err(source) = AnsiTransactionManager::begin_transaction_sql(conn, setup_sql) {
        let rolled_back = conn
            .batch_execute(&format!("ROLLBACK; {SESSION_RESET}"))
            .is_ok();
        let status_error = tenant.and_then(|t| tenant_status_error(t, &source));
        // A refused tenant is an answer, not a fault: a connection that rolled back cleanly
        // goes back to the pool. Anything else (a refused context above all) is discarded.
        if status_error.is_none() || !rolled_back {
            AnsiTransactionManager::transaction_manager_status_mut(conn).set_in_error();
        }
        // A connection lost before or during BEGIN (server restarted, backend killed) is not
        // a role problem: report it as the database error it is, without Setup's hint.
        if status_error.is_none() && is_connection_loss(&source) {
            return Err(Error::Query(source));
        }
        return Err(status_error.unwrap_or_else(|| Error::Setup {
            role: role.to_owned(),
            source,
        }));
    }
    Ok(())
}

/// Runs `f` in the transaction `begin_transaction` opened, and commits or rolls back.
fn finish_transaction<T, E, F>(conn: &mut PgConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut PgConnection) -> Result<T, E>,
    E: From<Error>,
{
    let mut guard = RollbackOnUnwind { conn, armed: true };
    let result = f(guard.conn);
    guard.armed = false;
    let conn = &mut *guard.conn;
    match result {
        Ok(value) => {
            end_transaction(conn, "COMMIT").map_err(Error::from)?;
            Ok(value)
        }
        Err(e) => {
            if end_transaction(conn, "ROLLBACK").is_err() {
                AnsiTransactionManager::transaction_manager_status_mut(conn).set_in_error();
            }
            Err(e)
        }
    }
}

/// Sends `COMMIT` or `ROLLBACK` followed by the session reset, and tells Diesel's
/// transaction manager that the transaction is over. On any failure the connection is
/// marked broken: whether the transaction ended or the reset ran is then unknown.
fn end_transaction(conn: &mut PgConnection, end: &str) -> diesel::QueryResult<()> {
    let in_transaction = matches!(
        AnsiTransactionManager::transaction_manager_status_mut(conn).transaction_depth(),
        Ok(Some(_))
    );
    if !in_transaction {
        AnsiTransactionManager::transaction_manager_status_mut(conn).set_in_error();
        return Err(diesel::result::Error::NotInTransaction);
    }
    match conn.batch_execute(&format!("{end}; {SESSION_RESET}")) {
        Ok(()) => {
            // Diesel's connection reads the server's transaction status after every message
            // and resets its transaction manager once the server is idle again; anything
            // else means the transaction is still open, and the connection must go.
            let status = AnsiTransactionManager::transaction_manager_status_mut(conn);
            if matches!(status, TransactionManagerStatus::Valid(valid) if valid.transaction_depth().is_none())
            {
                Ok(())
            } else {
                status.set_in_error();
                Err(diesel::result::Error::BrokenTransactionManager)
            }
        }
        Err(e) => {
            AnsiTransactionManager::transaction_manager_status_mut(conn).set_in_error();
            Err(e)
        }
    }
}

/// Maps the errors `tenancy.require_active_tenant()` raises to typed errors.
fn tenant_status_error(tenant: TenantId, source: &diesel::result::Error) -> Option<Error> {
    let diesel::result::Error::DatabaseError(_, info) = source else {
        return None;
    };
    let message = info.message();
    if !message.starts_with("tenancy: ") {
        return None;
    }
    if message.ends_with("is suspended") {
        Some(Error::TenantSuspended(tenant))
    } else if message.starts_with("tenancy: unknown tenant") || message.ends_with("is deleted") {
        Some(Error::TenantNotFound(tenant))
    } else {
        None
    }
}

struct RollbackOnUnwind<'c> {
    conn: &'c mut PgConnection,
    armed: bool,
}

impl Drop for RollbackOnUnwind<'_> {
    fn drop(&mut self) {
        if self.armed && end_transaction(self.conn, "ROLLBACK").is_err() {
            AnsiTransactionManager::transaction_manager_status_mut(self.conn).set_in_error();
        }
    }
}

/// A transaction bound to one tenant.
///
/// It deliberately does not implement [`diesel::Connection`]: Diesel's own
/// `.load(&mut conn)` would run a query without the tenant filter. Queries are handed to
/// its methods instead, which scope every tenant-scoped table in the `FROM` clause (see
/// the crate docs for what is checked at compile time).
pub struct TenantTx<'c> {
    conn: &'c mut PgConnection,
    tenant: TenantId,
    principal: Option<PrincipalId>,
}

impl std::fmt::Debug for TenantTx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantTx")
            .field("tenant", &self.tenant)
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

impl<'c> TenantTx<'c> {
    /// The tenant this transaction is bound to.
    #[must_use]
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// The acting principal, if one was given.
    #[must_use]
    pub fn principal(&self) -> Option<PrincipalId> {
        self.principal
    }

    /// Wraps `query` with this transaction's tenant without running it: every tenant-scoped
    /// table it names (in `FROM`, joins, aliases, sub-queries and raw fragments) is shadowed
    /// by the tenant's rows.
    ///
    /// # Errors
    /// [`Error::UnsafeSql`] for a schema-qualified tenant table in a raw fragment or
    /// unterminated SQL text; a query-builder error for a row lock that cannot be scoped.
    pub fn scope<Q: TenantQuery>(&self, query: Q) -> Result<Scoped<Q>> {
        Scoped::new(query, self.tenant).map_err(Error::from)
    }

    /// `table.tenant_id = <this tenant>`, an explicit tenant filter. Sub-queries are scoped
    /// automatically; this remains for conditions you want spelled out.
    #[must_use]
    pub fn tenant_filter<T: ScopedTable>(&self, _table: T) -> TenantEq<T::TenantColumn> {
        TenantEq::new(T::TenantColumn::default(), self.tenant)
    }

    /// Runs a `SELECT` and returns every row.
    ///
    /// # Errors
    /// Database errors; [`crate::scope::LockingJoinError`] (as a query-builder error) for a
    /// row lock over a join.
    pub fn load<'q, Q, U>(&mut self, query: Q) -> Result<Vec<U>>
    where
        Q: TenantQuery,
        Scoped<Q>: LoadQuery<'q, PgConnection, U>,
    {
        self.scope(query)?.load(self.conn).map_err(Error::from)
    }

    /// Runs a `SELECT` and returns its first row, or `NotFound`.
    ///
    /// # Errors
    /// As [`TenantTx::load`]; `NotFound` when there is no row.
    pub fn get_result<'q, Q, U>(&mut self, query: Q) -> Result<U>
    where
        Q: TenantQuery,
        Scoped<Q>: LoadQuery<'q, PgConnection, U>,
    {
        self.scope(query)?
            .get_result(self.conn)
            .map_err(Error::from)
    }

    /// Same as [`TenantTx::load`].
    ///
    /// # Errors
    /// As [`TenantTx::load`].
    pub fn get_results<'q, Q, U>(&mut self, query: Q) -> Result<Vec<U>>
    where
        Q: TenantQuery,
        Scoped<Q>: LoadQuery<'q, PgConnection, U>,
    {
        self.load(query)
    }

    /// Adds `LIMIT 1` and returns the row, or `NotFound`.
    ///
    /// # Errors
    /// As [`TenantTx::get_result`].
    pub fn first<'q, Q, U>(&mut self, query: Q) -> Result<U>
    where
        Q: LimitDsl,
        Limit<Q>: TenantQuery,
        Scoped<Limit<Q>>: LoadQuery<'q, PgConnection, U>,
    {
        self.get_result(query.limit(1))
    }

    /// Counts the rows `query` returns (`SELECT COUNT(*) FROM (<scoped query>)`).
    ///
    /// # Errors
    /// Database errors.
    pub fn count<'q, Q>(&mut self, query: Q) -> Result<i64>
    where
        Q: diesel::QueryDsl + diesel::query_dsl::methods::SelectDsl<diesel::dsl::CountStar>,
        diesel::dsl::Select<Q, diesel::dsl::CountStar>: TenantQuery,
        Scoped<diesel::dsl::Select<Q, diesel::dsl::CountStar>>: LoadQuery<'q, PgConnection, i64>,
    {
        self.get_result(query.count())
    }

    /// `SELECT EXISTS (<scoped query>)`; the scoped replacement for
    /// `diesel::select(exists(query))`.
    ///
    /// # Errors
    /// Database errors.
    pub fn exists<'q, Q>(&mut self, query: Q) -> Result<bool>
    where
        Q: TenantQuery,
        ScopedExists<Q>: LoadQuery<'q, PgConnection, bool>,
    {
        ScopedExists::new(query, self.tenant)?
            .get_result(self.conn)
            .map_err(Error::from)
    }

    /// Loads the row of `table` whose (non-tenant) primary key is `key`.
    ///
    /// # Errors
    /// `NotFound` when the row does not exist in this tenant.
    pub fn find<'q, T, K, U>(&mut self, table: T, key: K) -> Result<U>
    where
        T: crate::TenantFind,
        T: FilterDsl<diesel::dsl::Eq<T::KeyColumn, K>>,
        <T::KeyColumn as Expression>::SqlType: diesel::sql_types::SqlType,
        K: AsExpression<<T::KeyColumn as Expression>::SqlType>,
        Filter<T, diesel::dsl::Eq<T::KeyColumn, K>>: LimitDsl,
        Limit<Filter<T, diesel::dsl::Eq<T::KeyColumn, K>>>: TenantQuery,
        Scoped<Limit<Filter<T, diesel::dsl::Eq<T::KeyColumn, K>>>>: LoadQuery<'q, PgConnection, U>,
    {
        let column = T::KeyColumn::default();
        self.first(table.filter(column.eq(key)))
    }

    /// Inserts one row (a struct deriving `Insertable`, or a tuple of `column.eq(value)`)
    /// with the tenant column set to this transaction's tenant.
    ///
    /// # Errors
    /// Database errors (constraint violations, RLS).
    pub fn insert<T, R, V>(&mut self, table: T, record: R) -> Result<usize>
    where
        T: ScopedTable,
        T::AllColumns: QueryFragment<Pg>,
        R: Insertable<T, Values = ValuesClause<V, T>>,
        V: TenantFreeValues + InsertValues<Pg, T>,
    {
        let _ = table;
        self.insert_statement::<T, V, ()>(vec![record.values().values], None, false)?
            .execute(self.conn)
            .map_err(Error::from)
    }

    /// Inserts one row and returns it (`RETURNING *`).
    ///
    /// # Errors
    /// As [`TenantTx::insert`].
    pub fn insert_returning<'q, T, R, V, U>(&mut self, table: T, record: R) -> Result<U>
    where
        T: ScopedTable,
        T::AllColumns: QueryFragment<Pg>,
        R: Insertable<T, Values = ValuesClause<V, T>>,
        V: TenantFreeValues + InsertValues<Pg, T>,
        TenantInsert<T, V>: LoadQuery<'q, PgConnection, U>,
    {
        let _ = table;
        self.insert_statement::<T, V, ()>(vec![record.values().values], None, true)?
            .get_result(self.conn)
            .map_err(Error::from)
    }

    /// Inserts many rows in one statement; returns how many were inserted.
    ///
    /// # Errors
    /// As [`TenantTx::insert`].
    pub fn insert_batch<T, I, V>(&mut self, table: T, records: I) -> Result<usize>
    where
        T: ScopedTable,
        T::AllColumns: QueryFragment<Pg>,
        I: IntoIterator,
        I::Item: Insertable<T, Values = ValuesClause<V, T>>,
        V: TenantFreeValues + InsertValues<Pg, T>,
    {
        let _ = table;
        let rows: Vec<V> = records.into_iter().map(|r| r.values().values).collect();
        if rows.is_empty() {
            return Ok(0);
        }
        self.insert_statement::<T, V, ()>(rows, None, false)?
            .execute(self.conn)
            .map_err(Error::from)
    }

    /// `INSERT ... ON CONFLICT (tenant_id, <conflict>) DO UPDATE SET <changes>`: the conflict
    /// target always includes the tenant column, so an upsert can only ever touch a row of
    /// this tenant. `changes` may use `diesel::upsert::excluded(column)`.
    ///
    /// # Errors
    /// [`Error::TenantColumnInChangeset`] (as a query-builder error) when `changes`
    /// assigns the tenant column; database errors.
    pub fn upsert<T, R, V, C, Ch>(
        &mut self,
        table: T,
        record: R,
        conflict: C,
        changes: Ch,
    ) -> Result<usize>
    where
        T: ScopedTable,
        T::AllColumns: QueryFragment<Pg>,
        R: Insertable<T, Values = ValuesClause<V, T>>,
        V: TenantFreeValues + InsertValues<Pg, T>,
        C: Column<Table = T>,
        Ch: AsChangeset<Target = T>,
        Ch::Changeset: QueryFragment<Pg>,
    {
        let _ = (table, conflict);
        let statement = self.insert_statement::<T, V, Ch::Changeset>(
            vec![record.values().values],
            Some((C::NAME, changes.as_changeset())),
            false,
        )?;
        statement.execute(self.conn).map_err(Error::from)
    }

    /// The insert, checked: its changeset (for an upsert) assigns columns of `T` other than
    /// the tenant column, and every tenant-scoped table its values or changes read is shadowed.
    fn insert_statement<T, V, Ch>(
        &self,
        rows: Vec<V>,
        conflict: Option<(&'static str, Ch)>,
        returning: bool,
    ) -> Result<TenantInsert<T, V, Ch>>
    where
        T: ScopedTable,
        T::AllColumns: QueryFragment<Pg>,
        V: InsertValues<Pg, T>,
        Ch: QueryFragment<Pg>,
    {
        let mut statement = TenantInsert {
            rows,
            tenant: *self.tenant.as_uuid(),
            conflict,
            returning: returning.then(T::all_columns),
            scope: None,
        };
        let sql = crate::scope::render(&statement)?;
        if statement.conflict.is_some() {
            check_changeset::<T>(&sql)?;
        }
        let tables = crate::scope::tables_named_in(&sql)?;
        if !tables.is_empty() {
            statement.scope = Some(crate::scope::ScopePlan::shadowing(
                *self.tenant.as_uuid(),
                tables,
            ));
        }
        Ok(statement)
    }

    /// Starts a tenant-scoped `UPDATE` of `table`; add `.filter(..)` and `.set(..)`.
    pub fn update<T: ScopedTable>(
        &mut self,
        table: T,
    ) -> ScopedUpdate<'_, 'c, T, TenantEq<T::TenantColumn>> {
        let predicate = TenantEq::new(T::TenantColumn::default(), self.tenant);
        ScopedUpdate {
            tx: self,
            table,
            predicate,
        }
    }

    /// Starts a tenant-scoped `DELETE` from `table`; add `.filter(..)` and `.execute()`.
    pub fn delete<T: ScopedTable>(
        &mut self,
        table: T,
    ) -> ScopedDelete<'_, 'c, T, TenantEq<T::TenantColumn>> {
        let predicate = TenantEq::new(T::TenantColumn::default(), self.tenant);
        ScopedDelete {
            tx: self,
            table,
            predicate,
        }
    }

    /// Runs raw SQL (`diesel::sql_query`). The compiler cannot see into it: it runs as the
    /// application role with this tenant set, so row level security is what keeps it to the
    /// tenant's rows.
    ///
    /// # Errors
    /// Database errors.
    pub fn execute<Q: RawSql>(&mut self, query: Q) -> Result<usize> {
        query.execute(self.conn).map_err(Error::from)
    }

    /// Loads rows from raw SQL (`diesel::sql_query` + `QueryableByName`); like
    /// [`TenantTx::execute`], only row level security checks it.
    ///
    /// # Errors
    /// Database errors.
    pub fn load_sql<'q, Q, U>(&mut self, query: Q) -> Result<Vec<U>>
    where
        // Raw SQL is the only untyped query: `sql_query(..)` with or without `.bind(..)`.
        Q: diesel::query_builder::Query<SqlType = diesel::sql_types::Untyped>
            + LoadQuery<'q, PgConnection, U>,
    {
        query.load(self.conn).map_err(Error::from)
    }
}

/// Raw SQL statements a tenant transaction accepts (checked by row level security only).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be executed in a tenant transaction",
    label = "Diesel statements carry no tenant filter",
    note = "use `tx.insert(table, rows)`, `tx.update(table).filter(..).set(..).execute()`, `tx.delete(table).filter(..).execute()` or `tx.upsert(..)`; `tx.execute` takes raw `diesel::sql_query(..)` only"
)]
pub trait RawSql: ExecuteDsl<PgConnection> + RunQueryDsl<PgConnection> {}
impl RawSql for diesel::query_builder::SqlQuery {}

impl<Q> RawSql for diesel::query_builder::BoxedSqlQuery<'_, Pg, Q> where
    Self: ExecuteDsl<PgConnection> + RunQueryDsl<PgConnection>
{
}

/// Never implemented: the bound behind `.or_filter(..)` on tenant updates and deletes, which
/// would widen the statement beyond the filters already given.
#[diagnostic::on_unimplemented(
    message = "`or_filter` is not available on a tenant write: each `.filter(..)` is ANDed with the tenant filter, and an OR could only widen the write",
    label = "`or_filter` on `tx.update(..)` / `tx.delete(..)`",
    note = "combine the alternatives in one filter: `.filter(a.eq(1).or(b.eq(2)))`; it stays inside its parentheses, ANDed with the tenant filter"
)]
pub trait OrFilterOnTenantWrite: sealed::Never {}

mod sealed {
    /// Implemented by nothing, so that nothing implements [`super::OrFilterOnTenantWrite`].
    pub trait Never {}
}

/// A tenant-scoped `UPDATE` under construction: `WHERE tenant_id = $1 AND (<filters>)`.
#[must_use = "call .set(..) and .execute()"]
pub struct ScopedUpdate<'t, 'c, T, P> {
    tx: &'t mut TenantTx<'c>,
    table: T,
    predicate: P,
}

impl<'t, 'c, T: ScopedTable, P> ScopedUpdate<'t, 'c, T, P> {
    /// Restricts the update further; the predicate is parenthesised and ANDed with the
    /// tenant predicate.
    pub fn filter<F>(self, predicate: F) -> ScopedUpdate<'t, 'c, T, AndThen<P, Paren<F>>>
    where
        F: Expression,
        F::SqlType: BoolOrNullableBool,
    {
        ScopedUpdate {
            tx: self.tx,
            table: self.table,
            predicate: AndThen(self.predicate, Paren(predicate)),
        }
    }

    /// Not available: a tenant update only narrows. See [`OrFilterOnTenantWrite`].
    #[doc(hidden)]
    pub fn or_filter<F: OrFilterOnTenantWrite>(self, _predicate: F) -> Self {
        self
    }

    /// Sets the new values; `changes` must not assign the tenant column.
    pub fn set<Ch: AsChangeset<Target = T>>(
        self,
        changes: Ch,
    ) -> ScopedUpdateSet<'t, 'c, T, P, Ch> {
        ScopedUpdateSet {
            tx: self.tx,
            table: self.table,
            predicate: self.predicate,
            changes,
        }
    }
}

/// A tenant-scoped `UPDATE` ready to run.
#[must_use = "call .execute() or .get_results()"]
pub struct ScopedUpdateSet<'t, 'c, T, P, Ch> {
    tx: &'t mut TenantTx<'c>,
    table: T,
    predicate: P,
    changes: Ch,
}

type UpdateOf<T, P, Ch> = diesel::dsl::Update<Filter<T, P>, Ch>;

/// Checks a tenant write's predicate (`<tenant filter> AND (<f1>) AND (<f2>)...`): every
/// filter, raw fragments included, must stay inside its own parentheses, so that none can
/// add a top-level `OR` to the tenant filter.
fn check_predicate<T: ScopedTable, P: QueryFragment<Pg>>(
    tenant: TenantId,
    predicate: &P,
) -> Result<()> {
    let prefix = crate::scope::render(&TenantEq::new(T::TenantColumn::default(), tenant))?;
    let sql = crate::scope::render(predicate)?;
    crate::sql_lexer::check_conjunction(&sql, &prefix)?;
    Ok(())
}

impl<'t, T, P, Ch> ScopedUpdateSet<'t, '_, T, P, Ch>
where
    T: ScopedTable + FilterDsl<P>,
    P: QueryFragment<Pg>,
    Filter<T, P>: IntoUpdateTarget<Table = T>,
    Ch: AsChangeset<Target = T>,
    UpdateOf<T, P, Ch>: QueryFragment<Pg> + QueryId + diesel::query_builder::AsQuery,
{
    /// The statement, checked: filters stay in their parentheses, the changeset assigns
    /// columns of the table other than the tenant column, and sub-queries read only this
    /// tenant's rows.
    #[allow(clippy::type_complexity)] // reason: the connection and the checked statement
    fn checked(self) -> Result<(&'t mut PgConnection, WithScope<UpdateOf<T, P, Ch>>)> {
        let tenant = self.tx.tenant;
        check_predicate::<T, _>(tenant, &self.predicate)?;
        let statement = WithScope::new(
            diesel::update(self.table.filter(self.predicate)).set(self.changes),
            *tenant.as_uuid(),
        )?;
        check_changeset::<T>(statement.sql())?;
        Ok((&mut *self.tx.conn, statement))
    }

    /// Runs the update; returns the number of rows changed.
    ///
    /// # Errors
    /// [`Error::TenantColumnInChangeset`] when the changeset assigns the tenant column;
    /// [`Error::UnsafeSql`] when a raw fragment reaches outside its parentheses or adds an
    /// assignment; database errors.
    pub fn execute(self) -> Result<usize> {
        let (conn, statement) = self.checked()?;
        statement.execute(conn).map_err(Error::from)
    }

    /// Runs the update and returns the changed rows (`RETURNING *`).
    ///
    /// # Errors
    /// As [`ScopedUpdateSet::execute`].
    pub fn get_results<'q, U>(self) -> Result<Vec<U>>
    where
        WithScope<UpdateOf<T, P, Ch>>: LoadQuery<'q, PgConnection, U>,
    {
        let (conn, statement) = self.checked()?;
        statement.get_results(conn).map_err(Error::from)
    }
}

/// A tenant-scoped `DELETE` under construction: `WHERE tenant_id = $1 AND (<filters>)`.
#[must_use = "call .execute()"]
pub struct ScopedDelete<'t, 'c, T, P> {
    tx: &'t mut TenantTx<'c>,
    table: T,
    predicate: P,
}

impl<'t, 'c, T: ScopedTable, P> ScopedDelete<'t, 'c, T, P> {
    /// Restricts the delete further (parenthesised, ANDed with the tenant predicate).
    pub fn filter<F>(self, predicate: F) -> ScopedDelete<'t, 'c, T, AndThen<P, Paren<F>>>
    where
        F: Expression,
        F::SqlType: BoolOrNullableBool,
    {
        ScopedDelete {
            tx: self.tx,
            table: self.table,
            predicate: AndThen(self.predicate, Paren(predicate)),
        }
    }

    /// Runs the delete; returns the number of rows removed.
    ///
    /// # Errors
    /// [`Error::UnsafeSql`] when a raw fragment reaches outside its parentheses; database
    /// errors.
    pub fn execute(self) -> Result<usize>
    where
        T: FilterDsl<P>,
        P: QueryFragment<Pg>,
        Filter<T, P>: IntoUpdateTarget,
        diesel::dsl::delete<Filter<T, P>>: QueryFragment<Pg> + QueryId,
    {
        let tenant = self.tx.tenant;
        check_predicate::<T, _>(tenant, &self.predicate)?;
        WithScope::new(
            diesel::delete(self.table.filter(self.predicate)),
            *tenant.as_uuid(),
        )?
        .execute(self.tx.conn)
        .map_err(Error::from)
    }

    /// Not available: a tenant delete only narrows. See [`OrFilterOnTenantWrite`].
    #[doc(hidden)]
    pub fn or_filter<F: OrFilterOnTenantWrite>(self, _predicate: F) -> Self {
        self
    }
}

/// A connection for global tables. Queries touching a tenant-scoped table do not compile.
pub struct SystemConn<'c> {
    conn: &'c mut PgConnection,
}

impl std::fmt::Debug for SystemConn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemConn").finish_non_exhaustive()
    }
}

/// Refuses a statement for the system connection that names a tenant-scoped table anywhere
/// (a sub-query, an `INSERT ... SELECT`, a raw fragment): the types only show its target.
fn check_global<Q: QueryFragment<Pg>>(statement: &Q) -> Result<()> {
    let sql = crate::scope::render(statement)?;
    if let Some(table) = crate::scope::tables_named_in(&sql)?.first() {
        return Err(
            crate::SqlTextError::TenantTableOnSystemConnection(table.table.to_owned()).into(),
        );
    }
    Ok(())
}

impl SystemConn<'_> {
    /// Runs a `SELECT` over global tables.
    ///
    /// # Errors
    /// [`Error::UnsafeSql`] when it names a tenant-scoped table anywhere (a sub-query, a raw
    /// fragment); database errors.
    pub fn load<'q, Q, U>(&mut self, query: Q) -> Result<Vec<U>>
    where
        Q: GlobalQuery + QueryFragment<Pg> + LoadQuery<'q, PgConnection, U>,
    {
        check_global(&query)?;
        query.load(self.conn).map_err(Error::from)
    }

    /// Runs a `SELECT` over global tables and returns the first row, or `NotFound`.
    ///
    /// # Errors
    /// As [`SystemConn::load`].
    pub fn get_result<'q, Q, U>(&mut self, query: Q) -> Result<U>
    where
        Q: GlobalQuery + QueryFragment<Pg> + LoadQuery<'q, PgConnection, U>,
    {
        check_global(&query)?;
        query.get_result(self.conn).map_err(Error::from)
    }

    /// Runs an `INSERT`, `UPDATE` or `DELETE` on a global table.
    ///
    /// # Errors
    /// As [`SystemConn::load`]: an `INSERT ... SELECT` must read global tables only.
    pub fn execute<Q>(&mut self, statement: Q) -> Result<usize>
    where
        Q: GlobalQuery + QueryFragment<Pg> + ExecuteDsl<PgConnection>,
    {
        check_global(&statement)?;
        ExecuteDsl::execute(statement, self.conn).map_err(Error::from)
    }

    /// Loads rows from raw SQL. It runs as the application role with no tenant set, so row
    /// level security hides every tenant row from it.
    ///
    /// # Errors
    /// Database errors.
    pub fn load_sql<'q, Q, U>(&mut self, query: Q) -> Result<Vec<U>>
    where
        // Raw SQL is the only untyped query: `sql_query(..)` with or without `.bind(..)`.
        Q: diesel::query_builder::Query<SqlType = diesel::sql_types::Untyped>
            + LoadQuery<'q, PgConnection, U>,
    {
        query.load(self.conn).map_err(Error::from)
    }
}

impl<T: GlobalTable, U, Op, Ret> GlobalQuery for InsertStatement<T, U, Op, Ret> {}
impl<T: GlobalTable, U, V, Ret> GlobalQuery
    for diesel::query_builder::UpdateStatement<T, U, V, Ret>
{
}
impl<T: GlobalTable, U, Ret> GlobalQuery for diesel::query_builder::DeleteStatement<T, U, Ret> {}

/// A connection running as the admin role (`BYPASSRLS`), from [`Tenancy::admin`]. It is a
/// plain Diesel connection: nothing is scoped, which is the point of the escape hatch.
pub struct AdminConn<'c> {
    conn: &'c mut PgConnection,
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
