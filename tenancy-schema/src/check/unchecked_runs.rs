//! The functions PostgreSQL runs in a session without asking whether the session's role may
//! EXECUTE them: a SECURITY DEFINER one among them hands its owner's rights to whoever sets it
//! off, whatever `REVOKE EXECUTE` says.

use super::catalog::writing_action;

/// Whether function `p` is run for role `$1` without an EXECUTE check, as a trigger: a trigger
/// (constraint triggers included) runs its function whoever may EXECUTE it, on a table the
/// role writes or one a referential action of its writes, inheritance, or a rule or view over
/// it (a rule's action writing it, an updatable view writing through), reaches. This is
/// `WRITTEN_BY_ROLE` of the catalog queries read from the trigger's table back to the tables
/// whose writes reach it, which asks the role's privileges of a few tables rather than of
/// every one.
const FIRED: &str = concat!(
    "EXISTS (
  SELECT FROM pg_trigger t
  WHERE t.tgfoid = p.oid AND EXISTS (
    WITH RECURSIVE reached_from (oid) AS (
      SELECT t.tgrelid
      UNION
      SELECT back.oid FROM reached_from w
      CROSS JOIN LATERAL (
        SELECT con.confrelid AS oid FROM pg_constraint con
        WHERE con.conrelid = w.oid AND con.contype = 'f'
          AND ",
    writing_action!(),
    "
        UNION ALL
        SELECT i.inhparent FROM pg_inherits i WHERE i.inhrelid = w.oid
        UNION ALL
        -- A rule names the relations its action (or, for a view, its query) uses.
        SELECT r.ev_class FROM pg_rewrite r
        JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                        AND d.refclassid = 'pg_class'::regclass AND d.refobjid = w.oid
        WHERE r.ev_class <> w.oid
      ) back
    )
    SELECT FROM reached_from w JOIN pg_class c ON c.oid = w.oid
    WHERE c.relkind IN ('r', 'p', 'v', 'f')
      AND (has_table_privilege($1, c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')
           OR has_any_column_privilege($1, c.oid, 'INSERT, UPDATE'))))"
);

/// Whether function `p` is called for role `$1` without an EXECUTE check, with arguments SQL of
/// the role chooses: an aggregate's support functions (PostgreSQL checks EXECUTE on them
/// against the aggregate's owner, the caller needing EXECUTE on the aggregate only), an event
/// trigger's function (it runs on DDL any role may run, such as ALTER DEFAULT PRIVILEGES for
/// itself), and a type's I/O and support functions (a cast of a literal, a value sent or
/// received in binary, a subscript, a type modifier, ANALYZE of a column of it), a range
/// type's `subtype_diff` and canonical function (its GiST index, its values), and the support
/// and operator functions of an operator class, which an index on a table the role uses runs
/// on every write and lookup, and the default one of a type the role may use on every sort
/// or grouping of it. PostgreSQL's own functions are none of these, so they are passed over
/// first.
const CALLED: &str = "(EXISTS (SELECT FROM pg_aggregate a
                          WHERE p.oid IN (a.aggtransfn::oid, a.aggfinalfn::oid, a.aggcombinefn::oid,
                                          a.aggserialfn::oid, a.aggdeserialfn::oid, a.aggmtransfn::oid,
                                          a.aggminvtransfn::oid, a.aggmfinalfn::oid)
                            AND has_function_privilege($1, a.aggfnoid, 'EXECUTE'))
        OR EXISTS (SELECT FROM pg_event_trigger e WHERE e.evtfoid = p.oid AND e.evtenabled <> 'D')
        OR EXISTS (SELECT FROM pg_type ty
                   WHERE p.oid IN (ty.typinput::oid, ty.typoutput::oid, ty.typreceive::oid,
                                   ty.typsend::oid, ty.typmodin::oid, ty.typmodout::oid,
                                   ty.typanalyze::oid, ty.typsubscript::oid)
                     AND has_type_privilege($1, ty.oid, 'USAGE'))
        OR (p.oid >= 16384 AND EXISTS (
              SELECT FROM pg_range rg
              WHERE p.oid IN (rg.rngsubdiff::oid, rg.rngcanonical::oid)
                AND has_type_privilege($1, rg.rngtypid, 'USAGE')))
        OR (p.oid >= 16384 AND EXISTS (
              SELECT FROM pg_opclass oc
              WHERE (EXISTS (SELECT FROM pg_amproc ap
                             WHERE ap.amprocfamily = oc.opcfamily AND ap.amproc = p.oid)
                     OR EXISTS (SELECT FROM pg_amop ao JOIN pg_operator o ON o.oid = ao.amopopr
                                WHERE ao.amopfamily = oc.opcfamily AND o.oprcode = p.oid))
                AND ((oc.opcdefault AND has_type_privilege($1, oc.opcintype, 'USAGE'))
                     OR EXISTS (SELECT FROM pg_index i
                                WHERE oc.oid = ANY (i.indclass::oid[])
                                  AND (has_table_privilege($1, i.indrelid, 'SELECT, INSERT, UPDATE, DELETE')
                                       OR has_any_column_privilege($1, i.indrelid, 'SELECT, INSERT, UPDATE')))))))";

/// Whether trigger `t` runs as its table's owner for role `$1`: it is enabled, and a
/// referential action (`ON DELETE CASCADE`, `SET NULL`, `SET DEFAULT`, or the same on update)
/// changes its table when the role deletes or updates the table the key points at.
/// PostgreSQL runs the action as the owner of the table it changes, and the row code it sets
/// off with that owner's rights, whether its function is SECURITY DEFINER or not.
const AS_TABLE_OWNER: &str = concat!(
    "(NOT t.tgisinternal AND t.tgenabled <> 'D' AND EXISTS (
  SELECT FROM pg_constraint con
  WHERE con.contype = 'f' AND con.conrelid = t.tgrelid
    AND ",
    writing_action!(),
    "
    AND (has_table_privilege($1, con.confrelid, 'DELETE, UPDATE')
         OR has_any_column_privilege($1, con.confrelid, 'UPDATE'))))"
);

/// [`AS_TABLE_OWNER`] for the role `role` (an SQL expression of a role's name or oid).
pub(super) fn as_table_owner(role: &str) -> String {
    AS_TABLE_OWNER.replace("$1", role)
}

/// [`FIRED`] for the role `role` (an SQL expression of a role's name or oid).
pub(super) fn fired(role: &str) -> String {
    FIRED.replace("$1", role)
}

/// [`CALLED`] for the role `role` (an SQL expression of a role's name or oid).
pub(super) fn called(role: &str) -> String {
    CALLED.replace("$1", role)
}

/// Whether function `p` runs for the role `role` (an SQL expression of a role's name or oid)
/// without an EXECUTE check of it: [`fired`] or [`called`].
pub(super) fn runs_unchecked(role: &str) -> String {
    format!("({} OR {})", fired(role), called(role))
}

/// Whether function `p` runs for the role `role` at all: it may EXECUTE it, or it runs it
/// without the check ([`runs_unchecked`]).
pub(super) fn runs(role: &str) -> String {
    format!(
        "(has_function_privilege({role}, p.oid, 'EXECUTE') OR {})",
        runs_unchecked(role)
    )
}
