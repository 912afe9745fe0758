//! Splitting a script into statements, and finding its dollar-quoted bodies.

use super::lexer::{block_comment_end, dollar_quoted, quoted};

/// What starts at a byte of a script, for the scanners below that only need to step over what
/// hides `;` and `$`.
#[cfg(feature = "check")]
enum Piece {
    /// A comment, quoted identifier, string literal or dollar quote, ending before `end`;
    /// `dollar` for a dollar quote.
    Quoted { end: usize, dollar: bool },
    /// A word (keyword or identifier), ending before `end`.
    Word { end: usize },
    /// Any other byte.
    Byte,
}

/// The piece of `sql` at `i`. Text that is never closed ends at the end of `sql`.
#[cfg(feature = "check")]
fn piece(sql: &str, i: usize) -> Piece {
    let bytes = sql.as_bytes();
    let quoted_end = |end: Option<usize>| Piece::Quoted {
        end: end.unwrap_or(bytes.len()),
        dollar: false,
    };
    match bytes[i] {
        b'-' if bytes.get(i + 1) == Some(&b'-') => {
            quoted_end(sql[i..].find(['\n', '\r']).map(|n| i + n))
        }
        b'/' if bytes.get(i + 1) == Some(&b'*') => quoted_end(block_comment_end(bytes, i)),
        b'"' => quoted_end(quoted(sql, i, b'"', false).map(|(_, next)| next)),
        b'\'' => quoted_end(quoted(sql, i, b'\'', false).map(|(_, next)| next)),
        b'$' if !bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => Piece::Quoted {
            end: dollar_quoted(sql, i).unwrap_or(bytes.len()),
            dollar: true,
        },
        c if c.is_ascii_alphabetic() || c == b'_' => {
            // Whole words, so that a `$` inside an identifier starts no quote.
            let mut end = i;
            while end < bytes.len()
                && (bytes[end].is_ascii_alphanumeric() || matches!(bytes[end], b'_' | b'$'))
            {
                end += 1;
            }
            if end == i + 1 && matches!(c, b'e' | b'E') && bytes.get(end) == Some(&b'\'') {
                quoted_end(quoted(sql, end, b'\'', true).map(|(_, next)| next))
            } else {
                Piece::Word { end }
            }
        }
        _ => Piece::Byte,
    }
}

/// Splits a script (a migration's `up.sql`) into its top-level statements, at `;` outside
/// comments, quoted identifiers, string literals, dollar quotes and, as psql does, the
/// `BEGIN ATOMIC … END` body of a `CREATE FUNCTION`/`PROCEDURE` (counting `BEGIN`/`CASE`
/// against `END`). Statements come back trimmed, without their `;`; text the lexer cannot
/// close ends the last one.
#[cfg(feature = "check")]
pub(crate) fn statements(sql: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut i) = (0, 0);
    // The statement's first words, to know a routine definition, and its BEGIN/CASE depth.
    let mut words: Vec<String> = Vec::new();
    let mut depth = 0usize;
    while i < sql.len() {
        i = match piece(sql, i) {
            Piece::Quoted { end, .. } => end,
            Piece::Word { end } => {
                let word = sql[i..end].to_ascii_lowercase();
                let routine = matches!(
                    words
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                        .as_slice(),
                    ["create", "function" | "procedure", ..]
                        | ["create", "or", "replace", "function" | "procedure", ..]
                );
                match word.as_str() {
                    "begin" | "case" if routine => depth += 1,
                    "end" if routine => depth = depth.saturating_sub(1),
                    _ => {}
                }
                if words.len() < 4 {
                    words.push(word);
                }
                end
            }
            Piece::Byte if sql.as_bytes()[i] == b';' && depth == 0 => {
                out.push(sql[start..i].trim());
                start = i + 1;
                words.clear();
                i + 1
            }
            Piece::Byte => i + 1,
        }
        .max(i + 1);
    }
    out.push(sql[start..].trim());
    out.retain(|s| !s.is_empty());
    out
}

/// The contents of the top-level dollar-quoted strings of `sql` (a routine's `AS $$ … $$`
/// body), outside comments, quoted identifiers and string literals.
#[cfg(feature = "check")]
pub(crate) fn dollar_quoted_bodies(sql: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < sql.len() {
        i = match piece(sql, i) {
            Piece::Quoted { end, dollar: true } => {
                // The tag is `$…$`: the body lies between its two copies. A quote that the
                // text never closes has no body (the server refuses it).
                if let Some(tag_len) = sql[i + 1..end].find('$').map(|n| n + 2)
                    && end >= i + 2 * tag_len
                    && sql[..end].ends_with(&sql[i..i + tag_len])
                {
                    out.push(&sql[i + tag_len..end - tag_len]);
                }
                end
            }
            Piece::Quoted { end, .. } | Piece::Word { end } => end,
            Piece::Byte => i + 1,
        }
        .max(i + 1);
    }
    out
}
