//! Why a table spec was rejected.

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
    /// A column name PostgreSQL reserves for a system column of every table.
    #[error(
        "column {column:?} is the name of a PostgreSQL system column (tableoid, xmin, cmin, xmax, cmax, ctid), which every table has already; choose another name"
    )]
    SystemColumn {
        /// The column.
        column: String,
    },
    /// A table name the classified `table!` cannot name in `foreign_key(… -> table)`: not a
    /// Rust identifier, not even a raw one.
    #[error(
        "{what} name {name:?} cannot be written in Rust, not even as a raw identifier (r#…), so `#[tenant_scoped(foreign_key(.. -> {name}))]` could not name it; choose another name"
    )]
    UnnameableTable {
        /// `table` or `referenced table`.
        what: &'static str,
        /// The name as given.
        name: String,
    },
    /// An enum type whose Rust name (CamelCase, as `diesel print-schema` writes it) is not a
    /// Rust type name.
    #[error(
        "enum type {name:?} has no usable Rust name: diesel names its SQL type {rust:?} (CamelCase of the parts between `_`), which cannot stand in `use super::sql_types::…;`; use an enum type name with a letter after its leading `_`s, such as `deployment_status`"
    )]
    EnumWithoutRustName {
        /// The enum type's SQL name.
        name: String,
        /// Its CamelCase name.
        rust: String,
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
    /// A global table referencing a tenant table.
    #[error(
        "the global table cannot reference the tenant table {table} (column {column:?}): a row shared by every tenant cannot point into one; reference global tables only"
    )]
    GlobalReferencesTenantTable {
        /// The column.
        column: String,
        /// The referenced tenant table.
        table: String,
    },
    /// Two references from one column.
    #[error("column {column:?} has two references; give each column at most one")]
    DuplicateReference {
        /// The column.
        column: String,
    },
}
