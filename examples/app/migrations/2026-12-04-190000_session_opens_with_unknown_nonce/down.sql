CREATE OR REPLACE FUNCTION tenancy.open_session() RETURNS bigint
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  s bigint := nextval('tenancy.session_seq');
BEGIN
  PERFORM setval('tenancy.counter_seq', 0, true),
          setval('tenancy.nonce_hi', 0, true), setval('tenancy.nonce_lo', 0, true);
  RETURN s;
END
$$;
