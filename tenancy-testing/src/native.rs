//! Whether the `tenancy_context` extension (the native tenant context, `extension/` in the
//! repository) is installed on the server the tests use, and switching a database to it.

use std::sync::Arc;

use diesel::connection::SimpleConnection;
use diesel::{PgConnection, QueryableByName, RunQueryDsl};

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

#[derive(QueryableByName)]
struct On {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    on: bool,
}

/// Switches the database `owner` is connected to (a superuser, on a database migrated with
/// tenancy's migrations) to the native tenant context, as an application whose server has the
/// extension does: creates the extension unless it is there, runs
/// `tenancy.enable_native_context()`, and checks that `tenancy.native_context()` is then on.
/// Pools built afterwards find it and enter it; pools built before keep the SQL context, which
/// the policies still accept, so one database can serve both sides of a comparison.
///
/// # Errors
/// [`EmbeddedError::NativeContextNotEnabled`] when the server does not have the extension or
/// the context stayed off; [`EmbeddedError::Query`] when a statement fails.
pub fn enable_native_context(owner: &mut PgConnection) -> Result<(), EmbeddedError> {
    let query = |context: &str| {
        let context = context.to_owned();
        move |source| EmbeddedError::Query { context, source }
    };
    let row: Available = diesel::sql_query(
        "SELECT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'tenancy_context') AS available",
    )
    .get_result(owner)
    .map_err(query("could not list the available extensions"))?;
    if !row.available {
        return Err(EmbeddedError::NativeContextNotEnabled {
            reason: "the server does not have the tenancy_context extension".to_owned(),
        });
    }
    owner
        .batch_execute(
            "CREATE EXTENSION IF NOT EXISTS tenancy_context; SELECT tenancy.enable_native_context()",
        )
        .map_err(query("could not switch to the native tenant context"))?;
    let state: On = diesel::sql_query("SELECT tenancy.native_context() AS on")
        .get_result(owner)
        .map_err(query("could not ask tenancy.native_context()"))?;
    if !state.on {
        return Err(EmbeddedError::NativeContextNotEnabled {
            reason: "tenancy.native_context() is still off after tenancy.enable_native_context()"
                .to_owned(),
        });
    }
    Ok(())
}
