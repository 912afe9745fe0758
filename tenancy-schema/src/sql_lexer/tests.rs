use super::fragment::check_fragment;
use super::lexer::{Token, tokenize};
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
    let holds = |sql: &str| filter_holds(sql, r#" FROM "posts""#, ("posts", "tenant_id"));
    let p = r#""posts"."tenant_id" = $1"#;
    assert!(holds(&format!(
        r#"SELECT "posts"."id" FROM "posts" WHERE {p}"#
    )));
    assert!(holds(&format!(
        r#"SELECT "posts"."id" FROM "posts" WHERE ("posts"."id" = $2) AND {p} ORDER BY "posts"."id" LIMIT $3"#
    )));
    // A predicate on another value, or on the tenant column of another table.
    assert!(!holds(
        r#"SELECT "posts"."id" FROM "posts" WHERE "posts"."tenant_id" = $2"#
    ));
    assert!(!holds(
        r#"SELECT "posts"."id" FROM "posts" WHERE "comments"."tenant_id" = $1"#
    ));
    // A filter Diesel did not parenthesise, so that AND would bind tighter than its OR.
    assert!(!holds(&format!(
        r#"SELECT "posts"."id" FROM "posts" WHERE "posts"."id" = $2 OR true AND {p}"#
    )));
    assert!(!holds(&format!(
        r#"SELECT "posts"."id" FROM "posts" WHERE ("posts"."id" = $2) OR ("posts"."id" = $3) AND {p}"#
    )));
    // Something after the predicate that is not the next clause.
    assert!(!holds(&format!(
        r#"SELECT "posts"."id" FROM "posts" WHERE ("posts"."id" = $2) AND {p} OR true"#
    )));
    // Comments, statements, a second WHERE at the top level, no WHERE at all.
    assert!(!holds(&format!(
        r#"SELECT "posts"."id" /* x */ FROM "posts" WHERE {p}"#
    )));
    assert!(!holds(&format!(
        r#"SELECT "posts"."id" FROM "posts" WHERE {p}; SELECT 1"#
    )));
    assert!(!holds(&format!(
        r#"SELECT "posts"."id" FROM "posts" WHERE {p} UNION SELECT 1 FROM x WHERE true"#
    )));
    assert!(!holds(r#"SELECT "posts"."id" FROM "posts""#));
    // A quote that opens in one clause and closes in another is read as the server reads it.
    assert!(!holds(&format!(
        r#"SELECT 'x FROM "posts" WHERE {p} AND ' FROM "posts" WHERE true"#
    )));
    // A predicate on a value a fragment bound, with tenancy's moved out of the WHERE clause.
    assert!(!holds(&format!(
        r#"SELECT "posts"."title" FROM "posts" WHERE ("posts"."id" = $3) AND "posts"."tenant_id" = $2 ORDER BY true AND {p}"#
    )));
    // Diesel's FROM hidden in a literal that a fragment opened, and a FROM of the fragment's
    // own naming something else "posts" in front of the predicate.
    assert!(!holds(&format!(
        r#"SELECT "posts"."title", ' FROM "posts" WHERE (' AS x FROM (SELECT title, $1 AS tenant_id FROM posts) AS posts WHERE ("posts"."id" = $2) AND {p}"#
    )));
    // A join, even one whose every table is filtered.
    let join = r#" FROM "posts" INNER JOIN "comments" ON ("comments"."post_id" = "posts"."id")"#;
    assert!(!filter_holds(
        &format!(r#"SELECT 1{join} WHERE {p} AND "comments"."tenant_id" = $1"#),
        join,
        ("posts", "tenant_id")
    ));
}

#[test]
fn a_predicate_goes_without_its_guard_only_where_the_callers_conditions_only_compare() {
    let bare = r#" FROM "posts""#;
    let alone = |sql: &str| filter_holds(sql, bare, ("posts", "tenant_id"));
    let p = r#""posts"."tenant_id" = $1"#;
    assert!(alone(&format!(
        r#"SELECT "posts"."title" FROM "posts" WHERE {p} ORDER BY "posts"."id" DESC LIMIT $2"#
    )));
    // Comparisons of columns, parameters and literals, as Diesel writes them.
    for filter in [
        r#"("posts"."id" = $2)"#,
        r#"(("posts"."id" = $2) AND ("posts"."title" <> 'x'))"#,
        r#"(("posts"."id" >= $2) OR ("posts"."title" IS NOT NULL))"#,
        r#"("posts"."id" = ANY($2))"#,
        r#"("posts"."id" != ALL($2))"#,
        r#"("posts"."id" IN ($2, $3))"#,
        r#"("posts"."id" BETWEEN $2 AND $3)"#,
        r#"(NOT ("posts"."published"))"#,
    ] {
        let sql = format!(r#"SELECT "posts"."title" FROM "posts" WHERE {filter} AND {p} LIMIT $4"#);
        assert!(alone(&sql), "{sql}");
        let asked = format!(r#"SELECT "posts"."title" FROM "posts" WHERE {filter} LIMIT $4"#);
        assert!(
            conditions_only_compare(&asked, bare, "posts", &|_| true),
            "{asked}"
        );
    }
    // Anything that computes: a function (quoted or not), a cast, arithmetic, a pattern, a
    // sub-query.
    for filter in [
        r#"(f("posts"."title"))"#,
        r#"("public"."f"("posts"."title"))"#,
        r#"("posts"."id"::text = $2)"#,
        r#"(1 / "posts"."id" = $2)"#,
        r#"("posts"."title" LIKE $2)"#,
        r#"("posts"."id" IN (SELECT 1))"#,
        r#"("posts"."id" = $2) OR (x)"#,
    ] {
        let sql = format!(r#"SELECT "posts"."title" FROM "posts" WHERE {filter} AND {p}"#);
        assert!(!alone(&sql), "{sql}");
        let asked = format!(r#"SELECT "posts"."title" FROM "posts" WHERE {filter}"#);
        assert!(
            !conditions_only_compare(&asked, bare, "posts", &|_| true),
            "{asked}"
        );
    }
    // A HAVING the planner may move into the scan, a join's ON.
    assert!(!alone(&format!(
        r#"SELECT "posts"."title" FROM "posts" WHERE {p} GROUP BY "posts"."title" HAVING (f("posts"."title"))"#
    )));
    let join = r#" FROM "posts" INNER JOIN "categories" ON (f("posts"."title"))"#;
    assert!(!filter_holds(
        &format!("SELECT 1{join} WHERE {p}"),
        join,
        ("posts", "tenant_id")
    ));
    // Asked before the predicates are written: the same conditions.
    let select = r#"SELECT "posts"."title" FROM "posts" ORDER BY "posts"."id""#;
    assert!(conditions_only_compare(select, bare, "posts", &|_| true));
    assert!(!conditions_only_compare(
        r#"SELECT "posts"."title" FROM "posts" WHERE (x)"#,
        bare,
        "posts",
        &|_| true
    ));
    assert!(!conditions_only_compare(
        r#"SELECT 1 FROM "posts" GROUP BY 1 HAVING ("posts"."id" = $2)"#,
        bare,
        "posts",
        &|_| true
    ));
    assert!(!conditions_only_compare(
        select,
        r#" FROM "posts" INNER JOIN "c" ON (x)"#,
        "posts",
        &|_| true
    ));
    // A row compares as a record, which fails on a row whose columns differ in type from the
    // other side's once those before are equal; an `IN` list is no row.
    let bare = r#" FROM "posts""#;
    for (filter, compares) in [
        (r#"("posts"."id" IN ($2, $3, 'x'))"#, true),
        (r#"("posts"."id" NOT IN ($2, $3))"#, true),
        (r#"(("posts"."id" = $2) AND ("posts"."slug" = $3))"#, true),
        (
            r#"(("posts"."tenant_id", "posts"."id", "posts"."title") = ANY ($2))"#,
            false,
        ),
        (r#"(("posts"."id", "posts"."slug") IN (($2, $3)))"#, false),
        (r#"("posts"."id" IN (($2, $3)))"#, false),
    ] {
        let sql = format!(r#"SELECT "posts"."id" FROM "posts" WHERE {filter}"#);
        assert_eq!(
            conditions_only_compare(&sql, bare, "posts", &|_| true),
            compares,
            "{filter}"
        );
    }
    // A column the schema says compares as a record (a composite type of the application's).
    let sql = r#"SELECT "posts"."id" FROM "posts" WHERE ("posts"."address" = ANY ($2))"#;
    assert!(conditions_only_compare(sql, bare, "posts", &|_| true));
    assert!(!conditions_only_compare(sql, bare, "posts", &|c| c != "address"));
    // Another table's name before a dot is not this table's column.
    let sql = r#"SELECT "posts"."id" FROM "posts" WHERE ("other"."id" = $2)"#;
    assert!(!conditions_only_compare(sql, bare, "posts", &|_| true));
}

#[test]
fn a_statement_closes_only_the_parentheses_it_opens() {
    assert!(check_balanced(r#"SELECT 1 FROM "posts" WHERE (a) AND (b IN (SELECT 1))"#).is_ok());
    assert!(check_balanced("SELECT ')' FROM t WHERE x = $$($$").is_ok());
    for unbalanced in [
        "SELECT 1 FROM t WHERE true) AND EXISTS (SELECT 1 FROM posts",
        "SELECT 1 FROM t WHERE (true",
    ] {
        assert!(
            matches!(check_balanced(unbalanced), Err(SqlTextError::Unbalanced(_))),
            "{unbalanced}"
        );
    }
}

#[test]
fn a_piece_tenancy_wrote_counts_only_where_it_is_read_as_code() {
    let piece = r#" FROM (SELECT * FROM "posts" WHERE "posts"."tenant_id" = $1) AS "posts""#;
    let at = "SELECT title".len();
    let whole = |before: &str, after: &str| format!("{before}{piece}{after}");
    assert!(is_code_at(
        &whole("SELECT title", " WHERE true FOR UPDATE"),
        at,
        piece
    ));
    assert!(is_code_at(&whole("SELECT title", ""), at, piece));
    // Swallowed by a comment, a string or a dollar quote that a fragment in front opened.
    for (before, after) in [
        ("SELECT t /*", " */ FROM posts FOR UPDATE"),
        ("SELECT t --", "\n FROM posts FOR UPDATE"),
        ("SELECT t '", "' AS x FROM posts FOR UPDATE"),
        ("SELECT $q$", "$q$ AS x FROM posts FOR UPDATE"),
    ] {
        let sql = whole(before, after);
        assert!(!is_code_at(&sql, before.len(), piece), "{sql}");
    }
    // Something joining its last token.
    assert!(!is_code_at(
        &whole("SELECT title", "\"x\" FOR UPDATE"),
        at,
        piece
    ));
    // Not there at all.
    assert!(!is_code_at("SELECT title FROM posts", at, piece));
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
fn a_string_continued_on_a_new_line_reads_as_its_first_part() {
    // PostgreSQL joins 'a' and a next string separated by white space holding a newline (a
    // `--` comment may sit in it), reading the continuation as the first part: after E'..', a
    // backslash still escapes the quote. Read as a fresh plain string, `posts` would hide in
    // a comment.
    let sql = "SELECT E'a'\n'\\'||'||' -- \\' || (SELECT title FROM public.posts) --' --\n";
    match names(sql) {
        // The plain string after it holds a backslash read two ways: refused as such.
        Err(SqlTextError::AmbiguousBackslash(_)) => {}
        Ok(found) => assert!(
            found
                .iter()
                .any(|n| n.name == "posts" && n.schema.as_deref() == Some("public")),
            "{found:?}"
        ),
        Err(other) => panic!("{other:?}"),
    }
    // Without the backslash the continuation needs to hide it, `posts` is seen.
    let found = names("SELECT E'a'\n'b' || (SELECT title FROM public.posts)").unwrap();
    assert!(
        found
            .iter()
            .any(|n| n.name == "posts" && n.schema.as_deref() == Some("public")),
        "{found:?}"
    );
    // An escaped quote in the continuation does not end it.
    let found = names("SELECT E'a'\n'\\' FROM public.posts --'").unwrap();
    assert!(found.iter().all(|n| n.name != "posts"), "{found:?}");
    for joined in [
        "SELECT 'a'\n'b' FROM t",
        "SELECT 'a' -- note\n  'b' FROM t",
        "SELECT 'a'\r\n-- note\n'b' FROM t",
        "SELECT B'1'\n'0' FROM t",
    ] {
        let tokens = tokenize(joined).unwrap();
        assert_eq!(
            tokens.iter().filter(|t| **t == Token::Literal).count(),
            1,
            "{joined}: {tokens:?}"
        );
    }
    // On one line, or past a block comment, two strings stay two (and the server refuses them).
    for apart in ["SELECT 'a' 'b' FROM t", "SELECT 'a' /* x */\n'b' FROM t"] {
        let tokens = tokenize(apart).unwrap();
        assert_eq!(
            tokens.iter().filter(|t| **t == Token::Literal).count(),
            2,
            "{apart}: {tokens:?}"
        );
    }
}

#[test]
fn a_bit_string_ends_at_its_first_quote() {
    // `B'1'`, then the string `' FROM t WHERE ('`.
    let tokens = tokenize("B'1'' FROM t WHERE ('").unwrap();
    assert_eq!(tokens, vec![Token::Literal, Token::Literal]);
    // The string after the bit string is a plain one: with standard_conforming_strings off its
    // backslash escapes the quote that would close it, and `) OR (true` is code to one reading
    // only. Read as one bit string with a doubled quote, the backslash was text either way.
    assert!(matches!(
        tokenize("X'1f''\\' = x) OR (true --'"),
        Err(SqlTextError::AmbiguousBackslash(_))
    ));
    // Continued on a new line, as any string literal.
    assert_eq!(
        tokenize("b'10'\n'01' = x").unwrap()[..2],
        [Token::Literal, Token::Operator("=".into())]
    );
}

#[test]
fn a_national_string_reads_backslashes_as_a_plain_one() {
    // N'..' is a plain string to PostgreSQL: with standard_conforming_strings off, its
    // backslash escapes the quote, and the rest is code.
    assert!(matches!(
        check_fragment("N'\\' = '= $$x$$) OR (true --'\n"),
        Err(SqlTextError::AmbiguousBackslash(_))
    ));
    assert!(check_fragment("name = N'plain'").is_ok());
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
fn code_starts_past_the_leading_comments() {
    let sql = "  -- names tenancy.f() too\r/* a /* nested */ one */\n\tCREATE FUNCTION f() -- x";
    assert_eq!(&sql[code_start(sql)..], "CREATE FUNCTION f() -- x");
    assert_eq!(code_start("-- only a comment"), "-- only a comment".len());
    assert_eq!(code_start("/* unterminated"), "/* unterminated".len());
    assert_eq!(code_start("SELECT 1"), 0);
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
fn unclosed_dollar_quotes_have_no_body() {
    // Each once cut the text inside a character: the unclosed quote reaches the end.
    for sql in [
        "$$\u{ff}1",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 \u{20ac}",
        "AS $body$ x \u{20ac}$",
        "$a$\u{e9}",
    ] {
        assert!(dollar_quoted_bodies(sql).is_empty(), "{sql}");
    }
    assert_eq!(dollar_quoted_bodies("AS $t$ \u{20ac} $t$"), [" \u{20ac} "]);
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
fn calls_are_told_from_relations() {
    // A comment between a function's name and its parenthesis is white space to the server.
    let found =
        names("SELECT post_count/**/ () FROM texts, public.f(1) WHERE g(x) AND texts.id > 0")
            .unwrap();
    let calls: Vec<_> = found
        .iter()
        .filter(|n| n.calls)
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(calls, ["post_count", "f", "g"]);
    assert!(
        found
            .iter()
            .any(|n| n.name == "texts" && !n.calls && !n.qualifies)
    );
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
    // Code in a string: a DO block, a function's body.
    for (statement, refused) in [
        ("DO $$BEGIN PERFORM 1 FROM posts; END$$", "DO"),
        ("/* c */ do language plpgsql 'BEGIN NULL; END'", "DO"),
        ("; DO $$BEGIN NULL; END$$", "DO"),
        (
            "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1 FROM posts'",
            "CREATE FUNCTION",
        ),
        (
            "create procedure p() language sql as $$DELETE FROM posts$$",
            "CREATE PROCEDURE",
        ),
    ] {
        assert!(
            matches!(names(statement), Err(SqlTextError::DynamicSql(ref s)) if s == refused),
            "{statement}"
        );
    }
    for statement in [
        "INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO NOTHING",
        "INSERT INTO t (a) VALUES (1) ON CONFLICT DO UPDATE SET a = 2",
        r#"SELECT "do" FROM t"#,
        "CREATE VIEW v AS SELECT 1",
    ] {
        assert!(names(statement).is_ok(), "{statement}");
    }
    // A statement prepared on the connection, run by name.
    for statement in [
        "EXECUTE __diesel_stmt_1('a', 0)",
        "explain analyze execute s3",
        "CREATE TEMP TABLE t AS EXECUTE p(1)",
    ] {
        assert!(
            matches!(names(statement), Err(SqlTextError::ExecutePrepared)),
            "{statement}"
        );
    }
    for statement in [
        r#"SELECT "execute" FROM t"#,
        "SELECT t.execute FROM t",
        "SELECT 'EXECUTE p'",
    ] {
        assert!(names(statement).is_ok(), "{statement}");
    }
    // Citus's functions that run a statement given as text on the node they run on.
    for call in [
        "SELECT citus_run_local_command('SELECT 1')",
        "SELECT * FROM worker_save_query_explain_analyze('SELECT body FROM notes', '{}') AS (b text)",
        "SELECT create_intermediate_result('x', 'SELECT * FROM notes')",
        "SELECT broadcast_intermediate_result('x', 'SELECT * FROM notes')",
        "SELECT * FROM pg_catalog.worker_partition_query_result('x', 'SELECT 1', 0, 'hash', '{}', '{}', true)",
    ] {
        assert!(
            matches!(names(call), Err(SqlTextError::DynamicSql(_))),
            "{call}"
        );
    }
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
    let found = names("SELECT $é$'$é$ || (SELECT max(title) FROM public.posts) -- '\n").unwrap();
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

#[test]
fn a_tenant_write_keeps_its_where_clause_in_place() {
    let predicate = r#""posts"."tenant_id" = $1 AND (id = 1)"#;
    let ok = r#"UPDATE "posts" SET "title" = $2 WHERE "posts"."tenant_id" = $1 AND (id = 1)"#;
    assert_eq!(check_filtered_write(ok, predicate), Ok(()));
    let returning = format!("{ok} RETURNING \"posts\".\"id\"");
    assert_eq!(check_filtered_write(&returning, predicate), Ok(()));
    let sub_select = r#"UPDATE "posts" SET "title" = (SELECT t FROM x WHERE y) WHERE "posts"."tenant_id" = $1 AND (id = 1)"#;
    assert_eq!(check_filtered_write(sub_select, predicate), Ok(()));
    // A value that opens a string the filter closes: the tenant predicate becomes text.
    let filter = r#""posts"."tenant_id" = $1 AND (\'x' <> 'x')"#;
    let opened = r#"UPDATE "posts" SET "title" = 'p' WHERE tenant_id = 'b' AND (E' WHERE "posts"."tenant_id" = $1 AND (\'x' <> 'x')"#;
    assert!(matches!(
        check_filtered_write(opened, filter),
        Err(SqlTextError::RestructuredWrite(_))
    ));
    let second_where = r#"UPDATE "posts" SET "title" = 'p' WHERE true OR true WHERE "posts"."tenant_id" = $1 AND (id = 1)"#;
    assert!(check_filtered_write(second_where, predicate).is_err());
    let own_returning = r#"UPDATE "posts" SET "title" = 'p' RETURNING 1, (1) WHERE "posts"."tenant_id" = $1 AND (id = 1)"#;
    assert!(check_filtered_write(own_returning, predicate).is_err());
    let commented =
        r#"UPDATE "posts" SET "title" = 'p' -- WHERE "posts"."tenant_id" = $1 AND (id = 1)"#;
    assert!(check_filtered_write(commented, predicate).is_err());
    // The filters' own parameters are numbered on in the statement: only their places count.
    let bound = r#""posts"."tenant_id" = $1 AND ("posts"."id" = $1)"#;
    let numbered_on =
        r#"UPDATE "posts" SET "title" = $2 WHERE "posts"."tenant_id" = $1 AND ("posts"."id" = $3)"#;
    assert_eq!(check_filtered_write(numbered_on, bound), Ok(()));
    // A value that writes a tenant predicate of its own, on a value it bound, and swallows
    // tenancy's in a dollar quote the filter closes.
    let retargeted = r#"UPDATE "posts" SET "title" = "posts"."title" WHERE "posts"."tenant_id" = $2 AND ("posts"."id" = $3)"#;
    assert!(matches!(
        check_filtered_write(retargeted, bound),
        Err(SqlTextError::RestructuredWrite(_))
    ));
    // Every parameter of the tenant's predicate, its guard's too, is the tenant.
    let guarded = r#""posts"."tenant_id" = $1 AND CASE WHEN "posts"."tenant_id" = ANY (ARRAY[$1]) THEN 1 END IS NOT NULL AND ("posts"."id" = $1)"#;
    let as_written = r#"UPDATE "posts" SET "title" = $2 WHERE "posts"."tenant_id" = $1 AND CASE WHEN "posts"."tenant_id" = ANY (ARRAY[$1]) THEN 1 END IS NOT NULL AND ("posts"."id" = $3)"#;
    assert_eq!(check_filtered_write(as_written, guarded), Ok(()));
    let guard_moved = as_written.replacen("ARRAY[$1]", "ARRAY[$2]", 1);
    assert!(check_filtered_write(&guard_moved, guarded).is_err());
}

#[test]
fn a_tenant_insert_keeps_its_rows_and_clauses() {
    let plain = InsertTail {
        conflict: None,
        returning: false,
    };
    let ok = r#"INSERT INTO "posts" ("tenant_id", "id", "title") VALUES ($1, $2, $3), ($1, $5, lower('x'))"#;
    assert_eq!(check_insert(ok, 2, plain), Ok(()));
    // A row that opens with a value a fragment bound, not the tenant: a string opened in the
    // first row's last value and closed in the second's swallowed tenancy's `), ($1, `.
    let retargeted = r#"INSERT INTO "posts" ("tenant_id", "id", "title") VALUES ($1, 1, 's'), ($2, 1, '), ($1, 0, x$3' || 'y')"#;
    assert!(check_insert(retargeted, 2, plain).is_err());
    assert!(check_insert(ok, 1, plain).is_err());
    let only_tenant = r#"INSERT INTO "tags" ("tenant_id") VALUES ($1)"#;
    assert_eq!(check_insert(only_tenant, 1, plain), Ok(()));
    let extra_row = r#"INSERT INTO "posts" ("tenant_id", "id", "title") VALUES ($1, $2, 'x'), ('b', 51, 'planted')"#;
    assert!(check_insert(extra_row, 1, plain).is_err());
    // Two rows, one swallowed and one forged: the second row does not open with a parameter.
    let forged = r#"INSERT INTO "posts" ("tenant_id", "id", "title") VALUES ($1, $2, 'x'), ('b', 5, 'y'), ($3, $4, 'z')"#;
    assert!(check_insert(forged, 2, plain).is_err());
    let merged =
        r#"INSERT INTO "posts" ("tenant_id", "id", "title") VALUES ($1, $2, (1), ($3, $4, 1))"#;
    assert!(check_insert(merged, 2, plain).is_err());
    let own_conflict = r#"INSERT INTO "posts" ("tenant_id", "id", "title") VALUES ($1, $2, 'x') ON CONFLICT ("tenant_id", "id") DO UPDATE SET title = ('p')"#;
    assert!(check_insert(own_conflict, 1, plain).is_err());
    let upsert = InsertTail {
        conflict: Some(true),
        returning: true,
    };
    let ok_upsert = r#"INSERT INTO "posts" ("tenant_id", "id", "title") VALUES ($1, $2, $3) ON CONFLICT ("tenant_id", "id") DO UPDATE SET "title" = excluded."title" RETURNING "posts"."id""#;
    assert_eq!(check_insert(ok_upsert, 1, upsert), Ok(()));
    let two_returning = r#"INSERT INTO "posts" ("tenant_id", "id", "title") VALUES ($1, $2, $3) ON CONFLICT ("tenant_id", "id") DO UPDATE SET "title" = 'x' RETURNING (1), (1) RETURNING "posts"."id""#;
    assert!(check_insert(two_returning, 1, upsert).is_err());
    let update_where = r#"INSERT INTO "posts" ("tenant_id", "id", "title") VALUES ($1, $2, $3) ON CONFLICT ("tenant_id", "id") DO UPDATE SET "title" = 'x' WHERE true RETURNING "posts"."id""#;
    assert!(check_insert(update_where, 1, upsert).is_err());
    let nothing = InsertTail {
        conflict: Some(false),
        returning: false,
    };
    let ok_nothing = r#"INSERT INTO "posts" ("tenant_id", "id") VALUES ($1, $2) ON CONFLICT ("tenant_id", "id") DO NOTHING"#;
    assert_eq!(check_insert(ok_nothing, 1, nothing), Ok(()));
    let returned = InsertTail {
        conflict: None,
        returning: true,
    };
    let injected_returning = r#"INSERT INTO "posts" ("tenant_id", "id") VALUES ($1, 'x') RETURNING (SELECT 1), ($2) RETURNING "posts"."id""#;
    assert!(check_insert(injected_returning, 1, returned).is_err());
}

#[test]
fn a_write_whose_filters_only_compare_goes_without_the_guard() {
    let guarded = r#"UPDATE "posts" SET "title" = $2 WHERE "posts"."tenant_id" = $1 AND CASE WHEN "posts"."tenant_id" = ANY (ARRAY[$1]) THEN 1 END IS NOT NULL"#;
    let without = r#"UPDATE "posts" SET "title" = $2 WHERE "posts"."tenant_id" = $1"#;
    let unguarded = |tail: &str| {
        write_without_guard(&format!("{guarded}{tail}"), "posts", "tenant_id", &|_| true)
    };
    assert_eq!(unguarded("").as_deref(), Some(without));
    for tail in [
        r#" AND ("posts"."id" = $3)"#,
        r#" AND ("posts"."id" = $3) AND (("posts"."slug" IS NULL) OR ("posts"."id" = ANY ($4)))"#,
        r#" AND ("posts"."id" BETWEEN 1 AND 5) RETURNING "posts"."id", lower("posts"."title")"#,
        " AND (true)",
    ] {
        assert_eq!(unguarded(tail), Some(format!("{without}{tail}")), "{tail}");
    }
    assert_eq!(
        write_without_guard(
            &format!(r#"{guarded} AND ("posts"."address" = $3)"#),
            "posts",
            "tenant_id",
            &|c| c != "address"
        ),
        None
    );
    for tail in [
        r#" AND (("posts"."tenant_id", "posts"."id") = ANY ($3))"#,
        r#" AND ("posts"."title" LIKE $3)"#,
        r#" AND (lower("posts"."title") = $3)"#,
        r#" AND ("posts"."id" / 0 = 1)"#,
        r#" AND ("posts"."id"::text = '1')"#,
        r#" AND ("posts"."id" IN (SELECT 1))"#,
        r#" AND ("posts"."id" = 1 /* c */)"#,
    ] {
        assert_eq!(unguarded(tail), None, "{tail}");
    }
    // The guard spelled out in a value as well: the text holds it twice, and stays as it is.
    let twice = format!(
        r#"UPDATE "posts" SET "title" = ' AND CASE WHEN "posts"."tenant_id" = ANY (ARRAY[$1]) THEN 1 END IS NOT NULL' {}"#,
        &guarded[guarded.find("WHERE").unwrap()..]
    );
    assert_eq!(
        write_without_guard(&twice, "posts", "tenant_id", &|_| true),
        None
    );
    // The guard only in a value, not behind the predicate: nothing to take out.
    let in_value = r#"DELETE FROM "posts" WHERE "posts"."tenant_id" = $1 AND (' AND CASE WHEN "posts"."tenant_id" = ANY (ARRAY[$1]) THEN 1 END IS NOT NULL' = "posts"."title")"#;
    assert_eq!(
        write_without_guard(in_value, "posts", "tenant_id", &|_| true),
        None
    );
    // Another table's column: not this write's guard.
    assert_eq!(
        write_without_guard(guarded, "comments", "tenant_id", &|_| true),
        None
    );
}

#[test]
fn array_constructors_of_a_tenant_statement_hold_values_only() {
    for sql in [
        r#"SELECT "posts"."id" FROM "posts" WHERE "posts"."tenant_id" = $1 AND CASE WHEN "posts"."tenant_id" = ANY (ARRAY[$1]) THEN 1 END IS NOT NULL"#,
        r#"SELECT ARRAY[$2, 'x', NULL, CASE WHEN $3 THEN 1 ELSE 2 END] FROM "posts""#,
        r#"SELECT ARRAY[ARRAY[$2], ARRAY[$3]] FROM "posts""#,
        r#"SELECT "posts"."id" FROM "posts" WHERE "posts"."id" = ANY ($2) AND ARRAY(SELECT 1) IS NOT NULL"#,
    ] {
        assert!(tenant_statement_names(sql).is_ok(), "{sql}");
    }
    for (sql, named) in [
        (
            r#"SELECT 1 FROM "posts" WHERE (ARRAY[ARRAY[$2], CASE WHEN (("posts"."category_id" IS NULL)) THEN (ARRAY[$3, $4]) ELSE (ARRAY[$5]) END] IS NOT NULL)"#,
            "posts",
        ),
        (
            "SELECT 1 FROM posts WHERE array [ array[1], case when flag then array[1,2] else array[3] end ] is not null",
            "flag",
        ),
        (
            "SELECT 1 FROM posts WHERE ARRAY/* c */[tags, other_tags] IS NOT NULL",
            "tags",
        ),
        ("SELECT ARRAY[-id] FROM posts", "id"),
        ("SELECT ARRAY[$2::int] FROM posts", "int"),
        (
            "SELECT ARRAY[starts_with($2, 'a')] FROM posts",
            "starts_with",
        ),
    ] {
        assert_eq!(
            tenant_statement_names(sql),
            Err(SqlTextError::RowValuesInArray(named.to_owned())),
            "{sql}"
        );
        // Elsewhere (a global table's statement) the constructor is no tenant's concern.
        assert!(names(sql).is_ok(), "{sql}");
    }
}

#[test]
fn like_patterns_bound_as_values_are_found_with_their_escape() {
    use super::like::{LikeEscape, LikePattern};
    let found = bound_like_patterns(
        r#"SELECT 1 FROM "posts" WHERE ("posts"."title" LIKE $2) AND ("posts"."slug" NOT ILIKE $3 ESCAPE $4) AND "posts"."body" ~~* $5 AND "posts"."x" LIKE 'a' AND "posts"."y" LIKE $6 ESCAPE '!' AND "posts"."tenant_id" = $1"#,
    );
    assert_eq!(
        found,
        [
            LikePattern {
                param: 2,
                escape: LikeEscape::Backslash
            },
            LikePattern {
                param: 3,
                escape: LikeEscape::Param(4)
            },
            LikePattern {
                param: 5,
                escape: LikeEscape::Backslash
            },
            LikePattern {
                param: 6,
                escape: LikeEscape::Unknown
            },
        ]
    );
    // Inside a literal, a quoted name or a comment, `LIKE` is no operator.
    assert!(bound_like_patterns(r#"SELECT 'x LIKE $2', "like" FROM t /* LIKE $3 */"#).is_empty());
}

#[test]
fn a_pattern_ends_with_its_escape_only_when_an_odd_run_of_it_closes_it() {
    for (pattern, escape, ends) in [
        ("abc", "\\", false),
        ("abc\\", "\\", true),
        ("abc\\\\", "\\", false),
        ("abc\\\\\\", "\\", true),
        ("\\", "\\", true),
        ("", "\\", false),
        ("a!b!", "!", true),
        ("a!!", "!", false),
        ("ab\\", "!", false),
        ("x€€€", "€", true),
        ("abc\\", "", false),
    ] {
        assert_eq!(
            ends_with_escape(pattern.as_bytes(), escape.as_bytes()),
            ends,
            "{pattern:?} {escape:?}"
        );
    }
}

#[test]
fn like_patterns_computed_from_values_alone_are_refused() {
    let computed = |filter: &str| {
        let sql = format!(r#"SELECT "posts"."id" FROM "posts" WHERE {filter}"#);
        matches!(
            tenant_statement_names(&sql),
            Err(SqlTextError::ComputedLikePattern)
        )
    };
    for filter in [
        r#"("posts"."title" LIKE ($2 || $3))"#,
        r#"("posts"."title" ILIKE lower($2))"#,
        r#"("posts"."title" NOT LIKE concat($2, '%') ESCAPE $3)"#,
        r#""posts"."title" LIKE $2 || '%' AND "posts"."id" = $3"#,
        r#""posts"."title" ~~ ANY ($2)"#,
    ] {
        assert!(computed(filter), "{filter}");
    }
    for filter in [
        r#"("posts"."title" LIKE $2)"#,
        r#"("posts"."title" LIKE $2 ESCAPE $3)"#,
        r#"("posts"."title" LIKE $2 COLLATE "C")"#,
        r#"("posts"."title" LIKE ("posts"."slug" || $2))"#,
        r#"("posts"."title" LIKE 'a%' || 'b')"#,
        r#"("posts"."title" LIKE $2) AND (lower($3) = "posts"."slug")"#,
        r#"("posts"."title" LIKE $2::text)"#,
    ] {
        assert!(!computed(filter), "{filter}");
    }
}
