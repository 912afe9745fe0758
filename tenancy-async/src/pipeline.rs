//! Pipelining the message that opens a tenant transaction with the transaction's first
//! statement ([`crate::AsyncTenancyBuilder::pipeline`]): both go out in one write and come back
//! in one round trip, so a tenant transaction costs one round trip less than a plain
//! diesel-async transaction, which waits for its `BEGIN`.
//!
//! What keeps it safe:
//! - The opening is queued on the connection before the statement exists: its future is polled
//!   once, which hands the message to tokio-postgres, and only then is the statement's future
//!   built and polled. PostgreSQL runs a connection's messages in the order they arrive, so the
//!   statement runs inside the transaction and the context, or (when the opening failed) in an
//!   aborted transaction that refuses it.
//! - Except when the opening failed before its `BEGIN` ran: a cancel (`pg_cancel_backend`, which
//!   every session of the login may send) that lands as the message starts. Each statement
//!   carries a `Sync` of its own, so the one behind then runs outside any transaction. The
//!   pool's connections are read only outside a transaction (set at connection start-up), and
//!   every transaction tenancy opens on them asks for `READ WRITE`: that statement cannot write,
//!   and its answer is set aside for the opening's error.
//! - An opening that failed is not forgotten: it stays pending, and the next statement sends
//!   it again (with a fresh counter, the old MAC being spent). No statement of a tenant
//!   transaction ever runs without its opening in front of it.
//! - The connection is marked in flight from checkout, as without pipelining. An opening never
//!   sent leaves nothing on the server, so a connection given back with its opening unsent is
//!   clean; any other marked connection is closed.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Poll;

use diesel::QueryResult;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use tenancy_schema::__private_v0_1::executor::{
    Begin, ConnectionState, ContextEntry, EnterBlockStatement, EnterStatement, SessionEnd,
    begin_failure, begin_with, end_sql, setup_sql,
};
use tenancy_schema::{ContextKey, Error, PrincipalId, TenantId};

/// What a pipelined tenant transaction needs to build its opening message when its first
/// statement is sent (or again, when that opening failed).
pub(crate) struct Opening {
    pub(crate) begin: String,
    pub(crate) read_only: bool,
    pub(crate) tenant: TenantId,
    pub(crate) principal: Option<PrincipalId>,
    pub(crate) entry: ContextEntry,
    pub(crate) key: Arc<ContextKey>,
    pub(crate) check_status: bool,
    pub(crate) role: String,
    pub(crate) session: i64,
    /// Whether an opening was sent and refused. Until then nothing of the transaction has
    /// reached the server.
    pub(crate) sent: bool,
}

impl Opening {
    /// The opening message, the same the transaction would send on its own; each call takes a
    /// new counter.
    pub(crate) fn sql(&self) -> String {
        setup_sql(
            (&self.begin, self.read_only),
            self.entry,
            &self.key,
            self.session,
            Some(self.tenant),
            self.principal,
            self.check_status,
        )
    }

    /// What goes out in front of the first statement; each call takes a new counter.
    /// `opened_before`: whether a transaction opened on the connection before, so that its
    /// backend has loaded the extension's library (`ConnectionState::opened_before`).
    ///
    /// With extension 1.7, on such a connection, the `BEGIN` that carries the entry in its
    /// comment: one text statement, and a refused entry, which leaves no transaction open,
    /// also fails the statement behind it. With the native context's one-argument entry
    /// otherwise, `BEGIN` as text and the entry as a prepared statement, which the server only
    /// binds and runs where the text form is parsed and analysed in every transaction; a
    /// read-only transaction keeps the text form, whose `SET TRANSACTION READ ONLY` follows
    /// the entry.
    pub(crate) fn pipelined(&self, opened_before: bool) -> Sent {
        if self.entry.pipelines_comment() && opened_before {
            let connection = ConnectionState {
                session: self.session,
                opened_before,
            };
            let begin = begin_with(
                (&self.begin, self.read_only),
                self.entry,
                &self.key,
                connection,
                Some(self.tenant),
                self.principal,
                self.check_status,
            );
            if let Begin::Message(sql) = begin {
                return Sent::Message(sql);
            }
        }
        if self.entry.is_packed() && !self.read_only {
            let enter = EnterStatement::new(
                &self.key,
                self.session,
                Some(self.tenant),
                self.principal,
                self.check_status,
            );
            let begin = self.begin.clone();
            // Not the comment of extension 1.6: a refused entry there fails the `BEGIN`
            // itself, and the statement behind it would run outside any transaction.
            if self.entry.blocks() {
                Sent::Block {
                    begin,
                    enter: enter.in_block(),
                }
            } else {
                Sent::Prepared { begin, enter }
            }
        } else {
            Sent::Message(self.sql())
        }
    }
}

/// A pipelined opening, as sent.
pub(crate) enum Sent {
    /// One message of text.
    Message(String),
    /// `BEGIN` (with its options) as text, then the prepared entry.
    Prepared {
        begin: String,
        enter: EnterStatement,
    },
    /// The same with the entry's function (extension 1.5), which the server runs for less.
    Block {
        begin: String,
        enter: EnterBlockStatement,
    },
}

/// Sends `sent` on `conn` and waits for it. Its first poll queues every part of it, in order,
/// before it returns: for the prepared entry, diesel-async holds the connection's statement
/// cache from the lookup (and, on the connection's first use, the `Parse`) until the
/// statement's `Bind` is queued, so a statement polled after this first poll waits for that
/// lock and goes out behind the entry.
async fn send_opening(conn: &AsyncPgConnection, sent: Sent) -> QueryResult<()> {
    let mut handle = conn;
    match sent {
        Sent::Message(sql) => handle.batch_execute(&sql).await,
        Sent::Prepared { begin, enter } => begin_then(conn, &begin, enter).await,
        Sent::Block { begin, enter } => begin_then(conn, &begin, enter).await,
    }
}

/// `sql` (`BEGIN` with its options) as text and the prepared `entry` behind it, queued in that
/// order by the first poll.
async fn begin_then<'c, S>(conn: &'c AsyncPgConnection, sql: &str, entry: S) -> QueryResult<()>
where
    S: diesel_async::methods::ExecuteDsl<&'c AsyncPgConnection> + 'c,
{
    let (mut handle, mut enter_handle) = (conn, conn);
    let (begun, entered) = both(
        pin!(handle.batch_execute(sql)),
        pin!(entry.execute(&mut enter_handle)),
    )
    .await;
    // A failed BEGIN makes the entry fail too (outside a transaction, or in an aborted one);
    // its error is the one to report.
    begun?;
    entered.map(drop)
}

/// Runs a statement of a tenant transaction on the shared connection handle, behind its
/// opening message when that is still pending. `$session` is a `&mut SessionConn` borrowed for
/// as long as the statement's connection type names (`&'s AsyncPgConnection`); `$statement` is
/// built with `$conn`, a `&mut &'s AsyncPgConnection`. The value is a `tenancy_schema::Result`.
///
/// The fields are borrowed apart so that the connection can be lent for `'s` while the marks
/// are still updated; the statement's future is boxed by `sendable`.
macro_rules! run_statement {
    ($session:expr, |$conn:ident| $statement:expr) => {{
        let $crate::pool::SessionConn {
            conn: __tenancy_conn,
            state: __tenancy_state,
            ..
        } = $session;
        let __tenancy_shared: &::diesel_async::AsyncPgConnection = __tenancy_conn;
        if __tenancy_state.in_doubt {
            // An earlier statement was dropped before its opening was answered: whether a
            // transaction is open, and with which outcome, is unknown.
            return Err(::tenancy_schema::Error::AbortedTransaction);
        }
        match __tenancy_state.opening.take() {
            None => {
                let mut __tenancy_handle = __tenancy_shared;
                let $conn = &mut __tenancy_handle;
                $crate::pipeline::watched(
                    &mut *__tenancy_state,
                    $crate::pipeline::sendable($statement),
                )
                .await
            }
            Some(__tenancy_opening) => {
                // Failed until answered, as in `watched`; `settle` notes the answer.
                __tenancy_state.failed = true;
                // Sent again after a refusal (which may have cleared the mark): from here a
                // transaction may be open on the server until the answer is read.
                __tenancy_state.in_flight = true;
                __tenancy_state.in_doubt = true;
                let __tenancy_sent = __tenancy_opening.pipelined(__tenancy_state.opened_before);
                let mut __tenancy_handle = __tenancy_shared;
                let __tenancy_handle = &mut __tenancy_handle;
                let __tenancy_outcome =
                    $crate::pipeline::behind_opening(__tenancy_shared, __tenancy_sent, move || {
                        let $conn = __tenancy_handle;
                        $crate::pipeline::sendable($statement)
                    })
                    .await;
                __tenancy_state.in_doubt = false;
                __tenancy_state
                    .settle(__tenancy_shared, __tenancy_opening, __tenancy_outcome)
                    .await
            }
        }
    }};
}

pub(crate) use run_statement;

/// Runs a statement of an open transaction. Until its answer is read the statement counts as
/// failed ([`TxState::failed`]): one dropped on the way, by a timeout of the caller's around
/// it, may have aborted the transaction, whose `COMMIT` would then end in a rollback reported
/// as no error.
pub(crate) async fn watched<T>(
    state: &mut TxState,
    statement: impl Future<Output = QueryResult<T>>,
) -> Result<T, Error> {
    let before = std::mem::replace(&mut state.failed, true);
    // Stays set if the future is dropped at the await; an earlier abandoned statement keeps it.
    let abandoned = std::mem::replace(&mut state.abandoned, true);
    let result = statement.await;
    state.abandoned = abandoned;
    state.answered(before, &result);
    result.map_err(Error::from)
}

/// A statement's future behind a `Send` trait object. The future names the connection type
/// `&'s AsyncPgConnection`; left as it is, a caller's future that holds it (an axum handler)
/// fails to prove itself `Send` ("implementation of `AsyncConnectionCore` is not general
/// enough": rustc checks the held types with their lifetimes erased). Here the future is
/// checked once, with its lifetimes known. diesel-async boxes every statement's future
/// already; this is one more small allocation per statement.
pub(crate) fn sendable<'a, T>(
    statement: impl Future<Output = QueryResult<T>> + Send + 'a,
) -> Pin<Box<dyn Future<Output = QueryResult<T>> + Send + 'a>> {
    Box::pin(statement)
}

/// Sends `sent` (the opening) and then the statement `statement` builds, in that order on the
/// wire, and waits for both.
pub(crate) async fn behind_opening<S, F>(
    conn: &AsyncPgConnection,
    sent: Sent,
    statement: F,
) -> (QueryResult<()>, S::Output)
where
    F: FnOnce() -> S,
    S: Future,
{
    let mut opening = pin!(send_opening(conn, sent));
    // The first poll writes the opening into the connection's queue; the statement's future
    // does not exist before it returns, so it cannot be queued first.
    let mut opened = None;
    poll_fn(|cx| {
        if let Poll::Ready(done) = opening.as_mut().poll(cx) {
            opened = Some(done);
        }
        Poll::Ready(())
    })
    .await;
    let statement = pin!(statement());
    match opened {
        Some(opened) => (opened, statement.await),
        None => both(opening, statement).await,
    }
}

/// Waits for `first` and `second`, polling `first` before `second` each time, so that what
/// each writes on the connection goes out in that order.
async fn both<A: Future, B: Future>(
    mut first: Pin<&mut A>,
    mut second: Pin<&mut B>,
) -> (A::Output, B::Output) {
    let (mut a, mut b) = (None, None);
    poll_fn(|cx| {
        if a.is_none()
            && let Poll::Ready(done) = first.as_mut().poll(cx)
        {
            a = Some(done);
        }
        if b.is_none()
            && let Poll::Ready(done) = second.as_mut().poll(cx)
        {
            b = Some(done);
        }
        match (a.take(), b.take()) {
            (Some(a), Some(b)) => Poll::Ready((a, b)),
            (first_done, second_done) => {
                a = first_done;
                b = second_done;
                Poll::Pending
            }
        }
    })
    .await
}

/// Where a pooled connection stands with its transaction, apart from the connection itself so
/// that the two can be borrowed at once.
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent marks of one connection, each set and read on its own path"
)]
pub(crate) struct TxState {
    /// The opening of a pipelined tenant transaction, until it goes out with the first
    /// statement.
    pub(crate) opening: Option<Box<Opening>>,
    /// A pipelined opening succeeded: a transaction is open that diesel-async's transaction
    /// manager does not know of (telling it takes the connection mutably, which the statement
    /// borrows).
    pub(crate) open: bool,
    /// Whether the connection may still carry a transaction or a context; see
    /// [`crate::pool::SessionConn`].
    pub(crate) in_flight: bool,
    /// How the open transaction ends.
    pub(crate) session_end: SessionEnd,
    /// Whether a transaction opened on the connection before
    /// (`tenancy_schema`'s `ConnectionState`).
    pub(crate) opened_before: bool,
    /// The last statement of the open transaction failed on the server, which aborted the
    /// transaction, or was dropped before its answer, which may have (a later statement that
    /// succeeds, such as `ROLLBACK TO SAVEPOINT`, clears it): its `COMMIT` would end in a
    /// rollback that PostgreSQL reports as no error.
    pub(crate) failed: bool,
    /// A statement sent behind the opening was dropped before both were answered: whether a
    /// transaction is open is unknown, so the transaction runs nothing more, cannot commit,
    /// and its connection is closed.
    pub(crate) in_doubt: bool,
    /// The open transaction's statements are not watched: the admin path hands out the
    /// connection itself, so [`TxState::failed`] knows nothing of them.
    pub(crate) unwatched: bool,
    /// Raw SQL ran in the open transaction; see [`crate::statements`].
    pub(crate) raw_sql: bool,
    /// A statement the driver prepared and cached is gone from the server; see
    /// [`crate::statements`]. The connection is closed instead of pooled.
    pub(crate) statements_lost: bool,
    /// A statement's future was dropped before its answer was read (a timeout of the
    /// caller's around it): the server may have prepared it under a name the driver never
    /// learned, which no end of the transaction closes and the next tenant's raw SQL would
    /// read in `pg_prepared_statements`, or may still be running it. The transaction goes on
    /// as [`TxState::failed`] says; its connection is then closed instead of pooled.
    pub(crate) abandoned: bool,
}

impl Default for TxState {
    fn default() -> Self {
        Self {
            opening: None,
            open: false,
            in_flight: false,
            session_end: SessionEnd::Reset,
            opened_before: false,
            failed: false,
            in_doubt: false,
            unwatched: false,
            raw_sql: false,
            statements_lost: false,
            abandoned: false,
        }
    }
}

impl TxState {
    /// Notes a statement's answer: whether it failed on the server (which aborts the
    /// transaction), and whether it shows a prepared statement of the driver's gone. `before`
    /// is whether the transaction had failed before the statement: one refused before it was
    /// sent changes nothing.
    fn answered<T>(&mut self, before: bool, result: &QueryResult<T>) {
        self.failed = match answer(result) {
            Answer::Succeeded => false,
            Answer::Failed => true,
            Answer::NotSent => before,
        };
        if crate::statements::lost(result) {
            self.statements_lost = true;
        }
    }

    /// Drops a pending opening. One that was never sent left nothing on the server, so the
    /// connection is clean again.
    pub(crate) fn forget_opening(&mut self) {
        if self.opening.take().is_some_and(|opening| !opening.sent) {
            self.in_flight = false;
        }
    }

    /// After an opening was refused (`source`): rolls back on `conn`, and keeps the in-flight
    /// mark unless the refusal allows the connection to be pooled again.
    pub(crate) async fn refused(
        &mut self,
        conn: &AsyncPgConnection,
        source: diesel::result::Error,
        role: &str,
        tenant: Option<TenantId>,
    ) -> Error {
        let mut handle = conn;
        let rolled_back = handle
            .batch_execute(&end_sql("ROLLBACK", self.session_end))
            .await
            .is_ok();
        let (error, discard) = begin_failure(source, role, tenant, rolled_back);
        self.in_flight = discard;
        // Rolled back: no transaction is left for a commit to end silently.
        self.failed = false;
        error
    }

    /// What a statement sent behind its opening returns: the statement's result once the
    /// opening succeeded, otherwise the opening's error, after a rollback. The statement's own
    /// error then only says that the transaction was aborted.
    pub(crate) async fn settle<T>(
        &mut self,
        conn: &AsyncPgConnection,
        mut opening: Box<Opening>,
        (opened, result): (QueryResult<()>, QueryResult<T>),
    ) -> Result<T, Error> {
        match opened {
            Ok(()) => {
                self.open = true;
                self.opened_before = true;
                // The transaction's first statement: nothing failed before it.
                self.answered(false, &result);
                result.map_err(Error::from)
            }
            Err(source) => {
                let error = self
                    .refused(conn, source, &opening.role, Some(opening.tenant))
                    .await;
                opening.sent = true;
                self.opening = Some(opening);
                Err(error)
            }
        }
    }
}

/// What a statement's result says of the transaction it ran in.
enum Answer {
    /// The server ran it: the transaction was not aborted before it, nor by it. That includes
    /// an error in reading the rows the server sent, and no row for `first`.
    Succeeded,
    /// The server refused it, which aborts the transaction.
    Failed,
    /// Refused before it was sent (a value that could not be serialized, a query that could
    /// not be built), or an error that does not say: the transaction is taken to be as it was.
    NotSent,
}

fn answer<T>(result: &diesel::QueryResult<T>) -> Answer {
    use diesel::result::Error as E;
    match result {
        Ok(_) | Err(E::NotFound | E::DeserializationError(_)) => Answer::Succeeded,
        Err(E::DatabaseError(..)) => Answer::Failed,
        Err(_) => Answer::NotSent,
    }
}
