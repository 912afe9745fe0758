//! TEN106: the application role, a login of it or a role they can become owns the database.
//! The owner of a database is a member of `pg_database_owner` (no `pg_auth_members` row says
//! so), which owns schema `public`: it may drop every table there and create its own, with no
//! policy, in their place, grant itself `CREATE` and `TEMPORARY` on the database back after
//! they were revoked, and set the defaults every session of the database starts with (`ALTER
//! DATABASE .. SET`). A `Tenancy` refuses such a login when it is built.

use std::collections::BTreeMap;

use super::CheckOptions;
use super::catalog::{Catalog, ReachRow};
use super::report::Findings;

pub(super) fn check_database_owners(f: &mut Findings, catalog: &Catalog, o: &CheckOptions) {
    // One finding per login: the owner's own row rather than pg_database_owner's, which stands
    // for it.
    let mut owners: BTreeMap<&str, &ReachRow> = BTreeMap::new();
    for r in catalog.reach.iter().filter(|r| r.role.owns_database) {
        let entry = owners.entry(r.login.as_str()).or_insert(r);
        if entry.role.role == "pg_database_owner" && r.role.role != "pg_database_owner" {
            *entry = r;
        }
    }
    for (login, r) in owners {
        let who = if login == o.app_role {
            format!("`{}`", o.app_role)
        } else {
            format!("`{login}`, a member of `{}`,", o.app_role)
        };
        let how = if r.role.role == login {
            format!("owns the database {}", r.role.database)
        } else {
            format!(
                "can act as `{}` ({}), which owns the database {}",
                r.role.role, r.role.path, r.role.database
            )
        };
        f.add(
            "TEN106",
            format!("database {}", r.role.database),
            format!(
                "{who} {how}: the owner of a database is a member of pg_database_owner, which owns schema public, so SQL of one tenant's transaction can drop every tenant table there and create one of its own, with no policy, in its place (or grant itself CREATE and TEMPORARY on the database again, or set the defaults every session starts with)"
            ),
            format!(
                "ALTER DATABASE {} OWNER TO <the role that runs the migrations>; tenant transactions connect with a login that is only a member of `{}`",
                r.role.database, o.app_role
            ),
        );
    }
}
