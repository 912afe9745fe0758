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
use diesel::sql_types::{Bool, Text, Uuid as SqlUuid};
use tenancy_schema::{ParseIdError, TenantId};

// The verification itself lives in the runtime crate, where tests and benchmarks reach it
// too; re-exported so that `tenancy_cli::audit` stays the one place the command reads.
pub use tenancy_foundation::audit::{ChainStatus, verify_chain};

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
