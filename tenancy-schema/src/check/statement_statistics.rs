//! TEN112: the `pg_stat_statements` extension's statistics open to the application's
//! sessions. Its view and the function behind it (`pg_stat_statements(boolean)`) are granted
//! to PUBLIC when the extension is created, and show a role every counter of the statements
//! its own role ran (text, calls, rows, time), whichever session ran them. Every tenant's
//! session is the same login, so one tenant reads the `calls` and `rows` of the very
//! normalised statements another tenant runs: whether that tenant's lookup found a row, how
//! many rows its list returned, how often it ran. `pg_stat_statements_info` (deallocations,
//! the last reset) tells nothing of a statement, and `pg_stat_statements_reset` is kept from
//! PUBLIC by the extension: neither is reported.

use diesel::prelude::*;

use super::CheckOptions;
use super::catalog::Catalog;
use super::extension_members::open_members;
use super::report::Findings;

/// What the extension holds that tells nothing of a statement, or that it keeps from PUBLIC
/// itself.
const NOT_REPORTED: &[&str] = &["pg_stat_statements_info", "pg_stat_statements_reset"];

pub(super) fn check_statement_statistics(
    f: &mut Findings,
    conn: &mut PgConnection,
    catalog: &Catalog,
    o: &CheckOptions,
) -> QueryResult<()> {
    if !catalog.role.exists {
        return Ok(());
    }
    let members = open_members(
        conn,
        &catalog.reachable,
        &["pg_stat_statements"],
        NOT_REPORTED,
    )?;
    for r in members {
        let revoke = r.revoke();
        f.add(
            "TEN112",
            &r.name,
            format!(
                "{} of extension pg_stat_statements is open to sessions of `{}`: it counts each normalised statement per role, and every tenant runs as the same login, so one tenant reads the calls and rows of the statements another tenant runs (whether its lookup found a row, how many rows its list returned, how often)",
                r.name, o.app_role
            ),
            format!(
                "REVOKE SELECT ON pg_stat_statements FROM PUBLIC, {role}; REVOKE EXECUTE ON FUNCTION pg_stat_statements(boolean) FROM PUBLIC, {role} (here: {revoke} FROM PUBLIC, {role}, and from its logins and the roles they act as); read it as a monitoring role the application cannot become",
                role = o.app_role
            ),
        );
    }
    Ok(())
}
