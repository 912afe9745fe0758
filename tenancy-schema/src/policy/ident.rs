//! Names written into SQL as PostgreSQL reads them back: `Gadgets` unquoted is the table
//! `gadgets`, and `user` is a keyword, so SQL written with them as they stand changes another
//! table or fails.

use std::borrow::Cow;

/// The keywords PostgreSQL does not take as a bare table, column or policy name: its reserved
/// ones, and those reserved but for function and type names.
const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "binary",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "group",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "intersect",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "natural",
    "not",
    "notnull",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "outer",
    "overlaps",
    "placing",
    "primary",
    "references",
    "returning",
    "right",
    "select",
    "session_user",
    "similar",
    "some",
    "symmetric",
    "system_user",
    "table",
    "tablesample",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
];

/// `name` as an identifier in SQL: as it is when PostgreSQL reads it back unchanged, in
/// double quotes (each inner one doubled) otherwise, as PostgreSQL's own `quote_ident` writes
/// it.
///
/// ```
/// use tenancy_schema::policy::{quote_ident, tenant_policies};
///
/// assert_eq!(quote_ident("notes"), "notes");
/// assert_eq!(quote_ident("Notes"), "\"Notes\"");
/// assert_eq!(quote_ident("user"), "\"user\"");
/// let sql = tenant_policies(&quote_ident("Notes"), "tenant_id", "tenancy_app");
/// assert!(sql.starts_with("ALTER TABLE \"Notes\" ENABLE ROW LEVEL SECURITY"));
/// ```
#[must_use]
pub fn quote_ident(name: &str) -> Cow<'_, str> {
    let plain = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'$')
        && RESERVED.binary_search(&name).is_err();
    if plain {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(format!("\"{}\"", name.replace('"', "\"\"")))
    }
}

#[cfg(test)]
mod tests {
    use super::quote_ident as ident;

    #[test]
    fn names_are_quoted_only_where_postgresql_would_read_them_otherwise() {
        assert_eq!(ident("gadgets"), "gadgets");
        assert_eq!(ident("tenant_id"), "tenant_id");
        assert_eq!(ident("Gadgets"), "\"Gadgets\"");
        assert_eq!(ident("user"), "\"user\"");
        assert_eq!(ident("Open Policy"), "\"Open Policy\"");
        assert_eq!(ident("notes(v2"), "\"notes(v2\"");
        assert_eq!(ident("1st"), "\"1st\"");
        assert_eq!(ident("é"), "\"é\"");
        assert_eq!(ident(r#"a"b"#), r#""a""b""#);
        assert_eq!(ident(""), "\"\"");
    }

    #[test]
    fn the_keyword_list_is_sorted_and_lower_case() {
        assert!(super::RESERVED.windows(2).all(|w| w[0] < w[1]));
        assert!(
            super::RESERVED
                .iter()
                .all(|k| k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        );
    }
}
