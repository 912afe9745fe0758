//! Whether the `tenancy_context` extension (the native tenant context, `extension/` in the
//! repository) is installed on the server the tests use.

use std::sync::Arc;

use diesel::{QueryableByName, RunQueryDsl};

use crate::error::EmbeddedError;
use crate::sql::connect;

/// Set to `1` to make a missing extension an error instead of a reason to run the SQL-context
/// cases only: CI sets it, so a suite cannot pass there without having tested the native
/// context.
pub const REQUIRE_NATIVE_ENV: &str = "TENANCY_REQUIRE_NATIVE";

#[derive(QueryableByName)]
struct Available {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    available: bool,
}

/// Whether the server of [`crate::shared`] (the embedded cluster, or `DATABASE_URL`'s server)
/// can `CREATE EXTENSION tenancy_context`. Asked once per process.
///
/// # Errors
/// [`EmbeddedError::NativeContextMissing`] when it cannot and `TENANCY_REQUIRE_NATIVE=1` is
/// set; the shared database's errors.
pub fn native_context_available() -> Result<bool, Arc<EmbeddedError>> {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let available = if let Some(available) = AVAILABLE.get() {
        *available
    } else {
        let db = crate::shared()?;
        let row: Available = diesel::sql_query(
            "SELECT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'tenancy_context') AS available",
        )
        .get_result(&mut connect(db.url())?)
        .map_err(|source| EmbeddedError::Query {
            context: "could not list the available extensions".to_owned(),
            source,
        })?;
        *AVAILABLE.get_or_init(|| row.available)
    };
    if !available && std::env::var(REQUIRE_NATIVE_ENV).is_ok_and(|v| v == "1") {
        return Err(Arc::new(EmbeddedError::NativeContextMissing));
    }
    Ok(available)
}
