-- tenancy core: the tenant status check becomes a hook, so the core knows no table of the
-- foundation schema.
--
-- `tenancy.enter(.., check_status => true)` asks `tenancy.tenant_refusal(tenant)` whether the
-- tenant may open a context, in the same query that verifies the context (no extra statement,
-- no extra round trip). The hook returns at most one row: NULL for an active tenant, or
-- 'unknown', 'deleted' or 'suspended', which `enter` raises as the typed errors the library
-- maps (`TenantNotFound`, `TenantSuspended`). No row means no refusal.
--
-- The core's hook refuses nothing: without a table of tenants there is nothing to check. The
-- foundation schema replaces it with one that reads `public.tenants`; an application with its
-- own table of tenants replaces it in a migration of its own, keeping it a non-strict,
-- STABLE, SECURITY INVOKER `LANGUAGE sql` function without a SET clause, so that it is
-- inlined (it runs with the rights of `enter`'s owner).
CREATE FUNCTION tenancy.tenant_refusal(tenant uuid) RETURNS TABLE (refusal text)
  LANGUAGE sql STABLE
AS $$
  SELECT NULL::text WHERE false
$$;
REVOKE ALL ON FUNCTION tenancy.tenant_refusal(uuid) FROM PUBLIC;

CREATE OR REPLACE FUNCTION tenancy.enter(
  tenant uuid, principal uuid, counter bigint, mac text, check_status boolean DEFAULT false)
  RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  d record;
BEGIN
  -- `currval('tenancy.session_seq')` fails ("... is not yet defined in this session") on a
  -- connection without a tenancy session. The nonce: 122 bits of the server's strong random
  -- source (`random()` could be seeded by SQL); the context: '<tenant>|<principal>'.
  SELECT CASE
           -- Without a key, k.* is NULL and so is the MAC it computes: refused.
           WHEN k.id IS NULL OR mac IS NULL OR counter IS NULL
             OR mac IS DISTINCT FROM encode(sha256(k.opad || sha256(k.ipad || convert_to(
                  'enter|' || currval('tenancy.session_seq') || '|' || counter || '|' || c.ctx,
                  'UTF8'))), 'hex') THEN 'mac'
           WHEN counter <= currval('tenancy.counter_seq') THEN 'counter'
           WHEN NOT check_status OR tenant IS NULL THEN NULL
           ELSE s.refusal
         END AS refusal,
         c.ctx,
         ('x' || encode(substr(c.nonce, 1, 8), 'hex'))::bit(64)::bigint AS n1,
         ('x' || encode(substr(c.nonce, 9, 8), 'hex'))::bit(64)::bigint AS n2
    INTO d
    FROM (SELECT coalesce(tenant::text, '') || '|' || coalesce(principal::text, '') AS ctx,
                 uuid_send(gen_random_uuid()) AS nonce) c
    LEFT JOIN tenancy.context_key k ON k.id = 1
    -- The hook is a set-returning SQL function: the planner inlines it into this query.
    LEFT JOIN LATERAL tenancy.tenant_refusal(tenant) s ON check_status;
  IF d.refusal IS NOT NULL THEN
    CASE d.refusal
      WHEN 'mac' THEN
        RAISE EXCEPTION 'tenancy: tenant context refused: bad MAC'
          USING ERRCODE = 'insufficient_privilege',
                HINT = 'only the application holding the context key can open a tenant context';
      WHEN 'counter' THEN
        RAISE EXCEPTION 'tenancy: tenant context refused: replayed counter'
          USING ERRCODE = 'insufficient_privilege';
      WHEN 'unknown' THEN
        RAISE EXCEPTION 'tenancy: unknown tenant %', tenant USING ERRCODE = 'no_data_found';
      WHEN 'deleted' THEN
        RAISE EXCEPTION 'tenancy: tenant % is deleted', tenant USING ERRCODE = 'no_data_found';
      ELSE
        RAISE EXCEPTION 'tenancy: tenant % is suspended', tenant
          USING ERRCODE = 'insufficient_privilege';
    END CASE;
  END IF;
  -- The counter first, then the nonce, then the setting tagged with it: one expression,
  -- evaluated left to right (AND), so that a failure leaves no half-entered context.
  d.ctx := setval('tenancy.counter_seq', counter, true) IS NOT NULL
    AND set_config('tenancy.context', d.ctx || '|' || encode(sha256(convert_to(
          setval('tenancy.nonce_hi', d.n1, true) || '|' || setval('tenancy.nonce_lo', d.n2, true)
          || '|' || d.ctx, 'UTF8')), 'hex'), true) IS NOT NULL;
END
$$;
