//! TEN075: row code that carries tenant rows to where every tenant reads them. A trigger on a
//! tenant table (or on the tenants table, or a private one) sees each row written (`NEW`,
//! `OLD`), and so does a function that one of its CHECK constraints, column defaults or index
//! expressions calls (or the expressions of its statistics objects, which ANALYZE runs on every
//! tenant's rows, and of its policies, which run on every row a statement reads); if that code, or a function it calls, writes into a table or view that
//! no policy covers (or whose policy does not read the tenant context) and the application
//! role may read, one tenant's rows become every tenant's, whatever the policies of the table
//! they came from say. Code that builds its statements at run time may write anywhere. So does
//! a trigger's WHEN condition, an operator's function, a domain's CHECK constraint of a column,
//! and a trigger on a partition kept in another schema; and a row sent out with NOTIFY reaches
//! every session of the login that LISTENs.

use std::collections::{BTreeMap, BTreeSet};

use super::CheckOptions;
use super::catalog::{Catalog, FunctionRow, TriggerRow};
use super::definers::builds_statements;
use super::expr::has_word;
use super::functions::Tenancys;
use super::report::Findings;
use crate::sql_lexer::{Token, tokenize};

pub(super) fn check_trigger_sinks(
    f: &mut Findings,
    catalog: &Catalog,
    protected: &BTreeSet<String>,
    o: &CheckOptions,
    tenancys: &Tenancys,
) {
    let shared = shared_tables(catalog, protected);
    for t in &catalog.triggers {
        if !on_tenant_rows(t, catalog, protected) {
            continue;
        }
        let Some(reach) = row_code_reach(t, catalog, tenancys, Removals::Left) else {
            continue;
        };
        let (reach, written) =
            with_their_row_code(reach, catalog, protected, tenancys, Removals::Left);
        let mut sinks = shared_written(&reach, &written, &shared);
        if !reach.dynamic {
            report_probes(f, catalog, protected, o, t, &written, &sinks);
        }
        // A sequence is written too: setval() puts a value of the row there, and a nextval()
        // run or not by what the row says tells it bit by bit; whoever may read the sequence
        // reads it. A call whose sequence is not a literal may set any of them.
        let sequences: Vec<&str> = catalog
            .readable_sequences
            .iter()
            .filter(|s| {
                reach.dynamic
                    || reach.any_sequence
                    || reach.sequences.contains(&s.name.to_lowercase())
            })
            .map(|s| s.relation.as_str())
            .collect();
        if !sequences.is_empty() {
            let sequences = sequences.join(", ");
            f.add(
                "TEN075",
                &t.name,
                format!(
                    "it {} sequence {sequences}, whose value `{}` (or a role its sessions act as) may read (SELECT, USAGE or UPDATE on it): a value of the rows one tenant writes to `{}`, set with setval() or told bit by bit by whether nextval() runs, reaches every tenant",
                    if reach.dynamic || reach.any_sequence {
                        "calls setval() or nextval() (itself or through a function it calls) on a sequence it names at run time, which may be"
                    } else {
                        "calls setval() or nextval() (itself or through a function it calls) on"
                    },
                    o.app_role,
                    t.table_name
                ),
                format!(
                    "REVOKE ALL ON SEQUENCE {sequences} FROM {}, PUBLIC (and from the roles its sessions act as), or take the setval()/nextval() call out of the row code",
                    o.app_role
                ),
            );
        }
        sinks.extend(reach.outlets.iter().map(|outlet| (*outlet).to_owned()));
        if sinks.is_empty() {
            continue;
        }
        let sinks = sinks.into_iter().collect::<Vec<_>>().join(", ");
        f.add(
            "TEN075",
            &t.name,
            format!(
                "it {} {sinks}, which no policy keeps to a tenant and which `{}` may read: the rows one tenant writes to `{}` reach every tenant",
                if reach.dynamic {
                    "builds statements at run time (EXECUTE, or a function that runs SQL given as text), which may write into"
                } else {
                    "writes (itself, through a function it calls, or through the row code of a table it writes) into"
                },
                o.app_role,
                t.table_name
            ),
            format!(
                "give {sinks} the tenant column and the tenant policies (or REVOKE SELECT ON {sinks} FROM {}, PUBLIC, and from the roles its sessions act as, and make a view that shows it security_invoker), or drop the trigger",
                o.app_role
            ),
        );
    }
}

/// Whether row code `t` runs on tenant rows: those of the table it is on, or, for a view's
/// INSTEAD OF triggers, of the tables under it.
pub(super) fn on_tenant_rows(
    t: &TriggerRow,
    catalog: &Catalog,
    protected: &BTreeSet<String>,
) -> bool {
    protected.contains(&t.table_name)
        || t.tenant_rows_elsewhere
        || catalog
            .write_reach
            .iter()
            .any(|e| e.from_view && e.from_rel == t.table_name && protected.contains(&e.to_rel))
}

/// The tables of `catalog.shared` that hold no tenant rows: no policy keeps them to a tenant,
/// and the application role may read them.
pub(super) fn shared_tables<'a>(
    catalog: &'a Catalog,
    protected: &BTreeSet<String>,
) -> BTreeSet<&'a str> {
    catalog
        .shared
        .iter()
        .map(String::as_str)
        .filter(|name| !protected.contains(*name))
        .collect()
}

/// The tables of `shared` that row code reaching `reach` writes (`written`, with the row code
/// of what it writes): every one when it builds statements at run time.
pub(super) fn shared_written(
    reach: &Reach,
    written: &BTreeSet<String>,
    shared: &BTreeSet<&str>,
) -> BTreeSet<String> {
    if reach.dynamic {
        shared.iter().map(|s| (*s).to_owned()).collect()
    } else {
        written
            .iter()
            .filter(|name| shared.contains(name.as_str()))
            .cloned()
            .collect()
    }
}

/// A unique key answers whoever may insert a value whether it is there, rows it may not read
/// included: row code that writes one tenant's values into a table with one (no tenant table,
/// and not already a sink) tells every tenant what they are.
fn report_probes(
    f: &mut Findings,
    catalog: &Catalog,
    protected: &BTreeSet<String>,
    o: &CheckOptions,
    t: &TriggerRow,
    written: &BTreeSet<String>,
    sinks: &BTreeSet<String>,
) {
    let probes: Vec<&str> = written
        .iter()
        .map(String::as_str)
        .filter(|name| {
            !protected.contains(*name)
                && !sinks.contains(*name)
                && catalog
                    .probe_keys
                    .binary_search_by(|k| k.as_str().cmp(name))
                    .is_ok()
        })
        .collect();
    if probes.is_empty() {
        return;
    }
    let probes = probes.join(", ");
    f.add(
        "TEN075",
        &t.name,
        format!(
            "it writes (itself, through a function it calls, or through the row code of a table it writes) into {probes}, whose unique key `{}` (or a role its sessions act as) may test by inserting or updating a value: the unique violation tells whether the rows one tenant writes to `{}` put that value there",
            o.app_role, t.table_name
        ),
        format!(
            "REVOKE INSERT, UPDATE ON {probes} FROM {}, PUBLIC (and from the roles its sessions act as), or take the write out of the row code",
            o.app_role
        ),
    );
}

/// What row code reaches: the tables it and the functions it calls (by name, through any
/// number of calls) write, and whether any of them builds statements at run time.
#[derive(Default)]
pub(super) struct Reach {
    pub(super) written: BTreeSet<String>,
    pub(super) dynamic: bool,
    /// Where else it puts what it computes that every session of the login sees: NOTIFY
    /// channels, `application_name` (`pg_stat_activity`), the keys of advisory locks taken by
    /// anything but constants (`pg_locks`).
    outlets: BTreeSet<&'static str>,
    /// The sequences (the last part of the name, in lower case) it calls `setval` or
    /// `nextval` on.
    sequences: BTreeSet<String>,
    /// It calls `setval` or `nextval` on a sequence given otherwise than as a literal.
    any_sequence: bool,
}

/// Whether the tables code deletes from, truncates or copies into count as tables it writes:
/// for where it carries a tenant's rows they do not, for what it changes (a global table) they
/// do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Removals {
    Left,
    Counted,
}

impl Reach {
    /// What a write into `relation` reaches before its row code and where it lands are added.
    pub(super) fn writing(relation: &str) -> Self {
        Self {
            written: BTreeSet::from([relation.to_owned()]),
            ..Self::default()
        }
    }
}

const NOTIFY_OUTLET: &str =
    "NOTIFY channels (pg_notify), which every session of the login may LISTEN on";

/// What a trigger function in C reaches, from what it is and its arguments: contrib's `tcn`
/// notifies every change with the row's key, `autoinc(column, sequence, ..)` advances its
/// sequences, and any other of an extension (`refint`'s `check_foreign_key`, which deletes or
/// updates the rows of the tables it names) may write into a relation its arguments name.
/// PostgreSQL's own (`tsvector_update_trigger`) change only the row.
fn c_reach(function: &str, language: &str, args: &[String]) -> Reach {
    let mut out = Reach::default();
    let last_part = |arg: &String| super::named_tables::last_name(arg);
    match function {
        "triggered_change_notification" => {
            out.outlets.insert(NOTIFY_OUTLET);
        }
        "autoinc" => out
            .sequences
            .extend(args.iter().skip(1).step_by(2).map(last_part)),
        _ if language == "c" => out.written.extend(args.iter().map(last_part)),
        _ => {}
    }
    out
}

/// What one piece of row code reaches; `None` for tenancy's own, which are as its
/// migrations wrote them (TEN072) and write nowhere shared.
pub(super) fn row_code_reach(
    t: &TriggerRow,
    catalog: &Catalog,
    tenancys: &Tenancys,
    removals: Removals,
) -> Option<Reach> {
    if matches!(t.language.as_str(), "c" | "internal") {
        // Functions in C come with PostgreSQL or an extension; their code is not text to
        // read, but what the ones that write elsewhere write is told by their arguments.
        Some(c_reach(&t.function, &t.language, &t.args))
    } else if tenancys.owns(t.tenancys, &t.function) {
        None
    } else {
        Some(reach(
            &t.body,
            &t.language,
            &catalog.functions,
            tenancys,
            removals,
        ))
    }
}

/// `reach` with the row code of the tables it writes (their triggers, and what their
/// constraints, defaults and indexes call), which runs on what it writes there, through any
/// number of tables; and every relation all of that writes, where the writes land
/// ([`written_through`]). Tenant tables' own row code is checked on its own.
pub(super) fn with_their_row_code(
    mut reach: Reach,
    catalog: &Catalog,
    protected: &BTreeSet<String>,
    tenancys: &Tenancys,
    removals: Removals,
) -> (Reach, BTreeSet<String>) {
    let mut written = written_through(&reach.written, catalog);
    let mut done: BTreeSet<&str> = BTreeSet::new();
    loop {
        let next: Vec<&TriggerRow> = catalog
            .triggers
            .iter()
            .filter(|r| {
                written.contains(&r.table_name)
                    && !protected.contains(&r.table_name)
                    && !done.contains(r.name.as_str())
            })
            .collect();
        if next.is_empty() {
            return (reach, written);
        }
        for r in next {
            done.insert(r.name.as_str());
            if let Some(more) = row_code_reach(r, catalog, tenancys, removals) {
                reach.written.extend(more.written);
                reach.dynamic |= more.dynamic;
                reach.outlets.extend(more.outlets);
                reach.sequences.extend(more.sequences);
                reach.any_sequence |= more.any_sequence;
            }
        }
        written = written_through(&reach.written, catalog);
    }
}

/// `written` and every relation a write into one of them reaches besides
/// ([`Catalog::write_reach`]), through any number of steps.
fn written_through(written: &BTreeSet<String>, catalog: &Catalog) -> BTreeSet<String> {
    let mut out = written.clone();
    let mut queue: Vec<String> = written.iter().cloned().collect();
    while let Some(name) = queue.pop() {
        for edge in catalog.write_reach.iter().filter(|e| e.from_rel == name) {
            if out.insert(edge.to_rel.clone()) {
                queue.push(edge.to_rel.clone());
            }
        }
    }
    out
}

pub(super) fn reach(
    body: &str,
    language: &str,
    functions: &BTreeMap<String, Vec<FunctionRow>>,
    tenancys: &Tenancys,
    removals: Removals,
) -> Reach {
    let mut out = Reach::default();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut queue: Vec<(&str, &str)> = vec![(body, language)];
    while let Some((body, language)) = queue.pop() {
        out.written.extend(tables_changed(body, language, removals));
        let (sequences, any) = sequence_writes(body);
        out.sequences.extend(sequences);
        out.any_sequence |= any;
        out.dynamic |= builds_statements(body, language).is_some();
        if notifies(body, language) {
            out.outlets.insert(NOTIFY_OUTLET);
        }
        if has_word(&body.to_ascii_lowercase(), "application_name") {
            out.outlets.insert(
                "the session's application_name, which pg_stat_activity shows every session of the login",
            );
        }
        // A statement built at run time may be any of these too.
        if out.dynamic || out.written.iter().any(|t| t.starts_with("pg_")) || writes_catalogs(body)
        {
            out.outlets.insert(
                "PostgreSQL's catalogs (comments, function sources, the login's defaults: COMMENT ON, ALTER ROLE, ALTER DATABASE), which every role reads",
            );
        }
        if locks_by_value(body) {
            out.outlets.insert(
                "advisory locks keyed by what it computes, whose keys pg_locks shows every session",
            );
        }
        // Operators are found by their symbol anywhere in the text: one that is not used
        // there costs a look at a function that is not run.
        // Casts likewise, by their type's name.
        let lower = body.to_ascii_lowercase();
        let operators = functions
            .keys()
            .filter(|k| {
                k.strip_prefix("operator ")
                    .is_some_and(|op| body.contains(op))
                    || k.strip_prefix("cast ")
                        .is_some_and(|ty| has_word(&lower, ty))
            })
            .cloned();
        for name in called(body).into_iter().chain(operators) {
            if let Some((name, versions)) = functions.get_key_value(name.as_str())
                && seen.insert(name.as_str())
            {
                queue.extend(
                    versions
                        .iter()
                        .filter(|f| !tenancys.owns(f.tenancys, &f.name))
                        .map(|f| (f.body.as_str(), f.language.as_str())),
                );
            }
        }
    }
    out
}

/// The sequences `body` sets with `setval` or advances with `nextval` (in any case, quoted,
/// schema-qualified or not), by the last part of the name in lower case, and whether it calls
/// one on a sequence given otherwise than as a string literal (a variable, an oid, an
/// expression), which may be any sequence.
fn sequence_writes(body: &str) -> (Vec<String>, bool) {
    let lower = body.to_ascii_lowercase();
    let mut names = Vec::new();
    let mut any = false;
    for word in ["setval", "nextval"] {
        for (at, _) in lower.match_indices(word) {
            let before = lower[..at].chars().next_back();
            let rest = &lower[at + word.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$')
                || rest
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$')
            {
                continue;
            }
            // `"setval"(`: the closing quote of a quoted name, then the call.
            let rest = rest.strip_prefix('"').unwrap_or(rest).trim_start();
            let Some(args) = rest.strip_prefix('(') else {
                continue;
            };
            let args = args.trim_start();
            let literal = args
                .strip_prefix('\'')
                .and_then(|a| a.split_once('\''))
                .map(|(name, _)| name);
            match literal {
                Some(name) => {
                    let last = name.rsplit('.').next().unwrap_or(name);
                    names.push(last.trim_matches('"').to_owned());
                }
                None => any = true,
            }
        }
    }
    (names, any)
}

/// Whether `body` sends a notification (`pg_notify()`, PL/pgSQL's or SQL's `NOTIFY`): every
/// session of the login may LISTEN on any channel.
fn notifies(body: &str, language: &str) -> bool {
    let lower = body.to_ascii_lowercase();
    has_word(&lower, "pg_notify")
        || (matches!(language, "sql" | "plpgsql") && has_word(&lower, "notify"))
        || (!matches!(language, "sql" | "plpgsql") && lower.contains("notify"))
}

/// Whether `body` takes an advisory lock (`pg_advisory_lock`, `pg_try_advisory_xact_lock`, ..)
/// whose key is anything but constants: a column of the row, a variable, a parameter. While
/// the lock is held (to the end of the transaction or the session), `pg_locks` shows its key
/// to every session. Text the lexer cannot read counts as such a key.
fn locks_by_value(body: &str) -> bool {
    let lower = body.to_ascii_lowercase();
    if !lower.contains("advisory") {
        return false;
    }
    let Ok(tokens) = tokenize(body) else {
        return true;
    };
    let mut i = 0;
    while i < tokens.len() {
        let takes = matches!(&tokens[i], Token::Ident { name, .. }
            if (name.starts_with("pg_advisory") || name.starts_with("pg_try_advisory"))
                && !name.contains("unlock"))
            && matches!(tokens.get(i + 1), Some(Token::Punct('(')));
        if !takes {
            i += 1;
            continue;
        }
        let mut depth = 0usize;
        let mut j = i + 1;
        while j < tokens.len() {
            match &tokens[j] {
                Token::Punct('(') => depth += 1,
                Token::Punct(')') => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                Token::Ident { name, .. } if name != "as" => {
                    let called = matches!(tokens.get(j + 1), Some(Token::Punct('(')));
                    // A type: after `::`, or after `AS` in `CAST(.. AS ..)`.
                    let cast = match tokens.get(j - 1) {
                        Some(Token::Operator(op)) => op == "::",
                        Some(Token::Ident { name, .. }) => name == "as",
                        _ => false,
                    };
                    if !called && !cast {
                        return true;
                    }
                }
                Token::Param(_) => return true,
                _ => {}
            }
            j += 1;
        }
        i = j;
    }
    false
}

/// Whether `body` runs a statement that writes into PostgreSQL's catalogs what every role
/// reads back: `COMMENT ON` (`obj_description`), `SECURITY LABEL`, or a role's or database's
/// defaults (`ALTER ROLE`/`ALTER USER`/`ALTER DATABASE .. SET`, which `pg_roles.rolconfig` and
/// `pg_db_role_setting` show; a role may change its own). Text the lexer cannot read counts.
fn writes_catalogs(body: &str) -> bool {
    let lower = body.to_ascii_lowercase();
    if !["comment", "label", "alter"]
        .iter()
        .any(|w| lower.contains(w))
    {
        return false;
    }
    let Ok(tokens) = tokenize(body) else {
        return true;
    };
    let words: Vec<&str> = tokens
        .iter()
        .filter_map(|t| match t {
            Token::Ident {
                name,
                quoted: false,
            } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    words.windows(2).any(|w| {
        matches!(
            (w[0], w[1]),
            ("comment", "on") | ("security", "label") | ("alter", "role" | "user" | "database")
        )
    })
}

/// The names `body` calls (a name followed by `(`), in lower case.
pub(super) fn called(body: &str) -> Vec<String> {
    let Ok(tokens) = tokenize(body) else {
        return Vec::new();
    };
    tokens
        .windows(2)
        .filter_map(|pair| match pair {
            [Token::Ident { name, .. }, Token::Punct('(')] => Some(name.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// The tables `body` writes with `INSERT INTO`, `UPDATE` or `MERGE INTO` (the last part of a
/// qualified name), and with [`Removals::Counted`] those it deletes from, truncates or copies
/// into, read with tenancy's lexer. Code in another language than SQL and PL/pgSQL (whose
/// statements sit in its strings), or text the lexer refuses, is searched for words instead:
/// once it writes at all, every name it holds counts.
fn tables_changed(body: &str, language: &str, removals: Removals) -> Vec<String> {
    if !matches!(language, "sql" | "plpgsql") {
        return fallback(body, removals);
    }
    let Ok(tokens) = tokenize(body) else {
        return fallback(body, removals);
    };
    let removals = removals == Removals::Counted;
    let tokens: Vec<&Token> = tokens
        .iter()
        .filter(|t| !matches!(t, Token::Comment))
        .collect();
    let keyword = |i: usize, word: &str| matches!(tokens.get(i), Some(Token::Ident { name, quoted: false }) if name == word);
    let mut out = Vec::new();
    for i in 0..tokens.len() {
        let (mut at, listed) =
            if (keyword(i, "insert") || keyword(i, "merge")) && keyword(i + 1, "into") {
                (i + 2, false)
            } else if keyword(i, "update") {
                (i + 1, false)
            } else if removals && keyword(i, "delete") && keyword(i + 1, "from") {
                (i + 2, false)
            } else if removals && keyword(i, "truncate") {
                // `TRUNCATE [TABLE] [ONLY] a, [ONLY] b`.
                (
                    if keyword(i + 1, "table") {
                        i + 2
                    } else {
                        i + 1
                    },
                    true,
                )
            } else if removals && keyword(i, "copy") && copies_in(&tokens, i + 1) {
                (i + 1, false)
            } else {
                continue;
            };
        loop {
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
            if !(listed && matches!(tokens.get(at + 1), Some(Token::Punct(',')))) {
                break;
            }
            at += 2;
        }
    }
    out
}

/// Whether the `COPY` whose table starts at `at` copies rows in (`COPY t [(columns)] FROM ..`)
/// rather than out.
fn copies_in(tokens: &[&Token], mut at: usize) -> bool {
    // The name, with its schema.
    at += 1;
    while matches!(tokens.get(at), Some(Token::Punct('.'))) {
        at += 2;
    }
    if matches!(tokens.get(at), Some(Token::Punct('('))) {
        while !matches!(tokens.get(at), Some(Token::Punct(')')) | None) {
            at += 1;
        }
        at += 1;
    }
    matches!(tokens.get(at), Some(Token::Ident { name, quoted: false }) if name == "from")
}

fn fallback(body: &str, removals: Removals) -> Vec<String> {
    let lower = body.to_ascii_lowercase();
    let removes = removals == Removals::Counted
        && ["delete", "truncate", "copy"]
            .iter()
            .any(|w| has_word(&lower, w));
    if !removes
        && !["insert", "update", "merge"]
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
    use super::{
        NOTIFY_OUTLET, Removals, c_reach, locks_by_value, sequence_writes, tables_changed,
        writes_catalogs,
    };

    fn written_tables(body: &str, language: &str) -> Vec<String> {
        tables_changed(body, language, Removals::Left)
    }

    fn changed_tables(body: &str, language: &str) -> Vec<String> {
        tables_changed(body, language, Removals::Counted)
    }

    #[test]
    fn trigger_functions_in_c_are_read_from_their_arguments() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let tcn = c_reach("triggered_change_notification", "c", &args(&["changes"]));
        assert!(tcn.outlets.contains(NOTIFY_OUTLET));
        let autoinc = c_reach(
            "autoinc",
            "c",
            &args(&["serial", "public.Gadget_Counter", "n", "\"other\""]),
        );
        assert_eq!(
            autoinc.sequences.into_iter().collect::<Vec<_>>(),
            ["gadget_counter", "other"]
        );
        let refint = c_reach(
            "check_foreign_key",
            "c",
            &args(&["1", "cascade", "id", "archive.parts", "gadget"]),
        );
        assert!(refint.written.contains("parts"));
        // PostgreSQL's own change only the row.
        let own = c_reach(
            "tsvector_update_trigger",
            "internal",
            &args(&["tsv", "pg_catalog.english", "plans"]),
        );
        assert!(own.written.is_empty() && own.outlets.is_empty() && own.sequences.is_empty());
    }

    #[test]
    fn statements_that_write_catalogs_are_found() {
        for writes in [
            "BEGIN COMMENT ON TABLE plans IS 'seen'; RETURN NEW; END",
            "BEGIN ALTER ROLE CURRENT_USER SET search_path FROM CURRENT; RETURN NEW; END",
            "BEGIN ALTER DATABASE app SET work_mem = '1MB'; END",
            "BEGIN SECURITY LABEL ON TABLE t IS 'x'; END",
        ] {
            assert!(writes_catalogs(writes), "{writes}");
        }
        for other in [
            "BEGIN INSERT INTO comments (on_id) VALUES (NEW.id); RETURN NEW; END",
            "BEGIN NEW.label := 'x'; RETURN NEW; END",
        ] {
            assert!(!writes_catalogs(other), "{other}");
        }
    }

    #[test]
    fn advisory_locks_keyed_by_values_are_found() {
        for keyed in [
            "BEGIN PERFORM pg_advisory_xact_lock(NEW.acct); RETURN NEW; END",
            "BEGIN PERFORM pg_catalog.pg_try_advisory_lock(hashtext(NEW.name)); RETURN NEW; END",
            "SELECT pg_advisory_lock_shared(k) FROM t",
            "SELECT pg_advisory_xact_lock($1)",
        ] {
            assert!(locks_by_value(keyed), "{keyed}");
        }
        for constant in [
            "BEGIN PERFORM pg_advisory_xact_lock(42); RETURN NEW; END",
            "BEGIN PERFORM pg_advisory_xact_lock(hashtext('orders')::bigint); RETURN NEW; END",
            "BEGIN PERFORM pg_advisory_xact_lock(CAST(7 AS bigint)); PERFORM pg_advisory_unlock(NEW.k); END",
            "BEGIN INSERT INTO log VALUES (NEW.id); RETURN NEW; END",
        ] {
            assert!(!locks_by_value(constant), "{constant}");
        }
    }

    #[test]
    fn sequence_calls_are_found_in_any_spelling() {
        let (names, any) = sequence_writes(
            "BEGIN PERFORM setval('public.ticket_seq', 1); PERFORM pg_catalog.NEXTVAL ( 'Other_Seq'::regclass); \
             PERFORM \"setval\"('\"Quoted\"', 2); PERFORM my_setval_helper(1); END",
        );
        assert_eq!(names, ["ticket_seq", "quoted", "other_seq"]);
        assert!(!any);
        let (names, any) = sequence_writes("BEGIN PERFORM setval(seq, length(NEW.name)); END");
        assert!(names.is_empty());
        assert!(any);
        assert_eq!(sequence_writes("SELECT currval('s')"), (Vec::new(), false));
    }

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

    #[test]
    fn removals_count_as_changes_but_not_as_writes_of_row_code() {
        let body = "DELETE FROM public.plans WHERE id = p; TRUNCATE TABLE ONLY a, public.b, ONLY c; \
                    UPDATE tenants SET status = 'x'";
        assert_eq!(
            changed_tables(body, "sql"),
            ["plans", "a", "b", "c", "tenants"]
        );
        assert_eq!(written_tables(body, "sql"), ["tenants"]);
        assert_eq!(
            changed_tables(
                "COPY public.plans (name) FROM PROGRAM 'x'; COPY (SELECT 1) TO STDOUT; COPY gadgets TO STDOUT",
                "plpgsql"
            ),
            ["plans"]
        );
        let found = changed_tables("plpy.execute('TRUNCATE plans')", "plpython3u");
        assert!(found.iter().any(|w| w == "plans"), "{found:?}");
    }
}
