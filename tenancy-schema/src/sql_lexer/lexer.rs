//! The tokens of SQL text and the scanners for its quoted pieces.

use super::SqlTextError;

/// One token of SQL text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// An identifier or keyword, already normalised: a quoted identifier as written inside the
    /// quotes, an unquoted one folded to lower case (as PostgreSQL does).
    Ident { name: String, quoted: bool },
    /// A string or number: nothing in it names a table.
    Literal,
    /// A bind parameter (`$1`) and its number: only Diesel and tenancy write these, as
    /// placeholders for values sent apart from the text. The tenant is always `$1`, and a
    /// fragment can write `$2` (another value it binds) where tenancy's `$1` was expected, so
    /// the number is kept.
    Param(u64),
    /// `(`, `)`, `,`, `;` or `.`.
    Punct(char),
    /// Any other operator character sequence (`=`, `<>`, `::`, `||`, ...).
    Operator(String),
    /// A `--` or `/* */` comment.
    Comment,
}

/// Splits `sql` into tokens.
///
/// A backslash in a plain `'..'` literal means one thing under `standard_conforming_strings =
/// on` (PostgreSQL's default) and another with it off, and SQL earlier in the same transaction
/// may turn it off. Text that splits into different tokens under the two readings is refused,
/// so that no fragment can look like a string to tenancy and like code to the server.
pub(crate) fn tokenize(sql: &str) -> Result<Vec<Token>, SqlTextError> {
    // In the multi-byte client encodings PostgreSQL accepts, a lead byte (never ASCII) can
    // take a following backslash as its second byte, and the server converts before it
    // lexes: a UTF-8 character ending in such a byte hides the backslash from the server.
    // No quote, comment or parenthesis can be taken that way.
    if sql
        .as_bytes()
        .windows(2)
        .any(|pair| pair[0] >= 0x80 && pair[1] == b'\\')
    {
        return Err(SqlTextError::MultibyteBackslash(excerpt(sql)));
    }
    let conforming = tokenize_as(sql, true)?;
    if sql.contains('\\') && tokenize_as(sql, false).ok().as_ref() != Some(&conforming) {
        return Err(SqlTextError::AmbiguousBackslash(excerpt(sql)));
    }
    Ok(conforming)
}

/// [`tokenize`] under one setting of `standard_conforming_strings`.
#[allow(clippy::too_many_lines)] // reason: one arm per lexical class, in PostgreSQL's order
fn tokenize_as(sql: &str, conforming: bool) -> Result<Vec<Token>, SqlTextError> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            // PostgreSQL 16 and later also count a vertical tab (`\x0b`) as white space;
            // 15 refuses it, so reading it as space is right for both.
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c' => i += 1,
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = line_comment_end(bytes, i);
                out.push(Token::Comment);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = block_comment_end(bytes, i)
                    .ok_or(SqlTextError::Unterminated("block comment"))?;
                out.push(Token::Comment);
            }
            b'"' => {
                let (name, next) = quoted(sql, i, b'"', false)
                    .ok_or(SqlTextError::Unterminated("quoted identifier"))?;
                out.push(Token::Ident {
                    name: identifier(name),
                    quoted: true,
                });
                i = next;
            }
            b'\'' => {
                i = string_literal(sql, i, !conforming)?;
                out.push(Token::Literal);
            }
            b'$' => {
                if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                    let mut number: u64 = 0;
                    while i < bytes.len() && bytes[i].is_ascii_digit() {
                        number = number
                            .saturating_mul(10)
                            .saturating_add(u64::from(bytes[i] - b'0'));
                        i += 1;
                    }
                    out.push(Token::Param(number));
                } else {
                    i = dollar_quoted(sql, i)?;
                    out.push(Token::Literal);
                }
            }
            b'(' | b')' | b',' | b';' | b'.' if !(c == b'.' && next_is_digit(bytes, i)) => {
                out.push(Token::Punct(char::from(c)));
                i += 1;
            }
            b'0'..=b'9' | b'.' => {
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.' || bytes[i] == b'_')
                {
                    i += 1;
                }
                out.push(Token::Literal);
            }
            _ if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric()
                        || bytes[i] == b'_'
                        || bytes[i] == b'$'
                        || bytes[i] >= 0x80)
                {
                    i += 1;
                }
                let word = &sql[start..i];
                // E'...' (backslash escapes), B'...', X'...', N'...' and U&'...' literals. A
                // national N'...' is a plain string: its backslashes follow
                // standard_conforming_strings as a plain one's do.
                let prefix = word.to_ascii_lowercase();
                if bytes.get(i) == Some(&b'\'') && matches!(prefix.as_str(), "e" | "b" | "x" | "n")
                {
                    i = match prefix.as_str() {
                        "e" => string_literal(sql, i, true)?,
                        "n" => string_literal(sql, i, !conforming)?,
                        _ => bit_string_literal(sql, i)?,
                    };
                    out.push(Token::Literal);
                } else if prefix == "u" && bytes.get(i) == Some(&b'&') {
                    match bytes.get(i + 1) {
                        Some(b'\'') => {
                            i = string_literal(sql, i + 1, false)?;
                            out.push(Token::Literal);
                        }
                        Some(b'"') => return Err(SqlTextError::EscapedIdentifier),
                        _ => out.push(Token::Ident {
                            name: prefix,
                            quoted: false,
                        }),
                    }
                } else {
                    // PostgreSQL folds only ASCII letters of an unquoted name in a UTF-8
                    // database (`Ésta` stays `Ésta`), so the name is folded the same way.
                    out.push(Token::Ident {
                        name: identifier(word.to_ascii_lowercase()),
                        quoted: false,
                    });
                }
            }
            _ => {
                let start = i;
                while i < bytes.len() && is_operator_char(bytes[i]) {
                    // `--` and `/*` inside an operator start a comment.
                    if i > start
                        && ((bytes[i] == b'-' && bytes.get(i + 1) == Some(&b'-'))
                            || (bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*')))
                    {
                        break;
                    }
                    i += 1;
                }
                if i == start {
                    // A character PostgreSQL would reject anyway (`\`, `?`, `{`...).
                    i += sql[i..].chars().next().map_or(1, char::len_utf8);
                }
                out.push(Token::Operator(sql[start..i].to_owned()));
            }
        }
    }
    Ok(out)
}

/// The longest identifier PostgreSQL keeps (`NAMEDATALEN - 1` bytes).
const MAX_IDENTIFIER_BYTES: usize = 63;

/// `name` as PostgreSQL resolves it: cut to [`MAX_IDENTIFIER_BYTES`] at a character boundary,
/// as the server does (with a notice), so that a longer spelling of a table's name is seen
/// as that table.
fn identifier(mut name: String) -> String {
    if name.len() > MAX_IDENTIFIER_BYTES {
        let mut end = MAX_IDENTIFIER_BYTES;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name.truncate(end);
    }
    name
}

fn next_is_digit(bytes: &[u8], i: usize) -> bool {
    bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
        && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'"'))
}

fn is_operator_char(c: u8) -> bool {
    matches!(
        c,
        b'+' | b'-'
            | b'*'
            | b'/'
            | b'<'
            | b'>'
            | b'='
            | b'~'
            | b'!'
            | b'@'
            | b'#'
            | b'%'
            | b'^'
            | b'&'
            | b'|'
            | b'`'
            | b'?'
            | b':'
            | b'['
            | b']'
    )
}

/// The index after the (nested) block comment starting at `start`, if it is closed.
/// The index of the line end (or the text's end) after a `--` comment starting at `start`:
/// a line comment ends at a carriage return as well as at a line feed.
pub(super) fn line_comment_end(bytes: &[u8], start: usize) -> usize {
    bytes[start..]
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .map_or(bytes.len(), |end| start + end)
}

/// Where the code of `sql` starts: past the white space and the comments (`--` and nested
/// `/* */`) in front of it. Text that is nothing but those gives its length; an unterminated
/// block comment runs to the end.
#[cfg(feature = "check")]
pub(crate) fn code_start(sql: &str) -> usize {
    skip_blank(sql.as_bytes(), 0)
}

/// The index past the white space and comments at `at` ([`code_start`] from anywhere).
pub(super) fn skip_blank(bytes: &[u8], mut at: usize) -> usize {
    while at < bytes.len() {
        match bytes[at] {
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c' => at += 1,
            b'-' if bytes.get(at + 1) == Some(&b'-') => at = line_comment_end(bytes, at),
            b'/' if bytes.get(at + 1) == Some(&b'*') => {
                at = block_comment_end(bytes, at).unwrap_or(bytes.len());
            }
            _ => break,
        }
    }
    at
}

pub(super) fn block_comment_end(bytes: &[u8], start: usize) -> Option<usize> {
    let (mut depth, mut i) = (0usize, start);
    while i + 1 < bytes.len() {
        if bytes[i] == b'/' && bytes[i + 1] == b'*' {
            depth += 1;
            i += 2;
        } else if bytes[i] == b'*' && bytes[i + 1] == b'/' {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return Some(i);
            }
        } else {
            i += 1;
        }
    }
    None
}

/// Skips a string literal starting at its opening quote, `start`, with its continuations, and
/// returns the index after it. PostgreSQL joins a string to a next one when only white space
/// holding a newline (and `--` comments) separates them, and reads each continuation as it
/// read the first part: after `E'..'`, a backslash still escapes the quote that follows it.
/// `backslash`: whether backslashes escape in this literal.
fn string_literal(sql: &str, start: usize, backslash: bool) -> Result<usize, SqlTextError> {
    let unterminated = SqlTextError::Unterminated("string literal");
    let (_, mut next) = quoted(sql, start, b'\'', backslash).ok_or(unterminated.clone())?;
    while let Some(part) = continuation(sql.as_bytes(), next) {
        (_, next) = quoted(sql, part, b'\'', backslash).ok_or(unterminated.clone())?;
    }
    Ok(next)
}

/// Skips a bit or hex string (`B'…'`, `X'…'`) whose quote is at `start`; returns the index
/// after it. PostgreSQL ends one at its first quote: a doubled quote, which a plain string
/// reads as a quote, closes it and opens a string of its own.
fn bit_string_literal(sql: &str, start: usize) -> Result<usize, SqlTextError> {
    let bytes = sql.as_bytes();
    let mut quote = start;
    loop {
        let close = bytes[quote + 1..]
            .iter()
            .position(|&b| b == b'\'')
            .ok_or(SqlTextError::Unterminated("bit string literal"))?
            + quote
            + 1;
        match continuation(bytes, close + 1) {
            Some(next) => quote = next,
            None => return Ok(close + 1),
        }
    }
}

/// The quote that continues the string literal ending before `i`, if one does: PostgreSQL's
/// `quotecontinue`, horizontal white space or a `--` comment, a newline, then any white space
/// or comments ending in a newline, then the quote. (A vertical tab counts as white space, as
/// in PostgreSQL 16; 15 rejects it.)
fn continuation(bytes: &[u8], mut i: usize) -> Option<usize> {
    let mut newline = false;
    loop {
        match bytes.get(i)? {
            b' ' | b'\t' | b'\x0b' | b'\x0c' => i += 1,
            b'\n' | b'\r' => {
                newline = true;
                i += 1;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => i = line_comment_end(bytes, i),
            b'\'' if newline => return Some(i),
            _ => return None,
        }
    }
}

/// Reads a quoted token starting at `start` (the opening quote); returns its content with
/// doubled quotes undone, and the index after the closing quote.
pub(super) fn quoted(
    sql: &str,
    start: usize,
    quote: u8,
    backslash: bool,
) -> Option<(String, usize)> {
    let bytes = sql.as_bytes();
    let mut i = start + 1;
    let mut content = String::new();
    let mut run = i;
    while i < bytes.len() {
        if backslash && bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if bytes[i] == quote {
            content.push_str(&sql[run..i]);
            if bytes.get(i + 1) == Some(&quote) {
                content.push(char::from(quote));
                i += 2;
                run = i;
                continue;
            }
            return Some((content, i + 1));
        }
        i += 1;
    }
    None
}

/// Skips a `$tag$ ... $tag$` string starting at `start`; returns the index after it.
///
/// A tag is what PostgreSQL takes for one: letters, digits (not first: `$1` is a parameter,
/// which callers handle before), `_` and any non-ASCII character (`$é$`).
pub(super) fn dollar_quoted(sql: &str, start: usize) -> Result<usize, SqlTextError> {
    let bytes = sql.as_bytes();
    let mut i = start + 1;
    while i < bytes.len()
        && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] >= 0x80)
    {
        i += 1;
    }
    if bytes.get(i) != Some(&b'$') {
        // A lone `$` is not valid SQL; treat it as an operator character.
        return Ok(start + 1);
    }
    let tag = &sql[start..=i];
    let body = i + 1;
    sql[body..]
        .find(tag)
        .map(|end| body + end + tag.len())
        .ok_or(SqlTextError::Unterminated("dollar-quoted string"))
}

/// The tokens of a whole statement tenancy wrote, which may hold no comment and no `;`: a
/// comment could hide the rest of the statement, a `;` start another.
pub(super) fn code_tokens(sql: &str) -> Result<Vec<Token>, SqlTextError> {
    let tokens = tokenize(sql)?;
    if tokens.contains(&Token::Comment) {
        return Err(SqlTextError::Comment);
    }
    if tokens.contains(&Token::Punct(';')) {
        return Err(SqlTextError::Semicolon);
    }
    Ok(tokens)
}

/// The indexes of the tokens that are the keyword `word` outside any parentheses.
pub(super) fn top_level(tokens: &[Token], word: &str) -> Vec<usize> {
    let mut depth = 0i64;
    let mut found = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => depth -= 1,
            t if depth == 0 && is_keyword(Some(t), word) => found.push(i),
            _ => {}
        }
    }
    found
}

/// Whether `token` is the keyword `word` (lower case): an unquoted identifier, as tokens hold
/// them folded.
pub(super) fn is_keyword(token: Option<&Token>, word: &str) -> bool {
    matches!(token, Some(Token::Ident { name, quoted: false }) if name == word)
}

/// The index right after the parenthesised group that opens at `tokens[open]`, or `None`
/// when it does not close.
pub(super) fn group_end(tokens: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0i64;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        match token {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => depth -= 1,
            _ => {}
        }
        if depth == 0 {
            return Some(i + 1);
        }
    }
    None
}

pub(super) fn describe(tokens: &[Token]) -> String {
    let mut out = String::new();
    for t in tokens.iter().take(8) {
        if !out.is_empty() {
            out.push(' ');
        }
        match t {
            Token::Ident { name, quoted: true } => {
                out.push('"');
                out.push_str(name);
                out.push('"');
            }
            Token::Ident { name, .. } => out.push_str(name),
            Token::Literal => out.push('…'),
            Token::Param(n) => {
                out.push('$');
                out.push_str(&n.to_string());
            }
            Token::Punct(c) => out.push(*c),
            Token::Operator(op) => out.push_str(op),
            Token::Comment => out.push_str("/* */"),
        }
    }
    out
}

pub(super) fn excerpt(sql: &str) -> String {
    let mut s: String = sql.chars().take(120).collect();
    if s.len() < sql.len() {
        s.push('…');
    }
    s
}
