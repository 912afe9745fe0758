//! Verifies, when a [`crate::Tenancy`] is built, that its logins are what isolation needs:
//! the application login cannot become a role that skips row level security, and the admin
//! login is a different login that can become the admin role.

use diesel::PgConnection;
use diesel::RunQueryDsl;
use diesel::sql_types::{Bool, Text};

use crate::Error;

/// One role the login can become through `SET ROLE`, directly or through a membership chain.
#[derive(diesel::QueryableByName, Debug)]
#[allow(clippy::struct_excessive_bools)] // reason: one column per catalog attribute, as read
pub(crate) struct Reachable {
    #[diesel(sql_type = Text)]
    pub role: String,
    #[diesel(sql_type = Text)]
    pub path: String,
    #[diesel(sql_type = Bool)]
    pub superuser: bool,
    #[diesel(sql_type = Bool)]
    pub bypass_rls: bool,
    #[diesel(sql_type = Bool)]
    pub owns_tables: bool,
    /// A schema it owns that holds tables under row level security, quoted as an identifier.
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    pub owned_schema: Option<String>,
    /// It owns tenancy's own schema (`tenancy`, or the extension's `tenancy_context`) or a
    /// function in it, such as the reader every policy calls.
    #[diesel(sql_type = Bool)]
    pub owns_context: bool,
    #[diesel(sql_type = Bool)]
    pub create_role: bool,
    /// REPLICATION: logical decoding and base backups, which no privilege or policy governs.
    #[diesel(sql_type = Bool)]
    pub replication: bool,
    #[diesel(sql_type = Bool)]
    pub server_access: bool,
    /// The functions that read or write the server's files, or connect as any user, that this
    /// role may run by a grant of its own (`pg_read_binary_file(text)`, ..), as SQL names them.
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    pub file_functions: Option<String>,
    /// The same, that `PUBLIC` may run, and so every role.
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    pub public_file_functions: Option<String>,
    /// It may read or change `tenancy.context_key`, the key that seals the tenant context.
    #[diesel(sql_type = Bool)]
    pub key_access: bool,
    /// It may `TRUNCATE`, or create triggers on, a table under row level security.
    #[diesel(sql_type = Bool)]
    pub unpoliced: bool,
    /// The roles it holds with `ADMIN OPTION`, quoted as identifiers: it may grant them to any
    /// role, and take them from any member.
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    pub admin_of: Option<String>,
    /// It holds `TEMPORARY` on the database itself (a grant, or as the database's owner).
    #[diesel(sql_type = Bool)]
    pub temporary: bool,
    /// `PUBLIC` holds `TEMPORARY` on the database, so every role does.
    #[diesel(sql_type = Bool)]
    pub public_temporary: bool,
    /// The database and the role quoted as identifiers, for the fix of a `TEMPORARY` grant.
    #[diesel(sql_type = Text)]
    pub database: String,
    #[diesel(sql_type = Text)]
    pub role_ident: String,
    /// It owns the current database, or is `pg_database_owner`, whose member the database's
    /// owner is.
    #[diesel(sql_type = Bool)]
    pub owns_database: bool,
}

/// Every role `login` can become (itself included), with what would let it skip row level
/// security. In PostgreSQL 15 any membership allows `SET ROLE`, whatever `INHERIT` says. The
/// login itself comes first, `pg_database_owner` (which stands for the database's owner,
/// reached before it) last.
pub(crate) const REACHABLE_SQL: &str = "
SELECT * FROM (
WITH RECURSIVE server_file_functions AS (
  SELECT p.oid FROM pg_proc p
  WHERE (p.pronamespace = 'pg_catalog'::regnamespace
         AND p.proname IN ('pg_read_file', 'pg_read_binary_file', 'lo_import', 'lo_export',
                           'pg_file_write', 'pg_file_sync', 'pg_file_rename', 'pg_file_unlink'))
     OR (p.proname = 'dblink_connect_u' AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'c'))
     -- The same C code under another name: a function of LANGUAGE internal runs the built-in
     -- its source names (`CREATE FUNCTION public.file_bytes(text) .. LANGUAGE internal AS
     -- 'pg_read_binary_file_all'`), and a new function is PUBLIC's to run.
     OR (p.oid >= 16384 AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'internal')
         AND p.prosrc IN (SELECT b.prosrc FROM pg_proc b
                          WHERE b.oid < 16384 AND b.pronamespace = 'pg_catalog'::regnamespace
                            AND b.proname IN ('pg_read_file', 'pg_read_binary_file', 'lo_import', 'lo_export')))
),
-- Every membership, and the database's owner in pg_database_owner (no pg_auth_members row
-- says so), which owns schema public and whatever else was given to it.
edge (member, roleid, how) AS (
  SELECT m.member, m.roleid, g.rolname::text
  FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
  UNION ALL
  SELECT d.datdba, 'pg_database_owner'::regrole::oid, 'pg_database_owner (as the owner of the database)'
  FROM pg_database d WHERE d.datname = current_database()
),
-- Breadth first, one row per level, each role at the first level that reaches it. Walking
-- paths instead takes time exponential in the depth of a lattice of memberships (25 levels
-- of two roles each member of both of the next: 2^25 paths).
level (depth, frontier, seen) AS (
  SELECT 0, ARRAY[r.oid], ARRAY[r.oid] FROM pg_roles r WHERE r.rolname = $1
  UNION ALL
  SELECT level.depth + 1, next.oids, level.seen || next.oids
  FROM level CROSS JOIN LATERAL (
    SELECT array_agg(DISTINCT e.roleid) AS oids FROM edge e
    WHERE e.member = ANY (level.frontier) AND e.roleid <> ALL (level.seen)
  ) next
  WHERE next.oids IS NOT NULL
),
placed (oid, depth) AS (SELECT unnest(frontier), depth FROM level),
-- One way in to each role, from the level before it, the first member by name.
way_in (oid, member, how) AS (
  SELECT DISTINCT ON (p.oid) p.oid, e.member, e.how
  FROM placed p
  JOIN edge e ON e.roleid = p.oid
  JOIN placed before ON before.oid = e.member AND before.depth = p.depth - 1
  JOIN pg_roles m ON m.oid = e.member
  ORDER BY p.oid, m.rolname
),
reach (oid, path) AS (
  SELECT r.oid, r.rolname::text FROM pg_roles r WHERE r.rolname = $1
  UNION ALL
  SELECT w.oid, reach.path || ' -> ' || w.how FROM reach JOIN way_in w ON w.member = reach.oid
)
SELECT DISTINCT ON (r.rolname)
  r.rolname::text AS role, reach.path, r.rolsuper AS superuser, r.rolbypassrls AS bypass_rls,
  r.rolcreaterole AS create_role, r.rolreplication AS replication,
  r.rolname IN ('pg_execute_server_program', 'pg_read_server_files', 'pg_write_server_files')
    AS server_access,
  -- Their functions, granted one by one: a table's data file holds every tenant's rows, and
  -- what may be written there (the server's configuration among it) makes a superuser.
  -- Revoked from PUBLIC by PostgreSQL itself; dblink's connects as any user, password or not.
  (SELECT string_agg(p.oid::regprocedure::text, ', ' ORDER BY p.oid::regprocedure::text)
   FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
   WHERE a.grantee = r.oid AND a.privilege_type = 'EXECUTE' AND p.proowner <> r.oid
     AND p.oid IN (SELECT oid FROM server_file_functions)
  ) AS file_functions,
  (SELECT string_agg(p.oid::regprocedure::text, ', ' ORDER BY p.oid::regprocedure::text)
   FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
   WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'
     AND p.oid IN (SELECT oid FROM server_file_functions)
  ) AS public_file_functions,
  EXISTS (
    SELECT FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relowner = r.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
      AND c.relpersistence <> 't'
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  ) AS owns_tables,
  -- A schema's owner may drop any table in it (and put its own in its place).
  (SELECT quote_ident(min(n.nspname)) FROM pg_namespace n
   WHERE n.nspowner = r.oid
     AND EXISTS (SELECT FROM pg_class c WHERE c.relnamespace = n.oid AND c.relrowsecurity)
  ) AS owned_schema,
  -- The owner of a function may replace it: tenancy.current_tenant() answering another
  -- tenant, or tenancy.enter() accepting any entry, opens every policy.
  EXISTS (
    SELECT FROM pg_namespace n
    WHERE n.nspname IN ('tenancy', 'tenancy_context')
      AND (n.nspowner = r.oid OR EXISTS (
        SELECT FROM pg_proc p WHERE p.pronamespace = n.oid AND p.proowner = r.oid))
  ) AS owns_context,
  -- Granted to this role itself (or to PUBLIC), not inherited: the role that holds the grant
  -- is the one named, and every role the login can become is walked anyway.
  r.rolname IN ('pg_read_all_data', 'pg_write_all_data') OR EXISTS (
    SELECT FROM pg_class c, aclexplode(c.relacl) a
    WHERE c.oid = to_regclass('tenancy.context_key') AND a.grantee IN (r.oid, 0)
      AND a.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')
  ) OR EXISTS (
    SELECT FROM pg_attribute c, aclexplode(c.attacl) a
    WHERE c.attrelid = to_regclass('tenancy.context_key') AND a.grantee IN (r.oid, 0)
      AND a.privilege_type IN ('SELECT', 'INSERT', 'UPDATE')
  ) AS key_access,
  EXISTS (
    SELECT FROM pg_class c, aclexplode(c.relacl) a
    WHERE c.relrowsecurity AND c.relkind IN ('r', 'p') AND a.grantee IN (r.oid, 0)
      AND a.privilege_type IN ('TRUNCATE', 'TRIGGER')
  ) AS unpoliced,
  (SELECT string_agg(quote_ident(g.rolname), ', ' ORDER BY g.rolname)
   FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
   WHERE m.member = r.oid AND m.admin_option) AS admin_of,
  -- A database's ACL is NULL until its first GRANT or REVOKE, which means the default: the
  -- owner holds everything and PUBLIC holds TEMPORARY and CONNECT.
  EXISTS (
    SELECT FROM pg_database d, aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
    WHERE d.datname = current_database() AND a.grantee = r.oid
      AND a.privilege_type = 'TEMPORARY'
  ) AS temporary,
  EXISTS (
    SELECT FROM pg_database d, aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
    WHERE d.datname = current_database() AND a.grantee = 0
      AND a.privilege_type = 'TEMPORARY'
  ) AS public_temporary,
  quote_ident(current_database()) AS database, quote_ident(r.rolname) AS role_ident,
  -- The database's owner (pg_database_owner stands for it): it owns schema public (through
  -- pg_database_owner), may grant itself CREATE and TEMPORARY on the database, and sets the
  -- defaults every session starts with (ALTER DATABASE .. SET).
  EXISTS (SELECT FROM pg_database d
          WHERE d.datname = current_database()
            AND (d.datdba = r.oid OR r.oid = 'pg_database_owner'::regrole::oid)) AS owns_database
FROM reach JOIN pg_roles r ON r.oid = reach.oid
ORDER BY r.rolname, length(reach.path)
) reachable
ORDER BY reachable.role <> $1, reachable.role = 'pg_database_owner', reachable.role";

/// The roles `login` can become.
pub(crate) fn reachable(
    conn: &mut PgConnection,
    login: &str,
) -> diesel::QueryResult<Vec<Reachable>> {
    diesel::sql_query(REACHABLE_SQL)
        .bind::<Text, _>(login)
        .load(conn)
}

impl Reachable {
    /// What lets this role skip row level security, if anything.
    pub(crate) fn problem(&self) -> Option<&'static str> {
        if self.superuser {
            Some("a superuser, whom row level security never applies to")
        } else if self.bypass_rls {
            Some("BYPASSRLS")
        } else if self.owns_tables {
            Some("the owner of tables (owners may switch row level security off)")
        } else if self.owns_database {
            Some(DATABASE_OWNER)
        } else if self.owned_schema.is_some() {
            Some(SCHEMA_OWNER)
        } else if self.owns_context {
            Some(
                "the owner of tenancy's schema or of a function in it (the owner may replace tenancy.current_tenant(), which every policy reads the tenant through, or the checks that seal the context)",
            )
        } else if self.server_access {
            Some(
                "a predefined role that runs programs on the server or reads or writes its files, as the operating system user that owns every table's data",
            )
        } else if self.file_functions.is_some() || self.public_file_functions.is_some() {
            Some(FILE_FUNCTIONS)
        } else if self.create_role {
            Some(CREATEROLE)
        } else if self.replication {
            Some(REPLICATION)
        } else if self.key_access {
            Some(
                "a role that may read or change tenancy.context_key, the key that seals the tenant context, and so enter any tenant's context",
            )
        } else if self.unpoliced {
            Some(
                "a role that may TRUNCATE, or create triggers on, a table under row level security, which governs neither",
            )
        } else if self.admin_of.is_some() {
            Some(ADMIN_OPTION)
        } else if self.temporary || self.public_temporary {
            Some(TEMPORARY)
        } else {
            None
        }
    }

    /// The attribute or grant to drop when that is the whole problem (CREATEROLE,
    /// TEMPORARY), rather than a membership to remove.
    pub(crate) fn attribute_fix(&self) -> Option<String> {
        match self.problem() {
            Some(CREATEROLE) => Some(format!("ALTER ROLE {} NOCREATEROLE", self.role)),
            Some(REPLICATION) => Some(format!("ALTER ROLE {} NOREPLICATION", self.role)),
            Some(ADMIN_OPTION) => self
                .admin_of
                .as_deref()
                .map(|roles| format!("REVOKE ADMIN OPTION FOR {roles} FROM {}", self.role_ident)),
            Some(FILE_FUNCTIONS) => Some(
                [
                    self.file_functions
                        .as_deref()
                        .map(|f| (f, self.role_ident.as_str())),
                    self.public_file_functions.as_deref().map(|f| (f, "PUBLIC")),
                ]
                .into_iter()
                .flatten()
                .map(|(functions, from)| {
                    format!("REVOKE EXECUTE ON FUNCTION {functions} FROM {from}")
                })
                .collect::<Vec<_>>()
                .join("; "),
            ),
            Some(DATABASE_OWNER) => Some(format!(
                "ALTER DATABASE {} OWNER TO <the role that runs the migrations>",
                self.database
            )),
            Some(SCHEMA_OWNER) => Some(format!(
                "ALTER SCHEMA {} OWNER TO <the role that runs the migrations>",
                self.owned_schema.as_deref().unwrap_or_default()
            )),
            Some(TEMPORARY) => Some(format!(
                "REVOKE TEMPORARY ON DATABASE {} FROM {}, PUBLIC (the tenancy migrations revoke it from PUBLIC; a database's owner holds it too, so the login must not own the database)",
                self.database, self.role_ident
            )),
            _ => None,
        }
    }

    /// Whether the problem is only `TEMPORARY` held by the application role `app` or through
    /// `PUBLIC` (which every role then holds): `tenancy check` reports that once, for the
    /// application role (TEN066).
    #[cfg(feature = "check")]
    pub(crate) fn temporary_of(&self, app: &str) -> bool {
        self.problem() == Some(TEMPORARY) && (self.role == app || !self.temporary)
    }

    /// Whether the problem is only functions of the server's files that `PUBLIC` may run:
    /// `tenancy check` reports that once, for the application role (TEN065).
    #[cfg(feature = "check")]
    pub(crate) fn public_file_functions_of(&self, app: &str) -> bool {
        self.problem() == Some(FILE_FUNCTIONS) && self.role != app && self.file_functions.is_none()
    }
}

/// [`Reachable::problem`] for the owner of the current database (and `pg_database_owner`,
/// whose member it is).
pub(crate) const DATABASE_OWNER: &str = "the owner of the database (a member of pg_database_owner, which owns schema public: it may drop any table there and put one of its own, with no policy, in its place; it may also grant itself CREATE and TEMPORARY on the database and set the defaults every session starts with)";

/// [`Reachable::problem`] for the owner of a schema holding tables under row level security.
const SCHEMA_OWNER: &str = "the owner of a schema that holds tables under row level security (a schema's owner may drop any table in it and put a table of its own, with no policy, in its place)";

/// [`Reachable::problem`] for a REPLICATION role. Role attributes are not inherited, but
/// `SET ROLE` gives them.
const REPLICATION: &str = "REPLICATION, with which it reads every change to every table through logical decoding (pg_create_logical_replication_slot, then pg_logical_slot_get_changes, where wal_level is logical) or copies the data files through a base backup, and neither privileges nor row level security apply";

/// [`Reachable::problem`] for a role that holds a membership with `ADMIN OPTION`.
const ADMIN_OPTION: &str = "a role that holds another role WITH ADMIN OPTION: SQL in any tenant's transaction may then grant that role to other roles and take it from its members, which outlives the transaction and changes what every login of the cluster may do (made a member of the application role, the admin login is refused; the application's own login taken out, every tenant's transaction fails)";

/// [`Reachable::problem`] for a role that may create temporary tables.
const TEMPORARY: &str = "a role that may create temporary tables: one made by SQL in one tenant's transaction outlives it, and shadows the tenant table of its name (pg_temp is searched first) in every later transaction on the pooled connection, whichever tenant it runs for, with no row level security on it";

/// [`Reachable::problem`] for a role granted a function of the server's files.
const FILE_FUNCTIONS: &str = "a role that may run functions that read or write the server's files (pg_read_binary_file, lo_import, lo_export, ..) or connect as any user (dblink_connect_u): a table's data file holds every tenant's rows, which no policy filters, and a file written in the server's directory can make a superuser";

/// [`Reachable::problem`] for a CREATEROLE role: PostgreSQL 15 lets CREATEROLE grant
/// membership in any role but a superuser.
const CREATEROLE: &str = "CREATEROLE, with which it can grant itself any role that is not a superuser (a BYPASSRLS role, a table owner)";

/// [`verify_app_login`]'s problem for a login whose sessions skip foreign keys.
const REPLICA: &str = "a login whose sessions start with session_replication_role = replica, or that may set it, where no foreign key is checked: a row can then point into another tenant, and row level security does not look at what a row references";

/// Whether the server has grants of SET on settings (`GRANT SET ON PARAMETER`), which exist
/// from PostgreSQL 15 on, and so do the catalog that holds them and `has_parameter_privilege`.
pub(crate) fn has_parameter_grants(conn: &mut PgConnection) -> diesel::QueryResult<bool> {
    #[derive(diesel::QueryableByName)]
    struct Version {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        n: i32,
    }
    let version: Version =
        diesel::sql_query("SELECT current_setting('server_version_num')::integer AS n")
            .get_result(conn)?;
    Ok(version.n >= 150_000)
}

/// [`verify_app_login`]'s problem for a login that may change the server's configuration.
pub(crate) const ALTER_SYSTEM: &str = "a role that may change the server's configuration (ALTER SYSTEM), which a reload applies to every session: archive_command and its kin run a program as the operating system user that owns every table's data file, session_replication_role switches every foreign key off";

/// [`verify_app_login`]'s problem for a login that may read other roles' credentials.
const CREDENTIALS: &str = "a role that may read other roles' credentials (password hashes in pg_authid or its view pg_shadow, passwords kept in user mappings or subscriptions' connection strings), with which it can log in as a superuser";

/// The catalog columns that hold other roles' credentials, which PostgreSQL keeps to
/// superusers: password hashes (an MD5 hash logs in as it stands), the options of user
/// mappings (postgres_fdw and dblink keep passwords there in clear), subscriptions' connection
/// strings.
pub(crate) const CREDENTIAL_COLUMNS: [(&str, &str); 4] = [
    ("pg_authid", "rolpassword"),
    // PostgreSQL's own view of pg_authid, as readable as its grants make it.
    ("pg_shadow", "passwd"),
    ("pg_user_mapping", "umoptions"),
    ("pg_subscription", "subconninfo"),
];

/// What a login may use to become any role at all, row level security's limits aside.
#[derive(diesel::QueryableByName)]
pub(crate) struct ServerAccess {
    /// The catalogs of [`CREDENTIAL_COLUMNS`] whose credential column it may read.
    #[diesel(sql_type = diesel::sql_types::Array<Text>)]
    pub(crate) credentials: Vec<String>,
    /// The settings it may change with `ALTER SYSTEM`, comma-separated.
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    pub(crate) alter_system: Option<String>,
}

/// `login` and every role it can become (through any membership: in PostgreSQL 15 each allows
/// `SET ROLE`), as `reach`, for a `WITH`.
macro_rules! login_reach {
    () => {
        "WITH RECURSIVE reach (oid) AS (
           SELECT oid FROM pg_roles WHERE rolname = $1
           UNION
           SELECT m.roleid FROM pg_auth_members m JOIN reach ON m.member = reach.oid
         )
         SELECT ARRAY(SELECT DISTINCT c.catalog_table
                      FROM unnest($2::text[], $3::text[]) c (catalog_table, column_name), reach
                      WHERE has_column_privilege(reach.oid,
                                                 ('pg_catalog.' || c.catalog_table)::regclass,
                                                 c.column_name, 'SELECT')
                      ORDER BY 1) AS credentials,"
    };
}

/// [`ServerAccess`] of `$1`, the credential columns bound as `$2` (catalogs) and `$3`
/// (columns). A grant to `PUBLIC` counts; a login that does not exist has none.
const SERVER_ACCESS_SQL: &str = concat!(
    login_reach!(),
    "
         (SELECT string_agg(DISTINCT a.parname::text, ', ' ORDER BY a.parname::text)
          FROM pg_catalog.pg_parameter_acl a, aclexplode(a.paracl) x
          WHERE x.privilege_type = 'ALTER SYSTEM'
            AND EXISTS (SELECT FROM reach)
            AND (x.grantee = 0 OR x.grantee IN (SELECT oid FROM reach))) AS alter_system"
);

/// The same before PostgreSQL 15, which has no grants on settings.
const SERVER_ACCESS_SQL_BEFORE_15: &str = concat!(login_reach!(), " NULL::text AS alter_system");

/// The credentials `login` may read and the settings it may change with `ALTER SYSTEM`, itself,
/// through any role it can become or through `PUBLIC`. `parameter_grants`:
/// [`has_parameter_grants`].
pub(crate) fn server_access(
    conn: &mut PgConnection,
    login: &str,
    parameter_grants: bool,
) -> diesel::QueryResult<ServerAccess> {
    diesel::sql_query(if parameter_grants {
        SERVER_ACCESS_SQL
    } else {
        SERVER_ACCESS_SQL_BEFORE_15
    })
    .bind::<Text, _>(login)
    .bind::<diesel::sql_types::Array<Text>, _>(CREDENTIAL_COLUMNS.map(|(t, _)| t).to_vec())
    .bind::<diesel::sql_types::Array<Text>, _>(CREDENTIAL_COLUMNS.map(|(_, c)| c).to_vec())
    .get_result(conn)
}

/// Whether the session's login starts in the replication role that fires no foreign-key
/// trigger, or may switch to it (a grant of SET on the setting).
fn unchecked_foreign_keys(
    conn: &mut PgConnection,
    parameter_grants: bool,
) -> diesel::QueryResult<bool> {
    #[derive(diesel::QueryableByName)]
    struct Replica {
        #[diesel(sql_type = Bool)]
        on: bool,
    }
    let now: Replica =
        diesel::sql_query("SELECT current_setting('session_replication_role') = 'replica' AS on")
            .get_result(conn)?;
    if now.on || !parameter_grants {
        return Ok(now.on);
    }
    let may_set: Replica = diesel::sql_query(
        "SELECT NOT r.rolsuper AND has_parameter_privilege(r.oid, 'session_replication_role', 'SET') AS on
         FROM pg_roles r WHERE r.rolname = session_user",
    )
    .get_result(conn)?;
    Ok(may_set.on)
}

#[derive(diesel::QueryableByName)]
struct Who {
    #[diesel(sql_type = Text)]
    login: String,
    #[diesel(sql_type = Bool)]
    app_role_exists: bool,
    #[diesel(sql_type = Bool)]
    inherits_app_role: bool,
    /// A member of `tenancy_app`, the role whose sessions the SQL context's readers police
    /// (`tenancy.trusted_session()` trusts every other login's plain settings, as it trusts
    /// the admin's); true where the migrations did not create it.
    #[diesel(sql_type = Bool)]
    policed: bool,
}

/// [`verify_app_login`]'s problem for a login that is no member of `tenancy_app`.
const TRUSTED: &str = "a login that is no member of tenancy_app: the tenant context's readers trust its sessions as they trust the admin's, and take the tenant from the plain setting tenancy.tenant_id, which SQL of any tenant sets (SET LOCAL tenancy.tenant_id = '<another tenant>')";

/// Checks the application login of `conn` against `app_role`; returns the login's name.
pub(crate) fn verify_app_login(conn: &mut PgConnection, app_role: &str) -> Result<String, Error> {
    let who: Who = diesel::sql_query(
        "SELECT session_user::text AS login,
                EXISTS (SELECT FROM pg_roles WHERE rolname = $1) AS app_role_exists,
                COALESCE(pg_has_role(session_user, (SELECT oid FROM pg_roles WHERE rolname = $1), 'USAGE'), false) AS inherits_app_role,
                COALESCE(pg_has_role(session_user, (SELECT oid FROM pg_roles WHERE rolname = 'tenancy_app'), 'MEMBER'), true) AS policed",
    )
    .bind::<Text, _>(app_role)
    .get_result(conn)?;
    for role in reachable(conn, &who.login)? {
        if let Some(problem) = role.problem() {
            let fix = if let Some(fix) = role.attribute_fix() {
                format!("`{fix}`")
            } else if role.role == who.login {
                format!(
                    "connect tenant transactions with a login that is only a member of `{app_role}` (`CREATE ROLE app_login LOGIN INHERIT; GRANT {app_role} TO app_login`)"
                )
            } else {
                format!(
                    "`REVOKE {} FROM {}` (or remove the membership chain), and give the admin path its own login",
                    role.path.rsplit(" -> ").next().unwrap_or(&role.role),
                    role.path.rsplit(" -> ").nth(1).unwrap_or(&who.login)
                )
            };
            return Err(Error::UnsafeRole {
                login: who.login,
                role: role.role,
                path: role.path,
                problem,
                fix,
            });
        }
    }
    let parameter_grants = has_parameter_grants(conn)?;
    let access = server_access(conn, &who.login, parameter_grants)?;
    refuse_server_access(&who.login, access)?;
    if unchecked_foreign_keys(conn, parameter_grants)? {
        return Err(Error::UnsafeRole {
            fix: format!(
                "`ALTER ROLE {0} RESET session_replication_role` (or the database's or server's default), and `REVOKE SET ON PARAMETER session_replication_role FROM {0}`",
                who.login
            ),
            login: who.login.clone(),
            role: who.login.clone(),
            path: who.login,
            problem: REPLICA,
        });
    }
    if !who.app_role_exists {
        return Err(Error::UnsafeRole {
            login: who.login.clone(),
            role: app_role.to_owned(),
            path: who.login,
            problem: "missing: the application role does not exist",
            fix: "run the tenancy migrations, which create it".to_owned(),
        });
    }
    if !who.inherits_app_role {
        return Err(Error::UnsafeRole {
            fix: format!(
                "`GRANT {app_role} TO {0}` and `ALTER ROLE {0} INHERIT`: tenant transactions use the application role's privileges without `SET ROLE`",
                who.login
            ),
            login: who.login.clone(),
            role: app_role.to_owned(),
            path: who.login,
            problem: "not inherited: the login does not have the application role's privileges",
        });
    }
    if !who.policed {
        return Err(Error::UnsafeRole {
            fix: format!(
                "`GRANT tenancy_app TO {0}` (the migrations' grants and policies name tenancy_app: make `{app_role}` a member of it, or use tenancy_app as the application role)",
                who.login
            ),
            login: who.login.clone(),
            role: who.login.clone(),
            path: who.login,
            problem: TRUSTED,
        });
    }
    Ok(who.login)
}

/// [`verify_app_login`]'s refusal of a login that may read other roles' credentials or change
/// the server's configuration.
fn refuse_server_access(login: &str, access: ServerAccess) -> Result<(), Error> {
    if !access.credentials.is_empty() {
        let revokes = CREDENTIAL_COLUMNS
            .iter()
            .filter(|(table, _)| access.credentials.iter().any(|c| c == table))
            .map(|(table, column)| {
                format!(
                    "REVOKE SELECT ({column}) ON pg_catalog.{table} FROM <the role that holds it>"
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        return Err(Error::UnsafeRole {
            fix: format!(
                "`{revokes}`, and any grant on the whole catalog (it may be {login}, a role it can become, or PUBLIC)"
            ),
            login: login.to_owned(),
            role: login.to_owned(),
            path: login.to_owned(),
            problem: CREDENTIALS,
        });
    }
    if let Some(settings) = access.alter_system {
        return Err(Error::UnsafeRole {
            fix: format!(
                "`REVOKE ALTER SYSTEM ON PARAMETER {settings} FROM <the role that holds it>` (it may be {login}, a role it can become, or PUBLIC)"
            ),
            login: login.to_owned(),
            role: login.to_owned(),
            path: login.to_owned(),
            problem: ALTER_SYSTEM,
        });
    }
    Ok(())
}

#[derive(diesel::QueryableByName)]
struct AdminWho {
    #[diesel(sql_type = Text)]
    login: String,
    #[diesel(sql_type = Bool)]
    member: bool,
    #[diesel(sql_type = Bool)]
    app_member: bool,
    #[diesel(sql_type = Bool)]
    direct: bool,
}

/// Checks the admin login of `conn`: it can become `admin_role`, and it is not the
/// application's login (`app_login`). Returns whether the login is an admin by itself
/// (`BYPASSRLS`, and inheriting the admin role's privileges), so that admin transactions need
/// no `SET ROLE`: on Citus, whose worker connections log in as the `SET ROLE` target, that is
/// what spares the admin role a `LOGIN`.
pub(crate) fn verify_admin_login(
    conn: &mut PgConnection,
    admin_role: &str,
    app_role: &str,
    app_login: &str,
) -> Result<bool, Error> {
    let who: AdminWho = diesel::sql_query(
        "SELECT session_user::text AS login,
                COALESCE(pg_has_role(session_user, (SELECT oid FROM pg_roles WHERE rolname = $1), 'MEMBER'), false) AS member,
                COALESCE((SELECT NOT r.rolsuper AND pg_has_role(session_user, (SELECT oid FROM pg_roles WHERE rolname = $2), 'MEMBER')
                          FROM pg_roles r WHERE r.rolname = session_user), false) AS app_member,
                COALESCE((SELECT r.rolbypassrls AND NOT r.rolsuper
                                 AND pg_has_role(session_user, (SELECT oid FROM pg_roles WHERE rolname = $1), 'USAGE')
                          FROM pg_roles r WHERE r.rolname = session_user), false) AS direct",
    )
    .bind::<Text, _>(admin_role)
    .bind::<Text, _>(app_role)
    .get_result(conn)?;
    if who.login == app_login || who.app_member {
        return Err(Error::UnsafeRole {
            login: who.login.clone(),
            role: app_role.to_owned(),
            path: who.login,
            problem: "shared: the admin login is also the application's login (or a member of its role)",
            fix: "give the admin path a login of its own that is a member of the admin role only"
                .to_owned(),
        });
    }
    if !who.member {
        return Err(Error::UnsafeRole {
            fix: format!("`GRANT {admin_role} TO {}`", who.login),
            login: who.login.clone(),
            role: admin_role.to_owned(),
            path: who.login,
            problem: "not a member: the admin login cannot become the admin role",
        });
    }
    Ok(who.direct)
}
