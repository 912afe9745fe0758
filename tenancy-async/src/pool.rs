//! The pools' connections and what decides whether one may go back to the pool.
//!
//! A connection carries an `in_flight` mark from the moment a transaction is about to be sent
//! until the message that ended it (with the session reset) came back. A transaction's future
//! can be dropped at any await point; the pooled connection is then dropped with the mark
//! still set, and bb8 asks [`SessionManager::has_broken`] synchronously, before the
//! connection reaches the idle queue, so it is closed instead (PostgreSQL rolls back the
//! transaction of a closed session). No cleanup has to run in a destructor, which could not
//! await anything anyway.

use diesel::connection::TransactionManagerStatus;
use diesel::sql_types::BigInt;
use diesel_async::pooled_connection::PoolableConnection;
use diesel_async::{AnsiTransactionManager, AsyncPgConnection, TransactionManager};

use crate::pipeline::TxState;

/// Why no connection could be had from a pool. Reported inside
/// [`tenancy_schema::Error::Component`] (`downcast_ref::<PoolError>()` gives it back).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// Every connection stayed busy for the whole connection timeout.
    #[error("timed out waiting for a database connection from the async pool")]
    TimedOut,
    /// A new connection could not be opened.
    #[error("could not open a database connection: {0}")]
    Connect(#[from] diesel::ConnectionError),
    /// A new connection of the application login could not open its tenancy session
    /// (`SELECT tenancy.open_session()`): the migrations are missing, or the login lacks the
    /// application role.
    #[error("could not open a tenancy session on a new connection: {0}")]
    OpenSession(#[source] diesel::result::Error),
    /// The blocking task that verifies the logins did not finish.
    #[error("the task verifying the logins did not finish: {0}")]
    Verify(String),
}

impl PoolError {
    pub(crate) fn into_error(self) -> tenancy_schema::Error {
        tenancy_schema::Error::Component(Box::new(self))
    }
}

pub(crate) fn run_error(e: bb8::RunError<PoolError>) -> tenancy_schema::Error {
    match e {
        bb8::RunError::User(e) => e.into_error(),
        bb8::RunError::TimedOut => PoolError::TimedOut.into_error(),
    }
}

/// A bb8 connection manager for one login. For the application login it opens a tenancy
/// session on every new connection (the session number the context MAC is bound to).
#[derive(Debug)]
pub(crate) struct SessionManager {
    pub(crate) url: String,
    pub(crate) open_session: bool,
    /// Connections open with `default_transaction_read_only` on (set at connection start-up,
    /// so that `RESET ALL` comes back to it): anything that runs outside a transaction
    /// tenancy opened cannot write. A pipelining pool needs it. There a statement goes out
    /// behind its transaction's opening, each with its own `Sync`, and a cancel
    /// (`pg_cancel_backend`, open to every session of the login) that lands on the opening
    /// before its `BEGIN` ran leaves no transaction: the statement behind it then runs on its
    /// own and commits, while the transaction is reported as failed.
    pub(crate) read_only_outside_transactions: bool,
}

/// The start-up option that makes a session's transactions read only unless they ask
/// otherwise.
const READ_ONLY_OUTSIDE_TRANSACTIONS: &str = "-c default_transaction_read_only=on";

/// The start-up option that has the server look, every 200 ms while a statement runs, whether
/// the client is still there, and end the statement when it is not. A dropped request's
/// connection is closed ([`cancel_running`] also asks the server to cancel it, but a cancel
/// that arrives while the session still reads the statement's messages is lost), and without
/// it the statement would run to its end, holding its locks, on a session the pool no longer
/// counts. PostgreSQL 14 and later know it; an older server refuses the option, and the
/// connection is opened without it.
const CHECK_CLIENT: &str = "-c client_connection_check_interval=200";

/// A pooled connection, its tenancy session number (0 on the admin login, which has none) and
/// whether a transaction on it may still be open.
pub(crate) struct SessionConn {
    pub(crate) conn: AsyncPgConnection,
    pub(crate) session: i64,
    pub(crate) state: TxState,
}

#[derive(diesel::QueryableByName)]
struct Opened {
    #[diesel(sql_type = BigInt)]
    session: i64,
}

impl SessionConn {
    /// Whether diesel-async's transaction manager says anything but "idle": a transaction it
    /// saw open, or a manager it marked broken (a transaction statement interrupted).
    pub(crate) fn transaction_open(&mut self) -> bool {
        let broken = AnsiTransactionManager::is_broken_transaction_manager(&mut self.conn);
        let status = AnsiTransactionManager::transaction_manager_status_mut(&mut self.conn);
        broken
            || !matches!(status, TransactionManagerStatus::Valid(valid) if valid.transaction_depth().is_none())
    }
}

/// Connects to `url` with [`CHECK_CLIENT`] (without it where the server does not know it)
/// and, when `read_only`, [`READ_ONLY_OUTSIDE_TRANSACTIONS`] added to the start-up options the
/// URL may already carry.
async fn establish(
    url: &str,
    read_only: bool,
) -> Result<AsyncPgConnection, diesel::ConnectionError> {
    let config: tokio_postgres::Config = url.parse().map_err(|e: tokio_postgres::Error| {
        diesel::ConnectionError::InvalidConnectionUrl(e.to_string())
    })?;
    match establish_with(config.clone(), true, read_only).await {
        Err(diesel::ConnectionError::BadConnection(e))
            if e.contains("client_connection_check_interval") =>
        {
            establish_with(config, false, read_only).await
        }
        other => other,
    }
}

async fn establish_with(
    mut config: tokio_postgres::Config,
    check_client: bool,
    read_only: bool,
) -> Result<AsyncPgConnection, diesel::ConnectionError> {
    let added = [
        check_client.then_some(CHECK_CLIENT),
        read_only.then_some(READ_ONLY_OUTSIDE_TRANSACTIONS),
    ];
    let options: Vec<&str> = config
        .get_options()
        .filter(|given| !given.trim().is_empty())
        .into_iter()
        .chain(added.into_iter().flatten())
        .collect();
    if !options.is_empty() {
        config.options(options.join(" "));
    }
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
    AsyncPgConnection::try_from_client_and_connection(client, connection).await
}

/// Opens the connection's tenancy session and returns its number. `open_session()` writes
/// the session's sequences, so on a connection read only outside transactions it runs in one
/// of its own.
async fn open_session(
    conn: &mut AsyncPgConnection,
    read_only_outside_transactions: bool,
) -> diesel::QueryResult<i64> {
    use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
    let open = diesel::sql_query("SELECT tenancy.open_session() AS session");
    if !read_only_outside_transactions {
        return open.get_result::<Opened>(conn).await.map(|o| o.session);
    }
    conn.batch_execute("BEGIN READ WRITE").await?;
    let opened = open.get_result::<Opened>(conn).await;
    // A failed `COMMIT` leaves the session unopened: the connection is not used.
    conn.batch_execute(if opened.is_ok() { "COMMIT" } else { "ROLLBACK" })
        .await?;
    opened.map(|o| o.session)
}

impl bb8::ManageConnection for SessionManager {
    type Connection = SessionConn;
    type Error = PoolError;

    async fn connect(&self) -> Result<SessionConn, PoolError> {
        let mut conn = establish(&self.url, self.read_only_outside_transactions).await?;
        let session = if self.open_session {
            open_session(&mut conn, self.read_only_outside_transactions)
                .await
                .map_err(PoolError::OpenSession)?
        } else {
            0
        };
        Ok(SessionConn {
            conn,
            session,
            state: TxState::default(),
        })
    }

    // Only called with `test_on_check_out`, which the pools leave off: a checkout pays no
    // round trip. A connection the server dropped fails its `BEGIN` instead, and the next is
    // tried.
    async fn is_valid(&self, _conn: &mut SessionConn) -> Result<(), PoolError> {
        Ok(())
    }

    fn has_broken(&self, conn: &mut SessionConn) -> bool {
        conn.state.forget_opening();
        let busy = conn.state.in_flight
            || conn.state.open
            || conn.state.abandoned
            || conn.transaction_open();
        if busy {
            cancel_running(&conn.conn);
        }
        // `is_broken` also sees a connection whose socket is already closed.
        busy || conn.state.statements_lost || PoolableConnection::is_broken(&mut conn.conn)
    }
}

/// Asks the server to cancel what `conn`'s session may still be running, as the connection is
/// closed: PostgreSQL notices a closed socket only when the running statement ends (or, with
/// [`CHECK_CLIENT`], at its next look), so a statement of a dropped request (a `pg_sleep`, a
/// wait on a row lock) would otherwise run on, holding its locks and a server connection
/// outside the pool's count, and a client that drops requests in a loop would fill the
/// server's connection slots for every tenant. The
/// request goes out on a connection of its own, from a task of the current runtime (none
/// without one); cancelling a session that already finished is no error, and nothing else
/// runs on this one any more.
fn cancel_running(conn: &AsyncPgConnection) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let token = conn.cancel_token();
        runtime.spawn(async move {
            // Nothing to do about a failure: the session ends once its statement does.
            let _ = token.cancel_query(tokio_postgres::NoTls).await;
        });
    }
}
