-- tenancy 5/5: what the control-plane API needs in the database: the tenant status check run
-- when a tenant transaction opens, the API key lookup that runs before any tenant is known,
-- and the state of the PostgreSQL-backed API key rate limiter.

-- Called in the same round trip as BEGIN and the SET LOCALs: a tenant transaction for an
-- unknown, deleted or suspended tenant fails to open. As `tenancy_app` it reads the one
-- `tenants` row RLS shows it. The messages start with `tenancy:` so the runtime can map them
-- to typed errors.
CREATE FUNCTION tenancy.require_active_tenant() RETURNS void
  LANGUAGE plpgsql STABLE
AS $$
DECLARE
  t record;
BEGIN
  SELECT status, deleted_at INTO t FROM public.tenants WHERE id = tenancy.current_tenant();
  IF NOT FOUND THEN
    RAISE EXCEPTION 'tenancy: unknown tenant %', tenancy.current_tenant()
      USING ERRCODE = 'no_data_found';
  END IF;
  IF t.deleted_at IS NOT NULL THEN
    RAISE EXCEPTION 'tenancy: tenant % is deleted', tenancy.current_tenant()
      USING ERRCODE = 'no_data_found';
  END IF;
  IF t.status <> 'active' THEN
    RAISE EXCEPTION 'tenancy: tenant % is suspended', tenancy.current_tenant()
      USING ERRCODE = 'insufficient_privilege';
  END IF;
END
$$;
GRANT EXECUTE ON FUNCTION tenancy.require_active_tenant() TO tenancy_app, tenancy_admin;

-- API key verification knows only the key's public prefix, not its tenant. This returns the
-- keys with exactly that prefix (normally one), with their tenant's status. Prefixes are
-- unique per tenant, like every key here, so a tenant could plant a row with another
-- tenant's prefix: verification compares the secret's hash with every row returned, so such
-- a row cannot block or take over the other tenant's key. SECURITY DEFINER because
-- `tenancy_app` without a tenant sees no `api_keys` row. Why this is safe: it answers only
-- for an exact prefix (64 random bits, so unknown prefixes cannot be guessed or listed: no
-- pattern, no range, no count), returns the secret's SHA-256 and never the secret, and a
-- fixed search_path stops a caller from shadowing the tables it reads.
CREATE FUNCTION tenancy.api_key_lookup(key_prefix text)
  RETURNS TABLE (
    tenant_id uuid, id uuid, principal_id uuid, secret_hash bytea, scopes text[],
    expires_at timestamptz, rate_limit_per_hour integer, last_used_at timestamptz,
    status api_key_status, tenant_status tenant_status, tenant_deleted boolean
  )
  LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  SELECT k.tenant_id, k.id, k.principal_id, k.secret_hash, k.scopes, k.expires_at,
         k.rate_limit_per_hour, k.last_used_at, k.status, t.status, t.deleted_at IS NOT NULL
  FROM public.api_keys k
  JOIN public.tenants t ON t.id = k.tenant_id
  WHERE k.prefix = key_prefix
  ORDER BY k.tenant_id, k.id;
END;
COMMENT ON FUNCTION tenancy.api_key_lookup(text) IS
  'tenancy: reviewed: exact-prefix lookup before the tenant is known; returns hashes, never secrets';
REVOKE ALL ON FUNCTION tenancy.api_key_lookup(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenancy.api_key_lookup(text) TO tenancy_app, tenancy_admin;

-- Fixed-window request counters of the PostgreSQL-backed rate limiter, per key and hour.
CREATE TABLE api_key_usage (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  api_key_id uuid NOT NULL,
  window_start timestamptz NOT NULL,
  requests integer NOT NULL DEFAULT 0 CONSTRAINT api_key_usage_requests_non_negative CHECK (requests >= 0),
  PRIMARY KEY (tenant_id, api_key_id, window_start),
  FOREIGN KEY (tenant_id, api_key_id) REFERENCES api_keys (tenant_id, id) ON DELETE CASCADE
);
ALTER TABLE api_key_usage ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_key_usage FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_access ON api_key_usage FOR ALL TO tenancy_app, CURRENT_USER
  USING (tenant_id = tenancy.current_tenant())
  WITH CHECK (tenant_id = tenancy.current_tenant());
CREATE POLICY tenant_isolation ON api_key_usage AS RESTRICTIVE FOR ALL TO PUBLIC
  USING (tenant_id = tenancy.current_tenant())
  WITH CHECK (tenant_id = tenancy.current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON api_key_usage TO tenancy_app, tenancy_admin;
