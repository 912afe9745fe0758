-- tenancy_context 1.7: after a BEGIN whose entry (in its comment) was refused, the session's
-- next statement fails too, unless it is a ROLLBACK, which only clears the mark. A refused
-- entry fails its BEGIN, and PostgreSQL then leaves no transaction open: a statement sent in
-- the same write behind that BEGIN would otherwise run on its own, committed when it ends.
-- With this, tenancy-async's pipelined opening sends the comment-carrying BEGIN too (one
-- text statement instead of BEGIN and a prepared entry), in front of the transaction's first
-- statement. The library does this itself once loaded; the version tells tenancy that the
-- library installed is one that does. `ALTER EXTENSION tenancy_context UPDATE` (a superuser)
-- brings it to an older database.
\echo Use "ALTER EXTENSION tenancy_context UPDATE TO '1.7'" to load this file. \quit
