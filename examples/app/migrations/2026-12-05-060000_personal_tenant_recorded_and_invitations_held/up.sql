-- Which user a personal tenant belongs to, kept where no tenant transaction writes (the
-- application role only reads its own row of `tenants`). Seeding used to find a user's
-- personal tenant from rows inside tenants (an active owner membership with a personal
-- workspace, and a slug made from the tenant's id); SQL in another tenant's transaction could
-- make its own tenant look like that for a user it invited, and the user's sign-up returned
-- that tenant. Each change on its own and as its own text: Citus sends a change to a
-- reference table to the workers as the text it came in, which must be one statement.
DO $$
BEGIN
  EXECUTE 'ALTER TABLE public.tenants ADD COLUMN personal_user_id uuid';
  EXECUTE 'ALTER TABLE public.tenants ADD CONSTRAINT tenants_personal_user_id_key UNIQUE (personal_user_id)';
  EXECUTE 'ALTER TABLE public.tenants ADD CONSTRAINT tenants_personal_user_id_fkey '
          'FOREIGN KEY (personal_user_id) REFERENCES public.users (id)';
END
$$;

-- Existing personal tenants, by the strictest form of the old rule: the slug seeding makes
-- from the tenant's id, and an active owner membership with a personal workspace, created in
-- the same transaction as the tenant (the same now()) and alone in being so; tenant
-- transactions can neither insert memberships nor change their creation time. A user with
-- more than one keeps the oldest, as the old lookup returned. Row by row, which Citus plans
-- for a reference table whether or not the other tables are distributed yet.
DO $$
DECLARE
  c record;
  previous uuid;
BEGIN
  FOR c IN
    SELECT m.user_id, t.id AS tenant_id
      FROM public.tenants t
      JOIN public.org_members m ON m.tenant_id = t.id
     WHERE t.slug = 'personal-' || right(replace(t.id::text, '-', ''), 12)
       AND m.role = 'owner' AND m.status = 'active'
       AND m.created_at = t.created_at
       AND NOT EXISTS (SELECT 1 FROM public.org_members o
                        WHERE o.tenant_id = m.tenant_id AND o.id <> m.id
                          AND o.created_at = t.created_at)
       AND EXISTS (SELECT 1 FROM public.workspaces w
                    WHERE w.tenant_id = m.tenant_id AND w.owner_principal_id = m.principal_id
                      AND w.kind = 'personal')
     ORDER BY m.user_id, t.created_at, t.id
  LOOP
    IF c.user_id IS DISTINCT FROM previous THEN
      UPDATE public.tenants SET personal_user_id = c.user_id WHERE id = c.tenant_id;
      previous := c.user_id;
    END IF;
  END LOOP;
END
$$;

-- User ids are random: every tenant that invites a user reads the id (org_members.user_id),
-- and a UUIDv7 would tell it when the user registered, so whether the address was known
-- before the invitation. The table is small and global, so index locality does not matter.
DO $$
BEGIN
  EXECUTE 'ALTER TABLE public.users ALTER COLUMN id SET DEFAULT gen_random_uuid()';
END
$$;

-- A membership turns active only when its invited user accepts the invitation. Refusing the
-- direct invited -> active change alone let SQL in the inviting tenant's transaction go
-- through 'removed' (invited -> removed -> active) and read the user's registered name in
-- tenancy.member_directory(). The foundation's API never makes a removed membership active
-- again (inviting a removed member is a conflict).
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

-- A pending invitation shows the address in lower case, as every lookup compares it: the
-- form the user registered (its case) would tell the inviting tenant that the address is
-- registered. The rows are ordered the same way, since their order would tell it as well.
-- Active members consented to being shown as they registered.
CREATE OR REPLACE FUNCTION tenancy.member_directory()
  RETURNS TABLE (user_id uuid, principal_id uuid, email text, display_name text, role member_role, status member_status)
  LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
  SELECT u.id, m.principal_id,
         CASE WHEN m.status = 'active' THEN u.email ELSE lower(u.email) END,
         CASE WHEN m.status = 'active' THEN u.display_name ELSE p.display_name END,
         m.role, m.status
  FROM public.org_members m
  JOIN public.users u ON u.id = m.user_id
  JOIN public.principals p ON p.tenant_id = m.tenant_id AND p.id = m.principal_id
  WHERE m.tenant_id = tenancy.current_tenant()
  ORDER BY lower(u.email);
END;
