-- Back to the first version of the context entry (same signature, same behaviour).
CREATE OR REPLACE FUNCTION tenancy.enter(
  tenant uuid, principal uuid, counter bigint, mac text, check_status boolean DEFAULT false)
  RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  -- Fails ("currval ... is not yet defined") on a connection without a tenancy session.
  s bigint := currval('tenancy.session_seq');
  k record;
  t text := coalesce(tenant::text, '');
  p text := coalesce(principal::text, '');
  n1 bigint;
  n2 bigint;
  st record;
BEGIN
  SELECT ipad, opad INTO k FROM tenancy.context_key WHERE id = 1;
  IF mac IS NULL OR counter IS NULL OR k IS NULL
     OR mac <> encode(sha256(k.opad || sha256(k.ipad || convert_to(
          'enter|' || s || '|' || counter || '|' || t || '|' || p, 'UTF8'))), 'hex') THEN
    RAISE EXCEPTION 'tenancy: tenant context refused: bad MAC'
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'only the application holding the context key can open a tenant context';
  END IF;
  IF counter <= currval('tenancy.counter_seq') THEN
    RAISE EXCEPTION 'tenancy: tenant context refused: replayed counter'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  n1 := ('x' || replace(gen_random_uuid()::text, '-', ''))::bit(64)::bigint;
  n2 := ('x' || replace(gen_random_uuid()::text, '-', ''))::bit(64)::bigint;
  PERFORM setval('tenancy.counter_seq', counter, true),
          setval('tenancy.nonce_hi', n1, true), setval('tenancy.nonce_lo', n2, true);
  PERFORM set_config('tenancy.context', t || '|' || p || '|' || encode(sha256(convert_to(
    n1 || '|' || n2 || '|' || t || '|' || p, 'UTF8')), 'hex'), true);
  -- The tenant status check of the foundation schema, in the same statement.
  IF check_status AND tenant IS NOT NULL THEN
    SELECT x.status::text AS status, x.deleted_at IS NOT NULL AS deleted INTO st
    FROM public.tenants x WHERE x.id = tenant;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'tenancy: unknown tenant %', tenant USING ERRCODE = 'no_data_found';
    END IF;
    IF st.deleted THEN
      RAISE EXCEPTION 'tenancy: tenant % is deleted', tenant USING ERRCODE = 'no_data_found';
    END IF;
    IF st.status <> 'active' THEN
      RAISE EXCEPTION 'tenancy: tenant % is suspended', tenant
        USING ERRCODE = 'insufficient_privilege';
    END IF;
  END IF;
END
$$;
