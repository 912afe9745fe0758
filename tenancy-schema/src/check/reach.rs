//! TEN065's rows: the roles a session of the application can become that skip row level
//! security, reached through the memberships of its logins or through the owners of the
//! SECURITY DEFINER functions it runs. Both routes are asked the same question
//! ([`crate::roles::Reachable::problem`]), the one a `Tenancy` asks of its login.

use std::collections::BTreeSet;

use diesel::PgConnection;
use diesel::QueryResult;

use super::CheckOptions;
use super::catalog::{Catalog, ReachRow, Via};
use super::report::Findings;
use crate::roles::Reachable;

/// TEN065: each role of [`load_reach`] but those that skip row level security only by owning
/// the database (TEN106's). A superuser, a `BYPASSRLS` role or a table owner that also owns
/// the database is reported here too, by what it is: the database's ownership is the lesser
/// of its powers.
pub(super) fn check_reach(f: &mut Findings, catalog: &Catalog, o: &CheckOptions) {
    for r in catalog
        .reach
        .iter()
        .filter(|r| r.problem != crate::roles::DATABASE_OWNER)
    {
        let who = if r.login == o.app_role {
            format!("`{}`", o.app_role)
        } else {
            format!("`{}` is a member of `{}` and", r.login, o.app_role)
        };
        let fix = r.role.attribute_fix().unwrap_or_else(|| {
            format!(
                "remove the membership chain ({}); give the admin path a login of its own",
                r.role.path
            )
        });
        let (message, hint) = if let Some(Via::CascadeTrigger(trigger)) = &r.through {
            (
                format!(
                    "{who} sets off {trigger} through a referential action, and its body acts as `{}` ({}), which is {}: tenant transactions are not bound by row level security",
                    r.role.role, r.role.path, r.problem
                ),
                format!(
                    "drop the trigger, or make the table's owner a role that does not skip row level security, or take DELETE and UPDATE on the table the key points at from {}; or {fix}",
                    o.app_role
                ),
            )
        } else if let Some(Via::Definer(function)) = &r.through {
            (
                format!(
                    "{who} runs SECURITY DEFINER function {function} (a call, or with no EXECUTE check at all: a trigger on a table it writes, an aggregate's support function, a type's I/O function, an event trigger), whose body acts as `{}` ({}), which is {}: tenant transactions are not bound by row level security",
                    r.role.role, r.role.path, r.problem
                ),
                format!(
                    "make {function} SECURITY INVOKER, or REVOKE EXECUTE ON FUNCTION {function} FROM {}, PUBLIC (drop the trigger, aggregate or type that runs it regardless); or {fix}",
                    o.app_role
                ),
            )
        } else if r.role.role == r.login {
            (
                format!(
                    "{who} has {}: tenant transactions on this login are not bound by row level security",
                    r.problem
                ),
                fix,
            )
        } else {
            (
                format!(
                    "{who} can become `{}` ({}), which is {}: tenant transactions on this login are not bound by row level security",
                    r.role.role, r.role.path, r.problem
                ),
                fix,
            )
        };
        f.add("TEN065", format!("role {}", r.login), message, hint);
    }
}

/// Every role the application role `app` and its logins (`app_and_logins`) can become through
/// memberships, and every role the owners of the SECURITY DEFINER functions a session of them
/// runs (`definer_owners`, each with one such function) can become, that skips row level
/// security, with what lets it.
pub(super) fn load_reach(
    conn: &mut PgConnection,
    app: &str,
    app_and_logins: &[String],
    definer_owners: &[(String, Via)],
) -> QueryResult<Vec<ReachRow>> {
    let mut reach = Vec::new();
    // The application role itself first: a membership of its own (`GRANT tenancy_admin TO
    // tenancy_app`) reaches every login of it, present or future, and is reported once, for
    // the application role, not again for each of its logins.
    let mut of_app: BTreeSet<String> = BTreeSet::new();
    for login in app_and_logins {
        for (role, problem) in problems(conn, login, app)? {
            if login == app {
                of_app.insert(role.role.clone());
            } else if of_app.contains(&role.role) {
                continue;
            }
            reach.push(ReachRow {
                login: login.clone(),
                role,
                problem,
                through: None,
            });
        }
    }
    // A function's body has its owner's rights, and may SET ROLE (or grant itself) whatever
    // those rights allow: what its owner can become, the session becomes.
    let mut seen: BTreeSet<String> = reach.iter().map(|r| r.role.role.clone()).collect();
    for (owner, via) in definer_owners {
        for (mut role, problem) in problems(conn, owner, app)? {
            if !seen.insert(role.role.clone()) {
                continue;
            }
            role.path = format!("{} runs as {}", via.what_runs(), role.path);
            reach.push(ReachRow {
                login: app.to_owned(),
                role,
                problem,
                through: Some(via.clone()),
            });
        }
    }
    Ok(reach)
}

/// The roles `from` can become ([`crate::roles::reachable`]) with what lets each skip row
/// level security, leaving out what other lints report of the application role `app`: its own
/// attributes but CREATEROLE and REPLICATION are TEN061-64, its rights on the context key
/// TEN067 and on tables TEN014 (the functions of the server's files it may run are reported
/// here), and `TEMPORARY` or those functions held through `PUBLIC` are reported once, for
/// `app` (TEN066, TEN065).
fn problems(
    conn: &mut PgConnection,
    from: &str,
    app: &str,
) -> QueryResult<Vec<(Reachable, &'static str)>> {
    let mut out = Vec::new();
    for role in crate::roles::reachable(conn, from)? {
        if from == app
            && role.role == app
            && !role.create_role
            && !role.replication
            && role.file_functions.is_none()
            && role.public_file_functions.is_none()
            && role.admin_of.is_none()
            && !role.owns_database
        {
            continue;
        }
        if role.temporary_of(app) || role.public_file_functions_of(app) {
            continue;
        }
        if let Some(problem) = role.problem() {
            out.push((role, problem));
        }
    }
    Ok(out)
}
