CREATE OR REPLACE FUNCTION tenancy.run_on_workers(command text, purpose text) RETURNS void
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT * FROM run_command_on_workers(command) LOOP
    IF NOT r.success THEN
      RAISE EXCEPTION 'tenancy: could not % on worker %:%: %', purpose, r.nodename, r.nodeport,
        r.result;
    END IF;
  END LOOP;
END
$$;
