//! Reading classified tables from a `schema.rs`, and bad input: broken files, broken
//! `diesel.toml`s, and nesting deep enough to exhaust the stack.

use std::path::Path;

use tenancy_schema::TableKind;

use super::nesting::LIMIT;
use super::*;

#[test]
fn reads_the_classified_tables_of_a_schema_rs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("schema.rs");
    std::fs::write(
        &path,
        r#"
// @generated automatically by Diesel CLI.
pub mod sql_types {
#[derive(diesel::sql_types::SqlType)]
#[diesel(postgres_type(name = "task_state"))]
pub struct TaskState;
}

#[tenancy_schema::tenant_scoped(unique(name), foreign_key(project_id -> projects))]
diesel::table! {
use diesel::sql_types::*;
use super::sql_types::TaskState;

tasks (tenant_id, id) {
    tenant_id -> Uuid,
    id -> Uuid,
    project_id -> Uuid,
    name -> Text,
    state -> TaskState,
    due -> Nullable<Timestamptz>,
}
}

#[tenancy_schema::global_table]
diesel::table! {
plans (id) {
    id -> Uuid,
    name -> Text,
}
}

diesel::table! {
unclassified (id) {
    id -> Int4,
}
}
"#,
    )
    .expect("write");
    let tables = classified_tables(&path).expect("parse");
    assert_eq!(tables.len(), 2);
    let tasks = tables[0];
    assert_eq!(tasks.table, "tasks");
    assert_eq!(tasks.kind, TableKind::TenantScoped);
    assert_eq!(tasks.primary_key, ["tenant_id", "id"]);
    assert_eq!(tasks.uniques, [&["tenant_id", "name"][..]]);
    assert_eq!(tasks.foreign_keys[0].columns, ["tenant_id", "project_id"]);
    assert_eq!(tasks.foreign_keys[0].references, "projects");
    assert_eq!(
        tasks.column_types,
        [
            "Uuid",
            "Uuid",
            "Uuid",
            "Text",
            "TaskState",
            "Nullable<Timestamptz>"
        ]
    );
    assert_eq!(tables[1].table, "plans");
    assert_eq!(tables[1].kind, TableKind::Global);
    assert_eq!(tables[1].tenant_column, None);
}

#[test]
fn a_broken_file_is_a_typed_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("schema.rs");
    std::fs::write(&path, "#[tenant_scoped] diesel::table! { posts ( {").expect("write");
    assert!(matches!(
        classified_tables(&path),
        Err(AppSchemaError::Parse { .. })
    ));
    assert!(matches!(
        classified_tables(&dir.path().join("missing.rs")),
        Err(AppSchemaError::Read { .. })
    ));
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(&path, text).expect("write");
    path
}

/// A classified table whose first column has the type `ty`, with `attr` in front of the
/// table.
fn table_with(attr: &str, ty: &str) -> String {
    format!(
        "#[tenancy_schema::tenant_scoped]\ndiesel::table! {{\n    {attr}\n    deep (tenant_id, id) {{\n        tenant_id -> Uuid,\n        id -> {ty},\n    }}\n}}\n"
    )
}

/// Nesting that used to overflow the stack (the depths of the report and far beyond) is
/// refused with a typed error; outside a classified table it is not parsed at all.
#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let dir = tempfile::tempdir().expect("tempdir");
    for depth in [400, 800, 5_000, 100_000] {
        let deep_in_table = [
            table_with(
                "",
                &format!("{}Text{}", "Nullable<".repeat(depth), ">".repeat(depth)),
            ),
            table_with("", &format!("{}Text", "&".repeat(depth))),
            table_with(
                "",
                &format!("{}Text{}", "[".repeat(depth), "]".repeat(depth)),
            ),
            table_with(
                &format!(
                    "#[sql_name = {}\"x\"{}]",
                    "(".repeat(depth),
                    ")".repeat(depth)
                ),
                "Uuid",
            ),
            table_with(&format!("#[sql_name = {}\"x\"]", "!".repeat(depth)), "Uuid"),
            format!(
                "#[tenant_scoped(unique({}name{}))]\ndiesel::table! {{ deep (id) {{ id -> Uuid, }} }}",
                "(".repeat(depth),
                ")".repeat(depth)
            ),
        ];
        for (i, text) in deep_in_table.iter().enumerate() {
            let path = write(dir.path(), "schema.rs", text);
            match classified_tables(&path) {
                Err(AppSchemaError::TooDeep { table, limit, .. }) => {
                    assert_eq!(table, "deep", "case {i} at {depth}");
                    assert_eq!(limit, LIMIT);
                }
                other => panic!("case {i} at {depth}: {other:?}"),
            }
        }
        // Modules and expressions outside the tables are walked, never parsed.
        let around = format!(
            "const X: u8 = {}1{};\nstatic Y: u8 = {}1;\n{}{}{}",
            "(".repeat(depth),
            ")".repeat(depth),
            "!".repeat(depth),
            "mod m {\n".repeat(depth),
            table_with("", "Uuid"),
            "}\n".repeat(depth),
        );
        let path = write(dir.path(), "schema.rs", &around);
        let tables = classified_tables(&path).expect("the table in the innermost module");
        assert_eq!(tables.len(), 1, "at {depth}");
        assert_eq!(tables[0].table, "deep");
    }
}

/// A construct that nests, by name, and a `schema.rs` nesting it so many levels deep.
type Construct = (&'static str, fn(usize) -> String);

/// The deepest nesting the limit lets through parses, on the parser thread, for the
/// constructs that take the most stack per level: the limit and the stack fit together.
#[test]
fn the_deepest_accepted_nesting_parses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let constructs: [Construct; 7] = [
        ("Nullable<", |n| {
            table_with(
                "",
                &format!("{}Text{}", "Nullable<".repeat(n), ">".repeat(n)),
            )
        }),
        ("<T as X>::Y", |n| {
            table_with(
                "",
                &format!("{}Text{}", "<".repeat(n), " as X>::Y".repeat(n)),
            )
        }),
        ("&", |n| table_with("", &format!("{}Text", "&".repeat(n)))),
        ("[", |n| {
            table_with("", &format!("{}Text{}", "[".repeat(n), "]".repeat(n)))
        }),
        ("fn() ->", |n| {
            table_with("", &format!("{}Text", "fn() -> ".repeat(n)))
        }),
        ("(", |n| {
            table_with(
                &format!("#[sql_name = {}\"x\"{}]", "(".repeat(n), ")".repeat(n)),
                "Uuid",
            )
        }),
        ("!", |n| {
            table_with(&format!("#[sql_name = {}\"x\"]", "!".repeat(n)), "Uuid")
        }),
    ];
    for (name, make) in constructs {
        let accepted = |n: usize| {
            let path = write(dir.path(), "schema.rs", &make(n));
            !matches!(
                classified_tables(&path),
                Err(AppSchemaError::TooDeep { .. })
            )
        };
        // The deepest accepted level, by bisection: `low` is accepted, `high` is not.
        let (mut low, mut high) = (1, LIMIT + 1);
        assert!(accepted(low) && !accepted(high), "{name}");
        while high - low > 1 {
            let middle = usize::midpoint(low, high);
            if accepted(middle) {
                low = middle;
            } else {
                high = middle;
            }
        }
        assert!(low >= 20, "{name}: only {low} levels");
        let path = write(dir.path(), "schema.rs", &make(low));
        let tables = classified_tables(&path).unwrap_or_else(|e| panic!("{name} at {low}: {e}"));
        assert_eq!(tables.len(), 1, "{name}");
    }
}

/// No `diesel.toml`, or one naming no file: no application tables, as before.
#[test]
fn no_configured_schema_rs_is_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(matches!(schema_rs_of(dir.path()), Ok(None)));
    write(
        dir.path(),
        "diesel.toml",
        "[migrations_directory]\ndir = \"migrations\"\n",
    );
    assert!(matches!(schema_rs_of(dir.path()), Ok(None)));
    write(
        dir.path(),
        "diesel.toml",
        "[print_schema]\nwith_docs = true\n",
    );
    assert!(matches!(schema_rs_of(dir.path()), Ok(None)));
    write(dir.path(), "src/schema.rs", "");
    write(
        dir.path(),
        "diesel.toml",
        "[print_schema]\nfile = \"src/schema.rs\"\n",
    );
    assert_eq!(
        schema_rs_of(dir.path()).expect("configured"),
        Some(dir.path().join("src/schema.rs"))
    );
}

/// A `diesel.toml` tenancy cannot read, or a `schema.rs` it names but that is not there, is an
/// error naming the file: never a check without the application's tables.
#[test]
fn an_unreadable_config_or_a_missing_schema_rs_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    for text in [
        "[print_schema]\nfile = \"src/schema.rs\"\n[migrations_directory\n",
        "[print_schema]\nfile = 5\n",
        "print_schema = \"src/schema.rs\"\n",
    ] {
        write(dir.path(), "diesel.toml", text);
        for error in [
            schema_rs_of(dir.path()).expect_err(text),
            configured_schema_rs(dir.path()).expect_err(text),
        ] {
            assert!(
                matches!(&error, AppSchemaError::Config { path, .. } if path.ends_with("diesel.toml")),
                "{text}: {error:?}"
            );
        }
    }
    write(
        dir.path(),
        "diesel.toml",
        "[print_schema]\nfile = \"src/missing.rs\"\n",
    );
    let error = schema_rs_of(dir.path()).expect_err("missing");
    assert!(
        matches!(&error, AppSchemaError::MissingSchemaRs { path, .. } if path.ends_with("src/missing.rs")),
        "{error:?}"
    );
    assert!(error.to_string().contains("src/missing.rs"), "{error}");
    // print-schema writes the file: that it does not exist yet is fine there.
    assert_eq!(
        configured_schema_rs(dir.path()).expect("configured"),
        Some(dir.path().join("src/missing.rs"))
    );
}

#[test]
fn tenant_scoped_followed_by_other_tokens_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(
        dir.path(),
        "schema.rs",
        "#[tenant_scoped(unique(name)) extra] diesel::table! { t (id) { id -> Uuid, } }",
    );
    assert!(matches!(
        classified_tables(&path),
        Err(AppSchemaError::Parse { .. })
    ));
}
