//! Which database a command uses, connecting to it, and turning errors into one line.

use diesel::{Connection, PgConnection};
use tenancy_testing::{EmbeddedError, TestDatabase};

use crate::redact::{redact, scrub};
use crate::{Failure, errln};

/// What to tell the user when a connection fails.
pub(crate) const CHECK_URL: &str =
    "check that the server is running and that --database-url / DATABASE_URL is right";

/// The database a command works on.
pub(crate) enum Database {
    /// The one named by `--database-url` / `DATABASE_URL`.
    Url(String),
    /// A throwaway cluster (or a fresh database) dropped when this is dropped.
    Throwaway(Box<TestDatabase>),
}

impl Database {
    /// The database at `url`, or a throwaway cluster when there is none (saying so on stderr).
    pub(crate) fn open(url: Option<&str>) -> Result<Database, Failure> {
        if let Some(url) = url {
            check_url(url)?;
            return Ok(Database::Url(url.to_owned()));
        }
        errln!(
            "no --database-url or DATABASE_URL: starting a throwaway PostgreSQL cluster (removed at exit)"
        );
        let db = TestDatabase::start().map_err(embedded_failure)?;
        errln!("throwaway cluster ready at {}", redact(db.url()));
        Ok(Database::Throwaway(Box::new(db)))
    }

    /// Url of a superuser / owner on the database.
    pub(crate) fn url(&self) -> &str {
        match self {
            Database::Url(url) => url,
            Database::Throwaway(db) => db.url(),
        }
    }

    /// Whether this is a throwaway database.
    pub(crate) fn is_throwaway(&self) -> bool {
        matches!(self, Database::Throwaway(_))
    }

    /// A connection as the url's user.
    pub(crate) fn connect(&self) -> Result<PgConnection, Failure> {
        connect(self.url())
    }
}

/// Rejects urls libpq would misread, with a usage error.
pub(crate) fn check_url(url: &str) -> Result<(), Failure> {
    let is_url = url.starts_with("postgres://") || url.starts_with("postgresql://");
    // libpq also takes `key=value` connection strings.
    if is_url || url.contains('=') {
        Ok(())
    } else {
        Err(Failure::usage(
            format!("the database url {:?} is not a PostgreSQL url", redact(url)),
            "use postgres://user:password@host:port/database",
        ))
    }
}

/// Connects to `url`; a failure says to check the url (exit status 2).
pub(crate) fn connect(url: &str) -> Result<PgConnection, Failure> {
    PgConnection::establish(url).map_err(|e| {
        Failure::usage(
            format!(
                "could not connect to {}: {}",
                redact(url),
                scrub(&e.to_string(), url)
            ),
            CHECK_URL,
        )
    })
}

/// An error of the throwaway cluster as a failure (exit status 2).
pub(crate) fn embedded_failure(err: EmbeddedError) -> Failure {
    match err {
        // These already say what to do.
        EmbeddedError::BinariesNotFound
        | EmbeddedError::Connect { .. }
        | EmbeddedError::InvalidDatabaseUrl { .. } => Failure::usage_message(err.to_string()),
        other => Failure::usage(
            format!("could not start a throwaway PostgreSQL database: {other}"),
            "fix the cause above, or set DATABASE_URL to an existing server",
        ),
    }
}

/// `text` on one line: lines trimmed and joined with " / ", at most 600 characters.
pub(crate) fn one_line(text: &str) -> String {
    const MAX: usize = 600;
    let joined = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" / ");
    if joined.chars().count() > MAX {
        let mut cut: String = joined.chars().take(MAX).collect();
        cut.push('…');
        cut
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_joins_and_caps() {
        assert_eq!(one_line("a\n\n  b  \n"), "a / b");
        assert_eq!(one_line(&"x".repeat(700)).chars().count(), 601);
    }

    #[test]
    fn rejects_non_postgres_urls() {
        assert!(check_url("postgres://u@h/db").is_ok());
        assert!(check_url("postgresql://u@h/db").is_ok());
        assert!(check_url("host=h dbname=db").is_ok());
        let failure = check_url("mysql://u:pw@h/db").expect_err("not postgres");
        assert_eq!(failure.code, 2);
        assert!(!failure.message.contains("pw"), "{}", failure.message);
    }
}
