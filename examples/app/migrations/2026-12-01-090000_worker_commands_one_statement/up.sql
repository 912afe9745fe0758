-- Citus's `run_command_on_workers` reads the first result a worker sends and then closes the
-- connection. A command of several statements is one implicit transaction on the worker, and
-- a notice (`CREATE ... IF NOT EXISTS` raises one) makes the worker send the results it holds,
-- the first statement's among them: when the connection closes before the last statement ran,
-- the worker fails on its next write and aborts the whole command, while the call reported
-- success. Under load that lost the context key a worker was given, or a role's attributes and
-- grants ("could not send data to client: Broken pipe" in the worker's log). A single
-- statement is committed before its result is sent, so each command now travels as one DO
-- block.
CREATE OR REPLACE FUNCTION tenancy.run_on_workers(command text, purpose text) RETURNS void
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r record;
BEGIN
  FOR r IN
    SELECT * FROM run_command_on_workers(
      format('DO %L', 'BEGIN ' || rtrim(command, E' \t\n;') || E';\nEND'))
  LOOP
    IF NOT r.success THEN
      RAISE EXCEPTION 'tenancy: could not % on worker %:%: %', purpose, r.nodename, r.nodeport,
        r.result;
    END IF;
  END LOOP;
END
$$;
