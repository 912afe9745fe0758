-- tenancy foundation: the tenant status check reads the foundation's `tenants`: a tenant
-- without a row is unknown, a soft-deleted one is deleted, any status but 'active' is
-- suspended. See `tenancy.tenant_refusal` in the core migrations for what a hook must be.
CREATE OR REPLACE FUNCTION tenancy.tenant_refusal(tenant uuid) RETURNS TABLE (refusal text)
  LANGUAGE sql STABLE
AS $$
  SELECT CASE
           WHEN x.id IS NULL THEN 'unknown'
           WHEN x.deleted_at IS NOT NULL THEN 'deleted'
           WHEN x.status <> 'active' THEN 'suspended'
         END
    FROM (SELECT tenant AS id) q
    LEFT JOIN public.tenants x ON x.id = q.id
$$;
