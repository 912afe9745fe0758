//! Whether raw SQL runs `MERGE`, read from the text as it stands: in a literal, a comment or a
//! `DO` block's body too. PostgreSQL tests a `MERGE`'s conditions on every row of its target,
//! and applies the policies of its `UPDATE` and `DELETE` actions as checks that fail the
//! statement rather than as filters (the target's scan is filtered only when the statement
//! reads one of its columns): `MERGE INTO posts USING (SELECT 1) s ON true WHEN MATCHED AND
//! <a counter> THEN DELETE` counts every tenant's rows. Where the `tenancy_context` extension
//! is loaded, its planner hook refuses such a `MERGE` wherever it comes from; this reading
//! stops the plain forms without it, including a `MERGE` written out in a `DO` block.

use super::lexer::skip_blank;

/// Whether `sql` holds the keyword `MERGE` followed by `INTO` (which PostgreSQL requires after
/// it), with only white space and comments between. A keyword cannot be quoted, escaped or
/// split, so every `MERGE` the server runs from this text is found; a literal that says
/// "merge into" is refused too, which binding the value avoids.
pub(super) fn runs_merge(sql: &str) -> bool {
    let bytes = sql.as_bytes();
    let mut from = 0;
    while let Some(at) = find_word(bytes, from, b"merge") {
        let after = skip_blank(bytes, at + 5);
        if after > at + 5 && word_at(bytes, after, b"into") {
            return true;
        }
        from = at + 5;
    }
    false
}

/// Whether an identifier's character: PostgreSQL's letters, digits, `_` and `$`, and any byte
/// of a multi-byte character.
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// Whether `word` (lower case) stands at `at` as a whole word, in any case.
fn word_at(bytes: &[u8], at: usize, word: &[u8]) -> bool {
    bytes.len() >= at + word.len()
        && bytes[at..at + word.len()].eq_ignore_ascii_case(word)
        && !bytes.get(at + word.len()).is_some_and(|&b| is_word_byte(b))
        && (at == 0 || !is_word_byte(bytes[at - 1]))
}

fn find_word(bytes: &[u8], from: usize, word: &[u8]) -> Option<usize> {
    (from..bytes.len()).find(|&i| word_at(bytes, i, word))
}

#[cfg(test)]
mod tests {
    use super::runs_merge;

    #[test]
    fn merge_is_found_however_it_is_written() {
        for sql in [
            "MERGE INTO posts USING (SELECT 1) s ON true WHEN MATCHED THEN DELETE",
            "merge into posts p using x on true when matched then do nothing",
            "WITH s AS (SELECT 1) MERGE INTO posts USING s ON true WHEN MATCHED THEN DELETE",
            "EXPLAIN ANALYZE MERGE/**/INTO posts USING x ON true WHEN MATCHED THEN DELETE",
            "PREPARE p AS MeRgE -- c\n INTO posts USING x ON true WHEN MATCHED THEN DELETE",
            "DO $$ BEGIN MERGE INTO posts USING (SELECT 1) s ON true WHEN MATCHED THEN DELETE; END $$",
            "SELECT 1;MERGE\tINTO posts USING x ON true WHEN MATCHED THEN DELETE",
        ] {
            assert!(runs_merge(sql), "{sql}");
        }
        for sql in [
            "SELECT merge FROM t",
            "SELECT * FROM merges INTO x",
            "SELECT \"merge\" FROM t",
            "INSERT INTO t (merge_into) VALUES (1)",
            "SELECT emerge INTO x",
            "UPDATE t SET merged = true",
        ] {
            assert!(!runs_merge(sql), "{sql}");
        }
    }
}
