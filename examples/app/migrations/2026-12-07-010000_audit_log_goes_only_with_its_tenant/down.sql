-- Back to the trigger that trusts the purge setting alone, and DELETE for the admin role.
CREATE OR REPLACE FUNCTION tenancy.audit_log_append_only() RETURNS trigger
  LANGUAGE plpgsql
AS $$
BEGIN
  -- A hard purge of a whole tenant (control plane, admin role) cascades here; it names the
  -- tenant it purges in a transaction-local setting.
  IF TG_OP = 'DELETE' THEN
    IF current_setting('tenancy.purge_tenant', true) = OLD.tenant_id::text THEN
      RETURN OLD;
    END IF;
  END IF;
  RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;

GRANT DELETE ON audit_log TO tenancy_admin;
