//! TEN090: setting defaults that change what a session of the application may see or run,
//! beyond those with a rule of their own (TEN043 `session_replication_role`, TEN082
//! `tenancy_context.allow_explain`, TEN084 `search_path`):
//!
//! - `row_security = off`: a statement row level security would filter fails instead; for a
//!   role that skips row level security (one a login may become, a table's owner) it stops
//!   failing and reads everything, which is what the setting is for (`pg_dump`).
//! - `session_preload_libraries`, `local_preload_libraries`: a shared library loaded into
//!   every session, code that runs inside the server process below every privilege check.
//! - `lo_compat_privileges = on`: large objects readable and writable by every role, their
//!   ACLs ignored: every tenant's large objects, one `lo_get` away.
//! - a default for the tenant context's own settings (`tenancy.*`, and the native context's
//!   `tenancy_context.worker_context`): the context is set by `tenancy.enter()` alone (and by
//!   the extension for its parallel workers), and a value every session starts with is one no
//!   entry verified.
//! - `auto_explain.log_min_duration` at or above zero, with `auto_explain` among the server's
//!   `shared_preload_libraries` (as managed PostgreSQL offers it for logging slow
//!   statements): the plan of each such statement goes to the server's log and, at a
//!   `client_min_messages` any session may lower to `log`, to the session itself. That is
//!   EXPLAIN, which the native context refuses (TEN082): estimates from statistics over every
//!   tenant's rows and, with `auto_explain.log_analyze`, the rows of other tenants a scan
//!   dropped (`Rows Removed by Filter`). A login's own `-1` (`ALTER ROLE <login> SET
//!   auto_explain.log_min_duration = -1`) wins over the database's and the server's value.
//!
//! Each also where it is not yet a default but soon is: a value the server's configuration
//! files hold that a reload or restart applies (`ALTER SYSTEM` without `pg_reload_conf()`),
//! and, for the two only a superuser may set, a grant of SET on it to a role a session of the
//! application may act as, with which that session sets it itself (`SET lo_compat_privileges
//! = on`) or makes it its login's default (`ALTER ROLE .. SET session_preload_libraries`).

use diesel::prelude::*;
use diesel::sql_types::{Array, Nullable, Text};

use super::CheckOptions;
use super::catalog::Catalog;
use super::report::Findings;

/// Each default of a setting (`ALTER DATABASE/ROLE .. SET`) that applies to a session of one
/// of `$1` (the application role and its logins) in this database: where, the setting, its
/// value and the login it is set for; and the server's configuration of the settings this
/// rule reads, as this session started from it. `shared_preload_libraries` only a superuser
/// or a member of `pg_read_all_settings` finds in `pg_settings`, where `current_setting()`
/// would fail for another role.
const SESSION_DEFAULTS_SQL: &str = "
SELECT CASE
         WHEN s.setrole = 0 AND s.setdatabase = 0 THEN 'ALTER ROLE ALL'
         WHEN s.setrole = 0 THEN format('ALTER DATABASE %I', d.datname)
         WHEN s.setdatabase = 0 THEN format('ALTER ROLE %I', r.rolname)
         ELSE format('ALTER ROLE %I IN DATABASE %I', r.rolname, d.datname)
       END AS place,
       lower(split_part(c.setting, '=', 1)) AS name,
       substr(c.setting, strpos(c.setting, '=') + 1) AS value,
       CASE WHEN r.rolcanlogin THEN r.rolname::text END AS login
FROM pg_db_role_setting s
LEFT JOIN pg_roles r ON r.oid = s.setrole
LEFT JOIN pg_database d ON d.oid = s.setdatabase
CROSS JOIN LATERAL unnest(s.setconfig) c(setting)
WHERE (s.setdatabase = 0 OR d.datname = current_database())
  AND (s.setrole = 0 OR r.rolname = ANY ($1))
UNION ALL
SELECT format('the server configuration (%s)', source), name, setting, NULL FROM pg_settings
WHERE name IN ('row_security', 'session_preload_libraries', 'local_preload_libraries',
               'lo_compat_privileges', 'auto_explain.log_min_duration', 'shared_preload_libraries')
  AND source NOT IN ('default', 'session', 'database', 'user', 'database user', 'override')
ORDER BY 1, 2";

/// The settings this rule reads that only a superuser may set, and so that a grant of SET
/// opens (`row_security` and `local_preload_libraries` any role may set: their defaults are
/// what matters).
const SUPERUSER_SETTINGS: &[&str] = &[
    "session_preload_libraries",
    "lo_compat_privileges",
    AUTO_EXPLAIN,
];

/// The setting that turns `auto_explain` on: a statement slower than it (in milliseconds; `0`
/// every statement) has its plan printed, `-1` (the default) none.
const AUTO_EXPLAIN: &str = "auto_explain.log_min_duration";

/// For roles `$1` (the application role, its logins and the roles they may become) and
/// settings `$2`, each grant of SET on one of them that reaches one of the roles.
const PARAMETER_GRANTS_SQL: &str = "
SELECT format('GRANT SET ON PARAMETER %s TO %I', p.name, r.name) AS place, p.name AS name, 'on' AS value,
       NULL AS login
FROM unnest($1::text[]) AS r (name), unnest($2::text[]) AS p (name)
WHERE NOT (SELECT rolsuper FROM pg_roles WHERE rolname = r.name)
  AND has_parameter_privilege(r.name, p.name, 'SET')
ORDER BY 1";

/// The values of the settings this rule reads that the server's configuration files hold but
/// the running server has not taken yet (`ALTER SYSTEM` awaiting a reload or a restart): the
/// last line for the setting, when the value in force did not come from it. Only a superuser
/// or a member of `pg_read_all_settings` may read the files' contents.
const PENDING_SQL: &str = "
SELECT format('the server configuration file %s (line %s), which the next reload or restart applies,', s.sourcefile, s.sourceline) AS place,
       s.name, coalesce(s.setting, '') AS value, NULL AS login
FROM pg_file_settings s
WHERE s.error IS NULL
  AND s.seqno = (SELECT max(o.seqno) FROM pg_file_settings o WHERE o.name = s.name)
  AND NOT EXISTS (SELECT FROM pg_settings p
                  WHERE p.name = s.name AND p.sourcefile = s.sourcefile AND p.sourceline = s.sourceline)
  AND (s.name IN ('row_security', 'session_preload_libraries', 'local_preload_libraries',
                  'lo_compat_privileges', 'session_replication_role', 'shared_preload_libraries',
                  'auto_explain.log_min_duration') OR s.name LIKE 'tenancy%')
ORDER BY 1";

#[derive(QueryableByName)]
struct Readable {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    readable: bool,
}

#[derive(QueryableByName)]
struct DefaultRow {
    #[diesel(sql_type = Text)]
    place: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    value: String,
    /// The login a role's default is set for (`ALTER ROLE <login> [IN DATABASE ..] SET`).
    #[diesel(sql_type = Nullable<Text>)]
    login: Option<String>,
}

/// What a setting at `value` does to the application's sessions, when it matters.
fn danger(name: &str, value: &str) -> Option<&'static str> {
    let value = value.trim().trim_matches('"').to_ascii_lowercase();
    let off = matches!(value.as_str(), "off" | "false" | "no" | "0" | "of");
    let on = matches!(value.as_str(), "on" | "true" | "yes" | "1");
    match name {
        "row_security" if off => Some(
            "statements row level security would filter fail instead, and for any role these sessions may become that skips row level security (a table's owner, a role with BYPASSRLS) they read every tenant's rows unfiltered",
        ),
        "session_preload_libraries" | "local_preload_libraries" if !value.is_empty() => Some(
            "every session loads this shared library, code that runs inside the server process beneath every privilege check and every policy",
        ),
        AUTO_EXPLAIN if !value.is_empty() && value != "-1" => Some(
            "auto_explain prints the plan of each statement at least that slow to the server's log and, at a client_min_messages any session may lower to LOG, to the session itself: EXPLAIN, with estimates from statistics over every tenant's rows and, with auto_explain.log_analyze, the rows of other tenants a scan dropped",
        ),
        "lo_compat_privileges" if on => Some(
            "large objects are readable and writable by every role whatever their ACLs say: every tenant's large objects are open to each tenant's SQL",
        ),
        // TEN082 is allow_explain's; the other one is the context the extension hands a
        // parallel worker, which a session's own default would stand in for.
        n if n.starts_with("tenancy_context.")
            && n != "tenancy_context.allow_explain"
            && !value.is_empty() =>
        {
            Some(
                "every session starts with a value of the native tenant context's own settings, which the extension writes itself for parallel workers: a context no tenancy.enter() verified",
            )
        }
        n if n.starts_with("tenancy.") => Some(
            "every session starts with a value of the tenant context's own settings that no tenancy.enter() verified: what the context readers make of it is no tenant's choice",
        ),
        _ => None,
    }
}

pub(super) fn check_session_settings(
    f: &mut Findings,
    conn: &mut PgConnection,
    catalog: &Catalog,
    o: &CheckOptions,
) -> QueryResult<()> {
    if !catalog.role.exists {
        return Ok(());
    }
    let mut rows: Vec<DefaultRow> = diesel::sql_query(SESSION_DEFAULTS_SQL)
        .bind::<Array<Text>, _>(&catalog.app_and_logins)
        .load(conn)?;
    if crate::roles::has_parameter_grants(conn)? {
        rows.extend(
            diesel::sql_query(PARAMETER_GRANTS_SQL)
                .bind::<Array<Text>, _>(&catalog.reachable)
                .bind::<Array<Text>, _>(SUPERUSER_SETTINGS)
                .load::<DefaultRow>(conn)?,
        );
    }
    let pending: Readable = diesel::sql_query(
        "SELECT has_table_privilege('pg_catalog.pg_file_settings', 'SELECT') AS readable",
    )
    .get_result(conn)?;
    if pending.readable {
        rows.extend(diesel::sql_query(PENDING_SQL).load::<DefaultRow>(conn)?);
    }
    let auto_explain = auto_explain_reach(catalog, &rows);
    rows.retain(|r| r.name != AUTO_EXPLAIN || auto_explain.reported(&r.place));
    for r in rows {
        // TEN043 is the rule of sessions that skip foreign keys; the value in force it reads
        // itself, the one the files hold for the next reload is read here.
        if r.name == "session_replication_role" {
            if r.value.trim().eq_ignore_ascii_case("replica") {
                f.add(
                    "TEN043",
                    "setting session_replication_role",
                    format!(
                        "{} SET session_replication_role = replica: sessions of `{}` will run with it, where no foreign key is checked, so a row can point into another tenant",
                        r.place, o.app_role
                    ),
                    "ALTER SYSTEM RESET session_replication_role (or remove it from the configuration file), then SELECT pg_reload_conf()",
                );
            }
            continue;
        }
        let Some(what) = danger(&r.name, &r.value) else {
            continue;
        };
        let fix = if let Some(grant) = r.place.strip_prefix("GRANT SET ON PARAMETER ") {
            format!(
                "REVOKE SET ON PARAMETER {}",
                grant.replacen(" TO ", " FROM ", 1)
            )
        } else if r.place.starts_with("the server") {
            format!(
                "remove {} from the server's configuration (ALTER SYSTEM RESET {}, then SELECT pg_reload_conf())",
                r.name, r.name
            )
        } else {
            format!("{} RESET {}", r.place, r.name)
        };
        let fix = if r.name == AUTO_EXPLAIN && !r.place.starts_with("GRANT ") {
            format!(
                "ALTER ROLE <each login of {}> SET {AUTO_EXPLAIN} = -1, which auto_explain's other users keep (or {fix})",
                o.app_role
            )
        } else {
            fix
        };
        f.add(
            "TEN090",
            format!("setting {}", r.name),
            if r.place.starts_with("GRANT ") {
                format!(
                    "{}: sessions of `{}` may set {} themselves (SET, or ALTER ROLE on their login); {what}",
                    r.place, o.app_role, r.name
                )
            } else {
                format!(
                    "{} SET {} = {}: sessions of `{}` start with it; {what}",
                    r.place, r.name, r.value, o.app_role
                )
            },
            fix,
        );
    }
    Ok(())
}

/// Whether `auto_explain` runs in the application's sessions, and whether each of their
/// logins turns it off for itself.
struct AutoExplain {
    /// Among the server's `shared_preload_libraries`, now or after the next restart.
    loaded: bool,
    /// Every login of the application role sets `auto_explain.log_min_duration = -1` for
    /// itself (`ALTER ROLE <login> [IN DATABASE ..] SET`), which wins over the value of the
    /// database, of `ALTER ROLE ALL` and of the server.
    off_for_every_login: bool,
}

impl AutoExplain {
    /// Whether a value of `auto_explain.log_min_duration` set at `place` reaches a session.
    fn reported(&self, place: &str) -> bool {
        let overridden = place.starts_with("the server")
            || place.starts_with("ALTER DATABASE ")
            || place == "ALTER ROLE ALL";
        self.loaded && !(overridden && self.off_for_every_login)
    }
}

/// [`AutoExplain`] for the application's logins, from the rows of settings read (the server's
/// `shared_preload_libraries`, in force or pending, among them).
fn auto_explain_reach(catalog: &Catalog, rows: &[DefaultRow]) -> AutoExplain {
    let names_it = |libraries: &str| {
        libraries.split(',').any(|l| {
            let l = l.trim().trim_matches('"');
            l.rsplit('/').next().unwrap_or(l).trim_end_matches(".so") == "auto_explain"
        })
    };
    let loaded = rows
        .iter()
        .any(|r| r.name == "shared_preload_libraries" && names_it(&r.value));
    // The members in `app_and_logins` are logins (the application role comes first); with no
    // login yet, the next one starts from the database's and the server's values.
    let logins: Vec<&String> = catalog
        .app_and_logins
        .iter()
        .skip(usize::from(!catalog.role.login))
        .collect();
    let off_for_every_login = !logins.is_empty()
        && logins.iter().all(|login| {
            rows.iter().any(|r| {
                r.login.as_ref() == Some(*login)
                    && r.name == AUTO_EXPLAIN
                    && r.value.trim().trim_matches('"') == "-1"
            })
        });
    AutoExplain {
        loaded,
        off_for_every_login,
    }
}

#[cfg(test)]
mod tests {
    use super::danger;

    #[test]
    fn only_values_that_open_something_are_dangerous() {
        assert!(danger("row_security", "off").is_some());
        assert!(danger("row_security", "on").is_none());
        assert!(danger("lo_compat_privileges", "on").is_some());
        assert!(danger("lo_compat_privileges", "off").is_none());
        assert!(danger("session_preload_libraries", "auto_explain").is_some());
        assert!(danger("session_preload_libraries", "").is_none());
        assert!(danger("tenancy.tenant_id", "x").is_some());
        assert!(danger("tenancy_context.worker_context", "x").is_some());
        assert!(danger("tenancy_context.allow_explain", "on").is_none());
        assert!(danger("statement_timeout", "5s").is_none());
        assert!(danger("auto_explain.log_min_duration", "0").is_some());
        assert!(danger("auto_explain.log_min_duration", "500ms").is_some());
        assert!(danger("auto_explain.log_min_duration", "-1").is_none());
    }
}
