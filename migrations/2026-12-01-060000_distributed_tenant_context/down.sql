-- Back to a single-node context reader. On Citus the grant `prepare_citus` revoked stays
-- revoked, and the workers keep their copy of the key: both are harmless without this
-- migration's functions, and the workers' tables are not the coordinator's to drop.
DROP FUNCTION tenancy.distribute_tables(regclass[], regclass[]);
DROP FUNCTION tenancy.replicate(regclass, text[]);
DROP FUNCTION tenancy.distribute(regclass, name, text[]);
DROP FUNCTION tenancy.add_foreign_keys(regclass, text[]);
DROP FUNCTION tenancy.citus_policy_form(regclass);
DROP FUNCTION tenancy.enter_distributed(uuid, uuid, bigint, text, boolean, boolean);

DROP TRIGGER copy_to_workers ON tenancy.context_key;
DROP FUNCTION tenancy.context_key_changed();
DROP EVENT TRIGGER IF EXISTS tenancy_distributed_policies;
DROP FUNCTION tenancy.prepare_citus();
DROP FUNCTION tenancy.guard_distributed_policies();
DROP FUNCTION tenancy.policy_guard(regclass, name);
DROP FUNCTION tenancy.carries_tenant_predicate(text, name);
DROP FUNCTION tenancy.copy_key_to_workers();
DROP FUNCTION tenancy.copy_roles_to_workers();
DROP FUNCTION tenancy.run_on_workers(text, text);

CREATE OR REPLACE FUNCTION tenancy.verified_context(part integer, plain_setting text) RETURNS uuid
  LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL RESTRICTED
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN CASE
    WHEN NULLIF(current_setting('tenancy.context', true), '') IS NULL THEN
      CASE WHEN tenancy.trusted_session()
        THEN NULLIF(current_setting(plain_setting, true), '')::uuid END
    WHEN split_part(current_setting('tenancy.context', true), '|', 3) = encode(sha256(convert_to(
           currval('tenancy.nonce_hi') || '|' || currval('tenancy.nonce_lo') || '|'
           || split_part(current_setting('tenancy.context', true), '|', 1) || '|'
           || split_part(current_setting('tenancy.context', true), '|', 2), 'UTF8')), 'hex')
      THEN NULLIF(split_part(current_setting('tenancy.context', true), '|', part), '')::uuid
    ELSE tenancy.context_changed()
  END;
END
$$;
DROP FUNCTION tenancy.node_context_mac(text, text);
DROP SEQUENCE tenancy.distributed_txn_seq;
DROP FUNCTION tenancy.on_citus();
