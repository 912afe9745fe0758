//! The rules about code that runs with its owner's rights (SECURITY DEFINER functions, views
//! without security_invoker): it reads tenant tables around the caller's policies.

use std::collections::{BTreeMap, BTreeSet};

use super::CheckOptions;
use super::catalog::{Catalog, FunctionRow, RoutineRow, reviewed};
use super::expr::has_word;
use super::functions::Tenancys;
use super::named_tables::{named_tables, printed_tables};
use super::report::Findings;
use super::triggers::called;
use crate::sql_lexer::DYNAMIC_SQL;

pub(super) fn check_definers_and_views(
    f: &mut Findings,
    catalog: &Catalog,
    protected: &BTreeSet<String>,
    o: &CheckOptions,
    tenancys: &Tenancys,
) {
    let reads = |text: &str| printed_tables(text, protected);
    for r in &catalog.routines {
        if reviewed(r.comment.as_deref()) {
            continue;
        }
        let Some(what) = what_it_reads(r, catalog, protected, tenancys) else {
            continue;
        };
        let by = catalog.run_by(&r.role, &o.app_role);
        let from = if catalog.app_and_logins.contains(&r.role) {
            o.app_role.clone()
        } else {
            format!("{} and {}", o.app_role, r.role)
        };
        f.add("TEN070", format!("function {}", r.name), format!("SECURITY DEFINER, run by {by} (called, or fired as a trigger by its writes), {what}: it runs with its owner's rights, outside the caller's policies"), format!("make it SECURITY INVOKER, or REVOKE EXECUTE from {from} — or, once reviewed to return only the current tenant's rows, COMMENT ON FUNCTION {} IS 'tenancy: reviewed: <why it is safe>'", r.name));
    }
    // A rule's actions run with its owner's rights (PostgreSQL checks them, row level
    // security included, as the rule owner), so a rule that touches a tenant table moves rows
    // around the caller's policies just as a view does.
    for r in &catalog.rules {
        let mut read = reads(&r.definition);
        // A rule on a view over a tenant table gets that table's rows as NEW and OLD.
        read.extend(
            catalog
                .write_reach
                .iter()
                .filter(|e| {
                    e.from_view
                        && protected.contains(&e.to_rel)
                        && has_word(&r.definition, &e.from_rel)
                })
                .map(|e| e.to_rel.as_str()),
        );
        if !read.is_empty() {
            f.add("TEN071", &r.name, format!("`{}` fires it, and its actions touch {} with its owner's rights, bypassing their policies", o.app_role, read.into_iter().collect::<Vec<_>>().join(", ")), format!("DROP {} (a trigger, which runs as the caller, does the same job)", r.name.replacen("rule ", "RULE ", 1).replacen(" on ", " ON ", 1)));
        }
    }
    for v in &catalog.views {
        // What its text names, and what it reads through other views (its dependencies).
        let mut read = reads(&v.definition);
        read.extend(
            v.reads
                .iter()
                .map(String::as_str)
                .filter(|r| protected.contains(*r) || sensitive(r)),
        );
        read.extend(v.copies.iter().map(String::as_str));
        // PostgreSQL records no dependency on its own catalogs: those go by the text.
        read.extend(
            SENSITIVE_CATALOGS
                .iter()
                .copied()
                .filter(|c| has_word(&v.definition, c)),
        );
        if !read.is_empty() && !v.security_invoker {
            let (who, from) = if catalog.app_and_logins.contains(&v.role) {
                (
                    format!("`{}` (or a login of it)", o.app_role),
                    format!("{} and its logins", o.app_role),
                )
            } else {
                (
                    format!(
                        "a session of `{}` acts as `{}` ({}), which",
                        o.app_role,
                        v.role,
                        catalog.how_acting_as(&v.role)
                    ),
                    v.role.clone(),
                )
            };
            f.add("TEN071", format!("view {}", v.name), format!("{who} can use it and it covers {} with its owner's rights, bypassing their policies", read.into_iter().collect::<Vec<_>>().join(", ")), format!("ALTER VIEW {} SET (security_invoker = true), or REVOKE ALL ON {} FROM {from}", v.name, v.name));
        }
    }
}

/// What SECURITY DEFINER function `r` reads that TEN070 reports, if anything: the protected
/// tables it names, itself or through the helpers it calls, or why which it reads cannot be
/// seen.
fn what_it_reads(
    r: &RoutineRow,
    catalog: &Catalog,
    protected: &BTreeSet<String>,
    tenancys: &Tenancys,
) -> Option<String> {
    let reads = |text: &str| printed_tables(text, protected);
    // Its code read as the server reads it, and its whole definition (a row type it
    // takes or returns) word by word. Code that cannot be read may name any table: it is
    // reported as code whose reads cannot be seen.
    let mut read = reads(&r.body);
    let unreadable = match named_tables(&r.source, protected) {
        Ok(named) => {
            read.extend(named);
            None
        }
        Err(why) => Some(format!("its text {why}")),
    };
    // A helper it calls (SECURITY INVOKER) runs with the definer's owner's rights: what the
    // helper reads, the definer hands out.
    let mut unreadable_helper = None;
    let mut through: BTreeSet<&str> = BTreeSet::new();
    for helper in helpers(&r.body, &catalog.functions, tenancys) {
        match named_tables(&helper.body, protected) {
            Ok(named) => through.extend(named.into_iter().filter(|t| !read.contains(t))),
            Err(why) => {
                unreadable_helper
                    .get_or_insert_with(|| format!("calls {}, whose text {why}", helper.name));
            }
        }
    }
    Some(if !read.is_empty() {
        format!("reads {}", read.into_iter().collect::<Vec<_>>().join(", "))
    } else if !through.is_empty() {
        format!(
            "reads {} through the functions it calls",
            through.into_iter().collect::<Vec<_>>().join(", ")
        )
    } else if let Some(how) = runs_unseen_sql(&r.body, &r.language)
        .or(unreadable)
        .or(unreadable_helper)
    {
        format!("{how}, so which tables it reads cannot be seen from its text")
    } else if r.owner_bypasses {
        // Its text names no protected table, but a function, view or escaped name it
        // uses may read one, and its owner's rights reach every tenant's rows.
        "is owned by a role that skips row level security, so whatever it reaches through the functions and views it calls it reaches for every tenant".to_owned()
    } else {
        return None;
    })
}

/// The functions `body` calls by name, through any number of calls, leaving out tenancy's own
/// (compared with its migrations by TEN072).
pub(super) fn helpers<'a>(
    body: &str,
    functions: &'a BTreeMap<String, Vec<FunctionRow>>,
    tenancys: &Tenancys,
) -> Vec<&'a FunctionRow> {
    let mut out = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut queue: Vec<String> = called(body);
    while let Some(name) = queue.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        for f in functions.get(&name).into_iter().flatten() {
            if tenancys.owns(f.tenancys, &f.name) {
                continue;
            }
            out.push(f);
            queue.extend(called(&f.body));
        }
    }
    out
}

/// Relations outside the checked schema that a view must not hand out with its owner's
/// rights: the planner's samples of every tenant's values, other roles' credentials, the large
/// objects, and tenancy's own state (the context key, the sessions' nonces).
fn sensitive(relation: &str) -> bool {
    relation.starts_with("tenancy.") || SENSITIVE_CATALOGS.contains(&relation)
}

/// PostgreSQL's catalogs among those: its samples of every column, credentials, large objects.
const SENSITIVE_CATALOGS: &[&str] = &[
    "pg_statistic",
    "pg_statistic_ext_data",
    "pg_authid",
    "pg_user_mapping",
    "pg_subscription",
    "pg_largeobject",
];

/// How a function body runs SQL that its text does not name: a statement built at run time
/// (PL/pgSQL's `EXECUTE`), a built-in that runs SQL given as text or reads a table by name
/// (`query_to_xml`, `table_to_xml`), or a language other than SQL and PL/pgSQL, whose code
/// may query anything.
fn runs_unseen_sql(body: &str, language: &str) -> Option<String> {
    if !matches!(language, "sql" | "plpgsql") {
        return Some(format!("is written in {language}"));
    }
    builds_statements(body, language)
}

/// How a SQL or PL/pgSQL body runs SQL it builds at run time: PL/pgSQL's `EXECUTE`, or a
/// built-in that runs SQL given as text or reads a table by name (`query_to_xml`,
/// `table_to_xml`). Row code that does may write anywhere (TEN075).
pub(super) fn builds_statements(body: &str, language: &str) -> Option<String> {
    let upper = body.to_ascii_uppercase();
    if language == "plpgsql" && has_word(&upper, "EXECUTE") {
        return Some("runs statements built at run time (EXECUTE)".to_owned());
    }
    let lower = body.to_ascii_lowercase();
    DYNAMIC_SQL
        .iter()
        .find(|f| has_word(&lower, f))
        .map(|f| format!("calls {f}, which runs SQL given as text or reads a table by name"))
}
