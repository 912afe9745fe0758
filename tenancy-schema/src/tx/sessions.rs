//! What a pooled connection carries between transactions, and how to look at it: the
//! evidence, for health checks and tests, that a finished transaction left nothing behind.

use diesel::RunQueryDsl;
use diesel::connection::{AnsiTransactionManager, TransactionManager};

use super::Tenancy;
use crate::{Error, Result};

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
    /// Session-level advisory locks the connection holds (`pg_advisory_lock`), which outlive
    /// a transaction, committed or not.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub advisory_locks: i64,
    /// Statements prepared with SQL `PREPARE`, cursors `WITH HOLD` and `LISTEN` channels:
    /// what SQL can leave that outlives a transaction and a session reset.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub held_by_sql: i64,
}

/// What [`Tenancy::inspect_sessions`] asks each connection (`in_transaction` is filled in from
/// the connection's transaction manager). Shared with the async executor through
/// `tenancy_schema::__private_v0_1`.
#[doc(hidden)]
pub const INSPECT_SESSION_SQL: &str =
    "SELECT current_user::text AS current_user, session_user::text AS session_user,
        NULLIF(current_setting('tenancy.context', true), '') AS context,
        NULLIF(current_setting('tenancy.tenant_id', true), '') AS tenant_setting,
        NULLIF(current_setting('tenancy.principal_id', true), '') AS principal_setting,
        tenancy.current_tenant() AS tenant,
        false AS in_transaction,
        (SELECT count(*) FROM pg_catalog.pg_locks
         WHERE locktype = 'advisory' AND pid = pg_catalog.pg_backend_pid()) AS advisory_locks,
        (SELECT count(*) FROM pg_catalog.pg_prepared_statements WHERE from_sql)
          + (SELECT count(*) FROM pg_catalog.pg_cursors WHERE is_holdable)
          + (SELECT count(*) FROM pg_catalog.pg_listening_channels()) AS held_by_sql";

impl SessionState {
    /// No role switched, no tenancy setting, no tenant, no open transaction, no advisory lock
    /// and nothing SQL prepared, held or listens to.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.current_user == self.session_user
            && self.context.is_none()
            && self.tenant_setting.is_none()
            && self.principal_setting.is_none()
            && self.tenant.is_none()
            && !self.in_transaction
            && self.advisory_locks == 0
            && self.held_by_sql == 0
    }
}

impl Tenancy {
    /// Checks out every connection of the application pool at once (waiting for busy ones up
    /// to the connection timeout) and reports the session state each carries between
    /// transactions, without changing it: what a health check or a test asserts is clean.
    ///
    /// # Errors
    /// [`Error::Pool`] when not every connection can be checked out; database errors.
    pub fn inspect_sessions(&self) -> Result<Vec<SessionState>, Error> {
        // A connection the server closed while it sat in the pool holds no session to
        // inspect: it goes with this attempt's checkouts (the pool drops a broken connection)
        // and the next attempt opens another in its place.
        let mut stale = 0;
        loop {
            let inspected = self.inspect_each_session();
            if !super::lost_idle_connection(&inspected, &mut stale, self.app.max_size()) {
                return inspected;
            }
        }
    }

    fn inspect_each_session(&self) -> Result<Vec<SessionState>, Error> {
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
                let mut state: SessionState =
                    diesel::sql_query(INSPECT_SESSION_SQL).get_result(&mut conn.conn)?;
                state.in_transaction = in_transaction;
                Ok(state)
            })
            .collect()
    }
}
