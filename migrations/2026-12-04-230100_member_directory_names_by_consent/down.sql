CREATE OR REPLACE FUNCTION tenancy.member_directory()
  RETURNS TABLE (user_id uuid, principal_id uuid, email text, display_name text, role member_role, status member_status)
  LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  SELECT u.id, m.principal_id, u.email, u.display_name, m.role, m.status
  FROM public.org_members m
  JOIN public.users u ON u.id = m.user_id
  WHERE m.tenant_id = tenancy.current_tenant()
  ORDER BY u.email;
END;
