//! The few statements the test databases need, with quoting.

use std::process::{self};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::{error::EmbeddedError, url::redact};
use diesel::{Connection, PgConnection, RunQueryDsl};

pub(crate) fn connect(url: &str) -> Result<PgConnection, EmbeddedError> {
    PgConnection::establish(url).map_err(|source| EmbeddedError::Connect {
        url: redact(url),
        source,
    })
}

pub(crate) fn create_database(conn: &mut PgConnection, name: &str) -> Result<(), EmbeddedError> {
    diesel::sql_query(format!("CREATE DATABASE {}", quote_ident(name)))
        .execute(conn)
        .map_err(|source| EmbeddedError::Query {
            context: format!("could not create database `{name}`"),
            source,
        })?;
    Ok(())
}

/// Best effort: drop `name` on the server at `admin_url`, logging failures.
pub(crate) fn drop_database(admin_url: &str, name: &str) {
    let mut conn = match PgConnection::establish(admin_url) {
        Ok(conn) => conn,
        Err(err) => {
            tracing::warn!(database = name, %err, "could not connect to drop test database");
            return;
        }
    };
    let ident = quote_ident(name);
    let forced = diesel::sql_query(format!("DROP DATABASE IF EXISTS {ident} WITH (FORCE)"))
        .execute(&mut conn);
    if forced.is_err() {
        // Servers before 13 lack WITH (FORCE).
        if let Err(err) =
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {ident}")).execute(&mut conn)
        {
            tracing::warn!(database = name, %err, "could not drop test database");
        }
    }
}

pub(crate) fn unique_database_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    let counter = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("tenancy_test_{}_{nanos}_{counter}", process::id())
}

pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A SQL string literal; `E''`-free, so only single quotes need doubling (the server runs
/// with `standard_conforming_strings` on, the default since PostgreSQL 9.1).
pub(crate) fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
