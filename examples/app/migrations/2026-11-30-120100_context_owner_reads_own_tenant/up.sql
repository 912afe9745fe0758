-- tenancy foundation: `tenancy.enter()` and the tenant status check run as the owner of the
-- tenancy functions; the owner sees the current tenant's row of `tenants` (and no other) like
-- it does on every tenant table.
DO $$
BEGIN
  EXECUTE format('ALTER POLICY tenant_access ON public.tenants TO tenancy_app, %I', current_user);
END
$$;
