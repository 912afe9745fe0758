-- Back to the definitions of 2026-12-02-080000_native_policies_read_directly: the policies
-- this switched get their init plan back first.
DO $$
BEGIN
  IF to_regnamespace('tenancy_context') IS NOT NULL THEN
    PERFORM tenancy.switch_policy_reads(false);
  END IF;
END
$$;

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
  -- `DROP EXTENSION tenancy_context CASCADE` cannot drop these readers. Without the extension
  -- they fail, and so does every statement that calls them.
  IF to_regprocedure('tenancy_context.current_tenant()') IS NOT NULL THEN
    -- Extension 1.2: one C call, which answers from the SQL context when the transaction
    -- entered no native one.
    EXECUTE $f$
      CREATE OR REPLACE FUNCTION tenancy.current_tenant() RETURNS uuid
        LANGUAGE sql STABLE PARALLEL RESTRICTED
      AS 'SELECT tenancy_context.current_tenant()'
    $f$;
    EXECUTE $f$
      CREATE OR REPLACE FUNCTION tenancy.current_principal() RETURNS uuid
        LANGUAGE sql STABLE PARALLEL RESTRICTED
      AS 'SELECT tenancy_context.current_principal()'
    $f$;
    -- The policies call the C readers themselves: planning a statement no longer parses the
    -- SQL readers' bodies. Run again after adding tables, it switches their policies too.
    PERFORM tenancy.replace_policy_calls('tenancy.current_tenant()', 'tenancy_context.current_tenant()'),
            tenancy.replace_policy_calls('tenancy.current_principal()', 'tenancy_context.current_principal()');
  ELSE
    RAISE NOTICE 'tenancy: tenancy_context is older than 1.2: the policies read it through a CASE of three calls'
      USING HINT = 'as a superuser: ALTER EXTENSION tenancy_context UPDATE; then, as the tables'' '
                   'owner: SELECT tenancy.enable_native_context()';
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
  END IF;
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
  -- First the policies, which may name the extension's readers directly.
  IF to_regnamespace('tenancy_context') IS NOT NULL THEN
    PERFORM tenancy.replace_policy_calls('tenancy_context.current_tenant()', 'tenancy.current_tenant()'),
            tenancy.replace_policy_calls('tenancy_context.current_principal()', 'tenancy.current_principal()');
  END IF;
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

DROP FUNCTION tenancy.switch_policy_reads(boolean);
DROP FUNCTION tenancy.native_readers_parallel_safe();
