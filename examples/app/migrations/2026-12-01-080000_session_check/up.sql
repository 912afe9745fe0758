-- What raw SQL can leave on a pooled connection that neither a rollback nor the session reset
-- (`RESET ALL; RESET ROLE; DISCARD TEMP`) undoes: prepared statements made with SQL `PREPARE`,
-- cursors `WITH HOLD`, and `LISTEN` registrations. A prepared statement is the dangerous one:
-- it shares its namespace with the driver's own, so SQL that deallocates one of the driver's
-- statements and prepares another under its name has the next transaction on the connection,
-- another tenant's perhaps, run it in that tenant's context.
--
-- The library ends every transaction on a connection with the SQL tenant context with a call
-- to this function, in the same message, right after the COMMIT or ROLLBACK (an aborted
-- transaction accepts nothing else). It raises when any of the three exists: the message
-- fails, and the connection is closed instead of going back to the pool. Statements the driver prepared
-- through the protocol are `from_sql = false` and do not count. With the native context the
-- extension refuses these statements when they run, and this check is not needed.
CREATE FUNCTION tenancy.check_session() RETURNS void
  LANGUAGE plpgsql STABLE
AS $$
BEGIN
  IF EXISTS (SELECT FROM pg_catalog.pg_prepared_statements WHERE from_sql)
     OR EXISTS (SELECT FROM pg_catalog.pg_cursors WHERE is_holdable)
     OR EXISTS (SELECT FROM pg_catalog.pg_listening_channels()) THEN
    RAISE EXCEPTION 'tenancy: SQL in the transaction that just ended left a prepared statement, a cursor WITH HOLD or a LISTEN on the connection'
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'they outlive the transaction, so the connection is closed instead of pooled; use the library''s queries, or PREPARE, DECLARE and LISTEN on a connection of your own';
  END IF;
END
$$;
REVOKE ALL ON FUNCTION tenancy.check_session() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenancy.check_session() TO tenancy_app;
