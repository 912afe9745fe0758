//! How many relations PostgreSQL scans to read a view: each reference to another view is
//! expanded in place, so a view reading the one before it twice, twenty views deep, scans its
//! table tens of thousands of times. Planning that exhausts the server's memory before any
//! time limit applies, so the check measures a view before it reads one.

use std::collections::{BTreeMap, BTreeSet};

use diesel::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, Text};

/// The most relation scans a view may expand to for the check to read it: 5000 plan in
/// about a second, and no view an application queries comes near.
pub(super) const MOST_SCANS: u64 = 5000;

/// Each view of the database with the relations its query names, once per mention, the
/// view itself left out (PostgreSQL 15 and older keep two references to it, `old` and
/// `new`, in the stored query).
const VIEW_READS_SQL: &str = "
SELECT r.ev_class::regclass::text AS relation,
       ARRAY(SELECT m[1]::oid::regclass::text
             FROM regexp_matches(r.ev_action::text, ':rtekind 0 :relid ([0-9]+)', 'g') m
             WHERE m[1]::oid <> r.ev_class) AS reads
FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
WHERE c.relkind = 'v' AND r.rulename = '_RETURN'";

#[derive(QueryableByName)]
struct ViewReads {
    #[diesel(sql_type = Text)]
    relation: String,
    #[diesel(sql_type = Array<Text>)]
    reads: Vec<String>,
}

/// The views of the database that expand to more than [`MOST_SCANS`] relation scans.
pub(super) fn oversized_views(conn: &mut PgConnection) -> QueryResult<Vec<String>> {
    let views: BTreeMap<String, Vec<String>> = diesel::sql_query(VIEW_READS_SQL)
        .load::<ViewReads>(conn)?
        .into_iter()
        .map(|v| (v.relation, v.reads))
        .collect();
    Ok(oversized(&views, MOST_SCANS))
}

/// The views of `views` (each with the relations it names) whose expansion scans more than
/// `most` relations. A relation that is no view scans once.
fn oversized(views: &BTreeMap<String, Vec<String>>, most: u64) -> Vec<String> {
    let mut sizes: BTreeMap<&str, u64> = BTreeMap::new();
    views
        .keys()
        .filter(|view| size(view, views, &mut sizes) > most)
        .cloned()
        .collect()
}

/// The scans `relation` expands to, saturating, each view's remembered in `sizes`. Walked
/// with a stack of its own, so a chain of views thousands deep cannot overflow the thread's;
/// a view that reaches itself (which `CREATE OR REPLACE VIEW` allows and reading refuses)
/// counts as too big to read.
fn size<'a>(
    relation: &'a str,
    views: &'a BTreeMap<String, Vec<String>>,
    sizes: &mut BTreeMap<&'a str, u64>,
) -> u64 {
    let mut stack: Vec<(&'a str, bool)> = vec![(relation, false)];
    let mut open: BTreeSet<&'a str> = BTreeSet::new();
    while let Some((name, reads_done)) = stack.pop() {
        if sizes.contains_key(name) {
            continue;
        }
        let Some((key, reads)) = views.get_key_value(name) else {
            sizes.insert(name, 1);
            continue;
        };
        if reads_done {
            open.remove(name);
            let total = reads.iter().fold(1_u64, |sum, read| {
                sum.saturating_add(sizes.get(read.as_str()).copied().unwrap_or(u64::MAX))
            });
            sizes.insert(key.as_str(), total);
        } else if open.insert(key.as_str()) {
            stack.push((key.as_str(), true));
            stack.extend(
                reads
                    .iter()
                    .filter(|read| !sizes.contains_key(read.as_str()))
                    .map(|read| (read.as_str(), false)),
            );
        } else {
            // Reached again while its own reads are open: a cycle.
            sizes.insert(key.as_str(), u64::MAX);
        }
    }
    sizes.get(relation).copied().unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn views(edges: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        edges
            .iter()
            .map(|(v, reads)| {
                (
                    (*v).to_owned(),
                    reads.iter().map(|r| (*r).to_owned()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn a_chain_of_views_each_reading_the_last_two_grows_like_fibonacci() {
        let mut edges: Vec<(String, Vec<String>)> = vec![
            ("v0".into(), vec!["t".into()]),
            ("v1".into(), vec!["t".into()]),
        ];
        for i in 2..60 {
            edges.push((
                format!("v{i}"),
                vec![format!("v{}", i - 1), format!("v{}", i - 2)],
            ));
        }
        let views: BTreeMap<String, Vec<String>> = edges.into_iter().collect();
        let big = oversized(&views, MOST_SCANS);
        // Each scans once plus what the two before it scan: v0 and v1 2, v16 4790, v17 7751.
        assert!(big.contains(&"v17".to_owned()) && big.contains(&"v59".to_owned()));
        assert!(!big.contains(&"v16".to_owned()));
        assert_eq!(big.len(), 43);
    }

    #[test]
    fn plain_views_and_tables_are_small() {
        let v = views(&[("a", &["t", "u"]), ("b", &["a", "t"]), ("c", &[])]);
        let mut sizes = BTreeMap::new();
        assert_eq!(size("b", &v, &mut sizes), 5);
        assert_eq!(size("c", &v, &mut sizes), 1);
        assert_eq!(size("t", &v, &mut sizes), 1);
        assert!(oversized(&v, MOST_SCANS).is_empty());
    }

    #[test]
    fn a_view_that_reaches_itself_is_too_big_to_read() {
        let v = views(&[("a", &["b"]), ("b", &["a"]), ("c", &["t"])]);
        assert_eq!(
            oversized(&v, MOST_SCANS),
            vec!["a".to_owned(), "b".to_owned()]
        );
    }

    #[test]
    fn a_chain_many_thousands_deep_is_measured_without_recursion() {
        let edges: Vec<(String, Vec<String>)> = (0..100_000)
            .map(|i| (format!("v{i}"), vec![format!("v{}", i + 1)]))
            .collect();
        let views: BTreeMap<String, Vec<String>> = edges.into_iter().collect();
        let mut sizes = BTreeMap::new();
        assert_eq!(size("v0", &views, &mut sizes), 100_001);
    }
}
