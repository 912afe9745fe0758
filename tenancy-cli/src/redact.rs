//! Connection strings with their passwords replaced by `***`, for messages, and messages
//! about a connection string without what they echo of its passwords.
//!
//! Both of libpq's forms are parsed as libpq parses them, because a value ended too early
//! prints the rest of the password: `password='my secret word'` is one value, and so is
//! `password = spaced`. Where the text does not parse, everything from there on is redacted:
//! printing too little is harmless, printing a password is not.

use std::ops::Range;

/// `connection` with every password replaced by `***`: the userinfo of a url (everything up
/// to its last `@`, the user kept when it is plain), `password=` query parameters, and the
/// values of `password` keywords (and `sslpassword`) in a `key=value` connection string.
pub(crate) fn redact(connection: &str) -> String {
    splice(connection, &secrets(connection))
}

/// `message`, an error about `connection` (libpq's, say), without what it echoes of the
/// passwords in it: libpq quotes the part of a url it cannot parse, and a password with a `/`,
/// `?` or `@` in it makes such a part.
pub(crate) fn scrub(message: &str, connection: &str) -> String {
    let secrets = secrets(connection);
    if secrets.is_empty() {
        return message.to_owned();
    }
    let redacted = message.replace(connection, &splice(connection, &secrets));
    let overlaps_a_secret = |echo: &str| {
        connection.match_indices(echo).any(|(at, _)| {
            secrets
                .iter()
                .any(|s| at < s.end && s.start < at + echo.len())
        })
    };
    // Between every other `"` (an unclosed quote included) is what libpq quotes.
    let mut scrubbed: String = redacted
        .split('"')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 && !part.is_empty() && overlaps_a_secret(part) {
                "***"
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join("\"");
    // A password quoted some other way; short ones would match ordinary words.
    for secret in &secrets {
        let secret = &connection[secret.clone()];
        if secret.chars().count() >= 4 {
            scrubbed = scrubbed.replace(secret, "***");
        }
    }
    scrubbed
}

/// `text` with each of `ranges` (in order, not overlapping) replaced by `***`.
fn splice(text: &str, ranges: &[Range<usize>]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for range in ranges {
        out.push_str(&text[copied..range.start]);
        out.push_str("***");
        copied = range.end;
    }
    out.push_str(&text[copied..]);
    out
}

/// Where `connection` may hold a password, as byte ranges in order.
fn secrets(connection: &str) -> Vec<Range<usize>> {
    if let Some(authority) = authority_start(connection) {
        let mut ranges = Vec::new();
        let rest = &connection[authority..];
        let tail = match rest.rfind('@') {
            Some(at) => {
                ranges.extend(userinfo_secret(&rest[..at]).map(|r| shift(r, authority)));
                authority + at + 1
            }
            None => authority,
        };
        ranges.extend(
            query_secrets(&connection[tail..])
                .into_iter()
                .map(|r| shift(r, tail)),
        );
        ranges
    } else if connection.contains('=') {
        keyword_secrets(connection)
    } else {
        // Neither form: perhaps a url without its scheme, `user:password@host`.
        connection
            .rfind('@')
            .and_then(|at| userinfo_secret(&connection[..at]))
            .into_iter()
            .collect()
    }
}

fn shift(range: Range<usize>, by: usize) -> Range<usize> {
    range.start + by..range.end + by
}

/// Where the authority starts when `text` begins with a url scheme (`scheme://`).
fn authority_start(text: &str) -> Option<usize> {
    let end = text.find("://")?;
    let scheme = &text[..end];
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(end + 3)
}

/// A user name as it may stand in a url: nothing in it could be part of a password.
fn is_plain_user(user: &str) -> bool {
    user.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'%'))
}

/// The password of `user:password`; all of `userinfo` when its user is not plain.
fn userinfo_secret(userinfo: &str) -> Option<Range<usize>> {
    match userinfo.find(':') {
        Some(colon) if is_plain_user(&userinfo[..colon]) => Some(colon + 1..userinfo.len()),
        None if is_plain_user(userinfo) => None,
        _ => Some(0..userinfo.len()),
    }
}

/// Whether a parameter or keyword names a password (`password`, `sslpassword`, in any case
/// and percent-encoding).
fn is_secret(key: &str) -> bool {
    percent_encoding::percent_decode_str(key)
        .decode_utf8_lossy()
        .to_ascii_lowercase()
        .contains("password")
}

/// The values of password parameters in the query of a url's host, path and query.
fn query_secrets(rest: &str) -> Vec<Range<usize>> {
    let Some(question) = rest.find('?') else {
        return Vec::new();
    };
    let mut ranges = Vec::new();
    let mut start = question + 1;
    for parameter in rest[start..].split('&') {
        if let Some((key, _)) = parameter.split_once('=')
            && is_secret(key)
        {
            ranges.push(start + key.len() + 1..start + parameter.len());
        }
        start += parameter.len() + 1;
    }
    ranges
}

/// libpq's `isspace`.
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// The values of password keywords in a `key = value ...` connection string, read as libpq
/// reads it: whitespace around `=` is allowed, a value is either single-quoted (with `\`
/// escaping a quote or a backslash) or runs to the next whitespace (with `\` escaping it).
fn keyword_secrets(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let skip_spaces = |mut i: usize| {
        while bytes.get(i).copied().is_some_and(is_space) {
            i += 1;
        }
        i
    };
    let mut ranges = Vec::new();
    let mut i = skip_spaces(0);
    while i < bytes.len() {
        let key_start = i;
        while bytes.get(i).is_some_and(|&b| b != b'=' && !is_space(b)) {
            i += 1;
        }
        let key = &text[key_start..i];
        i = skip_spaces(i);
        if bytes.get(i) != Some(&b'=') {
            // libpq refuses the string here; what follows may be anything.
            ranges.push(key_start..bytes.len());
            return ranges;
        }
        i = skip_spaces(i + 1);
        let value_start = i;
        let terminated = if bytes.get(i) == Some(&b'\'') {
            i += 1;
            loop {
                match bytes.get(i) {
                    None => break false,
                    Some(b'\\') => i += 2,
                    Some(b'\'') => {
                        i += 1;
                        break true;
                    }
                    Some(_) => i += 1,
                }
            }
        } else {
            while let Some(&byte) = bytes.get(i) {
                if is_space(byte) {
                    break;
                }
                i += if byte == b'\\' { 2 } else { 1 };
            }
            true
        };
        i = i.min(bytes.len());
        if !terminated {
            ranges.push(value_start..bytes.len());
            return ranges;
        }
        if is_secret(key) {
            ranges.push(value_start..i);
        }
        i = skip_spaces(i);
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords() {
        for (url, redacted) in [
            (
                "postgres://me:secret@db:5432/app",
                "postgres://me:***@db:5432/app",
            ),
            ("postgresql://me:s@c@db/app", "postgresql://me:***@db/app"),
            // The authority ends at the last `@`, not at the first `/` or `?`.
            (
                "postgres://u:pa/ss?word@127.0.0.1:1/db",
                "postgres://u:***@127.0.0.1:1/db",
            ),
            ("postgres://u:my secret@h/db", "postgres://u:***@h/db"),
            // A user that is not plain may hold part of the password.
            ("postgres://u/x:pw@h/db", "postgres://***@h/db"),
            ("postgres://me@db/app", "postgres://me@db/app"),
            ("postgres://db/app", "postgres://db/app"),
            ("mysql://u:pw@h/db", "mysql://u:***@h/db"),
            ("u:secret@h/db", "u:***@h/db"),
            ("localhost", "localhost"),
        ] {
            assert_eq!(redact(url), redacted, "{url}");
        }
    }

    #[test]
    fn url_password_parameters() {
        for (url, redacted) in [
            (
                "postgres://me@db/app?password=x&sslmode=require",
                "postgres://me@db/app?password=***&sslmode=require",
            ),
            (
                "postgres://db/app?sslmode=require&password=a b c",
                "postgres://db/app?sslmode=require&password=***",
            ),
            (
                "postgres://db/app?PASS%57ORD=x&sslpassword=y",
                "postgres://db/app?PASS%57ORD=***&sslpassword=***",
            ),
        ] {
            assert_eq!(redact(url), redacted, "{url}");
        }
    }

    #[test]
    fn keyword_passwords() {
        for (connection, redacted) in [
            (
                "host=db password=secret dbname=app",
                "host=db password=*** dbname=app",
            ),
            // A quoted value with spaces is one value.
            (
                "host=127.0.0.1 port=1 user=postgres password='my secret word'",
                "host=127.0.0.1 port=1 user=postgres password=***",
            ),
            // Whitespace around `=`.
            (
                "host=127.0.0.1 port=1 user=postgres password = spaced",
                "host=127.0.0.1 port=1 user=postgres password = ***",
            ),
            ("password\t=\tx host=h", "password\t=\t*** host=h"),
            // Escaped quotes and spaces do not end the value.
            (
                r"password='it\'s a secret' dbname=app",
                "password=*** dbname=app",
            ),
            (r"password=a\ b dbname=app", "password=*** dbname=app"),
            (
                "sslpassword=key host='a b' dbname=app",
                "sslpassword=*** host='a b' dbname=app",
            ),
            // A password that looks like a url is still a keyword value.
            ("host=x password=a://b@c", "host=x password=***"),
            ("host=db dbname=app", "host=db dbname=app"),
        ] {
            assert_eq!(redact(connection), redacted, "{connection}");
        }
    }

    #[test]
    fn what_libpq_would_refuse_is_redacted_from_there_on() {
        for (connection, redacted) in [
            // An unterminated quote swallows the rest, a password included.
            ("host='db password=secret", "host=***"),
            ("host=db password='secret", "host=db password=***"),
            // A word without `=`.
            ("host=db pass word=secret", "host=db ***"),
            ("host=db password", "host=db ***"),
            (r"password='a\", "password=***"),
        ] {
            assert_eq!(redact(connection), redacted, "{connection}");
        }
    }

    #[test]
    fn messages_lose_what_they_echo_of_a_password() {
        let url = "postgres://u:pa/ss?word@127.0.0.1:1/db";
        assert_eq!(
            scrub(
                "missing key/value separator \"=\" in URI query parameter: \"word@127.0.0.1:1/db\"",
                url
            ),
            "missing key/value separator \"=\" in URI query parameter: \"***\""
        );
        let url = "postgres://u:p@ss@h/db";
        let scrubbed = scrub(
            &format!("unexpected character \"@\" at position 14 in URI: \"{url}\""),
            url,
        );
        assert!(!scrubbed.contains("p@ss"), "{scrubbed}");
        assert!(scrubbed.contains("postgres://u:***@h/db"), "{scrubbed}");
        // What echoes no password stays.
        let url = "postgres://u:secret@127.0.0.1:1/db";
        let refused = "connection to server at \"127.0.0.1\", port 1 failed: Connection refused";
        assert_eq!(scrub(refused, url), refused);
        assert_eq!(
            scrub("password 'hunter22' rejected", "host=h password=hunter22"),
            "password '***' rejected"
        );
        assert_eq!(scrub("no echo", "host=h"), "no echo");
    }
}
