//! The `LIKE` patterns a statement takes as bound values.
//!
//! PostgreSQL fails a `LIKE` whose pattern ends with its escape character ("LIKE pattern must
//! not end with escape character"), but only once matching reaches that character, that is
//! only on a row whose text matches the pattern up to it. Where the comparison runs on rows
//! before the tenant predicate has passed them (an index recheck, the planner's estimate over
//! a column's most common values), that error tells whether another tenant has the text. The
//! statement's text names which parameters are patterns and what escapes them; their values
//! are read when the statement is sent (`crate::scope::like`).

use super::error::SqlTextError;
use super::lexer::{Token, tokenize};

/// What escapes a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LikeEscape {
    /// No `ESCAPE` clause: a backslash.
    Backslash,
    /// `ESCAPE $n`, as Diesel's `.escape(c)` binds the character.
    Param(u64),
    /// `ESCAPE` followed by anything else (a fragment's literal): not known from the text.
    Unknown,
}

/// A pattern bound as parameter `$param`, and its escape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LikePattern {
    pub(crate) param: u64,
    pub(crate) escape: LikeEscape,
}

/// The operators that take the pattern on their right: `LIKE` and `ILIKE` (after `NOT` too),
/// and the operators they stand for.
fn takes_pattern(token: &Token) -> bool {
    match token {
        Token::Ident {
            name,
            quoted: false,
        } => name == "like" || name == "ilike",
        Token::Operator(op) => matches!(op.as_str(), "~~" | "~~*" | "!~~" | "!~~*"),
        _ => false,
    }
}

/// Every pattern of `sql` that is a bound parameter right after its operator, with its escape.
/// A pattern written any other way (a literal, an expression) is not listed. Text that does not
/// split into tokens lists nothing: it was refused before it could be sent.
pub(crate) fn bound_like_patterns(sql: &str) -> Vec<LikePattern> {
    let Ok(tokens) = tokenize(sql) else {
        return Vec::new();
    };
    let code: Vec<&Token> = tokens.iter().filter(|t| **t != Token::Comment).collect();
    let mut found = Vec::new();
    for (i, token) in code.iter().enumerate() {
        if !takes_pattern(token) {
            continue;
        }
        let Some(Token::Param(param)) = code.get(i + 1) else {
            continue;
        };
        let escape = match code.get(i + 2) {
            Some(Token::Ident {
                name,
                quoted: false,
            }) if name == "escape" => match code.get(i + 3) {
                Some(Token::Param(n)) => LikeEscape::Param(*n),
                _ => LikeEscape::Unknown,
            },
            _ => LikeEscape::Backslash,
        };
        found.push(LikePattern {
            param: *param,
            escape,
        });
    }
    found
}

/// The words that end a pattern operand at its own level: what follows a condition, and the
/// clauses after one.
const OPERAND_ENDS: &[&str] = &[
    "and",
    "or",
    "escape",
    "collate",
    "then",
    "when",
    "else",
    "end",
    "from",
    "where",
    "group",
    "order",
    "limit",
    "offset",
    "having",
    "for",
    "returning",
    "union",
    "intersect",
    "except",
    "window",
    "on",
    "is",
    "isnull",
    "notnull",
];

/// The comparison operators, which bind looser than `LIKE`: they end its operand.
const COMPARISONS: &[&str] = &["=", "<>", "!=", "<", ">", "<=", ">="];

/// Refuses a pattern computed from bound values and nothing of a row (`$2 || $3`,
/// `lower($2)`, `ANY ($2)`): PostgreSQL treats it as a constant, so it may run it on other
/// tenants' rows as a bound pattern (see the module), and its value is not one tenancy can
/// read. A bound pattern on its own is read as the statement is sent; one that names a column
/// differs from row to row and is only tested on rows the tenant predicate passed; a literal
/// is the SQL text's own.
pub(super) fn check_computed_patterns(tokens: &[Token]) -> Result<(), SqlTextError> {
    let ends = operand_ends(tokens);
    for (i, token) in tokens.iter().enumerate() {
        if !takes_pattern(token) {
            continue;
        }
        let operand = &tokens[i + 1..ends[i]];
        let params = operand
            .iter()
            .filter(|t| matches!(t, Token::Param(_)))
            .count();
        // A bound pattern on its own, cast or not (`$2::text`): read as it is sent.
        let bare = match operand {
            [Token::Param(_)] => true,
            [Token::Param(_), Token::Operator(cast), ..] => cast == "::" && params == 1,
            _ => false,
        };
        if params > 0 && !bare && !names_a_column(operand) {
            return Err(SqlTextError::ComputedLikePattern);
        }
    }
    Ok(())
}

/// Where the operand that follows each token ends (exclusive): at the first token after it, at
/// the operand's own level, that closes the level (a closing parenthesis), separates (a comma
/// or `;`), is a word that ends an operand, or is a comparison; else at the end of the text.
///
/// One pass from the end, keeping the nearest such token of every level: a level is left only
/// through its closing parenthesis, itself such a token, so the nearest one of the operand's
/// level is where a scan from the operand's start would stop. Scanning each operand on its own
/// took time quadratic in the length of text such as `a LIKE a LIKE ..`.
fn operand_ends(tokens: &[Token]) -> Vec<usize> {
    let mut depth_before = Vec::with_capacity(tokens.len());
    let mut depth = 0i64;
    for token in tokens {
        depth_before.push(depth);
        match token {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => depth -= 1,
            _ => {}
        }
    }
    let mut nearest: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
    let mut ends = vec![tokens.len(); tokens.len()];
    for k in (0..tokens.len()).rev() {
        // The operand after token k starts at its level: token k opens no level when it takes
        // a pattern, and nothing asks for the operand after anything else.
        if let Some(&end) = nearest.get(&depth_before[k]) {
            ends[k] = end;
        }
        if ends_operand(&tokens[k]) {
            nearest.insert(depth_before[k], k);
        }
    }
    ends
}

/// Whether `token`, at an operand's own level, ends it.
fn ends_operand(token: &Token) -> bool {
    match token {
        Token::Punct(')' | ',' | ';') => true,
        Token::Ident {
            name,
            quoted: false,
        } => OPERAND_ENDS.contains(&name.as_str()),
        Token::Operator(op) => COMPARISONS.contains(&op.as_str()),
        _ => false,
    }
}

/// Whether `operand` names something of a row: a name that is neither called (`lower(`) nor a
/// type after `::`.
fn names_a_column(operand: &[Token]) -> bool {
    operand.iter().enumerate().any(|(k, token)| {
        matches!(token, Token::Ident { .. })
            && operand.get(k + 1) != Some(&Token::Punct('('))
            && !(k > 0 && matches!(&operand[k - 1], Token::Operator(op) if op == "::"))
    })
}

/// Whether `pattern` ends with its `escape` character left unescaped, which PostgreSQL fails on
/// the rows the pattern matches up to it. A run of escape characters at the end pairs up from
/// its start (the character in front of it is no escape character, so it begins unescaped):
/// an odd run leaves the last one escaping nothing.
pub(crate) fn ends_with_escape(pattern: &[u8], escape: &[u8]) -> bool {
    if escape.is_empty() {
        return false;
    }
    let mut rest = pattern;
    let mut run = 0usize;
    while let Some(front) = rest.strip_suffix(escape) {
        rest = front;
        run += 1;
    }
    run % 2 == 1
}
