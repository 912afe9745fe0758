//! TEN105: the key of the SQL tenant context is not one `tenancy.install_context_key()` made.
//! Every context entry is an HMAC under that key, which only the application holds;
//! `tenancy.enter()` verifies it with the inner and outer padded keys stored beside it (`ipad`,
//! `opad`). Pads written by hand (`UPDATE tenancy.context_key SET ipad = .., opad = ..`) are
//! the pads of another key, which whoever wrote them knows; a key of one repeated byte (all
//! zeros), a short pattern repeated, a passphrase, or the hash of the database's or a role's
//! name is one anyone guesses or works out. Checked when the role running `tenancy check` may
//! read the key (its owner, or the admin role). Triggers and rules on the table, and what else
//! is attached to it, are TEN067's.

use diesel::prelude::*;
use diesel::sql_types::{Binary, Bool};

use super::report::Findings;

#[derive(QueryableByName)]
struct Readable {
    #[diesel(sql_type = Bool)]
    readable: bool,
}

#[derive(QueryableByName)]
struct KeyRow {
    #[diesel(sql_type = Binary)]
    key: Vec<u8>,
    #[diesel(sql_type = Binary)]
    ipad: Vec<u8>,
    #[diesel(sql_type = Binary)]
    opad: Vec<u8>,
    /// The key is the SHA-256 or MD5 of a word anyone tries first: the database's name, a
    /// role's name, `tenancy`, nothing at all ([`GUESSED_SQL`]).
    #[diesel(sql_type = Bool)]
    hashed_word: bool,
}

/// The key, its pads, and whether it is the hash of a word anyone tries.
const GUESSED_SQL: &str = "SELECT key, ipad, opad,
        EXISTS (SELECT FROM (SELECT current_database()::text UNION ALL SELECT 'tenancy'
                             UNION ALL SELECT '' UNION ALL SELECT rolname::text FROM pg_roles) w (word)
                WHERE key IN (sha256(convert_to(w.word, 'UTF8')), decode(md5(w.word), 'hex'),
                              convert_to(md5(w.word), 'UTF8'),
                              convert_to(encode(sha256(convert_to(w.word, 'UTF8')), 'hex'), 'UTF8'))) AS hashed_word
   FROM tenancy.context_key WHERE id = 1";

/// Fewer different bytes than this in a 32-byte key is a pattern, not chance: 32 random bytes
/// hold about 30 different values, and fewer than 16 is a chance far below one in 2^64.
const FEWEST_DISTINCT_BYTES: usize = 16;

/// HMAC-SHA256's padded keys of `key` (at most 64 bytes): the key padded with zeros to the
/// block size, XORed with 0x36 and 0x5c.
fn pads(key: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut padded = key.to_vec();
    padded.resize(64, 0);
    (
        padded.iter().map(|b| b ^ 0x36).collect(),
        padded.iter().map(|b| b ^ 0x5c).collect(),
    )
}

/// What is wrong with the stored key, if anything.
fn key_problem(row: &KeyRow) -> Option<&'static str> {
    let (ipad, opad) = pads(&row.key);
    if row.ipad != ipad || row.opad != opad {
        return Some(
            "its padded keys (ipad, opad), which tenancy.enter() verifies with, are not derived from it: they are another key's, known to whoever wrote them",
        );
    }
    if row.key.windows(2).all(|w| w[0] == w[1]) {
        return Some("it is one byte repeated (all zeros, say), a key anyone guesses");
    }
    if row.key.len() < 32 {
        return Some("it is shorter than 32 bytes");
    }
    let distinct = row
        .key
        .iter()
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    if distinct < FEWEST_DISTINCT_BYTES {
        return Some(
            "it holds too few different bytes to be random (a short pattern repeated), a key one guesses",
        );
    }
    if row.key.iter().all(|b| (0x20..0x7f).contains(b)) {
        return Some(
            "it is printable text (a passphrase), not random bytes: a key one guesses from a list",
        );
    }
    if row.hashed_word {
        return Some(
            "it is the SHA-256 or MD5 of the database's name (or of a role's name, of `tenancy`, or of nothing), a key anyone can work out",
        );
    }
    None
}

pub(super) fn check_context_key(f: &mut Findings, conn: &mut PgConnection) -> QueryResult<()> {
    let readable: Readable = diesel::sql_query(
        "SELECT coalesce(has_table_privilege(to_regclass('tenancy.context_key'), 'SELECT'), false) AS readable",
    )
    .get_result(conn)?;
    if readable.readable {
        let rows: Vec<KeyRow> = diesel::sql_query(GUESSED_SQL).load(conn)?;
        for problem in rows.iter().filter_map(key_problem) {
            f.add(
                "TEN105",
                "table tenancy.context_key",
                format!(
                    "the tenant context's key is not one tenancy.install_context_key() made: {problem}; with it SQL can make a context entry for any tenant"
                ),
                "as the migrations' role, SELECT tenancy.install_context_key(<32 random bytes>) and give the application the new key (restart it)",
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_follow_hmac() {
        let (ipad, opad) = pads(&[0u8; 32]);
        assert_eq!(ipad, vec![0x36; 64]);
        assert_eq!(opad, vec![0x5c; 64]);
        let row = |key: Vec<u8>| KeyRow {
            ipad: pads(&key).0,
            opad: pads(&key).1,
            key,
            hashed_word: false,
        };
        // 32 bytes as `openssl rand` gives them.
        let random: Vec<u8> = (0u8..32)
            .map(|i| i.wrapping_mul(151).wrapping_add(7) ^ 0xa5)
            .collect();
        assert!(key_problem(&row(random.clone())).is_none());
        let mut other_pads = row(random.clone());
        other_pads.ipad = pads(&[1, 2, 3]).0;
        assert!(key_problem(&other_pads).is_some());
        for weak in [
            vec![0; 32],
            vec![1, 2, 3],
            [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef].repeat(4),
            b"tenancy-dev-context-key-32-bytes".to_vec(),
        ] {
            assert!(key_problem(&row(weak.clone())).is_some(), "{weak:?}");
        }
        let mut hashed = row(random);
        hashed.hashed_word = true;
        assert!(key_problem(&hashed).is_some());
    }
}
