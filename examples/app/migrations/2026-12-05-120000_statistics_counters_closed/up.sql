-- PostgreSQL's statistics counters count what a scan read before row level security dropped
-- the rows of other tenants: an index scan's entries (`pg_stat_get_xact_tuples_returned` of
-- an index), the heap tuples it fetched, the blocks it touched. Raw SQL in one tenant's
-- transaction read the counter of `tenants_slug_key` (or `api_keys_prefix_idx`) around a range
-- query that row level security answered with its own row only, and learnt from the difference
-- whether another tenant's value fell in the range: one character at a time, it listed every
-- tenant's slugs and API key prefixes. Every counter function of one relation, index, function
-- or database (`pg_stat_get_%(oid)`, the per-transaction `pg_stat_get_xact_%` among them) is
-- taken from PUBLIC, a rule rather than a list so that a counter of a later PostgreSQL is
-- taken too when this runs again. The per-database ones (`pg_stat_get_db_%`) go with them:
-- tuples returned and fetched database-wide are the same counts summed, which range probes
-- read as well once a transaction's counts are flushed (a quiet database, or
-- `pg_stat_force_next_flush()`, which any role may call). The rule takes a subscription's
-- two along (monitoring's, as the rest); those of other objects (a backend, a replication
-- slot, the server) count no relation's rows and stay everyone's. currtid2(table, tid) goes
-- with them: it follows a row version of a table named in text to the newest one, past row
-- level security, so that walking the tids tells which of other tenants' rows were updated,
-- where their new versions went, and (grouping the old versions by the newest) how many times:
-- every request counted in another tenant's api_key_usage row.
--
-- Monitoring keeps them: they are granted to the predefined role pg_read_all_stats (and so to
-- pg_monitor), which the pg_stat_* views need now, as does the role that runs the
-- migrations; never make a login of the application role a member of either (`tenancy
-- check`, TEN087). Only the functions' owner (a superuser) can take them from PUBLIC: run as
-- another role, the migration warns and changes nothing, and `tenancy check` reports it.
CREATE FUNCTION tenancy.close_statistics_counters() RETURNS void
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r record;
  commands text := '';
  propagate text;
  kept integer := 0;
BEGIN
  propagate := coalesce(current_setting('citus.enable_ddl_propagation', true), '');
  IF propagate <> '' THEN
    PERFORM set_config('citus.enable_ddl_propagation', 'off', true);
  END IF;
  FOR r IN
    SELECT format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', p.oid::regprocedure)
             AS revoke,
           format('GRANT EXECUTE ON FUNCTION %s TO pg_read_all_stats, %I',
                  p.oid::regprocedure, current_user) AS grant,
           pg_has_role(p.proowner, 'USAGE') AS owned
      FROM pg_proc p
     WHERE p.pronamespace = 'pg_catalog'::regnamespace
       AND ((starts_with(p.proname, 'pg_stat_get_')
             AND p.pronargs = 1 AND p.proargtypes[0] = 'oid'::regtype)
            OR p.proname IN ('currtid', 'currtid2'))
  LOOP
    -- Another role's REVOKE takes only what that role granted: PUBLIC's EXECUTE stays.
    IF NOT r.owned THEN
      kept := kept + 1;
      CONTINUE;
    END IF;
    EXECUTE r.grant;
    EXECUTE r.revoke;
    commands := commands || r.grant || '; ' || r.revoke || '; ';
  END LOOP;
  IF propagate <> '' THEN
    PERFORM set_config('citus.enable_ddl_propagation', propagate, true);
  END IF;
  IF kept > 0 THEN
    RAISE WARNING 'tenancy: % statistics counter functions stay executable by PUBLIC: only their owner (a superuser) can revoke it', kept
      USING HINT = 'As a superuser: SELECT tenancy.close_statistics_counters()';
  END IF;
  -- On Citus the workers run what a router query sends them, function calls included, as the
  -- session's role, and count their shards' index entries the same way: their counters are
  -- closed too.
  IF tenancy.on_citus() AND commands <> '' THEN
    PERFORM tenancy.run_on_workers(
      'SET LOCAL citus.enable_ddl_propagation TO off; ' || commands,
      'keep the statistics counters from the application');
  END IF;
END
$$;
REVOKE ALL ON FUNCTION tenancy.close_statistics_counters() FROM PUBLIC;

-- Run again by tenancy.prepare_citus(), for workers added later.
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
  PERFORM tenancy.close_statistics_counters();
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

SELECT tenancy.close_statistics_counters();
