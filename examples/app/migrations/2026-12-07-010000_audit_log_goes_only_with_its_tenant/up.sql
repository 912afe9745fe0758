-- Audit entries go only with their tenant. A hard purge deletes the tenant's row, and the
-- foreign key's cascade (which PostgreSQL runs as the table's owner) deletes its chain. The
-- append-only trigger let any DELETE through that named the tenant in
-- `tenancy.purge_tenant`, a setting every session may set: the admin role, which held DELETE
-- for purges, could take the newest entries of any chain, and of the control plane's chain
-- the record of its own escape-hatch call, and the chain still verified.
--
-- Now an entry goes only inside a trigger (the cascade: a DELETE of the table itself runs at
-- depth 1), of the tenant the purge names, and never of the control plane's chain (the nil
-- tenant `_default`, which is never purged). The admin role no longer holds DELETE, which the
-- cascade never needed.
CREATE OR REPLACE FUNCTION tenancy.audit_log_append_only() RETURNS trigger
  LANGUAGE plpgsql
AS $$
BEGIN
  IF TG_OP = 'DELETE'
     AND pg_trigger_depth() > 1
     AND OLD.tenant_id <> '00000000-0000-0000-0000-000000000000'::uuid
     AND current_setting('tenancy.purge_tenant', true) = OLD.tenant_id::text THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;

REVOKE DELETE ON audit_log FROM tenancy_admin;
