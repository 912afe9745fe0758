//! Which protected tables SQL text names, read as PostgreSQL resolves names: an unquoted name
//! folded to lower case (`GADGETS`, `Public.Gadgets`), a quoted one as written. Text the lexer
//! cannot read as the server would (a `U&"…"` identifier, a backslash whose meaning depends on
//! a setting) may name any table.

use std::collections::BTreeSet;

use super::expr::has_word;
use crate::sql_lexer::{SqlTextError, Token, tokenize};

/// The tables of `protected` that `text` names: as an identifier (or the last part of a
/// qualified name), or, as the raw text has them, inside a string (`'gadgets'::regclass`,
/// `format('%I', 'gadgets')` name a table too). `Err` says why the text cannot be read, so it
/// may name any of them.
pub(super) fn named_tables<'a>(
    text: &str,
    protected: &'a BTreeSet<String>,
) -> Result<BTreeSet<&'a str>, String> {
    let tokens = tokenize(text).map_err(|e| match e {
        SqlTextError::EscapedIdentifier => {
            "names something with a Unicode-escaped identifier (U&\"…\")".to_owned()
        }
        _ => format!("holds text that cannot be read as the server reads it ({e})"),
    })?;
    let names: BTreeSet<&str> = tokens
        .iter()
        .filter_map(|t| match t {
            Token::Ident { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    Ok(protected
        .iter()
        .map(String::as_str)
        .filter(|t| names.contains(t) || has_word(text, t))
        .collect())
}

/// [`named_tables`] of text PostgreSQL printed itself (a view's or rule's definition), which
/// quotes every name that needs it: text the lexer refuses (a string with a backslash) is
/// matched word by word instead.
pub(super) fn printed_tables<'a>(text: &str, protected: &'a BTreeSet<String>) -> BTreeSet<&'a str> {
    named_tables(text, protected).unwrap_or_else(|_| {
        protected
            .iter()
            .map(String::as_str)
            .filter(|t| has_word(text, t))
            .collect()
    })
}

/// The last part of a name that may be qualified, as PostgreSQL resolves it: `public."x.log"`
/// is `x.log`, `Public.Gadgets` is `gadgets`. Text the lexer cannot read is cut at its last
/// dot, unquoted and folded.
pub(super) fn last_name(qualified: &str) -> String {
    let lexed = tokenize(qualified).ok().and_then(|tokens| {
        tokens.into_iter().rev().find_map(|t| match t {
            Token::Ident { name, .. } => Some(name),
            _ => None,
        })
    });
    lexed.unwrap_or_else(|| {
        let last = qualified.rsplit('.').next().unwrap_or(qualified);
        if last.starts_with('"') {
            last.trim_matches('"').replace("\"\"", "\"")
        } else {
            last.to_lowercase()
        }
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::{last_name, named_tables};

    #[test]
    fn the_last_part_of_a_name_is_read_as_postgresql_reads_it() {
        assert_eq!(last_name(r#"public."x.log""#), "x.log");
        assert_eq!(last_name(r#""x.log""#), "x.log");
        assert_eq!(last_name("Public.Gadgets"), "gadgets");
        assert_eq!(last_name(r#""Mixed_sink""#), "Mixed_sink");
        assert_eq!(last_name("é_sink"), "é_sink");
        assert_eq!(last_name(r#""a""b""#), r#"a"b"#);
    }

    fn protected() -> BTreeSet<String> {
        ["gadgets", "Mixed"].map(str::to_owned).into()
    }

    #[test]
    fn unquoted_names_fold_and_quoted_ones_stay_as_written() {
        let p = protected();
        let named = |text: &str| named_tables(text, &p).unwrap();
        assert_eq!(named("SELECT name FROM GADGETS"), ["gadgets"].into());
        assert_eq!(named("SELECT name FROM Public.Gadgets"), ["gadgets"].into());
        assert_eq!(
            named(r#"SELECT name FROM "public"."gadgets""#),
            ["gadgets"].into()
        );
        assert_eq!(named(r#"SELECT 1 FROM "Mixed""#), ["Mixed"].into());
        // Quoted, `GADGETS` is another table.
        assert!(named(r#"SELECT 1 FROM "GADGETS""#).is_empty());
        // A name in a string may be read as one.
        assert_eq!(named("SELECT 'gadgets'::regclass"), ["gadgets"].into());
    }

    #[test]
    fn text_the_lexer_cannot_read_may_name_any_table() {
        let p = protected();
        assert!(named_tables(r#"SELECT name FROM U&"gadg\0065ts""#, &p).is_err());
        assert!(named_tables("SELECT 'unterminated", &p).is_err());
    }
}
