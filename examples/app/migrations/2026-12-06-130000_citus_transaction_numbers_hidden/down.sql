-- Back to hiding only the workers' statement text and the functions that reach other nodes.
-- The grants taken from PUBLIC stay (give them back on each node with GRANT .. TO PUBLIC).
CREATE OR REPLACE FUNCTION tenancy.hide_worker_activity() RETURNS void
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r record;
  commands text := '';
  propagate text;
BEGIN
  IF NOT tenancy.on_citus() THEN
    RETURN;
  END IF;
  -- Every session of the database on the workers, whichever login: the coordinator opens
  -- them as the session's role, logins are added after the migrations, and a superuser who
  -- wants a session's text there sets it back in that session alone.
  PERFORM tenancy.run_on_workers(
    format('SET LOCAL citus.enable_ddl_propagation TO off; '
           'ALTER DATABASE %I SET track_activities = off', current_database()),
    'hide the statements the workers run');
  -- Citus's own objects: on each node by itself, without propagation.
  propagate := current_setting('citus.enable_ddl_propagation');
  PERFORM set_config('citus.enable_ddl_propagation', 'off', true);
  FOR r IN
    SELECT format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', p.oid::regprocedure) AS revoke,
           format('GRANT EXECUTE ON FUNCTION %s TO %I', p.oid::regprocedure, current_user) AS grant
      FROM pg_proc p
     WHERE p.pronamespace = 'pg_catalog'::regnamespace
       AND p.proname IN ('run_command_on_workers', 'run_command_on_shards',
                         'run_command_on_placements', 'run_command_on_colocated_placements',
                         'run_command_on_all_nodes', 'run_command_on_coordinator',
                         'master_run_on_worker', 'citus_stat_activity',
                         'citus_dist_stat_activity', 'citus_worker_stat_activity',
                         'get_global_active_transactions')
    UNION ALL
    SELECT format('REVOKE SELECT ON %s FROM PUBLIC', c.oid::regclass),
           format('GRANT SELECT ON %s TO %I', c.oid::regclass, current_user)
      FROM pg_class c
     WHERE c.relnamespace = 'pg_catalog'::regnamespace
       AND c.relname IN ('citus_stat_activity', 'citus_dist_stat_activity',
                         'citus_worker_stat_activity', 'citus_lock_waits')
  LOOP
    EXECUTE r.revoke;
    EXECUTE r.grant;
    commands := commands || r.revoke || '; ' || r.grant || '; ';
  END LOOP;
  PERFORM set_config('citus.enable_ddl_propagation', propagate, true);
  IF commands <> '' THEN
    PERFORM tenancy.run_on_workers(
      'SET LOCAL citus.enable_ddl_propagation TO off; ' || commands,
      'keep Citus''s functions that reach other nodes from the application');
  END IF;
END
$$;
