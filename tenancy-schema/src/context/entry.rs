//! What a transaction sends to enter its context, by kind of server and extension version.

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use super::ContextKey;
use crate::{PrincipalId, TenantId};

/// The next counter value: strictly increasing across the whole process, so also within each
/// connection. It starts from the wall clock in microseconds so that a restarted process
/// continues above the values its predecessor used on connections that may outlive it.
pub(super) fn next_counter() -> u64 {
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
    /// The same with extension 1.6 and later: a transaction opens with one text statement,
    /// its `BEGIN` carrying the entry in a comment ([`push_comment_begin`]), once the
    /// connection has loaded the extension's library (its first transaction opens as under
    /// [`ContextEntry::NativeBlock`], which loads it).
    NativeComment,
    /// The same with extension 1.7 and later, which also fails the statement that follows a
    /// `BEGIN` whose entry it refused: tenancy-async's pipelined opening then sends that
    /// `BEGIN` too, in front of the transaction's first statement
    /// ([`ContextEntry::pipelines_comment`]).
    NativePipelined,
    /// The same with an extension older than 1.2, whose entry takes five typed arguments.
    NativeArgs,
    /// A Citus coordinator.
    Distributed,
}

impl ContextEntry {
    /// The query that tells them apart: whether the `citus` extension is installed, and
    /// whether `tenancy.enable_native_context()` made the policies read the native context,
    /// with which of the extension's entries; also whether `tenancy.check_session()`, which
    /// the SQL context's transactions end with, exists.
    pub const DETECT_SQL: &'static str = "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') AS citus, \
         EXISTS (SELECT FROM pg_extension WHERE extname = 'tenancy_context') \
         AND EXISTS (SELECT FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
           WHERE n.nspname = 'tenancy' AND p.proname = 'current_tenant' \
             AND p.prosrc LIKE '%tenancy_context.%') AS native, \
         to_regprocedure('tenancy_context.enter(text)') IS NOT NULL AS packed, \
         to_regprocedure('tenancy_context.begin(text, boolean)') IS NOT NULL AS opens, \
         to_regprocedure('tenancy_context.enter_block(text)') IS NOT NULL AS blocks, \
         EXISTS (SELECT FROM pg_extension WHERE extname = 'tenancy_context' \
           AND extversion NOT IN ('1.0', '1.1', '1.2', '1.3', '1.4', '1.5')) AS comments, \
         EXISTS (SELECT FROM pg_extension WHERE extname = 'tenancy_context' \
           AND extversion NOT IN ('1.0', '1.1', '1.2', '1.3', '1.4', '1.5', '1.6')) AS pipelines, \
         EXISTS (SELECT FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
           WHERE n.nspname = 'tenancy' AND p.proname = 'check_session') AS session_check";

    /// The entry for a database, from [`ContextEntry::DETECT_SQL`]'s answer. Citus wins: the
    /// native context does not reach the workers.
    #[must_use]
    #[allow(
        clippy::fn_params_excessive_bools,
        reason = "the seven columns of DETECT_SQL's one row, matched together right here"
    )]
    pub fn detect(
        citus: bool,
        native: bool,
        packed: bool,
        opens: bool,
        blocks: bool,
        comments: bool,
        pipelines: bool,
    ) -> Self {
        match (citus, native, packed, opens, blocks, comments, pipelines) {
            (true, ..) => Self::Distributed,
            (false, true, true, true, true, true, true) => Self::NativePipelined,
            (false, true, true, true, true, true, false) => Self::NativeComment,
            (false, true, true, true, true, false, _) => Self::NativeBlock,
            (false, true, true, true, false, ..) => Self::NativeBegin,
            (false, true, true, false, ..) => Self::Native,
            (false, true, false, ..) => Self::NativeArgs,
            (false, false, ..) => Self::Single,
        }
    }

    /// Whether the entry is the one-argument entry of extension 1.2 or later.
    #[must_use]
    pub fn is_packed(self) -> bool {
        matches!(
            self,
            ContextEntry::Native
                | ContextEntry::NativeBegin
                | ContextEntry::NativeBlock
                | ContextEntry::NativeComment
                | ContextEntry::NativePipelined
        )
    }

    /// Whether transactions at the server's default isolation level open with
    /// `tenancy_context.begin(..)` ([`OpenStatement`], extension 1.3 and later).
    #[must_use]
    pub fn opens(self) -> bool {
        matches!(
            self,
            ContextEntry::NativeBegin
                | ContextEntry::NativeBlock
                | ContextEntry::NativeComment
                | ContextEntry::NativePipelined
        )
    }

    /// Whether the extension has `tenancy_context.enter_block(..)`, the prepared entry a
    /// pipelined opening sends behind `BEGIN` ([`EnterBlockStatement`], 1.5 and later).
    #[must_use]
    pub fn blocks(self) -> bool {
        matches!(
            self,
            ContextEntry::NativeBlock | ContextEntry::NativeComment | ContextEntry::NativePipelined
        )
    }

    /// Whether the extension reads the entry from a comment of `BEGIN` (1.6 and later).
    #[must_use]
    pub fn comments(self) -> bool {
        matches!(
            self,
            ContextEntry::NativeComment | ContextEntry::NativePipelined
        )
    }

    /// Whether a `BEGIN` carrying a refused entry also fails the statement behind it (1.7 and
    /// later), so that a pipelined opening may be that `BEGIN`.
    #[must_use]
    pub fn pipelines_comment(self) -> bool {
        self == ContextEntry::NativePipelined
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
    // No tenant (the system connection): no status to check.
    let check_status = tenant.is_some() && check_status;
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
    // Each entry has its own MAC domain: a value made for one can never open the other.
    let domain = match entry {
        ContextEntry::Native
        | ContextEntry::NativeBegin
        | ContextEntry::NativeBlock
        | ContextEntry::NativeComment
        | ContextEntry::NativePipelined
        | ContextEntry::NativeArgs => "native",
        ContextEntry::Single | ContextEntry::Distributed => "enter",
    };
    sealed(key, domain, session, tenant, principal, |sealed| {
        push_call(sql, entry, sealed, check_status, read_only);
    });
}

/// The SQL call of an entry that is not packed, with its sealed values.
fn push_call(
    sql: &mut String,
    entry: ContextEntry,
    Sealed {
        tenant,
        principal,
        counter,
        mac,
    }: Sealed<'_>,
    check_status: bool,
    read_only: bool,
) {
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
        ContextEntry::Native
        | ContextEntry::NativeBegin
        | ContextEntry::NativeBlock
        | ContextEntry::NativeComment
        | ContextEntry::NativePipelined => Ok(()),
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
/// `CALL tenancy_context.enter(..)`, as the parameter of `tenancy_context.begin(..)` or in the
/// comment of a `BEGIN`.
pub(super) fn push_packed(
    out: &mut String,
    key: &ContextKey,
    session: i64,
    tenant: Option<TenantId>,
    principal: Option<PrincipalId>,
    check_status: bool,
) {
    // No tenant (the system connection): no status to check.
    let check_status = tenant.is_some() && check_status;
    sealed(key, "native", session, tenant, principal, |sealed| {
        out.reserve(160);
        out.push_str(sealed.tenant);
        out.push('|');
        out.push_str(sealed.principal);
        out.push('|');
        out.push_str(sealed.counter);
        out.push('|');
        out.push_str(sealed.mac);
        out.push_str(if check_status { "|t" } else { "|f" });
    });
}

/// The statement that opens a transaction and enters its context at once (extension 1.6):
/// `begin` (`BEGIN` with its options), ` READ ONLY` when asked, then the packed entry in a
/// comment, `/*tenancy_context.entry:<entry>*/`, which the extension's utility hook reads from
/// the statement's text. The entry is typed UUIDs, digits, hex and `|`: nothing in it can end
/// the comment.
pub(crate) fn push_comment_begin(
    out: &mut String,
    (begin, read_only): (&str, bool),
    key: &ContextKey,
    session: i64,
    tenant: Option<TenantId>,
    principal: Option<PrincipalId>,
    check_status: bool,
) {
    out.reserve(begin.len() + 200);
    out.push_str(begin);
    if read_only {
        out.push_str(" READ ONLY");
    }
    out.push_str(" /*tenancy_context.entry:");
    push_packed(out, key, session, tenant, principal, check_status);
    out.push_str("*/");
}

/// What an entry carries, as text: the tenant and the principal (empty for none), a new
/// counter, and the MAC over all of them.
struct Sealed<'a> {
    tenant: &'a str,
    principal: &'a str,
    counter: &'a str,
    mac: &'a str,
}

/// Takes a new counter and hands `write` the entry's values with the MAC under `key` over
/// `<domain>|<session>|<counter>|<tenant>|<principal>`.
fn sealed<R>(
    key: &ContextKey,
    domain: &str,
    session: i64,
    tenant: Option<TenantId>,
    principal: Option<PrincipalId>,
    write: impl FnOnce(Sealed<'_>) -> R,
) -> R {
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
    write(Sealed {
        tenant,
        principal,
        counter: &counter_text,
        mac,
    })
}
