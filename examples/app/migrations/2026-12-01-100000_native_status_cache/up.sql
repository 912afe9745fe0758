-- tenancy: the native context keeps the tenant status hook's answers while the tables it
-- reads stay unchanged (tenancy_context 1.1).
--
-- With the status check on, every tenant transaction asked `tenancy.tenant_refusal` in a query
-- of its own: about as much work for the server as the transaction's own point lookup. The
-- extension now keeps each tenant's answer in the backend and drops all of them when a table
-- the hook reads changes: the status triggers, `tenancy_context.status_changed()`, turn every
-- change of such a table into an invalidation that each backend takes in before its next
-- transaction. `enable_native_context()` puts the triggers on the tables the hook reads, as
-- the extension finds them in the hook's body (`tenancy_context.status_sources()`). A hook
-- whose answer may depend on anything else (a function that is not a built-in immutable one,
-- such as now() or current_setting(); a view; a table without the triggers) is asked in every
-- transaction, as before. docs/adr/0004-native-tenant-context.md has the design.
--
-- An application that replaces the hook runs `SELECT tenancy.enable_native_context()` again
-- afterwards, so that the tables its new hook reads get the triggers.

-- Puts the status triggers on every table the status hook reads: row level after INSERT,
-- UPDATE and DELETE (a logical replication subscriber fires row triggers only), statement
-- level after TRUNCATE, both enabled ALWAYS, so that session_replication_role cannot mute them
-- and no change reaches a table without the backends hearing of it.
CREATE FUNCTION tenancy.install_status_triggers() RETURNS void
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
REVOKE ALL ON FUNCTION tenancy.install_status_triggers() FROM PUBLIC;
COMMENT ON FUNCTION tenancy.install_status_triggers() IS
  'tenancy: puts the status triggers of tenancy_context on the tables the tenant status hook reads';

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

CREATE OR REPLACE FUNCTION tenancy.disable_native_context() RETURNS void
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  t record;
BEGIN
  FOR t IN SELECT tgname, tgrelid::regclass AS rel FROM pg_trigger
            WHERE tgname IN ('tenancy_status_changed', 'tenancy_status_truncated')
              AND tgfoid = to_regprocedure('tenancy_context.status_changed()')
  LOOP
    EXECUTE format('DROP TRIGGER %I ON %s', t.tgname, t.rel);
  END LOOP;
  CREATE OR REPLACE FUNCTION tenancy.current_tenant() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL RESTRICTED
    RETURN tenancy.verified_context(1, 'tenancy.tenant_id');
  CREATE OR REPLACE FUNCTION tenancy.current_principal() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL RESTRICTED
    RETURN tenancy.verified_context(2, 'tenancy.principal_id');
END
$$;

-- A database already on the native context gets the triggers now.
DO $$
BEGIN
  IF tenancy.native_context() THEN
    PERFORM tenancy.install_status_triggers();
  END IF;
END
$$;
