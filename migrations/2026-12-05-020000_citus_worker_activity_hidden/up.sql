-- On Citus the context a worker accepts travels in the text the coordinator sends it
-- (`SET LOCAL tenancy.context = '..'` beside the distributed transaction's id), and the
-- sessions of one login see each other's text in `pg_stat_activity`, on the workers and, through
-- `citus_stat_activity` and `run_command_on_workers`, from the coordinator. A worker accepts
-- whichever transaction id a session assigns itself (`assign_distributed_transaction_id`,
-- which Citus calls as the login, so it stays executable there), and Citus replays the whole
-- message of a `SET LOCAL` on each worker it opens: SQL of one tenant's transaction could run
-- on a worker, read another tenant's context there, take its transaction's id and read or
-- change its rows. So sessions on the workers report no statement text (`track_activities =
-- off` for the database there, which only a superuser changes; the coordinator, whose text
-- shows only `tenancy.enter_distributed(..)` calls bound to their own session, keeps it), and
-- Citus's functions that run SQL on other nodes or list their activity are no longer
-- everyone's, on any node.
CREATE FUNCTION tenancy.hide_worker_activity() RETURNS void
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
REVOKE ALL ON FUNCTION tenancy.hide_worker_activity() FROM PUBLIC;

-- Run again by tenancy.prepare_citus(), for workers and logins added later.
CREATE OR REPLACE FUNCTION tenancy.prepare_citus() RETURNS void
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  propagate text;
  f record;
BEGIN
  IF NOT tenancy.on_citus() THEN
    RETURN;
  END IF;
  -- tenancy's functions on every node: Citus creates a function on the workers itself only
  -- when it was created with Citus installed, and then not one that reads a local table. On a
  -- database that had them before `CREATE EXTENSION citus`, the policies and triggers that run
  -- on the shards would not find them.
  FOR f IN
    SELECT p.oid::regprocedure AS fn FROM pg_proc p
     WHERE p.pronamespace = 'tenancy'::regnamespace
       AND NOT EXISTS (SELECT FROM pg_dist_object o
                        WHERE o.classid = 'pg_proc'::regclass AND o.objid = p.oid)
  LOOP
    BEGIN
      PERFORM create_distributed_function(f.fn);
    EXCEPTION WHEN OTHERS THEN
      -- One that reads a table the workers do not have yet (the key, the settings, a table
      -- distributed later) stays on the coordinator, which is where such a one runs.
      RAISE NOTICE 'tenancy: % stays on the coordinator: %', f.fn, SQLERRM;
    END;
  END LOOP;
  PERFORM tenancy.copy_roles_to_workers();
  PERFORM tenancy.copy_key_to_workers();
  PERFORM tenancy.hide_worker_activity();
  -- A grant on one of Citus's own functions, for this node only.
  propagate := current_setting('citus.enable_ddl_propagation');
  PERFORM set_config('citus.enable_ddl_propagation', 'off', true);
  REVOKE EXECUTE ON FUNCTION pg_catalog.assign_distributed_transaction_id(integer, bigint,
    timestamp with time zone) FROM PUBLIC;
  EXECUTE format('GRANT EXECUTE ON FUNCTION pg_catalog.assign_distributed_transaction_id('
    'integer, bigint, timestamp with time zone) TO %I', current_user);
  PERFORM set_config('citus.enable_ddl_propagation', propagate, true);
  DROP EVENT TRIGGER IF EXISTS tenancy_distributed_policies;
  CREATE EVENT TRIGGER tenancy_distributed_policies ON ddl_command_end
    WHEN TAG IN ('CREATE POLICY', 'ALTER POLICY')
    EXECUTE FUNCTION tenancy.guard_distributed_policies();
END
$$;

SELECT tenancy.hide_worker_activity();
