//! Names: the limits and reserved words a new table and its columns must respect, and how an
//! enum type's SQL name becomes its Rust name.

use super::error::SpecError;
use super::rust_names::{is_type_name, table_identifier};

/// Longest identifier PostgreSQL keeps (`NAMEDATALEN - 1` bytes).
pub const MAX_IDENTIFIER_LEN: usize = 63;

/// Longest table name: the update trigger is named `<table>_touch`, which must fit too.
pub const MAX_TABLE_NAME_LEN: usize = MAX_IDENTIFIER_LEN - "_touch".len();

/// Columns every generated table has; `--column` may not declare them.
pub const GENERATED_COLUMNS: [&str; 4] = ["tenant_id", "id", "created_at", "updated_at"];

/// The names of PostgreSQL's system columns, which every table has (`oid` is one no more since
/// PostgreSQL 12).
pub const SYSTEM_COLUMNS: [&str; 6] = ["tableoid", "xmin", "cmin", "xmax", "cmax", "ctid"];

/// The tables of the foundation schema (`tenancy_foundation::schema`); a new table may not
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
pub(crate) const APP_ROLE: &str = "tenancy_app";
/// The admin role the grants name.
pub(crate) const ADMIN_ROLE: &str = "tenancy_admin";
/// The table every row's `tenant_id` references.
pub(crate) const TENANTS_TABLE: &str = "tenants";

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
    // A plain lower-case name PostgreSQL would still need quoted is one of its key words.
    if tenancy_schema::policy::quote_ident(name) != name {
        return Err(SpecError::ReservedWord {
            what,
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// Checks a new column's name: [`validate_identifier`], and not a system column's name.
///
/// # Errors
/// The identifier errors, and [`SpecError::SystemColumn`].
pub fn validate_column_name(name: &str) -> Result<(), SpecError> {
    validate_identifier("column", name)?;
    if SYSTEM_COLUMNS.contains(&name) {
        return Err(SpecError::SystemColumn {
            column: name.to_owned(),
        });
    }
    Ok(())
}

/// Checks a table's name (`what`: `table` or `referenced table`): [`validate_identifier`], and
/// a name the classified `table!` can write.
///
/// # Errors
/// The identifier errors, and [`SpecError::UnnameableTable`].
pub fn validate_table_name(what: &'static str, name: &str) -> Result<(), SpecError> {
    validate_identifier(what, name)?;
    if table_identifier(name).is_none() {
        return Err(SpecError::UnnameableTable {
            what,
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// Checks an enum type's name: [`validate_identifier`], and a CamelCase name that is a Rust
/// type name (`___` has none, `_1x` gives `1x`).
///
/// # Errors
/// The identifier errors, and [`SpecError::EnumWithoutRustName`].
pub fn validate_enum_name(name: &str) -> Result<(), SpecError> {
    validate_identifier("enum type", name)?;
    let rust = camel_case(name);
    if !is_type_name(&rust) {
        return Err(SpecError::EnumWithoutRustName {
            name: name.to_owned(),
            rust,
        });
    }
    Ok(())
}

/// At most 64 characters of user input, for error messages.
pub(crate) fn printable(name: &str) -> String {
    name.chars().take(64).collect()
}

/// `deployment_status` -> `DeploymentStatus`, as `diesel print-schema` names SQL types.
pub(crate) fn camel_case(name: &str) -> String {
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
