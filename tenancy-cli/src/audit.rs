//! Verifying the per-tenant audit hash chains (`tenancy.verify_audit_chain`).
//!
//! ```no_run
//! use diesel::{Connection, PgConnection};
//! # fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let mut conn = PgConnection::establish("postgres://postgres@localhost/app")?;
//! for (tenant, _slug) in tenancy_cli::audit::tenants(&mut conn)? {
//!     let chain = tenancy_cli::audit::verify_chain(&mut conn, tenant)?;
//!     match chain.broken_at {
//!         None => println!("{tenant}: ok ({} entries)", chain.entries),
//!         Some(entry) => println!("{tenant}: broken at {entry}"),
//!     }
//! }
//! # Ok(()) }
//! ```

use std::str::FromStr;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Uuid as SqlUuid};
use tenancy_schema::{AuditEntryId, ParseIdError, TenantId};

/// What [`verify_chain`] found for one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainStatus {
    /// The tenant.
    pub tenant: TenantId,
    /// Entries in its chain, as far as the connecting role can see them.
    pub entries: i64,
    /// The first entry that does not verify, or `None` when the whole chain verifies.
    pub broken_at: Option<AuditEntryId>,
}

#[derive(QueryableByName)]
struct Verified {
    #[diesel(sql_type = BigInt)]
    entries: i64,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    broken: Option<uuid::Uuid>,
}

/// Verifies `tenant`'s audit chain as the connecting role, in one read-only
/// `REPEATABLE READ` transaction (so the count and the verification see the same rows), with
/// `tenancy.tenant_id` set to the tenant: the tables' owner (bound by FORCE row level
/// security) sees the tenant's entries that way, and a superuser or BYPASSRLS role sees them
/// anyway.
///
/// # Errors
/// A database error, such as a missing `tenancy.verify_audit_chain` (migrations not applied).
pub fn verify_chain(conn: &mut PgConnection, tenant: TenantId) -> QueryResult<ChainStatus> {
    conn.build_transaction()
        .read_only()
        .repeatable_read()
        .run(|conn| {
            diesel::sql_query("SELECT set_config('tenancy.tenant_id', $1, true)")
                .bind::<Text, _>(tenant.as_uuid().to_string())
                .execute(conn)?;
            let verified: Verified = diesel::sql_query(
                "SELECT (SELECT count(*) FROM public.audit_log WHERE tenant_id = $1) AS entries, \
                 tenancy.verify_audit_chain($1) AS broken",
            )
            .bind::<SqlUuid, _>(tenant)
            .get_result(conn)?;
            Ok(ChainStatus {
                tenant,
                entries: verified.entries,
                broken_at: verified.broken.map(AuditEntryId::from_uuid),
            })
        })
}

#[derive(QueryableByName)]
struct TenantRow {
    #[diesel(sql_type = SqlUuid)]
    id: uuid::Uuid,
    #[diesel(sql_type = Text)]
    slug: String,
}

/// Every tenant (id and slug, by id) the connecting role can see in `tenants`, soft-deleted
/// ones included. Row level security hides them all from a role that is neither superuser
/// nor BYPASSRLS; see [`sees_all_tenants`].
///
/// # Errors
/// A database error.
pub fn tenants(conn: &mut PgConnection) -> QueryResult<Vec<(TenantId, String)>> {
    let rows: Vec<TenantRow> =
        diesel::sql_query("SELECT id, slug FROM public.tenants ORDER BY id").load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| (TenantId::from_uuid(r.id), r.slug))
        .collect())
}

#[derive(QueryableByName)]
struct Bypass {
    #[diesel(sql_type = Bool)]
    bypass: bool,
}

/// Whether the connecting role skips row level security (superuser or BYPASSRLS), and so
/// sees every tenant.
///
/// # Errors
/// A database error.
pub fn sees_all_tenants(conn: &mut PgConnection) -> QueryResult<bool> {
    let row: Bypass = diesel::sql_query(
        "SELECT coalesce((SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user), false) AS bypass",
    )
    .get_result(conn)?;
    Ok(row.bypass)
}

/// Parses a tenant id given as `ten_<32 hex digits>` or as a plain UUID.
///
/// ```
/// let a = tenancy_cli::audit::parse_tenant("ten_0190b5a48c3e7c4e9a573f1d2f6b8a10")?;
/// let b = tenancy_cli::audit::parse_tenant("0190b5a4-8c3e-7c4e-9a57-3f1d2f6b8a10")?;
/// assert_eq!(a, b);
/// assert!(tenancy_cli::audit::parse_tenant("usr_0190b5a48c3e7c4e9a573f1d2f6b8a10").is_err());
/// # Ok::<(), tenancy_schema::ParseIdError>(())
/// ```
///
/// # Errors
/// The [`ParseIdError`] of `TenantId::from_str` when the text is neither form.
pub fn parse_tenant(text: &str) -> Result<TenantId, ParseIdError> {
    let text = text.trim();
    TenantId::from_str(text).or_else(|err| {
        uuid::Uuid::try_parse(text)
            .map(TenantId::from_uuid)
            .map_err(|_| err)
    })
}
