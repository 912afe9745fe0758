-- The statistics counter functions back to everyone, as PostgreSQL ships them, on this node
-- (and on the workers of Citus, by hand: GRANT EXECUTE .. TO PUBLIC there).
DO $$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN
    SELECT p.oid::regprocedure FROM pg_proc p
     WHERE p.pronamespace = 'pg_catalog'::regnamespace
       AND ((starts_with(p.proname, 'pg_stat_get_')
             AND p.pronargs = 1 AND p.proargtypes[0] = 'oid'::regtype)
            OR p.proname IN ('currtid', 'currtid2'))
  LOOP
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO PUBLIC', f);
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM pg_read_all_stats', f);
  END LOOP;
END
$$;
-- Preparing Citus as before.
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
  PERFORM tenancy.close_large_objects();
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

DROP FUNCTION tenancy.close_statistics_counters();
