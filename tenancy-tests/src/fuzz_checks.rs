//! Properties of the typed-id and API key parsers, checked on arbitrary input.
//!
//! Used by the fuzz targets (`fuzz/fuzz_targets/{typed_id,api_key}.rs`) and by the corpus replay
//! in `tests/fuzz_corpus.rs`, so that both check exactly the same properties.

use std::fmt::Debug;

use tenancy_foundation::api_keys::{ApiKeyError, parse_key};
use tenancy_foundation::{
    ApiKeyId, AuditEntryId, MembershipId, ResourceId, TeamId, UserId, WorkspaceId,
};
use tenancy_schema::{ParseIdError, PrincipalId, TenantId, TypedId};

/// Hex digits of a typed id after its prefix.
const ID_HEX_LEN: usize = 32;
/// `tk_`, then the public prefix, `_`, then the secret: `tk_<16 hex>_<64 hex>`.
const KEY_PREFIX_HEX_LEN: usize = 16;
const KEY_SECRET_HEX_LEN: usize = 64;

/// Parses `data` (when it is UTF-8) as every typed id.
///
/// On success the id displays as the input up to ASCII case, starts with its prefix and
/// parses back to itself; on failure the error is `WrongPrefix` exactly when the prefix is
/// missing, names the entity, and has a non-empty, bounded message.
///
/// # Panics
/// When a property does not hold: that is the finding.
pub fn typed_id(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check_id::<TenantId>(text);
    check_id::<PrincipalId>(text);
    check_id::<UserId>(text);
    check_id::<TeamId>(text);
    check_id::<WorkspaceId>(text);
    check_id::<ResourceId>(text);
    check_id::<ApiKeyId>(text);
    check_id::<MembershipId>(text);
    check_id::<AuditEntryId>(text);
}

fn check_id<T: TypedId + Debug>(text: &str) {
    match text.parse::<T>() {
        Ok(id) => {
            let hex = text
                .strip_prefix(T::PREFIX)
                .expect("an accepted id starts with its prefix");
            assert!(
                hex.len() == ID_HEX_LEN && hex.bytes().all(|b| b.is_ascii_hexdigit()),
                "{} accepted {text:?}: not the prefix and {ID_HEX_LEN} hex digits",
                T::KIND
            );
            let shown = id.to_string();
            assert!(shown.starts_with(T::PREFIX), "{shown:?}");
            assert!(
                shown.eq_ignore_ascii_case(text),
                "{text:?} displays as {shown:?}"
            );
            assert_eq!(shown.parse::<T>(), Ok(id), "{shown:?} does not round-trip");
            assert_eq!(T::from_uuid(id.uuid()), id);
        }
        Err(err) => {
            let (ParseIdError::WrongPrefix {
                kind,
                expected,
                input,
            }
            | ParseIdError::Malformed {
                kind,
                expected,
                input,
            }) = &err;
            assert_eq!(*kind, T::KIND);
            assert_eq!(*expected, T::PREFIX);
            assert_eq!(*input, text.chars().take(64).collect::<String>());
            assert_eq!(
                matches!(err, ParseIdError::WrongPrefix { .. }),
                !text.starts_with(T::PREFIX),
                "{text:?}: {err:?}"
            );
            let message = err.to_string();
            assert!(!message.is_empty());
            assert!(
                message.contains(T::KIND) && message.contains(T::PREFIX),
                "{message}"
            );
            // 64 characters of input, each escaped to at most `\u{10ffff}`, plus the prose.
            assert!(message.len() <= 64 * 10 + 200, "unbounded error text");
        }
    }
}

/// Parses `data` (when it is UTF-8) as an API key and compares with an independent check of
/// the documented shape `tk_<16 lowercase hex>_<64 lowercase hex>`.
///
/// On success `prefix()` is the 16-digit part, the secret matches its own hash and nothing
/// else, and `Debug` does not show the secret; on failure the error is `Malformed`.
///
/// # Panics
/// When a property does not hold: that is the finding.
pub fn api_key(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let shape = documented_shape(text);
    match parse_key(text) {
        Ok(key) => {
            let Some((prefix, secret)) = shape else {
                panic!("accepted {text:?}, which is not `tk_<16 hex>_<64 hex>`");
            };
            assert_eq!(key.prefix(), prefix);
            let hash = key.secret_hash();
            assert!(key.matches_hash(Some(&hash)), "own hash must match");
            assert!(!key.matches_hash(None), "no stored hash must not match");
            let mut other = hash;
            other[0] ^= 1;
            assert!(!key.matches_hash(Some(&other)), "another hash matched");
            assert!(!key.matches_hash(Some(&hash[..31])), "a short hash matched");
            let shown = format!("{key:?}");
            assert!(!shown.contains(secret), "Debug shows the secret: {shown}");
        }
        Err(err) => {
            assert!(shape.is_none(), "rejected the well-formed key {text:?}");
            assert!(matches!(err, ApiKeyError::Malformed), "{err:?}");
            assert!(!err.to_string().is_empty());
        }
    }
}

/// The reference: `Some((prefix, secret))` when `text` has the documented shape.
fn documented_shape(text: &str) -> Option<(&str, &str)> {
    fn lower_hex(s: &str, len: usize) -> bool {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }
    let rest = text.strip_prefix("tk_")?;
    let (prefix, secret) = rest.split_once('_')?;
    (lower_hex(prefix, KEY_PREFIX_HEX_LEN) && lower_hex(secret, KEY_SECRET_HEX_LEN))
        .then_some((prefix, secret))
}
