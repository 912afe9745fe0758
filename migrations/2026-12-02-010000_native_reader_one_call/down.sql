-- Back to the definitions of 2026-12-01-100000_native_status_cache; a database whose readers
-- are the one-call form gets the CASE again from the restored enable_native_context().
CREATE OR REPLACE FUNCTION tenancy.native_context() RETURNS boolean
  LANGUAGE sql STABLE
  RETURN EXISTS (SELECT FROM pg_catalog.pg_proc p
                  WHERE p.pronamespace = 'tenancy'::regnamespace AND p.proname = 'current_tenant'
                    AND p.prosrc LIKE '%tenancy_context.entered()%');

CREATE OR REPLACE FUNCTION tenancy.enable_native_context() RETURNS void
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'tenancy_context') THEN
    RAISE EXCEPTION 'tenancy: the tenancy_context extension is not installed in this database'
      USING ERRCODE = 'undefined_object',
            HINT = 'build and install it from extension/ in tenancy''s repository, then, as a '
                   'superuser: CREATE EXTENSION tenancy_context';
  END IF;
  IF tenancy.on_citus() THEN
    RAISE EXCEPTION 'tenancy: the native tenant context does not reach Citus workers'
      USING ERRCODE = 'feature_not_supported',
            HINT = 'on Citus the context travels with the distributed transaction '
                   '(docs/adr/0003-citus.md); keep the SQL context';
  END IF;
  -- A body in a string, not `RETURN`: no dependency on the extension is recorded, so that
  -- `DROP EXTENSION tenancy_context CASCADE` cannot drop these readers and with them every
  -- policy. Without the extension they fail, and so does every statement under a policy.
  EXECUTE $f$
    CREATE OR REPLACE FUNCTION tenancy.current_tenant() RETURNS uuid
      LANGUAGE sql STABLE PARALLEL RESTRICTED
    AS 'SELECT CASE WHEN tenancy_context.entered() THEN tenancy_context.tenant()
                    ELSE tenancy.verified_context(1, ''tenancy.tenant_id'') END'
  $f$;
  EXECUTE $f$
    CREATE OR REPLACE FUNCTION tenancy.current_principal() RETURNS uuid
      LANGUAGE sql STABLE PARALLEL RESTRICTED
    AS 'SELECT CASE WHEN tenancy_context.entered() THEN tenancy_context.principal()
                    ELSE tenancy.verified_context(2, ''tenancy.principal_id'') END'
  $f$;
  PERFORM tenancy.install_status_triggers();
END
$$;

-- The key's table loses its status triggers; install_status_triggers() covers the hook's
-- tables only again.
DO $$
BEGIN
  IF to_regprocedure('tenancy_context.status_changed()') IS NOT NULL THEN
    DROP TRIGGER IF EXISTS tenancy_status_changed ON tenancy.context_key;
    DROP TRIGGER IF EXISTS tenancy_status_truncated ON tenancy.context_key;
  END IF;
END
$$;

CREATE OR REPLACE FUNCTION tenancy.install_status_triggers() RETURNS void
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  sources regclass[];
  rel regclass;
BEGIN
  IF to_regprocedure('tenancy_context.status_sources()') IS NULL THEN
    RAISE NOTICE 'tenancy: tenancy_context is older than 1.1: the tenant status is asked in every transaction'
      USING HINT = 'as a superuser: ALTER EXTENSION tenancy_context UPDATE; then, as the tables'' '
                   'owner: SELECT tenancy.enable_native_context()';
    RETURN;
  END IF;
  sources := tenancy_context.status_sources();
  IF sources IS NULL THEN
    RAISE NOTICE 'tenancy: the tenant status hook reads more than tables, so its answers are not kept'
      USING HINT = 'a hook of plain SELECTs on tables, with built-in immutable functions only, '
                   'is asked once per tenant and connection until one of its tables changes';
    RETURN;
  END IF;
  FOREACH rel IN ARRAY sources LOOP
    BEGIN
      EXECUTE format('CREATE OR REPLACE TRIGGER tenancy_status_changed '
                     'AFTER INSERT OR UPDATE OR DELETE ON %s '
                     'FOR EACH ROW EXECUTE FUNCTION tenancy_context.status_changed()', rel);
      EXECUTE format('CREATE OR REPLACE TRIGGER tenancy_status_truncated '
                     'AFTER TRUNCATE ON %s '
                     'FOR EACH STATEMENT EXECUTE FUNCTION tenancy_context.status_changed()', rel);
      EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER tenancy_status_changed', rel);
      EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER tenancy_status_truncated', rel);
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE WARNING 'tenancy: no status triggers on %: the tenant status is asked in every transaction', rel
        USING HINT = 'run SELECT tenancy.enable_native_context() as the owner of ' || rel;
    END;
  END LOOP;
END
$$;

DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_catalog.pg_proc p
              WHERE p.pronamespace = 'tenancy'::regnamespace AND p.proname = 'current_tenant'
                AND p.prosrc LIKE '%tenancy_context.current_tenant()%') THEN
    PERFORM tenancy.enable_native_context();
  END IF;
END
$$;
