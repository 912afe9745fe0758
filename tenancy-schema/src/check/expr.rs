//! Reading policy and function text. The catalog gives expressions as PostgreSQL prints them
//! (`pg_get_expr`, `pg_get_functiondef`), so the rules match words in that text instead of
//! parsing SQL.

use super::catalog::PolicyRow;
use crate::sql_lexer::{Token, tokenize};

/// Whether an expression reads the tenant context.
pub(super) fn reads_tenant_context(expr: &str) -> bool {
    expr.contains("current_tenant()") || expr.contains("'tenancy.tenant_id'")
}

/// `expr` with the once-per-statement form of the context functions written as plain calls,
/// the native context's C readers, which `tenancy.enable_native_context()` writes into the
/// policies in place of the SQL readers that call them, as the SQL readers, and the tenant
/// equality written the other way round (`tenancy.current_tenant() = tenant_id`, which means
/// the same) as the rules read it.
pub(super) fn once_per_statement_as_call(expr: &str) -> String {
    column_first(&readers_as_calls(expr))
}

fn readers_as_calls(expr: &str) -> String {
    expr.replace(
        "tenancy_context.current_tenant()",
        "tenancy.current_tenant()",
    )
    .replace(
        "tenancy_context.current_principal()",
        "tenancy.current_principal()",
    )
    .replace(
        "( SELECT tenancy.current_tenant() AS current_tenant)",
        "tenancy.current_tenant()",
    )
    .replace(
        "( SELECT tenancy.current_principal() AS current_principal)",
        "tenancy.current_principal()",
    )
}

/// `(tenancy.current_tenant() = <column>)` as `(<column> = tenancy.current_tenant())`: `=` on
/// uuid is its own commutator. Only a column ([`column_len`]) closing the parenthesis is
/// turned round, so nothing else the expression says changes.
fn column_first(expr: &str) -> String {
    const READER: &str = "(tenancy.current_tenant() = ";
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(at) = rest.find(READER) {
        out.push_str(&rest[..at]);
        let after = &rest[at + READER.len()..];
        match column_len(after) {
            Some(len) if after[len..].starts_with(')') => {
                out.push('(');
                out.push_str(&after[..len]);
                out.push_str(" = tenancy.current_tenant())");
                rest = &after[len + 1..];
            }
            _ => {
                out.push_str(READER);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The length of the identifier `text` opens with, as `PostgreSQL` prints one: plain
/// (`[A-Za-z_][A-Za-z0-9_$]*`) or quoted with doubled quotes inside.
fn identifier_len(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    match bytes.first()? {
        b'"' => {
            let mut i = 1;
            while i < bytes.len() {
                if bytes[i] == b'"' {
                    if bytes.get(i + 1) == Some(&b'"') {
                        i += 2;
                        continue;
                    }
                    return (i > 1).then_some(i + 1);
                }
                i += 1;
            }
            None
        }
        c if c.is_ascii_alphabetic() || *c == b'_' => Some(
            bytes
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_' || **c == b'$')
                .count(),
        ),
        _ => None,
    }
}

/// The cast PostgreSQL prints on a column whose type is a domain over uuid where it compares
/// it as uuid: `(tenant_id)::uuid`.
const AS_UUID: &str = ")::uuid";

/// The length of the column `text` opens with as a policy prints it: an identifier
/// ([`identifier_len`]), or one in parentheses cast to uuid ([`AS_UUID`]).
fn column_len(text: &str) -> Option<usize> {
    if let Some(inner) = text.strip_prefix('(') {
        let len = identifier_len(inner)?;
        return inner[len..]
            .starts_with(AS_UUID)
            .then_some(1 + len + AS_UUID.len());
    }
    identifier_len(text)
}

/// `true`-ish: the whole expression is the constant true.
pub(super) fn always_true(expr: &str) -> bool {
    let e = expr
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .trim();
    e.eq_ignore_ascii_case("true")
}

/// Whether SQL text `expr` uses the key word `word` (lower case) as SQL: not inside a string
/// literal (`'either or'`) or a quoted name (`"select"`). Text the lexer refuses is searched
/// word by word, which can only find more.
pub(super) fn has_keyword(expr: &str, word: &str) -> bool {
    match tokenize(expr) {
        Ok(tokens) => tokens
            .iter()
            .any(|t| matches!(t, Token::Ident { name, quoted: false } if name == word)),
        Err(_) => has_word(&expr.to_ascii_lowercase(), word),
    }
}

pub(super) fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        boundary(before) && boundary(after)
    })
}

/// Whether a policy expression has the tenant predicate on `col` as its first top-level
/// conjunct, in the plain call or the once-per-statement form: `PostgreSQL` prints every
/// boolean operand in parentheses, so the prefix `((<predicate>) AND ` can only open an `AND`
/// at the top. `None` (no such clause) has nothing to narrow. The rule of the SQL function
/// `tenancy.carries_tenant_predicate`, which the coordinator's policy guard uses.
pub(super) fn carries_tenant_predicate(expr: Option<&str>, col: &str) -> bool {
    let Some(expr) = expr else { return true };
    let expr = once_per_statement_as_call(expr);
    // PostgreSQL prints a name that needs quoting (`"OrgId"`, a keyword) quoted, and others
    // bare; the exact comparison keeps `OrgId` apart from a column `orgid`.
    let quoted = format!("\"{}\"", col.replace('"', "\"\""));
    let as_uuid = [format!("({col}{AS_UUID}"), format!("({quoted}{AS_UUID}")];
    [col, quoted.as_str(), &as_uuid[0], &as_uuid[1]]
        .into_iter()
        .any(|name| {
            let predicate = format!("({name} = tenancy.current_tenant())");
            // PostgreSQL breaks the line after AND before some operands (a CASE).
            expr == predicate
                || expr
                    .strip_prefix(&format!("({predicate} AND"))
                    .is_some_and(|rest| rest.starts_with(char::is_whitespace))
        })
}

/// Whether a policy expression is held to the tenant: [`carries_tenant_predicate`] on some
/// column ([`column_len`]). An expression that merely names the context
/// (`tenancy.current_tenant() IS NULL OR ..`) is not. The rule of `TENANT_BOUNDED` in the
/// catalog queries.
pub(super) fn bounded_by_tenant(expr: &str) -> bool {
    let e = once_per_statement_as_call(expr);
    let Some(at) = e.find(" = tenancy.current_tenant())") else {
        return false;
    };
    // Alone, `(<column> = ..)`; opening an AND, `((<column> = ..) AND ..)`.
    [1, 2].into_iter().any(|start| {
        e.get(start..at).is_some_and(|col| {
            column_len(col) == Some(col.len()) && carries_tenant_predicate(Some(expr), col)
        })
    })
}

pub(super) fn policy_applies_to_all_commands_with_tenant_predicate(
    p: &PolicyRow,
    tenant_col: &str,
) -> bool {
    let is_tenant = |e: &Option<String>| {
        e.as_deref()
            .is_some_and(|e| reads_tenant_context(e) && has_word(e, tenant_col))
    };
    p.cmd == "*" && is_tenant(&p.using) && is_tenant(&p.check)
}

#[cfg(test)]
mod tests {
    #[test]
    fn key_words_in_literals_and_quoted_names_are_not_sql() {
        use super::has_keyword;
        assert!(!has_keyword("(kind <> 'either or'::text)", "or"));
        assert!(!has_keyword(r#"("select" = 'it''s')"#, "select"));
        assert!(has_keyword("((a = 1) OR (b = 2))", "or"));
        assert!(has_keyword("(a IN ( SELECT 1))", "select"));
        assert!(!has_keyword("(ordered AND selected)", "or"));
        // Text the lexer refuses is searched word by word.
        assert!(has_keyword("(a = 'open OR", "or"));
    }

    #[test]
    fn a_line_break_after_the_leading_and_still_carries_the_predicate() {
        assert!(super::carries_tenant_predicate(
            Some(
                "((tenant_id = tenancy.current_tenant()) AND\nCASE\n    WHEN archived THEN false\n    ELSE true\nEND)"
            ),
            "tenant_id"
        ));
        assert!(!super::carries_tenant_predicate(
            Some("((tenant_id = tenancy.current_tenant()) ANDx)"),
            "tenant_id"
        ));
    }

    use super::*;

    #[test]
    fn expression_helpers() {
        assert!(has_word("a OR b", "OR"));
        assert!(!has_word("ORDER BY", "OR"));
        assert!(has_word("(tenant_id = x)", "tenant_id"));
        assert!(!has_word("other_tenant_id = x", "tenant_id"));
        assert!(always_true("true"));
        assert!(always_true("(true)"));
        assert!(!always_true("(tenant_id = tenancy.current_tenant())"));
        assert!(reads_tenant_context(
            "(tenant_id = tenancy.current_tenant())"
        ));
        assert!(reads_tenant_context(
            "(NULLIF(current_setting('tenancy.tenant_id'::text, true), ''::text))::uuid"
        ));
    }

    #[test]
    fn the_tenant_predicate_must_open_a_top_level_and() {
        let call = "(tenant_id = tenancy.current_tenant())";
        assert!(carries_tenant_predicate(Some(call), "tenant_id"));
        assert!(carries_tenant_predicate(None, "tenant_id"));
        // A name PostgreSQL prints quoted.
        let quoted = "(\"OrgId\" = tenancy.current_tenant())";
        assert!(carries_tenant_predicate(Some(quoted), "OrgId"));
        assert!(!carries_tenant_predicate(Some(quoted), "orgid"));
        assert!(!carries_tenant_predicate(
            Some("(orgid = tenancy.current_tenant())"),
            "OrgId"
        ));
        assert!(carries_tenant_predicate(
            Some("((tenant_id = tenancy.current_tenant()) AND (deleted_at IS NULL))"),
            "tenant_id"
        ));
        assert!(carries_tenant_predicate(
            Some("(tenant_id = ( SELECT tenancy.current_tenant() AS current_tenant))"),
            "tenant_id"
        ));
        // As enable_native_context() writes them: the C readers named in the policy.
        assert!(carries_tenant_predicate(
            Some("(tenant_id = ( SELECT tenancy_context.current_tenant() AS current_tenant))"),
            "tenant_id"
        ));
        assert!(carries_tenant_predicate(
            Some("(tenant_id = tenancy_context.current_tenant())"),
            "tenant_id"
        ));
        for widened in [
            "(deleted_at IS NULL)",
            "((tenant_id = tenancy.current_tenant()) OR (deleted_at IS NULL))",
            "(((tenant_id = tenancy.current_tenant()) AND (a)) OR (b))",
            "((deleted_at IS NULL) AND (tenant_id = tenancy.current_tenant()))",
            "true",
        ] {
            assert!(
                !carries_tenant_predicate(Some(widened), "tenant_id"),
                "{widened}"
            );
        }
        assert!(!carries_tenant_predicate(Some(call), "org_id"));
    }

    #[test]
    fn the_tenant_equality_reads_the_same_either_way_round() {
        for reversed in [
            "(tenancy.current_tenant() = tenant_id)",
            "(( SELECT tenancy.current_tenant() AS current_tenant) = tenant_id)",
            "(tenancy_context.current_tenant() = tenant_id)",
            "((tenancy.current_tenant() = tenant_id) AND (deleted_at IS NULL))",
        ] {
            assert!(
                carries_tenant_predicate(Some(reversed), "tenant_id"),
                "{reversed}"
            );
            assert!(bounded_by_tenant(reversed), "{reversed}");
        }
        assert!(bounded_by_tenant(
            "(tenancy.current_tenant() = \"Org \"\"x\"\"\")"
        ));
        for open in [
            "(tenancy.current_tenant() = other_id)",
            "(tenancy.current_tenant() = tenant_id::text::uuid)",
            "((tenancy.current_tenant() = tenant_id) OR true)",
            "(tenancy.current_tenant() = (tenant_id))",
            "(tenancy.current_tenant() = \"\")",
        ] {
            assert!(!carries_tenant_predicate(Some(open), "tenant_id"), "{open}");
        }
        assert!(!bounded_by_tenant(
            "((tenancy.current_tenant() = tenant_id) OR true)"
        ));
    }

    #[test]
    fn a_column_of_a_domain_over_uuid_is_read_through_its_cast() {
        for printed in [
            "((tenant_id)::uuid = tenancy.current_tenant())",
            "((tenant_id)::uuid = ( SELECT tenancy.current_tenant() AS current_tenant))",
            "(((tenant_id)::uuid = tenancy.current_tenant()) AND (deleted_at IS NULL))",
            "(tenancy.current_tenant() = (tenant_id)::uuid)",
            "((tenancy_context.current_tenant() = (tenant_id)::uuid) AND\nCASE\n    WHEN a THEN true\n    ELSE false\nEND)",
        ] {
            assert!(
                carries_tenant_predicate(Some(printed), "tenant_id"),
                "{printed}"
            );
            assert!(bounded_by_tenant(printed), "{printed}");
        }
        assert!(carries_tenant_predicate(
            Some("((\"Org\")::uuid = tenancy.current_tenant())"),
            "Org"
        ));
        for open in [
            "((tenant_id)::text = tenancy.current_tenant())",
            "(((tenant_id)::uuid = tenancy.current_tenant()) OR true)",
            "(((tenant_id)::uuid)::uuid = tenancy.current_tenant())",
            "((tenant_id::uuid = tenancy.current_tenant())",
        ] {
            assert!(!carries_tenant_predicate(Some(open), "tenant_id"), "{open}");
            assert!(!bounded_by_tenant(open), "{open}");
        }
        // Held to the tenant, on a column other than this one.
        let other = "((other_id)::uuid = tenancy.current_tenant())";
        assert!(!carries_tenant_predicate(Some(other), "tenant_id"));
        assert!(bounded_by_tenant(other));
    }

    #[test]
    fn bounded_by_the_tenant_on_some_column() {
        for bounded in [
            "(tenant_id = tenancy.current_tenant())",
            "(id = ( SELECT tenancy.current_tenant() AS current_tenant))",
            "((org_id = tenancy_context.current_tenant()) AND (deleted_at IS NULL))",
            "(\"Tenant\" = tenancy.current_tenant())",
        ] {
            assert!(bounded_by_tenant(bounded), "{bounded}");
        }
        for open in [
            "((tenancy.current_tenant() IS NULL) OR (tenancy.current_tenant() IS NOT NULL))",
            "(tenancy.current_tenant() IS NOT NULL)",
            "((tenant_id = tenancy.current_tenant()) OR true)",
            "(((tenant_id = tenancy.current_tenant()) AND (a)) OR (b))",
            "((a = b) AND (tenant_id = tenancy.current_tenant()))",
            "true",
        ] {
            assert!(!bounded_by_tenant(open), "{open}");
        }
    }
}
