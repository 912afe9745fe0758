//! Postgres URLs: parsing DATABASE_URL, rendering per-login URLs, redacting passwords.

use std::fmt::Write as _;

use crate::SUPERUSER;
use crate::error::EmbeddedError;

/// `scheme://[userinfo@]host[/database][?query]`, split the way libpq splits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UrlParts {
    pub(crate) scheme: String,
    pub(crate) userinfo: Option<String>,
    pub(crate) host: String,
    pub(crate) database: String,
    pub(crate) query: Option<String>,
}

impl UrlParts {
    pub(crate) fn loopback(port: u16, database: &str) -> UrlParts {
        UrlParts {
            scheme: "postgres".to_owned(),
            userinfo: Some(SUPERUSER.to_owned()),
            host: format!("127.0.0.1:{port}"),
            database: database.to_owned(),
            query: None,
        }
    }

    pub(crate) fn parse(url: &str) -> Result<UrlParts, EmbeddedError> {
        let invalid = |reason: &str| EmbeddedError::InvalidDatabaseUrl {
            reason: reason.to_owned(),
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| invalid("it does not start with postgres://"))?;
        if scheme != "postgres" && scheme != "postgresql" {
            return Err(invalid("the scheme must be postgres:// or postgresql://"));
        }
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let (before_query, query) = match rest.split_once('?') {
            Some((before, query)) => (before, Some(query.to_owned())),
            None => (rest, None),
        };
        // Like libpq: user credentials end at the first '@' before any '/'.
        let authority_end = before_query.find('/').unwrap_or(before_query.len());
        let (userinfo, after_userinfo) = match before_query[..authority_end].find('@') {
            Some(at) => (Some(before_query[..at].to_owned()), &before_query[at + 1..]),
            None => (None, before_query),
        };
        let (host, database) = after_userinfo
            .split_once('/')
            .unwrap_or((after_userinfo, ""));
        Ok(UrlParts {
            scheme: scheme.to_owned(),
            userinfo,
            host: host.to_owned(),
            database: database.to_owned(),
            query,
        })
    }

    pub(crate) fn with_database(&self, database: &str) -> UrlParts {
        UrlParts {
            database: database.to_owned(),
            ..self.clone()
        }
    }

    pub(crate) fn render(&self) -> String {
        self.render_as(self.userinfo.as_deref())
    }

    pub(crate) fn render_as(&self, userinfo: Option<&str>) -> String {
        let mut url = format!("{}://", self.scheme);
        if let Some(userinfo) = userinfo {
            url.push_str(userinfo);
            url.push('@');
        }
        url.push_str(&self.host);
        url.push('/');
        url.push_str(&self.database);
        if let Some(query) = &self.query {
            url.push('?');
            url.push_str(query);
        }
        url
    }
}

/// The url with any password replaced by `***` (for messages and logs).
pub(crate) fn redact(url: &str) -> String {
    match UrlParts::parse(url) {
        Ok(parts) => match parts
            .userinfo
            .as_deref()
            .and_then(|info| info.split_once(':'))
        {
            Some((user, _)) => parts.render_as(Some(&format!("{user}:***"))),
            None => parts.render(),
        },
        Err(_) => "<unparseable database url>".to_owned(),
    }
}

/// Percent-encode everything but RFC 3986 unreserved characters.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}
