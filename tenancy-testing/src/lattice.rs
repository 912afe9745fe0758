//! Role memberships shaped as a lattice: `levels` levels of two roles, each a member of both
//! roles of the next level, so that 2^levels ways lead from the top to the bottom. A walk over
//! memberships that lists ways instead of roles never finishes on one.

use std::fmt::Write as _;

/// The roles of the lattice, `<prefix>_<level>_<side>` for side 0 and 1, top level first, and
/// the SQL that creates them (NOLOGIN) and their memberships. The caller grants the top to
/// whom it tests and the bottom whatever it hides, and drops the roles afterwards.
#[must_use]
pub fn membership_lattice(prefix: &str, levels: usize) -> (Vec<String>, String) {
    let roles: Vec<String> = (0..levels)
        .flat_map(|level| (0..2).map(move |side| format!("{prefix}_{level}_{side}")))
        .collect();
    let mut sql = String::new();
    // Writing to a String cannot fail.
    for role in &roles {
        let _ = writeln!(sql, "CREATE ROLE {role} NOLOGIN;");
    }
    for level in 1..levels {
        let above = level - 1;
        let _ = writeln!(
            sql,
            "GRANT {prefix}_{level}_0, {prefix}_{level}_1 TO {prefix}_{above}_0, {prefix}_{above}_1;"
        );
    }
    (roles, sql)
}
