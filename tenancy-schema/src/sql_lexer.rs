//! A small lexer for the SQL text Diesel renders, so that tenancy can reason about what a
//! statement references before sending it: which tables it names anywhere (sub-queries, raw
//! fragments), whether a raw fragment stays inside its parentheses, and what an `UPDATE`'s
//! `SET` list assigns.
//!
//! It knows PostgreSQL's lexical rules that matter for that: quoted identifiers (`""`
//! escapes), string literals (`''` escapes, `E'..'` backslash escapes, `U&'..'`), dollar
//! quotes (`$tag$..$tag$`), bind parameters (`$1`), line and nested block comments. It is not a
//! parser: callers look at identifiers, parentheses, commas and semicolons only.

/// One token of SQL text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// An identifier or keyword, already normalised: a quoted identifier as written inside the
    /// quotes, an unquoted one folded to lower case (as PostgreSQL does).
    Ident { name: String, quoted: bool },
    /// A string, number or bind parameter: nothing in it names a table.
    Literal,
    /// `(`, `)`, `,`, `;` or `.`.
    Punct(char),
    /// Any other operator character sequence (`=`, `<>`, `::`, `||`, ...).
    Operator(String),
    /// A `--` or `/* */` comment.
    Comment,
}

/// Why a piece of SQL text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlTextError {
    /// A quoted identifier, string literal, dollar quote or block comment is not closed.
    #[error("unterminated {0} in a raw SQL fragment")]
    Unterminated(&'static str),
    /// A `)` closes a parenthesis the fragment did not open, or one stays open.
    #[error("unbalanced parentheses in a raw SQL fragment: `{0}`")]
    Unbalanced(String),
    /// A `;` would end the statement and start another.
    #[error("a raw SQL fragment contains `;`, which would start a second statement")]
    Semicolon,
    /// A comment could hide the rest of the statement.
    #[error(
        "a raw SQL fragment contains a comment (`--` or `/*`), which could hide the rest of the statement"
    )]
    Comment,
    /// A predicate ANDed with the tenant filter reaches outside its parentheses.
    #[error("a filter of a tenant write reaches outside its parentheses: `{0}`")]
    EscapedPredicate(String),
    /// A schema-qualified name refers to a tenant-scoped table, which the shadowing CTE of the
    /// tenant transaction cannot reach.
    #[error(
        "`{schema}.{table}` names the tenant-scoped table `{table}` with a schema; inside a tenant transaction write it unqualified (`{table}`), so that the tenant filter applies"
    )]
    QualifiedTenantTable {
        /// The schema written before the table.
        schema: String,
        /// The tenant-scoped table.
        table: String,
    },
    /// A function that runs SQL given as text (`query_to_xml('SELECT … FROM posts', ..)`):
    /// the tables it reads are invisible to tenancy's scoping.
    #[error(
        "`{0}` runs SQL given as text, which tenancy cannot scope: query the tables directly inside the tenant transaction"
    )]
    DynamicSql(String),
    /// A statistics view (`pg_stats`): it shows values of every tenant's rows (most common
    /// values, histograms) wherever row level security is off, and tenancy cannot scope it.
    #[error(
        "`{0}` shows values of every tenant's rows (most common values, histograms) where row level security is off, which tenancy cannot scope: query the tables themselves inside the tenant transaction"
    )]
    StatisticsView(String),
    /// A backslash in a string literal that makes the text read differently when
    /// `standard_conforming_strings` is off.
    #[error(
        "a string literal in SQL run through tenancy contains a backslash that reads differently when `standard_conforming_strings` is off: bind the value instead, or write it as `E'..'`: `{0}`"
    )]
    AmbiguousBackslash(String),
    /// A backslash right after a non-ASCII character: under a client encoding such as SJIS,
    /// BIG5 or GBK (SQL earlier in the same transaction may switch to one) the server reads
    /// the character's last byte and the backslash as one character, so an escaped quote ends
    /// the string there.
    #[error(
        "a backslash right after a non-ASCII character in SQL run through tenancy reads differently under some client encodings (SJIS, BIG5, GBK): bind the value instead: `{0}`"
    )]
    MultibyteBackslash(String),
    /// A Unicode-escaped identifier (`U&"\0070osts"`), which could name a table without
    /// spelling it.
    #[error("Unicode-escaped identifiers (`U&\"…\"`) are not accepted in SQL run through tenancy")]
    EscapedIdentifier,
    /// The statement reads a tenant-scoped table through a connection that has no tenant.
    #[error(
        "the system connection cannot read or write the tenant-scoped table `{0}`: run this in a tenant transaction (`tenancy.transaction(tenant, ..)`), or across tenants through `Tenancy::admin`"
    )]
    TenantTableOnSystemConnection(String),
    /// A changeset assignment that is not `"column" = value` for a column of the table.
    #[error(
        "the changeset of an update of `{table}` does not assign one of its columns here: `{item}`"
    )]
    MalformedChangeset {
        /// The table being updated.
        table: &'static str,
        /// The offending assignment.
        item: String,
    },
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
            // A line comment ends at a carriage return as well as at a line feed.
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
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
                let (_, next) = quoted(sql, i, b'\'', !conforming)
                    .ok_or(SqlTextError::Unterminated("string literal"))?;
                out.push(Token::Literal);
                i = next;
            }
            b'$' => {
                if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                    while i < bytes.len() && bytes[i].is_ascii_digit() {
                        i += 1;
                    }
                    out.push(Token::Literal);
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
                // E'...' (backslash escapes), B'...', X'...', N'...' and U&'...' literals.
                let prefix = word.to_ascii_lowercase();
                if bytes.get(i) == Some(&b'\'') && matches!(prefix.as_str(), "e" | "b" | "x" | "n")
                {
                    let (_, next) = quoted(sql, i, b'\'', prefix == "e")
                        .ok_or(SqlTextError::Unterminated("string literal"))?;
                    out.push(Token::Literal);
                    i = next;
                } else if prefix == "u" && bytes.get(i) == Some(&b'&') {
                    match bytes.get(i + 1) {
                        Some(b'\'') => {
                            let (_, next) = quoted(sql, i + 1, b'\'', false)
                                .ok_or(SqlTextError::Unterminated("string literal"))?;
                            out.push(Token::Literal);
                            i = next;
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
                // The tag is `$…$`: the body lies between its two copies.
                if let Some(tag_len) = sql[i + 1..end].find('$').map(|n| n + 2)
                    && end >= i + 2 * tag_len
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

/// The index after the (nested) block comment starting at `start`, if it is closed.
fn block_comment_end(bytes: &[u8], start: usize) -> Option<usize> {
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

/// Reads a quoted token starting at `start` (the opening quote); returns its content with
/// doubled quotes undone, and the index after the closing quote.
fn quoted(sql: &str, start: usize, quote: u8, backslash: bool) -> Option<(String, usize)> {
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
fn dollar_quoted(sql: &str, start: usize) -> Result<usize, SqlTextError> {
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

/// Checks a raw fragment that tenancy wraps in parentheses: it must not close more
/// parentheses than it opens, must leave none open, and must not contain `;` or comments.
pub(crate) fn check_fragment(sql: &str) -> Result<(), SqlTextError> {
    let tokens = tokenize(sql)?;
    let mut depth: i64 = 0;
    for token in &tokens {
        match token {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => {
                depth -= 1;
                if depth < 0 {
                    return Err(SqlTextError::Unbalanced(excerpt(sql)));
                }
            }
            Token::Punct(';') => return Err(SqlTextError::Semicolon),
            Token::Comment => return Err(SqlTextError::Comment),
            _ => {}
        }
    }
    if depth == 0 {
        Ok(())
    } else {
        Err(SqlTextError::Unbalanced(excerpt(sql)))
    }
}

/// Checks that `predicate` (rendered `<tenant filter> AND (<f1>) AND (<f2>) ...`) keeps every
/// user filter inside its own parentheses: after `prefix` (the tenant filter, as rendered),
/// only `AND (...)` groups may follow at the top level.
pub(crate) fn check_conjunction(predicate: &str, prefix: &str) -> Result<(), SqlTextError> {
    check_fragment(predicate)?;
    let rest = predicate
        .trim_start()
        .strip_prefix(prefix.trim())
        .ok_or_else(|| SqlTextError::EscapedPredicate(excerpt(predicate)))?;
    let tokens = tokenize(rest)?;
    let escaped = || SqlTextError::EscapedPredicate(excerpt(predicate));
    let mut i = 0;
    while i < tokens.len() {
        if !is_keyword(tokens.get(i), "and") || tokens.get(i + 1) != Some(&Token::Punct('(')) {
            return Err(escaped());
        }
        i = group_end(&tokens, i + 1).ok_or_else(escaped)?;
    }
    Ok(())
}

/// Whether `token` is the keyword `word` (lower case): an unquoted identifier, as tokens hold
/// them folded.
fn is_keyword(token: Option<&Token>, word: &str) -> bool {
    matches!(token, Some(Token::Ident { name, quoted: false }) if name == word)
}

/// The index right after the parenthesised group that opens at `tokens[open]`, or `None`
/// when it does not close.
fn group_end(tokens: &[Token], open: usize) -> Option<usize> {
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

/// The clauses that may follow a `WHERE` clause in a `SELECT` Diesel writes.
const AFTER_WHERE: &[&str] = &["group", "having", "order", "limit", "offset", "for"];

/// Whether the tenant predicates `"<table>"."<column>" = $n` that tenancy wrote into the
/// `WHERE` clause of the `SELECT` in `sql`, one per `(table, column)` of `predicates` and in
/// that order, filter every row the statement reads: the statement has one `WHERE` outside
/// parentheses, and it reads `WHERE <predicates>` or `WHERE (<one group>) AND <predicates>`
/// (the predicates joined by `AND`), followed by the end of the statement or the next clause.
/// Anything else (a filter with a top-level `OR` that Diesel did not parenthesise, a comment,
/// a `;`) answers `false`, and the caller shadows the tables with CTEs instead.
pub(crate) fn filter_holds(sql: &str, predicates: &[(&str, &str)]) -> bool {
    let Ok(tokens) = tokenize(sql) else {
        return false;
    };
    if predicates.is_empty()
        || tokens
            .iter()
            .any(|t| matches!(t, Token::Comment | Token::Punct(';')))
    {
        return false;
    }
    let quoted = |t: Option<&Token>, want: &str| matches!(t, Some(Token::Ident { name, quoted: true }) if name == want);
    let mut depth = 0i64;
    let mut wheres = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => depth -= 1,
            t if depth == 0 && is_keyword(Some(t), "where") => wheres.push(i),
            _ => {}
        }
    }
    let [where_at] = wheres[..] else {
        return false;
    };
    let mut i = where_at + 1;
    if tokens.get(i) == Some(&Token::Punct('(')) {
        let Some(end) = group_end(&tokens, i) else {
            return false;
        };
        if !is_keyword(tokens.get(end), "and") {
            return false;
        }
        i = end + 1;
    }
    for (k, (table, column)) in predicates.iter().enumerate() {
        if k > 0 {
            if !is_keyword(tokens.get(i), "and") {
                return false;
            }
            i += 1;
        }
        let predicate = quoted(tokens.get(i), table)
            && tokens.get(i + 1) == Some(&Token::Punct('.'))
            && quoted(tokens.get(i + 2), column)
            && matches!(tokens.get(i + 3), Some(Token::Operator(op)) if op == "=")
            && tokens.get(i + 4) == Some(&Token::Literal);
        if !predicate {
            return false;
        }
        i += 5;
    }
    tokens.get(i).is_none() || AFTER_WHERE.iter().any(|w| is_keyword(tokens.get(i), w))
}

/// Functions that execute SQL passed to them as text, or read whole tables by name: a
/// table they read never appears as an identifier, so scoping cannot see it.
pub(crate) const DYNAMIC_SQL: &[&str] = &[
    "query_to_xml",
    "query_to_xmlschema",
    "query_to_xml_and_xmlschema",
    "cursor_to_xml",
    "cursor_to_xmlschema",
    "table_to_xml",
    "table_to_xmlschema",
    "table_to_xml_and_xmlschema",
    "schema_to_xml",
    "schema_to_xmlschema",
    "schema_to_xml_and_xmlschema",
    "database_to_xml",
    "database_to_xmlschema",
    "database_to_xml_and_xmlschema",
    "ts_stat",
    // The two-argument form runs its second argument as a query for the rewrite rules.
    "ts_rewrite",
    "dblink",
    "dblink_exec",
    "dblink_open",
    "dblink_send_query",
    // tablefunc: the crosstabs run their text arguments as queries, connectby reads a table
    // named in one.
    "crosstab",
    "crosstab2",
    "crosstab3",
    "crosstab4",
    "connectby",
    // xml2: builds and runs a query on a table named in an argument.
    "xpath_table",
];

/// The views that show the planner's statistics of tables: sample values of their rows,
/// filtered by privilege and by whether row level security is active, never by tenant.
const STATISTICS_VIEWS: &[&str] = &["pg_stats", "pg_stats_ext", "pg_stats_ext_exprs"];

/// Refuses calls of [`DYNAMIC_SQL`] functions and references to [`STATISTICS_VIEWS`] in
/// `tokens`.
fn check_dynamic(tokens: &[Token]) -> Result<(), SqlTextError> {
    for (i, token) in tokens.iter().enumerate() {
        if let Token::Ident { name, .. } = token
            && STATISTICS_VIEWS.contains(&name.as_str())
            && tokens.get(i + 1) != Some(&Token::Punct('('))
        {
            return Err(SqlTextError::StatisticsView(name.clone()));
        }
        if let Token::Ident { name, .. } = token
            && DYNAMIC_SQL.contains(&name.as_str())
            && tokens.get(i + 1) == Some(&Token::Punct('('))
        {
            return Err(SqlTextError::DynamicSql(name.clone()));
        }
    }
    Ok(())
}

/// A reference to a table found in SQL text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NameUse {
    /// The normalised name.
    pub name: String,
    /// The schema written before it (`public` in `public.posts`), if any.
    pub schema: Option<String>,
    /// Whether a `.` follows (then it qualifies a column: `"posts"."id"`).
    pub qualifies: bool,
}

/// Every identifier of `sql` with what surrounds it, for callers that match them against the
/// classified tables. Keywords show up too; they match no table name that needs quoting.
pub(crate) fn names(sql: &str) -> Result<Vec<NameUse>, SqlTextError> {
    // To the server a comment is white space: `public/**/.posts` is `public.posts`, and
    // `query_to_xml/**/(..)` a call.
    let mut tokens = tokenize(sql)?;
    tokens.retain(|t| *t != Token::Comment);
    check_dynamic(&tokens)?;
    let mut out = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let Token::Ident { name, .. } = token else {
            continue;
        };
        let after_dot = i >= 2 && tokens[i - 1] == Token::Punct('.');
        let schema = if after_dot {
            match &tokens[i - 2] {
                Token::Ident { name, .. } => Some(name.clone()),
                _ => None,
            }
        } else {
            None
        };
        // The second part of `a.b.c` qualifies `c`; the first part of `a.b` too.
        let qualifies = tokens.get(i + 1) == Some(&Token::Punct('.'));
        out.push(NameUse {
            name: name.clone(),
            schema,
            qualifies,
        });
    }
    Ok(out)
}

/// The assignments of the first top-level `SET` list of a rendered `UPDATE` (or of an
/// upsert's `DO UPDATE SET`): for each, the assigned column (normalised), or `None` when the
/// item is not `column = ...`, and the item as text for messages.
pub(crate) fn set_list_assignments(
    statement: &str,
) -> Result<Vec<(Option<String>, String)>, SqlTextError> {
    let tokens = tokenize(statement)?;
    if tokens.contains(&Token::Comment) {
        return Err(SqlTextError::Comment);
    }
    if tokens.contains(&Token::Punct(';')) {
        return Err(SqlTextError::Semicolon);
    }
    let mut depth = 0i64;
    let mut start = None;
    let mut end = tokens.len();
    for (i, t) in tokens.iter().enumerate() {
        match t {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => depth -= 1,
            _ if depth == 0 && start.is_none() && is_keyword(Some(t), "set") => start = Some(i + 1),
            _ if depth == 0
                && start.is_some()
                && (is_keyword(Some(t), "where") || is_keyword(Some(t), "returning")) =>
            {
                end = i;
                break;
            }
            _ => {}
        }
    }
    let Some(start) = start else {
        return Ok(Vec::new());
    };
    Ok(split_assignments(&tokens[start..end]))
}

/// Splits a rendered `SET` list (without the keyword) at its top-level commas.
#[cfg(test)]
pub(crate) fn assignments(set_list: &str) -> Result<Vec<(Option<String>, String)>, SqlTextError> {
    check_fragment(set_list)?;
    Ok(split_assignments(&tokenize(set_list)?))
}

fn split_assignments(tokens: &[Token]) -> Vec<(Option<String>, String)> {
    let mut items: Vec<Vec<Token>> = vec![Vec::new()];
    let mut depth = 0i64;
    for token in tokens {
        match token {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => depth -= 1,
            Token::Punct(',') if depth == 0 => {
                items.push(Vec::new());
                continue;
            }
            _ => {}
        }
        if let Some(last) = items.last_mut() {
            last.push(token.clone());
        }
    }
    items
        .into_iter()
        .filter(|item| !item.is_empty())
        .map(|item| {
            let column = match (item.first(), item.get(1)) {
                (Some(Token::Ident { name, .. }), Some(Token::Operator(op))) if op == "=" => {
                    Some(name.clone())
                }
                _ => None,
            };
            (column, describe(&item))
        })
        .collect()
}

fn describe(tokens: &[Token]) -> String {
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
            Token::Punct(c) => out.push(*c),
            Token::Operator(op) => out.push_str(op),
            Token::Comment => out.push_str("/* */"),
        }
    }
    out
}

fn excerpt(sql: &str) -> String {
    let mut s: String = sql.chars().take(120).collect();
    if s.len() < sql.len() {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_must_stay_inside_their_parentheses() {
        assert!(check_fragment("a = 1 OR (b = 2)").is_ok());
        assert!(check_fragment("name = ')' OR x").is_ok());
        assert!(check_fragment(r#""we)ird" = 1"#).is_ok());
        assert!(check_fragment("$$ ) $$ = x").is_ok());
        assert!(check_fragment("E'\\') ' = x").is_ok());
        assert!(matches!(
            check_fragment("true) OR (true"),
            Err(SqlTextError::Unbalanced(_))
        ));
        assert!(matches!(
            check_fragment("(true"),
            Err(SqlTextError::Unbalanced(_))
        ));
        assert!(matches!(
            check_fragment("true; DELETE FROM t"),
            Err(SqlTextError::Semicolon)
        ));
        assert!(matches!(
            check_fragment("true -- )"),
            Err(SqlTextError::Comment)
        ));
        assert!(matches!(
            check_fragment("true /* ) */"),
            Err(SqlTextError::Comment)
        ));
        assert!(matches!(
            check_fragment("'open"),
            Err(SqlTextError::Unterminated(_))
        ));
        assert!(matches!(
            check_fragment("$x$ open"),
            Err(SqlTextError::Unterminated(_))
        ));
    }

    #[test]
    fn a_tenant_predicate_in_the_where_clause_holds_only_for_the_whole_filter() {
        let holds = |sql: &str| filter_holds(sql, &[("posts", "tenant_id")]);
        let p = r#""posts"."tenant_id" = $2"#;
        assert!(holds(&format!(
            r#"SELECT "posts"."id" FROM "posts" WHERE {p}"#
        )));
        assert!(holds(&format!(
            r#"SELECT "posts"."id" FROM "posts" WHERE ("posts"."id" = $1) AND {p} ORDER BY "posts"."id" LIMIT $3"#
        )));
        assert!(holds(&format!(
            r#"WITH "comments" AS NOT MATERIALIZED (SELECT * FROM "comments" WHERE "comments"."tenant_id" = $1) SELECT "posts"."id" FROM "posts" WHERE ("posts"."id" IN (SELECT "comments"."post_id" FROM "comments" WHERE (x) OR (y))) AND {p}"#
        )));
        // A filter Diesel did not parenthesise, so that AND would bind tighter than its OR.
        assert!(!holds(&format!(
            r#"SELECT "posts"."id" FROM "posts" WHERE "posts"."id" = $1 OR true AND {p}"#
        )));
        assert!(!holds(&format!(
            r#"SELECT "posts"."id" FROM "posts" WHERE (a) OR (b) AND {p}"#
        )));
        // Something after the predicate that is not the next clause.
        assert!(!holds(&format!(
            r#"SELECT "posts"."id" FROM "posts" WHERE (a) AND {p} OR true"#
        )));
        // Comments, statements, a second WHERE at the top level, another table's predicate.
        assert!(!holds(&format!(
            r#"SELECT "posts"."id" /* x */ FROM "posts" WHERE {p}"#
        )));
        assert!(!holds(&format!(
            r#"SELECT "posts"."id" FROM "posts" WHERE {p}; SELECT 1"#
        )));
        assert!(!holds(&format!(
            r#"SELECT "posts"."id" FROM "posts" WHERE {p} UNION SELECT 1 FROM x WHERE true"#
        )));
        assert!(!holds(
            r#"SELECT "posts"."id" FROM "posts" WHERE "comments"."tenant_id" = $1"#
        ));
        assert!(!holds(r#"SELECT "posts"."id" FROM "posts""#));
        // An inner join: one predicate per table, in order, all after the filter.
        let both = [("posts", "tenant_id"), ("comments", "tenant_id")];
        let q = r#"."tenant_id" = $"#;
        assert!(filter_holds(
            &format!(
                r#"SELECT 1 FROM "posts" INNER JOIN "comments" ON ("comments"."post_id" = "posts"."id") WHERE (x) AND "posts"{q}1 AND "comments"{q}2 LIMIT $3"#
            ),
            &both
        ));
        assert!(!filter_holds(
            &format!(
                r#"SELECT 1 FROM "posts" INNER JOIN "comments" ON (y) WHERE (x) AND "posts"{q}1 OR "comments"{q}2"#
            ),
            &both
        ));
        assert!(!filter_holds(
            &format!(
                r#"SELECT 1 FROM "posts" INNER JOIN "comments" ON (y) WHERE (x) AND "posts"{q}1"#
            ),
            &both
        ));
        // A quote that opens in one clause and closes in another is read as the server reads it.
        assert!(!holds(&format!(
            r#"SELECT 'x FROM "posts" WHERE {p} AND ' FROM "posts" WHERE true"#
        )));
    }

    #[test]
    fn backslashes_must_read_the_same_with_either_string_setting() {
        // Whole string with the setting off; a string and an open one with it on.
        assert!(matches!(
            check_fragment(r"x = '\'' ) OR (true) -- '"),
            Err(SqlTextError::AmbiguousBackslash(_))
        ));
        assert!(matches!(
            names(r"SELECT 'C:\' FROM t"),
            Err(SqlTextError::AmbiguousBackslash(_))
        ));
        // Same tokens either way, or escapes spelled out.
        assert!(check_fragment(r"name LIKE 'a\_b'").is_ok());
        assert!(check_fragment(r"name = E'\'' AND x = '\\n'").is_ok());
        assert!(check_fragment(r"name = $$\'$$").is_ok());
    }

    #[test]
    fn a_backslash_after_a_non_ascii_character_is_refused() {
        // `ぃ` is E3 81 83 in UTF-8; in SJIS, 83 5C is one character, so the server would
        // end the string at the quote after the backslash.
        assert!(matches!(
            check_fragment("title = E'ぃ\\' OR true --'\n"),
            Err(SqlTextError::MultibyteBackslash(_))
        ));
        assert!(matches!(
            names("SELECT 'é\\'"),
            Err(SqlTextError::MultibyteBackslash(_))
        ));
        assert!(names("SELECT E'é \\n', 'ぃ'").is_ok());
    }

    #[test]
    #[cfg(feature = "check")]
    fn scripts_split_at_top_level_semicolons() {
        let script = "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n\
                      -- a comment; with a semicolon\n\
                      /* and /* nested; */ one */ COMMENT ON FUNCTION f() IS 'a; b';\n\
                      SELECT E'\\';', \"we;ird\", $t$ ; $t$ ;";
        assert_eq!(
            statements(script),
            [
                "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql",
                "-- a comment; with a semicolon\n/* and /* nested; */ one */ COMMENT ON FUNCTION f() IS 'a; b'",
                "SELECT E'\\';', \"we;ird\", $t$ ; $t$",
            ]
        );
    }

    #[test]
    #[cfg(feature = "check")]
    fn dollar_quoted_bodies_are_found() {
        let sql = "CREATE FUNCTION f() AS $f$ BEGIN CREATE FUNCTION g() AS $g$ x $g$; END $f$ \
                   LANGUAGE plpgsql; SELECT '$$ no $$', a$b, $1";
        assert_eq!(
            dollar_quoted_bodies(sql),
            [" BEGIN CREATE FUNCTION g() AS $g$ x $g$; END "]
        );
    }

    #[test]
    #[cfg(feature = "check")]
    fn routine_bodies_in_begin_atomic_stay_whole() {
        let script = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC \
                      SELECT CASE WHEN true THEN 1 END; SELECT 2; END; SELECT 3";
        assert_eq!(
            statements(script),
            [
                "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC \
                 SELECT CASE WHEN true THEN 1 END; SELECT 2; END",
                "SELECT 3",
            ]
        );
    }

    #[test]
    fn conjunctions_keep_each_filter_in_its_group() {
        let prefix = r#""posts"."tenant_id" = $1"#;
        assert!(check_conjunction(&format!("{prefix} AND (a) AND ((b) OR c)"), prefix).is_ok());
        assert!(check_conjunction(prefix, prefix).is_ok());
        assert!(check_conjunction(&format!("{prefix} AND (true) OR (true)"), prefix).is_err());
        assert!(check_conjunction(&format!("{prefix} OR (true)"), prefix).is_err());
        assert!(check_conjunction(r#""other" = $1 AND (x)"#, prefix).is_err());
    }

    #[test]
    fn names_are_normalised_and_qualification_is_seen() {
        let found = names(r#"SELECT "Posts"."id" FROM public.posts, "public"."posts" p WHERE x IN (SELECT 1 FROM Comments)"#)
            .unwrap();
        let bare: Vec<_> = found
            .iter()
            .filter(|n| n.schema.is_none() && !n.qualifies)
            .map(|n| n.name.as_str())
            .collect();
        assert!(bare.contains(&"comments"), "{bare:?}");
        assert!(bare.contains(&"p"), "{bare:?}");
        let qualified: Vec<_> = found
            .iter()
            .filter_map(|n| n.schema.as_deref().map(|s| (s, n.name.as_str())))
            .collect();
        assert!(qualified.contains(&("public", "posts")), "{qualified:?}");
        assert!(qualified.contains(&("Posts", "id")), "{qualified:?}");
        assert!(found.iter().any(|n| n.name == "Posts" && n.qualifies));
    }

    #[test]
    fn strings_and_comments_hide_no_names() {
        let found = names("SELECT 'posts', $$posts$$, E'\\'posts' FROM t").unwrap();
        assert!(found.iter().all(|n| n.name != "posts"), "{found:?}");
    }

    #[test]
    fn assignments_are_split_at_top_level_commas() {
        let items =
            assignments(r#""title" = $1, "body" = coalesce($2, 'a,b'), tenant_id = '1'"#).unwrap();
        let columns: Vec<_> = items.iter().map(|(c, _)| c.clone()).collect();
        assert_eq!(
            columns,
            [
                Some("title".to_owned()),
                Some("body".to_owned()),
                Some("tenant_id".to_owned())
            ]
        );
        let items = assignments(r#""title" = 1, (x)"#).unwrap();
        assert_eq!(items[1].0, None);
        let update = set_list_assignments(
            r#"UPDATE "posts" SET "title" = (SELECT max(x) FROM t WHERE a = 1), "slug" = $2 WHERE "posts"."tenant_id" = $3 RETURNING *"#,
        )
        .unwrap();
        let columns: Vec<_> = update.iter().map(|(c, _)| c.clone()).collect();
        assert_eq!(columns, [Some("title".to_owned()), Some("slug".to_owned())]);
        assert!(set_list_assignments("UPDATE t SET a = 1 -- x").is_err());
    }

    #[test]
    fn dynamic_sql_and_escaped_identifiers_are_refused() {
        assert!(matches!(
            names("SELECT 1 FROM t WHERE x IN (SELECT (xpath('/r', query_to_xml('SELECT * FROM posts', true, false, ''))))"),
            Err(SqlTextError::DynamicSql(f)) if f == "query_to_xml"
        ));
        assert!(matches!(
            names("SELECT * FROM pg_catalog.TABLE_TO_XML ('posts', true, false, '')"),
            Err(SqlTextError::DynamicSql(_))
        ));
        assert!(matches!(
            names(r#"SELECT * FROM U&"\0070osts""#),
            Err(SqlTextError::EscapedIdentifier)
        ));
        // A column or a string that merely contains the name is fine.
        assert!(names("SELECT 'query_to_xml', query_to_xml_count FROM t").is_ok());
    }

    #[test]
    fn names_read_as_the_server_reads_them() {
        let qualified = |sql: &str| {
            names(sql)
                .unwrap()
                .into_iter()
                .filter_map(|n| n.schema.map(|s| (s, n.name)))
                .collect::<Vec<_>>()
        };
        let public_posts = [("public".to_owned(), "posts".to_owned())];
        // A comment between the parts of a name is white space to the server.
        assert_eq!(qualified("SELECT 1 FROM public/**/.posts"), public_posts);
        assert_eq!(
            qualified("SELECT 1 FROM public. /* x */ posts"),
            public_posts
        );
        assert_eq!(qualified("SELECT 1 FROM public--x\n.posts"), public_posts);
        // A line comment ends at a carriage return too.
        assert_eq!(qualified("SELECT 1 --x\rFROM public.posts"), public_posts);
        // So is a vertical tab, from PostgreSQL 16 on.
        assert_eq!(qualified("SELECT 1 FROM public\x0b.posts"), public_posts);
        assert!(matches!(
            names("SELECT query_to_xml/**/('SELECT * FROM posts', true, false, '')"),
            Err(SqlTextError::DynamicSql(_))
        ));
        // Only ASCII letters fold; a name is cut to 63 bytes.
        let found = names("SELECT 1 FROM POSTS, Ésta").unwrap();
        assert_eq!(found[2].name, "posts");
        assert_eq!(found[3].name, "Ésta");
        let long = format!("{}é", "p".repeat(62));
        let found = names(&format!("SELECT 1 FROM {long}xyz, \"{long}\"")).unwrap();
        assert_eq!(found[2].name, "p".repeat(62));
        assert_eq!(found[3].name, "p".repeat(62));
    }

    #[test]
    fn dollar_quote_tags_are_what_the_server_takes_for_tags() {
        // To the server `$é$'$é$` is a string holding a quote, so what follows is code; a
        // lexer that did not take `$é$` for a tag would see a string opening at that quote.
        let found =
            names("SELECT $é$'$é$ || (SELECT max(title) FROM public.posts) -- '\n").unwrap();
        assert!(
            found
                .iter()
                .any(|n| n.name == "posts" && n.schema.as_deref() == Some("public")),
            "{found:?}"
        );
        assert!(
            names("SELECT $_a1$ posts $_a1$, $é1$ posts $é1$")
                .unwrap()
                .iter()
                .all(|n| n.name != "posts")
        );
        assert!(matches!(
            names("SELECT * FROM crosstab('SELECT tenant_id, title, slug FROM posts')"),
            Err(SqlTextError::DynamicSql(_))
        ));
    }

    #[test]
    fn numbers_and_casts_lex() {
        let tokens = tokenize("x::int + 1.5e3 - .5 >= $12").unwrap();
        assert!(tokens.iter().all(|t| !matches!(t, Token::Comment)));
        assert!(tokenize("a.b").unwrap().contains(&Token::Punct('.')));
    }
}
