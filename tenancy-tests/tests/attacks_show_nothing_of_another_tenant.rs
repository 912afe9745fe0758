//! Attacks on the public synchronous API, beside those of `adversarial.rs`: raw selects and
//! filters naming tenant tables in every form the server reads, typed sub-queries, aliases,
//! writes with sub-selects, bit strings, filter precedence, and random lexical pieces around an
//! unscoped sub-select. Each is refused before sending, fails on the server, or returns only
//! the own tenant's rows; none may show tenant B's text (`b one`, `b two`, `b comment`), with
//! row level security off (tenancy alone) and, where said, on.

mod common;

use common::Rls;
use common::schema::{categories, comments, posts, tenants};
use diesel::dsl::{exists, sql};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable, Text};
use tenancy_schema::{Error, Tenancy, TenantId};

/// Whether `text` shows anything of tenant B.
fn shows_b(text: &str) -> bool {
    text.contains("b one") || text.contains("b two") || text.contains("b comment")
}

/// Runs `probe` as tenant `a`; returns what it showed, or its refusal.
fn run<T: std::fmt::Debug>(
    t: &Tenancy,
    a: TenantId,
    probe: impl FnOnce(&mut tenancy_schema::TenantTx<'_>) -> Result<T, Error>,
) -> Result<String, String> {
    t.transaction(a, |tx| probe(tx).map(|v| format!("{v:?}")))
        .map_err(|e: Error| e.to_string())
}

/// Prints a probe's outcome; whether it showed tenant B (in rows, or in an error message).
fn report(name: &str, outcome: &Result<String, String>) -> bool {
    let leaked = match outcome {
        Ok(s) | Err(s) => shows_b(s) || s.contains(": \"b\""),
    };
    eprintln!(
        "{} {name}: {outcome:?}",
        if leaked { "LEAK" } else { "ok  " }
    );
    leaked
}

fn raw_filter(t: &Tenancy, a: TenantId, fragment: &str) -> Result<String, String> {
    run(t, a, |tx| {
        tx.load::<_, String>(
            categories::table
                .filter(sql::<Bool>(fragment))
                .select(categories::name),
        )
    })
}

fn raw_select(t: &Tenancy, a: TenantId, select: &str) -> Result<String, String> {
    run(t, a, |tx| {
        tx.load::<_, Option<String>>(categories::table.select(sql::<Nullable<Text>>(select)))
    })
}

#[test]
#[allow(clippy::too_many_lines)] // reason: one list of probes, each a few lines
fn raw_selects_and_typed_sub_queries_show_nothing_of_b() {
    let mut leaks = Vec::new();
    for rls in Rls::all() {
        let (a, _b) = rls.two_tenants();
        let t = rls.tenancy(1);
        let selects = [
            "(SELECT string_agg(title, ',') FROM posts)",
            "(SELECT string_agg(x::text, ',') FROM (TABLE posts) x)",
            "(SELECT string_agg(to_json(p.*)::text, ',') FROM posts p)",
            "(SELECT string_agg(x.title, ',') FROM categories c, LATERAL (SELECT title FROM posts) x)",
            "(WITH RECURSIVE q AS (SELECT title FROM posts) SELECT string_agg(title, ',') FROM q)",
            "(WITH posts AS (SELECT * FROM posts) SELECT string_agg(title, ',') FROM posts)",
            "(SELECT string_agg(title, ',') FROM ONLY posts)",
            "(SELECT string_agg(slug || name, ',') FROM tenants)",
            "(SELECT string_agg(xmlagg::text, ',') FROM (SELECT xmlagg(xmlelement(name t, title)) FROM posts) x)",
            "(SELECT string_agg(body, ',') FROM \"comments\")",
            "(SELECT string_agg(title, ',') FROM posts FOR UPDATE)",
            "(SELECT string_agg(title, ',') FROM posts AS categories)",
            "(SELECT string_agg(title, ',') FROM (posts))",
            "(SELECT string_agg(title, ',') FROM (posts p JOIN comments c ON true))",
            "(SELECT string_agg(t, ',') FROM ROWS FROM (json_to_recordset((SELECT json_agg(p) FROM posts p))) AS x(t text))",
            "(SELECT pg_catalog.string_agg(title, ',') FROM posts)",
            "(SELECT string_agg(body, ',') FROM texts)",
            "(SELECT string_agg(title::text, ',') FROM (SELECT (posts).title FROM posts) x)",
            "current_setting('search_path')",
            "(SELECT string_agg(title, ',') FROM posts TABLESAMPLE SYSTEM (100))",
        ];
        for s in selects {
            let o = raw_select(&t, a, s);
            if report(&format!("{rls:?} select {s}"), &o) {
                leaks.push(s.to_owned());
            }
        }
        let filters = [
            "EXISTS (SELECT 1 FROM posts WHERE title LIKE 'b%')",
            "EXISTS (TABLE posts)",
        ];
        for f in filters {
            let o = raw_filter(&t, a, f);
            if report(&format!("{rls:?} filter {f}"), &o) {
                leaks.push(f.to_owned());
            }
        }
        // Typed probes.
        diesel::alias!(posts as p2: P2);
        let o = run(&t, a, |tx| {
            tx.load::<_, String>(
                posts::table
                    .filter(
                        posts::id.eq_any(
                            p2.select(p2.field(posts::id))
                                .filter(p2.field(posts::title).like("b%")),
                        ),
                    )
                    .select(posts::title),
            )
        });
        if report("alias eq_any", &o) {
            leaks.push("alias eq_any".into());
        }
        let o = run(&t, a, |tx| {
            tx.load::<_, String>(p2.select(p2.field(posts::title)))
        });
        if report("alias load", &o) {
            leaks.push("alias load".into());
        }
        let o = run(&t, a, |tx| {
            tx.load::<_, String>(
                posts::table
                    .select(posts::title)
                    .filter(exists(comments::table.select(comments::id)))
                    .distinct_on(posts::title)
                    .order(posts::title),
            )
        });
        if report("distinct_on", &o) {
            leaks.push("distinct_on".into());
        }
        let o = run(&t, a, |tx| {
            tx.load::<_, (Option<i32>, i64)>(
                posts::table
                    .group_by(posts::category_id)
                    .select((posts::category_id, diesel::dsl::count_star()))
                    .having(diesel::dsl::count_star().gt(0)),
            )
        });
        if report("group_by", &o) {
            leaks.push("group_by".into());
        }
        let o = run(&t, a, |tx| {
            tx.load::<_, String>(
                posts::table
                    .select(posts::title)
                    .into_boxed()
                    .filter(sql::<Bool>("true"))
                    .order(sql::<Text>("(SELECT max(body) FROM comments)")),
            )
        });
        if report("boxed order", &o) {
            leaks.push("boxed order".into());
        }
        let o = t.system(|sys| {
            sys.load::<_, String>(tenants::table.select(tenants::name))
                .map(|v| format!("{v:?}"))
        });
        let o = o.map_err(|e: Error| e.to_string());
        eprintln!("system tenants: {o:?}");
        if matches!(&o, Ok(s) if s.contains("tenant b")) {
            leaks.push("system reads tenants".into());
        }
        let o = run(&t, a, |tx| {
            tx.load::<_, String>(tenants::table.select(tenants::name))
        });
        eprintln!("tenant tx tenants: {o:?}");
        if matches!(&o, Ok(s) if s.contains("tenant b")) {
            leaks.push("tenant tx reads tenants".into());
        }
    }
    assert!(leaks.is_empty(), "leaks: {leaks:#?}");
}

#[test]
fn functions_nul_bytes_locks_and_update_from_show_nothing_of_b() {
    let rls = Rls::Off;
    let (a, b) = rls.two_tenants();
    let t = rls.tenancy(1);
    let bq = b.as_uuid();
    for f in [
        format!("tenancy.verify_audit_chain('{bq}') IS NULL"),
        "EXISTS (SELECT 1 FROM tenancy.member_directory())".to_owned(),
        "EXISTS (SELECT 1 FROM tenancy.caller_principals())".to_owned(),
        "tenancy.api_key_lookup('x') IS NULL".to_owned(),
    ] {
        let o = raw_filter(&t, a, &f);
        assert!(!report(&format!("function {f}"), &o), "{f}: {o:?}");
    }
    // A NUL byte in a fragment: refused or failed, never cut short where the server reads it.
    for f in [
        "true\0) OR (true",
        "EXISTS (SELECT 1 FROM posts\0 WHERE title LIKE 'b%')",
    ] {
        let o = raw_filter(&t, a, f);
        assert!(o.is_err(), "{f:?}: {o:?}");
    }
    // Locked reads with fragments.
    let o = run(&t, a, |tx| {
        tx.load::<_, String>(
            posts::table
                .select(sql::<Text>(
                    "coalesce((SELECT string_agg(p.title, ',') FROM posts p), '')",
                ))
                .filter(sql::<Bool>("true"))
                .for_update()
                .skip_locked(),
        )
    });
    assert!(!report("locked select-list sub-select", &o), "{o:?}");
    // Update with a SET value adding a FROM list.
    let o = run(&t, a, |tx| {
        tx.update(posts::table)
            .filter(posts::id.eq(1))
            .set(posts::title.eq(sql::<Text>("p2.title FROM posts AS p2")))
            .get_results::<(TenantId, i32, String, String, Option<i32>)>()
    });
    assert!(!report("update from", &o), "{o:?}");
    let o = run(&t, a, |tx| {
        tx.update(posts::table)
            .filter(posts::id.eq(2))
            .set(posts::title.eq(sql::<Text>(
                "x.s FROM (SELECT string_agg(title, ',') AS s FROM posts) AS x",
            )))
            .get_results::<(TenantId, i32, String, String, Option<i32>)>()
    });
    assert!(!report("update from derived", &o), "{o:?}");
    common::attacks::assert_b_untouched(rls, b, "round2");
}

/// Raw DDL that reads nothing (a temporary view), then a typed query with no fragment at all.
#[test]
fn temporary_relations_cannot_stand_in_for_tenant_tables() {
    for rls in [Rls::Off, Rls::On] {
        let (a, _b) = rls.two_tenants();
        let t = rls.tenancy(1);
        let aq = a.as_uuid();
        let o = run(&t, a, |tx| {
            tx.execute(diesel::sql_query(format!(
                "CREATE TEMP VIEW posts AS SELECT '{aq}'::uuid AS tenant_id, id, title, slug, category_id FROM public.posts"
            )))?;
            tx.load::<_, String>(posts::table.select(posts::title))
        });
        assert!(!report(&format!("{rls:?} temp view posts"), &o), "{o:?}");
        let o = run(&t, a, |tx| {
            tx.execute(diesel::sql_query(
                "CREATE TEMP VIEW categories AS SELECT id, title AS name FROM public.posts",
            ))?;
            tx.load::<_, String>(categories::table.select(categories::name))
        });
        assert!(
            !report(&format!("{rls:?} temp view categories"), &o),
            "{o:?}"
        );
    }
}

/// PostgreSQL functions a typed filter calls.
#[allow(missing_docs)] // reason: the items `define_sql_function!` generates
mod functions {
    use diesel::sql_types::{Nullable, Text};
    diesel::define_sql_function!(fn btrim(t: Text, f: Text) -> Text);
    diesel::define_sql_function!(fn nullif(t: Text, f: Text) -> Nullable<Text>);
    diesel::define_sql_function!(fn int4(t: Nullable<Text>) -> Nullable<diesel::sql_types::Integer>);
    diesel::define_sql_function!(fn set_config(name: Text, value: Text, local: diesel::sql_types::Bool) -> Text);
    diesel::define_sql_function!(fn current_setting(name: Text) -> Text);
    diesel::define_sql_function!(fn to_date(text: Text, format: Text) -> diesel::sql_types::Date);
}
use functions::{btrim, current_setting, int4, nullif, set_config, to_date};

/// What a filter function copied into the setting `attack.seen`, read back by a typed query
/// (`NULL` when it never ran).
fn seen(tx: &mut tenancy_schema::TenantTx<'_>) -> Result<Option<String>, Error> {
    tx.get_result(
        categories::table
            .select(sql::<Nullable<Text>>(
                "current_setting('attack.seen', true)",
            ))
            .limit(1),
    )
}

/// Functions as cheap as the tenant's own comparison (`set_config`, `current_setting`,
/// `to_date` all cost what `uuid_eq` costs) in typed filters: PostgreSQL orders a scan's
/// filters by cost alone, so without a guard that runs first they ran on every tenant's rows
/// of a table read sequentially, and copied another tenant's text into a setting or an error.
/// Each probe is run on the tables as autovacuum leaves them (analysed: a small table is then
/// read sequentially) and with index scans switched off, in every fixture, and picks tenant
/// B's rows (`> 'b'`), which tenant A must never reach.
#[test]
fn cheap_functions_in_filters_run_on_own_rows_only() {
    use diesel::connection::SimpleConnection;
    for rls in Rls::all() {
        let (a, _b) = rls.two_tenants();
        rls.owner()
            .batch_execute("ANALYZE posts; ANALYZE comments; ANALYZE tenants;")
            .expect("analyse");
        let t = rls.tenancy(1);
        for sequential in [false, true] {
            for (name, probe) in probes_without_a_filter()
                .into_iter()
                .chain(cheap_function_probes())
            {
                let o = run(&t, a, |tx| {
                    if sequential {
                        tx.execute(diesel::sql_query("SET LOCAL enable_indexscan = off"))?;
                        tx.execute(diesel::sql_query("SET LOCAL enable_bitmapscan = off"))?;
                    }
                    probe(tx)
                });
                let shown = match &o {
                    Ok(s) | Err(s) => s.clone(),
                };
                let case = format!("{rls:?} sequential={sequential} {name}");
                assert!(
                    !report(&case, &o) && !shown.contains("tenant b"),
                    "{case}: {o:?}"
                );
            }
        }
    }
}

/// A probe of [`cheap_functions_in_filters_run_on_own_rows_only`]: what it showed.
type Probe = fn(&mut tenancy_schema::TenantTx<'_>) -> Result<String, Error>;

/// Typed reads whose select list, `ORDER BY`, `GROUP BY` or `HAVING` call a function as cheap
/// as the tenant predicate, each reading back what the function copied.
fn probes_without_a_filter() -> [(&'static str, Probe); 3] {
    [
        // A HAVING without aggregates, which PostgreSQL moves into the scan.
        ("HAVING, set_config", |tx| {
            let rows: Vec<String> = tx.load(
                comments::table
                    .group_by(comments::body)
                    .having(set_config("attack.seen", comments::body, true).gt("b"))
                    .select(comments::body),
            )?;
            Ok(format!("{rows:?} {:?}", seen(tx)?))
        }),
        // No condition of the caller's: the predicate goes without its guard, and what the
        // select list and ORDER BY call runs on rows the scan has already filtered.
        ("no filter, set_config in the select list", |tx| {
            let rows: Vec<String> = tx.load(
                posts::table
                    .select(set_config("attack.seen", posts::title, true))
                    .order(posts::id.desc()),
            )?;
            Ok(format!("{rows:?} {:?}", seen(tx)?))
        }),
        ("no filter, set_config in ORDER BY and GROUP BY", |tx| {
            let rows: Vec<String> = tx.load(
                comments::table
                    .group_by(comments::body)
                    .select(comments::body)
                    .order(set_config("attack.seen", comments::body, true)),
            )?;
            Ok(format!("{rows:?} {:?}", seen(tx)?))
        }),
    ]
}

/// Typed reads and writes whose filters call a function as cheap as the tenant predicate on
/// tenant B's rows (`> 'b'`), each reading back what the function copied, where it copies:
/// one table, a join, a CTE, boxed, `tenants`, an update, a delete, a count.
fn cheap_function_probes() -> [(&'static str, Probe); 9] {
    [
        ("own filter, set_config", |tx| {
            let rows: Vec<String> = tx.load(
                posts::table
                    .filter(posts::title.gt("b"))
                    .filter(set_config("attack.seen", posts::title, true).is_not_null())
                    .select(posts::title),
            )?;
            Ok(format!("{rows:?} {:?}", seen(tx)?))
        }),
        ("own filter, error", |tx| {
            let rows: Vec<String> = tx.load(
                posts::table
                    .filter(
                        posts::title
                            .gt("b")
                            .and(current_setting(posts::title).is_not_null()),
                    )
                    .select(posts::title),
            )?;
            Ok(format!("{rows:?}"))
        }),
        ("join, set_config on the joined table", |tx| {
            let rows: Vec<(String, String)> = tx.load(
                posts::table
                    .inner_join(comments::table.on(comments::post_id.eq(posts::id)))
                    .filter(set_config("attack.seen", comments::body, true).gt("b"))
                    .select((posts::title, comments::body)),
            )?;
            Ok(format!("{rows:?} {:?}", seen(tx)?))
        }),
        ("shadowing CTE, to_date", |tx| {
            let rows: Vec<String> = tx.load(
                posts::table
                    .filter(posts::id.eq_any(comments::table.select(comments::post_id)))
                    .filter(
                        posts::title
                            .gt("b")
                            .and(to_date(posts::title, "YYYY").is_not_null()),
                    )
                    .select(posts::title),
            )?;
            Ok(format!("{rows:?}"))
        }),
        ("boxed, set_config", |tx| {
            let rows: Vec<String> = tx.load(
                posts::table
                    .into_boxed()
                    .filter(set_config("attack.seen", posts::title, true).gt("b"))
                    .select(posts::title),
            )?;
            Ok(format!("{rows:?} {:?}", seen(tx)?))
        }),
        ("tenants, set_config", |tx| {
            let rows: Vec<String> = tx.load(
                tenants::table
                    .filter(set_config("attack.seen", tenants::name, true).gt("tenant b"))
                    .select(tenants::name),
            )?;
            Ok(format!("{rows:?} {:?}", seen(tx)?))
        }),
        ("update, set_config", |tx| {
            let n = tx
                .update(posts::table)
                .filter(set_config("attack.seen", posts::title, true).gt("b"))
                .set(posts::slug.eq(posts::slug))
                .execute()?;
            Ok(format!("{n} {:?}", seen(tx)?))
        }),
        ("delete, error", |tx| {
            let n = tx
                .delete(comments::table)
                .filter(
                    comments::body
                        .gt("b")
                        .and(current_setting(comments::body).is_not_null()),
                )
                .execute()?;
            Ok(format!("{n}"))
        }),
        ("count, set_config", |tx| {
            let n = tx.count(
                comments::table.filter(set_config("attack.seen", comments::body, true).gt("b")),
            )?;
            Ok(format!("{n} {:?}", seen(tx)?))
        }),
    ]
}

/// A function in the own filter that fails on another tenant's row, and puts its value into
/// the error message.
#[test]
fn errors_of_filters_show_nothing_of_b() {
    let rls = Rls::Off;
    let (a, _b) = rls.two_tenants();
    let t = rls.tenancy(1);
    let o = run(&t, a, |tx| {
        tx.load::<_, String>(
            posts::table
                .filter(int4(nullif(btrim(posts::title, "a onetw"), "")).is_not_null())
                .select(posts::title),
        )
    });
    assert!(!report("typed cast (own filter)", &o), "{o:?}");
    let o = run(&t, a, |tx| {
        tx.load::<_, String>(
            posts::table
                .filter(sql::<Bool>(
                    "int4(nullif(btrim(title, 'a onetw'), '')) IS NOT NULL",
                ))
                .select(posts::title),
        )
    });
    assert!(!report("raw cast (cte)", &o), "{o:?}");
    let o = run(&t, a, |tx| {
        tx.load::<_, String>(
            posts::table
                .filter(sql::<Bool>("to_date(title, 'YYYY') IS NOT NULL"))
                .select(posts::title),
        )
    });
    assert!(!report("raw to_date (cte)", &o), "{o:?}");
}

/// Random lexical pieces around a filter that is true only where `posts` is read unscoped: a
/// piece that hides the table's name from tenancy's lexer but not from the server shows up as
/// a non-empty result.
#[test]
fn random_lexical_pieces_hide_no_sub_select() {
    const PIECES: &[&str] = &[
        "'", "E'", "e'", "N'", "B'", "X'", "U&'", "$$", "$a$", "$é$", "/*", "*/", "--", "\n", "\r",
        "\\", "\"", "''", "\\'", "x", " ", "(", ")", "1", "$1", "::text", "||", ",", "\n'", "'\n",
        "é", "\u{b}", "\t", "\u{c}", "e", ".", "0.", "1e", "$", "$_$", "U&", "&",
    ];
    const CORE: &str = "EXISTS (SELECT 1 FROM posts WHERE title LIKE 'b%')";
    let rls = Rls::Off;
    let (a, _b) = rls.two_tenants();
    let t = rls.tenancy(1);
    let mut seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        usize::try_from(seed % n as u64).unwrap()
    };
    let rounds: usize = std::env::var("FUZZ_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let (mut refused, mut failed, mut empty, mut leaks) = (0, 0, 0, Vec::new());
    for _ in 0..rounds {
        let mut pre = String::new();
        for _ in 0..next(5) {
            pre.push_str(PIECES[next(PIECES.len())]);
        }
        let mut suf = String::new();
        for _ in 0..next(5) {
            suf.push_str(PIECES[next(PIECES.len())]);
        }
        let fragment = format!("{pre}{CORE}{suf}");
        let r = t.transaction(a, |tx| {
            tx.load::<_, String>(
                categories::table
                    .filter(sql::<Bool>(&fragment))
                    .select(categories::name),
            )
        });
        match r {
            Err(Error::UnsafeSql(_)) => refused += 1,
            Err(_) => failed += 1,
            Ok(v) if v.is_empty() => empty += 1,
            Ok(v) => leaks.push((fragment, v)),
        }
    }
    eprintln!(
        "refused {refused}, failed {failed}, empty {empty}, leaks {}",
        leaks.len()
    );
    for (f, v) in &leaks {
        eprintln!("LEAK {f:?} -> {v:?}");
    }
    assert!(leaks.is_empty());
}

/// Writes and reads through the typed API with sub-selects in every place they can go.
#[test]
fn writes_and_joins_with_sub_selects_stay_scoped() {
    use diesel::upsert::excluded;
    let rls = Rls::Off;
    let (a, b) = rls.two_tenants();
    let t = rls.tenancy(1);
    let steal = "coalesce((SELECT string_agg(title, ',') FROM posts), '')";
    let o = run(&t, a, |tx| {
        tx.insert_into(posts::table)
            .values((
                posts::id.eq(2),
                posts::title.eq("x"),
                posts::slug.eq("second"),
            ))
            .on_conflict(posts::id)
            .do_update()
            .set(posts::title.eq(sql::<Text>(&format!("excluded.title || {steal}"))))
            .execute()?;
        tx.insert_batch(
            posts::table,
            vec![
                (
                    posts::id.eq(30),
                    posts::title.eq(sql::<Text>(steal)),
                    posts::slug.eq("s30"),
                ),
                (
                    posts::id.eq(31),
                    posts::title.eq(sql::<Text>(steal)),
                    posts::slug.eq("s31"),
                ),
            ],
        )?;
        tx.upsert(
            posts::table,
            (
                posts::id.eq(1),
                posts::title.eq("y"),
                posts::slug.eq("first"),
            ),
            posts::id,
            posts::title.eq(excluded(posts::title).concat(sql::<Text>(steal))),
        )?;
        tx.delete(comments::table)
            .filter(comments::post_id.eq_any(posts::table.select(posts::id)))
            .execute()?;
        let joined: Vec<(String, Option<String>)> = tx.load(
            posts::table
                .left_join(comments::table.on(comments::post_id.eq(posts::id)))
                .select((posts::title, comments::body.nullable())),
        )?;
        let nested: Vec<String> = tx.load(
            categories::table
                .inner_join(
                    posts::table.inner_join(comments::table.on(comments::post_id.eq(posts::id))),
                )
                .select(comments::body),
        )?;
        let locked: Vec<String> = tx.load(
            posts::table
                .select(posts::title)
                .filter(posts::id.eq_any(comments::table.select(comments::post_id)))
                .for_share(),
        )?;
        let found: (TenantId, i32, String, String, Option<i32>) = tx.find(posts::table, 1)?;
        let titles: Vec<String> = tx.load(posts::table.select(posts::title).order(posts::id))?;
        Ok::<_, Error>(format!(
            "{joined:?} {nested:?} {locked:?} {found:?} {titles:?}"
        ))
    });
    assert!(!report("writes and joins", &o), "{o:?}");
    common::attacks::assert_b_untouched(rls, b, "writes and joins");
    let b_comments: i64 = t.transaction(b, |tx| tx.count(comments::table)).unwrap();
    assert_eq!(b_comments, 1, "the delete reached B's comments");
}

/// Bit and hex strings end at their first quote for the server (a doubled quote does not
/// continue them), and the string a second quote opens then reads backslashes as
/// `standard_conforming_strings` says.
#[test]
fn bit_strings_end_where_the_server_ends_them() {
    let rls = Rls::Off;
    let (a, _b) = rls.two_tenants();
    let t = rls.tenancy(1);
    for f in [
        "B'1''\\'' IS NOT NULL OR EXISTS (SELECT 1 FROM posts WHERE title LIKE 'b%') --'",
        "X'1''\\'' IS NOT NULL OR EXISTS (SELECT 1 FROM posts WHERE title LIKE 'b%') --'",
        "B'1''x' IS NOT NULL",
    ] {
        for scs in ["on", "off"] {
            let o = run(&t, a, |tx| {
                tx.execute(diesel::sql_query(format!(
                    "SET LOCAL standard_conforming_strings = {scs}"
                )))?;
                tx.load::<_, String>(
                    categories::table
                        .filter(sql::<Bool>(f))
                        .select(categories::name),
                )
            });
            // The server reads a bit string and a string next to each other: a syntax error,
            // never the sub-select the lexer took for part of one literal.
            assert!(!report(&format!("scs {scs} {f}"), &o), "{o:?}");
            assert!(o.is_err(), "scs {scs} {f}: {o:?}");
        }
    }
}

/// Typed filters whose top level Diesel may leave unparenthesised (`or_filter`, `not`,
/// `and`/`or` mixes): a tenant predicate written after them must bind the whole filter.
#[test]
fn typed_filter_precedence_keeps_the_tenant_predicate_whole() {
    use diesel::dsl::not;
    let rls = Rls::Off;
    let (a, _b) = rls.two_tenants();
    let t = rls.tenancy(1);
    let outcomes = [
        run(&t, a, |tx| {
            tx.load::<_, String>(
                posts::table
                    .filter(posts::id.eq(1))
                    .or_filter(posts::id.eq(2))
                    .select(posts::title),
            )
        }),
        run(&t, a, |tx| {
            tx.load::<_, String>(
                posts::table
                    .filter(posts::id.eq(1))
                    .filter(posts::slug.eq("first"))
                    .or_filter(posts::title.like("b%"))
                    .select(posts::title),
            )
        }),
        run(&t, a, |tx| {
            tx.load::<_, String>(
                posts::table
                    .filter(not(posts::id.eq(99)))
                    .or_filter(posts::title.like("b%"))
                    .select(posts::title)
                    .order(posts::id)
                    .limit(10),
            )
        }),
        run(&t, a, |tx| {
            tx.load::<_, String>(
                posts::table
                    .inner_join(comments::table.on(comments::post_id.eq(posts::id)))
                    .filter(comments::body.like("b%"))
                    .or_filter(posts::title.like("b%"))
                    .select(posts::title),
            )
        }),
        run(&t, a, |tx| {
            tx.count(
                posts::table
                    .filter(posts::title.like("b%"))
                    .or_filter(posts::title.is_not_null()),
            )
        }),
        run(&t, a, |tx| {
            tx.load::<_, String>(
                posts::table
                    .filter(posts::title.like("b%"))
                    .or_filter(posts::title.is_not_null())
                    .select(posts::title)
                    .for_update(),
            )
        }),
    ];
    for (i, o) in outcomes.iter().enumerate() {
        assert!(!report(&format!("precedence {i}"), o), "{i}: {o:?}");
    }
    // Counting: tenant A has two posts, whatever the filter's shape.
    assert_eq!(outcomes[4], Ok("2".to_owned()));
}

/// `DEALLOCATE` drops the statements Diesel prepared on the connection, which its cache still
/// names: refused on the native context; on the SQL context, the transaction that ran raw SQL
/// empties the cache when it ends. Either way the next tenant's typed statements run, whether
/// the statement came as text or from PL/pgSQL's `EXECUTE`.
#[test]
fn a_deallocate_in_one_tenants_sql_breaks_no_later_transaction() {
    for rls in Rls::all() {
        let (a, b) = rls.two_tenants();
        let t = rls.tenancy(1);
        for statement in [
            "DEALLOCATE ALL",
            "DO $$ BEGIN EXECUTE 'DEALLOC' || 'ATE ALL'; END $$",
        ] {
            for _ in 0..2 {
                let titles: Vec<String> = t
                    .transaction(b, |tx| tx.load(posts::table.select(posts::title)))
                    .unwrap();
                assert_eq!(titles.len(), 2, "{rls:?}");
            }
            // Refused (native) or run (SQL context), committed or not.
            let ran = t.transaction(a, |tx| tx.execute(diesel::sql_query(statement)));
            assert_eq!(ran.is_ok(), !rls.native(), "{rls:?} {statement}: {ran:?}");
            let titles: Vec<String> = t
                .transaction(b, |tx| tx.load(posts::table.select(posts::title)))
                .unwrap_or_else(|e| panic!("{rls:?} after {statement}: {e}"));
            assert_eq!(titles.len(), 2, "{rls:?} after {statement}");
            let names: Vec<String> = t
                .system(|sys| sys.load(categories::table.select(categories::name)))
                .unwrap_or_else(|e| panic!("{rls:?} system after {statement}: {e}"));
            assert!(!names.is_empty());
        }
    }
}
