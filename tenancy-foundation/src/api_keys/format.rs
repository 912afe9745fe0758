//! The key text: its fixed shape, the strict parse that runs before any database work, and
//! the wrapper that keeps the secret out of logs. Kept apart because every other step relies
//! on the shape being checked here, and only here.

use std::fmt;

use super::error::ApiKeyError;
use super::hash::{secret_hash, secret_matches};

/// What every key text starts with.
pub const KEY_TEXT_PREFIX: &str = "tk_";
/// Hexadecimal digits of the public prefix (64 bits).
pub(super) const PREFIX_HEX_LEN: usize = 16;
/// Hexadecimal digits of the secret (256 bits).
pub(super) const SECRET_HEX_LEN: usize = 64;
/// `tk_` + prefix + `_` + secret.
const KEY_TEXT_LEN: usize = KEY_TEXT_PREFIX.len() + PREFIX_HEX_LEN + 1 + SECRET_HEX_LEN;

/// The text of an issued key. `Debug` and `Display` show only its public part
/// (`tk_<prefix>_…`); [`SecretKey::expose_secret`] returns the whole text. The memory is
/// overwritten (best effort) when it is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(pub(super) String);

impl SecretKey {
    /// The full key text, `tk_<prefix>_<secret>`: hand it to the key's owner once.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    fn public_part(&self) -> &str {
        self.0
            .get(..KEY_TEXT_PREFIX.len() + PREFIX_HEX_LEN + 1)
            .unwrap_or(KEY_TEXT_PREFIX)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(\"{}…\")", self.public_part())
    }
}

impl fmt::Display for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}…", self.public_part())
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.fill(0);
        std::hint::black_box(&bytes);
    }
}

/// A key text split into its parts: what [`verify`](super::verify) checks before it asks the
/// database.
///
/// ```
/// use tenancy_foundation::api_keys::{parse_key, ApiKeyError};
///
/// let text = format!("tk_{}_{}", "0123456789abcdef", "ab".repeat(32));
/// let key = parse_key(&text)?;
/// assert_eq!(key.prefix(), "0123456789abcdef");
/// assert!(key.matches_hash(Some(&key.secret_hash())));
/// assert!(!key.matches_hash(None));
/// assert_eq!(parse_key("tk_not-a-key").unwrap_err(), ApiKeyError::Malformed);
/// # Ok::<(), ApiKeyError>(())
/// ```
#[derive(PartialEq, Eq)]
pub struct ParsedKey<'a> {
    pub(super) prefix: &'a str,
    pub(super) secret: &'a str,
}

impl ParsedKey<'_> {
    /// The public part (16 lowercase hexadecimal digits), safe to log.
    #[must_use]
    pub fn prefix(&self) -> &str {
        self.prefix
    }

    /// `SHA-256` of the secret part: what `api_keys.secret_hash` stores.
    #[must_use]
    pub fn secret_hash(&self) -> [u8; 32] {
        secret_hash(self.secret)
    }

    /// Whether the secret hashes to `stored`, compared in constant time. `None` (no key has
    /// this prefix) still costs one hash and one comparison, so timing does not tell an
    /// unknown prefix from a wrong secret.
    #[must_use]
    pub fn matches_hash(&self, stored: Option<&[u8]>) -> bool {
        secret_matches(stored, self.secret)
    }
}

impl std::fmt::Debug for ParsedKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret: a parsed key ends up in logs through `{:?}` as easily as any value.
        f.debug_struct("ParsedKey")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Strict parse of `tk_<16 lowercase hex>_<64 lowercase hex>`, without the database. The
/// length is checked first, so arbitrarily large input costs nothing; nothing here can panic.
///
/// # Errors
/// [`ApiKeyError::Malformed`] for any other text.
pub fn parse_key(text: &str) -> std::result::Result<ParsedKey<'_>, ApiKeyError> {
    fn lower_hex(s: &str) -> bool {
        s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }
    if text.len() != KEY_TEXT_LEN {
        return Err(ApiKeyError::Malformed);
    }
    let rest = text
        .strip_prefix(KEY_TEXT_PREFIX)
        .ok_or(ApiKeyError::Malformed)?;
    let prefix = rest.get(..PREFIX_HEX_LEN).ok_or(ApiKeyError::Malformed)?;
    let secret = rest
        .get(PREFIX_HEX_LEN..)
        .and_then(|s| s.strip_prefix('_'))
        .ok_or(ApiKeyError::Malformed)?;
    if prefix.len() == PREFIX_HEX_LEN
        && secret.len() == SECRET_HEX_LEN
        && lower_hex(prefix)
        && lower_hex(secret)
    {
        Ok(ParsedKey { prefix, secret })
    } else {
        Err(ApiKeyError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_keys::IssuedKey;
    use crate::{ApiKeyId, PrincipalId};

    fn key_text(prefix: &str, secret: &str) -> String {
        format!("tk_{prefix}_{secret}")
    }

    #[test]
    fn parses_exactly_the_key_format() {
        let prefix = "0123456789abcdef";
        let secret = "ab".repeat(32);
        let text = key_text(prefix, &secret);
        assert_eq!(text.len(), KEY_TEXT_LEN);
        let parsed = parse_key(&text).ok();
        assert!(
            parsed
                == Some(ParsedKey {
                    prefix,
                    secret: &secret
                })
        );

        let upper = key_text(&prefix.to_uppercase(), &secret);
        let long_unicode = format!("tk_{prefix}_{}é", "a".repeat(62));
        let multibyte_boundary = format!("tk_{}é_{secret}", "a".repeat(14));
        for bad in [
            String::new(),
            "tk_".to_owned(),
            key_text(prefix, &secret[1..]),
            format!("{text}0"),
            format!("xx_{prefix}_{secret}"),
            format!("tk_{prefix}-{secret}"),
            format!("tk{prefix}__{secret}"),
            upper,
            key_text(prefix, &"g".repeat(64)),
            long_unicode,
            multibyte_boundary,
            format!(" {}", &text[1..]),
            "é".repeat(42),
            "x".repeat(1 << 20),
        ] {
            assert!(parse_key(&bad) == Err(ApiKeyError::Malformed), "{bad:.100}");
        }
    }

    #[test]
    fn secret_key_debug_and_display_hide_the_secret() {
        let secret = "ef".repeat(32);
        let key = SecretKey(key_text("0123456789abcdef", &secret));
        for shown in [format!("{key:?}"), format!("{key}")] {
            assert!(!shown.contains(&secret), "{shown}");
            assert!(shown.contains("tk_0123456789abcdef_"), "{shown}");
        }
        assert!(key.expose_secret().ends_with(&secret));
        let issued = IssuedKey {
            id: ApiKeyId::new_v7(),
            prefix: "0123456789abcdef".into(),
            principal: PrincipalId::new_v7(),
            key,
        };
        assert!(!format!("{issued:?}").contains(&secret));
        assert!(!format!("{issued:#?}").contains(&secret));
    }
}
