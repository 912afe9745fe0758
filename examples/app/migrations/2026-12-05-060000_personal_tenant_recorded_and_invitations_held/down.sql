CREATE OR REPLACE FUNCTION tenancy.member_directory()
  RETURNS TABLE (user_id uuid, principal_id uuid, email text, display_name text, role member_role, status member_status)
  LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  SELECT u.id, m.principal_id, u.email,
         CASE WHEN m.status = 'active' THEN u.display_name ELSE p.display_name END,
         m.role, m.status
  FROM public.org_members m
  JOIN public.users u ON u.id = m.user_id
  JOIN public.principals p ON p.tenant_id = m.tenant_id AND p.id = m.principal_id
  WHERE m.tenant_id = tenancy.current_tenant()
  ORDER BY u.email;
END;

CREATE OR REPLACE FUNCTION tenancy.invitation_acceptance_guard() RETURNS trigger
  LANGUAGE plpgsql
AS $$
BEGIN
  IF NOT pg_has_role(current_user, 'tenancy_app', 'USAGE')
     OR (SELECT r.rolsuper OR r.rolbypassrls FROM pg_catalog.pg_roles r
          WHERE r.rolname = current_user) THEN
    RETURN NEW;
  END IF;
  IF OLD.status = 'invited' AND NEW.status = 'active'
     AND tenancy.current_principal() IS DISTINCT FROM OLD.principal_id THEN
    RAISE EXCEPTION 'tenancy: an invitation is accepted by the invited user alone'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;

DO $$
BEGIN
  EXECUTE 'ALTER TABLE public.users ALTER COLUMN id SET DEFAULT tenancy.uuid_v7()';
  EXECUTE 'ALTER TABLE public.tenants DROP COLUMN personal_user_id';
END
$$;
