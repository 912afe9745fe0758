//! Postgres URLs: parsing DATABASE_URL, pointing it at another database or login, redacting
//! passwords. Parsing and percent-encoding are the `url` crate's; what is specific to libpq
//! (two schemes, a socket directory in `?host=` instead of a host) is handled here.

use url::Url;

use crate::SUPERUSER;
use crate::error::EmbeddedError;

/// A `postgres://` or `postgresql://` URL naming one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PgUrl(Url);

impl PgUrl {
    /// The private cluster's bootstrap superuser on `127.0.0.1:<port>`.
    pub(crate) fn loopback(port: u16, database: &str) -> PgUrl {
        let mut url = Url::parse(&format!("postgres://{SUPERUSER}@127.0.0.1:{port}/"))
            .unwrap_or_else(|_| unreachable!("a fixed, valid url"));
        url.set_path(database);
        PgUrl(url)
    }

    pub(crate) fn parse(text: &str) -> Result<PgUrl, EmbeddedError> {
        let invalid = |reason: String| EmbeddedError::InvalidDatabaseUrl { reason };
        let url = Url::parse(text).map_err(|e| invalid(e.to_string()))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(invalid(
                "the scheme must be postgres:// or postgresql://".to_owned(),
            ));
        }
        Ok(PgUrl(url))
    }

    /// The database name (the path without its `/`), percent-decoded.
    pub(crate) fn database(&self) -> String {
        let path = self.0.path().trim_start_matches('/');
        percent_encoding::percent_decode_str(path)
            .decode_utf8_lossy()
            .into_owned()
    }

    pub(crate) fn with_database(&self, database: &str) -> PgUrl {
        let mut url = self.0.clone();
        url.set_path(database);
        PgUrl(url)
    }

    /// The same database, logging in as `user` with `password`. A URL without a host (a
    /// socket directory given as `?host=`) cannot carry a user before `@`, so there they go
    /// into the query, which libpq reads the same way.
    pub(crate) fn with_login(&self, user: &str, password: &str) -> PgUrl {
        let mut url = self.0.clone();
        let in_authority = url.has_host()
            && !url.host_str().unwrap_or_default().is_empty()
            && url.set_username(user).is_ok()
            && url.set_password(Some(password)).is_ok();
        if !in_authority {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            let kept: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(k, _)| k != "user" && k != "password")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            url.query_pairs_mut()
                .clear()
                .extend_pairs(kept)
                .append_pair("user", user)
                .append_pair("password", password);
        }
        PgUrl(url)
    }

    pub(crate) fn render(&self) -> String {
        self.0.to_string()
    }
}

/// The url with any password replaced by `***` (for messages and logs).
pub(crate) fn redact(text: &str) -> String {
    let Ok(PgUrl(mut url)) = PgUrl::parse(text) else {
        return "<unparseable database url>".to_owned();
    };
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    if url.query_pairs().any(|(k, _)| k == "password") {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "password" { "***".into() } else { v };
                (k.into_owned(), v.into_owned())
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}
