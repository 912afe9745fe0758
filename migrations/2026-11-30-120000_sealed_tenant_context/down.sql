DO $$
BEGIN
  EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO PUBLIC', current_database());
END
$$;


-- The policies go back to calling the context functions directly.
SELECT tenancy.rewrite_policies('( SELECT tenancy.current_tenant() AS current_tenant)', 'tenancy.current_tenant()'),
       tenancy.rewrite_policies('( SELECT tenancy.current_principal() AS current_principal)', 'tenancy.current_principal()');
DROP FUNCTION tenancy.rewrite_policies(text, text);

CREATE OR REPLACE FUNCTION tenancy.current_tenant() RETURNS uuid
  LANGUAGE sql STABLE SECURITY INVOKER PARALLEL SAFE
  RETURN NULLIF(current_setting('tenancy.tenant_id', true), '')::uuid;

CREATE OR REPLACE FUNCTION tenancy.current_principal() RETURNS uuid
  LANGUAGE sql STABLE SECURITY INVOKER PARALLEL SAFE
  RETURN NULLIF(current_setting('tenancy.principal_id', true), '')::uuid;

DROP FUNCTION tenancy.verified_context(integer, text);
DROP FUNCTION tenancy.trusted_session();
DROP FUNCTION tenancy.enter(uuid, uuid, bigint, text, boolean);
DROP FUNCTION tenancy.open_session();
DROP FUNCTION tenancy.context_changed();
DROP SEQUENCE tenancy.counter_seq, tenancy.session_seq, tenancy.nonce_hi, tenancy.nonce_lo;
DROP FUNCTION tenancy.install_context_key(bytea);
DROP TABLE tenancy.context_key;
