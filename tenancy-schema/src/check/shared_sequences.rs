//! TEN100: a column of a tenant table filled from a sequence (`serial`, `GENERATED .. AS
//! IDENTITY`, `DEFAULT nextval(..)`). A sequence is one counter for every tenant, outside row
//! level security: the value each insert gets tells the tenant how many rows every other
//! tenant inserted since its last one, and keeps it in the row. TEN087's counters, stored.
//! Tenancy's tables take their keys from `tenancy.uuid_v7()`, which counts nothing shared.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::Text;

use super::CheckOptions;
use super::report::Findings;

/// Each column of a table of schema `$1` that is an identity column or whose default calls
/// `nextval`, with the sequence's description.
const SEQUENCED_SQL: &str = "
SELECT c.relname::text AS table_name, a.attname::text AS column_name,
       CASE WHEN a.attidentity <> '' THEN 'an identity column'
            ELSE format('DEFAULT %s', pg_get_expr(d.adbin, d.adrelid)) END AS how
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.relnamespace = quote_ident($1)::regnamespace AND c.relkind IN ('r', 'p')
  AND a.attnum > 0 AND NOT a.attisdropped
  AND (a.attidentity <> '' OR pg_get_expr(d.adbin, d.adrelid) ~ '(^|[^a-z_])nextval\\(')
ORDER BY 1, 2";

#[derive(QueryableByName)]
struct SequencedRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    how: String,
}

/// `tenant_tables`: every tenant table, with its tenant column.
pub(super) fn check_shared_sequences(
    f: &mut Findings,
    conn: &mut PgConnection,
    tenant_tables: &BTreeMap<String, String>,
    o: &CheckOptions,
) -> QueryResult<()> {
    let rows: Vec<SequencedRow> = diesel::sql_query(SEQUENCED_SQL)
        .bind::<Text, _>(&o.schema)
        .load(conn)?;
    for r in rows
        .into_iter()
        .filter(|r| tenant_tables.contains_key(&r.table_name))
    {
        f.add(
            "TEN100",
            format!("column {} on {}", r.column_name, r.table_name),
            format!(
                "`{}.{}` is filled from a sequence ({}), one counter for every tenant: each value tells the tenant inserting how many rows every other tenant inserted meanwhile",
                r.table_name, r.column_name, r.how
            ),
            format!(
                "take its values from tenancy.uuid_v7() (ALTER TABLE {t} ALTER {c} DROP IDENTITY IF EXISTS, ALTER {c} DROP DEFAULT, then a uuid key), or number rows per tenant in the application",
                t = r.table_name,
                c = r.column_name
            ),
        );
    }
    Ok(())
}
