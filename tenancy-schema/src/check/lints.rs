//! The lint catalogue, kept apart from the rules: ids never change meaning, so the whole list
//! is reviewed in one place, and a rule names only an id, never its severity or section.

/// How bad a finding is. `tenancy check` exits non-zero when any finding is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Isolation is broken or not enforced by the database.
    Error,
    /// Not a leak by itself, but weakens a layer or will hurt later.
    Warning,
}

/// Which part of the report a finding belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// Tenant isolation in PostgreSQL.
    Isolation,
    /// Readiness for a distributed engine (Citus) distributing on the tenant column; only
    /// with [`CheckOptions::citus`](super::CheckOptions::citus).
    Citus,
}

/// Every lint: id, severity, section and what it means.
pub const LINTS: &[(&str, Severity, Section, &str)] = &[
    (
        "TEN001",
        Severity::Error,
        Section::Isolation,
        "a classified table is missing from the database",
    ),
    (
        "TEN002",
        Severity::Error,
        Section::Isolation,
        "a tenant-scoped table has no tenant column",
    ),
    (
        "TEN003",
        Severity::Error,
        Section::Isolation,
        "the tenant column is nullable",
    ),
    (
        "TEN004",
        Severity::Error,
        Section::Isolation,
        "the tenant column is not uuid",
    ),
    (
        "TEN005",
        Severity::Error,
        Section::Isolation,
        "the tenant column has no foreign key to the tenants table",
    ),
    (
        "TEN006",
        Severity::Error,
        Section::Isolation,
        "a table outside the checked schema, or a foreign table, has a tenant column, and the application role may read it without row level security, or change its rows past row level security (TRUNCATE, or writes no restrictive tenant policy bounds)",
    ),
    (
        "TEN007",
        Severity::Error,
        Section::Isolation,
        "the application role may read a table a tenant table inherits from, whose query returns the tenant table's rows under the parent's policies only, or a tenant table inherits from a table that is not partitioned, which a view, materialized view or function reads with its owner's rights",
    ),
    (
        "TEN010",
        Severity::Error,
        Section::Isolation,
        "row level security is not enabled",
    ),
    (
        "TEN011",
        Severity::Error,
        Section::Isolation,
        "row level security is not forced (the owner bypasses it)",
    ),
    (
        "TEN012",
        Severity::Error,
        Section::Isolation,
        "no permissive tenant policy applies to the application role",
    ),
    (
        "TEN013",
        Severity::Error,
        Section::Isolation,
        "no restrictive tenant isolation policy (for all commands, USING and WITH CHECK each the tenant equality, or opening with it), or none that applies to a role holding a privilege on the table",
    ),
    (
        "TEN014",
        Severity::Error,
        Section::Isolation,
        "the application role may TRUNCATE a tenant table or create triggers on it, which row level security does not govern",
    ),
    (
        "TEN020",
        Severity::Error,
        Section::Isolation,
        "a tenant predicate contains OR",
    ),
    (
        "TEN021",
        Severity::Error,
        Section::Isolation,
        "a tenant predicate contains a sub-query",
    ),
    (
        "TEN022",
        Severity::Error,
        Section::Isolation,
        "a permissive policy for the application role is always true",
    ),
    (
        "TEN023",
        Severity::Error,
        Section::Isolation,
        "a policy reads the tenant setting directly instead of tenancy.current_tenant()",
    ),
    (
        "TEN024",
        Severity::Error,
        Section::Isolation,
        "a restrictive policy evaluated before the tenant predicate calls a function that is not LEAKPROOF, which sees every tenant's rows",
    ),
    (
        "TEN030",
        Severity::Error,
        Section::Isolation,
        "a primary or unique key (or exclusion constraint) of a tenant table does not include the tenant column, or compares it by an operator class other than its type's default or an `=` PostgreSQL did not make; also of a table elsewhere with the tenant column (a partition of a tenant table kept in another schema) that the application role writes, itself or through its parent",
    ),
    (
        "TEN031",
        Severity::Warning,
        Section::Isolation,
        "an index or unique key of a tenant table does not lead with the tenant column",
    ),
    (
        "TEN032",
        Severity::Error,
        Section::Isolation,
        "an index or unique key declared in the model is missing",
    ),
    (
        "TEN033",
        Severity::Error,
        Section::Isolation,
        "the primary key differs from the model's",
    ),
    (
        "TEN040",
        Severity::Error,
        Section::Isolation,
        "a foreign key between tenant tables does not include the tenant column on both sides",
    ),
    (
        "TEN041",
        Severity::Error,
        Section::Isolation,
        "a foreign key declared in the model is missing",
    ),
    (
        "TEN042",
        Severity::Error,
        Section::Isolation,
        "a foreign key of a tenant table is not enforced: NOT VALID, or its triggers disabled",
    ),
    (
        "TEN043",
        Severity::Error,
        Section::Isolation,
        "sessions of the application role may run with session_replication_role = replica, where no foreign key is checked",
    ),
    (
        "TEN044",
        Severity::Error,
        Section::Isolation,
        "a foreign key of a tenant table (in any schema, a partition kept elsewhere too) points at a table the application role may delete from or update: it cascades (CASCADE, SET NULL, SET DEFAULT), changing every tenant's rows past row level security, or refuses (RESTRICT, NO ACTION), telling whether other tenants' rows point at the row",
    ),
    (
        "TEN045",
        Severity::Error,
        Section::Isolation,
        "a tenant table (or a table elsewhere holding tenant rows: a partition of one kept in another schema, a table there with the tenant column, whose columns the application role writes, itself or through its parent) has a foreign key into the tenants table other than its tenant key (which answers whether a value names another tenant), or a tenant key ON DELETE SET DEFAULT or SET NULL (which moves a deleted tenant's rows), or a key between tenant tables whose SET DEFAULT or SET NULL sets the tenant column (which moves the referencing rows to the tenant its default names)",
    ),
    (
        "TEN046",
        Severity::Error,
        Section::Isolation,
        "a foreign key whose columns the application role may write (on its table, or on a table it inherits from or is a partition of), on a key whose values can be guessed (not a uuid), points into a tenant table from a table no tenant policy bounds, or into a table the application role may not read: its check, past row level security, answers whether a row exists there",
    ),
    (
        "TEN050",
        Severity::Warning,
        Section::Isolation,
        "a table has a tenant column but no model classifies it",
    ),
    (
        "TEN052",
        Severity::Warning,
        Section::Isolation,
        "a global table the application role cannot read",
    ),
    (
        "TEN053",
        Severity::Error,
        Section::Isolation,
        "a session of the application may write the table of tenants, by a grant or through what its writes reach",
    ),
    (
        "TEN054",
        Severity::Warning,
        Section::Isolation,
        "a relation (table, partition, view, materialized view, foreign table; in any schema) a session of the application may read whole, without the tenant column, that no model classifies and that is none of tenancy's own",
    ),
    (
        "TEN055",
        Severity::Error,
        Section::Isolation,
        "a table without the tenant column, that a session of the application may read whole, has a foreign key into a tenant table: its rows belong to that table's tenants, and every tenant reads them all, classified global or not",
    ),
    (
        "TEN056",
        Severity::Error,
        Section::Isolation,
        "a table marked private (every tenant's rows, reached through reviewed functions) is readable or writable by the application role",
    ),
    (
        "TEN057",
        Severity::Warning,
        Section::Isolation,
        "a global table a session of the application may write, by a grant or through what its writes reach",
    ),
    (
        "TEN060",
        Severity::Error,
        Section::Isolation,
        "the application role is missing",
    ),
    (
        "TEN061",
        Severity::Error,
        Section::Isolation,
        "the application role is a superuser",
    ),
    (
        "TEN062",
        Severity::Error,
        Section::Isolation,
        "the application role has BYPASSRLS",
    ),
    (
        "TEN063",
        Severity::Error,
        Section::Isolation,
        "the application role owns a tenant table",
    ),
    (
        "TEN064",
        Severity::Error,
        Section::Isolation,
        "the application role is a member of a tenant table's owner",
    ),
    (
        "TEN065",
        Severity::Error,
        Section::Isolation,
        "a login of the application role, or the owner of a SECURITY DEFINER function a session runs (called, or fired without an EXECUTE check), can become a role that skips row level security, or a role a session acts as owns what reads or changes every tenant's rows (a domain or enum of a column, a function, type, operator, collation or text search object a table depends on, a function or catalog PostgreSQL keeps to superusers)",
    ),
    (
        "TEN066",
        Severity::Warning,
        Section::Isolation,
        "the application role may create temporary tables, which shadow real ones for the rest of a pooled session",
    ),
    (
        "TEN067",
        Severity::Error,
        Section::Isolation,
        "the tenant context is not sealed: SQL running as the application role can set it, or the context key is open to it (a grant, a view or function that reads it, a copy under any name or written out as hex or base64, the key written in the catalogs every role reads (a comment, a setting default, a function's source, a view's definition, a column default), a trigger, rule, CHECK constraint, index expression, statistics object, generated or domain column run on it, a table it inherits from)",
    ),
    (
        "TEN068",
        Severity::Error,
        Section::Isolation,
        "the policies read the native tenant context, but its extension is not installed, or a function of its schema is not the extension's own",
    ),
    (
        "TEN069",
        Severity::Error,
        Section::Isolation,
        "the check that ends each transaction of the SQL tenant context is missing or altered",
    ),
    (
        "TEN051",
        Severity::Error,
        Section::Isolation,
        "one table is classified twice, in conflicting ways",
    ),
    (
        "TEN070",
        Severity::Error,
        Section::Isolation,
        "a SECURITY DEFINER function the application role can run (or fire, through a trigger, an aggregate, a type's I/O function or an event trigger) reads tenant tables (their names read as PostgreSQL resolves them; text it cannot read counts as reading any), itself or through the functions it calls, or runs SQL its text does not show",
    ),
    (
        "TEN071",
        Severity::Error,
        Section::Isolation,
        "a view the application role can read covers tenant tables without security_invoker, or a rule it fires touches them",
    ),
    (
        "TEN072",
        Severity::Error,
        Section::Isolation,
        "a function of tenancy's migrations is missing, replaced, overloaded or owned by the application role",
    ),
    (
        "TEN073",
        Severity::Error,
        Section::Isolation,
        "the application role may create objects in a schema, or create schemas",
    ),
    (
        "TEN074",
        Severity::Warning,
        Section::Isolation,
        "the native context is on, but a policy still calls the SQL readers, which PostgreSQL parses again whenever it plans a statement on the table",
    ),
    (
        "TEN075",
        Severity::Error,
        Section::Isolation,
        "code that runs on each row of a tenant table (of the checked schema, a partition or child of one wherever it is, or a table of another schema with the tenant column) (a trigger, its WHEN condition, or what a constraint, default, index or domain calls) writes into a table or view without row level security that the application role can read (itself, through a view that runs as its owner, or where the write lands: an updatable view's table, a partition's parents, a rule's table, the keys that cascade from a changed key) or into a unique key it may insert into or update (which answers whether a value is there), calls setval() or nextval() on a sequence it can read, sends the row out with NOTIFY, sets application_name, takes an advisory lock keyed by what it computes, or writes PostgreSQL's catalogs (comments, function sources, the login's defaults); or code that runs on each row of a global table reads a tenant table or the context key and writes where the application role can read (its own row too), which copies every tenant's rows when the owner or the admin path writes that table",
    ),
    (
        "TEN076",
        Severity::Error,
        Section::Isolation,
        "a user mapping lets the application role or one of its logins connect through a foreign server (dblink, postgres_fdw), or use a foreign table of the server it may read or write (which needs no USAGE on the server), as another user, or a view or materialized view it may read reads a foreign table through its owner's mapping",
    ),
    (
        "TEN077",
        Severity::Error,
        Section::Isolation,
        "a function the application role can run is marked LEAKPROOF but is not PostgreSQL's own, or is one of its own that it does not ship LEAKPROOF (such as a type's input function or a parser like to_tsquery): the planner may run it on rows before the policies filter them",
    ),
    (
        "TEN078",
        Severity::Error,
        Section::Isolation,
        "the application role can read the planner's statistics catalogs, which hold sample values of every tenant's rows",
    ),
    (
        "TEN079",
        Severity::Error,
        Section::Isolation,
        "the application role can read a foreign table of file_fdw, which reads the server's files or runs a program as the operating system user that owns every table's data",
    ),
    (
        "TEN080",
        Severity::Error,
        Section::Isolation,
        "the audit log is not append-only: the application role may UPDATE, DELETE or TRUNCATE it, or its guarding triggers are missing or disabled",
    ),
    (
        "TEN081",
        Severity::Error,
        Section::Isolation,
        "the application role can read a catalog that holds other roles' credentials (pg_authid and its view pg_shadow, pg_user_mapping, pg_subscription's connection strings)",
    ),
    (
        "TEN082",
        Severity::Error,
        Section::Isolation,
        "sessions of the application role may run EXPLAIN (tenancy_context.allow_explain), whose estimates come from every tenant's rows",
    ),
    (
        "TEN083",
        Severity::Error,
        Section::Isolation,
        "the application role may run the large-object functions: large objects are outside row level security and shared by every tenant of the login",
    ),
    (
        "TEN084",
        Severity::Error,
        Section::Isolation,
        "an unqualified table name of the application's sessions resolves to a relation of another schema (one named like its login, or first on a search_path default)",
    ),
    (
        "TEN085",
        Severity::Error,
        Section::Isolation,
        "a role a login of the application role can become (SET ROLE through any membership) or inherits may use a tenant table, and the policies that apply to it do not isolate the tenant",
    ),
    (
        "TEN086",
        Severity::Error,
        Section::Isolation,
        "a function or operator added to pg_catalog, or a cast between PostgreSQL's own types, that PostgreSQL did not make, or a function or operator named like a built-in in a schema a search_path default searches first: it may stand in for a built-in that tenancy's context readers, the policies or the application's statements call",
    ),
    (
        "TEN087",
        Severity::Error,
        Section::Isolation,
        "the application role may run PostgreSQL's statistics counters of a relation (pg_stat_get_xact_tuples_returned and the like), which count other tenants' index entries and rows before row level security drops them",
    ),
    (
        "TEN088",
        Severity::Error,
        Section::Isolation,
        "default privileges (ALTER DEFAULT PRIVILEGES) grant the application role, a role its sessions may become, or PUBLIC (tables, sequences, schemas) rights on objects made later",
    ),
    (
        "TEN089",
        Severity::Error,
        Section::Isolation,
        "a tenant table, the table of tenants or a private table grants a privilege to PUBLIC, every role of the cluster, those that skip row level security among them",
    ),
    (
        "TEN090",
        Severity::Error,
        Section::Isolation,
        "sessions of the application role start with a setting default that opens what row level security or privileges close: row_security = off, a preloaded library, lo_compat_privileges = on, a value of the tenant context's own settings, auto_explain printing their plans",
    ),
    (
        "TEN091",
        Severity::Error,
        Section::Isolation,
        "a publication publishes a tenant table (every tenant's rows to any subscriber), or a subscription writes into this database past row level security, and no comment says it was reviewed",
    ),
    (
        "TEN092",
        Severity::Error,
        Section::Isolation,
        "a large object is owned by, or granted to, the application role, a role its sessions may become, or PUBLIC: large objects belong to no tenant",
    ),
    (
        "TEN093",
        Severity::Error,
        Section::Isolation,
        "the application role or a role its sessions may become may use a foreign-data wrapper or a foreign server, and so create servers, user mappings or foreign tables of its own",
    ),
    (
        "TEN094",
        Severity::Error,
        Section::Isolation,
        "a language that runs anything (C, internal, an untrusted ..u language) is marked trusted and the application's sessions may use it",
    ),
    (
        "TEN095",
        Severity::Error,
        Section::Isolation,
        "a permissive policy on a tenant table (for the application role, or any other) does not hold its rows to the tenant (no tenant equality opening it; merely naming the context does not count): it lets its rows through for every tenant, and only the restrictive policy keeps tenants apart",
    ),
    (
        "TEN096",
        Severity::Error,
        Section::Isolation,
        "a column of a tenant table named for another tenant table's key (`gadget_id` beside `gadgets`) has no foreign key: a row may point into another tenant",
    ),
    (
        "TEN097",
        Severity::Warning,
        Section::Isolation,
        "the application role, a login of it or a role they may become has CREATEDB",
    ),
    (
        "TEN098",
        Severity::Warning,
        Section::Isolation,
        "a search_path default of the application's sessions puts a schema ahead of the checked one (besides pg_catalog and \"$user\"), where a relation or function created later takes unqualified statements",
    ),
    (
        "TEN099",
        Severity::Error,
        Section::Isolation,
        "the application's sessions may use a function or view of a contrib extension that reads a relation's pages, tuples or locks, or the write-ahead log's records of them, below row level security (pgstattuple, pgrowlocks, pg_visibility, pg_freespacemap, pg_buffercache, pageinspect, pg_walinspect)",
    ),
    (
        "TEN100",
        Severity::Warning,
        Section::Isolation,
        "a column of a tenant table is filled from a sequence (serial, identity, nextval), one counter for every tenant, whose values count other tenants' inserts",
    ),
    (
        "TEN101",
        Severity::Error,
        Section::Isolation,
        "an index of a tenant table (or of the tenants or a private table; of a partition or child of one, or a table with the tenant column, in another schema too) uses an operator class (or a range type) whose functions are written in SQL or a procedural language: each insert, unique check and index scan runs them on other tenants' keys before row level security sees a row",
    ),
    (
        "TEN102",
        Severity::Error,
        Section::Isolation,
        "the sequence numbering the SQL tenant context's sessions (tenancy.session_seq) may hand out a number twice (CYCLE, counting down, UNLOGGED): a context entry made for an earlier session can be replayed",
    ),
    (
        "TEN103",
        Severity::Error,
        Section::Isolation,
        "a guard trigger tenancy's migrations create (the invitation acceptance and resource sharing guards) is missing, disabled, enabled for replication only, or altered",
    ),
    (
        "TEN104",
        Severity::Error,
        Section::Isolation,
        "the application role may set a tenant table's reference to a private table (INSERT, or UPDATE of the column), and may run a SECURITY DEFINER function that reads the private table through it",
    ),
    (
        "TEN105",
        Severity::Error,
        Section::Isolation,
        "the SQL tenant context's key is not one tenancy.install_context_key() made from random bytes (its padded keys not derived from it, or a key one guesses: one byte or a short pattern repeated, printable text, the hash of the database's or a role's name): whoever wrote or guesses it can forge any tenant's context",
    ),
    (
        "TEN106",
        Severity::Error,
        Section::Isolation,
        "the application role, a login of it or a role they can become owns the database: through pg_database_owner it owns schema public, and may drop the tenant tables there and create its own in their place",
    ),
    (
        "TEN107",
        Severity::Error,
        Section::Isolation,
        "a policy of a table of the checked schema uses an operator PostgreSQL did not create, or a function outside PostgreSQL's and tenancy's own named like one of theirs: printed, the policy may read like the tenant equality while comparing something else",
    ),
    (
        "TEN108",
        Severity::Warning,
        Section::Isolation,
        "a function or view PostgreSQL ships was changed after the database was created (replaced in place, its volatility or strictness altered, a system view redefined): tenancy's context, its policies and PostgreSQL's own filtering views rest on them as initdb made them",
    ),
    (
        "TEN109",
        Severity::Error,
        Section::Isolation,
        "an enabled event trigger that no extension owns (nor tenancy's guard of distributed policies): it runs on every DDL statement, the migrations' included, with the rights of whoever runs it, and may copy the context key or every tenant's rows where the application reads",
    ),
    (
        "TEN110",
        Severity::Error,
        Section::Isolation,
        "a TOAST relation is opened beyond superusers (USAGE on schema pg_toast granted, a grant on a relation there, a view, materialized view or function that reads one): TOAST holds the long values of every tenant's rows, and pg_statistic's the planner's samples of them, where row level security does not apply",
    ),
    (
        "TEN111",
        Severity::Error,
        Section::Isolation,
        "a global table that a tenant table's foreign key points at lets a role the application's sessions act as read its system columns (SELECT on the table, or on xmax, or a view showing xmax with its owner's rights): the key's check locks the referenced row FOR KEY SHARE, writing the writer's transaction id into its xmax, so one tenant learns which global row another tenant's new or updated row points at, and when",
    ),
    (
        "TEN112",
        Severity::Error,
        Section::Isolation,
        "the pg_stat_statements extension is installed and its view or its pg_stat_statements(boolean) function is open to the application's sessions (PUBLIC has them by default): its per-role counters show one tenant the calls and rows of the statements another tenant runs on the same login",
    ),
    (
        "TEN113",
        Severity::Warning,
        Section::Isolation,
        "the application role or a login of it may connect to another database of the server (PUBLIC holds CONNECT on every database by default): what a session there reaches, a foreign table or dblink back into this database among it, is outside this check",
    ),
    (
        "TEN114",
        Severity::Error,
        Section::Isolation,
        "the application's sessions may run a function in C or `internal` that no extension installed and PostgreSQL did not ship: a new name for native code (contrib's page readers, file readers and writers) without the grants that guard it",
    ),
    (
        "TEN115",
        Severity::Warning,
        Section::Isolation,
        "the application's sessions may act as pg_signal_backend: its raw SQL may cancel or end the sessions of other roles (the admin path's login among them), not only its own login's",
    ),
    (
        "CIT001",
        Severity::Warning,
        Section::Citus,
        "the primary key does not include the distribution column",
    ),
    (
        "CIT002",
        Severity::Warning,
        Section::Citus,
        "a unique key does not include the distribution column",
    ),
    (
        "CIT003",
        Severity::Warning,
        Section::Citus,
        "a foreign key between distributed tables does not include the distribution column",
    ),
    (
        "CIT004",
        Severity::Warning,
        Section::Citus,
        "a policy contains a sub-query",
    ),
    (
        "CIT005",
        Severity::Error,
        Section::Citus,
        "a policy does not begin with the tenant predicate (isolation that rests on a RESTRICTIVE policy, which the shards lose)",
    ),
    (
        "CIT006",
        Severity::Warning,
        Section::Citus,
        "citus.propagate_set_commands is not 'local': SET LOCAL outside tenancy's context entry does not reach the workers",
    ),
    (
        "CIT007",
        Severity::Warning,
        Section::Citus,
        "a tenant table is not distributed",
    ),
    (
        "CIT008",
        Severity::Error,
        Section::Citus,
        "a shard's policies differ from the coordinator's or lack the tenant predicate",
    ),
    (
        "CIT009",
        Severity::Error,
        Section::Citus,
        "a worker has no copy of the context key, or cannot be asked for it",
    ),
    (
        "CIT010",
        Severity::Error,
        Section::Citus,
        "the guard against policies without the tenant predicate on distributed tables is missing",
    ),
    (
        "CIT011",
        Severity::Warning,
        Section::Citus,
        "an admin login reaches the admin role only through SET ROLE, which Citus's worker connections cannot follow",
    ),
    (
        "CIT012",
        Severity::Warning,
        Section::Citus,
        "a SQL function with parameters reads a distributed or reference table",
    ),
    (
        "CIT013",
        Severity::Error,
        Section::Citus,
        "a trigger of a distributed table queries a distributed table",
    ),
    (
        "CIT014",
        Severity::Error,
        Section::Citus,
        "a function a shard's trigger calls takes the distributed table's row type",
    ),
    (
        "CIT015",
        Severity::Error,
        Section::Citus,
        "on a node, the application role may use a Citus function or view the migrations take from PUBLIC",
    ),
];

pub(super) fn lint(id: &'static str) -> (Severity, Section) {
    LINTS
        .iter()
        .find(|l| l.0 == id)
        .map_or((Severity::Error, Section::Isolation), |l| (l.1, l.2))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn lint_ids_are_unique_and_documented() {
        let ids: BTreeSet<&str> = LINTS.iter().map(|l| l.0).collect();
        assert_eq!(ids.len(), LINTS.len());
        assert!(LINTS.iter().all(|l| !l.3.is_empty()));
    }
}
