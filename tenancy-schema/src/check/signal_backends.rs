//! TEN115: a session of the application may act as `pg_signal_backend`. Any role may cancel or
//! end the sessions of its own login; this one may also signal those of every other role but
//! superusers: the admin path's login, the one that runs the migrations, other applications
//! on the server. It reads no row, so a warning; but one tenant's raw SQL could then fail the
//! admin path's work and every other login's, where otherwise only the sessions it shares a
//! login with are within its reach.

use diesel::prelude::*;
use diesel::sql_types::Text;

use super::CheckOptions;
use super::catalog::Catalog;
use super::report::Findings;

/// Each of `$1` granted `pg_signal_backend` itself (the roles of `$1` reached through it are
/// its own members' business, and `$1` holds every role in between).
const SIGNAL_SQL: &str = "
SELECT r.rolname::text AS name FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member
WHERE m.roleid = 'pg_signal_backend'::regrole AND r.rolname = ANY ($1)
ORDER BY 1";

#[derive(QueryableByName)]
struct NameRow {
    #[diesel(sql_type = Text)]
    name: String,
}

pub(super) fn check_signal_backends(
    f: &mut Findings,
    conn: &mut PgConnection,
    catalog: &Catalog,
    o: &CheckOptions,
) -> QueryResult<()> {
    for r in catalog.ask_of_reachable::<NameRow>(conn, SIGNAL_SQL)? {
        f.add(
            "TEN115",
            format!("role {}", r.name),
            format!(
                "`{}` is a member of pg_signal_backend and sessions of `{}` act as it: a tenant's raw SQL may cancel or end the sessions of every role but superusers (pg_cancel_backend, pg_terminate_backend), the admin path's login among them, where it could otherwise reach only its own login's",
                r.name, o.app_role
            ),
            format!(
                "REVOKE pg_signal_backend FROM {}; signal sessions from a role of their own",
                crate::policy::quote_ident(&r.name)
            ),
        );
    }
    Ok(())
}
