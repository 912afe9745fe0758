-- tenancy: the sealed tenant context in native code, where the tenancy_context extension is
-- installed (extension/ in tenancy's repository).
--
-- The SQL context (docs/adr/0002-sealed-tenant-context.md) is verified again in every
-- statement by a PL/pgSQL function, and entered by another: most of the cost tenancy adds to
-- a short transaction. The extension keeps the verified context in the backend's memory,
-- which SQL cannot write, and its `enter` checks the MAC, the counter and the tenant's status
-- in C. docs/adr/0004-native-tenant-context.md has the design.
--
-- Nothing changes until the tables' owner runs `SELECT tenancy.enable_native_context()`
-- after a superuser ran `CREATE EXTENSION tenancy_context`. Then the policies' readers,
-- `tenancy.current_tenant()` and `tenancy.current_principal()`, answer from the native
-- context when the transaction entered one, and from the SQL context otherwise, so the SQL
-- entry (and the plain settings of trusted sessions) keep working. The library sees the
-- switch when its pool is built and enters through `tenancy_context.enter`.

-- Whether the policies read the native context: read off the tenant reader itself, so that
-- it cannot disagree with what the policies do.
CREATE FUNCTION tenancy.native_context() RETURNS boolean
  LANGUAGE sql STABLE
  RETURN EXISTS (SELECT FROM pg_catalog.pg_proc p
                  WHERE p.pronamespace = 'tenancy'::regnamespace AND p.proname = 'current_tenant'
                    AND p.prosrc LIKE '%tenancy_context.entered()%');
COMMENT ON FUNCTION tenancy.native_context() IS
  'tenancy: whether tenancy.enable_native_context() switched the policies to the tenancy_context extension';

CREATE FUNCTION tenancy.enable_native_context() RETURNS void
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
END
$$;
REVOKE ALL ON FUNCTION tenancy.enable_native_context() FROM PUBLIC;
COMMENT ON FUNCTION tenancy.enable_native_context() IS
  'tenancy: makes the policies read the tenancy_context extension''s context; applications pick it up when their pool is built';

CREATE FUNCTION tenancy.disable_native_context() RETURNS void
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  CREATE OR REPLACE FUNCTION tenancy.current_tenant() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL RESTRICTED
    RETURN tenancy.verified_context(1, 'tenancy.tenant_id');
  CREATE OR REPLACE FUNCTION tenancy.current_principal() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL RESTRICTED
    RETURN tenancy.verified_context(2, 'tenancy.principal_id');
END
$$;
REVOKE ALL ON FUNCTION tenancy.disable_native_context() FROM PUBLIC;
COMMENT ON FUNCTION tenancy.disable_native_context() IS
  'tenancy: back to the SQL context; restart applications so that their pools enter it again';
