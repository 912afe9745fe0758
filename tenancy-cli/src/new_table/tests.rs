//! Unit tests of the scaffold: validation, the rendered SQL and the Diesel table.

use std::fs;

use super::{column::*, diesel_table::*, error::*, migration::*, names::*, spec::*};
use chrono::{DateTime, Utc};

fn deployments() -> TableSpec {
    let mut spec = TableSpec::new("deployments");
    for column in [
        "workspace_id:uuid",
        "name:text",
        "status:enum:deployment_status",
        "config:jsonb:null",
    ] {
        spec.columns.push(column.parse().expect("valid column"));
    }
    spec.indexes.push(vec!["name".into()]);
    spec.uniques.push(vec!["name".into()]);
    spec.references
        .push("workspace_id:workspaces".parse().expect("valid reference"));
    spec
}

#[test]
fn foundation_tables_match_the_registry() {
    // This test binary links only the foundation schema's classified tables.
    let registered: Vec<&str> = tenancy_schema::registry().iter().map(|m| m.table).collect();
    assert_eq!(registered, FOUNDATION_TABLES);
}

#[test]
fn identifiers_are_validated() {
    assert_eq!(validate_identifier("table", "deployments"), Ok(()));
    assert_eq!(validate_identifier("table", "_x9"), Ok(()));
    assert_eq!(
        validate_identifier("table", ""),
        Err(SpecError::EmptyIdentifier { what: "table" })
    );
    for bad in [
        "Deployments",
        "9lives",
        "my-table",
        "a b",
        "naïve",
        "a;drop",
    ] {
        assert!(
            matches!(
                validate_identifier("column", bad),
                Err(SpecError::InvalidIdentifier { what: "column", .. })
            ),
            "{bad}"
        );
    }
    let long = "a".repeat(64);
    assert!(matches!(
        validate_identifier("column", &long),
        Err(SpecError::IdentifierTooLong {
            len: 64,
            max: 63,
            ..
        })
    ));
    assert_eq!(validate_identifier("column", &"a".repeat(63)), Ok(()));
    assert!(matches!(
        validate_identifier("table", "select"),
        Err(SpecError::ReservedWord { .. })
    ));
    // Non-reserved key words are fine as names.
    assert_eq!(validate_identifier("column", "name"), Ok(()));
    assert_eq!(validate_identifier("column", "status"), Ok(()));
}

#[test]
fn table_names_leave_room_for_the_trigger() {
    let spec = TableSpec::new("t".repeat(58));
    let err = spec.validate().expect_err("too long");
    assert!(
        matches!(err, SpecError::IdentifierTooLong { max: 57, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("_touch"), "{err}");
    TableSpec::new("t".repeat(57)).validate().expect("fits");
}

#[test]
fn columns_parse_with_types_enums_and_null() {
    let c: Column = "config:jsonb:null".parse().expect("parse");
    assert_eq!(
        c,
        Column {
            name: "config".into(),
            ty: ColumnType::Jsonb,
            nullable: true
        }
    );
    let c: Column = "count:BIGINT".parse().expect("type keywords ignore case");
    assert_eq!((c.ty, c.nullable), (ColumnType::BigInt, false));
    let c: Column = "status:enum:deployment_status:null".parse().expect("parse");
    assert_eq!(c.ty, ColumnType::Enum("deployment_status".into()));
    assert!(c.nullable);
    assert_eq!(c.ty.to_string(), "enum:deployment_status");
    assert_eq!(c.ty.diesel(), "DeploymentStatus");
}

#[test]
fn bad_columns_are_typed_errors() {
    let err = |s: &str| s.parse::<Column>().expect_err(s);
    assert!(matches!(err("name"), SpecError::MalformedColumn { .. }));
    assert!(matches!(err("name:"), SpecError::MalformedColumn { .. }));
    assert!(matches!(err(":text"), SpecError::MalformedColumn { .. }));
    assert!(matches!(
        err("status:enum"),
        SpecError::MalformedColumn { .. }
    ));
    assert!(matches!(
        err("x:varchar(20)"),
        SpecError::UnknownType { .. }
    ));
    assert!(matches!(err("x:json"), SpecError::UnknownType { .. }));
    assert!(err("x:money").to_string().contains("enum:<type name>"));
    assert!(matches!(
        err("x:text:notnull"),
        SpecError::UnknownColumnOption { .. }
    ));
    assert!(matches!(
        err("x:text:null:null"),
        SpecError::UnknownColumnOption { .. }
    ));
    assert!(matches!(
        err("Name:text"),
        SpecError::InvalidIdentifier { what: "column", .. }
    ));
    assert!(matches!(
        err("s:enum:Bad-Type"),
        SpecError::InvalidIdentifier {
            what: "enum type",
            ..
        }
    ));
    assert!(matches!(err("order:text"), SpecError::ReservedWord { .. }));
}

#[test]
fn references_and_column_lists_parse() {
    let r: Reference = "workspace_id:workspaces".parse().expect("parse");
    assert_eq!(
        (r.column.as_str(), r.table.as_str()),
        ("workspace_id", "workspaces")
    );
    for bad in ["workspace_id", "a:b:c", ":t", "c:"] {
        assert!(
            matches!(
                bad.parse::<Reference>(),
                Err(SpecError::MalformedReference { .. })
            ),
            "{bad}"
        );
    }
    assert_eq!(
        parse_column_list("workspace_id, name").expect("parse"),
        ["workspace_id", "name"]
    );
    assert!(matches!(
        parse_column_list("a,,b"),
        Err(SpecError::MalformedColumnList { .. })
    ));
    assert!(matches!(
        parse_column_list(""),
        Err(SpecError::MalformedColumnList { .. })
    ));
}

#[test]
fn specs_are_validated_as_a_whole() {
    let with = |f: &dyn Fn(&mut TableSpec)| {
        let mut spec = deployments();
        f(&mut spec);
        spec.validate().expect_err("invalid spec")
    };
    assert!(matches!(
        with(&|s| s.columns.push("tenant_id:uuid".parse().unwrap())),
        SpecError::GeneratedColumn { .. }
    ));
    assert!(matches!(
        with(&|s| s.columns.push("name:text".parse().unwrap())),
        SpecError::DuplicateColumn { .. }
    ));
    assert!(matches!(
        with(&|s| s.indexes.push(vec!["missing".into()])),
        SpecError::UnknownColumn { kind: "index", .. }
    ));
    assert!(matches!(
        with(&|s| s.uniques.push(vec!["tenant_id".into(), "name".into()])),
        SpecError::TenantColumnInKey { .. }
    ));
    assert!(matches!(
        with(&|s| s.uniques.push(vec!["name".into()])),
        SpecError::RedundantKey { .. }
    ));
    assert!(matches!(
        with(&|s| s.indexes.push(vec!["id".into()])),
        SpecError::RedundantKey { .. }
    ));
    assert!(matches!(
        with(&|s| s.indexes.push(vec!["name".into(), "name".into()])),
        SpecError::RepeatedColumnInKey { .. }
    ));
    assert!(matches!(
        with(&|s| s.references.push("nope:workspaces".parse().unwrap())),
        SpecError::UnknownColumn {
            kind: "reference",
            ..
        }
    ));
    assert!(matches!(
        with(&|s| s.references.push("name:workspaces".parse().unwrap())),
        SpecError::ReferenceNotUuid { .. }
    ));
    assert!(matches!(
        with(&|s| s.references.push("workspace_id:teams".parse().unwrap())),
        SpecError::DuplicateReference { .. }
    ));
    assert!(matches!(
        with(&|s| {
            s.columns.push("owner:uuid".parse().unwrap());
            s.references.push("owner:tenants".parse().unwrap());
        }),
        SpecError::ReferenceToTenants { .. }
    ));
    assert!(matches!(
        with(&|s| s.name = "workspaces".into()),
        SpecError::TableExists { .. }
    ));
    assert!(matches!(
        with(&|s| s.name = "user".into()),
        SpecError::ReservedWord { .. }
    ));
    // Hand-built specs are checked as strictly as parsed ones.
    assert!(matches!(
        with(&|s| s.columns[0].name = "Bad".into()),
        SpecError::InvalidIdentifier { .. }
    ));
    assert!(matches!(
        with(&|s| s.columns[2].ty = ColumnType::Enum("x y".into())),
        SpecError::InvalidIdentifier { .. }
    ));
}

#[test]
fn renders_the_deployments_table() {
    let migration = render(&deployments()).expect("render");
    assert_eq!(migration.name, "create_deployments");
    let expected_table = "CREATE TABLE deployments (
  tenant_id uuid NOT NULL,
  id uuid NOT NULL DEFAULT tenancy.uuid_v7(),
  workspace_id uuid NOT NULL,
  name text NOT NULL,
  status deployment_status NOT NULL,
  config jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT deployments_tenant_name_key UNIQUE (tenant_id, name)
);
CREATE INDEX deployments_name_idx ON deployments (tenant_id, name);
CREATE TRIGGER deployments_touch BEFORE UPDATE ON deployments
  FOR EACH ROW EXECUTE FUNCTION tenancy.touch_updated_at();

ALTER TABLE deployments ENABLE ROW LEVEL SECURITY;
ALTER TABLE deployments FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_access ON deployments FOR ALL TO tenancy_app, CURRENT_USER USING (tenant_id = (SELECT tenancy.current_tenant())) WITH CHECK (tenant_id = (SELECT tenancy.current_tenant()));
CREATE POLICY tenant_isolation ON deployments AS RESTRICTIVE FOR ALL TO PUBLIC USING (tenant_id = (SELECT tenancy.current_tenant())) WITH CHECK (tenant_id = (SELECT tenancy.current_tenant()));
-- Where the native tenant context is switched on, the new policies call its C readers,
-- as enable_native_context() made every other policy do; elsewhere this does nothing.
SELECT tenancy.enable_native_context() WHERE tenancy.native_context();
GRANT SELECT, INSERT, UPDATE, DELETE ON deployments TO tenancy_app, tenancy_admin;
-- On Citus: distributed by tenant_id, co-located with the other tenant tables, its
-- policies put in the form Citus accepts. Then, on any server, its foreign keys: on Citus
-- a table cannot point at a distributed one before it is distributed itself.
SELECT tenancy.distribute('deployments', foreign_keys => ARRAY[
  $$FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE$$,
  $$FOREIGN KEY (tenant_id, workspace_id) REFERENCES workspaces (tenant_id, id)$$
]);
";
    assert!(migration.up.ends_with(expected_table), "{}", migration.up);
    assert!(
        migration
            .up
            .starts_with("-- Tenant-scoped table `deployments`")
    );
    assert!(migration.down.ends_with("\nDROP TABLE deployments;\n"));
}

#[test]
fn long_key_names_are_left_to_postgresql() {
    let mut spec = TableSpec::new("t".repeat(50));
    spec.columns
        .push(format!("{}:text", "c".repeat(20)).parse().expect("column"));
    spec.indexes.push(vec!["c".repeat(20)]);
    spec.uniques.push(vec!["c".repeat(20)]);
    let up = render(&spec).expect("render").up;
    assert!(
        up.contains(&format!("  UNIQUE (tenant_id, {})", "c".repeat(20))),
        "{up}"
    );
    assert!(up.contains(&format!("CREATE INDEX ON {} (tenant_id,", "t".repeat(50))));
}

#[test]
fn references_to_global_tables_use_their_key() {
    let mut spec = TableSpec::new("notes");
    spec.columns
        .push("author_id:uuid:null".parse().expect("column"));
    spec.references
        .push("author_id:users".parse().expect("reference"));
    let up = render(&spec).expect("render").up;
    assert!(
        up.contains("  $$FOREIGN KEY (author_id) REFERENCES users (id)$$\n"),
        "{up}"
    );
    let table = diesel_table(&spec).expect("table");
    assert!(
        table.starts_with("#[tenancy_schema::tenant_scoped]\n"),
        "{table}"
    );
    assert!(table.contains("author_id -> Nullable<Uuid>,"), "{table}");

    spec.columns.push("role:uuid".parse().expect("column"));
    spec.references
        .push("role:role_permissions".parse().expect("reference"));
    assert!(matches!(
        render(&spec),
        Err(SpecError::UnsupportedGlobalReference { .. })
    ));
}

#[test]
fn global_tables_have_no_tenant_column_and_are_readable_by_the_application() {
    let mut spec = TableSpec::new("plans");
    spec.global = true;
    spec.columns.push("name:text".parse().expect("column"));
    spec.columns
        .push("price:numeric:null".parse().expect("column"));
    spec.uniques.push(vec!["name".into()]);
    let migration = render(&spec).expect("valid");
    let create = &migration.up[migration.up.find("CREATE TABLE").expect("create")..];
    assert!(!create.contains("tenant_id"), "{}", migration.up);
    assert!(!create.contains("ROW LEVEL SECURITY"), "{}", migration.up);
    assert!(
        migration
            .up
            .contains("id uuid NOT NULL DEFAULT tenancy.uuid_v7() PRIMARY KEY"),
        "{}",
        migration.up
    );
    assert!(
        migration
            .up
            .contains("CONSTRAINT plans_name_key UNIQUE (name)")
    );
    assert!(
        migration.up.contains(
            "GRANT SELECT (id, name, price, created_at, updated_at) ON plans TO tenancy_app;"
        ),
        "{}",
        migration.up
    );
    // Column by column: a table grant would show the rows' xmax (TEN111).
    assert!(
        !migration
            .up
            .contains("GRANT SELECT ON plans TO tenancy_app"),
        "{}",
        migration.up
    );
    assert!(
        migration
            .up
            .contains("GRANT SELECT, INSERT, UPDATE, DELETE ON plans TO tenancy_admin;")
    );
    let table = diesel_table(&spec).expect("valid");
    assert!(
        table.starts_with("#[tenancy_schema::global_table]\ndiesel::table! {\n"),
        "{table}"
    );
    assert!(
        table.contains("    plans (id) {\n        id -> Uuid,\n"),
        "{table}"
    );

    // A global table may not point into a tenant's rows.
    spec.columns
        .push("workspace_id:uuid".parse().expect("column"));
    spec.references
        .push("workspace_id:workspaces".parse().expect("reference"));
    assert!(matches!(
        render(&spec),
        Err(SpecError::GlobalReferencesTenantTable { .. })
    ));
}

#[test]
fn references_to_the_applications_global_tables_are_single_column() {
    let mut spec = TableSpec::new("subscriptions");
    spec.columns.push("plan_id:uuid".parse().expect("column"));
    spec.references
        .push("plan_id:plans".parse().expect("reference"));
    // Without knowing `plans` is global, it is taken for a tenant table.
    let tenant = render(&spec).expect("valid");
    assert!(
        tenant
            .up
            .contains("FOREIGN KEY (tenant_id, plan_id) REFERENCES plans (tenant_id, id)")
    );
    // The migrations directory says it is global.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut plans = TableSpec::new("plans");
    plans.global = true;
    plans.columns.push("name:text".parse().expect("column"));
    render(&plans)
        .expect("valid")
        .write(dir.path(), DateTime::<Utc>::UNIX_EPOCH)
        .expect("write");
    spec.global_tables = super::global_tables_in(dir.path());
    assert!(spec.global_tables.contains("plans"));
    let migration = render(&spec).expect("valid");
    assert!(
        migration
            .up
            .contains("FOREIGN KEY (plan_id) REFERENCES plans (id)"),
        "{}",
        migration.up
    );
    let table = diesel_table(&spec).expect("valid");
    assert!(!table.contains("foreign_key(plan_id"), "{table}");
}

#[test]
fn prints_the_classified_diesel_table() {
    let table = diesel_table(&deployments()).expect("table");
    assert_eq!(
        table,
        "#[tenancy_schema::tenant_scoped(index(name), unique(name), foreign_key(workspace_id -> workspaces))]
diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::DeploymentStatus;

    deployments (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Uuid,
        workspace_id -> Uuid,
        name -> Text,
        status -> DeploymentStatus,
        config -> Nullable<Jsonb>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}
"
    );
}

#[test]
fn writes_a_diesel_migration_directory_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let migration = render(&deployments()).expect("render");
    let at = DateTime::parse_from_rfc3339("2026-11-23T09:08:07Z")
        .expect("time")
        .with_timezone(&Utc);
    let written = migration.write(dir.path(), at).expect("write");
    assert_eq!(
        written.file_name().and_then(|n| n.to_str()),
        Some("2026-11-23-090807_create_deployments")
    );
    assert_eq!(
        fs::read_to_string(written.join("up.sql")).expect("up"),
        migration.up
    );
    assert_eq!(
        fs::read_to_string(written.join("down.sql")).expect("down"),
        migration.down
    );
    assert!(matches!(
        migration.write(dir.path(), Utc::now()),
        Err(WriteError::AlreadyExists { .. })
    ));
    assert!(matches!(
        migration.write(&dir.path().join("missing"), at),
        Err(WriteError::MissingDirectory { .. })
    ));
}

#[test]
fn system_column_names_are_refused() {
    for name in SYSTEM_COLUMNS {
        let spec = format!("{name}:text");
        assert_eq!(
            spec.parse::<Column>(),
            Err(SpecError::SystemColumn {
                column: name.to_owned()
            }),
            "{spec}"
        );
        // A spec built in code is checked too, before anything is rendered.
        let mut table = TableSpec::new("things");
        table.columns.push(Column {
            name: name.to_owned(),
            ty: ColumnType::Text,
            nullable: false,
        });
        assert!(matches!(
            render(&table),
            Err(SpecError::SystemColumn { .. })
        ));
        assert!(matches!(
            diesel_table(&table),
            Err(SpecError::SystemColumn { .. })
        ));
    }
    // `oid` is an ordinary column name since PostgreSQL 12.
    "oid:bigint".parse::<Column>().expect("oid");
}

#[test]
fn enum_types_without_a_rust_name_are_refused() {
    for (name, rust) in [("___", ""), ("_1x", "1x"), ("self", "Self")] {
        let spec = format!("a:enum:{name}");
        assert_eq!(
            spec.parse::<Column>(),
            Err(SpecError::EnumWithoutRustName {
                name: name.to_owned(),
                rust: rust.to_owned()
            }),
            "{spec}"
        );
        let mut table = TableSpec::new("things");
        table.columns.push(Column {
            name: "a".to_owned(),
            ty: ColumnType::Enum(name.to_owned()),
            nullable: false,
        });
        assert!(matches!(
            diesel_table(&table),
            Err(SpecError::EnumWithoutRustName { .. })
        ));
    }
    let column: Column = "a:enum:_state".parse().expect("a letter after the `_`");
    assert_eq!(column.ty.diesel(), "State");
}

#[test]
fn tables_rust_cannot_name_are_refused() {
    for name in ["self", "super", "crate", "_"] {
        assert_eq!(
            TableSpec::new(name).validate(),
            Err(SpecError::UnnameableTable {
                what: "table",
                name: name.to_owned()
            })
        );
        assert_eq!(
            format!("other_id:{name}").parse::<Reference>(),
            Err(SpecError::UnnameableTable {
                what: "referenced table",
                name: name.to_owned()
            })
        );
    }
}

/// Names that are Rust keywords get the names `diesel print-schema` gives them, and the
/// snippet reads back, through the attribute's own parser, as the table it declares.
#[test]
fn rust_keywords_are_renamed_as_diesel_print_schema_does() {
    let mut spec = TableSpec::new("type");
    for column in [
        "fn:uuid",
        "super:text",
        "_:text:null",
        "type:integer",
        "gen:text",
    ] {
        spec.columns.push(column.parse().expect("valid column"));
    }
    spec.uniques.push(vec!["super".into(), "_".into()]);
    spec.indexes.push(vec!["gen".into()]);
    spec.references
        .push("fn:match".parse().expect("valid reference"));
    let table = diesel_table(&spec).expect("table");
    assert_eq!(
        table,
        r#"#[tenancy_schema::tenant_scoped(index(gen_), unique(super_, __), foreign_key(fn_ -> r#match))]
diesel::table! {
    #[sql_name = "type"]
    type_ (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Uuid,
        #[sql_name = "fn"]
        fn_ -> Uuid,
        #[sql_name = "super"]
        super_ -> Text,
        #[sql_name = "_"]
        __ -> Nullable<Text>,
        #[sql_name = "type"]
        type_ -> Int4,
        #[sql_name = "gen"]
        gen_ -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}
"#
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("schema.rs");
    fs::write(&path, &table).expect("write");
    let tables = crate::app_schema::classified_tables(&path).expect("the snippet parses");
    let manifest = tables[0];
    assert_eq!(manifest.table, "type");
    assert_eq!(
        manifest.columns,
        [
            "tenant_id",
            "id",
            "fn",
            "super",
            "_",
            "type",
            "gen",
            "created_at",
            "updated_at"
        ]
    );
    assert_eq!(manifest.uniques, [&["tenant_id", "super", "_"][..]]);
    assert_eq!(manifest.indexes, [&["tenant_id", "gen"][..]]);
    assert_eq!(manifest.foreign_keys[0].columns, ["tenant_id", "fn"]);
    assert_eq!(manifest.foreign_keys[0].references, "match");
}
