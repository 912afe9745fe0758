-- tenancy: with tenancy_context 1.2 the policies' readers are one C call each, and the key is
-- kept between transactions.
--
-- Where the native context is switched on, tenancy.current_tenant() and current_principal()
-- were a CASE over tenancy_context.entered(), tenancy_context.tenant() and the SQL context's
-- tenancy.verified_context(). PostgreSQL inlines them into every policy, and the executor
-- initializes each function of a policy's expression, with a privilege check, in every
-- statement: three per policy. tenancy_context 1.2 has the same choice in one C function,
-- tenancy_context.current_tenant() (and current_principal()), which falls back to
-- tenancy.verified_context() as the CASE did. enable_native_context() now writes that form
-- when the extension has it, and the older one otherwise; a database already on the native
-- context with extension 1.2 switches here. docs/adr/0004-native-tenant-context.md has the
-- measurements. The status triggers now also go on tenancy.context_key: extension 1.2 keeps
-- the key between transactions while a change to it reaches every backend.

-- Whether the policies read the native context: either form of the readers names the
-- extension's schema.
CREATE OR REPLACE FUNCTION tenancy.native_context() RETURNS boolean
  LANGUAGE sql STABLE
  RETURN EXISTS (SELECT FROM pg_catalog.pg_proc p
                  WHERE p.pronamespace = 'tenancy'::regnamespace AND p.proname = 'current_tenant'
                    AND p.prosrc LIKE '%tenancy_context.%');

-- The status triggers also go on tenancy.context_key, whose key the extension now keeps.
CREATE OR REPLACE FUNCTION tenancy.install_status_triggers() RETURNS void
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  sources regclass[];
  hook regclass[];
  rel regclass;
BEGIN
  IF to_regprocedure('tenancy_context.status_sources()') IS NULL THEN
    RAISE NOTICE 'tenancy: tenancy_context is older than 1.1: the tenant status is asked in every transaction'
      USING HINT = 'as a superuser: ALTER EXTENSION tenancy_context UPDATE; then, as the tables'' '
                   'owner: SELECT tenancy.enable_native_context()';
    RETURN;
  END IF;
  -- The context key's table too: the extension keeps the key while a change to it reaches
  -- every backend (tenancy_context 1.2; older versions read it in every transaction).
  sources := ARRAY['tenancy.context_key'::regclass];
  hook := tenancy_context.status_sources();
  IF hook IS NULL THEN
    RAISE NOTICE 'tenancy: the tenant status hook reads more than tables, so its answers are not kept'
      USING HINT = 'a hook of plain SELECTs on tables, with built-in immutable functions only, '
                   'is asked once per tenant and connection until one of its tables changes';
  ELSE
    sources := sources || hook;
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
      RAISE WARNING 'tenancy: no status triggers on %: what it holds is read in every transaction', rel
        USING HINT = 'run SELECT tenancy.enable_native_context() as the owner of ' || rel;
    END;
  END LOOP;
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
  -- `DROP EXTENSION tenancy_context CASCADE` cannot drop these readers and with them every
  -- policy. Without the extension they fail, and so does every statement under a policy.
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

DO $$
BEGIN
  IF tenancy.native_context() AND to_regprocedure('tenancy_context.current_tenant()') IS NOT NULL THEN
    PERFORM tenancy.enable_native_context();
  END IF;
END
$$;
