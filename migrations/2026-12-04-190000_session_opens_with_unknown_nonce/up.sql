-- A new tenancy session starts from a nonce nobody knows. `open_session()` used to set the
-- nonce sequences to 0, and the application's login may call it: SQL run inside a tenant
-- transaction that called it again knew the nonce, and could tag a `tenancy.context` for any
-- tenant that the SQL context's readers accepted. The nonce is drawn at random here as it is
-- in `enter()`; a tag needs it, and only tenancy's own functions read the nonce sequences. A
-- context entered earlier in the transaction no longer matches its tag afterwards, so the
-- readers refuse it instead of answering.
CREATE OR REPLACE FUNCTION tenancy.open_session() RETURNS bigint
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  s bigint := nextval('tenancy.session_seq');
BEGIN
  PERFORM setval('tenancy.counter_seq', 0, true),
          setval('tenancy.nonce_hi',
                 ('x' || replace(gen_random_uuid()::text, '-', ''))::bit(64)::bigint, true),
          setval('tenancy.nonce_lo',
                 ('x' || replace(gen_random_uuid()::text, '-', ''))::bit(64)::bigint, true);
  RETURN s;
END
$$;
