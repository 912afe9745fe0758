//! TEN091: logical replication out of or into the tenant tables. A publication sends every
//! row of the tables it names (all of them, `FOR ALL TABLES`) to whichever subscriber
//! connects with a replication login, with no policy applied on the way: the copy lands in a
//! database this check never sees. A subscription's apply worker writes the rows its remote
//! publication sends as the subscription's owner, past row level security and past the
//! tenant's context. Either may be deliberate (a migration, a read replica); a comment saying
//! it was reviewed (`COMMENT ON PUBLICATION .. IS 'tenancy: reviewed: <why>'`) says so.

use std::collections::BTreeSet;

use diesel::prelude::*;
use diesel::sql_types::{Array, Nullable, Text};

use super::CheckOptions;
use super::catalog::reviewed;
use super::report::Findings;

/// Each publication that publishes one of the tables `$2` of schema `$1`, with those tables;
/// and each subscription of this database. The comment of each.
const STREAMS_SQL: &str = "
SELECT format('publication %s', p.pubname) AS object,
       string_agg(DISTINCT t.tablename::text, ', ' ORDER BY t.tablename::text) AS tables,
       obj_description(p.oid, 'pg_publication') AS comment
FROM pg_publication p JOIN pg_publication_tables t ON t.pubname = p.pubname
WHERE t.schemaname = $1 AND t.tablename = ANY ($2)
GROUP BY p.oid, p.pubname
UNION ALL
SELECT format('subscription %s', s.subname), NULL,
       obj_description(s.oid, 'pg_subscription')
FROM pg_subscription s
WHERE s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY 1";

#[derive(QueryableByName)]
struct StreamRow {
    #[diesel(sql_type = Text)]
    object: String,
    #[diesel(sql_type = Nullable<Text>)]
    tables: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    comment: Option<String>,
}

/// `protected`: the tenant tables, the table of tenants and the private tables.
pub(super) fn check_publications(
    f: &mut Findings,
    conn: &mut PgConnection,
    protected: &BTreeSet<String>,
    o: &CheckOptions,
) -> QueryResult<()> {
    let tables: Vec<&String> = protected.iter().collect();
    let rows: Vec<StreamRow> = diesel::sql_query(STREAMS_SQL)
        .bind::<Text, _>(&o.schema)
        .bind::<Array<Text>, _>(&tables)
        .load(conn)?;
    for r in rows.into_iter().filter(|r| !reviewed(r.comment.as_deref())) {
        let name = r.object.split_once(' ').map_or("", |(_, n)| n).to_owned();
        let (message, hint) = match &r.tables {
            Some(tables) => (
                format!(
                    "publishes every tenant's rows of {tables}: any subscriber with a replication login receives them all, no policy applied, into a database no check sees"
                ),
                format!(
                    "DROP PUBLICATION {name} (or ALTER PUBLICATION {name} DROP TABLE ..); if the replica is deliberate, COMMENT ON PUBLICATION {name} IS 'tenancy: reviewed: <why>'"
                ),
            ),
            None => (
                "writes into this database what its remote publication sends, as its owner: past row level security and the tenant's context, into whichever tables the publisher names".to_owned(),
                format!(
                    "ALTER SUBSCRIPTION {name} DISABLE; DROP SUBSCRIPTION {name}; if it is deliberate, COMMENT ON SUBSCRIPTION {name} IS 'tenancy: reviewed: <why>'"
                ),
            ),
        };
        f.add("TEN091", &r.object, message, hint);
    }
    Ok(())
}
