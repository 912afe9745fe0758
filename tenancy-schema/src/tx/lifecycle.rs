//! How every transaction (tenant, system or admin) starts and ends, in one place: the
//! guarantee that no session state outlives a checkout and that a connection in doubt is
//! discarded rests on these few functions alone.

use std::cell::Cell;

use diesel::PgConnection;
use diesel::RunQueryDsl;
use diesel::connection::{
    AnsiTransactionManager, CacheSize, Connection, SimpleConnection, TransactionDepthChange,
    TransactionManager, TransactionManagerStatus,
};

use crate::context::{ContextEntry, ContextKey, OpenStatement, push_comment_begin, push_enter};
use crate::{Error, PrincipalId, TenantId};

/// What a finished transaction sends: the end of the transaction, then the session back to
/// its defaults, in the same message. SQL inside the transaction may have changed session
/// state (`set_config(.., false)`, `SET SESSION ..`, `SET ROLE`) or taken a session-level
/// advisory lock, which outlives a rollback too; none of it reaches the next checkout.
/// `RESET ALL` also undoes the two settings Diesel makes when it connects, so they are made
/// again.
const SESSION_RESET: &str = "RESET ALL; RESET ROLE; DISCARD TEMP; SELECT pg_advisory_unlock_all(); \
     SET TIME ZONE 'UTC'; SET CLIENT_ENCODING TO 'UTF8'";

/// Fails when SQL left session state that outlives the transaction and the reset.
const SESSION_CHECK: &str = "SELECT tenancy.check_session()";

/// What the message that ends a transaction carries besides `COMMIT` or `ROLLBACK`.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// The session reset ([`SESSION_RESET`]): the admin path.
    Reset,
    /// The session reset, after `tenancy.check_session()`, which fails the message when SQL
    /// left a prepared statement, a cursor `WITH HOLD` or a `LISTEN` behind (neither a rollback
    /// nor the reset undoes them), so that the connection is closed: the SQL context. The
    /// check runs once the transaction ended, because an aborted transaction accepts nothing
    /// but its end.
    Checked,
    /// Nothing else: on a connection that entered the native context, the extension refuses
    /// to commit any session-level change, so there is nothing to reset
    /// (`docs/adr/0004-native-tenant-context.md`).
    Guarded,
}

impl SessionEnd {
    /// Whether raw SQL in a transaction ending this way leaves the driver's prepared statements
    /// in doubt, so that the end drops them (on the server and in the driver's cache) for every
    /// executor: on the SQL context (`Checked`), nothing refuses `DEALLOCATE`, also run from
    /// PL/pgSQL's `EXECUTE` where no text shows it, which drops them on the server while the
    /// cache still names them, and every later transaction on the connection, whichever
    /// tenant's, would fail its typed statements. The native context's guard refuses it.
    #[doc(hidden)]
    #[must_use]
    pub fn drops_statements_after_raw_sql(self) -> bool {
        self == SessionEnd::Checked
    }
}

impl ContextEntry {
    /// How the transactions this entry opens end.
    #[doc(hidden)]
    #[must_use]
    pub fn session_end(self) -> SessionEnd {
        match self {
            ContextEntry::Native
            | ContextEntry::NativeBegin
            | ContextEntry::NativeBlock
            | ContextEntry::NativeComment
            | ContextEntry::NativePipelined
            | ContextEntry::NativeArgs => SessionEnd::Guarded,
            ContextEntry::Single | ContextEntry::Distributed => SessionEnd::Checked,
        }
    }
}

/// Whether the server connection itself is gone (as opposed to a statement failing on it).
#[doc(hidden)]
#[must_use]
pub fn is_connection_loss(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error as DieselError};
    matches!(
        e,
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _
        )
    )
}

/// Whether an attempt that ended in `result` is made again on another pooled connection: it
/// failed because its connection was gone (the server closed it while it sat idle in the
/// pool, which then discards it), and fewer than `pool_size` attempts (`stale`, counted here)
/// did. A restart of the server then costs no failed call once it is back, and no checkout
/// pays a ping.
#[doc(hidden)]
pub fn lost_idle_connection<T>(result: &Result<T, Error>, stale: &mut u32, pool_size: u32) -> bool {
    let lost =
        matches!(result, Err(Error::Query(e)) if is_connection_loss(e)) && *stale < pool_size;
    if lost {
        *stale += 1;
    }
    lost
}

/// Opens a transaction with `begin` (see [`finish_transaction`] for the rest); the message
/// that ends the transaction later puts the session back to its defaults.
///
/// A connection whose set-up failed, or whose end failed, is marked broken so that r2d2
/// discards it instead of handing out a connection stuck in a transaction or carrying
/// session state.
pub(super) fn begin_transaction(
    conn: &mut PgConnection,
    begin: Begin,
    role: &str,
    tenant: Option<TenantId>,
    session_end: SessionEnd,
) -> Result<(), Error> {
    let opened = match begin {
        Begin::Message(sql) => AnsiTransactionManager::begin_transaction_sql(conn, &sql),
        Begin::Prepared(statement) => begin_prepared(conn, statement),
    };
    if let Err(source) = opened {
        let rolled_back = conn
            .batch_execute(&end_sql("ROLLBACK", session_end))
            .is_ok();
        let (error, discard) = begin_failure(source, role, tenant, rolled_back);
        if discard {
            AnsiTransactionManager::transaction_manager_status_mut(conn).set_in_error();
        }
        return Err(error);
    }
    Ok(())
}

/// Runs `tenancy_context.begin(..)` and tells Diesel's transaction manager what `BEGIN` would
/// have told it: that a transaction is open. Diesel's connection follows the server's status
/// only to notice that a transaction ended or failed, never that one began.
fn begin_prepared(conn: &mut PgConnection, statement: OpenStatement) -> diesel::QueryResult<()> {
    if AnsiTransactionManager::transaction_manager_status_mut(conn)
        .transaction_depth()?
        .is_some()
    {
        return Err(diesel::result::Error::AlreadyInTransaction);
    }
    statement.execute(conn)?;
    AnsiTransactionManager::transaction_manager_status_mut(conn)
        .transaction_state()?
        .change_transaction_depth(TransactionDepthChange::IncreaseDepth)
}

/// What a failed transaction set-up means, for every executor: the error to report, and
/// whether the connection must be discarded. `rolled_back` says whether the `ROLLBACK` (with
/// the session reset) sent after the failure went through.
///
/// A refused tenant is an answer, not a fault: a connection that rolled back cleanly goes
/// back to the pool. Anything else (a refused context above all) is discarded. A connection
/// lost before or during `BEGIN` (server restarted, backend killed) is not a role problem: it
/// is reported as the database error it is, without [`Error::Setup`]'s hint, so that the
/// caller can retry on another connection.
#[doc(hidden)]
#[must_use]
pub fn begin_failure(
    source: diesel::result::Error,
    role: &str,
    tenant: Option<TenantId>,
    rolled_back: bool,
) -> (Error, bool) {
    let status_error = tenant.and_then(|t| tenant_status_error(t, &source));
    let discard = status_error.is_none() || !rolled_back;
    if status_error.is_none() && is_connection_loss(&source) {
        return (Error::Query(source), discard);
    }
    let error = status_error.unwrap_or_else(|| Error::Setup {
        role: role.to_owned(),
        source,
    });
    (error, discard)
}

/// The message that ends a transaction: `end` (`COMMIT` or `ROLLBACK`) and, unless the
/// session is guarded, the session reset, so that one round trip does both.
///
/// A checked session's `COMMIT` is the exception: the check runs before it, in the
/// transaction, with `UNLISTEN *` (a `LISTEN` only shows once committed, so it is undone
/// rather than found), and `COMMIT` is the message's last statement. Whatever fails in that
/// message fails before anything is committed, so an error always means nothing was kept;
/// a statement after the `COMMIT` could fail (cancelled by `pg_cancel_backend` from another
/// session of the same login, which every tenant's transactions share) after the commit,
/// and the caller would be told of an error for a transaction that was kept. The reset goes
/// in a message of its own once the `COMMIT` was answered ([`reset_after_commit`]).
#[doc(hidden)]
#[must_use]
pub fn end_sql(end: &str, session_end: SessionEnd) -> String {
    match session_end {
        SessionEnd::Reset => format!("{end}; {SESSION_RESET}"),
        SessionEnd::Checked if end == "COMMIT" => format!("{SESSION_CHECK}; UNLISTEN *; COMMIT"),
        SessionEnd::Checked => format!("{end}; {SESSION_CHECK}; {SESSION_RESET}"),
        SessionEnd::Guarded => end.to_owned(),
    }
}

/// The message a transaction's end sends after [`end_sql`]'s was answered: the session reset
/// after a checked session's `COMMIT`, none otherwise. The transaction is committed by then:
/// when this message fails, the commit stands and the connection, its state in doubt, is
/// discarded instead of pooled.
#[doc(hidden)]
#[must_use]
pub fn reset_after_commit(end: &str, session_end: SessionEnd) -> Option<&'static str> {
    (session_end == SessionEnd::Checked && end == "COMMIT").then_some(SESSION_RESET)
}

/// The message that opens the transaction of a tenant (or, with `tenant` `None`, of the
/// system connection) on the connection with session number `session`: `begin` (`BEGIN` with
/// its options), then the sealed context entry (`entry`: one node or Citus), which also makes
/// the transaction read only when `read_only` is set. A read-only transaction becomes read
/// only after the entry, which writes the session's sequences; `PostgreSQL` allows that switch
/// at any point (and refuses the way back once a query ran, so SQL inside cannot undo it).
#[doc(hidden)]
#[must_use]
pub fn setup_sql(
    (begin, read_only): (&str, bool),
    entry: ContextEntry,
    key: &ContextKey,
    session: i64,
    tenant: Option<TenantId>,
    principal: Option<PrincipalId>,
    check_status: bool,
) -> String {
    let mut sql = format!("{begin}; ");
    push_enter(
        &mut sql,
        entry,
        key,
        session,
        tenant,
        principal,
        check_status,
        read_only,
    );
    sql
}

/// The `BEGIN` of a transaction without options, the only one that
/// `tenancy_context.begin(..)` can replace.
pub(crate) const PLAIN_BEGIN: &str = "BEGIN";

/// How a tenant (or system) transaction opens.
#[doc(hidden)]
#[derive(Debug)]
pub enum Begin {
    /// One message of text: `BEGIN` with its options, then the context entry.
    Message(String),
    /// The prepared `tenancy_context.begin($1, $2)` ([`ContextEntry::opens`]).
    Prepared(OpenStatement),
}

/// What a transaction's opening needs to know of its connection.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct ConnectionState {
    /// The tenancy session number its MACs are bound to.
    pub session: i64,
    /// Whether a transaction opened on it before. The pool's entry is the same for all of its
    /// transactions, so with a native entry its backend has then loaded the extension's
    /// library, whose utility hook reads an entry from `BEGIN`'s comment
    /// ([`ContextEntry::comments`]).
    pub opened_before: bool,
}

/// How the transaction [`setup_sql`] describes opens:
/// - with extension 1.6, on a connection that opened a transaction before (and so loaded the
///   library), one text statement:
///   `BEGIN` (with its options) carrying the entry in a comment;
/// - with extension 1.3 and later, without an isolation level, the prepared
///   `tenancy_context.begin(..)`, which also loads the library on a new connection;
/// - else with [`setup_sql`]'s message.
#[doc(hidden)]
#[must_use]
pub fn begin_with(
    (begin, read_only): (&str, bool),
    entry: ContextEntry,
    key: &ContextKey,
    connection: ConnectionState,
    tenant: Option<TenantId>,
    principal: Option<PrincipalId>,
    check_status: bool,
) -> Begin {
    let session = connection.session;
    if entry.comments() && connection.opened_before {
        let mut sql = String::new();
        push_comment_begin(
            &mut sql,
            (begin, read_only),
            key,
            session,
            tenant,
            principal,
            check_status,
        );
        Begin::Message(sql)
    } else if entry.opens() && begin == PLAIN_BEGIN {
        Begin::Prepared(OpenStatement::new(
            key,
            session,
            tenant,
            principal,
            check_status,
            read_only,
        ))
    } else {
        Begin::Message(setup_sql(
            (begin, read_only),
            entry,
            key,
            session,
            tenant,
            principal,
            check_status,
        ))
    }
}

/// The message that opens an admin transaction: `BEGIN` and the switch to the admin role, or
/// `BEGIN` alone for a login that is an admin by itself (`direct`).
#[doc(hidden)]
#[must_use]
pub fn admin_setup_sql(admin_role: &str, direct: bool) -> String {
    if direct {
        "BEGIN".to_owned()
    } else {
        format!("BEGIN; SET LOCAL ROLE \"{admin_role}\"")
    }
}

/// Runs `f` in the transaction `begin_transaction` opened, and commits or rolls back.
/// `raw_sql` is set once raw SQL ran in it ([`forgets_statements`]).
pub(super) fn finish_transaction<T, E, F>(
    conn: &mut PgConnection,
    session_end: SessionEnd,
    raw_sql: &Cell<bool>,
    f: F,
) -> Result<T, E>
where
    F: FnOnce(&mut PgConnection) -> Result<T, E>,
    E: From<Error>,
{
    let mut guard = RollbackOnUnwind {
        conn,
        session_end,
        raw_sql,
        armed: true,
    };
    let result = f(guard.conn);
    guard.armed = false;
    let conn = &mut *guard.conn;
    let session_end = (session_end, forgets_statements(session_end, raw_sql));
    match result {
        // PostgreSQL answers the `COMMIT` of an aborted transaction with a rollback and no
        // error: a failed statement whose error the closure set aside must not end as a
        // success. Diesel's connection follows the server's transaction status after every
        // statement, so its manager knows.
        Ok(_) if aborted(conn) => {
            if end_transaction(conn, "ROLLBACK", session_end).is_err() {
                AnsiTransactionManager::transaction_manager_status_mut(conn).set_in_error();
            }
            Err(Error::AbortedTransaction.into())
        }
        Ok(value) => {
            end_transaction(conn, "COMMIT", session_end).map_err(Error::from)?;
            Ok(value)
        }
        Err(e) => {
            if end_transaction(conn, "ROLLBACK", session_end).is_err() {
                AnsiTransactionManager::transaction_manager_status_mut(conn).set_in_error();
            }
            Err(e)
        }
    }
}

/// Whether the server aborted the open transaction: its last statement failed.
fn aborted(conn: &mut PgConnection) -> bool {
    matches!(
        AnsiTransactionManager::transaction_manager_status_mut(conn),
        TransactionManagerStatus::Valid(valid)
            if valid.in_transaction.as_ref().is_some_and(|t| t.requires_rollback_maybe_up_to_top_level)
    )
}

/// Whether the transaction's end also drops the statements Diesel prepared on the connection
/// ([`SessionEnd::drops_statements_after_raw_sql`]).
fn forgets_statements(session_end: SessionEnd, raw_sql: &Cell<bool>) -> bool {
    raw_sql.get() && session_end.drops_statements_after_raw_sql()
}

/// Sends `COMMIT` or `ROLLBACK` followed by the session reset (and, when `forget` is set,
/// `DEALLOCATE ALL`, then empties Diesel's statement cache to match), and tells Diesel's
/// transaction manager that the transaction is over. On any failure the connection is
/// marked broken: whether the transaction ended or the reset ran is then unknown, except
/// for a reset sent after the `COMMIT` was answered ([`reset_after_commit`]), whose failure
/// leaves the commit standing.
fn end_transaction(
    conn: &mut PgConnection,
    end: &str,
    (session_end, forget): (SessionEnd, bool),
) -> diesel::QueryResult<()> {
    let in_transaction = matches!(
        AnsiTransactionManager::transaction_manager_status_mut(conn).transaction_depth(),
        Ok(Some(_))
    );
    if !in_transaction {
        AnsiTransactionManager::transaction_manager_status_mut(conn).set_in_error();
        return Err(diesel::result::Error::NotInTransaction);
    }
    let mut sql = end_sql(end, session_end);
    let mut after = reset_after_commit(end, session_end).map(str::to_owned);
    if forget {
        // With the reset, wherever it goes.
        after
            .as_mut()
            .unwrap_or(&mut sql)
            .push_str("; DEALLOCATE ALL");
    }
    match conn.batch_execute(&sql) {
        Ok(()) => {
            // Diesel's connection reads the server's transaction status after every message
            // and resets its transaction manager once the server is idle again; anything
            // else means the transaction is still open, and the connection must go.
            let status = AnsiTransactionManager::transaction_manager_status_mut(conn);
            if !matches!(status, TransactionManagerStatus::Valid(valid) if valid.transaction_depth().is_none())
            {
                status.set_in_error();
                return Err(diesel::result::Error::BrokenTransactionManager);
            }
            if let Some(after) = after
                && conn.batch_execute(&after).is_err()
            {
                // Committed: only the session is in doubt, and the connection goes.
                AnsiTransactionManager::transaction_manager_status_mut(conn).set_in_error();
                return Ok(());
            }
            if forget {
                // Diesel names its statements by a counter that never repeats, so those it
                // prepares next cannot meet the old names.
                conn.set_prepared_statement_cache_size(CacheSize::Disabled);
                conn.set_prepared_statement_cache_size(CacheSize::Unbounded);
            }
            Ok(())
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
    session_end: SessionEnd,
    raw_sql: &'c Cell<bool>,
    armed: bool,
}

impl Drop for RollbackOnUnwind<'_> {
    fn drop(&mut self) {
        let end = (
            self.session_end,
            forgets_statements(self.session_end, self.raw_sql),
        );
        if self.armed && end_transaction(self.conn, "ROLLBACK", end).is_err() {
            AnsiTransactionManager::transaction_manager_status_mut(self.conn).set_in_error();
        }
    }
}
