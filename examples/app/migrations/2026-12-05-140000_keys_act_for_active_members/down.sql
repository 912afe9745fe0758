CREATE OR REPLACE FUNCTION tenancy.api_key_lookup(key_prefix text, key_hash bytea)
  RETURNS TABLE (
    tenant_id uuid, id uuid, principal_id uuid, secret_hash bytea, scopes text[],
    expires_at timestamptz, rate_limit_per_hour integer, last_used_at timestamptz,
    status public.api_key_status, tenant_status public.tenant_status, tenant_deleted boolean
  )
  LANGUAGE plpgsql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
    SELECT k.tenant_id, k.id, k.principal_id, k.secret_hash, k.scopes, k.expires_at,
           k.rate_limit_per_hour, k.last_used_at, k.status, t.status, t.deleted_at IS NOT NULL
      FROM public.api_keys k
      JOIN public.tenants t ON t.id = k.tenant_id
     WHERE k.prefix = key_prefix AND k.secret_hash = key_hash
     ORDER BY k.tenant_id, k.id;
END
$$;
COMMENT ON FUNCTION tenancy.api_key_lookup(text, bytea) IS
  'tenancy: reviewed: the key record of whoever presents its prefix and the hash of its secret, before the tenant is known; returns hashes, never secrets';

CREATE OR REPLACE FUNCTION tenancy.invitation_acceptance_guard() RETURNS trigger
  LANGUAGE plpgsql
AS $$
BEGIN
  IF NOT pg_has_role(current_user, 'tenancy_app', 'USAGE')
     OR (SELECT r.rolsuper OR r.rolbypassrls FROM pg_catalog.pg_roles r
          WHERE r.rolname = current_user) THEN
    RETURN NEW;
  END IF;
  IF NEW.status = 'active' AND OLD.status <> 'active'
     AND (OLD.status <> 'invited'
          OR tenancy.current_principal() IS DISTINCT FROM OLD.principal_id) THEN
    RAISE EXCEPTION 'tenancy: an invitation is accepted by the invited user alone, and nothing else makes a membership active'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
