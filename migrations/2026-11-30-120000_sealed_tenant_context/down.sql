DO $$
BEGIN
  EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO PUBLIC', current_database());
  EXECUTE format('ALTER POLICY tenant_access ON public.tenants TO tenancy_app');
END
$$;

GRANT EXECUTE ON FUNCTION tenancy.current_tenant(), tenancy.current_principal() TO PUBLIC;
ALTER FUNCTION tenancy.current_tenant() RESET ALL;
ALTER FUNCTION tenancy.current_principal() RESET ALL;
COMMENT ON FUNCTION tenancy.current_tenant() IS NULL;
COMMENT ON FUNCTION tenancy.current_principal() IS NULL;

-- The policies go back to calling the context functions directly.
DO $$
DECLARE
  pol record;
  qual text;
  chk text;
  stmt text;
BEGIN
  FOR pol IN
    SELECT p.polname, p.polrelid::regclass AS rel,
           pg_get_expr(p.polqual, p.polrelid) AS qual,
           pg_get_expr(p.polwithcheck, p.polrelid) AS chk
    FROM pg_policy p
  LOOP
    qual := replace(replace(pol.qual, '( SELECT tenancy.current_tenant() AS current_tenant)', 'tenancy.current_tenant()'),
                    '( SELECT tenancy.current_principal() AS current_principal)', 'tenancy.current_principal()');
    chk := replace(replace(pol.chk, '( SELECT tenancy.current_tenant() AS current_tenant)', 'tenancy.current_tenant()'),
                   '( SELECT tenancy.current_principal() AS current_principal)', 'tenancy.current_principal()');
    IF qual IS NOT DISTINCT FROM pol.qual AND chk IS NOT DISTINCT FROM pol.chk THEN
      CONTINUE;
    END IF;
    stmt := format('ALTER POLICY %I ON %s', pol.polname, pol.rel);
    IF qual IS NOT NULL THEN
      stmt := stmt || format(' USING (%s)', qual);
    END IF;
    IF chk IS NOT NULL THEN
      stmt := stmt || format(' WITH CHECK (%s)', chk);
    END IF;
    EXECUTE stmt;
  END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION tenancy.current_tenant() RETURNS uuid
  LANGUAGE sql STABLE SECURITY INVOKER PARALLEL SAFE
  RETURN NULLIF(current_setting('tenancy.tenant_id', true), '')::uuid;

CREATE OR REPLACE FUNCTION tenancy.current_principal() RETURNS uuid
  LANGUAGE sql STABLE SECURITY INVOKER PARALLEL SAFE
  RETURN NULLIF(current_setting('tenancy.principal_id', true), '')::uuid;

DROP FUNCTION tenancy.trusted_session();
DROP FUNCTION tenancy.enter(uuid, uuid, bigint, text, boolean);
DROP FUNCTION tenancy.open_session();
DROP FUNCTION tenancy.context_tag_ok(text);
DROP SEQUENCE tenancy.counter_seq, tenancy.session_seq, tenancy.nonce_hi, tenancy.nonce_lo;
DROP FUNCTION tenancy.install_context_key(bytea);
DROP TABLE tenancy.context_key;
