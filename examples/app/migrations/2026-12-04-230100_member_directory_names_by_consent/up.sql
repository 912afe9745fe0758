-- A pending invitation shows the name the inviting tenant gave (the principal's), not the
-- name the user registered with: an owner who invites an address another tenant's user
-- signed up with would otherwise learn that it is registered, and the user's own name,
-- before the user joined. Once the user accepted, the directory shows the user's name.
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
