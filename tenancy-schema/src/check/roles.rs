//! The rules about who runs the queries: the application role's own attributes, the logins
//! that can reach a role skipping row level security, and whether the tenant context those
//! queries are filtered by can be forged.

use super::CheckOptions;
use super::catalog::Catalog;
use super::report::Findings;

pub(super) fn check_role(f: &mut Findings, catalog: &Catalog, o: &CheckOptions) {
    let object = format!("role {}", o.app_role);
    if !catalog.role.exists {
        f.add(
            "TEN060",
            &object,
            format!("role `{}` does not exist", o.app_role),
            "run the migrations, or pass the application role with --app-role",
        );
        return;
    }
    if catalog.role.superuser {
        f.add(
            "TEN061",
            &object,
            "the application role is a superuser: row level security never applies to it",
            format!("ALTER ROLE {} NOSUPERUSER", o.app_role),
        );
    }
    if catalog.role.bypassrls {
        f.add(
            "TEN062",
            &object,
            "the application role has BYPASSRLS: row level security never applies to it",
            format!("ALTER ROLE {} NOBYPASSRLS", o.app_role),
        );
    }
}

pub(super) fn check_reach_and_context(f: &mut Findings, catalog: &Catalog, o: &CheckOptions) {
    check_server_configuration(f, catalog);
    // The database's owner is TEN106's.
    super::reach::check_reach(f, catalog, o);
    check_owned(f, catalog, o);
    let object = format!("role {}", o.app_role);
    if catalog.context.temporary {
        f.add(
            "TEN066",
            &object,
            format!("`{}` may create temporary tables: a temporary table created in one tenant's transaction shadows the real table of the same name for the next tenant on the pooled connection", o.app_role),
            "REVOKE TEMPORARY ON DATABASE <database> FROM PUBLIC; GRANT TEMPORARY ON DATABASE <database> TO <owner>",
        );
    }
    if !catalog.context.sealed_function || !catalog.context.has_key {
        f.add(
            "TEN067",
            "function tenancy.current_tenant()",
            "the policies read a tenant context that SQL running as the application role can set (`SET tenancy.tenant_id`, `set_config`)",
            "run the tenancy migrations (the sealed tenant context: tenancy.enter(), tenancy.context_key)",
        );
    }
    if catalog.context.native_without_extension {
        f.add(
            "TEN068",
            "function tenancy.current_tenant()",
            "the policies read the native tenant context, but the tenancy_context extension is not installed: every statement under a policy fails",
            "as a superuser: CREATE EXTENSION tenancy_context (extension/ in tenancy's repository); or SELECT tenancy.disable_native_context()",
        );
    }
    if !catalog.context.foreign_native_functions.is_empty() {
        f.add(
            "TEN068",
            "schema tenancy_context",
            format!(
                "{} in the native context's schema {} not the tenancy_context extension's own C code as it declares it (STABLE, as its caller), or can be replaced by `{}`: the policies would read whatever it returns, or one tenant's id folded into a cached plan",
                catalog.context.foreign_native_functions.join(", "),
                if catalog.context.foreign_native_functions.len() == 1 { "is" } else { "are" },
                o.app_role
            ),
            "as a superuser: give a function back to the extension's owner (ALTER FUNCTION .. OWNER TO) and to the extension (ALTER EXTENSION tenancy_context ADD FUNCTION ..); for a replaced or altered reader, SELECT tenancy.disable_native_context(), DROP EXTENSION tenancy_context, CREATE EXTENSION tenancy_context, then SELECT tenancy.enable_native_context()",
        );
    }
    let shipped = shipped_session_check();
    let intact = catalog.context.session_check_body.as_deref() == Some(shipped.as_str());
    if !intact || !catalog.context.session_check_executable {
        f.add(
            "TEN069",
            "function tenancy.check_session()",
            format!(
                "tenancy.check_session() is {}: SQL-made prepared statements, cursors WITH HOLD and LISTEN can outlive a transaction of the SQL tenant context on a pooled connection, and a prepared statement named like the driver's runs in the next tenant's transaction (or, when `{}` cannot execute it, every such transaction fails at its end)",
                if catalog.context.session_check_body.is_none() {
                    "missing"
                } else if intact {
                    "not executable by the application role"
                } else {
                    "not the function tenancy's migrations create"
                },
                o.app_role
            ),
            "run the tenancy migrations (tenancy init, then diesel migration run), and leave tenancy.check_session() as they create it, executable by the application role",
        );
    }
    check_trusted_logins(f, catalog, o);
    check_key_watchers(f, catalog);
    for what in &catalog.context.forgeable_by {
        f.add(
            "TEN067",
            &object,
            format!("`{}` has {what}: {}", o.app_role, what_it_opens(what)),
            format!("revoke it from {} (and PUBLIC)", o.app_role),
        );
    }
    for view in &catalog.unread_key_views {
        f.add(
            "TEN067",
            &object,
            format!(
                "`{}` has SELECT on {view}, a view too big for the check to read (it expands to more than {} relation scans), which may show a copy of tenancy.context_key: the check cannot tell whether it opens the tenant context to forgery",
                o.app_role,
                super::view_expansion::MOST_SCANS
            ),
            format!("split the view, or revoke it from {} (and PUBLIC)", o.app_role),
        );
    }
}

/// TEN065: what a role a session of the application may act as owns, besides tables, whose
/// owner reads or rewrites every tenant's rows past row level security (a domain or enum of a
/// column, a function PostgreSQL keeps to superusers, a catalog).
fn check_owned(f: &mut Findings, catalog: &Catalog, o: &CheckOptions) {
    for owned in &catalog.owned {
        let who = if owned.role == o.app_role {
            format!("`{}`", o.app_role)
        } else {
            format!(
                "a session of `{}` can act as `{}` ({}), which",
                o.app_role,
                owned.role,
                catalog.how_acting_as(&owned.role)
            )
        };
        let by = if owned.owner == owned.role {
            String::new()
        } else {
            format!(" (owned by `{}`, which it is a member of)", owned.owner)
        };
        f.add(
            "TEN065",
            format!("role {}", owned.role),
            format!(
                "{who} owns {}{by}: it {}, so SQL of one tenant reaches every tenant's rows",
                owned.object, owned.opens
            ),
            format!(
                "{}; or remove the membership (or the EXECUTE grant on a SECURITY DEFINER function) that reaches its owner",
                owned.fix
            ),
        );
    }
}

/// TEN067: logins of the application role that `tenancy.trusted_session()` trusts, whose
/// sessions set the tenant with a plain setting.
fn check_trusted_logins(f: &mut Findings, catalog: &Catalog, o: &CheckOptions) {
    for login in &catalog.trusted_logins {
        f.add(
            "TEN067",
            "function tenancy.trusted_session()",
            format!(
                "`{login}` logs in as `{}` (or a member of it) and is no member of `tenancy_app`: tenancy.trusted_session() trusts its sessions as it trusts the admin's, so the SQL context's readers take the tenant from `tenancy.tenant_id`, which SQL of any tenant sets (`SET LOCAL tenancy.tenant_id = '<another tenant>'`)",
                o.app_role
            ),
            format!(
                "GRANT tenancy_app TO {login} (the migrations' grants and policies name tenancy_app: make the application role a member of it, or use it as the application role)"
            ),
        );
    }
}

/// What a privilege of TEN067 lets SQL of the application do.
fn what_it_opens(what: &str) -> &'static str {
    if what.contains("allow_explain") {
        "with it SQL can run EXPLAIN, whose estimates come from every tenant's rows"
    } else {
        "with it SQL can forge the tenant context"
    }
}

/// TEN065: the application role or a login of it that may change the server's configuration.
fn check_server_configuration(f: &mut Findings, catalog: &Catalog) {
    for (login, settings) in &catalog.alter_system {
        f.add(
            "TEN065",
            format!("role {login}"),
            format!(
                "`{login}` may change the server's configuration with ALTER SYSTEM ({settings}): it is {}",
                crate::roles::ALTER_SYSTEM
            ),
            format!(
                "REVOKE ALTER SYSTEM ON PARAMETER {settings} FROM the role that holds it ({login}, a role it can become, or PUBLIC)"
            ),
        );
    }
}

/// TEN067: triggers and rules of someone else's on the context key, which are handed the key
/// whenever it is installed or rotated.
fn check_key_watchers(f: &mut Findings, catalog: &Catalog) {
    for watcher in &catalog.context.key_watchers {
        f.add(
            "TEN067",
            "table tenancy.context_key",
            format!(
                "{watcher} on tenancy.context_key is not tenancy's own: it is handed the key that seals every tenant's context each time the key is installed or rotated, and whatever it writes the key to, SQL may read"
            ),
            format!("DROP {watcher} ON tenancy.context_key"),
        );
    }
}

/// TEN073: the schemas the application role may create objects in, or create.
pub(super) fn check_creatable_schemas(f: &mut Findings, catalog: &Catalog, o: &CheckOptions) {
    // A schema named like the login comes first on the default search path (`"$user",
    // public`), so every table it holds shadows the real one of the same name.
    if let Some(database) = &catalog.context.schema_creating_database {
        f.add(
            "TEN073",
            format!("database {database}"),
            format!(
                "`{}` may create schemas in `{database}`: SQL of one tenant's transaction can create a schema named like the login, which the default search path (\"$user\", public) reads first, and leave tables there that shadow the real ones for every tenant on the login",
                o.app_role
            ),
            format!(
                "REVOKE CREATE ON DATABASE {database} FROM {}, PUBLIC; the database's owner has it too, so the application role must not own the database or be a member of its owner",
                o.app_role
            ),
        );
    }
    // A login of the application role (or a role it can become) granted what the role itself
    // lacks: its SQL runs in every tenant's transactions on that login just the same.
    for m in &catalog.member_creates {
        let (what, fix) = if m.kind == "database" {
            (
                format!("may create schemas in `{}`", m.object),
                format!("REVOKE CREATE ON DATABASE {} FROM {}", m.object, m.login),
            )
        } else {
            (
                format!("may create objects in schema `{}`", m.object),
                format!("REVOKE CREATE ON SCHEMA {} FROM {}", m.object, m.login),
            )
        };
        f.add(
            "TEN073",
            format!("{} {}", m.kind, m.object),
            format!(
                "`{}` (a member of `{}`, or a role one of its logins can become) {what}: an object one tenant's transaction leaves there (a table or function that shadows the real one) serves every tenant on that login",
                m.login, o.app_role
            ),
            fix,
        );
    }
    for schema in &catalog.context.creatable_schemas {
        f.add(
            "TEN073",
            format!("schema {schema}"),
            format!(
                "`{}` may create objects in schema `{schema}`: SQL of one tenant's transaction can leave a function there that a better-matching call of another tenant's query runs (seeing its arguments), or a table or view that shadows one named later on the search path; such objects outlive the transaction and serve every tenant on the login",
                o.app_role
            ),
            format!(
                "REVOKE CREATE ON SCHEMA {schema} FROM {}, PUBLIC (PostgreSQL 14 and older grant it to PUBLIC on `public`), then GRANT CREATE ON SCHEMA {schema} TO the role that runs the migrations if it relied on PUBLIC",
                o.app_role
            ),
        );
    }
}

/// The body of `tenancy.check_session()` as the migration that creates it writes it,
/// whitespace folded as the catalog query folds the installed one.
fn shipped_session_check() -> String {
    let up = crate::migrations::CORE
        .iter()
        .find(|m| m.name.ends_with("_session_check"))
        .map_or("", |m| m.up);
    let body = up
        .split_once("AS $$")
        .and_then(|(_, rest)| rest.split_once("$$;"))
        .map_or("", |(body, _)| body);
    body.split_whitespace().collect::<Vec<_>>().join(" ")
}
