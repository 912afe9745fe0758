-- Large objects are outside row level security: each belongs to the role that created it, and
-- every tenant's transactions run as the same login. Raw SQL in one tenant's transaction could
-- list the large objects of the database (pg_largeobject_metadata), and read, overwrite and
-- delete those that SQL in another tenant's transaction had stored (`lo_from_bytea`, `lo_get`,
-- `lo_put`, `lo_unlink`). tenancy stores none, so the functions of the large-object interface
-- are no longer everyone's: libpq's client interface calls the same functions, and is closed
-- with them (`lo_import` and `lo_export`, which read and write the server's files, are a
-- superuser's already). The role that runs the migrations keeps them; an application that stores large
-- objects grants them to the role that does, never to the application role (`tenancy check`,
-- TEN083). Only the functions' owner (a superuser) can take them from PUBLIC: run as another
-- role, the migration warns and changes nothing, and `tenancy check` reports it.
CREATE FUNCTION tenancy.close_large_objects() RETURNS void
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r record;
  commands text := '';
  propagate text;
BEGIN
  propagate := coalesce(current_setting('citus.enable_ddl_propagation', true), '');
  IF propagate <> '' THEN
    PERFORM set_config('citus.enable_ddl_propagation', 'off', true);
  END IF;
  FOR r IN
    SELECT format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', p.oid::regprocedure) AS revoke,
           format('GRANT EXECUTE ON FUNCTION %s TO %I', p.oid::regprocedure, current_user) AS grant
      FROM pg_proc p
     WHERE p.pronamespace = 'pg_catalog'::regnamespace
       AND p.proname IN ('lo_open', 'lo_close', 'loread', 'lowrite', 'lo_lseek', 'lo_lseek64',
                         'lo_tell', 'lo_tell64', 'lo_truncate', 'lo_truncate64', 'lo_creat',
                         'lo_create', 'lo_unlink', 'lo_from_bytea', 'lo_get', 'lo_put')
  LOOP
    EXECUTE r.grant;
    EXECUTE r.revoke;
    commands := commands || r.grant || '; ' || r.revoke || '; ';
  END LOOP;
  IF propagate <> '' THEN
    PERFORM set_config('citus.enable_ddl_propagation', propagate, true);
  END IF;
  -- On Citus the workers run what a router query sends them, function calls included, as the
  -- session's role: their large objects are closed the same way.
  IF tenancy.on_citus() AND commands <> '' THEN
    PERFORM tenancy.run_on_workers(
      'SET LOCAL citus.enable_ddl_propagation TO off; ' || commands,
      'keep large objects from the application');
  END IF;
END
$$;
REVOKE ALL ON FUNCTION tenancy.close_large_objects() FROM PUBLIC;

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

SELECT tenancy.close_large_objects();
