//! Raw SQL that would end the transaction tenancy opened, or open another: tenancy ends it
//! when the closure returns, and its answer (committed or not) must be the server's.

use super::SqlTextError;
use super::lexer::{block_comment_end, excerpt, line_comment_end};

/// Refuses raw SQL whose statement ends or opens a transaction: `COMMIT`, `END`, `ROLLBACK`
/// (but not `ROLLBACK TO SAVEPOINT`), `ABORT`, `PREPARE TRANSACTION` (which ends the
/// transaction even when it fails), `BEGIN` and `START TRANSACTION`.
///
/// Statements after such a one would run outside any transaction and without the tenant's
/// context, each committed on its own; and the transaction's end, a `COMMIT` outside a
/// transaction, only warns, so a driver that does not follow the server's transaction status
/// (diesel-async) would report as committed writes the raw `ROLLBACK` had undone. Savepoints
/// stay open to raw SQL: they undo part of the transaction and leave it open.
///
/// Only the first statement of the text is read: raw SQL goes out as one prepared statement
/// (extended protocol, sync and async), which the server refuses to hold a second command, so
/// `SELECT 1; COMMIT` fails there as a whole. Reading only the first also keeps the `END` of a
/// `BEGIN ATOMIC` routine body from being taken for a statement of its own. A statement's
/// first words come before any literal, so no reading of a backslash can change them.
pub(crate) fn check_raw_statement(sql: &str) -> Result<(), SqlTextError> {
    if super::merge::runs_merge(sql) {
        return Err(SqlTextError::Merge(excerpt(sql)));
    }
    let words = leading_words(sql);
    let ends = match words
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["rollback", "to", ..] | ["rollback", "work" | "transaction", "to", ..] => false,
        ["commit" | "end" | "abort" | "begin" | "rollback", ..]
        | ["prepare" | "start", "transaction", ..] => true,
        _ => false,
    };
    if ends {
        Err(SqlTextError::TransactionControl(excerpt(sql)))
    } else {
        Ok(())
    }
}

/// The first three unquoted words of `sql`, past white space, comments and empty statements
/// (`;` alone, which the server skips), lower-cased as the server folds them. A quoted name or
/// anything else that is not a word ends them: no statement that ends a transaction has one
/// there.
fn leading_words(sql: &str) -> Vec<String> {
    let bytes = sql.as_bytes();
    let mut words = Vec::new();
    let mut i = 0;
    while i < bytes.len() && words.len() < 3 {
        match bytes[i] {
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c' => i += 1,
            b';' if words.is_empty() => i += 1,
            b'-' if bytes.get(i + 1) == Some(&b'-') => i = line_comment_end(bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = block_comment_end(bytes, i).unwrap_or(bytes.len());
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'$')
                {
                    i += 1;
                }
                words.push(sql[start..i].to_ascii_lowercase());
            }
            _ => break,
        }
    }
    words
}
