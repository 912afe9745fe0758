//! TEN075: triggers that carry tenant rows to where every tenant reads them. A trigger on a
//! tenant table (or on the tenants table, or a private one) sees each row written (`NEW`,
//! `OLD`); if its function writes into a table or view that no policy covers and the
//! application role may read, one tenant's rows become every tenant's, whatever the policies
//! of the table they came from say.

use std::collections::BTreeSet;

use super::CheckOptions;
use super::catalog::Catalog;
use super::expr::has_word;
use super::report::Findings;
use crate::sql_lexer::{Token, tokenize};

pub(super) fn check_trigger_sinks(
    f: &mut Findings,
    catalog: &Catalog,
    protected: &BTreeSet<String>,
    o: &CheckOptions,
) {
    let shared: BTreeSet<&str> = catalog
        .shared
        .iter()
        .map(String::as_str)
        .filter(|name| !protected.contains(*name))
        .collect();
    for t in &catalog.triggers {
        if !protected.contains(&t.table_name) {
            continue;
        }
        // Functions in C come with PostgreSQL or an extension (`tsvector_update_trigger`,
        // `moddatetime`); their code is not text to read.
        if matches!(t.language.as_str(), "c" | "internal") {
            continue;
        }
        let sinks: BTreeSet<&str> = written_tables(&t.body, &t.language)
            .into_iter()
            .filter_map(|name| shared.get(name.as_str()).copied())
            .collect();
        if sinks.is_empty() {
            continue;
        }
        let sinks = sinks.into_iter().collect::<Vec<_>>().join(", ");
        f.add(
            "TEN075",
            &t.name,
            format!(
                "it writes into {sinks}, which has no row level security and which `{}` may read: the rows one tenant writes to `{}` reach every tenant",
                o.app_role, t.table_name
            ),
            format!(
                "give {sinks} the tenant column and the tenant policies (or REVOKE SELECT ON {sinks} FROM {}, PUBLIC), or drop the trigger",
                o.app_role
            ),
        );
    }
}

/// The tables `body` writes with `INSERT INTO`, `UPDATE` or `MERGE INTO` (the last part of a
/// qualified name), read with tenancy's lexer. Code in another language than SQL and
/// PL/pgSQL (whose statements sit in its strings), or text the lexer refuses, is searched for
/// words instead: once it writes at all, every name it holds counts.
fn written_tables(body: &str, language: &str) -> Vec<String> {
    if !matches!(language, "sql" | "plpgsql") {
        return fallback(body);
    }
    let Ok(tokens) = tokenize(body) else {
        return fallback(body);
    };
    let tokens: Vec<&Token> = tokens
        .iter()
        .filter(|t| !matches!(t, Token::Comment))
        .collect();
    let keyword = |i: usize, word: &str| matches!(tokens.get(i), Some(Token::Ident { name, quoted: false }) if name == word);
    let mut out = Vec::new();
    for i in 0..tokens.len() {
        let mut at = if (keyword(i, "insert") || keyword(i, "merge")) && keyword(i + 1, "into") {
            i + 2
        } else if keyword(i, "update") {
            i + 1
        } else {
            continue;
        };
        if keyword(at, "only") {
            at += 1;
        }
        // `schema.table`: the name is the part after the last dot.
        while matches!(tokens.get(at + 1), Some(Token::Punct('.')))
            && matches!(tokens.get(at + 2), Some(Token::Ident { .. }))
        {
            at += 2;
        }
        if let Some(Token::Ident { name, .. }) = tokens.get(at) {
            out.push(name.clone());
        }
    }
    out
}

fn fallback(body: &str) -> Vec<String> {
    let lower = body.to_ascii_lowercase();
    if !["insert", "update", "merge"]
        .iter()
        .any(|w| has_word(&lower, w))
    {
        return Vec::new();
    }
    lower
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::written_tables;

    #[test]
    fn writes_are_found_with_their_tables() {
        let body = "BEGIN
            INSERT INTO public.gadget_log (name) VALUES (NEW.name);
            UPDATE ONLY \"Counters\" SET n = n + 1 WHERE id = 1;
            MERGE INTO totals t USING (SELECT 1) s ON true WHEN MATCHED THEN DO NOTHING;
            PERFORM 1 FROM readonly_table; -- INSERT INTO commented
            NEW.updated_at := now();
            RETURN NEW;
        END";
        assert_eq!(
            written_tables(body, "plpgsql"),
            ["gadget_log", "Counters", "totals"]
        );
        assert!(
            written_tables("BEGIN NEW.updated_at := now(); RETURN NEW; END", "plpgsql").is_empty()
        );
        // Another language is searched for its words once it writes.
        let found = written_tables(
            "plpy.execute(\"INSERT INTO gadget_log VALUES ('x')\")",
            "plpython3u",
        );
        assert!(found.iter().any(|w| w == "gadget_log"), "{found:?}");
    }
}
