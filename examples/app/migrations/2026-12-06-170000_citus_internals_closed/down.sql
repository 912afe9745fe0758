-- Back to numbers taken from the sequence as they come, and to the shorter list of functions
-- hidden from the application. The grants taken from PUBLIC stay (give them back on each node
-- with GRANT .. TO PUBLIC).
CREATE OR REPLACE FUNCTION tenancy.enter_distributed(
  tenant uuid, principal uuid, counter bigint, mac text, check_status boolean DEFAULT false,
  read_only boolean DEFAULT false)
  RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  -- First, before the status check reads `tenants` (a reference table: a distributed query,
  -- which would take an id of Citus's own). Fails ("already been assigned a transaction id")
  -- when a statement of this transaction reached a worker already: the context must be the
  -- first thing a transaction does.
  PERFORM pg_catalog.assign_distributed_transaction_id(
    (SELECT groupid FROM pg_dist_local_group), nextval('tenancy.distributed_txn_seq'), now());
  PERFORM tenancy.enter(tenant, principal, counter, mac, check_status);
  -- Whatever the server's setting: without it no SET LOCAL reaches the workers.
  PERFORM set_config('citus.propagate_set_commands', 'local', true);
  EXECUTE format('SET LOCAL tenancy.context = %L',
    current_setting('tenancy.context') || '|' || tenancy.node_context_mac(
      coalesce(tenant::text, ''), coalesce(principal::text, '')));
  IF read_only THEN
    SET TRANSACTION READ ONLY;
  END IF;
END
$$;

DROP FUNCTION tenancy.next_distributed_txn_number();

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
