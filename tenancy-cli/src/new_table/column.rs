//! Columns and references as given on the command line, from an allow-list of types.

use std::fmt;
use std::str::FromStr;

use super::{
    error::SpecError,
    names::{
        camel_case, validate_column_name, validate_enum_name, validate_identifier,
        validate_table_name,
    },
};

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
            validate_enum_name(name)?;
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
        validate_column_name(name)?;
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
        validate_table_name("referenced table", table)?;
        Ok(Reference {
            column: column.to_owned(),
            table: table.to_owned(),
        })
    }
}
