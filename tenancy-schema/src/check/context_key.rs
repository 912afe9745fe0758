//! TEN105: the key of the SQL tenant context is not one `tenancy.install_context_key()` made.
//! Every context entry is an HMAC under that
//! key, which only the application holds; `tenancy.enter()` verifies it with the inner and outer
//! padded keys stored beside it (`ipad`, `opad`). Pads written by hand (`UPDATE
//! tenancy.context_key SET ipad = .., opad = ..`) are the pads of another key, which whoever
//! wrote them knows; a key of one repeated byte (all zeros) is one anyone guesses. Checked when
//! the role running `tenancy check` may read the key (its owner, or the admin role). Triggers
//! and rules on the table are TEN067's.

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
}

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
    None
}

pub(super) fn check_context_key(f: &mut Findings, conn: &mut PgConnection) -> QueryResult<()> {
    let readable: Readable = diesel::sql_query(
        "SELECT coalesce(has_table_privilege(to_regclass('tenancy.context_key'), 'SELECT'), false) AS readable",
    )
    .get_result(conn)?;
    if readable.readable {
        let rows: Vec<KeyRow> =
            diesel::sql_query("SELECT key, ipad, opad FROM tenancy.context_key WHERE id = 1")
                .load(conn)?;
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
        let row = KeyRow {
            key: vec![1, 2, 3],
            ipad: pads(&[1, 2, 3]).0,
            opad: pads(&[1, 2, 3]).1,
        };
        assert!(key_problem(&row).is_none());
        let zeros = KeyRow {
            key: vec![0; 32],
            ipad: vec![0x36; 64],
            opad: vec![0x5c; 64],
        };
        assert!(key_problem(&zeros).is_some());
    }
}
