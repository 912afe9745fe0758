//! TEN102: the sequence that numbers the SQL tenant context's sessions may hand out a number
//! twice. `tenancy.open_session()` takes each connection's number from `tenancy.session_seq`,
//! and every MAC the application makes for `tenancy.enter()` is bound to it: "another session
//! has another number" is what makes a context entry seen elsewhere (`pg_stat_activity`, a
//! log, a captured statement) useless on any other connection. A sequence that cycles, counts
//! down or is unlogged (reset to its start by a crash) gives a later session an earlier
//! session's number, and SQL in that session replays the earlier session's entries: another
//! tenant's context, with no key.

use diesel::prelude::*;
use diesel::sql_types::{Array, Text};

use super::CheckOptions;
use super::report::Findings;

/// Why `tenancy.session_seq` may repeat a number, one reason an element; nothing when it does
/// not exist (the SQL context is not installed, or TEN072 and the entry's own failure say more).
const SESSION_SEQUENCE_SQL: &str = "
SELECT array_remove(ARRAY[
         CASE WHEN s.seqcycle THEN format('it cycles (CYCLE, back to %s after %s)',
                                          CASE WHEN s.seqincrement > 0 THEN s.seqmin ELSE s.seqmax END,
                                          CASE WHEN s.seqincrement > 0 THEN s.seqmax ELSE s.seqmin END) END,
         CASE WHEN s.seqincrement <= 0 THEN format('it counts down (INCREMENT BY %s), through the numbers it handed out before', s.seqincrement) END,
         CASE WHEN c.relpersistence = 'u' THEN 'it is UNLOGGED, reset to its start by a crash' END
       ], NULL) AS reasons
FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
WHERE s.seqrelid = to_regclass('tenancy.session_seq')";

#[derive(QueryableByName)]
struct SessionSequenceRow {
    #[diesel(sql_type = Array<Text>)]
    reasons: Vec<String>,
}

pub(super) fn check_session_sequence(
    f: &mut Findings,
    conn: &mut PgConnection,
    o: &CheckOptions,
) -> QueryResult<()> {
    let rows: Vec<SessionSequenceRow> = diesel::sql_query(SESSION_SEQUENCE_SQL).load(conn)?;
    for reasons in rows
        .into_iter()
        .map(|r| r.reasons)
        .filter(|r| !r.is_empty())
    {
        f.add(
            "TEN102",
            "sequence tenancy.session_seq",
            format!(
                "tenancy.session_seq numbers the sessions every context MAC is bound to, and may give a session a number an earlier one had: {}; SQL in a session of `{}` that draws a used number (tenancy.open_session() again) replays any entry made for it, another tenant's context among them",
                reasons.join("; "),
                o.app_role
            ),
            "ALTER SEQUENCE tenancy.session_seq NO CYCLE INCREMENT BY 1 NO MAXVALUE SET LOGGED, then RESTART it above every number it gave out (SELECT setval('tenancy.session_seq', <highest seen> + 1))",
        );
    }
    Ok(())
}
