//! The row level security every tenant-scoped table carries, written in one place: the
//! scaffold (`tenancy new-table`), the fixes `tenancy check` suggests, the test suites and the
//! benchmarks all take their SQL from here, so the form of the policies changes everywhere at
//! once.
//!
//! ```
//! use tenancy_schema::policy;
//!
//! let sql = policy::tenant_policies("notes", "tenant_id", "tenancy_app");
//! assert!(sql.contains("CREATE POLICY tenant_isolation ON notes AS RESTRICTIVE"));
//! assert!(sql.contains("tenant_id = (SELECT tenancy.current_tenant())"));
//! ```
//!
//! Table, column and role names are written as given: pass names that need no quoting, or
//! quote them with [`quote_ident`].

mod ident;

pub use ident::quote_ident;

/// How a policy reads the verified tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContextRead {
    /// `(SELECT tenancy.current_tenant())`: PostgreSQL evaluates the sub-select once per
    /// statement (an init plan) instead of once per row. The form for one PostgreSQL server.
    /// Where the native context is switched on with extension 1.4 or later,
    /// `tenancy.enable_native_context()` turns it into the plain call of the extension's C
    /// reader, which parallel workers can answer too and which tenancy's own queries compare
    /// with their `tenant_id = $1` once per statement without planning a sub-select.
    #[default]
    OncePerStatement,
    /// `tenancy.current_tenant()`: a plain call, evaluated once per index scan and once per
    /// row where it ends up a filter. A distributed engine (Citus) refuses sub-queries in
    /// policies, so this is the form for tables it shards.
    Call,
}

impl ContextRead {
    /// The SQL that reads the tenant in this form.
    #[must_use]
    pub fn current_tenant(self) -> &'static str {
        match self {
            ContextRead::OncePerStatement => "(SELECT tenancy.current_tenant())",
            ContextRead::Call => "tenancy.current_tenant()",
        }
    }
}

/// `<column> = (SELECT tenancy.current_tenant())`: the only predicate a tenant policy needs.
#[must_use]
pub fn tenant_predicate(column: &str) -> String {
    tenant_predicate_as(ContextRead::default(), column)
}

/// [`tenant_predicate`] reading the tenant in the given form.
#[must_use]
pub fn tenant_predicate_as(read: ContextRead, column: &str) -> String {
    format!("{column} = {}", read.current_tenant())
}

/// The permissive policy that lets `roles` (for example `tenancy_app`, or
/// `tenancy_app, CURRENT_USER` to include the migrating owner) read and write the current
/// tenant's rows of `table`.
#[must_use]
pub fn access_policy(table: &str, column: &str, roles: &str) -> String {
    access_policy_as(ContextRead::default(), table, column, roles)
}

/// [`access_policy`] reading the tenant in the given form.
#[must_use]
pub fn access_policy_as(read: ContextRead, table: &str, column: &str, roles: &str) -> String {
    let p = tenant_predicate_as(read, column);
    format!(
        "CREATE POLICY tenant_access ON {table} FOR ALL TO {roles} USING ({p}) WITH CHECK ({p});"
    )
}

/// The RESTRICTIVE policy that holds for every role: whatever permissive policy is added later,
/// no row of another tenant becomes visible or writable.
#[must_use]
pub fn isolation_policy(table: &str, column: &str) -> String {
    isolation_policy_as(ContextRead::default(), table, column)
}

/// [`isolation_policy`] reading the tenant in the given form.
#[must_use]
pub fn isolation_policy_as(read: ContextRead, table: &str, column: &str) -> String {
    let p = tenant_predicate_as(read, column);
    format!(
        "CREATE POLICY tenant_isolation ON {table} AS RESTRICTIVE FOR ALL TO PUBLIC USING ({p}) WITH CHECK ({p});"
    )
}

/// Row level security enabled and forced on `table` (so that its owner is held too), with
/// [`access_policy`] for `access_roles` and [`isolation_policy`]; one statement per line.
#[must_use]
pub fn tenant_policies(table: &str, column: &str, access_roles: &str) -> String {
    tenant_policies_as(ContextRead::default(), table, column, access_roles)
}

/// [`tenant_policies`] reading the tenant in the given form.
#[must_use]
pub fn tenant_policies_as(
    read: ContextRead,
    table: &str,
    column: &str,
    access_roles: &str,
) -> String {
    format!(
        "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;\n\
         ALTER TABLE {table} FORCE ROW LEVEL SECURITY;\n\
         {}\n{}\n",
        access_policy_as(read, table, column, access_roles),
        isolation_policy_as(read, table, column)
    )
}
