//! Typed errors.

/// Everything that can go wrong in a tenant, system or admin transaction.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A query failed in PostgreSQL or in Diesel.
    #[error(transparent)]
    Query(diesel::result::Error),
    /// No connection could be taken from the pool.
    #[error("could not get a database connection from the pool: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    /// Opening the transaction (`BEGIN` and the tenant context, or `SET LOCAL ROLE` on the
    /// admin path) failed; the connection was discarded.
    #[error(
        "could not open a transaction (role {role:?}): {source}; run the tenancy migrations, and check that the login is a member of the role"
    )]
    Setup {
        /// The role the transaction runs as.
        role: String,
        /// The database error.
        #[source]
        source: diesel::result::Error,
    },
    /// A login cannot be used safely, found when the [`crate::Tenancy`] was built: the
    /// application login could become a role that skips row level security, does not have the
    /// application role, or the admin login is missing its role or is the application's.
    #[error(
        "login `{login}` cannot be used: role `{role}` (reached as {path}) is {problem}; fix: {fix}"
    )]
    UnsafeRole {
        /// The login (`session_user`) that was checked.
        login: String,
        /// The role with the problem.
        role: String,
        /// How the login reaches it (`login -> group -> role`).
        path: String,
        /// What is wrong with it.
        problem: &'static str,
        /// What to run or change.
        fix: String,
    },
    /// [`crate::Tenancy::admin`] was called on a `Tenancy` built without an admin login.
    #[error(
        "no admin login is configured: build the Tenancy with `.admin_url(..)` (a login of its own that is a member of the admin role); the application's pool is never used for admin work"
    )]
    AdminNotConfigured,
    /// One SQL table is classified twice in conflicting ways in this binary (found when the
    /// [`crate::Tenancy`] is built).
    #[error(transparent)]
    ClassificationConflict(#[from] crate::ClassificationConflict),
    /// Tenancy refused a statement before sending it: a raw fragment reaching outside its
    /// parentheses, a schema-qualified tenant table, a view, partition or function reaching a
    /// tenant table's rows, a tenant table on the system connection, a malformed changeset.
    #[error(transparent)]
    UnsafeSql(#[from] crate::SqlTextError),
    /// The database's tenancy migrations are older than this library: a function it calls in
    /// every transaction is missing.
    #[error(
        "the database's tenancy migrations are older than this library: {missing} is missing; apply the migrations this version ships (`tenancy init` then `diesel migration run`, or `tenancy migrate`)"
    )]
    MigrationsBehind {
        /// The missing function.
        missing: String,
    },
    /// No context key was given, and none could be read.
    #[error(
        "no tenant context key: configure `.admin_url(..)` (the key is read through it), `.context_key(..)`, or set TENANCY_CONTEXT_KEY to `SELECT encode(key, 'hex') FROM tenancy.context_key` (run as the tables' owner)"
    )]
    ContextKeyMissing,
    /// A role name given to [`crate::TenancyConfig`] is not a plain SQL identifier.
    #[error(
        "invalid role name {0:?}: use lowercase letters, digits and `_`, starting with a letter or `_` (at most 63 bytes)"
    )]
    InvalidRoleName(String),
    /// A statement of the transaction failed and the closure still returned `Ok` (having set
    /// the error aside), or (async) a statement was dropped before its answer and none ran
    /// after it, or one dropped before the answer to its transaction's pipelined opening left
    /// the transaction in doubt: PostgreSQL had aborted the transaction, or may have, so it was
    /// rolled back and nothing it wrote was kept. Return the statement's error instead, or run
    /// the statement that may fail inside a savepoint of your own.
    #[error(
        "a statement of the transaction failed and the transaction was rolled back, though the closure returned Ok: nothing it wrote was kept"
    )]
    AbortedTransaction,
    /// The admin escape hatch was called without a reason.
    #[error("`Tenancy::admin` needs a non-empty reason: it is written to the audit trail")]
    MissingAdminReason,
    /// An update's changeset assigns the tenant column.
    #[error(
        "an update may not assign the tenant column `{column}` of `{table}`: rows never move between tenants; remove it from the changeset"
    )]
    TenantColumnInChangeset {
        /// Table being updated.
        table: &'static str,
        /// Its tenant column.
        column: &'static str,
    },
    /// The tenant of a tenant transaction does not exist or was deleted.
    #[error("tenant {0} does not exist or was deleted")]
    TenantNotFound(crate::TenantId),
    /// The tenant of a tenant transaction is suspended: it keeps its data but is not served.
    #[error("tenant {0} is suspended; the control plane must resume it first")]
    TenantSuspended(crate::TenantId),
    /// The row does not exist, or is not visible to the caller: an id of another tenant is
    /// reported exactly like an unknown id.
    #[error("{entity} not found")]
    NotFound {
        /// What was looked up (`tenant`, `user`, `resource`, ...).
        entity: &'static str,
    },
    /// The acting principal lacks a permission (it can see the row, or the action needs no
    /// row). Missing rows are [`Error::NotFound`], never this.
    #[error("forbidden: the acting principal needs the `{permission}` permission")]
    Forbidden {
        /// The permission that was missing, such as `members.manage`.
        permission: &'static str,
    },
    /// The write would duplicate something that must be unique.
    #[error("conflict: {what}")]
    Conflict {
        /// What already exists.
        what: String,
    },
    /// An error of a component built on tenancy (for example the foundation's API keys),
    /// passed through unchanged; `downcast_ref` on it gives the component's own error type.
    #[error(transparent)]
    Component(Box<dyn std::error::Error + Send + Sync + 'static>),
    /// The embedded migrations could not be applied; nothing of the failing migration was
    /// kept (each runs in its own transaction).
    #[error("running the tenancy migrations failed: {source}")]
    Migration {
        /// What diesel_migrations reported.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An argument was rejected before anything was written.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Which argument.
        field: &'static str,
        /// What is wrong with it and what is expected.
        reason: String,
    },
}

impl From<diesel::result::Error> for Error {
    /// Statements tenancy refused while Diesel rendered them come back as Diesel
    /// query-builder errors; they are [`Error::UnsafeSql`] again here.
    fn from(e: diesel::result::Error) -> Self {
        match e {
            diesel::result::Error::QueryBuilderError(inner)
                if inner.is::<crate::SqlTextError>() =>
            {
                match inner.downcast::<crate::SqlTextError>() {
                    Ok(text) => Self::UnsafeSql(*text),
                    Err(inner) => Self::Query(diesel::result::Error::QueryBuilderError(inner)),
                }
            }
            other => Self::Query(other),
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
