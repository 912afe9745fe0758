//! The entry points, and how every transaction opens and ends on an async connection. The SQL
//! of both messages, and what a failed opening means, come from the core, as on the
//! synchronous side.

use std::sync::Arc;
use std::time::Duration;

use diesel::connection::{TransactionDepthChange, TransactionManagerStatus};
use diesel_async::pooled_connection::PoolableConnection;
use diesel_async::{AnsiTransactionManager, AsyncPgConnection, SimpleAsyncConnection};
use diesel_async::{RunQueryDsl, TransactionManager};
use tenancy_schema::__private_v0_1::executor::{
    Begin, ConnectionState, ContextEntry, INSPECT_SESSION_SQL, OpenStatement, SessionEnd,
    TransactionOptions, admin_direct, admin_setup_sql, begin_with, check_pool_settings,
    checks_tenant_status, context_entry, context_key, end_sql, has_admin_audit, log_admin_use,
    lost_idle_connection, record_admin_use, reset_after_commit,
};
use tenancy_schema::{
    ContextKey, Error, PrincipalId, SessionState, Tenancy, TenancyConfig, TenantId,
};

use crate::pipeline::Opening;
use crate::pool::{PoolError, SessionConn, SessionManager, run_error};
use crate::statements;
use crate::{AsyncSystemConn, AsyncTenantTx, AsyncTransactionBuilder};

type Pool = bb8::Pool<SessionManager>;
pub(crate) type Pooled<'p> = bb8::PooledConnection<'p, SessionManager>;

/// Opens async tenant transactions, system connections and admin connections: the async
/// counterpart of [`tenancy_schema::Tenancy`], with the same guarantees.
///
/// Cloning is cheap; clones share the pools.
#[derive(Clone)]
pub struct AsyncTenancy {
    app: Pool,
    admin: Option<Pool>,
    max_size: u32,
    config: TenancyConfig,
    key: Arc<ContextKey>,
    entry: ContextEntry,
    admin_direct: bool,
    pipeline: bool,
    /// The synchronous `Tenancy` the logins were verified with, kept only when an
    /// [`tenancy_schema::AdminAudit`] hook is configured: hooks take a synchronous connection.
    audit: Option<Tenancy>,
}

impl std::fmt::Debug for AsyncTenancy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncTenancy")
            .field("config", &self.config)
            .field("pool", &self.app.state())
            .field("admin_pool", &self.admin.as_ref().map(bb8::Pool::state))
            .finish_non_exhaustive()
    }
}

/// Builds an [`AsyncTenancy`] (from [`AsyncTenancy::builder`]); the options are those of
/// [`tenancy_schema::TenancyBuilder`].
#[derive(Debug, Clone)]
#[must_use = "call .build().await"]
pub struct AsyncTenancyBuilder {
    app_url: String,
    admin_url: Option<String>,
    max_size: u32,
    admin_max_size: u32,
    connection_timeout: Duration,
    config: TenancyConfig,
    key: Option<ContextKey>,
    pipeline: bool,
}

impl AsyncTenancyBuilder {
    /// The admin login, used by [`AsyncTenancy::admin`] only (and to read the context key when
    /// none is given); another login than the application's, a member of the admin role.
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

    /// How long a transaction waits for a free connection (default 30 s).
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// The role configuration (default [`TenancyConfig::default`]).
    pub fn config(mut self, config: TenancyConfig) -> Self {
        self.config = config;
        self
    }

    /// The context key; see [`tenancy_schema::TenancyBuilder::context_key`].
    pub fn context_key(mut self, key: ContextKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Sends the message that opens a tenant transaction (`BEGIN`, the context and the tenant
    /// status check) together with the transaction's first statement, in one write: a tenant
    /// transaction then takes one round trip less than a plain diesel-async transaction, which
    /// waits for its `BEGIN` (default off).
    ///
    /// What changes with it on:
    /// - A refused opening (a suspended or unknown tenant, a lost connection) is reported by the
    ///   first statement, as [`Error::TenantSuspended`] and the like, instead of by
    ///   [`AsyncTenancy::transaction`] before the closure runs. A transaction that runs no
    ///   statement still sends its opening when it commits, and fails the same way.
    /// - A connection the server closed while it was idle is recognised at checkout when its
    ///   socket is already closed; one that breaks between checkout and the first statement
    ///   fails that statement, where without pipelining the next connection would be tried.
    /// - The pool's connections open with `default_transaction_read_only` on, and every
    ///   transaction on them begins `READ WRITE`: a statement that ran behind an opening
    ///   cancelled before its `BEGIN` (and so outside any transaction) cannot write.
    ///
    /// Everything else holds as without it: no statement runs before the opening (it is written
    /// first, and after a refused opening the next statement sends it again), and a future
    /// dropped at any await point gives back no connection with a transaction or a context.
    /// The system connection and the admin path are not pipelined.
    pub fn pipeline(mut self, on: bool) -> Self {
        self.pipeline = on;
        self
    }

    /// Verifies the logins, reads the context key and opens the pools.
    ///
    /// The checks are [`tenancy_schema::TenancyBuilder::build`]'s own, run once on a blocking
    /// thread through a synchronous connection of each login: one implementation of what
    /// makes a login safe, whichever executor runs the transactions.
    ///
    /// # Errors
    /// As [`tenancy_schema::TenancyBuilder::build`]; a pool failure is
    /// [`Error::Component`] holding a [`PoolError`].
    pub async fn build(self) -> Result<AsyncTenancy, Error> {
        check_pool_settings(self.max_size, self.admin_max_size, self.connection_timeout)?;
        let mut sync = Tenancy::builder(&self.app_url)
            .max_size(1)
            .admin_max_size(1)
            .connection_timeout(self.connection_timeout)
            .config(self.config.clone());
        if let Some(url) = &self.admin_url {
            sync = sync.admin_url(url);
        }
        if let Some(key) = self.key {
            sync = sync.context_key(key);
        }
        let sync = tokio::task::spawn_blocking(move || sync.build())
            .await
            .map_err(|e| PoolError::Verify(e.to_string()).into_error())??;
        let pool = |url: &str, app: bool, size: u32| {
            bb8::Pool::builder()
                .max_size(size)
                .connection_timeout(self.connection_timeout)
                // No `SELECT 1` per checkout: see `SessionManager::is_valid`.
                .test_on_check_out(false)
                .build_unchecked(SessionManager {
                    url: url.to_owned(),
                    open_session: app,
                    read_only_outside_transactions: app && self.pipeline,
                })
        };
        let app = pool(&self.app_url, true, self.max_size);
        let admin = self
            .admin_url
            .as_deref()
            .map(|url| pool(url, false, self.admin_max_size));
        let config = sync.config().clone();
        Ok(AsyncTenancy {
            app,
            admin,
            max_size: self.max_size,
            key: context_key(&sync),
            entry: context_entry(&sync),
            admin_direct: admin_direct(&sync),
            pipeline: self.pipeline,
            audit: has_admin_audit(&config).then_some(sync),
            config,
        })
    }
}

impl AsyncTenancy {
    /// Starts building an `AsyncTenancy` whose tenant transactions log in with `app_url`.
    pub fn builder(app_url: &str) -> AsyncTenancyBuilder {
        AsyncTenancyBuilder {
            app_url: app_url.to_owned(),
            admin_url: None,
            max_size: 10,
            admin_max_size: 2,
            connection_timeout: Duration::from_secs(30),
            config: TenancyConfig::default(),
            key: None,
            pipeline: false,
        }
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
    /// `f` returns `Ok`, rolls back on `Err`. When the returned future is dropped before it
    /// completes (a timeout, a client that went away) or `f` panics, the connection is closed
    /// instead of going back to the pool, and PostgreSQL rolls the transaction back, unless the
    /// future was dropped after its `COMMIT` was sent: then the commit may have happened, as
    /// with any client.
    ///
    /// # Errors
    /// Whatever `f` returns, or the errors of [`tenancy_schema::Tenancy::transaction`]
    /// converted into `E`.
    pub async fn transaction<T, E, F>(&self, tenant: TenantId, f: F) -> Result<T, E>
    where
        F: AsyncFnOnce(&mut AsyncTenantTx<'_>) -> Result<T, E>,
        E: From<Error>,
    {
        self.run_tenant(TransactionOptions::default(), tenant, None, f)
            .await
    }

    /// Like [`AsyncTenancy::transaction`], with an acting principal exposed to SQL as
    /// `tenancy.current_principal()`, as [`tenancy_schema::Tenancy::transaction_as`].
    ///
    /// # Errors
    /// As [`AsyncTenancy::transaction`].
    pub async fn transaction_as<T, E, F>(
        &self,
        tenant: TenantId,
        principal: PrincipalId,
        f: F,
    ) -> Result<T, E>
    where
        F: AsyncFnOnce(&mut AsyncTenantTx<'_>) -> Result<T, E>,
        E: From<Error>,
    {
        self.run_tenant(TransactionOptions::default(), tenant, Some(principal), f)
            .await
    }

    /// A tenant transaction with options, as [`tenancy_schema::Tenancy::build_transaction`].
    pub fn build_transaction(&self, tenant: TenantId) -> AsyncTransactionBuilder<'_> {
        AsyncTransactionBuilder::new(self, tenant)
    }

    pub(crate) async fn run_tenant<T, E, F>(
        &self,
        options: TransactionOptions,
        tenant: TenantId,
        principal: Option<PrincipalId>,
        f: F,
    ) -> Result<T, E>
    where
        F: AsyncFnOnce(&mut AsyncTenantTx<'_>) -> Result<T, E>,
        E: From<Error>,
    {
        let mut pooled = self.open_tenant(options, tenant, principal).await?;
        let result = f(&mut AsyncTenantTx {
            conn: &mut pooled,
            tenant,
            principal,
        })
        .await;
        finish(&mut pooled, result).await
    }

    /// Runs `f` on a connection for global tables only, as the application role with no
    /// tenant set: even raw SQL through it sees no tenant rows.
    ///
    /// # Errors
    /// As [`AsyncTenancy::transaction`].
    pub async fn system<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: AsyncFnOnce(&mut AsyncSystemConn<'_>) -> Result<T, E>,
        E: From<Error>,
    {
        let begin = self.begin_sql(TransactionOptions::default());
        let mut pooled = self.begin_app((&begin, false), None, None).await?;
        let session: &mut SessionConn = &mut pooled;
        let result = f(&mut AsyncSystemConn {
            conn: &mut session.conn,
            state: &mut session.state,
        })
        .await;
        finish(&mut pooled, result).await
    }

    /// Checks out an application connection for a tenant transaction and opens it, or, when
    /// pipelining, leaves the opening to go out with the first statement.
    pub(crate) async fn open_tenant(
        &self,
        options: TransactionOptions,
        tenant: TenantId,
        principal: Option<PrincipalId>,
    ) -> Result<Pooled<'static>, Error> {
        let begin = self.begin_sql(options);
        if !self.pipeline {
            return self
                .begin_app((&begin, options.is_read_only()), Some(tenant), principal)
                .await;
        }
        let mut closed = 0;
        loop {
            let mut pooled = self.app.get_owned().await.map_err(run_error)?;
            // No round trip to test it: a connection whose socket is already closed is given
            // back (and so closed by the pool) before anything is queued on it.
            if PoolableConnection::is_broken(&mut pooled.conn) && closed < self.max_size {
                closed += 1;
                continue;
            }
            let session = pooled.session;
            pooled.state.in_flight = true;
            pooled.state.failed = false;
            pooled.state.session_end = self.entry.session_end();
            pooled.state.opening = Some(Box::new(Opening {
                begin,
                read_only: options.is_read_only(),
                tenant,
                principal,
                entry: self.entry,
                key: Arc::clone(&self.key),
                check_status: checks_tenant_status(&self.config),
                role: self.config.app_role_name().to_owned(),
                session,
                sent: false,
            }));
            return Ok(pooled);
        }
    }

    /// The `BEGIN` of a transaction with `options` on the application pool. A pipelining pool's
    /// connections are read only outside a transaction ([`SessionManager`]'s
    /// `read_only_outside_transactions`), so every transaction on them asks for `READ WRITE`;
    /// one to be read only switches after its context entry, which writes.
    fn begin_sql(&self, options: TransactionOptions) -> String {
        let begin = options.begin_sql();
        if self.pipeline {
            format!("{begin} READ WRITE")
        } else {
            begin
        }
    }

    /// Checks out an application connection and opens a transaction with the context of
    /// `tenant` (none for the system connection), in one message. A connection the server
    /// dropped while idle fails its `BEGIN` before anything ran; it is discarded and the next
    /// one tried, up to the pool's size, so no checkout pays a ping. The connection owns its
    /// handle on the pool, so that an [`crate::OwnedTenantTx`] can keep it beyond this borrow.
    pub(crate) async fn begin_app(
        &self,
        begin: (&str, bool),
        tenant: Option<TenantId>,
        principal: Option<PrincipalId>,
    ) -> Result<Pooled<'static>, Error> {
        let mut stale = 0;
        loop {
            let mut pooled = self.app.get_owned().await.map_err(run_error)?;
            let opening = begin_with(
                begin,
                self.entry,
                &self.key,
                ConnectionState {
                    session: pooled.session,
                    opened_before: pooled.state.opened_before,
                },
                tenant,
                principal,
                checks_tenant_status(&self.config),
            );
            let session_end = self.entry.session_end();
            let opened = begin_transaction(
                &mut pooled,
                opening,
                self.config.app_role_name(),
                tenant,
                session_end,
            )
            .await;
            if !lost_idle_connection(&opened, &mut stale, self.max_size) {
                return opened.map(|()| pooled);
            }
        }
    }

    /// The escape hatch, as [`tenancy_schema::Tenancy::admin`]: runs `f` on the admin login's
    /// own pool as the admin role (`BYPASSRLS`), on a plain diesel-async connection, logs the
    /// same `tracing` warning (target `tenancy::admin`, with the reason and the caller's file
    /// and line) and runs the configured [`tenancy_schema::AdminAudit`] hook in a transaction
    /// of its own that commits before `f` starts (on a blocking thread: hooks are synchronous).
    /// `f` gets the connection itself, so tenancy cannot see its statements fail: before the
    /// commit it asks the server (`SELECT 1`, refused in a transaction a failed statement
    /// aborted), where a bare `COMMIT` would roll back without an error.
    ///
    /// # Errors
    /// [`Error::MissingAdminReason`] for an empty reason, [`Error::AdminNotConfigured`]
    /// without an admin login, [`Error::AbortedTransaction`] when `f` returned `Ok` after a
    /// statement of its own failed, otherwise as [`AsyncTenancy::transaction`].
    #[track_caller]
    pub fn admin<'a, T, E, F>(&'a self, reason: &'a str, f: F) -> impl Future<Output = Result<T, E>>
    where
        F: AsyncFnOnce(&mut AsyncPgConnection) -> Result<T, E>,
        E: From<Error>,
    {
        // `#[track_caller]` does not reach into an `async fn`'s body: the location is taken
        // here, before the future is built.
        let caller = std::panic::Location::caller();
        self.run_admin(reason, caller, f)
    }

    async fn run_admin<T, E, F>(
        &self,
        reason: &str,
        caller: &'static std::panic::Location<'static>,
        f: F,
    ) -> Result<T, E>
    where
        F: AsyncFnOnce(&mut AsyncPgConnection) -> Result<T, E>,
        E: From<Error>,
    {
        if reason.trim().is_empty() {
            return Err(Error::MissingAdminReason.into());
        }
        let Some(admin) = &self.admin else {
            return Err(Error::AdminNotConfigured.into());
        };
        let role = self.config.admin_role_name();
        log_admin_use(reason, Some(caller), role);
        if let Some(sync) = &self.audit {
            let sync = sync.clone();
            let reason = reason.to_owned();
            tokio::task::spawn_blocking(move || record_admin_use(&sync, &reason, caller))
                .await
                .map_err(|e| PoolError::Verify(e.to_string()).into_error())??;
        }
        let mut pooled = admin.get().await.map_err(run_error)?;
        begin_transaction(
            &mut pooled,
            Begin::Message(admin_setup_sql(role, self.admin_direct)),
            role,
            None,
            SessionEnd::Reset,
        )
        .await?;
        pooled.state.unwatched = true;
        let result = f(&mut pooled.conn).await;
        finish(&mut pooled, result).await
    }

    /// Checks out every connection of the application pool at once (waiting for busy ones up
    /// to the connection timeout) and reports the session state each carries between
    /// transactions, as [`tenancy_schema::Tenancy::inspect_sessions`]. `in_transaction` is
    /// true when the connection is marked in flight, diesel-async's transaction manager
    /// sees a transaction, or the server has a transaction id for the session (a surviving
    /// tenant transaction has one: entering a context writes).
    ///
    /// # Errors
    /// [`Error::Component`] with a [`PoolError`] when not every connection can be checked
    /// out; database errors.
    pub async fn inspect_sessions(&self) -> Result<Vec<SessionState>, Error> {
        // As the synchronous one: a connection the server closed while it sat in the pool
        // holds no session to inspect; the next attempt has another in its place.
        let mut stale = 0;
        loop {
            let inspected = self.inspect_each_session().await;
            if !lost_idle_connection(&inspected, &mut stale, self.max_size) {
                return inspected;
            }
        }
    }

    async fn inspect_each_session(&self) -> Result<Vec<SessionState>, Error> {
        #[derive(diesel::QueryableByName)]
        struct Open {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            open: bool,
        }
        let mut held = Vec::new();
        for _ in 0..self.max_size {
            held.push(self.app.get().await.map_err(run_error)?);
        }
        let mut states = Vec::with_capacity(held.len());
        for pooled in &mut held {
            let open = pooled.state.in_flight || pooled.state.open || pooled.transaction_open();
            let mut state: SessionState = diesel::sql_query(INSPECT_SESSION_SQL)
                .get_result(&mut pooled.conn)
                .await?;
            // Outside a transaction block this statement is a transaction of its own that
            // writes nothing, so it has no transaction id; one that survived a tenant
            // transaction would (entering a context writes).
            let server: Open =
                diesel::sql_query("SELECT pg_current_xact_id_if_assigned() IS NOT NULL AS open")
                    .get_result(&mut pooled.conn)
                    .await?;
            state.in_transaction = open || server.open;
            states.push(state);
        }
        Ok(states)
    }
}

/// Sends the message that opens a transaction. The connection is marked in flight first: from
/// here until [`end_transaction`] succeeds, dropping it closes it.
async fn begin_transaction(
    conn: &mut SessionConn,
    begin: Begin,
    role: &str,
    tenant: Option<TenantId>,
    session_end: SessionEnd,
) -> Result<(), Error> {
    conn.state.in_flight = true;
    conn.state.failed = false;
    conn.state.session_end = session_end;
    let opened = match begin {
        Begin::Message(sql) => {
            AnsiTransactionManager::begin_transaction_sql(&mut conn.conn, &sql).await
        }
        Begin::Prepared(statement) => begin_prepared(&mut conn.conn, statement).await,
    };
    match opened {
        Ok(()) => {
            conn.state.opened_before = true;
            Ok(())
        }
        Err(source) => Err(conn.state.refused(&conn.conn, source, role, tenant).await),
    }
}

/// Runs `tenancy_context.begin(..)` and tells diesel-async's transaction manager that a
/// transaction is open, as `BEGIN` through it would have.
async fn begin_prepared(
    conn: &mut AsyncPgConnection,
    statement: OpenStatement,
) -> diesel::QueryResult<()> {
    if AnsiTransactionManager::transaction_manager_status_mut(conn)
        .transaction_depth()?
        .is_some()
    {
        return Err(diesel::result::Error::AlreadyInTransaction);
    }
    statement.execute(conn).await?;
    AnsiTransactionManager::transaction_manager_status_mut(conn)
        .transaction_state()?
        .change_transaction_depth(TransactionDepthChange::IncreaseDepth)
}

/// Commits on `Ok`, rolls back on `Err`; a failed end leaves the connection marked, so that
/// it is closed.
async fn finish<T, E: From<Error>>(conn: &mut SessionConn, result: Result<T, E>) -> Result<T, E> {
    match result {
        Ok(value) => {
            end_transaction(conn, "COMMIT").await?;
            Ok(value)
        }
        Err(e) => {
            // The caller's error is what matters; a failed rollback only means the connection
            // goes (it stays marked).
            let _ = end_transaction(conn, "ROLLBACK").await;
            Err(e)
        }
    }
}

/// Sends `COMMIT` or `ROLLBACK` with the session reset in one message, then tells
/// diesel-async's transaction manager that the transaction is over (it does not follow the
/// server's status by itself). Only a transaction at depth one is ended: anything else (an
/// admin closure that left a savepoint open) keeps the connection marked.
///
/// A pipelined transaction whose opening is still pending ran no statement: a rollback has
/// nothing to end, and a commit first sends the opening, so that its checks decide as they
/// would have at the start.
pub(crate) async fn end_transaction(conn: &mut SessionConn, end: &str) -> Result<(), Error> {
    let unwatched = std::mem::take(&mut conn.state.unwatched);
    if end != "COMMIT" && conn.state.opening.is_some() {
        conn.state.forget_opening();
        statements::after_end(conn);
        return Ok(());
    }
    if conn.state.in_doubt {
        // Nothing is sent: the connection stays marked, and closing it ends whatever is open.
        return if end == "COMMIT" {
            Err(Error::AbortedTransaction)
        } else {
            Ok(())
        };
    }
    // PostgreSQL answers the `COMMIT` of an aborted transaction with a rollback and no error:
    // a failed statement whose error the caller set aside must not end as a success.
    if end == "COMMIT" && std::mem::take(&mut conn.state.failed) {
        Box::pin(end_transaction(conn, "ROLLBACK")).await?;
        return Err(Error::AbortedTransaction);
    }
    // Statements nothing watched (the admin path's): one question first, which an aborted
    // transaction refuses, where its `COMMIT` would roll back without an error. The admin path
    // is rare enough for the round trip.
    if end == "COMMIT" && unwatched && conn.conn.batch_execute("SELECT 1").await.is_err() {
        Box::pin(end_transaction(conn, "ROLLBACK")).await?;
        return Err(Error::AbortedTransaction);
    }
    if let Some(opening) = conn.state.opening.take() {
        let begin = Begin::Message(opening.sql());
        let session_end = conn.state.session_end;
        begin_transaction(
            conn,
            begin,
            &opening.role,
            Some(opening.tenant),
            session_end,
        )
        .await?;
    }
    // A pipelined opening: diesel-async's transaction manager never saw the transaction.
    let pipelined = std::mem::take(&mut conn.state.open);
    if !pipelined {
        let depth = AnsiTransactionManager::transaction_manager_status_mut(&mut conn.conn)
            .transaction_depth()?;
        if depth.map(std::num::NonZeroU32::get) != Some(1) {
            return Err(diesel::result::Error::NotInTransaction.into());
        }
    }
    conn.conn
        .batch_execute(&end_sql(end, conn.state.session_end))
        .await?;
    if !pipelined {
        let status = AnsiTransactionManager::transaction_manager_status_mut(&mut conn.conn);
        if let TransactionManagerStatus::Valid(valid) = status {
            valid.change_transaction_depth(TransactionDepthChange::DecreaseDepth)?;
        }
    }
    if let Some(reset) = reset_after_commit(end, conn.state.session_end)
        && conn.conn.batch_execute(reset).await.is_err()
    {
        // Committed: only the session is in doubt. The connection stays marked, so the pool
        // closes it instead of handing it out again.
        return Ok(());
    }
    statements::after_end(conn);
    conn.state.in_flight = conn.transaction_open();
    Ok(())
}
