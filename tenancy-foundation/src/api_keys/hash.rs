//! Hashing the secret and comparing hashes in constant time. Kept apart so that the timing
//! argument (every verification hashes once and compares once, known prefix or not) can be
//! read, and tested, in one place.

use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

/// Compared against when the prefix is unknown, so that an unknown prefix costs the same hash
/// and comparison as a known one. No secret hashes to it (that would be a SHA-256 preimage).
const DUMMY_HASH: [u8; 32] = [0x5a; 32];

/// `SHA-256(secret)`, the secret taken as its ASCII hexadecimal text.
pub(super) fn secret_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

#[cfg(test)]
thread_local! {
    /// How often [`hashes_equal`] ran on this thread (unit tests only).
    static COMPARISONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Constant-time equality of two hashes (`subtle`): the time taken does not depend on where
/// the first differing byte is.
fn hashes_equal(a: &[u8; 32], b: &[u8; 32]) -> Choice {
    #[cfg(test)]
    COMPARISONS.with(|c| c.set(c.get() + 1));
    a.ct_eq(b)
}

/// Whether `secret` hashes to `stored`. Always hashes and compares once, against
/// [`DUMMY_HASH`] when there is no stored hash (unknown prefix) or it has the wrong length.
pub(super) fn secret_matches(stored: Option<&[u8]>, secret: &str) -> bool {
    hash_matches(stored, &secret_hash(secret))
}

/// [`secret_matches`] for a secret already hashed (`presented`), so that a caller that looked
/// the key up by its hash does not hash it again: compares once, against [`DUMMY_HASH`] when
/// there is no stored hash or it has the wrong length.
pub(super) fn hash_matches(stored: Option<&[u8]>, presented: &[u8; 32]) -> bool {
    let (expected, known) = match stored.and_then(|s| <[u8; 32]>::try_from(s).ok()) {
        Some(hash) => (hash, Choice::from(1)),
        None => (DUMMY_HASH, Choice::from(0)),
    };
    bool::from(hashes_equal(presented, &expected) & known)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_comparison_is_subtle_based() {
        let a = secret_hash("one");
        let b = secret_hash("two");
        assert!(bool::from(hashes_equal(&a, &a)));
        assert!(!bool::from(hashes_equal(&a, &b)));
        let mut last_byte_differs = a;
        last_byte_differs[31] ^= 1;
        assert!(!bool::from(hashes_equal(&a, &last_byte_differs)));
        assert_eq!(a, <[u8; 32]>::from(Sha256::digest(b"one")));
    }

    // No timing is measured here or anywhere (timed tests are forbidden in this project:
    // they are flaky and prove little). What is asserted is the structure that makes timing
    // uniform: every verification hashes the presented secret and runs exactly one
    // constant-time comparison, including for unknown prefixes and malformed stored hashes.
    #[test]
    fn unknown_prefixes_are_hashed_and_compared_too() {
        let comparisons = || COMPARISONS.with(std::cell::Cell::get);
        let secret = "cd".repeat(32);
        let stored = secret_hash(&secret);

        let before = comparisons();
        assert!(!secret_matches(None, &secret));
        assert_eq!(comparisons(), before + 1, "unknown prefix: one comparison");

        assert!(!secret_matches(Some(&[1, 2, 3]), &secret));
        assert_eq!(comparisons(), before + 2, "bad stored hash: one comparison");

        assert!(!secret_matches(Some(&secret_hash("other")), &secret));
        assert_eq!(comparisons(), before + 3);

        assert!(secret_matches(Some(&stored), &secret));
        assert_eq!(comparisons(), before + 4);

        // The dummy hash is never accepted, not even for a secret chosen to collide with it
        // in its first bytes.
        assert!(!secret_matches(Some(&DUMMY_HASH), &secret));
    }
}
