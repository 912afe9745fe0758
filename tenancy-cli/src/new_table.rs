//! `tenancy new-table`: the migration pair for a new tenant-scoped table.
//!
//! [`render`] is a pure function from a [`TableSpec`] to a [`Migration`]; it validates the
//! spec first ([`TableSpec::validate`]) and never produces SQL from a name or type it did not
//! check. The generated table follows the foundation schema's rules, so `tenancy check`
//! passes on it untouched:
//!
//! * `tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE` first, and
//!   `id uuid NOT NULL DEFAULT tenancy.uuid_v7()`, with `PRIMARY KEY (tenant_id, id)`;
//! * every unique key and index led by `tenant_id`, every foreign key to another tenant table
//!   composite: `(tenant_id, col) REFERENCES other (tenant_id, id)`;
//! * `created_at`/`updated_at` kept by the `tenancy.touch_updated_at()` trigger;
//! * ENABLE + FORCE row level security, the permissive `tenant_access` policy (for
//!   `tenancy_app` and the migrating role) and the RESTRICTIVE `tenant_isolation` policy (for
//!   everyone), both on `tenant_id = tenancy.current_tenant()`;
//! * `SELECT, INSERT, UPDATE, DELETE` granted to `tenancy_app` and `tenancy_admin`.
//!
//! ```
//! use tenancy_cli::new_table::{self, TableSpec};
//!
//! let mut spec = TableSpec::new("deployments");
//! spec.columns.push("workspace_id:uuid".parse()?);
//! spec.columns.push("name:text".parse()?);
//! spec.columns.push("status:enum:deployment_status".parse()?);
//! spec.columns.push("config:jsonb:null".parse()?);
//! spec.indexes.push(new_table::parse_column_list("name")?);
//! spec.references.push("workspace_id:workspaces".parse()?);
//!
//! let migration = new_table::render(&spec)?;
//! assert_eq!(migration.name, "create_deployments");
//! assert!(migration.up.contains("PRIMARY KEY (tenant_id, id)"));
//! assert!(migration.up.contains(
//!     "FOREIGN KEY (tenant_id, workspace_id) REFERENCES workspaces (tenant_id, id)"
//! ));
//! assert_eq!(migration.down.lines().last(), Some("DROP TABLE deployments;"));
//! # Ok::<(), tenancy_cli::new_table::SpecError>(())
//! ```

use std::collections::BTreeSet;
use std::fmt::{self, Write as _};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use tenancy_schema::TableKind;

/// Longest identifier PostgreSQL keeps (`NAMEDATALEN - 1` bytes).
pub const MAX_IDENTIFIER_LEN: usize = 63;

/// Longest table name: the update trigger is named `<table>_touch`, which must fit too.
pub const MAX_TABLE_NAME_LEN: usize = MAX_IDENTIFIER_LEN - "_touch".len();

/// Columns every generated table has; `--column` may not declare them.
pub const GENERATED_COLUMNS: [&str; 4] = ["tenant_id", "id", "created_at", "updated_at"];

/// The tables of the foundation schema (`tenancy_schema::schema`); a new table may not
/// take one of their names. (The registry cannot tell them apart from the tables a user's
/// binary classifies, such as the very table being scaffolded.)
pub const FOUNDATION_TABLES: [&str; 13] = [
    "api_key_usage",
    "api_keys",
    "audit_log",
    "org_members",
    "principals",
    "resource_acl",
    "resources",
    "role_permissions",
    "team_members",
    "teams",
    "tenants",
    "users",
    "workspaces",
];

/// The application role the policies and grants name.
const APP_ROLE: &str = "tenancy_app";
/// The admin role the grants name.
const ADMIN_ROLE: &str = "tenancy_admin";
/// The table every row's `tenant_id` references.
const TENANTS_TABLE: &str = "tenants";

/// Words PostgreSQL does not accept as a column or table name without quotes: its
/// "reserved" and "reserved (can be function or type)" key words.
const RESERVED_WORDS: &[&str] = &[
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

/// Why a table spec (or one of its command-line pieces) was rejected. Nothing is written
/// when any of these occurs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// A name is empty.
    #[error("empty {what} name; give a lowercase SQL identifier such as `deployments`")]
    EmptyIdentifier {
        /// What the name is for (`table`, `column`, `enum type`, `referenced table`).
        what: &'static str,
    },
    /// A name has characters other than lowercase ASCII letters, digits and `_`, or starts
    /// with a digit.
    #[error(
        "invalid {what} name {name:?}; use lowercase letters, digits and `_`, starting with a letter or `_`"
    )]
    InvalidIdentifier {
        /// What the name is for.
        what: &'static str,
        /// The name as given.
        name: String,
    },
    /// A name is longer than PostgreSQL keeps.
    #[error("{what} name {name:?} is {len} bytes long; shorten it to at most {max} bytes{why}")]
    IdentifierTooLong {
        /// What the name is for.
        what: &'static str,
        /// The name as given.
        name: String,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
        /// Why the limit is below 63, or empty.
        why: &'static str,
    },
    /// A name is a PostgreSQL reserved word.
    #[error("{what} name {name:?} is a reserved word in PostgreSQL; choose another name")]
    ReservedWord {
        /// What the name is for.
        what: &'static str,
        /// The name as given.
        name: String,
    },
    /// The new table would clash with a table of the foundation schema.
    #[error("table {name:?} already exists in the tenancy foundation schema; choose another name")]
    TableExists {
        /// The name as given.
        name: String,
    },
    /// A `--column` value is not `name:type` or `name:type:null`.
    #[error(
        "invalid column {spec:?}; write it as `name:type` or `name:type:null` (for example `config:jsonb:null` or `status:enum:deployment_status`)"
    )]
    MalformedColumn {
        /// The value as given.
        spec: String,
    },
    /// A column type is not on the allow-list.
    #[error(
        "unknown type {ty:?} for column {column:?}; use one of text, integer, bigint, boolean, uuid, jsonb, timestamptz, numeric, date, bytea, or enum:<type name>"
    )]
    UnknownType {
        /// The column.
        column: String,
        /// The type as given.
        ty: String,
    },
    /// A column option other than `null`.
    #[error(
        "unknown option {option:?} for column {column:?}; the only option is `null` (`{column}:<type>:null`)"
    )]
    UnknownColumnOption {
        /// The column.
        column: String,
        /// The option as given.
        option: String,
    },
    /// `--column` names a column every generated table has.
    #[error(
        "column {column:?} is generated for every tenant table (tenant_id, id, created_at, updated_at); remove it from --column"
    )]
    GeneratedColumn {
        /// The column.
        column: String,
    },
    /// Two `--column`s with one name.
    #[error("column {column:?} is declared twice; declare each column once")]
    DuplicateColumn {
        /// The column.
        column: String,
    },
    /// An `--index`/`--unique` value is empty or has an empty entry.
    #[error(
        "invalid column list {spec:?}; give column names separated by commas, such as `name` or `workspace_id,name`"
    )]
    MalformedColumnList {
        /// The value as given.
        spec: String,
    },
    /// A key names `tenant_id`, which leads every key anyway.
    #[error(
        "{kind} ({columns}) lists tenant_id: it leads every key automatically; list only the other columns"
    )]
    TenantColumnInKey {
        /// `index` or `unique key`.
        kind: &'static str,
        /// The columns as given, comma separated.
        columns: String,
    },
    /// A key or reference names a column the table does not have.
    #[error(
        "{kind} names column {column:?}, which the table does not have; declare it with --column {column}:<type>"
    )]
    UnknownColumn {
        /// `index`, `unique key` or `reference`.
        kind: &'static str,
        /// The column.
        column: String,
    },
    /// A key lists a column twice.
    #[error("{kind} ({columns}) lists column {column:?} twice; list each column once")]
    RepeatedColumnInKey {
        /// `index` or `unique key`.
        kind: &'static str,
        /// The columns as given, comma separated.
        columns: String,
        /// The repeated column.
        column: String,
    },
    /// The same key is requested twice, or repeats the primary key.
    #[error("{kind} (tenant_id, {columns}) {reason}; remove it")]
    RedundantKey {
        /// `index` or `unique key`.
        kind: &'static str,
        /// The columns, comma separated.
        columns: String,
        /// Why it is redundant.
        reason: &'static str,
    },
    /// A `--references` value is not `column:table`.
    #[error(
        "invalid reference {spec:?}; write it as `column:table`, such as `workspace_id:workspaces`"
    )]
    MalformedReference {
        /// The value as given.
        spec: String,
    },
    /// A referencing column is not `uuid`.
    #[error(
        "column {column:?} references {table} (tenant_id, id) but is {ty}; declare it as --column {column}:uuid"
    )]
    ReferenceNotUuid {
        /// The column.
        column: String,
        /// The referenced table.
        table: String,
        /// The column's declared type.
        ty: String,
    },
    /// A reference to `tenants`.
    #[error(
        "column {column:?} references tenants, which every row already does through tenant_id; drop the column or reference a tenant table"
    )]
    ReferenceToTenants {
        /// The column.
        column: String,
    },
    /// A reference to a global table whose key is not one `uuid` column.
    #[error(
        "column {column:?} references the global table {table}, whose primary key is not one uuid column; add that foreign key to up.sql by hand"
    )]
    UnsupportedGlobalReference {
        /// The column.
        column: String,
        /// The referenced table.
        table: String,
    },
    /// Two references from one column.
    #[error("column {column:?} has two references; give each column at most one")]
    DuplicateReference {
        /// The column.
        column: String,
    },
}

/// A column type from the allow-list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// `text`.
    Text,
    /// `integer` (4 bytes).
    Integer,
    /// `bigint` (8 bytes).
    BigInt,
    /// `boolean`.
    Boolean,
    /// `uuid`.
    Uuid,
    /// `jsonb`.
    Jsonb,
    /// `timestamptz`.
    Timestamptz,
    /// `numeric`.
    Numeric,
    /// `date`.
    Date,
    /// `bytea`.
    Bytea,
    /// An existing enum type (`enum:<name>` on the command line), named by its SQL name.
    Enum(String),
}

impl ColumnType {
    /// The built-in types, by SQL name.
    pub const BUILT_IN: [(&'static str, ColumnType); 10] = [
        ("text", ColumnType::Text),
        ("integer", ColumnType::Integer),
        ("bigint", ColumnType::BigInt),
        ("boolean", ColumnType::Boolean),
        ("uuid", ColumnType::Uuid),
        ("jsonb", ColumnType::Jsonb),
        ("timestamptz", ColumnType::Timestamptz),
        ("numeric", ColumnType::Numeric),
        ("date", ColumnType::Date),
        ("bytea", ColumnType::Bytea),
    ];

    /// The SQL spelling used in `CREATE TABLE`.
    #[must_use]
    pub fn sql(&self) -> &str {
        match self {
            ColumnType::Text => "text",
            ColumnType::Integer => "integer",
            ColumnType::BigInt => "bigint",
            ColumnType::Boolean => "boolean",
            ColumnType::Uuid => "uuid",
            ColumnType::Jsonb => "jsonb",
            ColumnType::Timestamptz => "timestamptz",
            ColumnType::Numeric => "numeric",
            ColumnType::Date => "date",
            ColumnType::Bytea => "bytea",
            ColumnType::Enum(name) => name,
        }
    }

    /// The Diesel SQL type `diesel print-schema` writes for it (`Int4`, `Timestamptz`, and
    /// the CamelCase name of an enum, `deployment_status` becoming `DeploymentStatus`).
    #[must_use]
    pub fn diesel(&self) -> String {
        match self {
            ColumnType::Text => "Text".to_owned(),
            ColumnType::Integer => "Int4".to_owned(),
            ColumnType::BigInt => "Int8".to_owned(),
            ColumnType::Boolean => "Bool".to_owned(),
            ColumnType::Uuid => "Uuid".to_owned(),
            ColumnType::Jsonb => "Jsonb".to_owned(),
            ColumnType::Timestamptz => "Timestamptz".to_owned(),
            ColumnType::Numeric => "Numeric".to_owned(),
            ColumnType::Date => "Date".to_owned(),
            ColumnType::Bytea => "Bytea".to_owned(),
            ColumnType::Enum(name) => camel_case(name),
        }
    }

    /// Parses a type as `--column` spells it (`jsonb`, `enum:deployment_status`); `column`
    /// only names the column in errors.
    ///
    /// # Errors
    /// [`SpecError::UnknownType`] for a type that is not on the allow-list, and the
    /// identifier errors for a bad enum name.
    pub fn parse_for(column: &str, text: &str) -> Result<ColumnType, SpecError> {
        if let Some(name) = text.strip_prefix("enum:") {
            validate_identifier("enum type", name)?;
            return Ok(ColumnType::Enum(name.to_owned()));
        }
        ColumnType::BUILT_IN
            .iter()
            .find(|(sql, _)| sql.eq_ignore_ascii_case(text))
            .map(|(_, ty)| ty.clone())
            .ok_or_else(|| SpecError::UnknownType {
                column: column.to_owned(),
                ty: text.to_owned(),
            })
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnType::Enum(name) => write!(f, "enum:{name}"),
            other => f.write_str(other.sql()),
        }
    }
}

/// One declared column.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Column {
    /// SQL name.
    pub name: String,
    /// Type.
    pub ty: ColumnType,
    /// `NULL` allowed (`:null`); columns are `NOT NULL` otherwise.
    pub nullable: bool,
}

impl FromStr for Column {
    type Err = SpecError;

    /// Parses `name:type` or `name:type:null`, where type is one of the allow-listed types or
    /// `enum:<type name>`.
    fn from_str(spec: &str) -> Result<Column, SpecError> {
        let malformed = || SpecError::MalformedColumn {
            spec: spec.to_owned(),
        };
        let (name, rest) = spec.split_once(':').ok_or_else(malformed)?;
        if name.is_empty() || rest.is_empty() {
            return Err(malformed());
        }
        validate_identifier("column", name)?;
        let mut parts = rest.split(':');
        let first = parts.next().unwrap_or_default();
        let ty = if first == "enum" {
            let enum_name = parts.next().ok_or_else(malformed)?;
            ColumnType::parse_for(name, &format!("enum:{enum_name}"))?
        } else {
            ColumnType::parse_for(name, first)?
        };
        let mut nullable = false;
        for option in parts {
            if option.eq_ignore_ascii_case("null") && !nullable {
                nullable = true;
            } else {
                return Err(SpecError::UnknownColumnOption {
                    column: name.to_owned(),
                    option: option.to_owned(),
                });
            }
        }
        Ok(Column {
            name: name.to_owned(),
            ty,
            nullable,
        })
    }
}

/// A foreign key from one column to another table's `(tenant_id, id)` (or, for a global
/// table of the foundation schema such as `users`, to its one-column key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// The referencing column, declared with `--column <name>:uuid`.
    pub column: String,
    /// The referenced table.
    pub table: String,
}

impl FromStr for Reference {
    type Err = SpecError;

    /// Parses `column:table`.
    fn from_str(spec: &str) -> Result<Reference, SpecError> {
        let malformed = || SpecError::MalformedReference {
            spec: spec.to_owned(),
        };
        let (column, table) = spec.split_once(':').ok_or_else(malformed)?;
        if column.is_empty() || table.is_empty() || table.contains(':') {
            return Err(malformed());
        }
        validate_identifier("column", column)?;
        validate_identifier("referenced table", table)?;
        Ok(Reference {
            column: column.to_owned(),
            table: table.to_owned(),
        })
    }
}

/// Parses an `--index`/`--unique` value: column names separated by commas
/// (`workspace_id,name`); `tenant_id` is added in front when rendering.
///
/// # Errors
/// [`SpecError::MalformedColumnList`] for an empty list or entry, and the identifier errors.
pub fn parse_column_list(spec: &str) -> Result<Vec<String>, SpecError> {
    let columns: Vec<String> = spec.split(',').map(|c| c.trim().to_owned()).collect();
    if columns.iter().any(String::is_empty) {
        return Err(SpecError::MalformedColumnList {
            spec: spec.to_owned(),
        });
    }
    for column in &columns {
        validate_identifier("column", column)?;
    }
    Ok(columns)
}

/// Checks that `name` is a plain lowercase SQL identifier (`[a-z_][a-z0-9_]*`, at most 63
/// bytes) and not a reserved word; `what` names it in the error (`table`, `column`, ...).
///
/// # Errors
/// [`SpecError::EmptyIdentifier`], [`SpecError::InvalidIdentifier`],
/// [`SpecError::IdentifierTooLong`] or [`SpecError::ReservedWord`].
pub fn validate_identifier(what: &'static str, name: &str) -> Result<(), SpecError> {
    let bytes = name.as_bytes();
    let Some(&first) = bytes.first() else {
        return Err(SpecError::EmptyIdentifier { what });
    };
    let valid = (first.is_ascii_lowercase() || first == b'_')
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !valid {
        return Err(SpecError::InvalidIdentifier {
            what,
            name: printable(name),
        });
    }
    if name.len() > MAX_IDENTIFIER_LEN {
        return Err(SpecError::IdentifierTooLong {
            what,
            name: name.to_owned(),
            len: name.len(),
            max: MAX_IDENTIFIER_LEN,
            why: "",
        });
    }
    if RESERVED_WORDS.binary_search(&name).is_ok() {
        return Err(SpecError::ReservedWord {
            what,
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// At most 64 characters of user input, for error messages.
fn printable(name: &str) -> String {
    name.chars().take(64).collect()
}

/// Everything `tenancy new-table` needs to know about the new table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableSpec {
    /// SQL name of the table.
    pub name: String,
    /// Declared columns, in order; `tenant_id`, `id`, `created_at` and `updated_at` are added.
    pub columns: Vec<Column>,
    /// Indexes, each rendered as `(tenant_id, <columns>)`.
    pub indexes: Vec<Vec<String>>,
    /// Unique keys, each rendered as `UNIQUE (tenant_id, <columns>)`.
    pub uniques: Vec<Vec<String>>,
    /// Foreign keys, each rendered as `(tenant_id, column) REFERENCES table (tenant_id, id)`.
    pub references: Vec<Reference>,
}

/// How a validated reference is rendered.
enum Target {
    /// `(tenant_id, col) REFERENCES table (tenant_id, id)`.
    Tenant,
    /// `(col) REFERENCES table (key)` for a global table of the foundation schema.
    Global(&'static str),
}

impl TableSpec {
    /// A spec for table `name` with no declared columns, keys or references.
    #[must_use]
    pub fn new(name: impl Into<String>) -> TableSpec {
        TableSpec {
            name: name.into(),
            ..TableSpec::default()
        }
    }

    /// Checks every name, type, key and reference.
    ///
    /// # Errors
    /// The first problem found, as a [`SpecError`].
    pub fn validate(&self) -> Result<(), SpecError> {
        self.targets().map(drop)
    }

    fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Validates and resolves each reference's target.
    fn targets(&self) -> Result<Vec<Target>, SpecError> {
        validate_identifier("table", &self.name)?;
        if self.name.len() > MAX_TABLE_NAME_LEN {
            return Err(SpecError::IdentifierTooLong {
                what: "table",
                name: self.name.clone(),
                len: self.name.len(),
                max: MAX_TABLE_NAME_LEN,
                why: " (its update trigger `<table>_touch` must fit in 63)",
            });
        }
        if FOUNDATION_TABLES.contains(&self.name.as_str()) {
            return Err(SpecError::TableExists {
                name: self.name.clone(),
            });
        }
        let mut seen = BTreeSet::new();
        for column in &self.columns {
            validate_identifier("column", &column.name)?;
            if let ColumnType::Enum(name) = &column.ty {
                validate_identifier("enum type", name)?;
            }
            if GENERATED_COLUMNS.contains(&column.name.as_str()) {
                return Err(SpecError::GeneratedColumn {
                    column: column.name.clone(),
                });
            }
            if !seen.insert(column.name.as_str()) {
                return Err(SpecError::DuplicateColumn {
                    column: column.name.clone(),
                });
            }
        }
        self.validate_keys("index", &self.indexes)?;
        self.validate_keys("unique key", &self.uniques)?;

        let mut referencing = BTreeSet::new();
        let mut targets = Vec::with_capacity(self.references.len());
        for reference in &self.references {
            validate_identifier("column", &reference.column)?;
            validate_identifier("referenced table", &reference.table)?;
            let Some(column) = self.column(&reference.column) else {
                return Err(SpecError::UnknownColumn {
                    kind: "reference",
                    column: reference.column.clone(),
                });
            };
            if column.ty != ColumnType::Uuid {
                return Err(SpecError::ReferenceNotUuid {
                    column: column.name.clone(),
                    table: reference.table.clone(),
                    ty: column.ty.to_string(),
                });
            }
            if !referencing.insert(reference.column.as_str()) {
                return Err(SpecError::DuplicateReference {
                    column: reference.column.clone(),
                });
            }
            if reference.table == TENANTS_TABLE {
                return Err(SpecError::ReferenceToTenants {
                    column: reference.column.clone(),
                });
            }
            let target = match tenancy_schema::lookup(&reference.table) {
                Some(manifest) if manifest.kind == TableKind::Global => {
                    let key = match manifest.primary_key {
                        [key] => manifest
                            .columns
                            .iter()
                            .position(|c| c == key)
                            .and_then(|i| manifest.column_types.get(i))
                            .filter(|ty| **ty == "Uuid")
                            .map(|_| *key),
                        _ => None,
                    };
                    Target::Global(key.ok_or_else(|| SpecError::UnsupportedGlobalReference {
                        column: reference.column.clone(),
                        table: reference.table.clone(),
                    })?)
                }
                _ => Target::Tenant,
            };
            targets.push(target);
        }
        Ok(targets)
    }

    fn validate_keys(&self, kind: &'static str, keys: &[Vec<String>]) -> Result<(), SpecError> {
        let mut seen: BTreeSet<&[String]> = BTreeSet::new();
        for key in keys {
            let columns = key.join(", ");
            if key.is_empty() {
                return Err(SpecError::MalformedColumnList { spec: columns });
            }
            let mut in_key = BTreeSet::new();
            for column in key {
                validate_identifier("column", column)?;
                if column == "tenant_id" {
                    return Err(SpecError::TenantColumnInKey { kind, columns });
                }
                let known = self.column(column).is_some()
                    || GENERATED_COLUMNS[1..].contains(&column.as_str());
                if !known {
                    return Err(SpecError::UnknownColumn {
                        kind,
                        column: column.clone(),
                    });
                }
                if !in_key.insert(column.as_str()) {
                    return Err(SpecError::RepeatedColumnInKey {
                        kind,
                        columns,
                        column: column.clone(),
                    });
                }
            }
            if key.len() == 1 && key[0] == "id" {
                return Err(SpecError::RedundantKey {
                    kind,
                    columns,
                    reason: "is the primary key already",
                });
            }
            if !seen.insert(key.as_slice()) {
                return Err(SpecError::RedundantKey {
                    kind,
                    columns,
                    reason: "is requested twice",
                });
            }
        }
        Ok(())
    }
}

/// A migration pair, as Diesel lays it out: `<timestamp>_<name>/{up,down}.sql`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// The part of the directory name after the timestamp: `create_<table>`.
    pub name: String,
    /// `up.sql`.
    pub up: String,
    /// `down.sql`.
    pub down: String,
}

/// Why [`Migration::write`] wrote nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The migrations directory does not exist.
    #[error(
        "migrations directory {} does not exist; run from your project's root or pass --migrations-dir",
        dir.display()
    )]
    MissingDirectory {
        /// The directory.
        dir: PathBuf,
    },
    /// A migration with the same name exists already.
    #[error(
        "a migration named `{name}` exists already ({}); edit it, or pick another table name",
        existing.display()
    )]
    AlreadyExists {
        /// The migration name (`create_<table>`).
        name: String,
        /// The existing migration directory.
        existing: PathBuf,
    },
    /// Reading the directory or writing a file failed.
    #[error("could not write {}: {source}; check the directory's permissions", path.display())]
    Io {
        /// The path being read or written.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

impl Migration {
    /// The directory name for a migration created at `at`: `YYYY-MM-DD-HHMMSS_<name>`, the
    /// format `diesel migration generate` uses.
    #[must_use]
    pub fn directory_name(&self, at: DateTime<Utc>) -> String {
        format!("{}_{}", at.format("%Y-%m-%d-%H%M%S"), self.name)
    }

    /// Writes `up.sql` and `down.sql` into a new directory under `migrations_dir` (which must
    /// exist) and returns the new directory. Refuses to write when a migration of the same
    /// name exists.
    ///
    /// # Errors
    /// A [`WriteError`]; a partly written directory is removed again.
    pub fn write(&self, migrations_dir: &Path, at: DateTime<Utc>) -> Result<PathBuf, WriteError> {
        let io_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| WriteError::Io { path, source }
        };
        if !migrations_dir.is_dir() {
            return Err(WriteError::MissingDirectory {
                dir: migrations_dir.to_path_buf(),
            });
        }
        let suffix = format!("_{}", self.name);
        for entry in fs::read_dir(migrations_dir).map_err(io_error(migrations_dir))? {
            let entry = entry.map_err(io_error(migrations_dir))?;
            if entry.file_name().to_string_lossy().ends_with(&suffix) {
                return Err(WriteError::AlreadyExists {
                    name: self.name.clone(),
                    existing: entry.path(),
                });
            }
        }
        let dir = migrations_dir.join(self.directory_name(at));
        fs::create_dir(&dir).map_err(io_error(&dir))?;
        let written = [("up.sql", &self.up), ("down.sql", &self.down)]
            .into_iter()
            .try_for_each(|(file, text)| {
                let path = dir.join(file);
                fs::write(&path, text).map_err(io_error(&path))
            });
        if let Err(err) = written {
            let _ = fs::remove_dir_all(&dir);
            return Err(err);
        }
        Ok(dir)
    }
}

/// The migration pair creating the table `spec` describes (see the module docs for what it
/// contains).
///
/// # Errors
/// The first problem [`TableSpec::validate`] finds.
pub fn render(spec: &TableSpec) -> Result<Migration, SpecError> {
    let targets = spec.targets()?;
    let table = spec.name.as_str();
    let mut up = String::new();
    // Writing to a `String` cannot fail; `w!` keeps the generator readable.
    macro_rules! w {
        ($($arg:tt)*) => { let _ = writeln!(up, $($arg)*); };
    }
    w!("-- Tenant-scoped table `{table}`, written by `tenancy new-table`.");
    w!("--");
    w!("-- `tenant_id` leads the primary key and every unique key, index and foreign key");
    w!("-- between tenant tables; row level security is enabled and forced, with the permissive");
    w!("-- `tenant_access` policy ({APP_ROLE} and the migrating role) and the RESTRICTIVE");
    w!("-- `tenant_isolation` policy (everyone), both on `tenant_id = tenancy.current_tenant()`.");
    w!("-- `tenancy check` passes on it as written: keep `tenant_id` in any key you add.");
    w!();
    let mut lines = vec![
        format!("tenant_id uuid NOT NULL REFERENCES {TENANTS_TABLE} (id) ON DELETE CASCADE"),
        "id uuid NOT NULL DEFAULT tenancy.uuid_v7()".to_owned(),
    ];
    for column in &spec.columns {
        let null = if column.nullable { "" } else { " NOT NULL" };
        lines.push(format!("{} {}{null}", column.name, column.ty.sql()));
    }
    lines.push("created_at timestamptz NOT NULL DEFAULT now()".to_owned());
    lines.push("updated_at timestamptz NOT NULL DEFAULT now()".to_owned());
    lines.push("PRIMARY KEY (tenant_id, id)".to_owned());
    for key in &spec.uniques {
        let name = format!("{table}_tenant_{}_key", key.join("_"));
        let columns = key.join(", ");
        lines.push(if name.len() <= MAX_IDENTIFIER_LEN {
            format!("CONSTRAINT {name} UNIQUE (tenant_id, {columns})")
        } else {
            format!("UNIQUE (tenant_id, {columns})")
        });
    }
    for (reference, target) in spec.references.iter().zip(&targets) {
        let (column, other) = (&reference.column, &reference.table);
        lines.push(match target {
            Target::Tenant => {
                format!("FOREIGN KEY (tenant_id, {column}) REFERENCES {other} (tenant_id, id)")
            }
            Target::Global(key) => format!("FOREIGN KEY ({column}) REFERENCES {other} ({key})"),
        });
    }
    w!("CREATE TABLE {table} (\n  {}\n);", lines.join(",\n  "));
    for key in &spec.indexes {
        let name = format!("{table}_{}_idx", key.join("_"));
        let columns = key.join(", ");
        if name.len() <= MAX_IDENTIFIER_LEN {
            w!("CREATE INDEX {name} ON {table} (tenant_id, {columns});");
        } else {
            w!("CREATE INDEX ON {table} (tenant_id, {columns});");
        }
    }
    w!("CREATE TRIGGER {table}_touch BEFORE UPDATE ON {table}");
    w!("  FOR EACH ROW EXECUTE FUNCTION tenancy.touch_updated_at();");
    w!();
    w!("ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;");
    w!("ALTER TABLE {table} FORCE ROW LEVEL SECURITY;");
    w!("CREATE POLICY tenant_access ON {table} FOR ALL TO {APP_ROLE}, CURRENT_USER");
    w!("  USING (tenant_id = tenancy.current_tenant())");
    w!("  WITH CHECK (tenant_id = tenancy.current_tenant());");
    w!("CREATE POLICY tenant_isolation ON {table} AS RESTRICTIVE FOR ALL TO PUBLIC");
    w!("  USING (tenant_id = tenancy.current_tenant())");
    w!("  WITH CHECK (tenant_id = tenancy.current_tenant());");
    w!("GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}, {ADMIN_ROLE};");

    let down = format!(
        "-- Reverts `create_{table}`: its indexes, trigger, policies and grants go with it.\n\
         DROP TABLE {table};\n"
    );
    Ok(Migration {
        name: format!("create_{table}"),
        up,
        down,
    })
}

/// The classified Diesel `table!` for the table, as `diesel print-schema` writes it plus the
/// `#[tenancy_schema::tenant_scoped(...)]` line declaring its indexes, unique keys and
/// foreign keys (put that line in your `schema.patch`).
///
/// # Errors
/// The first problem [`TableSpec::validate`] finds.
pub fn diesel_table(spec: &TableSpec) -> Result<String, SpecError> {
    let targets = spec.targets()?;
    let mut options = Vec::new();
    options.extend(
        spec.indexes
            .iter()
            .map(|k| format!("index({})", k.join(", "))),
    );
    options.extend(
        spec.uniques
            .iter()
            .map(|k| format!("unique({})", k.join(", "))),
    );
    for (reference, target) in spec.references.iter().zip(&targets) {
        if matches!(target, Target::Tenant) {
            options.push(format!(
                "foreign_key({} -> {})",
                reference.column, reference.table
            ));
        }
    }
    let mut out = String::from("#[tenancy_schema::tenant_scoped");
    if !options.is_empty() {
        let _ = write!(out, "({})", options.join(", "));
    }
    out.push_str("]\ndiesel::table! {\n");
    let enums: BTreeSet<String> = spec
        .columns
        .iter()
        .filter(|c| matches!(c.ty, ColumnType::Enum(_)))
        .map(|c| c.ty.diesel())
        .collect();
    if !enums.is_empty() {
        out.push_str("    use diesel::sql_types::*;\n");
        for name in &enums {
            let _ = writeln!(out, "    use super::sql_types::{name};");
        }
        out.push('\n');
    }
    let _ = writeln!(out, "    {} (tenant_id, id) {{", spec.name);
    out.push_str("        tenant_id -> Uuid,\n        id -> Uuid,\n");
    for column in &spec.columns {
        let ty = column.ty.diesel();
        if column.nullable {
            let _ = writeln!(out, "        {} -> Nullable<{ty}>,", column.name);
        } else {
            let _ = writeln!(out, "        {} -> {ty},", column.name);
        }
    }
    out.push_str("        created_at -> Timestamptz,\n        updated_at -> Timestamptz,\n");
    out.push_str("    }\n}\n");
    Ok(out)
}

/// `deployment_status` -> `DeploymentStatus`, as `diesel print-schema` names SQL types.
fn camel_case(name: &str) -> String {
    name.split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn reserved_words_are_sorted_for_binary_search() {
        assert!(RESERVED_WORDS.windows(2).all(|w| w[0] < w[1]));
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
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT tenancy.uuid_v7(),
  workspace_id uuid NOT NULL,
  name text NOT NULL,
  status deployment_status NOT NULL,
  config jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT deployments_tenant_name_key UNIQUE (tenant_id, name),
  FOREIGN KEY (tenant_id, workspace_id) REFERENCES workspaces (tenant_id, id)
);
CREATE INDEX deployments_name_idx ON deployments (tenant_id, name);
CREATE TRIGGER deployments_touch BEFORE UPDATE ON deployments
  FOR EACH ROW EXECUTE FUNCTION tenancy.touch_updated_at();

ALTER TABLE deployments ENABLE ROW LEVEL SECURITY;
ALTER TABLE deployments FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_access ON deployments FOR ALL TO tenancy_app, CURRENT_USER
  USING (tenant_id = tenancy.current_tenant())
  WITH CHECK (tenant_id = tenancy.current_tenant());
CREATE POLICY tenant_isolation ON deployments AS RESTRICTIVE FOR ALL TO PUBLIC
  USING (tenant_id = tenancy.current_tenant())
  WITH CHECK (tenant_id = tenancy.current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON deployments TO tenancy_app, tenancy_admin;
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
            up.contains("  FOREIGN KEY (author_id) REFERENCES users (id)\n"),
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
}
