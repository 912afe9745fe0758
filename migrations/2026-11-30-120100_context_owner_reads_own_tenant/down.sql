ALTER POLICY tenant_access ON public.tenants TO tenancy_app;
