-- The distributed transaction numbers of running transactions are no longer the
-- application's to read. A worker accepts whichever number a session assigns itself
-- (`assign_distributed_transaction_id`, which Citus calls as the login, so it stays executable
-- there), and SQL can make Citus run a statement on a worker outside any transaction block
-- (`SET LOCAL citus.select_opens_transaction_block = off`, which any role may set), where that
-- statement has no number yet and may take one. With another tenant's running transaction's
-- number (and its timestamp), SQL of one tenant's transaction read that tenant's context-bound
-- rows there, or the intermediate results of its multi-shard statements (files keyed by the
-- login and the number, which every tenant's transactions share), which no policy covers.
-- Every running transaction's number and timestamp were listed by `get_all_active_transactions()`,
-- a session's own by `get_current_transaction_id()` (tenancy's numbers are consecutive, so one's
-- own tells another's), and committed ones in `pg_dist_transaction`: now only the migrations'
-- role (and the SECURITY DEFINER functions it owns, which bind the context to the number) reads
-- them, on every node.
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
                         'get_global_active_transactions', 'get_all_active_transactions',
                         'get_current_transaction_id')
    UNION ALL
    SELECT format('REVOKE SELECT ON %s FROM PUBLIC', c.oid::regclass),
           format('GRANT SELECT ON %s TO %I', c.oid::regclass, current_user)
      FROM pg_class c
     WHERE c.relnamespace = 'pg_catalog'::regnamespace
       AND c.relname IN ('citus_stat_activity', 'citus_dist_stat_activity',
                         'citus_worker_stat_activity', 'citus_lock_waits',
                         'pg_dist_transaction')
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

SELECT tenancy.hide_worker_activity();
