//! The tenant context a transaction opens with, and the key that makes it unforgeable.
//!
//! The database accepts a context only through `tenancy.enter(tenant, principal, counter,
//! mac)`, where `mac` is HMAC-SHA256 under the context key over the connection's session
//! number (from `tenancy.open_session()`), a counter that only grows, the tenant and the
//! principal. The application role cannot read the key, so SQL running inside a transaction
//! (raw statements, an injected fragment) cannot open a context for another tenant, and a
//! value it observes is void in any other session and, once the counter moved on, in this one.
//! `docs/adr/0002-sealed-tenant-context.md` has the design.

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;

use crate::{Error, PrincipalId, TenantId};

/// The 32-byte secret shared by the application and the database (`tenancy.context_key`,
/// readable by the tables' owner and the admin role only).
///
/// [`crate::TenancyBuilder`] reads it through the admin login when one is configured;
/// otherwise give it explicitly, for example from a secret store. It is kept in a
/// [`secrecy::SecretBox`]: its `Debug` output hides it and its memory is zeroed when dropped.
pub struct ContextKey(SecretBox<[u8; 32]>);

impl ContextKey {
    /// A key from its 32 bytes.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(SecretBox::new(Box::new(bytes)))
    }

    /// A key from 64 hexadecimal digits, as `SELECT encode(key, 'hex') FROM
    /// tenancy.context_key` prints it.
    ///
    /// ```
    /// let key = tenancy_schema::ContextKey::from_hex(&"ab".repeat(32)).unwrap();
    /// assert_eq!(format!("{key:?}"), "ContextKey(..)");
    /// assert!(tenancy_schema::ContextKey::from_hex("abc").is_err());
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] unless `hex` is exactly 64 hexadecimal digits.
    pub fn from_hex(hex: &str) -> Result<Self, Error> {
        let mut key = SecretBox::new(Box::new([0u8; 32]));
        hex::decode_to_slice(
            hex.trim(),
            secrecy::ExposeSecretMut::expose_secret_mut(&mut key),
        )
        .map_err(|e| Error::InvalidInput {
            field: "context key",
            reason: format!("expected 64 hexadecimal digits ({e})"),
        })?;
        Ok(Self(key))
    }

    #[cfg(test)]
    fn mac(&self, message: &str) -> String {
        let mut buf = [0u8; 64];
        self.mac_into(&[message.as_bytes()], &mut buf).to_owned()
    }

    /// The lowercase hex HMAC-SHA256 of the concatenated `parts`, written into `out`.
    fn mac_into<'o>(&self, parts: &[&[u8]], out: &'o mut [u8; 64]) -> &'o str {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.expose_secret())
            .expect("HMAC takes any key length");
        for part in parts {
            mac.update(part);
        }
        hex::encode_to_slice(mac.finalize().into_bytes(), out).expect("32 bytes are 64 hex digits");
        std::str::from_utf8(out).expect("hex digits are ASCII")
    }
}

impl Clone for ContextKey {
    fn clone(&self) -> Self {
        Self::from_bytes(*self.0.expose_secret())
    }
}

impl std::fmt::Debug for ContextKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContextKey(..)")
    }
}

/// The next counter value: strictly increasing across the whole process, so also within each
/// connection. It starts from the wall clock in microseconds so that a restarted process
/// continues above the values its predecessor used on connections that may outlive it.
fn next_counter() -> u64 {
    static COUNTER: OnceLock<AtomicU64> = OnceLock::new();
    let counter = COUNTER.get_or_init(|| {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| u64::try_from(d.as_micros()).unwrap_or(1));
        AtomicU64::new(micros)
    });
    counter.fetch_add(1, Ordering::Relaxed) + 1
}

/// How a transaction enters its tenant context: `tenancy.enter` on a single `PostgreSQL`
/// node; `tenancy_context.enter` where the native context is switched on
/// (`docs/adr/0004-native-tenant-context.md`); on a Citus coordinator
/// `tenancy.enter_distributed`, which also binds the context to the distributed transaction so
/// that the worker nodes can verify it (`docs/adr/0003-citus.md`). Chosen once, when the pool
/// is built.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContextEntry {
    /// One `PostgreSQL` server.
    #[default]
    Single,
    /// One `PostgreSQL` server whose policies read the `tenancy_context` extension: the
    /// entry as one text argument (extension 1.2 and later).
    Native,
    /// The same with extension 1.3 and later: a transaction at the server's default isolation
    /// level opens with `SELECT WHERE tenancy_context.begin($1, $2) IS NULL`, one statement that Diesel
    /// prepares once per connection ([`OpenStatement`]); one with an isolation level opens as
    /// under [`ContextEntry::Native`].
    NativeBegin,
    /// The same with extension 1.5 and later, whose `tenancy_context.enter_block(..)` lets a
    /// pipelined opening (tenancy-async) enter with a prepared `SELECT` behind `BEGIN`
    /// ([`EnterBlockStatement`]) where older versions take a `CALL` ([`EnterStatement`]).
    NativeBlock,
    /// The same with an extension older than 1.2, whose entry takes five typed arguments.
    NativeArgs,
    /// A Citus coordinator.
    Distributed,
}

impl ContextEntry {
    /// The query that tells them apart: whether the `citus` extension is installed, and
    /// whether `tenancy.enable_native_context()` made the policies read the native context;
    /// also whether `tenancy.check_session()`, which the SQL context's transactions end with,
    /// exists.
    pub const DETECT_SQL: &'static str = "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') AS citus, \
         EXISTS (SELECT FROM pg_extension WHERE extname = 'tenancy_context') \
         AND EXISTS (SELECT FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
           WHERE n.nspname = 'tenancy' AND p.proname = 'current_tenant' \
             AND p.prosrc LIKE '%tenancy_context.%') AS native, \
         to_regprocedure('tenancy_context.enter(text)') IS NOT NULL AS packed, \
         to_regprocedure('tenancy_context.begin(text, boolean)') IS NOT NULL AS opens, \
         to_regprocedure('tenancy_context.enter_block(text)') IS NOT NULL AS blocks, \
         EXISTS (SELECT FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
           WHERE n.nspname = 'tenancy' AND p.proname = 'check_session') AS session_check";

    /// The entry for a database, from [`ContextEntry::DETECT_SQL`]'s answer. Citus wins: the
    /// native context does not reach the workers.
    #[must_use]
    #[allow(
        clippy::fn_params_excessive_bools,
        reason = "the five columns of DETECT_SQL's one row, matched together right here"
    )]
    pub fn detect(citus: bool, native: bool, packed: bool, opens: bool, blocks: bool) -> Self {
        match (citus, native, packed, opens, blocks) {
            (true, ..) => Self::Distributed,
            (false, true, true, true, true) => Self::NativeBlock,
            (false, true, true, true, false) => Self::NativeBegin,
            (false, true, true, false, _) => Self::Native,
            (false, true, false, ..) => Self::NativeArgs,
            (false, false, ..) => Self::Single,
        }
    }

    /// Whether the entry is the one-argument entry of extension 1.2 or later.
    #[must_use]
    pub fn is_packed(self) -> bool {
        matches!(
            self,
            ContextEntry::Native | ContextEntry::NativeBegin | ContextEntry::NativeBlock
        )
    }

    /// Whether transactions at the server's default isolation level open with
    /// `tenancy_context.begin(..)` ([`OpenStatement`], extension 1.3 and later).
    #[must_use]
    pub fn opens(self) -> bool {
        matches!(self, ContextEntry::NativeBegin | ContextEntry::NativeBlock)
    }
}

/// Appends the context entry for a context on the connection with session number `session`
/// to `sql`: `SELECT tenancy.enter(...)`, then `SET TRANSACTION READ ONLY` when asked; on
/// Citus one call, `tenancy.enter_distributed(...)`, which makes the transaction read only
/// itself, because Citus replays on the workers the whole client message a `SET` came in. The
/// values are typed UUIDs, integers and hex: no user text.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site per executor; a struct would only name the same eight values again"
)]
pub(crate) fn push_enter(
    sql: &mut String,
    entry: ContextEntry,
    key: &ContextKey,
    session: i64,
    tenant: Option<TenantId>,
    principal: Option<PrincipalId>,
    check_status: bool,
    read_only: bool,
) {
    if entry.is_packed() {
        sql.push_str("CALL tenancy_context.enter('");
        push_packed(sql, key, session, tenant, principal, check_status);
        sql.push_str(if read_only {
            "'); SET TRANSACTION READ ONLY"
        } else {
            "')"
        });
        return;
    }
    let counter = next_counter();
    // Written into stack buffers: this runs once per transaction, on the path every query
    // takes, and the uuid's `Display` goes through the formatting machinery.
    let (mut tenant_buf, mut principal_buf) = ([0u8; 36], [0u8; 36]);
    let tenant: &str = match tenant {
        Some(t) => t.as_uuid().as_hyphenated().encode_lower(&mut tenant_buf),
        None => "",
    };
    let principal: &str = match principal {
        Some(p) => p.as_uuid().as_hyphenated().encode_lower(&mut principal_buf),
        None => "",
    };
    // Each entry has its own MAC domain: a value made for one can never open the other.
    let domain = match entry {
        ContextEntry::Native
        | ContextEntry::NativeBegin
        | ContextEntry::NativeBlock
        | ContextEntry::NativeArgs => "native",
        ContextEntry::Single | ContextEntry::Distributed => "enter",
    };
    let (session_text, counter_text) = (session.to_string(), counter.to_string());
    let mut mac_buf = [0u8; 64];
    let mac = key.mac_into(
        &[
            domain.as_bytes(),
            b"|",
            session_text.as_bytes(),
            b"|",
            counter_text.as_bytes(),
            b"|",
            tenant.as_bytes(),
            b"|",
            principal.as_bytes(),
        ],
        &mut mac_buf,
    );
    let read_only_suffix = if read_only {
        "; SET TRANSACTION READ ONLY"
    } else {
        ""
    };
    let literal = |v: &str| {
        if v.is_empty() {
            "NULL".to_owned()
        } else {
            format!("'{v}'")
        }
    };
    let _ = match entry {
        ContextEntry::Native | ContextEntry::NativeBegin | ContextEntry::NativeBlock => Ok(()),
        ContextEntry::Single => write!(
            sql,
            "SELECT tenancy.enter({}, {}, {counter}, '{mac}', {check_status}){read_only_suffix}",
            literal(tenant),
            literal(principal),
        ),
        ContextEntry::NativeArgs => write!(
            sql,
            "CALL tenancy_context.enter({}, {}, {counter}, '{mac}', {check_status}){read_only_suffix}",
            literal(tenant),
            literal(principal),
        ),
        ContextEntry::Distributed => write!(
            sql,
            "SELECT tenancy.enter_distributed({}, {}, {counter}, '{mac}', \
             {check_status}, {read_only})",
            literal(tenant),
            literal(principal),
        ),
    };
}

/// Appends the native context's entry, `<tenant>|<principal>|<counter>|<mac>|<t or f>`
/// (tenant and principal empty for none), with a new counter: one text value, which the
/// server parses for far less than five typed arguments, whether it comes as a literal of
/// `CALL tenancy_context.enter(..)` or as the parameter of `tenancy_context.begin(..)`.
fn push_packed(
    out: &mut String,
    key: &ContextKey,
    session: i64,
    tenant: Option<TenantId>,
    principal: Option<PrincipalId>,
    check_status: bool,
) {
    let counter = next_counter();
    // Written into stack buffers: this runs once per transaction, on the path every query
    // takes, and the uuid's `Display` goes through the formatting machinery.
    let (mut tenant_buf, mut principal_buf) = ([0u8; 36], [0u8; 36]);
    let tenant: &str = match tenant {
        Some(t) => t.as_uuid().as_hyphenated().encode_lower(&mut tenant_buf),
        None => "",
    };
    let principal: &str = match principal {
        Some(p) => p.as_uuid().as_hyphenated().encode_lower(&mut principal_buf),
        None => "",
    };
    let (session_text, counter_text) = (session.to_string(), counter.to_string());
    let mut mac_buf = [0u8; 64];
    let mac = key.mac_into(
        &[
            b"native|",
            session_text.as_bytes(),
            b"|",
            counter_text.as_bytes(),
            b"|",
            tenant.as_bytes(),
            b"|",
            principal.as_bytes(),
        ],
        &mut mac_buf,
    );
    out.reserve(160);
    out.push_str(tenant);
    out.push('|');
    out.push_str(principal);
    out.push('|');
    out.push_str(&counter_text);
    out.push('|');
    out.push_str(mac);
    out.push_str(if check_status { "|t" } else { "|f" });
}

/// `SELECT WHERE tenancy_context.begin($1, $2) IS NULL`: opens the transaction and enters its
/// context (extension 1.3). A static query id, so that Diesel (and diesel-async) prepare it
/// once per connection and afterwards only bind and run it: the server no longer parses and
/// analyses a `BEGIN` and a `CALL` in every transaction. The call is the statement's one-time
/// filter, run once, and the statement has no column and returns no row (`begin` returns
/// `void`, never NULL): the server then builds no row type, converts no value and sends no
/// row, which a `SELECT tenancy_context.begin(..)` cost it in every transaction. Only for a
/// transaction at the server's default isolation level, because the statement takes the
/// transaction's first snapshot.
#[doc(hidden)]
#[derive(Debug)]
pub struct OpenStatement {
    entry: String,
    read_only: bool,
}

impl OpenStatement {
    /// The statement for a context on the connection with session number `session`, with a
    /// new counter.
    #[must_use]
    pub fn new(
        key: &ContextKey,
        session: i64,
        tenant: Option<TenantId>,
        principal: Option<PrincipalId>,
        check_status: bool,
        read_only: bool,
    ) -> Self {
        // The same entry as `CALL tenancy_context.enter($1)` binds.
        let EnterStatement { entry } =
            EnterStatement::new(key, session, tenant, principal, check_status);
        Self { entry, read_only }
    }
}

impl diesel::query_builder::QueryId for OpenStatement {
    type QueryId = OpenStatement;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for OpenStatement {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        out.push_sql("SELECT WHERE tenancy_context.begin(");
        out.push_bind_param::<diesel::sql_types::Text, _>(&self.entry)?;
        out.push_sql(", ");
        out.push_bind_param::<diesel::sql_types::Bool, _>(&self.read_only)?;
        out.push_sql(") IS NULL");
        Ok(())
    }
}

impl<Conn> diesel::RunQueryDsl<Conn> for OpenStatement {}

/// `CALL tenancy_context.enter($1)`: the packed entry as the parameter of a prepared statement
/// (extension 1.2 and later), for a transaction whose `BEGIN` goes out in the same write
/// (diesel-async's pipelined opening). Prepared once per connection, as [`OpenStatement`].
#[doc(hidden)]
#[derive(Debug)]
pub struct EnterStatement {
    entry: String,
}

impl EnterStatement {
    /// The statement for a context on the connection with session number `session`, with a
    /// new counter.
    #[must_use]
    pub fn new(
        key: &ContextKey,
        session: i64,
        tenant: Option<TenantId>,
        principal: Option<PrincipalId>,
        check_status: bool,
    ) -> Self {
        let mut entry = String::new();
        // No tenant (the system connection): no status to check.
        push_packed(
            &mut entry,
            key,
            session,
            tenant,
            principal,
            tenant.is_some() && check_status,
        );
        Self { entry }
    }
}

impl diesel::query_builder::QueryId for EnterStatement {
    type QueryId = EnterStatement;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for EnterStatement {
    fn walk_ast<'b>(
        &'b self,
        out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        push_entry_call(out, &self.entry, "CALL tenancy_context.enter(", ")")
    }
}

impl<Conn> diesel::RunQueryDsl<Conn> for EnterStatement {}

impl EnterStatement {
    /// The same entry as the function of extension 1.5 ([`EnterBlockStatement`]).
    #[must_use]
    pub fn in_block(self) -> EnterBlockStatement {
        EnterBlockStatement { entry: self.entry }
    }
}

/// `SELECT WHERE tenancy_context.enter_block($1) IS NULL` (extension 1.5): the entry of
/// [`EnterStatement`] as a function inside an open transaction block, which the server runs
/// for less than the `CALL` (a `CALL` builds an executor state and prepares its arguments again
/// on every call). The statement has no column and returns no row. A refused entry aborts the
/// block, so the statements pipelined behind it are refused.
#[doc(hidden)]
#[derive(Debug)]
pub struct EnterBlockStatement {
    entry: String,
}

impl diesel::query_builder::QueryId for EnterBlockStatement {
    type QueryId = EnterBlockStatement;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for EnterBlockStatement {
    fn walk_ast<'b>(
        &'b self,
        out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        push_entry_call(
            out,
            &self.entry,
            "SELECT WHERE tenancy_context.enter_block(",
            ") IS NULL",
        )
    }
}

impl<Conn> diesel::RunQueryDsl<Conn> for EnterBlockStatement {}

/// The packed entry bound as the one argument of a call: `before`, `$1`, `after`.
fn push_entry_call<'b>(
    mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    entry: &'b String,
    before: &str,
    after: &str,
) -> diesel::QueryResult<()> {
    out.push_sql(before);
    out.push_bind_param::<diesel::sql_types::Text, _>(entry)?;
    out.push_sql(after);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_grow() {
        let a = next_counter();
        let b = next_counter();
        assert!(b > a);
    }

    /// The entry of `tenant` on session 42, and the counter it carries.
    fn entry_on_session_42(
        entry: ContextEntry,
        key: &ContextKey,
        tenant: Option<TenantId>,
    ) -> (String, u64) {
        let mut sql = String::new();
        push_enter(&mut sql, entry, key, 42, tenant, None, false, false);
        let separator = if entry == ContextEntry::Native {
            "|"
        } else {
            ", "
        };
        let counter = sql
            .split(separator)
            .nth(2)
            .and_then(|c| c.parse().ok())
            .expect("counter in the statement");
        (sql, counter)
    }

    #[test]
    fn enter_statement_carries_a_mac_over_session_counter_and_context() {
        let key = ContextKey::from_bytes([7; 32]);
        let tenant = TenantId::from_uuid(uuid::Uuid::from_u128(1));
        let (sql, counter) = entry_on_session_42(ContextEntry::Single, &key, Some(tenant));
        let expected = key.mac(&format!("enter|42|{counter}|{}|", tenant.as_uuid()));
        assert!(sql.contains(&expected), "{sql}");
        assert!(sql.contains(", NULL, "), "{sql}");
    }

    #[test]
    fn read_only_follows_the_entry_on_one_node_and_is_an_argument_on_citus() {
        let key = ContextKey::from_bytes([7; 32]);
        let enter = |entry| {
            let mut sql = String::new();
            push_enter(&mut sql, entry, &key, 1, None, None, false, true);
            sql
        };
        let single = enter(ContextEntry::Single);
        assert!(
            single.starts_with("SELECT tenancy.enter(NULL, NULL, "),
            "{single}"
        );
        assert!(
            single.ends_with("', false); SET TRANSACTION READ ONLY"),
            "{single}"
        );
        let citus = enter(ContextEntry::Distributed);
        assert!(
            citus.starts_with("SELECT tenancy.enter_distributed(NULL, NULL, "),
            "{citus}"
        );
        assert!(citus.ends_with("', false, true)"), "{citus}");
        assert!(!citus.contains(';'), "{citus}");
        let native = enter(ContextEntry::Native);
        assert!(
            native.starts_with("CALL tenancy_context.enter('||"),
            "{native}"
        );
        assert!(
            native.ends_with("|f'); SET TRANSACTION READ ONLY"),
            "{native}"
        );
        let native_args = enter(ContextEntry::NativeArgs);
        assert!(
            native_args.starts_with("CALL tenancy_context.enter(NULL, NULL, "),
            "{native_args}"
        );
        assert!(
            native_args.ends_with("', false); SET TRANSACTION READ ONLY"),
            "{native_args}"
        );
    }

    #[test]
    fn citus_wins_and_an_older_extension_keeps_its_own_entry() {
        for packed in [false, true] {
            for opens in [false, true] {
                for blocks in [false, true] {
                    assert_eq!(
                        ContextEntry::detect(true, true, packed, opens, blocks),
                        ContextEntry::Distributed
                    );
                    assert_eq!(
                        ContextEntry::detect(false, false, packed, opens, blocks),
                        ContextEntry::Single
                    );
                }
            }
        }
        assert_eq!(
            ContextEntry::detect(false, true, true, true, true),
            ContextEntry::NativeBlock
        );
        assert_eq!(
            ContextEntry::detect(false, true, true, true, false),
            ContextEntry::NativeBegin
        );
        assert_eq!(
            ContextEntry::detect(false, true, true, false, false),
            ContextEntry::Native
        );
        assert_eq!(
            ContextEntry::detect(false, true, false, false, false),
            ContextEntry::NativeArgs
        );
    }

    #[test]
    fn a_transaction_with_an_isolation_level_opens_with_the_packed_call() {
        let key = ContextKey::from_bytes([7; 32]);
        let mut sql = String::new();
        push_enter(
            &mut sql,
            ContextEntry::NativeBegin,
            &key,
            1,
            None,
            None,
            false,
            true,
        );
        assert!(sql.starts_with("CALL tenancy_context.enter('||"), "{sql}");
        assert!(sql.ends_with("|f'); SET TRANSACTION READ ONLY"), "{sql}");
    }

    #[test]
    fn the_begin_statement_binds_the_packed_entry_and_the_access_mode() {
        use diesel::query_builder::QueryBuilder as _;

        let key = ContextKey::from_bytes([7; 32]);
        let tenant = TenantId::from_uuid(uuid::Uuid::from_u128(1));
        let principal = PrincipalId::from_uuid(uuid::Uuid::from_u128(2));
        let statement = OpenStatement::new(&key, 42, Some(tenant), Some(principal), true, true);
        let fields: Vec<&str> = statement.entry.split('|').collect();
        assert_eq!(fields.len(), 5, "{statement:?}");
        assert_eq!(fields[0], tenant.as_uuid().to_string());
        assert_eq!(fields[1], principal.as_uuid().to_string());
        let counter: u64 = fields[2].parse().expect("a decimal counter");
        assert_eq!(
            fields[3],
            key.mac(&format!(
                "native|42|{counter}|{}|{}",
                tenant.as_uuid(),
                principal.as_uuid()
            ))
        );
        assert_eq!(fields[4], "t");
        assert!(statement.read_only);
        // No tenant (the system connection): no status to check, whatever the setting.
        let system = OpenStatement::new(&key, 42, None, None, true, false);
        assert!(system.entry.starts_with("||"), "{system:?}");
        assert!(system.entry.ends_with("|f"), "{system:?}");
        assert!(!system.read_only);

        let mut query = diesel::pg::PgQueryBuilder::default();
        diesel::query_builder::QueryFragment::<diesel::pg::Pg>::to_sql(
            &statement,
            &mut query,
            &diesel::pg::Pg,
        )
        .expect("renders");
        assert_eq!(
            query.finish(),
            "SELECT WHERE tenancy_context.begin($1, $2) IS NULL"
        );
    }

    #[test]
    fn the_native_entry_is_one_literal_of_five_fields() {
        let key = ContextKey::from_bytes([7; 32]);
        let tenant = TenantId::from_uuid(uuid::Uuid::from_u128(1));
        let mut sql = String::new();
        push_enter(
            &mut sql,
            ContextEntry::Native,
            &key,
            42,
            Some(tenant),
            None,
            true,
            false,
        );
        let literal = sql
            .strip_prefix("CALL tenancy_context.enter('")
            .and_then(|rest| rest.strip_suffix("')"))
            .expect("one text literal");
        let fields: Vec<&str> = literal.split('|').collect();
        assert_eq!(fields.len(), 5, "{sql}");
        assert_eq!(fields[0], tenant.as_uuid().to_string());
        assert_eq!(fields[1], "");
        let counter: u64 = fields[2].parse().expect("a decimal counter");
        assert_eq!(
            fields[3],
            key.mac(&format!("native|42|{counter}|{}|", tenant.as_uuid()))
        );
        assert_eq!(fields[4], "t");
    }

    #[test]
    fn native_macs_are_of_their_own_domain() {
        let key = ContextKey::from_bytes([7; 32]);
        let (sql, counter) = entry_on_session_42(ContextEntry::Native, &key, None);
        assert!(
            sql.contains(&key.mac(&format!("native|42|{counter}||"))),
            "{sql}"
        );
        assert!(
            !sql.contains(&key.mac(&format!("enter|42|{counter}||"))),
            "{sql}"
        );
    }

    #[test]
    fn hex_keys_are_checked() {
        assert!(ContextKey::from_hex(&"0".repeat(64)).is_ok());
        assert!(ContextKey::from_hex(&"0".repeat(63)).is_err());
        assert!(ContextKey::from_hex(&"g".repeat(64)).is_err());
    }
}
