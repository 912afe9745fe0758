//! Raw SQL that would end the transaction tenancy opened, or open another: tenancy ends it
//! when the closure returns, and its answer (committed or not) must be the server's.

use super::SqlTextError;
use super::lexer::{Token, block_comment_end, excerpt, line_comment_end, tokenize_as};

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
/// Both readings of a backslash in a plain string are looked at, as SQL earlier in the
/// transaction may have turned `standard_conforming_strings` off. Raw SQL is sent as one
/// prepared statement, which PostgreSQL refuses to hold more than one command, so text that
/// neither reading can split is judged by its first words.
pub(crate) fn check_raw_statement(sql: &str) -> Result<(), SqlTextError> {
    let mut read = false;
    for conforming in [true, false] {
        let Ok(tokens) = tokenize_as(sql, conforming) else {
            continue;
        };
        read = true;
        for statement in tokens.split(|t| *t == Token::Punct(';')) {
            let words = statement
                .iter()
                .filter(|t| **t != Token::Comment)
                .take(3)
                .map(|t| match t {
                    Token::Ident {
                        name,
                        quoted: false,
                    } => name.as_str(),
                    _ => "",
                });
            refuse(&words.collect::<Vec<_>>(), sql)?;
        }
    }
    if read {
        Ok(())
    } else {
        let words = leading_words(sql);
        refuse(&words.iter().map(String::as_str).collect::<Vec<_>>(), sql)
    }
}

/// The error for a statement whose first words (lower case) end or open a transaction.
fn refuse(words: &[&str], sql: &str) -> Result<(), SqlTextError> {
    let ends = match words {
        ["rollback", "to", ..] | ["rollback", "work" | "transaction", "to"] => false,
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

/// The first three unquoted words of `sql`, past white space, comments and empty statements,
/// lower-cased; for text the lexer cannot read to its end.
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
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                words.push(sql[start..i].to_ascii_lowercase());
            }
            _ => break,
        }
    }
    words
}
