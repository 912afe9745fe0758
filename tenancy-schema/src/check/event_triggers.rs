//! TEN109: event triggers that are neither an extension's nor tenancy's own. An event trigger
//! runs its function in every DDL statement of the database, whoever runs it: the
//! migrations', as the role that owns the tenant tables and the context key, a superuser's,
//! and the temporary functions `tenancy check` creates to compare tenancy's functions with
//! their migrations. Whatever it copies out (the key, every tenant's rows) to where the
//! application reads, SQL of any tenant reads. Extensions' own (Citus installs several) come
//! with the extension; tenancy's guard of distributed policies is compared with its migration
//! by TEN072. `session_replication_role = replica` stops an ordinary one but not one
//! enabled `ALWAYS` or `REPLICA`, so every enabled one counts.

use diesel::prelude::*;
use diesel::sql_types::Text;

use super::catalog::NOT_A_LANGUAGE_EXTENSION;
use super::report::Findings;

/// The enabled event triggers that no extension owns (neither the trigger nor its function is
/// a member of one, a procedural language's extension aside) and that are not tenancy's guard
/// of distributed policies.
const FOREIGN_EVENT_TRIGGERS_SQL: &str = "
SELECT quote_ident(e.evtname) AS name, e.evtevent::text AS event,
       e.evtfoid::regprocedure::text AS function,
       CASE e.evtenabled WHEN 'A' THEN ' (ENABLE ALWAYS: it fires under session_replication_role = replica too)'
                         WHEN 'R' THEN ' (ENABLE REPLICA: it fires under session_replication_role = replica)'
                         ELSE '' END AS mode
FROM pg_event_trigger e
WHERE e.evtenabled <> 'D'
  AND NOT EXISTS (SELECT FROM pg_depend d
                  WHERE d.deptype = 'e'
                    AND ((d.classid = 'pg_event_trigger'::regclass AND d.objid = e.oid)
                         OR (d.classid = 'pg_proc'::regclass AND d.objid = e.evtfoid))
                    AND NOT_A_LANGUAGE_EXTENSION
                    -- Made a member by the extension's own script, not added later (as
                    -- `EXTENSIONS_OWN` tells relations apart).
                    AND age(d.xmin) >= (SELECT age(x.xmin) FROM pg_extension x
                                        WHERE x.oid = d.refobjid))
  AND NOT (e.evtname = 'tenancy_distributed_policies'
           AND e.evtfoid = coalesce(to_regprocedure('tenancy.guard_distributed_policies()'), 0))
ORDER BY 1";

#[derive(QueryableByName)]
pub(super) struct EventTrigger {
    #[diesel(sql_type = Text)]
    pub(super) name: String,
    #[diesel(sql_type = Text)]
    event: String,
    #[diesel(sql_type = Text)]
    function: String,
    #[diesel(sql_type = Text)]
    mode: String,
}

/// The event triggers of [`FOREIGN_EVENT_TRIGGERS_SQL`]: while there is one, DDL of
/// `tenancy check`'s own would run it.
pub(super) fn foreign_event_triggers(conn: &mut PgConnection) -> QueryResult<Vec<EventTrigger>> {
    diesel::sql_query(
        FOREIGN_EVENT_TRIGGERS_SQL.replace("NOT_A_LANGUAGE_EXTENSION", NOT_A_LANGUAGE_EXTENSION),
    )
    .load(conn)
}

pub(super) fn check_event_triggers(f: &mut Findings, conn: &mut PgConnection) -> QueryResult<()> {
    for e in foreign_event_triggers(conn)? {
        f.add(
            "TEN109",
            format!("event trigger {}", e.name),
            format!(
                "event trigger `{}`{} runs {} on {} of every DDL statement in this database, the migrations' included, with the rights of whoever runs it (the owner of the tenant tables and of the context key, a superuser): whatever it copies (the key, every tenant's rows) where the application reads, SQL of any tenant reads; no extension owns it, and tenancy check does not compare tenancy's functions with their migrations while it is enabled (that creates temporary functions, which would fire it)",
                e.name, e.mode, e.function, e.event
            ),
            format!(
                "read {} first; then DROP EVENT TRIGGER {} (and rotate the context key if it read it)",
                e.function, e.name
            ),
        );
    }
    Ok(())
}
